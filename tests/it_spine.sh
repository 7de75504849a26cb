#!/usr/bin/env bash
# End to end: a real mosquitto, the site simulator over real Modbus TCP, and
# vigild. Asserts what a station subscribed to the site receives: alarm
# events with their content, order and seq, retained state, command results
# (good and bad) and device faults.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"

wait_retained '^1 vigil/test-depot/status .*"state":"online"' 10
check "status online is retained" $?
! grep -q libcurl "/proc/$VIGILD_PID/maps"
check "with no influx group, vigild has not loaded libcurl (3.8 MiB it would cost)" $?
grep -q libpaho-mqtt3a.so "/proc/$VIGILD_PID/maps" && ! grep -qE 'libcrypto|libssl|libpaho-mqtt3as' "/proc/$VIGILD_PID/maps"
check "with no TLS broker, vigild runs paho without TLS and has no OpenSSL mapped (2 MiB it would cost)" $?

wait_event '"type":"gateway_restarted"' 10
check "a gateway_restarted event announces the start" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5
check "door opened in an armed store raises intrusion" $?
ev=$(last_event '"alarm":"store1-door.intrusion"')
expect_json "$ev" '.priority' 'high' "intrusion priority"
expect_json "$ev" '.zone' 'store1' "intrusion zone"
expect_json "$ev" '.point' 'store1-door' "intrusion point"
expect_json "$ev" '.device' 'store1-io' "intrusion device"
expect_json "$ev" '.site' 'test-depot' "intrusion site"
expect_json "$ev" '.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")' 'true' "ts is RFC 3339 with ms"
wait_retained '^1 vigil/test-depot/alarms/store1-door.intrusion .*active_unacked' 5
check "the active alarm is retained under alarms/<id>" $?

send_cmd '{"id":"c1","op":"ack","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_result '"id":"c1".*"ok":true' 5
check "ack answers ok" $?
wait_event '"alarm":"store1-door.intrusion".*"state":"active_acked".*"operator":"guard1"' 5
check "ack moves the alarm to active_acked and names the operator" $?

sim set store1-door 0
wait_event '"alarm":"store1-door.intrusion".*"state":"normal"' 5
check "closing an acknowledged door returns the alarm to normal" $?
wait_not_retained 'alarms/store1-door.intrusion ' 5
check "the retained alarm topic is cleared once normal" $?

send_cmd 'this is not json'
wait_result '"ok":false.*"error":"[^"]*JSON' 5
check "a malformed command gets ok:false with the reason" $?
send_cmd '{"id":"c2","op":"ack","alarm":"no-such.alarm","operator":"guard1"}'
wait_result '"id":"c2".*"ok":false.*unknown alarm' 5
check "acking an unknown alarm gets ok:false naming it" $?
send_cmd '{"id":"c3","op":"explode","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_result '"id":"c3".*"ok":false.*unknown op' 5
check "an unknown op gets ok:false" $?

sim set fence-z1 1
sleep 0.3
sim set cam1-motion 1
wait_event '"alarm":"fence-z1.verified_intrusion".*"priority":"critical".*"state":"active_unacked"' 5
check "a fence alarm confirmed by its camera becomes a critical verified_intrusion" $?

sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5
check "a tampered detector raises tamper" $?

sim set store1-temp 41.5
wait_event '"alarm":"store1-temp.temperature_high".*"value":41.5' 5
check "a temperature rise above 35 C raises temperature_high with the value" $?

send_cmd '{"id":"c4","op":"disarm","zone":"store1","operator":"officer2"}'
wait_result '"id":"c4".*"ok":true' 5
check "disarm answers ok" $?
wait_retained '^1 vigil/test-depot/zones/store1 .*"armed":false' 5
check "the zone's arm state is retained under zones/<zone>" $?

sim fail store1-th timeout
wait_event '"alarm":"store1-th.comm_loss".*"state":"active_unacked"' 8
check "a detector that stops answering raises comm_loss" $?
sim set store1-tamper 0
wait_event '"alarm":"store1-tamper.tamper".*"state":"rtn_unacked"' 5
check "other devices keep being polled while one is dead" $?
sim fail store1-th ok
wait_event '"alarm":"store1-th.comm_loss".*"state":"rtn_unacked"' 8
check "comm_loss clears when the device answers again, and stays on the list until acknowledged" $?

seqs=$(event_seqs)
first=$(echo "$seqs" | head -n1)
gaps=$(echo "$seqs" | seq_gaps)
[ -n "$first" ] && [ -z "$gaps" ]
check "seq strictly increases with no gaps ($gaps)" $?

stop_pid "$VIGILD_PID"
wait_retained '^1 vigil/test-depot/status .*"state":"offline"' 5
check "a clean stop publishes the retained offline status" $?

finish
