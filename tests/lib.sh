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

# wait_retained REGEX SECONDS: the broker holds a retained message matching REGEX.
wait_retained() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt "$deadline" ]; do
        retained_now | grep -qE -- "$1" && return 0
        sleep 0.2
    done
    return 1
}

# wait_not_retained REGEX SECONDS: no retained message matches REGEX any
# more, while the retained status shows the broker was really asked.
wait_not_retained() {
    local deadline=$((SECONDS + $2)) now
    while [ $SECONDS -lt "$deadline" ]; do
        now=$(retained_now)
        if printf '%s\n' "$now" | grep -q '/status ' && ! printf '%s\n' "$now" | grep -qE -- "$1"; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# expect_json JSON JQ-FILTER WANT NAME
expect_json() {
    local got
    got=$(printf '%s' "$1" | jq -r "$2" 2>/dev/null)
    [ "$got" = "$3" ]
    check "$4 is $3 (got $got)" $?
}
