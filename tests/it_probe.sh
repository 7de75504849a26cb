#!/usr/bin/env bash
# it_probe.sh - vigilctl probe against vigil-sim serving the real device
# profiles: decoded values (32-bit counter, floats in CDAB order, NaN), raw
# reads, and the sentence and exit status of every failure an engineer meets.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

CTL="$VIGIL_BUILD/vigilctl"

site_setup
port=$(free_port)
commission_site "$WORK/site.conf" "$port" "$WORK/tty0"
start_sim "$WORK/site.conf" || bail "vigil-sim did not get ready: $(cat "$WORK/sim.out")"
BUS="tcp:127.0.0.1:$port"

# probe ARGS...: vigilctl probe into $WORK/p.out (see run_tool).
probe() {
    run_tool "$WORK/p.out" "$CTL" probe --profiles "$VIGIL_TOP/sensors/profiles" "$@"
}

# Floats in the transmitter's low-word-first order and a 32-bit counter
# above 65535 come out as the values the simulator was told to serve.
sim set temp 21.5
sim set count 100000
wait_for "$WORK/sim.out" '^ok$' 5
sleep 0.2
probe --bus "$BUS" --unit 3 --profile vaisala-hmdw110
expect_output probe_decodes_cdab_float 0 'temperature +holding register 40003 +f32 +0x0000 0x41AC +21.5 degC'
grep -qE 'read holding register 40001, 10 registers: [0-9.]+ ms' "$WORK/p.out"
check probe_prints_round_trip $?
probe --bus "$BUS" --unit 2 --profile iologik-e1210
expect_output probe_decodes_u32_counter 0 'counter16 +input register 30047 +u32 +0x0001 0x86A0 +100000'

# A transmitter without a reading serves NaN: probe says what vigild will do.
sim set temp nan
sleep 0.2
probe --bus "$BUS" --unit 3 --profile vaisala-hmdw110
expect_output probe_nan_is_a_sensor_fault 0 'temperature .*NaN \(no reading: a sensor fault in vigild\)'

probe --bus "$BUS" --unit 1 --raw coil:16:6
expect_output probe_raw_coils 0 'coil 00022 +address 21 +0'

# Failures, each in plain words with its exit status.
probe --bus "tcp:127.0.0.1:$(free_port)" --unit 1 --raw coil:0:1
expect_output probe_connection_refused 3 'connection refused: the host is there but nothing listens on port'
probe --bus "$BUS" --unit 1 --raw coil:40:2
expect_output probe_illegal_address_names_register 1 'illegal data address: unit 1 has no coil 00041 \(address 40, up to coil 00042, 2 bits\)'
probe --bus "$BUS" --unit 1 --raw input:0:1
expect_output probe_illegal_function 1 'illegal function: unit 1 does not support reading input registers \(function code 4\)'
probe --bus "$BUS" --unit 9 --raw coil:0:1
expect_output probe_gateway_unit_absent 1 'the gateway answered that unit 9 cannot be reached \(exception 11'
sim fail adam wrong-unit
probe --bus "$BUS" --unit 1 --raw coil:0:1
expect_output probe_wrong_unit_id 1 'wrong unit id: asked unit 1, the answer came from unit 2; use --unit 2'
sim fail adam timeout
probe --bus "$BUS" --unit 1 --raw coil:0:1 --timeout 300
expect_output probe_timeout 3 'timeout: unit 1 did not answer within 300 ms'
sim fail adam ok

# RTU over the simulator's pty: the same decoding, and a silent unit.
probe --bus "rtu:$WORK/tty0:9600:8N1" --unit 5 --profile vaisala-hmdw110
expect_output probe_rtu_reads_float 0 'temperature +holding register 40003 +f32 .* 20 degC'
probe --bus "rtu:$WORK/tty0:9600:8N1" --unit 6 --raw holding:0:2 --timeout 200
expect_output probe_rtu_silent_unit_times_out 3 'timeout: unit 6 did not answer within 200 ms \(wrong unit id, device without power'
sim fail th-line wrong-unit
probe --bus "rtu:$WORK/tty0:9600:8N1" --unit 5 --raw holding:0:2
expect_output probe_rtu_wrong_unit_id 1 'wrong unit id: asked unit 5, the answer came from unit 6'
sim fail th-line ok
probe --bus "rtu:$WORK/nosuch:9600:8N1" --unit 5 --raw holding:0:2
expect_output probe_rtu_no_device 3 'no such serial device'

# Usage errors: exit 2 with the fix.
probe --bus "udp:1.2.3.4" --unit 1 --raw coil:0:1
expect_output probe_bad_bus_spec 2 'is neither tcp:HOST:PORT nor rtu:DEVICE:BAUD:8N1'
probe --bus "$BUS" --unit 1 --profile nosuch
expect_output probe_unknown_profile 2 'profile "nosuch" does not exist'

finish
