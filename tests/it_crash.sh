#!/usr/bin/env bash
# Crash safety: while the test keeps changing inputs, vigild is killed with
# SIGKILL at random moments and restarted on the same state directory, over
# and over: half of the kills hit it while it starts up and recovers, half
# while it runs. A station (`vigilctl watch`) must then have received a
# gap-free run of seqs, exactly the events the core made (a replay of the
# journal), no alarm raised twice under a new seq, and the state the inputs
# imply: a disarmed zone stays disarmed, an acknowledged alarm stays
# acknowledged, the retained alarms match the last inputs.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

KILLS=${KILLS:-20}

# Flips the door and the tamper loop until it is stopped.
flipper() {
    local v=0
    while :; do
        v=$((1 - v))
        sim set store1-door "$v"
        sleep 0.1
        sim set store1-tamper "$v"
        sleep 0.1
    done
}

# ms_sleep MIN MAX: sleeps a random time between MIN and MAX milliseconds.
ms_sleep() {
    local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

# events_of ALARM: "state" of every event of one alarm, in order.
events_of() {
    jq -r --arg a "$1" 'select(.alarm == $a) | .state' "$WORK/station.json"
}

# last_seq: the seq of the last event the station printed.
last_seq() {
    station_seqs | tail -n 1
}

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
launch_station_site station-crash "$WORK/site.conf"

# --- state that must survive every kill -----------------------------------
send_cmd '{"id":"k1","op":"disarm","zone":"perimeter","operator":"officer1"}'
wait_for "$WORK/station.json" '"type":"zone_disarmed".*"zone":"perimeter"' 5 || bail "perimeter not disarmed"
sim set store1-temp 41.5
wait_for "$WORK/station.json" '"alarm":"store1-temp.temperature_high".*"state":"active_unacked"' 5 ||
    bail "no temperature_high"
send_cmd '{"id":"k2","op":"ack","alarm":"store1-temp.temperature_high","operator":"guard1"}'
wait_for "$WORK/station.json" '"alarm":"store1-temp.temperature_high".*"state":"active_acked"' 5 || bail "no ack"

# --- the kill loop ----------------------------------------------------------
flipper &
FLIPPER_PID=$!
SPAWNED="$FLIPPER_PID $SPAWNED"
for i in $(seq "$KILLS"); do
    if [ $((i % 2)) -eq 1 ]; then
        ms_sleep 0 300
    else
        wait_restarted
        ms_sleep 200 1500
    fi
    kill_vigild
    start_vigild "$WORK/site.conf"
done
stop_pid "$FLIPPER_PID"
wait_restarted
sim set store1-door 1
sim set store1-tamper 0
echo "# $KILLS kills"

# --- the state the inputs imply ---------------------------------------------
wait_retained '^1 vigil/test-depot/alarms/store1-door.intrusion .*"state":"active_unacked"' 10
check "the open door's intrusion is retained as active_unacked" $?
wait_retained '^1 vigil/test-depot/alarms/store1-tamper.tamper .*"state":"rtn_unacked"' 10
check "the closed tamper loop's alarm is retained as rtn_unacked" $?
wait_retained '^1 vigil/test-depot/alarms/store1-temp.temperature_high .*"state":"active_acked"' 10
check "the acknowledged temperature alarm is still retained as active_acked" $?
wait_retained '^1 vigil/test-depot/zones/perimeter .*"armed":false' 10
check "the disarmed perimeter is still retained as disarmed" $?

# --- what the station received ------------------------------------------------
stop_pid "$VIGILD_PID"
replay_journal
rc=$?
check "the journal replays ($(head -c 300 "$WORK/replay.err"))" $rc
last=$(tail -n 1 "$WORK/replayed.json" | jq -r .seq)
wait_until 15 at_least "$last" last_seq
stop_pid "$STATION_PID"

gaps=$(station_gaps)
[ -z "$gaps" ] && [ -s "$WORK/station.json" ] && grep -q ' 0 gaps' "$WORK/station.err"
check "the station's seqs are contiguous from first to last ($gaps)" $?

cmp -s "$WORK/replayed.json" "$WORK/station.json"
rc=$?
check "the station received every event the core made, once, byte for byte ($(grep -c . "$WORK/station.json") events)" $rc
[ $rc -eq 0 ] || diff "$WORK/replayed.json" "$WORK/station.json" | head -10 | sed 's/^/#   /'

twice=$(jq -r 'select(.state != "event") | "\(.alarm) \(.state) \(.seq)"' "$WORK/station.json" |
    awk '{ if (last[$1] == $2) print $1 " " $2 " again as #" $3; last[$1] = $2 }')
[ -z "$twice" ]
check "no alarm was raised twice under a new seq ($twice)" $?

[ "$(events_of store1-door.intrusion | grep -c .)" -ge 4 ] && [ "$(events_of store1-tamper.tamper | grep -c .)" -ge 4 ]
rc=$?
check "the inputs changed across the kills ($(events_of store1-door.intrusion | grep -c .) door events)" $rc

[ "$(events_of store1-temp.temperature_high | tr '\n' ' ')" = "active_unacked active_acked " ]
check "the acknowledged alarm was never raised again" $?

[ "$(jq -r 'select(.zone == "perimeter" and .state == "event") | .type' "$WORK/station.json" | tr '\n' ' ')" = \
    "zone_disarmed " ]
check "the perimeter was never re-armed" $?

[ "$(grep -c '"type":"gateway_restarted"' "$WORK/station.json")" -gt $((KILLS / 2)) ]
rc=$?
check "every restart that got to run announced itself ($(grep -c '"type":"gateway_restarted"' "$WORK/station.json"))" $rc

finish
