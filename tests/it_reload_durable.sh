#!/usr/bin/env bash
# A reload switches the journal to a snapshot of the new config, after
# which recovery re-feeds nothing older. So a valid config waits until the
# station has acknowledged every event already sent, at most 3 s: in an
# outage (the engineer may be reloading to fix the broker's address) it
# switches anyway and says in the log what the journal no longer covers.
# Real mosquitto (with persistence, restarted on the same port), the
# simulator, vigild, and a station (`vigilctl watch`).
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools/station.sh"

# reload_renamed NAME: the running config with the door's name changed, then SIGHUP.
reload_renamed() {
    sed "s/name = \"[^\"]*\"; device = \"store1-io\"; input = \"di1\"/name = \"$1\"; device = \"store1-io\"; input = \"di1\"/" \
        "$WORK/orig.conf" >"$WORK/site.conf"
    grep -q "name = \"$1\"" "$WORK/site.conf" || bail "cannot rename the door in the config"
    kill -HUP "$VIGILD_PID"
}
loads() { grep -c 'reload: config=.* loaded' "$WORK/vigild.log"; }

site_setup
start_station_broker || bail "mosquitto did not start"
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
cp "$WORK/site.conf" "$WORK/orig.conf"
launch_station_site station-1 "$WORK/site.conf"

# (a) broker up: an alarm, and a reload right behind it.
sim set store1-door 1
wait_for "$WORK/station.json" '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no intrusion"
reload_renamed "Store 1 door A"
wait_until 10 at_least 1 loads
check "with the broker up, the reload is applied" $?
! grep -q 'switching anyway' "$WORK/vigild.log"
check "with the broker up, nothing is left outside the journal's recovery" $?

# (b) broker down: the door closes (an event the station has not taken),
# then a reload. It waits for the station, then switches anyway.
stop_pid "$BROKER_PID"
wait_for "$WORK/vigild.log" 'connection lost|disconnected' 5 || bail "vigild did not notice the broker is gone"
sim set store1-door 0
sleep 0.5
reload_renamed "Store 1 door B"
wait_for "$WORK/vigild.log" 'switching once the station has acknowledged' 5
check "during an outage the reload first waits for the station's acknowledgement" $?
wait_until 10 at_least 2 loads
check "an engineer can still reload while the station is unreachable" $?
grep -q 'reload: the station has not acknowledged the events after seq [0-9]* (up to [0-9]*) within 3 s' "$WORK/vigild.log"
check "the log says which events the journal no longer covers" $?

# The door's return to normal still reaches the station once the broker is back.
start_station_broker || bail "mosquitto did not restart on port $BROKER_PORT"
wait_for "$WORK/station.json" '"alarm":"store1-door.intrusion".*"state":"rtn_unacked"' 20
check "the event made during the outage reaches the station after the reload" $?
sim set store1-door 1
wait_for "$WORK/station.json" '"alarm":"store1-door.intrusion".*"state":"active_unacked".*Store 1 door B' 10
check "the new config's name is on the next alarm" $?
[ -z "$(station_gaps)" ]
check "the station's seqs have no gap across the reloads (gaps: $(station_gaps | tr '\n' ' '))" $?
finish
