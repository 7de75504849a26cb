#!/usr/bin/env bash
# bench/fleet.sh [BUILD] - a fleet of small sites against one broker: what
# each site costs the machine and the broker, and whether the station gets
# every event. See bench/README.md ("Fleet") and docs/scaling.md.
#
# $BENCH_FLEET_SITES vigild (sites s001..), each with $BENCH_FLEET_POINTS
# digital contacts on one Modbus TCP device polled every $BENCH_FLEET_POLL_MS,
# in an always-armed zone; one vigil-sim serving every site's device (one TCP
# bus each); one local mosquitto; one station, `vigilctl watch --site +
# --json`, which drops duplicates by (epoch, seq). Contact names are unique
# over the fleet (pt0000..), so the simulator's one control FIFO flips any.
#
# Phases: every site online at the station; $BENCH_FLEET_IDLE_S seconds
# without changes (the fleet's cost at rest); $BENCH_FLEET_FLIP_S seconds of
# flips at $BENCH_FLEET_RATE per second, round-robin over the sites (site 1,
# 2, ... then the next contact of each), each contact 1 then 0 on its next
# turn, so every flip must become exactly one event (active_unacked, then
# normal); then a drain of up to $BENCH_FLEET_DRAIN_S seconds. Lost = flips
# without their event by then.
#
# CPU is utime + stime from /proc over each window, as % of one core, summed
# over the vigild processes; RSS is VmRSS summed (each process counts every
# shared library page it maps) and PSS from smaps_rollup (shared pages
# divided among their users: what a site really adds to the machine).
#
# Environment (defaults in brackets): BENCH_FLEET_SITES [100],
# BENCH_FLEET_POINTS [10], BENCH_FLEET_POLL_MS [100], BENCH_FLEET_RATE [200],
# BENCH_FLEET_IDLE_S [20], BENCH_FLEET_FLIP_S [60], BENCH_FLEET_DRAIN_S [10]. Prints "fleet:" lines;
# exits 1 if the fleet did not start or an event was lost.
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/site.sh"

SITES=${BENCH_FLEET_SITES:-100}
PER=${BENCH_FLEET_POINTS:-10}
FLEET_POLL_MS=${BENCH_FLEET_POLL_MS:-100}
RATE=${BENCH_FLEET_RATE:-200}
IDLE_S=${BENCH_FLEET_IDLE_S:-20}
FLIP_S=${BENCH_FLEET_FLIP_S:-60}
DRAIN_S=${BENCH_FLEET_DRAIN_S:-10}
VIGILDS=""

site_name() { printf 's%03d' "$1"; }
point_name() { printf 'pt%04d' $((($1 - 1) * PER + $2 - 1)); }

# gen_fleet_sim PORTS...: the simulator's config: every site's device on its own bus.
gen_fleet_sim() {
    local i=0 p k
    cat <<CONF
site = { id = "fleet-sim"; state_dir = "$WORK/sim-state"; profile_dir = "$WORK/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); };
zones = ( { id = "always"; always_armed = true; } );
CONF
    echo "buses = ("
    for p in "$@"; do
        i=$((i + 1))
        printf '  { id = "b%03d"; type = "tcp"; host = "127.0.0.1"; port = %d; }%s\n' "$i" "$p" "$([ "$i" -lt "$SITES" ] && echo ,)"
    done
    echo ");"
    echo "devices = ("
    for i in $(seq 1 "$SITES"); do
        printf '  { id = "f%03d"; bus = "b%03d"; unit = 1; profile = "bench-din"; }%s\n' "$i" "$i" "$([ "$i" -lt "$SITES" ] && echo ,)"
    done
    echo ");"
    echo "points = ("
    for i in $(seq 1 "$SITES"); do
        for k in $(seq 1 "$PER"); do
            printf '  { id = "%s"; device = "f%03d"; input = "di%d"; kind = "digital"; zone = "always"; }%s\n' \
                "$(point_name "$i" "$k")" "$i" "$k" "$([ "$i" -lt "$SITES" ] || [ "$k" -lt "$PER" ] && echo ,)"
        done
    done
    echo ");"
}

# gen_fleet_site I PORT: site I's own config. The chatter window is 1 s, as in
# bench/site.sh: a contact flipped every few seconds is not chattering.
gen_fleet_site() {
    local i=$1 name k
    name=$(site_name "$i")
    cat <<CONF
site = { id = "$name"; state_dir = "$WORK/$name/state"; profile_dir = "$WORK/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); heartbeat_s = 60; };
rules = { chatter_count = 3; chatter_window_s = 1; };
zones = ( { id = "always"; name = "24-hour"; always_armed = true; } );
buses = ( { id = "lan"; type = "tcp"; host = "127.0.0.1"; port = $2; } );
devices = ( { id = "io"; bus = "lan"; unit = 1; profile = "bench-din"; poll_ms = $FLEET_POLL_MS; } );
CONF
    echo "points = ("
    for k in $(seq 1 "$PER"); do
        printf '  { id = "%s"; device = "io"; input = "di%d"; kind = "digital"; zone = "always"; }%s\n' \
            "$(point_name "$i" "$k")" "$k" "$([ "$k" -lt "$PER" ] && echo ,)"
    done
    echo ");"
}

# kb sum|max KEY FILE PID...: a "Key: N kB" field of /proc/PID/FILE, summed or the largest.
kb() {
    local agg=$1 key=$2 file=$3 p
    shift 3
    for p in "$@"; do cat "/proc/$p/$file" 2>/dev/null; done |
        awk -v agg="$agg" -v k="$key:" '$1 == k { s += $2; if ($2 > m) m = $2 } END { print (agg == "max" ? m : s) + 0 }'
}

# flip_driver: RATE flips a second for FLIP_S seconds, in batches every 100 ms
# (paced by the clock, not by the sleeps) into the simulator's FIFO; writes
# the number of flips to $WORK/flips.
flip_driver() {
    local per_batch=$((RATE / 10)) f=0 batch i name t0 due now
    [ "$per_batch" -ge 1 ] || per_batch=1
    exec 3>"$WORK/sim.ctl"
    t0=${EPOCHREALTIME/./}
    for ((due = 0; due < FLIP_S * 1000000; due += 100000)); do
        batch=""
        for ((i = 0; i < per_batch; i++)); do
            printf -v name 'pt%04d' $((f % SITES * PER + f / SITES % PER))
            batch+="set $name $((1 - f / (SITES * PER) % 2))"$'\n'
            f=$((f + 1))
        done
        printf '%s' "$batch" >&3
        now=$((${EPOCHREALTIME/./} - t0))
        [ "$now" -lt $((due + 100000)) ] && sleep "$(printf '0.%06d' $((due + 100000 - now)))"
    done
    exec 3>&-
    echo "$f" >"$WORK/flips"
}

# sites_online: how many sites the station has seen online.
sites_online() {
    grep -so 'SITE ONLINE s[0-9]*' "$WORK/watch.log" | sort -u | wc -l
}

# tally FLIPS MARK: "lost extra" over the events after line MARK of the
# station's output: for every contact, the events each state (active_unacked
# for a flip to 1, normal for a flip to 0) should have had from the flips
# flip_driver made, against the ones that came.
tally() {
    awk -v flips="$1" -v mark="$2" -v sites="$SITES" -v per="$PER" '
    BEGIN { for (f = 0; f < flips; f++) want[(f % sites) * per + int(f / sites) % per, 1 - int(f / (sites * per)) % 2]++ }
    NR > mark && /"type":"digital"/ && match($0, /"point":"pt[0-9]+"/) {
        pt = substr($0, RSTART + 11, RLENGTH - 12) + 0
        if (/"state":"active_unacked"/) got[pt, 1]++
        else if (/"state":"normal"/) got[pt, 0]++ }
    END { for (k in want) if (want[k] > got[k]) lost += want[k] - got[k]
          for (k in got) if (got[k] > want[k]) extra += got[k] - want[k]
          print lost + 0, extra + 0 }' "$WORK/events.jsonl"
}

# comm_losses MARK: devices the station heard go down after line MARK (a
# contact that changes while its device is down has no event of its own).
comm_losses() {
    tail -n +$(($1 + 1)) "$WORK/events.jsonl" | grep '"type":"comm_loss"' | grep -c '"state":"active_unacked"'
}

# fleet_events: the contacts' own events (type digital, active_unacked or
# normal) the station has printed so far: one per flip.
fleet_events() {
    grep '"type":"digital"' "$WORK/events.jsonl" | grep -c '"state":"\(active_unacked\|normal\)"'
}

# window SECONDS: CPU of vigild (all), broker, simulator and station over the window.
window() {
    local v0 b0 s0 w0 t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    v0=$(proc_ticks $VIGILDS); b0=$(proc_ticks "$BROKER_PID"); s0=$(proc_ticks "$SIM_PID"); w0=$(proc_ticks "$WATCH_PID")
    "$@"
    t1=$(date +%s.%N)
    W_DT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    # shellcheck disable=SC2086
    W_VIGILD=$(cpu_pct $(($(proc_ticks $VIGILDS) - v0)) "$W_DT")
    W_BROKER=$(cpu_pct $(($(proc_ticks "$BROKER_PID") - b0)) "$W_DT")
    W_SIM=$(cpu_pct $(($(proc_ticks "$SIM_PID") - s0)) "$W_DT")
    W_WATCH=$(cpu_pct $(($(proc_ticks "$WATCH_PID") - w0)) "$W_DT")
}

# print_window WHAT: one line of the window's CPU figures.
print_window() {
    awk -v what="$1" -v dt="$W_DT" -v v="$W_VIGILD" -v n="$SITES" -v b="$W_BROKER" -v s="$W_SIM" -v w="$W_WATCH" 'BEGIN {
        printf "fleet: %s, %.1f s: vigild %.1f %% of a core in all = %.3f %% per site; broker %.1f %%; station %.1f %%; simulator %.1f %%\n",
            what, dt, v, v / n, b, w, s }'
}

# flip_and_drain: the flip window, then up to DRAIN_S for the last events.
flip_and_drain() {
    local want
    flip_driver
    want=$(cat "$WORK/flips")
    wait_until "$DRAIN_S" at_least $((EVENTS0 + want)) fleet_events
}

site_setup
echo "# fleet: $SITES sites x $PER contacts, poll $FLEET_POLL_MS ms, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$WORK/sim-state"
mkfifo "$WORK/sim.ctl"
gen_profile "$WORK/profiles" "$PER"
start_broker || { echo "fleet: mosquitto did not start" >&2; exit 1; }
PORTS=()
for i in $(seq 1 "$SITES"); do PORTS+=("$(free_port)"); done
gen_fleet_sim "${PORTS[@]}" >"$WORK/sim.conf"
spawn "$WORK/sim.out" "$VIGIL_BUILD/vigil-sim" --config "$WORK/sim.conf" --profiles "$WORK/profiles" --control "$WORK/sim.ctl"
SIM_PID=$LAST_PID
wait_for "$WORK/sim.out" '^ready' 20 || { echo "fleet: vigil-sim did not start" >&2; tail "$WORK/sim.out" >&2; exit 1; }
spawn "$WORK/watch.log" sh -c "exec '$VIGIL_BUILD/vigilctl' watch --broker tcp://127.0.0.1:$BROKER_PORT --site + --json \
    --client-id fleet-station --state '$WORK/watch.state' >'$WORK/events.jsonl'"
WATCH_PID=$LAST_PID
for i in $(seq 1 "$SITES"); do
    name=$(site_name "$i")
    mkdir -p "$WORK/$name/state"
    gen_fleet_site "$i" "${PORTS[$((i - 1))]}" >"$WORK/$name/site.conf"
    spawn "$WORK/$name/vigild.log" "$VIGIL_BUILD/vigild" --config "$WORK/$name/site.conf"
    VIGILDS="$VIGILDS $LAST_PID"
done
if ! wait_until 60 at_least "$SITES" sites_online; then
    echo "fleet: only $(sites_online) of $SITES sites came online at the station" >&2
    exit 1
fi
sleep 3 # every device polled, its first values in
echo "fleet: all $SITES sites online at the station; sockets at the broker: $(ls /proc/"$BROKER_PID"/fd | wc -l) fds"

window sleep "$IDLE_S"
print_window "idle"
EVENTS0=$(fleet_events)
MARK=$(wc -l <"$WORK/events.jsonl")
window flip_and_drain
FLIPS=$(cat "$WORK/flips")
EVENTS=$(($(fleet_events) - EVENTS0))
read -r LOST EXTRA <<<"$(tally "$FLIPS" "$MARK")"
print_window "$FLIPS flips at $RATE/s"
# shellcheck disable=SC2086
awk -v f="$FLIPS" -v e="$EVENTS" -v lost="$LOST" -v extra="$EXTRA" -v dt="$W_DT" -v n="$SITES" \
    -v rss="$(kb sum VmRSS status $VIGILDS)" -v pss="$(kb sum Pss smaps_rollup $VIGILDS)" \
    -v hwm="$(kb max VmHWM status $VIGILDS)" -v brss="$(kb sum VmRSS status "$BROKER_PID")" \
    -v down="$(comm_losses "$MARK")" 'BEGIN {
    printf "fleet: events at the station %d for %d flips: lost %d, extra %d; %.1f events/s end to end (%.1f s from the first flip to the last event); devices lost meanwhile %d\n",
        e, f, lost, extra, e / dt, dt, down
    printf "fleet: memory per site: rss %.1f MiB (pss %.1f MiB), largest peak %.1f MiB; all %d: rss %.0f MiB, pss %.0f MiB; broker rss %.1f MiB\n",
        rss / n / 1024, pss / n / 1024, hwm / 1024, n, rss / 1024, pss / 1024, brss / 1024 }'
echo "# fleet: load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
for p in $VIGILDS; do kill -TERM "$p" 2>/dev/null; done
[ "$LOST" -eq 0 ]
