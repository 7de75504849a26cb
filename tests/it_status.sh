#!/usr/bin/env bash
# vigilctl status against a real mosquitto, the simulator and vigild: the
# retained device topics, what status prints for devices, zones and alarms,
# its exit codes, and that a dead device does not flood vigild's log.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"

# status [ARGS...]: runs vigilctl status against the test broker; output in $OUT, exit code in $RC.
status() {
    OUT=$("$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot "$@" 2>&1)
    RC=$?
}

# expect_line REGEX NAME: a line of the last status output matches.
expect_line() {
    printf '%s\n' "$OUT" | grep -qE -- "$1"
    check "$2" $?
}

for dev in store1-io pids cctv store1-th; do
    wait_retained "^1 vigil/test-depot/devices/$dev .*\"up\":true" 10
    check "device $dev publishes its retained comm state up" $?
done
dev=$(retained_now | grep ' vigil/test-depot/devices/store1-io ' | cut -d' ' -f3-)
expect_json "$dev" '.name' 'store1-io' "a device without a name is shown by id"
expect_json "$dev" '.rtt_ms | type' 'number' "an up device carries its round trip"
expect_json "$dev" '.polls > 0' 'true' "the device topic counts polls"

status
[ "$RC" -eq 0 ]
check "status exits 0 on a quiet site with every device up (got $RC)" $?
expect_line '^site test-depot: online, vigild [0-9.]+, started .*, last heartbeat [0-9]+ s ago$' "status shows the site online"
expect_line '^devices: 4, 0 down$' "status counts four devices, none down"
expect_line '^  store1-th +up +rtt [0-9]+ ms' "status lists an up device with its round trip"
expect_line '^zones: 3$' "status counts the zones"
expect_line '^  store1 +armed ' "status shows an armed zone"
expect_line '^alarms not normal: 0$' "status shows no alarms"
expect_line '^status: all well$' "status ends with its verdict"

# A medium temperature alarm first, then a high door alarm: priority, not age, orders them.
sim set store1-temp 41.5
wait_retained '^1 vigil/test-depot/alarms/store1-temp.temperature_high ' 5 || bail "no temperature alarm"
sim set store1-door 1
wait_retained '^1 vigil/test-depot/alarms/store1-door.intrusion ' 5 || bail "no door alarm"
send_cmd '{"id":"s1","op":"disarm","zone":"perimeter","operator":"officer2"}'
wait_retained '^1 vigil/test-depot/zones/perimeter .*"armed":false' 5 || bail "perimeter not disarmed"
status
[ "$RC" -eq 1 ]
check "status exits 1 while alarms need attention (got $RC)" $?
expect_line '^alarms not normal: 2$' "status counts the alarms not normal"
expect_line '^  perimeter +disarmed +since .* by officer2$' "status shows a disarmed zone and by whom"
expect_line '^status: needs attention: 0 device\(s\) down; 2 alarm\(s\) not normal$' "the verdict says why"
order=$(printf '%s\n' "$OUT" | sed -n 's/^  [a-z]\+ \+[a-z_]\+ \+[0-9TZ:.-]\+ \+\([^ ]*\) .*/\1/p' | tr '\n' ' ')
[ "$order" = "store1-door.intrusion store1-temp.temperature_high " ]
check "alarms are sorted by priority (got: $order)" $?

mark=$(wc -l <"$WORK/vigild.log")
sim fail store1-th timeout
wait_retained '^1 vigil/test-depot/devices/store1-th .*"up":false' 8
check "a dead device's retained topic turns up:false" $?
dead_since=$SECONDS
status --timeout 3
[ "$RC" -eq 1 ]
check "status exits 1 with a device down (got $RC)" $?
expect_line '^devices: 4, 1 down$' "status counts the device down"
expect_line '^  store1-th +DOWN +rtt - ' "status marks the dead device DOWN without a round trip"

# A dead device polled every 100 ms fails ~3 times a second; its read
# errors must be rate-limited (log once, then at doubling intervals).
while [ $((SECONDS - dead_since)) -lt 6 ]; do sleep 0.2; done
lines=$(tail -n +"$((mark + 1))" "$WORK/vigild.log" | grep -c 'store1-th')
[ "$lines" -le 7 ]
check "a dead device logs $lines lines over about 6 s, not one per failed poll" $?

"$VIGIL_BUILD/vigilctl" status --config "$WORK/site.conf" --profiles "$VIGIL_TOP/sensors/profiles" --timeout 3 \
    >"$WORK/status-config.txt" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -qE '^  store1-th +DOWN' "$WORK/status-config.txt"
check "status --config finds broker and site in the site config (rc $rc)" $?

"$VIGIL_BUILD/vigilctl" status --site test-depot >/dev/null 2>&1
check "status without a broker is a usage error (exit 2)" $(($? == 2 ? 0 : 1))
"$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$(free_port)" --site test-depot --timeout 2 \
    >/dev/null 2>"$WORK/noconn.txt"
rc=$?
[ "$rc" -eq 2 ] && grep -q 'broker tcp://127.0.0.1' "$WORK/noconn.txt"
check "status against a broker nobody runs exits 2 naming it (rc $rc)" $?
status --site no-such-site --timeout 3
[ "$RC" -eq 1 ] && printf '%s\n' "$OUT" | grep -q '^site no-such-site: UNKNOWN'
check "status of a site with no retained status says UNKNOWN and exits 1 (rc $RC)" $?

stop_pid "$VIGILD_PID"
wait_retained '^1 vigil/test-depot/status .*"state":"offline"' 5 || bail "no offline status"
status
[ "$RC" -eq 1 ]
check "status exits 1 once vigild is offline (got $RC)" $?
expect_line '^site test-depot: OFFLINE, .* offline since ' "status shows the site offline"

finish
