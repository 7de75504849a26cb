#!/bin/sh
# make fuzz: runs each libFuzzer target built in BUILD for SECONDS (default
# 60), starting from its seed corpus tests/fuzz/corpus/<name>/ (read only).
# New inputs go to BUILD/fuzz-corpus/<name>/, crash, leak and timeout
# reproducers to BUILD/fuzz-crashes/<name>/. Prints one line per target:
# executions, crashes, and the size of the corpus grown in BUILD (it is kept
# between runs, so each run goes on from the last). Exits 1 on any crash.
#
# Reproduce a crash with the target and the file: BUILD/tests/fuzz/fuzz_<name> FILE;
# once fixed, copy the file into tests/fuzz/corpus/<name>/ so `make check` replays it.
set -u
BUILD=$1
SECONDS_EACH=${2:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
# The leaks make check tolerates (libraries' own) are tolerated here too.
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
for bin in "$BUILD"/tests/fuzz/fuzz_*; do
    case "$bin" in *.o|*.d) continue ;; esac
    name=${bin##*/fuzz_}
    corpus=$BUILD/fuzz-corpus/$name
    crashes=$BUILD/fuzz-crashes/$name
    log=$BUILD/fuzz-$name.log
    mkdir -p "$corpus" "$crashes"
    # 64 KiB inputs reach every size bound (4 KiB commands, 16 KiB receipts)
    # without slowing mutation down to the 1 MB seeds' pace.
    "$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(find "$crashes" -type f | wc -l)
    echo "fuzz_$name: ${execs:-0} executions, $found crashes, corpus $(find "$corpus" -type f | wc -l) inputs beyond the seeds (log: $log)"
    [ "$found" -eq 0 ] || status=1
done
exit $status
