#!/usr/bin/env bash
# Commands and receipts arrive on a connection of their own (docs/mqtt.md,
# "Two connections per path"): vigild opens a second client per broker,
# <client_id>.in, which alone reads cmd and receipt, while the path's own
# client only publishes, results included. The broker's debug log says
# which connection got what. The broker still holds the session of an older
# vigild whose alarm client was subscribed to cmd: once vigild has
# connected, a command must not come in on the alarm connection any more.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
BROKER_EXTRA='log_type all' start_broker || bail "mosquitto did not start"
# An older vigild's persistent session under the alarm client's id, subscribed to cmd and receipt.
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -i vigil-test-depot -c -q 1 -t vigil/test-depot/cmd \
    -t vigil/test-depot/receipt -W 1 >/dev/null 2>&1
mkdir -p "$WORK/state"
cat >"$WORK/site.conf" <<EOF
site = { id = "test-depot"; state_dir = "$WORK/state"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; } ); };
EOF
subscribe "$WORK/all.txt" 'vigil/test-depot/#'
start_vigild "$WORK/site.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start: $(cat "$WORK/vigild.log")"
LOG=$WORK/mosquitto.log

grep -q ' as vigil-test-depot (p2, c0' "$LOG" && grep -q ' as vigil-test-depot\.in (p2, c0' "$LOG"
check "vigild opens two persistent sessions per broker: vigil-test-depot and vigil-test-depot.in" $?

# The first command's result comes back on the alarm connection, after its UNSUBSCRIBE.
send_cmd '{"id":"c-1","op":"ack","alarm":"none.intrusion","operator":"jsmith"}'
wait_result '"id":"c-1"' 5
check "a command gets its result on cmd/result" $?
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -i sender-c2 -q 1 -t vigil/test-depot/cmd \
    -m '{"id":"c-2","op":"ack","alarm":"none.intrusion","operator":"jsmith"}'
wait_result '"id":"c-2"' 5
check "so does the next one" $?

after_c2=$(sed -n '/Received PUBLISH from sender-c2 /,$p' "$LOG")
printf '%s\n' "$after_c2" | grep -q "Sending PUBLISH to vigil-test-depot\.in .*'vigil/test-depot/cmd'"
check "the broker delivers the command to the inbound client" $?
! printf '%s\n' "$after_c2" | grep -q "Sending PUBLISH to vigil-test-depot (.*'vigil/test-depot/cmd'"
check "and not to the alarm client, although an older vigild's session had it subscribed to cmd" $?
printf '%s\n' "$after_c2" | grep -q "Received PUBLISH from vigil-test-depot (.*'vigil/test-depot/cmd/result'"
check "the result leaves on the alarm connection, behind the events" $?
! grep -q "Received PUBLISH from vigil-test-depot\.in " "$LOG"
check "the inbound client publishes nothing" $?

finish
