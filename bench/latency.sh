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
. "$(dirname "$0")/site.sh"

POINTS=${BENCH_POINTS:-100 1000}

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
    finish_run $rc "latency N=$n" "$dir/vigild.log" "$vigild_pid"
}

site_setup
start_broker || { echo "latency: mosquitto did not start" >&2; exit 1; }
status=0
for n in $POINTS; do
    run_one "$n" || status=1
done
exit $status
