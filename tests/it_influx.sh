#!/usr/bin/env bash
# End to end to InfluxDB: a real influxd (Debian's 1.6.7) on a free loopback
# port, mosquitto, the simulator and vigild with an influx group. Asserts
# what an officer's dashboard reads from InfluxDB (zones, devices, point
# values, the gateway's health, an alarm and the seconds to its
# acknowledgement), and that alarms reach the station while influxd is
# frozen (SIGSTOP: the kernel still accepts its connections, nothing
# answers), and the frozen time is written once it thaws. Skipped (77)
# without influxd.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

command -v influxd >/dev/null || { echo "# skip it_influx: influxd not installed (scripts/deps.sh)"; exit 77; }
site_setup

start_influxd vigil || bail "influxd did not start: $(tail -5 "$WORK/influxd.log")"

# influxql QUERY: the first value of the first row, or "" (jq on /query's JSON).
influxql() {
    curl -s -G "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode db=vigil --data-urlencode "q=$1" |
        jq -r '.results[0].series[0].values[0][1] // empty'
}
# wait_influx SECONDS QUERY REGEX: the query's value matches REGEX in time.
wait_influx() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        influxql "$2" | grep -qE -- "$3" && return 0
        sleep 0.2
    done
    return 1
}

# influxd runs without authentication and ignores the credentials; they are
# there to show the password never reaches the log.
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" \
    "influx = { url = \"http://127.0.0.1:$INFLUX_PORT\"; database = \"vigil\"; batch_age_s = 0.1; health_s = 1;" \
    "  username = \"vigil\"; password = \"s3cret-influx\"; };"
launch_site "$WORK/site.conf"
wait_retained '^1 vigil/test-depot/status .*"state":"online"' 10 || bail "vigild did not come online"
grep -q libcurl "/proc/$VIGILD_PID/maps"
check "with an influx group, vigild has loaded libcurl" $?

wait_influx 10 "SELECT count(armed) FROM vigil_zone WHERE site = 'test-depot'" '^[1-9]'
check "zone arm states reach InfluxDB" $?
wait_influx 10 "SELECT last(up) FROM vigil_device WHERE device = 'store1-io'" '^1$'
check "store1-io is up in InfluxDB" $?
wait_influx 10 "SELECT last(rss_bytes) FROM vigil_gateway WHERE site = 'test-depot'" '^[1-9]'
check "the gateway's health (RSS) is written every health_s" $?

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5
wait_influx 5 "SELECT last(value) FROM vigil_point WHERE point = 'store1-door'" '^1$'
check "the door's new value is in InfluxDB" $?
wait_influx 5 "SELECT count(seq) FROM vigil_alarm WHERE point = 'store1-door' AND state = 'active_unacked' AND priority = 'high'" '^1$'
check "the intrusion is in InfluxDB with its priority" $?
sleep 1
send_cmd '{"id":"c1","op":"ack","alarm":"store1-door.intrusion","operator":"guard1"}'
wait_influx 5 "SELECT ack_s FROM vigil_alarm WHERE point = 'store1-door' AND state = 'active_acked'" '^[1-9]'
check "its acknowledgement carries the seconds since the raise" $?
[ "$(influxql "SELECT operator FROM vigil_alarm WHERE state = 'active_acked'")" = guard1 ]
check "and the operator (a field, not a tag)" $?

kill -STOP "$INFLUXD_PID"
sim set store1-door 0
wait_event '"alarm":"store1-door.intrusion".*"state":"normal"' 5
check "with influxd frozen, the station still gets the alarm's return to normal" $?
sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5
check "and a new tamper alarm" $?
kill -CONT "$INFLUXD_PID"
wait_influx 20 "SELECT count(seq) FROM vigil_alarm WHERE point = 'store1-tamper'" '^1$'
check "once influxd thaws, the tamper alarm is written" $?
grep -q "s3cret-influx" "$WORK/vigild.log"
[ $? -ne 0 ]
check "the InfluxDB password never appears in vigild's log" $?
finish
