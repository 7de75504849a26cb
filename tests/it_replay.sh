#!/usr/bin/env bash
# End to end: vigild journals every input of a live run (the simulator over
# real Modbus TCP, operator commands over a real broker, a restart in the
# middle); then `vigilctl replay` turns the journal back into events that
# must equal, byte for byte, what a station subscribed to vigil/<site>/events
# received. Also: `journal verify` on the intact and on an edited journal,
# --from filtering, and --diff against a changed rule.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

VIGILCTL="$VIGIL_BUILD/vigilctl"

# Published events, one per seq: recovery after a restart re-publishes
# (at-least-once), and each re-published copy must equal the first.
published_unique() {
    events | awk '{ match($0, /"seq":[0-9]+/); k = substr($0, RSTART, RLENGTH)
                    if (k in seen) { if (seen[k] != $0) print "MISMATCH " $0 > "/dev/stderr"; next }
                    seen[k] = $0; print }'
}

# count_unique REGEX: how many distinct events (by seq) match REGEX.
count_unique() {
    published_unique 2>/dev/null | grep -cE -- "$1"
}

# wait_unique REGEX N SECONDS: N distinct events (by seq) match REGEX.
wait_unique() {
    wait_until "$3" at_least "$2" count_unique "$1"
}

# replay [ARGS...]: `vigilctl replay` of the run's journal on the site config.
replay() {
    "$VIGILCTL" replay "$JOURNAL" --config "$WORK/site.conf" --profiles "$VIGIL_TOP/sensors/profiles" "$@"
}

# flip_byte FILE OFFSET: inverts the lowest bit of one byte in place.
flip_byte() {
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

site_setup
start_site "$VIGIL_TOP/tests/sites/spine.conf"
JOURNAL="$WORK/state/journal"

# --- first run -------------------------------------------------------------
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start: $(tail -5 "$WORK/vigild.log")"
sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no intrusion"
send_cmd '{"id":"r1","op":"ack","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_event '"alarm":"store1-door.intrusion".*"state":"active_acked"' 5 || bail "no ack"
sim set store1-door 0
wait_event '"alarm":"store1-door.intrusion".*"state":"normal"' 5 || bail "no normal"
sim set store1-temp 41.5
wait_event '"alarm":"store1-temp.temperature_high".*"state":"active_unacked"' 5 || bail "no temperature_high"
stop_pid "$VIGILD_PID"
wait_retained '^1 vigil/test-depot/status .*"state":"offline"' 5 || bail "no offline status"

# --- second run: recovers from the journal and goes on -------------------------
start_vigild "$WORK/site.conf"
wait_unique '"type":"gateway_restarted"' 2 10 || bail "vigild did not restart: $(tail -5 "$WORK/vigild.log")"
sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5 || bail "no tamper"
send_cmd '{"id":"r2","op":"disarm","zone":"store1","operator":"officer2"}'
wait_result '"id":"r2".*"ok":true' 5 || bail "no disarm result"
sim set store1-temp 20
wait_event '"alarm":"store1-temp.temperature_high".*"state":"rtn_unacked|"alarm":"store1-temp.temperature_high".*"state":"normal"' 5 \
    || bail "temperature did not return"
stop_pid "$VIGILD_PID"
wait_for "$WORK/all.txt" '"state":"offline"' 5

# --- verify ----------------------------------------------------------------
out=$("$VIGILCTL" journal verify "$JOURNAL")
rc=$?
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qE '^journal: [0-9]+ segments, [0-9]+ records, chain intact$'
check "journal verify passes on the live journal ($out)" $?

# --- replay ----------------------------------------------------------------
published_unique >"$WORK/published.txt" 2>"$WORK/mismatch.txt"
[ ! -s "$WORK/mismatch.txt" ]
check "events re-published after recovery equal the first copies" $?
n_published=$(grep -c . "$WORK/published.txt")
[ "$n_published" -ge 8 ]
check "the live run published events ($n_published)" $?

replay >"$WORK/replayed.txt" 2>"$WORK/replay.err"
rc=$?
check "replay exits 0 ($(cat "$WORK/replay.err"))" $rc
cmp -s "$WORK/published.txt" "$WORK/replayed.txt"
rc=$?
check "replayed events are byte-identical to the published ones" $rc
[ $rc -eq 0 ] || diff "$WORK/published.txt" "$WORK/replayed.txt" | head -20 | sed 's/^/#   /'

# --from keeps the state right but prints only later events
from=$(sed -n 5p "$WORK/published.txt" | sed -E 's/.*"ts":"([^"]+)".*/\1/')
awk -v f="$from" '{ match($0, /"ts":"[^"]+"/); if (substr($0, RSTART + 6, RLENGTH - 7) >= f) print }' \
    "$WORK/published.txt" >"$WORK/from.want"
replay --from "$from" >"$WORK/from.got" 2>/dev/null
cmp -s "$WORK/from.want" "$WORK/from.got" && [ -s "$WORK/from.got" ]
check "replay --from $from prints exactly the events from then on" $?

# --diff: a higher temperature threshold removes the temperature_high events
sed -E 's/(kind = "temperature"; zone = "store1";)/\1 high = 45.0;/' "$WORK/site.conf" >"$WORK/site-hot.conf"
replay --diff "$WORK/site-hot.conf" >"$WORK/diff.txt" 2>/dev/null
rc=$?
[ $rc -eq 0 ] && grep -q '^- .*"alarm":"store1-temp.temperature_high"' "$WORK/diff.txt" &&
    ! grep -v 'store1-temp.temperature_high' "$WORK/diff.txt" | grep -q .
check "replay --diff shows only the temperature_high events the new rule removes" $?

replay --from yesterday >/dev/null 2>&1
[ $? -eq 2 ]
check "a malformed --from is a usage error (exit 2)" $?

# --- an edited journal -------------------------------------------------------
seg=$(ls "$JOURNAL"/journal-*.vj | head -n1)
size=$(stat -c %s "$seg")
off=$((size / 2))
flip_byte "$seg" "$off"
out=$("$VIGILCTL" journal verify "$JOURNAL")
rc=$?
[ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qE "$(basename "$seg") offset [0-9]+: "
check "journal verify exits 1 and names file and offset of an edited record ($out)" $?

finish
