#!/usr/bin/env bash
# SIGHUP reload while alarms are active, end to end (real mosquitto, the
# simulator, vigild). A rejected config (syntax error; dangling references)
# raises config_rejected naming file:line and changes nothing; a good config
# that adds one point and removes another switches without touching the
# state of the alarms that stay: no new event for them, no seq gap.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf"
cp "$WORK/site.conf" "$WORK/orig.conf"

# Variants of the running config (same ports). The good one adds a motion
# detector on the store's I/O module and drops the temperature point; the
# simulator knows the new point from the start.
door_line=$(grep -n 'id = "store1-door"' "$WORK/orig.conf" | cut -d: -f1)
motion='  { id = "store1-motion"; name = "Store 1 motion"; device = "store1-io"; input = "di3"; kind = "motion"; zone = "store1"; },'
sed "${door_line}a\\$motion" "$WORK/orig.conf" >"$WORK/sim.conf"
grep -v 'id = "store1-temp"' "$WORK/sim.conf" >"$WORK/good.conf"
syntax_line=$(grep -n '^zones = ($' "$WORK/orig.conf" | cut -d: -f1)
sed "${syntax_line}s/^zones = (\$/zones = ( oops/" "$WORK/orig.conf" >"$WORK/bad-syntax.conf"
fence_line=$(grep -n 'id = "fence-z1"' "$WORK/orig.conf" | cut -d: -f1)
# The first error is too long for an event's text (159 bytes): it is cut.
gone=pids-that-was-replaced-by-the-new-controller
sed -e "${fence_line}s/device = \"pids\"/device = \"$gone\"/" \
    -e 's/\(id = "cam1-motion".*\)device = "cctv"/\1device = "cctv-gone"/' "$WORK/orig.conf" >"$WORK/bad-refs.conf"

launch_site "$WORK/sim.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start"

# The two alarms that must survive every reload: an unacknowledged door
# intrusion and an acknowledged tamper.
sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no door alarm"
sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5 || bail "no tamper alarm"
send_cmd '{"id":"r1","op":"ack","alarm":"store1-tamper.tamper","operator":"guard1"}'
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_acked"' 5 || bail "tamper not acknowledged"

# kept_events: how many events the two kept alarms have had.
kept_events() {
    events | grep -cE '"alarm":"store1-(door.intrusion|tamper.tamper)"'
}
# expect_kept_states WHEN: both kept alarms still hold their retained state.
expect_kept_states() {
    wait_retained '^1 vigil/test-depot/alarms/store1-door.intrusion .*"state":"active_unacked"' 3
    check "$1: the door alarm is still active_unacked" $?
    wait_retained '^1 vigil/test-depot/alarms/store1-tamper.tamper .*"state":"active_acked".*"operator":"guard1"' 3
    check "$1: the tamper alarm is still active_acked by guard1" $?
}
# reload_with FILE: puts FILE where vigild reads its config and sends SIGHUP.
reload_with() {
    cp "$1" "$WORK/site.conf"
    kill -HUP "$VIGILD_PID"
}
kept_before=$(kept_events)

# (a) rejected configs
reload_with "$WORK/bad-syntax.conf"
wait_event '"type":"config_rejected".*"state":"event"' 5
check "a config with a syntax error raises config_rejected" $?
ev=$(last_event '"type":"config_rejected"')
expect_json "$ev" ".text | startswith(\"$WORK/site.conf:$syntax_line: syntax error\")" 'true' \
    "the rejection names file:line of the syntax error"
wait_for "$WORK/vigild.log" "^level=error reload: $WORK/site.conf:$syntax_line: syntax error" 2
check "the log names file:line of the syntax error" $?

reload_with "$WORK/bad-refs.conf"
wait_event '"type":"config_rejected".*more in the log' 5
check "a config with dangling references raises config_rejected" $?
ev=$(last_event '"type":"config_rejected".*more in the log')
expect_json "$ev" ".text | startswith(\"$WORK/site.conf:$fence_line: point \\\"fence-z1\\\": device \\\"$gone\\\" does not\")" \
    'true' "the rejection names file:line of the first dangling reference"
expect_json "$ev" '.text | endswith("... (+1 more in the log)")' 'true' "the rejection is cut to fit and counts the other errors"
expect_json "$ev" '.text | utf8bytelength <= 159' 'true' "the rejection text fits the core's 160 bytes"
[ "$(grep -c 'reload: .*does not exist' "$WORK/vigild.log")" -eq 2 ]
check "the log holds every error line of the rejected config" $?

kill -0 "$VIGILD_PID" 2>/dev/null
check "vigild keeps running after rejected configs" $?
sim set store1-temp 41.5
wait_event '"alarm":"store1-temp.temperature_high".*"state":"active_unacked"' 5
check "a new alarm is raised on the old config after the rejections" $?
wait_retained '^1 vigil/test-depot/alarms/store1-temp.temperature_high ' 5 || bail "no retained temperature alarm"
expect_kept_states "after rejected configs"
[ "$(kept_events)" -eq "$kept_before" ]
check "rejected configs cause no event for the kept alarms" $?

# (b) a good config: store1-motion added, store1-temp removed
reload_with "$WORK/good.conf"
wait_for "$WORK/vigild.log" 'reload: config=.* loaded devices=4 zones=3 points=6' 5
check "a good config is loaded" $?
wait_not_retained 'alarms/store1-temp.temperature_high ' 5
check "the removed point's retained alarm topic is cleared" $?
sim set store1-motion 1
wait_event '"alarm":"store1-motion.intrusion".*"state":"active_unacked"' 5
check "the added point raises alarms" $?
expect_kept_states "after the good reload"
[ "$(kept_events)" -eq "$kept_before" ]
check "the good reload causes no event for the kept alarms" $?
send_cmd '{"id":"r2","op":"ack","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_event '"alarm":"store1-door.intrusion".*"state":"active_acked"' 5
check "a kept alarm is acknowledged under the new config" $?
# Both registers are read in one request, and a temperature clears at once
# while humidity waits 0.5 s: once the humidity alarm is out, the temperature
# alarm would have returned to normal, had its point stayed.
sim set store1-temp 20
sim set store1-hum 90
wait_event '"alarm":"store1-hum.humidity_high".*"state":"active_unacked"' 5 || bail "no humidity alarm"
! events | grep -q '"alarm":"store1-temp.temperature_high".*"state":"normal"'
check "the removed point raises nothing any more" $?

seqs=$(event_seqs)
gaps=$(echo "$seqs" | seq_gaps)
[ -n "$seqs" ] && [ -z "$gaps" ]
check "seq continues across every reload without a gap ($gaps)" $?

finish
