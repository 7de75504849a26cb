#!/usr/bin/env bash
# Broker outage: the broker stops while alarms keep changing, then comes
# back on the same port. vigild buffers what it could not send, and is
# killed (SIGKILL) and restarted in the middle of the outage, so its
# recovery re-publishes what is already buffered. A station (`vigilctl
# watch`, persistent session, broker with persistence) must then receive
# every event exactly once after dedup, in order, with contiguous seqs, and
# exactly the events the core made (compared with a replay of vigild's
# journal).
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

FLIPS=20                  # door changes while the broker is down

# door_states FILE: the states of the door alarm's events, one per line.
door_states() {
    jq -r 'select(.alarm == "store1-door.intrusion") | .state' "$1"
}

# door_count: how many door events the station has printed.
door_count() {
    door_states "$WORK/station.json" | grep -c .
}

site_setup
start_station_broker || bail "mosquitto did not start"
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
launch_station_site station-1 "$WORK/site.conf"
sim set store1-door 1
wait_for "$WORK/station.json" '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no intrusion"

# --- the outage: every door change goes into vigild's buffer ---------------
stop_pid "$BROKER_PID"
wait_for "$WORK/vigild.log" 'connection lost|disconnected' 5
check "vigild notices the broker is gone" $?
for i in $(seq "$FLIPS"); do
    sim set store1-door $((1 - i % 2))
    sleep 0.25
    if [ "$i" -eq $((FLIPS / 2)) ]; then
        kill_vigild
        start_vigild "$WORK/site.conf"
        wait_restarted
    fi
done
start_station_broker || bail "mosquitto did not restart on port $BROKER_PORT"

# The door ends open (0,1,...,0,1); closing it once more after the outage
# proves the live stream goes on behind the flushed buffer.
want=$((1 + FLIPS + 1))
sim set store1-door 0
wait_until 45 at_least "$want" door_count
stop_pid "$VIGILD_PID"
stop_pid "$STATION_PID"

door_states "$WORK/station.json" >"$WORK/door.got"
{
    echo active_unacked
    for i in $(seq $((FLIPS / 2))); do echo rtn_unacked; echo active_unacked; done
    echo rtn_unacked
} >"$WORK/door.want"
cmp -s "$WORK/door.want" "$WORK/door.got"
rc=$?
check "every door change made during the outage arrives once, in order ($(grep -c . "$WORK/door.got") of $want)" $rc

gaps=$(station_gaps)
[ -z "$gaps" ] && [ -s "$WORK/station.json" ]
check "the station's seqs are contiguous ($gaps)" $?

summary=$(tail -n 1 "$WORK/station.err")
printf '%s\n' "$summary" | grep -q ' 0 gaps'
check "the station reported no gap ($summary)" $?
printf '%s\n' "$summary" | grep -qE ' [1-9][0-9]* duplicates dropped'
check "the restarted vigild re-published buffered events and the station dropped them" $?

replay_journal
cmp -s "$WORK/replayed.json" "$WORK/station.json"
rc=$?
check "the station received exactly the events the core made, byte for byte" $rc
[ $rc -eq 0 ] || diff "$WORK/replayed.json" "$WORK/station.json" | head -10 | sed 's/^/#   /'

finish
