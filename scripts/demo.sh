#!/usr/bin/env bash
# make demo: a simulated depot watched by vigild, end to end.
#
# Starts a real mosquitto on a free loopback port, the site simulator
# serving config/demo-site.conf over Modbus TCP, vigild, and a "station"
# that prints every alarm as a guard would read it. Then plays a scripted
# scenario. Ctrl-C or the end of the scenario stops every process it started.
set -u
VIGIL_BUILD=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"

site_setup
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; sleep "${2:-0}"; }
cmd() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t vigil/demo-depot/cmd -m "$1"; }

start_broker || { echo "demo: mosquitto did not start"; exit 1; }
make_site "$VIGIL_TOP/config/demo-site.conf" "$WORK/site.conf"
start_sim "$WORK/site.conf" || { echo "demo: simulator failed:"; cat "$WORK/sim.out"; exit 1; }
start_vigild "$WORK/site.conf"

# The station: every event, command result and status change, for people.
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v \
    -t vigil/demo-depot/events -t vigil/demo-depot/cmd/result -t vigil/demo-depot/status |
while read -r topic json; do
    case "$topic" in
    */events) printf '%s\n' "$json" | jq -r '"  STATION  #\(.seq) \(.ts)  \(.priority | ascii_upcase)  \(.state)  \(.text)" + (if .operator then "  (by \(.operator))" else "" end)' ;;
    */result) printf '%s\n' "$json" | jq -r '"  RESULT   command \(.id // "?") \(.op // ""): " + (if .ok then "ok" else "REFUSED: \(.error)" end)' ;;
    */status) printf '%s\n' "$json" | jq -r '"  STATUS   site \(.site) is \(.state)"' ;;
    esac
done &
SPAWNED="$! $SPAWNED"

echo "demo: broker 127.0.0.1:$BROKER_PORT, site config $WORK/site.conf, daemon log $WORK/vigild.log"
sleep 3
say "1. The door of ammunition store 1 opens while the store is armed (10 s entry delay, nobody disarms)"
sim set store1-door 1
sleep 12
say "   The guard acknowledges the alarm; the door is closed again"
cmd '{"id":"demo-1","op":"ack","alarm":"store1-door.intrusion","operator":"guard-petrovic"}'
sleep 1
sim set store1-door 0
sleep 2
say "2. Fence zone 2 alarms and camera 2 sees motion within the verification window"
sim set fence-z2 1
sleep 1
sim set cam2-motion 1
sleep 3
say "3. The temperature in store 1 rises to 38.5 C (alarm above 35 C after the on-delay)"
sim set store1-temp 38.5
sleep 8
say "4. Someone opens the cover of the store 1 door detector (tamper, a 24-hour alarm)"
sim set store1-door-tamper 1
sleep 3
say "5. The climate sensor of store 1 stops answering"
sim fail store1-th timeout
sleep 5
say "6. An operator sends a malformed command and acks an alarm that does not exist"
cmd '{"id":"demo-2","op":"ack","operator":"guard-petrovic"}'
cmd '{"id":"demo-3","op":"ack","alarm":"store9-door.intrusion","operator":"guard-petrovic"}'
sleep 2
say "End of the scenario: stopping every process"
