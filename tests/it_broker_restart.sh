#!/usr/bin/env bash
# A broker that restarts without its database (persistence false) has
# forgotten every retained message. vigild must publish its retained tree
# again when it reconnects, so a console that subscribes afterwards sees,
# retained, the status, every zone, every device and the tamper and fence
# alarms that are still active.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

TREE='vigil/test-depot/(status|zones/|devices/|alarms/)'

# retained_tree: the topics of the retained tree the broker holds now, sorted.
retained_tree() {
    retained_now | grep -E "^1 $TREE" | cut -d' ' -f2 | sort
}

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"
wait_retained '^1 vigil/test-depot/status .*"state":"online"' 10 || bail "vigild did not come online"
sim set store1-tamper 1
sim set fence-z1 1
wait_retained '^1 vigil/test-depot/alarms/store1-tamper\.tamper .*"state":"active_unacked"' 10 ||
    bail "no tamper alarm"
wait_retained '^1 vigil/test-depot/alarms/fence-z1\.[a-z_]+ .*"state":"active_unacked"' 10 || bail "no fence alarm"
wait_until 10 at_least 4 eval 'retained_tree | grep -c /devices/' || bail "not every device is retained"
retained_tree >"$WORK/before.txt"

# --- the broker restarts on the same port, with nothing retained -----------
stop_pid "$BROKER_PID"
wait_for "$WORK/vigild.log" 'connection lost' 10
check "vigild notices the broker is gone" $?
BROKER_PID=""
start_broker || bail "mosquitto did not restart on port $BROKER_PORT"
wait_for "$WORK/vigild.log" 'published again after a \(re\)connect' 15
check "vigild says it published its retained tree again" $?

# A console that connects now: one look at what the broker holds.
tree_back() { retained_tree | cmp -s - "$WORK/before.txt"; }
wait_until 10 tree_back
rc=$?
check "a late subscriber gets the same retained topics as before the restart ($(retained_tree | grep -c .) of $(grep -c . "$WORK/before.txt"))" $rc
[ $rc -eq 0 ] || diff "$WORK/before.txt" <(retained_tree) | head -10 | sed 's/^/#   /'

now=$(retained_now)
printf '%s\n' "$now" | grep -qE '^1 vigil/test-depot/status .*"state":"online"'
check "it sees the site online" $?
for z in store1 perimeter always; do
    printf '%s\n' "$now" | grep -qE "^1 vigil/test-depot/zones/$z "
    check "it sees zone $z" $?
done
printf '%s\n' "$now" | grep -qE '^1 vigil/test-depot/zones/store1 .*"armed":true'
check "it sees that store 1 is armed" $?
for d in store1-io pids cctv store1-th; do
    printf '%s\n' "$now" | grep -qE "^1 vigil/test-depot/devices/$d "
    check "it sees device $d" $?
done
printf '%s\n' "$now" | grep -qE '^1 vigil/test-depot/alarms/store1-tamper\.tamper .*"state":"active_unacked"'
check "it sees the tamper alarm of store 1, still active" $?
printf '%s\n' "$now" | grep -qE '^1 vigil/test-depot/alarms/fence-z1\.[a-z_]+ .*"state":"active_unacked"'
check "it sees the fence alarm, still active" $?

finish
