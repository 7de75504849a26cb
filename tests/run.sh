#!/bin/sh
# Runs every test program and script against the binaries in BUILD (default
# build/) and prints the closing line "N passed, N failed, N skipped". A
# program that dies without reporting counts as a failure of its own.
#
# Skips: a case that cannot run here prints "ok - name # SKIP reason"; a
# program or script that cannot run at all exits 77 (automake's convention)
# and counts as one skipped. A skip is never a pass; it fails nothing either.
set -u
BUILD=${1:-build}
export VIGIL_BUILD="$(cd "$BUILD" && pwd)"
top=$(cd "$(dirname "$0")/.." && pwd)
export VIGIL_TOP="$top"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
passed=0; failed=0; skipped=0
log=$(mktemp)
for t in "$BUILD"/tests/test_* "$top"/tests/fuzz/replay.sh "$top"/tests/it_*.sh; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue ;; esac
    name=$(basename "$t")
    echo "== $name"
    # Each program gets a hard time limit so a hang fails instead of stalling CI.
    timeout -k 5 600 "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    s=$(grep -ciE '^ok - .*# skip' "$log")
    p=$(($(grep -c '^ok - ' "$log") - s))
    f=$(grep -c '^not ok - ' "$log")
    if [ "$rc" -eq 77 ] && [ "$f" -eq 0 ]; then
        s=$((s + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name exited with status $rc"
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
