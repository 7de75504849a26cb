# tests/lib.sh - assertions for the shell integration tests (on top of
# scripts/lib.sh). Output follows tests/harness.h: "ok - name" or
# "not ok - name", and finish exits non-zero if anything failed.

FAILED=0

# check NAME STATUS: reports one case from a command's exit status.
check() {
    if [ "$2" -eq 0 ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        FAILED=$((FAILED + 1))
        dump_logs
    fi
}

# Shows what the processes said, once, after the first failure.
dump_logs() {
    [ -n "${LOGS_DUMPED:-}" ] && return
    LOGS_DUMPED=1
    local f
    for f in "$WORK"/vigild.log "$WORK"/sim.out "$WORK"/all.txt; do
        [ -f "$f" ] || continue
        echo "# --- $(basename "$f") (last 40 lines)"
        tail -n 40 "$f" | sed 's/^/#   /'
    done
}

bail() {
    echo "not ok - setup: $*"
    dump_logs
    exit 1
}

finish() {
    cleanup
    [ "$FAILED" -eq 0 ]
    exit $?
}

# The JSON payloads of vigil/<site>/events, one per line, in arrival order.
events() {
    grep -E '^[01] vigil/[^ ]+/events ' "$WORK/all.txt" | cut -d' ' -f3-
}

last_event() {
    events | grep -E -- "$1" | tail -n 1
}

# wait_event REGEX SECONDS: an event payload matching REGEX arrives.
wait_event() {
    wait_for "$WORK/all.txt" "^[01] vigil/[^ ]+/events .*$1" "$2"
}

wait_result() {
    wait_for "$WORK/all.txt" "^[01] vigil/[^ ]+/cmd/result .*$1" "$2"
}

send_cmd() {
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "vigil/${SITE_ID:-test-depot}/cmd" -m "$1"
}

# The retained messages the broker holds right now.
retained_now() {
    timeout 2 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t 'vigil/#' -F '%r %t %p' --retained-only -W 1 2>/dev/null
}

# is_retained REGEX: the broker holds a retained message matching REGEX now.
is_retained() {
    retained_now | grep -qE -- "$1"
}

# no_longer_retained REGEX: no retained message matches REGEX, while the
# retained status shows the broker was really asked.
no_longer_retained() {
    local now
    now=$(retained_now)
    printf '%s\n' "$now" | grep -q '/status ' && ! printf '%s\n' "$now" | grep -qE -- "$1"
}

# wait_retained REGEX SECONDS: the broker holds a retained message matching REGEX.
wait_retained() {
    wait_until "$2" is_retained "$1"
}

# wait_not_retained REGEX SECONDS: no retained message matches REGEX any more.
wait_not_retained() {
    wait_until "$2" no_longer_retained "$1"
}

# wait_restarted: the vigild started last says in its log that it has
# started (each start begins a new log); bails if it does not within 10 s.
wait_restarted() {
    wait_for "$WORK/vigild.log" 'vigild: started' 10 || bail "vigild did not restart: $(tail -5 "$WORK/vigild.log")"
}

# event_seqs: the seq of every event on vigil/<site>/events, in arrival order.
event_seqs() {
    events | jq -r '.seq'
}

# expect_json JSON JQ-FILTER WANT NAME
expect_json() {
    local got
    got=$(printf '%s' "$1" | jq -r "$2" 2>/dev/null)
    [ "$got" = "$3" ]
    check "$4 is $3 (got $got)" $?
}

# The config line that lets inputs change faster than the default
# chattering rule (3 changes in 60 s) allows (for prepare_site).
# shellcheck disable=SC2034
NO_CHATTER='rules = { chatter_count = 1000; };'

# prepare_site TEMPLATE [CONFIG-LINE...]: a real broker (start_broker,
# unless the test has started one of its own, as start_station_broker) and
# $WORK/site.conf made from TEMPLATE by make_site, with each CONFIG-LINE
# appended. Bails if the broker does not start.
prepare_site() {
    local tmpl=$1
    shift
    [ -n "${BROKER_PID:-}" ] || start_broker || bail "mosquitto did not start"
    make_site "$tmpl" "$WORK/site.conf"
    [ $# -eq 0 ] || printf '%s\n' "$@" >>"$WORK/site.conf"
}

# sign_site KEY: $WORK/site.conf signs every payload with the private key file KEY (site.signing_key).
sign_site() {
    sed -i "s|^site = {|site = { signing_key = \"$1\";|" "$WORK/site.conf"
    grep -q signing_key "$WORK/site.conf" || bail "could not add signing_key to the site config"
}

# launch_site SIM-CONF [VIGILD-ARGS...]: the simulator serving SIM-CONF, a
# subscriber recording vigil/test-depot/# into $WORK/all.txt (see events),
# and vigild on $WORK/site.conf. Bails if the simulator does not get ready.
launch_site() {
    local sim_conf=$1
    shift
    start_sim "$sim_conf" || bail "vigil-sim did not get ready: $(cat "$WORK/sim.out")"
    subscribe "$WORK/all.txt" 'vigil/test-depot/#'
    start_vigild "$WORK/site.conf" "$@"
}

# start_site TEMPLATE [VIGILD-ARGS...]: the whole site of most tests, from
# TEMPLATE as it is: prepare_site, then launch_site on $WORK/site.conf.
start_site() {
    prepare_site "$1"
    shift
    launch_site "$WORK/site.conf" "$@"
}

# commission_site FILE PORT TTY: a site of the real device profiles for the
# commissioning tools (it_probe.sh, it_scan.sh): on TCP port PORT an
# ADAM-6050 (unit 1), an ioLogik E1210 (unit 2) and a Vaisala HMDW110
# (unit 3); on the RTU line TTY (9600 8N1) another HMDW110 as unit 5.
commission_site() {
    cat >"$1" <<EOF2
site = { id = "commission"; state_dir = "$WORK/state"; profile_dir = "$VIGIL_TOP/sensors/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:1"; } ); };
buses = ( { id = "lan"; type = "tcp"; host = "127.0.0.1"; port = $2; },
          { id = "line"; type = "rtu"; device = "$3"; baud = 9600; } );
devices = ( { id = "adam"; bus = "lan"; unit = 1; profile = "adam-6050"; },
            { id = "moxa"; bus = "lan"; unit = 2; profile = "iologik-e1210"; },
            { id = "th"; bus = "lan"; unit = 3; profile = "vaisala-hmdw110"; },
            { id = "th-line"; bus = "line"; unit = 5; profile = "vaisala-hmdw110"; } );
points = ( { id = "door"; device = "adam"; input = "di2"; kind = "door"; },
           { id = "count"; device = "moxa"; input = "counter16"; kind = "analog"; },
           { id = "temp"; device = "th"; input = "temperature"; kind = "temperature"; },
           { id = "rh"; device = "th"; input = "humidity"; kind = "humidity"; },
           { id = "temp-line"; device = "th-line"; input = "temperature"; kind = "temperature"; } );
EOF2
}

# run_tool OUT CMD...: runs a command-line tool (bounded to 30 s) with its
# output into OUT ($OUTPUT) and its exit status into RC.
run_tool() {
    OUTPUT=$1
    shift
    timeout 30 "$@" >"$OUTPUT" 2>&1
    RC=$?
}

# expect_output NAME WANT-RC REGEX: the last run_tool exited WANT-RC and
# printed a line matching REGEX.
expect_output() {
    local st=0
    [ "$RC" -eq "$2" ] && grep -qE -- "$3" "$OUTPUT" || st=1
    [ $st -eq 0 ] || sed 's/^/#   /' "$OUTPUT"
    check "$1" $st
}
