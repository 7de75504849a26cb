#!/usr/bin/env bash
# A new output is a new file: vigild built with one more sink (the test's
# tools/vigild_recorder.c, which writes every record it receives to a file)
# runs a real site (mosquitto, the simulator). Across alarms, an
# acknowledgement, a reload that removes a point and a zone, a SIGKILL and
# the crash recovery after it, the recording sink must see exactly the
# stream the MQTT sink sent: the same events in the same order, byte for
# byte, and the same zone and retire records as the retained topics show.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
export VIGIL_RECORD_FILE="$WORK/records.txt"
VIGILD_BIN="$VIGIL_BUILD/tests/tools/vigild_recorder"
[ -x "$VIGILD_BIN" ] || bail "no $VIGILD_BIN (make all builds it)"
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
cp "$WORK/site.conf" "$WORK/orig.conf"
# The reload drops the tamper loop while its alarm needs attention.
grep -v 'id = "store1-tamper"' "$WORK/orig.conf" >"$WORK/smaller.conf"

launch_site "$WORK/orig.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start"

# recorded KIND: the payloads the recording sink received of one kind, in order.
recorded() {
    grep "^$1	" "$WORK/records.txt" | cut -f2-
}
# same_events: the recording sink's events equal the subscriber's, in order.
same_events() {
    [ "$(recorded event)" = "$(events)" ]
}

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no door alarm"
send_cmd '{"id":"s1","op":"ack","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_event '"alarm":"store1-door.intrusion".*"state":"active_acked"' 5 || bail "no ack"
sim set store1-door 0
wait_event '"alarm":"store1-door.intrusion".*"state":"normal"' 5 || bail "door did not clear"
wait_until 5 same_events
check "the recording sink saw the same events as the MQTT subscriber, in order, byte for byte" $?
[ "$(recorded result)" = "$(grep -E '^0 vigil/[^ ]+/cmd/result ' "$WORK/all.txt" | cut -d' ' -f3-)" ]
check "the recording sink saw the command's result the MQTT sink published" $?
[ "$(recorded zone | jq -r .zone | sort -u)" = "$(retained_now | grep ' vigil/test-depot/zones/' | cut -d' ' -f3- | jq -r .zone | sort -u)" ]
check "the recording sink saw every zone the broker holds retained" $?

# Reload: the tamper loop goes while its alarm needs attention.
sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5 || bail "no tamper alarm"
wait_retained ' vigil/test-depot/alarms/store1-tamper.tamper ' 3 || bail "tamper alarm not retained"
cp "$WORK/smaller.conf" "$WORK/site.conf"
kill -HUP "$VIGILD_PID"
wait_for "$WORK/vigild.log" 'reload: config=.* loaded' 10 || bail "reload did not happen"
wait_until 5 same_events
check "after a reload both sinks still agree on every event" $?
wait_not_retained ' vigil/test-depot/alarms/store1-tamper.tamper ' 5
check "the MQTT sink deleted the retained alarm of the removed point" $?
[ "$(grep '^retire	' "$WORK/records.txt")" = "retire	alarm	store1-tamper.tamper" ]
check "the recording sink was told to retire exactly that alarm" $?

# Crash: an alarm raised, then SIGKILL at once; recovery re-delivers from the journal.
door_raised() {
    [ "$(events | grep -c '"alarm":"store1-door.intrusion".*"state":"active_unacked"')" -ge "$1" ]
}
sim set store1-door 1
wait_until 5 door_raised 2 || bail "no second door alarm"
kill -KILL "$VIGILD_PID" 2>/dev/null
wait_until 5 sh -c "! kill -0 $VIGILD_PID 2>/dev/null"
sim set store1-door 0
start_vigild "$WORK/site.conf"
wait_restarted
wait_event '"alarm":"store1-door.intrusion".*"state":"rtn_unacked"' 10
check "the door closed while vigild was down is reported after recovery" $?
grep -q "^resume	" "$WORK/records.txt"
check "after recovery the sinks are told where numbering resumes" $?
# Duplicates are allowed after a crash (at least once), so compare each
# seq's first payload and the order in which seqs first appeared.
first_of_each() {
    jq -c '.' | awk '{ match($0, /"seq":[0-9]+/); k = substr($0, RSTART, RLENGTH); if (!(k in seen)) { seen[k] = 1; print } }'
}
same_unique_events() {
    [ "$(recorded event | first_of_each)" = "$(events | first_of_each)" ]
}
wait_until 5 same_unique_events
check "across a crash and recovery, every seq has the same payload in both sinks, in the same order" $?
[ "$(recorded event | jq -r .seq | sort -n | uniq | wc -l)" -eq "$(events | jq -r .seq | sort -n | uniq | wc -l)" ]
check "neither sink missed a seq the other got" $?
finish
