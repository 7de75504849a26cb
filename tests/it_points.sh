#!/usr/bin/env bash
# vigilctl points against the simulator and vigild: the table comes from
# vigild's points socket (no second poller on the bus), lists every
# configured point with its raw and scaled value, and follows a flipped
# input with its new value and alarm state; the live view highlights it.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"
for dev in store1-io pids cctv store1-th; do
    wait_retained "^1 vigil/test-depot/devices/$dev .*\"up\":true" 10 || bail "device $dev not up"
done

# points_once: the table once, from the site config; output in $OUT, exit code in $RC.
points_once() {
    OUT=$("$VIGIL_BUILD/vigilctl" points --once --config "$WORK/site.conf" \
        --profiles "$VIGIL_TOP/sensors/profiles" 2>&1)
    RC=$?
}
# row POINT: the point's line of the last table.
row() {
    printf '%s\n' "$OUT" | awk -v p="$1" '$2 == p'
}
# door_open: the last table shows the door open with its intrusion raised.
door_open() {
    points_once
    row store1-door | grep -qE '^store1 +store1-door +door +1 +1 +good +intrusion active_unacked '
}

[ -S "$WORK/state/points.sock" ] && [ "$(stat -c %a "$WORK/state/points.sock")" = 660 ]
check "vigild serves the points socket in its state directory, mode 0660" $?

points_once
[ "$RC" -eq 0 ]
check "points --once exits 0 (got $RC)" $?
n=$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)
[ "$n" -eq 6 ]
check "points --once lists every one of the 6 configured points (got $n)" $?
order=$(printf '%s\n' "$OUT" | tail -n +2 | awk '{print $1 "/" $2}' | tr '\n' ' ')
[ "$order" = "always/store1-tamper perimeter/cam1-motion perimeter/fence-z1 store1/store1-door store1/store1-hum store1/store1-temp " ]
check "the table is sorted by zone, then point (got: $order)" $?
row store1-door | grep -qE '^store1 +store1-door +door +0 +0 +good +- '
check "the closed door shows raw 0, value 0, quality good: $(row store1-door)" $?
temp=$(row store1-temp)
raw=$(printf '%s' "$temp" | awk '{print $4}')
value=$(printf '%s' "$temp" | awk '{print $5}')
awk -v r="$raw" -v v="$value" 'BEGIN { exit !(r != "-" && v != "-" && (r * 0.1 - v) < 0.001 && (v - r * 0.1) < 0.001) }'
check "the temperature shows the register's raw number and the scaled value (raw $raw, value $value)" $?

# The live view, not a terminal: it redraws to the file until stopped.
spawn "$WORK/live.txt" "$VIGIL_BUILD/vigilctl" points --config "$WORK/site.conf" \
    --profiles "$VIGIL_TOP/sensors/profiles"
LIVE_PID=$LAST_PID
wait_for "$WORK/live.txt" 'store1-door' 5 || bail "the live view shows no table: $(head -5 "$WORK/live.txt")"

sim set store1-door 1
wait_until 5 door_open
check "after the door is opened, points shows value 1 and its intrusion active: $(row store1-door)" $?
row store1-door | grep -qE ' [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z +- *$'
check "the row shows when it last changed and that it was never walk tested" $?

wait_until 5 grep -qE $'\033\\[7mstore1 +store1-door' "$WORK/live.txt"
check "the live view shows the changed row highlighted (reverse video)" $?
stop_pid "$LIVE_PID"

"$VIGIL_BUILD/vigilctl" points --once --socket "$WORK/nothing.sock" >/dev/null 2>"$WORK/nosock.txt"
rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot connect to vigild's points socket $WORK/nothing.sock" "$WORK/nosock.txt"
check "points without vigild exits 1 and names the socket (rc $rc): $(cat "$WORK/nosock.txt")" $?

stop_pid "$VIGILD_PID"
[ ! -e "$WORK/state/points.sock" ]
check "vigild removes its points socket when it stops" $?
finish
