#!/bin/sh
# make check: replays every input of tests/fuzz/corpus/<name>/ through the
# fuzz target fuzz_<name> as VIGIL_BUILD built it (replay_main.c in place of
# libFuzzer, ASan+UBSan in build/san). One TAP line per target; a crash shows
# the sanitizer's report and the "# file" line naming the input.
set -u
top=${VIGIL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VIGIL_BUILD:?VIGIL_BUILD names the build directory}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
found=0
for bin in "$build"/tests/fuzz/fuzz_*; do
    case "$bin" in *.o|*.d) continue ;; esac
    [ -x "$bin" ] || continue
    found=1
    name=${bin##*/}
    dir=$top/tests/fuzz/corpus/${name#fuzz_}
    n=$(find "$dir" -type f | wc -l)
    if timeout -k 5 120 "$bin" "$dir"/* >"$log" 2>&1; then
        echo "ok - $name: $n inputs"
    else
        tail -40 "$log" | sed 's/^/# /'
        echo "not ok - $name: an input of $dir crashed the target (see above)"
    fi
done
[ "$found" -eq 1 ] || { echo "# no fuzz targets in $build/tests/fuzz"; exit 77; }
