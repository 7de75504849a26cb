#!/usr/bin/env bash
# bench/rtu.sh [BUILD] - RS-485 line efficiency: how close vigild's poller
# comes to what one Modbus RTU line can carry, and what one dead device on
# the line costs. See bench/README.md ("RS-485 line efficiency").
#
# One RTU bus at $BENCH_RTU_BAUD, 8E1 (11 bits a character), with
# $BENCH_RTU_DEVICES devices (units 1..N, io01..) of $BENCH_RTU_INPUTS
# discrete inputs each (one FC2 read per poll), all polled every
# $BENCH_RTU_POLL_MS: far faster than the line allows, so the line is never
# idle for want of a due device and the rate is the poller's and the line's.
# vigil-sim --wire-time serves the line on a pseudo-terminal and hands each
# answer over only when a real line would have delivered its last character
# (sensors/sim/sim_wire.c). The limit is computed from the frame sizes the
# same way (daemon/busload.c): request and answer at 11 bits a character,
# each followed by the 3.5-character gap.
#
# Phases: $BENCH_RTU_S seconds with every device answering; then the last
# device stops answering (`fail ioNN timeout`) and two windows of
# $BENCH_RTU_DEAD_S seconds each measure the others' rate and the dead
# device's probes: the first while its quarantine interval grows, the
# second closer to its 30 s ceiling.
#
# Environment (defaults in brackets): BENCH_RTU_DEVICES [32],
# BENCH_RTU_BAUD [19200], BENCH_RTU_INPUTS [16], BENCH_RTU_POLL_MS [100],
# BENCH_RTU_TIMEOUT_MS [200], BENCH_RTU_S [20], BENCH_RTU_DEAD_S [60].
# Prints "rtu:" lines; exits 1 if the run could not start.
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/site.sh"

N_DEV=${BENCH_RTU_DEVICES:-32}
BAUD=${BENCH_RTU_BAUD:-19200}
PER=${BENCH_RTU_INPUTS:-16}
RTU_POLL_MS=${BENCH_RTU_POLL_MS:-100}
TIMEOUT_MS=${BENCH_RTU_TIMEOUT_MS:-200}
WINDOW_S=${BENCH_RTU_S:-20}
DEAD_S=${BENCH_RTU_DEAD_S:-60}
DEAD=$(printf 'io%02d' "$N_DEV")

# gen_rtu_site DIR: the site config on stdout: one line, N_DEV devices, PER contacts each.
gen_rtu_site() {
    local dir=$1 d k
    cat <<CONF
site = { id = "bench-rtu"; state_dir = "$dir/state"; profile_dir = "$dir/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); heartbeat_s = 60; };
zones = ( { id = "always"; name = "24-hour"; always_armed = true; } );
buses = ( { id = "line"; type = "rtu"; device = "$dir/line"; baud = $BAUD; parity = "E"; } );
CONF
    echo "devices = ("
    for d in $(seq 1 "$N_DEV"); do
        printf '  { id = "io%02d"; bus = "line"; unit = %d; profile = "bench-din"; poll_ms = %d; timeout_ms = %d; }%s\n' \
            "$d" "$d" "$RTU_POLL_MS" "$TIMEOUT_MS" "$([ "$d" -lt "$N_DEV" ] && echo ,)"
    done
    echo ");"
    echo "points = ("
    for d in $(seq 1 "$N_DEV"); do
        for k in $(seq 1 "$PER"); do
            printf '  { id = "io%02d-di%d"; device = "io%02d"; input = "di%d"; kind = "digital"; zone = "always"; }%s\n' \
                "$d" "$k" "$d" "$k" "$([ "$d" -lt "$N_DEV" ] || [ "$k" -lt "$PER" ] && echo ,)"
        done
    done
    echo ");"
}

# sim_counts DIR: the requests each device has received, one number a line in device order.
sim_counts() {
    local dir=$1 before d
    before=$(grep -c '^ok requests=' "$dir/sim.out")
    for d in $(seq 1 "$N_DEV"); do printf 'stats io%02d\n' "$d"; done >"$dir/sim.ctl"
    wait_until 5 at_least $((before + N_DEV)) grep -c '^ok requests=' "$dir/sim.out" || return 1
    grep '^ok requests=' "$dir/sim.out" | tail -n "$N_DEV" | sed 's/.*=//'
}

# sim_line DIR: the simulator's `line` answer for the bus (requests, early, shortest_gap_us).
sim_line() {
    local before
    before=$(grep -c '^ok requests=[0-9]* early=' "$1/sim.out")
    echo "line line" >"$1/sim.ctl"
    wait_until 5 at_least $((before + 1)) grep -c '^ok requests=[0-9]* early=' "$1/sim.out" || return 1
    grep '^ok requests=[0-9]* early=' "$1/sim.out" | tail -n 1 | sed 's/^ok //'
}

# window SECONDS: measures the line for that long; sets W_DT (s), W_OK (answered
# requests: every device but the dead one once it is dead), W_DEAD (requests
# to the dead device) and W_CPU (vigild's % of a core).
window() {
    local c0 c1 t0 t1 k0 k1
    t0=$(date +%s.%N)
    c0=$(sim_counts "$DIR") || return 1
    k0=$(proc_ticks "$VIGILD")
    sleep "$1"
    k1=$(proc_ticks "$VIGILD")
    c1=$(sim_counts "$DIR") || return 1
    t1=$(date +%s.%N)
    W_DT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    W_DEAD=$(($(echo "$c1" | tail -n 1) - $(echo "$c0" | tail -n 1)))
    W_OK=$(($(echo "$c1" | awk '{ s += $1 } END { print s }') - $(echo "$c0" | awk '{ s += $1 } END { print s }') - W_DEAD))
    W_CPU=$(cpu_pct $((k1 - k0)) "$W_DT")
}

# The wire-time arithmetic of daemon/busload.c for one FC2 read of PER bits.
limits() {
    awk -v baud="$BAUD" -v per="$PER" 'BEGIN {
        bits = 11; req = 8; rsp = 5 + int((per + 7) / 8)
        gap = baud > 19200 ? 1750 : int((7 * bits * 1000000 + 2 * baud - 1) / (2 * baud))
        t = (req + rsp) * bits * 1000000 / baud + 2 * gap
        printf "%d %d %d %.1f %.3f\n", req, rsp, gap, t, 1000000 / t }'
}

site_setup
DIR=$WORK
mkdir -p "$DIR/state"
mkfifo "$DIR/sim.ctl"
gen_profile "$DIR/profiles" "$PER"
start_broker || { echo "rtu: mosquitto did not start" >&2; exit 1; }
gen_rtu_site "$DIR" >"$DIR/site.conf"
spawn "$DIR/sim.out" "$VIGIL_BUILD/vigil-sim" --config "$DIR/site.conf" --profiles "$DIR/profiles" \
    --control "$DIR/sim.ctl" --wire-time
SIM_PID=$LAST_PID
wait_for "$DIR/sim.out" '^ready' 10 || { echo "rtu: vigil-sim did not start" >&2; tail "$DIR/sim.out" >&2; exit 1; }
spawn "$DIR/vigild.log" "$VIGIL_BUILD/vigild" --config "$DIR/site.conf"
VIGILD=$LAST_PID
# Warm-up: every device answered once (its first poll sends all its points).
wait_until 30 at_least "$N_DEV" grep -sc 'comm up' "$DIR/vigild.log" ||
    { echo "rtu: not every device came up" >&2; tail "$DIR/vigild.log" >&2; exit 1; }

read -r REQ RSP GAP T_US LIMIT <<<"$(limits)"
echo "rtu: $N_DEV devices on one line at $BAUD baud 8E1 (11 bits a character), $PER contacts each:" \
    "request $REQ B + answer $RSP B + 2 gaps of $(awk -v g="$GAP" 'BEGIN { printf "%.3f", g / 1000 }') ms" \
    "= $(awk -v t="$T_US" 'BEGIN { printf "%.2f", t / 1000 }') ms a transaction; limit $LIMIT transactions/s"

awk -v n="$N_DEV" -v t="$T_US" -v p="$RTU_POLL_MS" 'BEGIN { if (n * t / 1000 < p)
    printf "rtu: note: %d devices need only %.0f ms of line time per %d ms poll: the poll interval, not the line, sets the rate below\n", n, n * t / 1000, p }'
window "$WINDOW_S" || exit 1
RATE_ALL=$(awk -v n=$((W_OK + W_DEAD)) -v dt="$W_DT" 'BEGIN { printf "%.2f", n / dt }')
awk -v r="$RATE_ALL" -v l="$LIMIT" -v dt="$W_DT" -v n="$N_DEV" -v p="$RTU_POLL_MS" -v cpu="$W_CPU" 'BEGIN {
    printf "rtu: all answering: %.2f transactions/s over %.1f s = %.1f %% of the limit; each device every %.0f ms (asked %d); vigild cpu %s%%\n",
        r, dt, 100 * r / l, 1000 * n / r, p, cpu }'

LINE=$(sim_line "$DIR") || exit 1
echo "$LINE" | awk -v g="$GAP" '{ split($1, r, "="); split($2, e, "="); split($3, s, "=")
    printf "rtu: requests sent before the line had been silent for the %.3f ms gap: %d of %d (%.1f %%); shortest silence %.3f ms\n",
        g / 1000, e[2], r[2], 100 * e[2] / r[2], s[2] / 1000 }'

echo "fail $DEAD timeout" >"$DIR/sim.ctl"
for part in "first" "next"; do
    window "$DEAD_S" || exit 1
    awk -v ok="$W_OK" -v dead="$W_DEAD" -v dt="$W_DT" -v all="$RATE_ALL" -v l="$LIMIT" -v to="$TIMEOUT_MS" \
        -v part="$part" -v d="$DEAD" -v n=$((N_DEV - 1)) 'BEGIN {
        r = ok / dt; lost = dt * (1 - r / all)
        printf "rtu: %s dead (timeout %d ms), %s %.0f s: %d requests to it, the other %d at %.2f/s = %.1f %% of the limit;",
            d, to, part, dt, dead, n, r, 100 * r / l
        printf " line time lost %.2f s (%.1f %%), its timeouts %d x %d ms = %.2f s\n", lost, 100 * lost / dt, dead, to, dead * to / 1000 }'
done
stop_pid "$VIGILD"
stop_pid "$SIM_PID"
