#!/usr/bin/env bash
# vigild --check-config on configs that used to kill or freeze it: an
# @include of a directory (libconfig's scanner called exit(2)), of a FIFO
# (open() blocked), of a file outside the config's directory, a FIFO as the
# config itself, and a wrapped integer inside an included file. Each must
# exit 1 promptly and print file:line with the fix; none may hang.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
mkdir "$WORK/etc" "$WORK/etc/zones.d"
mkfifo "$WORK/etc/pipe.conf" "$WORK/site.fifo"
echo 'rules = { chatter_count = 5; };' >"$WORK/outside.conf"
printf '\nrules = { chatter_count = 4294967301; };\n' >"$WORK/etc/big.conf"
head_conf=$(grep -v '^rules' "$VIGIL_TOP/tests/sites/spine.conf")
line=$(($(printf '%s\n' "$head_conf" | wc -l) + 1))

# check_config FILE: runs --check-config with a bound; sets OUT and RC (124: it hung).
check_config() {
    OUT=$(timeout 10 "$VIGIL_BUILD/vigild" --check-config "$1" --profiles "$VIGIL_TOP/sensors/profiles" 2>&1)
    RC=$?
}

for inc in zones.d pipe.conf ../outside.conf; do
    conf="$WORK/etc/inc-${inc//[.\/]/_}.conf"
    { printf '%s\n' "$head_conf"; printf '@include "%s"\n' "$inc"; } >"$conf"
    check_config "$conf"
    [ "$RC" -eq 1 ] && printf '%s\n' "$OUT" | grep -qF "$conf:$line: @include \"$inc\"" &&
        printf '%s\n' "$OUT" | grep -qE 'expected (a regular file|a file in that directory)'
    check "--check-config refuses @include \"$inc\" at $conf:$line with the fix (exit $RC): $OUT" $?
done

conf="$WORK/etc/wrap.conf"
{ printf '%s\n' "$head_conf"; echo '@include "big.conf"'; } >"$conf"
check_config "$conf"
[ "$RC" -eq 1 ] && printf '%s\n' "$OUT" | grep -qF "$WORK/etc/big.conf:2: integer 4294967301 does not fit in 32 bits"
check "--check-config names a wrapped integer inside an included file at its file:line (exit $RC)" $?

check_config "$WORK/site.fifo"
[ "$RC" -eq 1 ] && printf '%s\n' "$OUT" | grep -qF "$WORK/site.fifo: is a FIFO, not a regular file"
check "--check-config on a FIFO returns at once and says so (exit $RC): $OUT" $?

finish
