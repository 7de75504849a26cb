#!/usr/bin/env bash
# Device faults, end to end: the climate sensor (store1-th, fail_ms 1000,
# timeout_ms 200) stops answering, answers exceptions or garbage, closes
# the connection (all from the simulator), or its link blackholes requests,
# stops a reply in the middle of the frame, resets every connection or
# answers too late (from a TCP proxy between vigild and the simulator).
# Each fault must raise store1-th.comm_loss, while a door contact on another
# device keeps producing its events; clearing the fault must return
# comm_loss to normal. A reply that is slow but within timeout_ms is no
# fault. The detection time of each fault is printed.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

FAIL_MS=1000              # store1-th's fail_ms in spine.conf
MARGIN_S=4                # time allowed on top of fail_ms before it counts as missed
CASES="sim:timeout sim:exception sim:garbage sim:close proxy:drop proxy:stall proxy:cut proxy:delay_600"

count() {
    grep -c -- "$1" "$WORK/station.json"
}

# wait_count REGEX N SECONDS: the station has at least N events matching REGEX.
wait_count() {
    wait_until "$3" at_least "$2" count "$1"
}

proxy() {
    echo "$*" >"$WORK/proxy.ctl"
}

# fault WHERE:MODE / clear WHERE:MODE: start and end one fault.
fault() {
    local mode=${1#*:}
    case "$1" in
    sim:*) sim fail store1-th "$mode" ;;
    proxy:*) proxy "${mode/_/ }" ;;
    esac
}

clear_fault() {
    case "$1" in
    sim:*) sim fail store1-th ok ;;
    proxy:*) proxy pass ;;
    esac
}

# ts_ms EVENT-JSON: the event's ts in epoch ms.
ts_ms() {
    date -d "$(printf '%s' "$1" | jq -r .ts)" +%s%3N
}

LOST='"alarm":"store1-th.comm_loss".*"state":"active_unacked"'
BACK='"alarm":"store1-th.comm_loss".*"state":"rtn_unacked"'
TAMPER='"alarm":"store1-tamper.tamper"'

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
# vigild reaches the climate bus through the proxy, the simulator serves it
# behind (the proxy connects to it only once vigild connects).
mv "$WORK/site.conf" "$WORK/sim.conf"
sim_port=$(grep -A1 '"climate-lan"' "$WORK/sim.conf" | sed -n 's/.*port = \([0-9]*\);.*/\1/p')
proxy_port=$(free_port)
sed "s/port = $sim_port;/port = $proxy_port;/" "$WORK/sim.conf" >"$WORK/site.conf"
spawn "$WORK/proxy.out" "$VIGIL_BUILD/tests/tools/faultproxy" --listen "$proxy_port" --to "$sim_port" \
    --control "$WORK/proxy.ctl"
wait_for "$WORK/proxy.out" '^ready' 5 || bail "faultproxy did not start: $(cat "$WORK/proxy.out")"
launch_station_site station-devfaults "$WORK/sim.conf"
wait_for "$WORK/vigild.log" 'device "store1-th" .*comm up' 5 || bail "store1-th never answered"

n=0
tamper=0
for c in $CASES; do
    n=$((n + 1))
    t0=$(date +%s%3N)
    fault "$c"
    wait_count "$LOST" "$n" $((FAIL_MS / 1000 + MARGIN_S))
    rc=$?
    check "$c: comm_loss is raised within fail_ms + ${MARGIN_S} s" $rc
    [ $rc -eq 0 ] && echo "# $c: comm_loss $(($(ts_ms "$(grep -- "$LOST" "$WORK/station.json" | sed -n "${n}p")") - t0)) ms after the fault began"

    tamper=$((1 - tamper))
    before=$(count "$TAMPER")
    sim set store1-tamper "$tamper"
    wait_count "$TAMPER" $((before + 1)) 3
    check "$c: a tamper loop on another device still raises its event during the fault" $?

    clear_fault "$c"
    wait_count "$BACK" "$n" 10
    check "$c: comm_loss stays on the list (rtn_unacked) once the device answers again" $?
done

# Slow but within timeout_ms (200 ms): no fault, and the values still come through.
proxy delay 50
before=$(count '"alarm":"store1-th.comm_loss"')
sim set store1-temp 41.5
wait_count '"alarm":"store1-temp.temperature_high".*"state":"active_unacked"' 1 5
check "a reply delayed 50 ms (timeout_ms 200) still delivers the temperature" $?
sleep $((FAIL_MS / 1000 + 1))
[ "$(count '"alarm":"store1-th.comm_loss"')" -eq "$before" ]
check "a reply delayed within timeout_ms raises no comm_loss" $?
proxy pass

others=$(grep '"type":"comm_loss"' "$WORK/station.json" | grep -v '"device":"store1-th"' | jq -r .alarm | sort -u | tr '\n' ' ')
[ -z "$others" ]
check "no other device lost communication during the faults ($others)" $?

finish
