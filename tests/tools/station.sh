# tests/tools/station.sh - what the fault tests and the outage benchmark
# share (on top of scripts/lib.sh): a broker that keeps sessions across its
# own restart, a station (`vigilctl watch`) subscribed to the site with a
# persistent session, a site started under its eyes, the helpers that read
# what the station received, and a replay of what the core made.
#
# A station's broker must keep its subscribers' sessions across a restart
# (persistence) and queue enough for them, or the events vigild flushes
# after the outage reach no subscriber that has not re-subscribed yet.
# ("user root" only matters when the tests run as root: mosquitto would
# otherwise switch to its own user, which cannot write the work directory.)

# start_station_broker: mosquitto with persistence on $BROKER_PORT (a free
# port the first time, the same one on a restart); sets BROKER_PID.
start_station_broker() {
    BROKER_PORT=${BROKER_PORT:-$(free_port)}
    mkdir -p "$WORK/mosquitto-db"
    cat >"$WORK/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $WORK/mosquitto-db/
user root
max_queued_messages 1000000
log_dest stderr
CONF
    spawn "$WORK/mosquitto.log" mosquitto -c "$WORK/mosquitto.conf"
    BROKER_PID=$LAST_PID
    wait_port "$BROKER_PORT" 10
}

# start_station CLIENT_ID [ARGS...]: `vigilctl watch --json` on the site;
# new events go to $WORK/station.json, notices to $WORK/station.err. Waits
# until it has subscribed; sets STATION_PID.
start_station() {
    local id=$1
    shift
    "$VIGIL_BUILD/vigilctl" watch --broker "tcp://127.0.0.1:$BROKER_PORT" --site "${SITE_ID:-test-depot}" \
        --client-id "$id" --json "$@" >"$WORK/station.json" 2>"$WORK/station.err" &
    STATION_PID=$!
    SPAWNED="$STATION_PID $SPAWNED"
    wait_for "$WORK/station.err" '^vigilctl: subscribed' 10
}

# station_seqs: the seq of every event the station printed, in order.
station_seqs() {
    jq -r '.seq' "$WORK/station.json"
}

# station_gaps: every place where a seq is not one more than the one
# before it; empty if the station's seqs are contiguous.
station_gaps() {
    station_seqs | seq_gaps
}

# station_count: how many events the station has printed.
station_count() {
    grep -sc . "$WORK/station.json"
}

# kill_vigild: SIGKILL, reaped, and forgotten by cleanup (its PID may be reused).
kill_vigild() {
    kill -KILL "$VIGILD_PID"
    wait "$VIGILD_PID" 2>/dev/null
    SPAWNED=${SPAWNED/"$VIGILD_PID "/}
}

# wait_station_count N SECONDS: the station has printed at least N events.
wait_station_count() {
    wait_until "$2" at_least "$1" station_count
}

# launch_station_site STATION-ID SIM-CONF [WATCH-ARGS...]: the simulator
# serving SIM-CONF, a station (start_station STATION-ID WATCH-ARGS...) and
# vigild on $WORK/site.conf; waits until the station has vigild's
# gateway_restarted. Calls the caller's bail MESSAGE when a step fails.
launch_station_site() {
    start_sim "$2" || bail "vigil-sim did not get ready: $(cat "$WORK/sim.out")"
    start_station "$1" "${@:3}" || bail "vigilctl watch did not subscribe: $(cat "$WORK/station.err")"
    start_vigild "$WORK/site.conf"
    wait_for "$WORK/station.json" '"type":"gateway_restarted"' 10 ||
        bail "vigild did not start: $(tail -5 "$WORK/vigild.log")"
}

# replay_journal: the events the core has made, by `vigilctl replay` of
# vigild's journal, into $WORK/replayed.json (its errors into
# $WORK/replay.err); returns replay's status.
replay_journal() {
    "$VIGIL_BUILD/vigilctl" replay "$WORK/state/journal" --config "$WORK/site.conf" \
        --profiles "$VIGIL_TOP/sensors/profiles" >"$WORK/replayed.json" 2>"$WORK/replay.err"
}
