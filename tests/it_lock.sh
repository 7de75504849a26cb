#!/usr/bin/env bash
# One vigild per state directory (issue 16 part 1). Two daemons on one state
# dir once wrote into the same journal segment, published the same seq with
# different contents and took each other's broker connection. Now a second
# vigild on the running one's config exits non-zero naming the first's PID,
# before it touches the journal or the broker; the first keeps publishing
# (real mosquitto and the simulator) and its journal verifies.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start"
FIRST_PID=$VIGILD_PID
grep -qx "$FIRST_PID" "$WORK/state/vigild.lock"
check "the lock file holds the running vigild's pid" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no door alarm"
before=$(events | grep -c .)

# The second instance: same config, same state dir.
timeout 20 "$VIGIL_BUILD/vigild" --config "$WORK/site.conf" --profiles "$VIGIL_TOP/sensors/profiles" \
    >"$WORK/second.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
    grep -q "state directory $WORK/state is in use by vigild pid $FIRST_PID" "$WORK/second.log"
check "a second vigild exits non-zero naming pid $FIRST_PID (exit $rc): $(grep -m1 'in use' "$WORK/second.log")" $?
! grep -qE 'journal:|mqtt:.*connected' "$WORK/second.log"
check "the second vigild touched neither the journal nor the broker" $?

sleep 1
[ "$(events | grep -c .)" -eq "$before" ] && [ "$(events | grep -c '"type":"gateway_restarted"')" -eq 1 ]
check "the station saw nothing from the second vigild" $?

sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5 && kill -0 "$FIRST_PID"
check "the first vigild keeps watching and publishing" $?

seqs=$(event_seqs | tr '\n' ' ')
[ "$(event_seqs | sort -n | uniq -d | wc -l)" -eq 0 ]
check "no seq was published twice ($seqs)" $?

stop_pid "$VIGILD_PID"
"$VIGIL_BUILD/vigilctl" journal verify "$WORK/state/journal" >"$WORK/verify.txt" 2>&1
check "vigilctl journal verify passes afterwards: $(tail -n 1 "$WORK/verify.txt")" $?

finish
