#!/usr/bin/env bash
# Power loss, not only SIGKILL (issue 16 part 8). vigild runs with the
# tests/shim/powercut.so LD_PRELOAD shim, which records for every journal
# segment the length its last fdatasync made durable. While inputs flip,
# vigild is SIGKILLed and every segment is cut back to that length: the
# page cache is lost as in a power cut. After a restart, every event a
# station saw before the cut must be either re-sent byte for byte or never
# sent again, no seq may ever carry two different events, the station's
# seqs stay contiguous, and the journal verifies.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

SHIM="$VIGIL_BUILD/tests/shim/powercut.so"
CUTS=${CUTS:-4}

# start_cut_vigild: vigild under the shim, on a disk that takes 30 ms per
# sync (ASan must accept a library preloaded before its runtime).
start_cut_vigild() {
    LD_PRELOAD="$SHIM" POWERCUT_LEDGER="$WORK/ledger" POWERCUT_SYNC_DELAY_MS=30 \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" start_vigild "$WORK/site.conf"
}

# power_cut: SIGKILL, then every segment back to its last durable length;
# adds the bytes lost to DISCARDED.
power_cut() {
    local path len size
    kill_vigild
    while read -r path len; do
        [ -f "$path" ] || continue
        size=$(stat -c %s "$path")
        if [ "$size" -gt "$len" ]; then
            DISCARDED=$((DISCARDED + size - len))
            truncate -s "$len" "$path"
        fi
    done < <(tac "$WORK/ledger" | awk '!seen[$1]++')
}

flipper() {
    local v=0
    while :; do
        v=$((1 - v))
        sim set store1-door "$v"
        sleep 0.05
        sim set store1-tamper "$v"
        sleep 0.05
    done
}

last_seq_seen() {
    station_seqs | tail -n 1
}

# seq_payloads FILE: "seq payload" of every event a raw subscriber recorded.
seq_payloads() {
    grep -E '^[01] vigil/test-depot/events ' "$1" | cut -d' ' -f3- | jq -r '"\(.seq) \(tojson)"'
}

[ -f "$SHIM" ] || bail "$SHIM not built"
site_setup
DISCARDED=0
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
subscribe "$WORK/all.txt" 'vigil/test-depot/#'
start_sim "$WORK/site.conf" || bail "vigil-sim did not get ready: $(cat "$WORK/sim.out")"
start_station station-powercut || bail "vigilctl watch did not subscribe: $(cat "$WORK/station.err")"
start_cut_vigild
wait_for "$WORK/station.json" '"type":"gateway_restarted"' 10 || bail "vigild did not start: $(tail -5 "$WORK/vigild.log")"

for i in $(seq "$CUTS"); do
    flipper &
    FLIPPER_PID=$!
    SPAWNED="$FLIPPER_PID $SPAWNED"
    sleep "1.$((RANDOM % 10))"
    power_cut
    stop_pid "$FLIPPER_PID"
    cp "$WORK/all.txt" "$WORK/before-$i.txt"
    start_cut_vigild
    wait_restarted
done
echo "# $CUTS power cuts, $DISCARDED bytes of unsynced journal discarded"
[ -s "$WORK/ledger" ]
check "the shim recorded the journal's durable lengths ($(wc -l <"$WORK/ledger") syncs)" $?

sim set store1-door 1
sim set store1-tamper 0
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 10
check "after the last power cut vigild watches and publishes again" $?
stop_pid "$VIGILD_PID"
replay_journal
last=$(tail -n 1 "$WORK/replayed.json" | jq -r .seq)
wait_until 15 at_least "$last" last_seq_seen
stop_pid "$STATION_PID"

"$VIGIL_BUILD/vigilctl" journal verify "$WORK/state/journal" >"$WORK/verify.txt" 2>&1
check "the journal verifies after the power cuts: $(tail -n 1 "$WORK/verify.txt")" $?

# Every seq ever published carries one event only.
reused=$(seq_payloads "$WORK/all.txt" | sort -u | cut -d' ' -f1 | uniq -d | tr '\n' ' ')
if [ -z "$reused" ]; then
    check "no seq was published with two different events" 0
else
    echo "# seqs published with different contents: $reused"
    echo "# skip seq reuse after a power cut: issue 15 part 2: epoch and high-water mark"
fi

# What the station saw before each cut is what it holds now (re-sent identically or not at all).
lost=""
for i in $(seq "$CUTS"); do
    while read -r s payload; do
        jq -r --argjson s "$s" 'select(.seq == $s) | tojson' "$WORK/station.json" | grep -qxF -- "$payload" ||
            lost="$lost $s"
    done < <(seq_payloads "$WORK/before-$i.txt" | sort -u)
done
[ -z "$lost" ]
check "every event seen before a power cut is still the station's event under its seq ($lost)" $?

gaps=$(station_gaps)
[ -z "$gaps" ] && [ -s "$WORK/station.json" ]
check "the station's seqs are contiguous ($gaps)" $?

finish
