#!/usr/bin/env bash
# A state directory that cannot be written at start: vigild must not exit.
# It polls, evaluates and publishes (a door alarm reaches the station),
# raises the critical journal_fault the station sees, keeps its MQTT
# messages in memory, tries the directory again every 10 s, and once the
# directory can be written opens the journal and clears journal_fault. A
# restart then recovers from that journal: numbering goes on, no seq is
# used twice.
#
# As root the directory lies on a tmpfs mounted read-only and remounted
# read-write later; otherwise (chmod does not stop root, and a non-root
# user cannot mount) its parent is missing and is created later.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

FAULT='"alarm":"system.journal_fault"'

# make_writable: the state directory's file system or parent becomes usable.
make_writable() {
    if [ -n "${RO_MOUNT:-}" ]; then
        mount -o remount,rw "$RO_MOUNT"
    else
        mkdir -p "$WORK/late"
    fi
}

site_setup
if [ "$(id -u)" -eq 0 ] && mkdir "$WORK/ro" && mount -t tmpfs -o ro,size=8m tmpfs "$WORK/ro" 2>/dev/null; then
    RO_MOUNT=$WORK/ro
    STATE=$RO_MOUNT/state
    trap 'cleanup; umount "$RO_MOUNT"; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
    echo "# the state directory is on a read-only tmpfs"
else
    STATE=$WORK/late/state
    echo "# the state directory's parent is missing"
fi

start_site "$VIGIL_TOP/tests/sites/spine.conf" --state-dir "$STATE"
wait_event "$FAULT.*\"state\":\"active_unacked\"" 10
check "the station sees journal_fault raised" $?
last_event "$FAULT" | grep -q '"priority":"critical"'
check "journal_fault is critical" $?
wait_retained '^1 vigil/test-depot/alarms/system\.journal_fault ' 5
check "journal_fault is on the retained alarm list" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5
check "a door alarm reaches the station without a journal" $?
kill -0 "$VIGILD_PID" 2>/dev/null
check "vigild keeps running without its state directory" $?
grep -q 'kept in memory only' "$WORK/vigild.log"
check "the MQTT store says it keeps messages in memory only" $?

# --- the directory becomes writable ------------------------------------------
make_writable || bail "the state directory could not be made writable"
wait_event "$FAULT.*\"state\":\"normal\"" 30
check "the station sees journal_fault cleared once the directory can be written" $?
ls "$STATE"/journal/* >/dev/null 2>&1
check "the journal is open in the state directory" $?
sim set store1-door 0
wait_event '"alarm":"store1-door.intrusion".*"state":"rtn_unacked"' 5 || bail "the door did not close"
last_seq=$(event_seqs | sort -n | tail -n 1)

# --- a restart recovers from the journal that was opened late ------------------
stop_pid "$VIGILD_PID"
: >"$WORK/vigild.log"
start_vigild "$WORK/site.conf" --state-dir "$STATE"
wait_restarted
wait_event '"seq":'"$((last_seq + 1))"',.*"alarm":"system.gateway_restarted"' 10
check "a restart recovers from the journal opened late: numbering goes on at seq $((last_seq + 1))" $?
! grep -q 'journal_fault' "$WORK/vigild.log"
check "the restarted vigild has no journal fault" $?

finish
