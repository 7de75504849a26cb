#!/usr/bin/env bash
# bench/influx.sh [BUILD] - sustained points/s through the InfluxDB sink into
# a local influxd (Debian's 1.6.7) and the CPU it costs: build/bench/influx
# (see bench/influx.c) offers $BENCH_INFLUX_RATES points/s in turn, each for
# $BENCH_INFLUX_S seconds, to one database; this script adds influxd's own
# CPU over the same run. Everything on 127.0.0.1, stopped by PID.
#
# Environment (defaults in brackets): BENCH_INFLUX_RATES ["10000 50000 100000"],
# BENCH_INFLUX_S [10], BENCH_INFLUX_POINTS [1000].
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$(dirname "$0")/../scripts/lib.sh"

command -v influxd >/dev/null || { echo "influx: influxd not installed (scripts/deps.sh)"; exit 1; }
site_setup
start_influxd bench || { echo "influx: influxd did not start"; exit 1; }

# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

status=0
for rate in ${BENCH_INFLUX_RATES:-10000 50000 100000}; do
    t0=$(cpu_ticks "$INFLUXD_PID")
    s0=$(date +%s.%N)
    "$VIGIL_BUILD/bench/influx" "http://127.0.0.1:$INFLUX_PORT" bench "$rate" "${BENCH_INFLUX_S:-10}" \
        "${BENCH_INFLUX_POINTS:-1000}" || status=1
    t1=$(cpu_ticks "$INFLUXD_PID")
    s1=$(date +%s.%N)
    awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s="$s0" -v e="$s1" \
        'BEGIN { printf "influx:   influxd %.0f%% of a core over the same %.1f s\n", 100 * t / hz / (e - s), e - s }'
done
exit $status
