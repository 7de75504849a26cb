#!/usr/bin/env bash
# bench/latency.sh [BUILD] - end-to-end latency, CPU and peak RSS of vigild.
#
# For each N in $BENCH_POINTS: a generated site of N digital contacts over
# $BENCH_DEVICES Modbus TCP devices (one bus each, one generated profile of
# ceil(N/devices) discrete inputs) polled every $BENCH_POLL_MS, served by
# vigil-sim; a real mosquitto; vigild; then build/bench/latency flips
# contacts through the simulator and times the events (see bench/latency.c).
# Everything runs on 127.0.0.1 on free ports, in a temporary directory, and
# every process is stopped by its PID at the end.
#
# Environment (defaults in brackets): BENCH_POINTS ["100 1000"],
# BENCH_DEVICES [20], BENCH_POLL_MS [100], BENCH_RATE flips/s [20],
# BENCH_WARMUP_S [3], BENCH_IDLE_S [15], BENCH_FLIP_S [60], BENCH_SEED [1],
# BENCH_CMD_RATE [0]: commands per second another client floods the site's
# cmd topic with during the whole run (issue 17: alarm latency under a
# command flood; each is an ack of an alarm that does not exist).
# Prints one "latency N=..." line per N; exits 1 if any flip was lost or a
# run could not start.
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$(dirname "$0")/../scripts/lib.sh"

POINTS=${BENCH_POINTS:-100 1000}
DEVICES=${BENCH_DEVICES:-20}
POLL_MS=${BENCH_POLL_MS:-100}

# gen_profile DIR PER_DEVICE: a din16-like module with PER_DEVICE contacts di1..diK.
gen_profile() {
    mkdir -p "$1"
    cat >"$1/bench-din.conf" <<CONF
profile = {
  name = "bench-din";
  description = "generated: $2 dry-contact inputs";
  inputs = ( { name = "di"; table = "discrete"; address = 0; count = $2; } );
};
CONF
}

# gen_site DIR N PER_DEVICE: the site config on stdout. Points are pt0000..,
# the names bench/latency.c flips. Chatter detection stays on with its
# default count (3, which also sizes its memory) but a 1 s window: the
# driver flips a point at most once per 600 ms, so it never chatters.
gen_site() {
    local dir=$1 n=$2 per=$3 d i
    cat <<CONF
site = { id = "bench-n$n"; state_dir = "$dir/state"; profile_dir = "$dir/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); heartbeat_s = 60; };
rules = { chatter_count = 3; chatter_window_s = 1; };
zones = ( { id = "always"; name = "24-hour"; always_armed = true; } );
CONF
    echo "buses = ("
    for d in $(seq 1 "$DEVICES"); do
        printf '  { id = "bus%02d"; type = "tcp"; host = "127.0.0.1"; port = %d; }%s\n' \
            "$d" "$(free_port)" "$([ "$d" -lt "$DEVICES" ] && echo ,)"
    done
    echo ");"
    echo "devices = ("
    for d in $(seq 1 "$DEVICES"); do
        printf '  { id = "io%02d"; bus = "bus%02d"; unit = 1; profile = "bench-din"; poll_ms = %d; }%s\n' \
            "$d" "$d" "$POLL_MS" "$([ "$d" -lt "$DEVICES" ] && echo ,)"
    done
    echo ");"
    echo "points = ("
    for i in $(seq 0 $((n - 1))); do
        printf '  { id = "pt%04d"; device = "io%02d"; input = "di%d"; kind = "digital"; zone = "always"; }%s\n' \
            "$i" $((i / per + 1)) $((i % per + 1)) "$([ "$i" -lt $((n - 1)) ] && echo ,)"
    done
    echo ");"
}

# start_sim_site DIR N PER_DEVICE: generates the site and starts vigil-sim on
# it; sets SIM_PID. A port picked free can be taken before the simulator
# binds it (an outgoing connection's ephemeral port), so a bind failure
# regenerates the site on other ports, up to three times.
start_sim_site() {
    local dir=$1 n=$2 per=$3
    for _ in 1 2 3; do
        gen_site "$dir" "$n" "$per" >"$dir/site.conf"
        spawn "$dir/sim.out" "$VIGIL_BUILD/vigil-sim" --config "$dir/site.conf" --profiles "$dir/profiles" \
            --control "$dir/sim.ctl"
        SIM_PID=$LAST_PID
        wait_for "$dir/sim.out" '^ready' 10 && return 0
        stop_pid "$SIM_PID"
        grep -q 'Address already in use' "$dir/sim.out" || break
    done
    echo "latency N=$n: vigil-sim did not start:" >&2
    tail -n 20 "$dir/sim.out" >&2
    return 1
}

# flood_commands SITE RATE: command lines for mosquitto_pub -l, RATE a second, until stopped.
flood_commands() {
    local i=0
    while :; do
        for _ in $(seq $(($2 / 10))); do
            i=$((i + 1))
            printf '{"id":"flood-%d","op":"ack","alarm":"none.intrusion","operator":"flood"}\n' "$i"
        done
        sleep 0.1
    done
}

# run_one N: one site, its simulator and vigild, one measurement; stops both after.
run_one() {
    local n=$1 per dir vigild_pid rc
    per=$(((n + DEVICES - 1) / DEVICES))
    dir="$WORK/n$n"
    mkdir -p "$dir/state"
    mkfifo "$dir/sim.ctl"
    gen_profile "$dir/profiles" "$per"
    start_sim_site "$dir" "$n" "$per" || return 1
    spawn "$dir/vigild.log" "$VIGIL_BUILD/vigild" --config "$dir/site.conf"
    vigild_pid=$LAST_PID
    # In the background and waited for, so a TERM to this script ends the
    # run at once (the EXIT trap stops the driver with everything else).
    spawn "$dir/latency.out" "$VIGIL_BUILD/bench/latency" --broker-port "$BROKER_PORT" --site "bench-n$n" \
        --control "$dir/sim.ctl" --points "$n" --pid "$vigild_pid" --poll-ms "$POLL_MS" \
        --rate "${BENCH_RATE:-20}" --warmup-s "${BENCH_WARMUP_S:-3}" --idle-s "${BENCH_IDLE_S:-15}" \
        --flip-s "${BENCH_FLIP_S:-60}" --seed "${BENCH_SEED:-1}"
    local driver=$LAST_PID flood=""
    if [ "${BENCH_CMD_RATE:-0}" -gt 0 ]; then
        flood_commands "bench-n$n" "$BENCH_CMD_RATE" | mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
            -t "vigil/bench-n$n/cmd" -l >/dev/null 2>&1 &
        flood=$!
    fi
    wait "$driver"
    rc=$?
    [ -z "$flood" ] || stop_pid "$flood"
    [ "${BENCH_CMD_RATE:-0}" -eq 0 ] || echo "latency N=$n: during a flood of ${BENCH_CMD_RATE} commands/s"
    cat "$dir/latency.out"
    if [ $rc -ne 0 ]; then
        echo "latency N=$n: failed; vigild log (last 20 lines):" >&2
        tail -n 20 "$dir/vigild.log" >&2
    fi
    stop_pid "$vigild_pid"
    stop_pid "$SIM_PID"
    return $rc
}

site_setup
start_broker || { echo "latency: mosquitto did not start" >&2; exit 1; }
status=0
for n in $POINTS; do
    run_one "$n" || status=1
done
exit $status
