#!/usr/bin/env bash
# vigilctl watch, the reference station, against a real broker with
# hand-made events: duplicates are dropped, a jump in seq is reported as a
# gap, a late event that fills the gap is taken, the mark survives a
# restart of the watcher (--state) and its persistent session keeps what
# arrived meanwhile, alarms are printed for people, and a site whose status
# is not refreshed is reported silent.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

# publish SEQ...: one minimal event per seq on the site's events topic.
publish() {
    local s
    for s in "$@"; do
        mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t vigil/test-depot/events -m \
            "{\"seq\":$s,\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"test-depot\",\"alarm\":\"store1-door.intrusion\",\"priority\":\"high\",\"state\":\"active_unacked\",\"text\":\"Store 1 door: intrusion\"}"
    done
}

# stop_station: SIGTERM; sets STATION_RC to its exit status.
stop_station() {
    kill -TERM "$STATION_PID"
    wait "$STATION_PID"
    STATION_RC=$?
    SPAWNED=${SPAWNED/"$STATION_PID "/}
}

seqs() {
    station_seqs | tr '\n' ' '
}

site_setup
start_broker || bail "mosquitto did not start"

# --- duplicates, a gap and the late events that fill it -----------------------
start_station watch-1 || bail "vigilctl watch did not subscribe: $(cat "$WORK/station.err")"
publish 1 2 5 3 4 4 2 6
wait_station_count 6 5
stop_station
[ "$(seqs)" = "1 2 5 3 4 6 " ]
rc=$?
check "duplicates are dropped and late events that fill a gap are kept ($(seqs))" $rc
grep -q '^GAP: site test-depot events 3..4 missing' "$WORK/station.err" &&
    grep -q '^LATE: site test-depot event 3 arrived after 5' "$WORK/station.err"
check "the gap and the late arrivals are reported" $?
grep -q '6 events, 2 duplicates dropped, 1 gaps, 2 late events, 0 events missing' "$WORK/station.err" && [ "$STATION_RC" -eq 0 ]
rc=$?
check "a gap that was filled is no failure ($(tail -n 1 "$WORK/station.err"), exit $STATION_RC)" $rc

# --- restart of the watcher: persistent session and --state ----------------------
start_station watch-2 --state "$WORK/watch.state" || bail "vigilctl watch did not subscribe"
publish 1 2 3
wait_station_count 3 5
stop_station
publish 3 4 5                       # while the watcher is away
start_station watch-2 --state "$WORK/watch.state" || bail "vigilctl watch did not subscribe"
wait_station_count 2 5
publish 7
wait_station_count 3 5
stop_station
[ "$(seqs)" = "4 5 7 " ] && grep -q '^GAP: site test-depot events 6..6 missing' "$WORK/station.err"
rc=$?
check "a restarted watcher gets what arrived meanwhile, once, and remembers its mark ($(seqs))" $rc
[ "$STATION_RC" -eq 1 ] && grep -q ' 1 events missing' "$WORK/station.err"
check "a gap still open at the end is a failure (exit $STATION_RC)" $?

# --- for people -----------------------------------------------------------------------
# Two alarms already need attention when the guard starts the watcher: the
# broker holds them retained (one cleared since: its empty payload deletes it).
retain_alarm() {
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t "vigil/test-depot/alarms/$1" -m "$2"
}
retain_alarm store1-tamper.tamper \
    '{"seq":40,"ts":"2026-11-25T09:59:00.000Z","site":"test-depot","alarm":"store1-tamper.tamper","priority":"high","state":"active_acked","text":"Store 1 detector tamper: tamper (active, acknowledged by guard1)"}'
retain_alarm fence-z1.perimeter \
    '{"seq":41,"ts":"2026-11-25T09:59:30.000Z","site":"test-depot","alarm":"fence-z1.perimeter","priority":"critical","state":"active_unacked","text":"Fence zone 1: perimeter"}'
retain_alarm fence-z1.perimeter ''
retain_alarm store1-temp.temperature_high \
    '{"seq":39,"ts":"2026-11-25T09:58:00.000Z","site":"test-depot","alarm":"store1-temp.temperature_high","priority":"medium","state":"rtn_unacked","text":"Store 1 temperature: temperature high (cleared, unacknowledged)"}'
"$VIGIL_BUILD/vigilctl" watch --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot --client-id watch-3 \
    --utc --heartbeat-s 1 --timeout 6 >"$WORK/human.txt" 2>"$WORK/human.err" &
HUMAN_PID=$!
SPAWNED="$HUMAN_PID $SPAWNED"
wait_for "$WORK/human.err" '^vigilctl: subscribed' 10 || bail "vigilctl watch did not subscribe"
publish 1
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t vigil/test-depot/status -m \
    '{"site":"test-depot","state":"online","version":"9.9","started":"2026-11-25T09:00:00.000Z","ts":"2026-11-25T10:00:00.000Z"}'
wait_for "$WORK/human.txt" '^SITE SILENT test-depot' 5
check "a site whose status is not refreshed within 2 heartbeats is reported silent" $?
wait "$HUMAN_PID"
grep -qF '2026-11-25 10:00:00.123  #1  HIGH      ACTIVE (unacked)   Store 1 door: intrusion  [store1-door.intrusion]' \
    "$WORK/human.txt"
check "an alarm is printed as one line for people" $?
[ "$(grep -c '^NEEDS ATTENTION' "$WORK/human.txt")" -eq 2 ] &&
    grep -qF 'NEEDS ATTENTION  2026-11-25 09:59:00.000  #40  HIGH      ACTIVE (acked)     Store 1 detector tamper: tamper (active, acknowledged by guard1)  [store1-tamper.tamper]' "$WORK/human.txt" &&
    grep -q 'NEEDS ATTENTION .*CLEARED (unacked) .*\[store1-temp.temperature_high\]' "$WORK/human.txt" &&
    [ "$(grep -n 'NEEDS ATTENTION' "$WORK/human.txt" | tail -n 1 | cut -d: -f1)" -lt "$(grep -n '  #1  ' "$WORK/human.txt" | cut -d: -f1)" ]
rc=$?
check "at start the retained alarms that need attention are printed, before live events" $rc
grep -q '^SITE ONLINE test-depot (vigild 9.9 started 2026-11-25 09:00:00.000)' "$WORK/human.txt"
check "the site's status is printed" $?

"$VIGIL_BUILD/vigilctl" watch --site test-depot >/dev/null 2>&1
[ $? -eq 2 ]
check "watch without --broker is a usage error (exit 2)" $?

finish
