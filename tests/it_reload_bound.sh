#!/usr/bin/env bash
# A reload reads its config off the core thread, bounded in time: one that
# takes longer than the bound is refused with config_rejected, and vigild
# goes on watching on the config it runs. A stalled file system is what
# this guards against; none can be made here honestly without FUSE, so the
# test shortens the bound instead (VIGIL_RELOAD_TIMEOUT_MS=1) and reloads a
# valid site of 3200 points, which takes tens of milliseconds to read.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

# big_site OUT: the running site's site and mqtt groups with 200 din16
# modules of 16 door points each.
big_site() {
    local out=$1 d i last
    {
        sed -n '/^site = {/,/^};/p;/^mqtt = {/,/^};/p' "$WORK/site.conf"
        echo 'buses = ( { id = "io-lan"; type = "tcp"; host = "127.0.0.1"; port = 1; } );'
        echo 'devices = ('
        for d in $(seq 200); do
            printf '  { id = "io%d"; bus = "io-lan"; unit = %d; profile = "din16"; },\n' "$d" "$d"
        done
        echo ');'
        echo 'zones = ( { id = "store1"; name = "Store 1"; armed = true; } );'
        echo 'points = ('
        for d in $(seq 200); do
            for i in $(seq 16); do
                printf '  { id = "p%d-%d"; name = "Door %d of module %d"; device = "io%d"; input = "di%d"; kind = "door"; zone = "store1"; },\n' \
                    "$d" "$i" "$i" "$d" "$d" "$i"
            done
        done
        echo ');'
    } | sed -z 's/,\n);/\n);/g' >"$out"
}

site_setup
export VIGIL_RELOAD_TIMEOUT_MS=1
start_site "$VIGIL_TOP/tests/sites/spine.conf"
wait_event '"alarm":"system.gateway_restarted"' 10 || bail "vigild did not start"
big_site "$WORK/big.conf"
"$VIGIL_BUILD/vigild" --check-config "$WORK/big.conf" --profiles "$VIGIL_TOP/sensors/profiles" >"$WORK/check.out" 2>&1 ||
    bail "the large site is not valid: $(tail -3 "$WORK/check.out")"
cp "$WORK/site.conf" "$WORK/site.conf.orig"
cp "$WORK/big.conf" "$WORK/site.conf"

kill -HUP "$VIGILD_PID"
wait_event '"alarm":"system.config_rejected".*took longer than 1 ms' 10
check "a reload that reads longer than the bound raises config_rejected" $?
last_event 'system.config_rejected' | grep -q 'a file system may be stalled'
check "the rejection says why a guard should look at storage" $?
grep -q 'reload: .*rejected.*still running on the previous one' "$WORK/vigild.log"
check "the log says vigild runs on the previous config" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5
check "the door of the running config still raises its alarm" $?
kill -0 "$VIGILD_PID" 2>/dev/null
check "vigild keeps running" $?

# Once the abandoned read has ended (until then a reload is refused with
# "the previous reload is still reading"), the next one is read and bounded again.
slow_rejections() { events | grep -c 'took longer than 1 ms'; }
reload_again() {
    kill -HUP "$VIGILD_PID"
    wait_until 1 at_least 2 slow_rejections
}
wait_until 30 reload_again
check "a later reload is read again and bounded again" $?

finish
