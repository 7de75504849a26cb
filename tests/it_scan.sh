#!/usr/bin/env bash
# it_scan.sh - vigilctl scan against vigil-sim: which units answer on a TCP
# gateway and on an RTU line, the time bound printed before it starts, an
# exception counted as present, and no progress noise when not on a terminal.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

CTL="$VIGIL_BUILD/vigilctl"

site_setup
port=$(free_port)
commission_site "$WORK/site.conf" "$port" "$WORK/tty0"
start_sim "$WORK/site.conf" || bail "vigil-sim did not get ready: $(cat "$WORK/sim.out")"

scan() {
    run_tool "$WORK/s.out" "$CTL" scan "$@"
}

# TCP: units 1..3 answer; 2 has no holding registers and says so, which
# still proves it is there; 4..6 get the gateway's "target failed" and are absent.
scan --bus "tcp:127.0.0.1:$port" --units 1-6 --timeout 200
expect_output scan_tcp_finds_units 0 '^3 units answered$'
expect_output scan_exception_counts_as_present 0 '^unit   2: present, answered in [0-9.]+ ms: illegal function'
grep -qE '^unit +[456]:' "$WORK/s.out"
[ $? -ne 0 ]
check scan_gateway_absent_units_not_listed $?
grep -q $'\r' "$WORK/s.out"
[ $? -ne 0 ]
check scan_no_progress_when_not_a_tty $?

# RTU at 9600 8N1: the gap is 3.5 characters of 10 bits (3.65 ms) and the
# bound is printed first; the one unit on the line is found.
scan --bus "rtu:$WORK/tty0:9600:8N1" --units 4-6 --timeout 100
expect_output scan_rtu_prints_bound 0 '^scan rtu:.* units 4-6: one request at a time, timeout 100 ms, gap 3.65 ms; at most 3 x \(100 ms \+ 3.65 ms\) = 0.3 s$'
expect_output scan_rtu_finds_unit 0 '^unit   5: present'

scan --bus "rtu:$WORK/tty0:9600:8N1" --units 7-8 --timeout 100
expect_output scan_nothing_answers 1 '^no unit answered$'
scan --bus "tcp:127.0.0.1:$(free_port)" --units 1-2
expect_output scan_refused 3 'connection refused'
scan --bus "tcp:127.0.0.1:$port" --units 9-3
expect_output scan_bad_range 2 'expected A-B within 0..255'

finish
