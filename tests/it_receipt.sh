#!/usr/bin/env bash
# End-to-end receipts: a real mosquitto, the simulator and vigild with
# receipts on for critical and high events (timeout 2 s) and the siren on
# coil do1 of store1-io. The test plays the central station with
# mosquitto_pub and asserts what goes over the wire and what the simulated
# relay module holds:
#  - a critical event without receipt is re-published with the same seq and
#    byte for byte, and the siren coil goes to 1;
#  - the coil is written again when the relay module comes back on the bus;
#  - its receipt stops the retries and the coil goes back to 0;
#  - a high event receipted at once is published once;
#  - a low event is never tracked, so never re-published;
#  - a malformed receipt is logged and changes nothing;
#  - a receipt naming an earlier epoch does not silence an event of the same seq.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

TIMEOUT_S=2

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$(cat <<EOF
receipts = {
  priorities = [ "critical", "high" ];
  timeout_s = $TIMEOUT_S;
  local_output = { device = "store1-io"; output = "do1"; priorities = [ "critical" ]; };
};
EOF
)"
launch_site "$WORK/site.conf" --log-level debug

# sim_lines: how many lines the simulator has written.
sim_lines() {
    wc -l <"$WORK/sim.out"
}

# coil: the simulator's value of store1-io's do1 (the line it answers with).
coil() {
    local before
    before=$(sim_lines)
    sim get store1-io do1
    wait_until 5 at_least $((before + 1)) sim_lines
    tail -n 1 "$WORK/sim.out" | sed -n 's/^ok //p'
}

# coil_is VALUE: the siren coil holds VALUE now.
coil_is() {
    [ "$(coil)" = "$1" ]
}

# wait_coil VALUE SECONDS
wait_coil() {
    wait_until "$2" coil_is "$1"
}

# copies SEQ: how many times the event with this seq came on events.
copies() {
    events | jq -c "select(.seq == $1)" | wc -l
}

# wait_copies SEQ N SECONDS: at least N copies arrived.
wait_copies() {
    wait_until "$3" at_least "$2" copies "$1"
}

# siren_writes: how many times vigild has logged setting the siren coil to 1.
siren_writes() {
    grep -c 'output "do1" set to 1' "$WORK/vigild.log"
}

receipt() {
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t vigil/test-depot/receipt -m "$1"
}

wait_retained '^1 vigil/test-depot/status .*"state":"online"' 10 || bail "vigild did not come online"
wait_event '"type":"gateway_restarted"' 10 || bail "no gateway_restarted event"
# A first start raises state_lost (critical, a new epoch); a station
# receipts it at once, so only the events below concern the siren.
lseq=$(last_event '"type":"state_lost"' | jq -r .seq)
receipt "{\"seq\":$lseq}"
wait_for "$WORK/vigild.log" "receipt: event seq=$lseq receipted\$" 5 || bail "state_lost (seq $lseq) not receipted"

# A verified intrusion (critical) that the station does not receipt.
sim set fence-z1 1
sleep 0.3
sim set cam1-motion 1
wait_event '"alarm":"fence-z1.verified_intrusion".*"priority":"critical"' 5
check "a verified intrusion is published as critical" $?
vseq=$(last_event '"alarm":"fence-z1.verified_intrusion"' | jq -r .seq)
cseq=$(last_event '"alarm":"cam1-motion.cctv"' | jq -r .seq)
[ "$(coil)" = 0 ]
check "the siren coil is 0 while the receipt is not yet overdue" $?

wait_copies "$vseq" 2 $((TIMEOUT_S + 6))
check "the critical event without receipt is re-published (seq $vseq)" $?
[ "$(events | jq -c "select(.seq == $vseq)" | sort -u | wc -l)" -eq 1 ]
check "the re-published event is byte-for-byte the first copy" $?
wait_coil 1 5
check "a critical event without receipt switches the siren coil on" $?
grep -qE "receipt: local output device=\"store1-io\" output=\"do1\" on" "$WORK/vigild.log"
check "the siren switching on is logged" $?

# The relay module drops off the bus and comes back (it may have rebooted):
# the output is written again.
sim fail store1-io timeout
wait_event '"alarm":"store1-io.comm_loss".*"state":"active_unacked"' 8 || bail "store1-io never lost comm"
sim fail store1-io ok
wait_until 8 at_least 2 siren_writes
check "the siren coil is written again when its module answers again" $?

receipt 'not a receipt'
wait_for "$WORK/vigild.log" 'mqtt: receipt ignored: payload is not JSON' 5
check "a malformed receipt is logged" $?

# A receipt of the same seq from an earlier lineage (before the state was
# lost) means another event: it must not silence this one.
vepoch=$(last_event '"alarm":"fence-z1.verified_intrusion"' | jq -r .epoch)
receipt "{\"seq\":$vseq,\"epoch\":\"0123456789abcdef\"}"
wait_for "$WORK/vigild.log" "receipt: 1 seqs from $vseq ignored: they name epoch 0123456789abcdef; this site numbers its events in epoch $vepoch" 5
check "a receipt naming another epoch is logged and ignored" $?
sleep 1
coil_is 1
check "a receipt of the same seq from an earlier epoch does not switch the siren off" $?

receipt "{\"seqs\":[$vseq],\"station\":\"test-station\",\"epoch\":\"$vepoch\"}"
wait_coil 0 5
check "the receipt of the critical event switches the siren coil off" $?
vcopies=$(copies "$vseq")
grep -q "receipt: event seq=$vseq receipted late" "$WORK/vigild.log"
check "the late receipt is logged" $?

# A high event that the station receipts at once.
sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5
check "a door intrusion is published as a high event" $?
dseq=$(last_event '"alarm":"store1-door.intrusion"' | jq -r .seq)
receipt "{\"seq\":$dseq}"
wait_for "$WORK/vigild.log" "receipt: event seq=$dseq receipted\$" 5
check "the high event is receipted before its timeout" $?

# Past the timeout of everything above: what was receipted stays quiet.
sleep $((TIMEOUT_S + 1))
[ "$(copies "$dseq")" -eq 1 ]
check "a high event with a prompt receipt is published once ($(copies "$dseq") copies)" $?
[ "$(copies "$vseq")" -eq "$vcopies" ]
check "no retry of the critical event after its receipt ($vcopies then $(copies "$vseq"))" $?
[ -n "$cseq" ] && [ "$(copies "$cseq")" -eq 1 ]
check "a low event is never tracked nor re-published (seq $cseq)" $?
[ "$(coil)" = 0 ]
check "the siren coil stays off" $?

# The siren is a decision of the core: the journal's replay shows it
# switching on for the unreceipted events, and off at the receipt.
replayed=$("$VIGIL_BUILD/vigilctl" replay "$WORK/state/journal" --config "$WORK/site.conf" \
    --profiles "$VIGIL_TOP/sensors/profiles" 2>/dev/null | grep '"output":"do1"')
printf '%s\n' "$replayed" | head -n 1 | grep -q '"on":true,"reason":"2 escalating events without the station'"'"'s receipt"'
check "vigilctl replay shows why the siren went on" $?
printf '%s\n' "$replayed" | tail -n 1 | grep -q '"on":false,"reason":"every escalating event receipted"'
check "vigilctl replay shows the siren going off at the receipt" $?
is_retained ' vigil/test-depot/outputs/store1-io.do1 .*"on":false'
check "the station sees the siren's state on its retained outputs topic" $?

finish
