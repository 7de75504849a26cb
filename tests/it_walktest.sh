#!/usr/bin/env bash
# Walk test against the simulator, mosquitto and vigild, as the installing
# engineer does it: put the store in test, open the door, read the report
# (the door seen with its date, the climate sensors never seen), see the
# station get the alarm marked test, stop the test; then a short test that
# ends by itself, and the test dates still there after a restart.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
launch_site "$WORK/site.conf"
wait_retained '^1 vigil/test-depot/devices/store1-io .*"up":true' 10 || bail "store1-io not up"

# walktest ARGS...: vigilctl walktest with the site config; output in $OUT, exit code in $RC.
walktest() {
    OUT=$("$VIGIL_BUILD/vigilctl" walktest "$@" --config "$WORK/site.conf" \
        --profiles "$VIGIL_TOP/sensors/profiles" 2>&1)
    RC=$?
}
expect_line() {
    printf '%s\n' "$OUT" | grep -qE -- "$1"
    check "$2" $?
}
zone_not_in_test() {
    retained_now | grep ' vigil/test-depot/zones/store1 ' | grep -vq '"test":true'
}

walktest start store1 --for 30m --operator eng-kai
[ "$RC" -eq 0 ]
check "walktest start exits 0 (got $RC: $OUT)" $?
expect_line '^walk test of zone store1 started$' "walktest start says the test started"
wait_retained '^1 vigil/test-depot/zones/store1 .*"test":true,"test_until":"' 5
check "the station sees zone store1 in walk test, with its end" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no intrusion from the door"
ev=$(last_event '"alarm":"store1-door.intrusion"')
expect_json "$ev" '.test' 'true' "the door's alarm during the walk test reaches the station marked test"
expect_json "$ev" '.text | endswith("(walk test)")' 'true' "its text says (walk test)"
sim set store1-door 0

walktest report store1
[ "$RC" -eq 0 ]
check "walktest report exits 0 (got $RC)" $?
expect_line '^zone store1 walk test started [0-9T:.-]+Z, running until [0-9T:.-]+Z$' "the report says the test is running"
expect_line '^  store1-door +tested [0-9T:.-]+Z$' "the report lists the door as seen to change, with its date"
expect_line '^  store1-temp +last tested never$' "the report lists the temperature sensor as never seen"
expect_line '^1 seen, 2 never seen$' "the report counts 1 seen and 2 never seen"

walktest stop store1 --operator eng-kai
[ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | grep -q '^walk test of zone store1 stopped$'
check "walktest stop ends the test (rc $RC: $OUT)" $?
wait_until 5 zone_not_in_test
check "the station sees zone store1 out of walk test" $?
walktest stop store1 --operator eng-kai
[ "$RC" -eq 1 ] && printf '%s\n' "$OUT" | grep -q 'vigild refused: zone store1 is not in walk test'
check "a stop without a test is refused in words (rc $RC: $OUT)" $?
walktest start store1 --for 3x --operator eng-kai
[ "$RC" -eq 2 ] && printf '%s\n' "$OUT" | grep -q -- '--for wants a duration such as 30m'
check "a bad duration is a usage error naming the format (rc $RC)" $?

walktest start store1 --for 2s --operator eng-kai
[ "$RC" -eq 0 ]
check "a two-second walk test starts (rc $RC)" $?
wait_retained '^1 vigil/test-depot/zones/store1 .*"test":true' 5 || bail "the short test did not start"
wait_until 8 zone_not_in_test
check "the walk test ends by itself at its timeout" $?
walktest report store1
expect_line '^zone store1 walk test started [0-9T:.-]+Z, ended$' "the report says the last test ended"
expect_line '^  store1-door +last tested [0-9T:.-]+Z$' "a point not walked in the last test keeps its older test date"

stop_pid "$VIGILD_PID"
start_vigild "$WORK/site.conf"
wait_restarted
wait_until 5 test -S "$WORK/state/points.sock"
walktest report store1
expect_line '^  store1-door +last tested [0-9T:.-]+Z$' "the door's test date survives a restart of vigild"
finish
