#!/usr/bin/env bash
# bench/run.sh [BUILD] - runs every benchmark against the binaries in BUILD
# (default build/), as `make bench` does. See bench/README.md.
#
#   BUILD/bench/core     throughput of the pure event core (no I/O)
#   bench/latency.sh     end-to-end latency, CPU and peak RSS of vigild on a
#                        simulated site, for N=100 and N=1000 points
#   bench/influx.sh      sustained points/s through the InfluxDB sink into a
#                        local influxd, and the CPU it costs
#   bench/rtu.sh         32 RTU devices on one 19,200-baud line: transactions/s
#                        against the wire-time limit, and one dead device's cost
#   bench/fleet.sh       100 small sites against one broker and one station:
#                        events/s, loss, broker CPU, CPU and memory per site
#   bench/peers/run.sh   vigild beside collectd and Node-RED on one site, 3
#                        interleaved rounds (about 10 minutes)
#
# Figures are printed, never asserted. Exits 1 if a benchmark failed to run
# or the latency or fleet benchmark lost a flip (an input with no event is a defect).
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
status=0

echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(date -u +%Y-%m-%d)"
"$build/bench/core" || status=1
"$top/bench/latency.sh" "$build" || status=1
"$top/bench/influx.sh" "$build" || status=1
"$top/bench/rtu.sh" "$build" || status=1
"$top/bench/fleet.sh" "$build" || status=1
"$top/bench/peers/run.sh" "$build" || status=1
exit $status
