#!/usr/bin/env bash
# bench/outage.sh [BUILD] - delivery after a long broker outage, and how
# fast a dead device is detected.
#
# 1. Outage: a real mosquitto (with persistence, as a station's broker must
#    have), vigil-sim, vigild and a station (`vigilctl watch --json`). The
#    broker is stopped for $OUTAGE_S seconds while the simulator flips 16
#    contacts until the core has made $EVENTS alarm events, all buffered by
#    vigild. Then the broker comes back on the same port. Printed: the time
#    from the restart to the first event at the station (vigild's reconnect
#    back-off), to the last one (drained), the drain rate, and the events
#    lost: the events the core made (a replay of vigild's journal) that the
#    station did not receive. Lost must be 0.
# 2. Dead device: $SAMPLES times, the climate sensor (fail_ms $FAIL_MS,
#    timeout_ms 200, poll_ms 100) stops answering; printed: min/median/max
#    of the time from the fault to the comm_loss event's ts (detection) and
#    to its arrival at the station (delivery).
#
# Environment (defaults in brackets): OUTAGE_S [600], EVENTS [10000],
# SAMPLES [7], FAIL_MS [1000]. Not part of `make check` (it takes
# OUTAGE_S plus a minute). Exits 1 if an event was lost or a step failed.
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$(dirname "$0")/../scripts/lib.sh"
. "$VIGIL_TOP/tests/tools/station.sh"

OUTAGE_S=${OUTAGE_S:-600}
EVENTS=${EVENTS:-10000}
SAMPLES=${SAMPLES:-7}
FAIL_MS=${FAIL_MS:-1000}
SITE_ID=bench-outage

now_ms() {
    date +%s%3N
}

# bail MESSAGE: the benchmark cannot go on; says why, with vigild's last
# words, and exits 1. (The name is the one tests/tools/station.sh calls.)
bail() {
    echo "outage: $*" >&2
    [ -f "$WORK/vigild.log" ] && tail -n 20 "$WORK/vigild.log" >&2
    exit 1
}

# The site: 16 contacts on one I/O module polled every 20 ms, and a climate
# sensor on a bus of its own. Chatter detection allows 1000 changes a second.
gen_site() {
    cat <<CONF
site = { id = "$SITE_ID"; state_dir = "$WORK/state"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); heartbeat_s = 60; };
rules = { chatter_count = 1000; chatter_window_s = 1; };
buses = (
  { id = "io-lan"; type = "tcp"; host = "127.0.0.1"; port = $(free_port); },
  { id = "climate-lan"; type = "tcp"; host = "127.0.0.1"; port = $(free_port); }
);
devices = (
  { id = "io"; bus = "io-lan"; unit = 1; profile = "din16"; poll_ms = 20; },
  { id = "th"; bus = "climate-lan"; unit = 1; profile = "th-rs485"; poll_ms = 100; timeout_ms = 200;
    fail_count = 3; fail_ms = $FAIL_MS; }
);
zones = ( { id = "always"; name = "24-hour"; always_armed = true; } );
CONF
    echo "points = ("
    for i in $(seq 1 16); do
        printf '  { id = "c%02d"; device = "io"; input = "di%d"; kind = "digital"; zone = "always"; },\n' "$i" "$i"
    done
    echo '  { id = "temp"; device = "th"; input = "temperature"; kind = "temperature"; zone = "always"; }'
    echo ");"
}

# flip_until N DEADLINE_S: flips the 16 contacts, all of them per step, with
# steps spread so that N changes end near DEADLINE_S (never faster than the
# poller sees: a value is held at least 5 poll cycles).
flip_until() {
    local n=$1 end=$2 done=0 v=1 step_ms c
    step_ms=$(( (end - SECONDS) * 1000 * 16 / n ))
    [ "$step_ms" -lt 100 ] && step_ms=100
    while [ "$done" -lt "$n" ]; do
        for c in $(seq 1 16); do sim set "$(printf 'c%02d' "$c")" "$v"; done
        done=$((done + 16))
        v=$((1 - v))
        sleep "$((step_ms / 1000)).$(printf '%03d' $((step_ms % 1000)))"
    done
}

# made: events the core has made so far, by a replay of the live journal.
made() {
    replay_journal
    grep -c . "$WORK/replayed.json"
}

# comm_loss STATE: how many events of th's comm_loss in STATE the station has.
comm_loss() {
    grep -c "\"alarm\":\"th.comm_loss\".*\"state\":\"$1\"" "$WORK/station.json"
}

# stats: "min/median/max" of the numbers on stdin.
stats() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%d/%d/%d", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

site_setup
start_station_broker || bail "mosquitto did not start"
gen_site >"$WORK/site.conf"
launch_station_site bench-station "$WORK/site.conf"

# --- 1. the outage -------------------------------------------------------------
stop_pid "$BROKER_PID"
outage_end=$((SECONDS + OUTAGE_S))
before=$(made)
flip_until "$EVENTS" "$outage_end"
while [ "$(made)" -lt $((before + EVENTS)) ] && [ $SECONDS -lt $((outage_end + 30)) ]; do sleep 1; done
while [ $SECONDS -lt "$outage_end" ]; do sleep 1; done
total=$(made)
queued=$((total - before))
t_restart=$(now_ms)
start_station_broker || bail "mosquitto did not restart"
t_first=""
deadline=$((SECONDS + 120 + total / 100))
while r=$(station_count) && [ "$r" -lt "$total" ] && [ $SECONDS -lt $deadline ]; do
    [ -z "$t_first" ] && [ "$r" -gt "$before" ] && t_first=$(now_ms)
    sleep 0.02
done
t_drained=$(now_ms)
[ -z "$t_first" ] && t_first=$t_drained
# The core goes on after the restart (path_fault clearing, for one): compare
# with everything it made once the station has caught up.
deadline=$((SECONDS + 30))
while [ "$(station_count)" -lt "$(made)" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
lost=$(($(sort -u "$WORK/replayed.json" | grep -c .) - $(sort -u "$WORK/station.json" | grep -c .)))
cmp -s "$WORK/replayed.json" "$WORK/station.json" && same=yes || same=no
drain_ms=$((t_drained - t_first))
echo "outage: broker down ${OUTAGE_S} s with ${queued} events queued (${total} in all); after the restart:" \
    "first event $((t_first - t_restart)) ms, drained $((t_drained - t_restart)) ms" \
    "(${drain_ms} ms from the first to the last);" \
    "events lost: ${lost}; station stream identical to the journal's events: ${same}"

# --- 2. dead device detection ---------------------------------------------------
det=""
arr=""
for i in $(seq "$SAMPLES"); do
    n=$(comm_loss active_unacked)
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
    t0=$(now_ms)
    sim fail th timeout
    deadline=$((SECONDS + FAIL_MS / 1000 + 10))
    while [ "$(comm_loss active_unacked)" -le "$n" ]; do
        [ $SECONDS -lt $deadline ] || bail "no comm_loss after the fault"
        sleep 0.01
    done
    t1=$(now_ms)
    ts=$(grep '"alarm":"th.comm_loss".*"state":"active_unacked"' "$WORK/station.json" | tail -n 1 | jq -r .ts)
    det="$det $(($(date -d "$ts" +%s%3N) - t0))"
    arr="$arr $((t1 - t0))"
    sim fail th ok
    wait_for "$WORK/station.json" '"alarm":"th.comm_loss".*"state":"normal"' 10 || bail "comm_loss did not clear"
    wait_until 10 at_least "$i" comm_loss normal
done
echo "dead device: fail_ms ${FAIL_MS}, timeout_ms 200, poll_ms 100, ${SAMPLES} samples:" \
    "detected (event ts) min/median/max $(printf '%s\n' $det | stats) ms," \
    "at the station $(printf '%s\n' $arr | stats) ms"

[ "$lost" -eq 0 ] && [ "$same" = yes ]
