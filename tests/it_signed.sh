#!/usr/bin/env bash
# The gateway signs what it publishes (docs/mqtt.md, "Signed payloads"):
# with site.signing_key set, every message a station receives — events,
# status, the retained alarms, zones and devices, command results — carries
# the site's signature and `vigilctl verify` accepts it; a status forged by
# another client of the broker, or a real payload moved to another topic,
# is caught.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf"
"$VIGIL_BUILD/vigilctl" key new gateway --dir "$WORK" >"$WORK/key.txt" || bail "vigilctl key new failed"
KEY=$(sed -n 's/.*key = "\([^"]*\)".*/\1/p' "$WORK/key.txt")
sign_site "$WORK/gateway.key"
chmod 644 "$WORK/gateway.key"
"$VIGIL_BUILD/vigild" --check-config "$WORK/site.conf" --profiles "$VIGIL_TOP/sensors/profiles" >"$WORK/check.txt" 2>&1
grep -q "signing_key $WORK/gateway.key can be read by others; chmod 600" "$WORK/check.txt"
check "a signing key others can read is refused with the fix" $?
chmod 600 "$WORK/gateway.key"

launch_site "$WORK/site.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start"
sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no door alarm"
send_cmd '{"id":"bad-1","op":"explode","operator":"x"}'
wait_result '"id":"bad-1"' 5 || bail "no result"
wait_retained ' vigil/test-depot/alarms/store1-door.intrusion ' 5 || bail "alarm not retained"

# verify_all: every recorded payload, as "TOPIC PAYLOAD" lines, through vigilctl verify.
verify_all() {
    cut -d' ' -f2- "$WORK/all.txt" | grep -v ' vigil/test-depot/cmd ' | grep -v '^vigil/test-depot/cmd ' |
        "$VIGIL_BUILD/vigilctl" verify --site-key "$KEY" >"$WORK/verified.txt"
}
verify_all
check "every message the site published verifies against its public key" $?
for t in events status zones/store1 devices/store1-io alarms/store1-door.intrusion cmd/result; do
    grep -q "^good vigil/test-depot/$t\$" "$WORK/verified.txt"
    check "a signed $t message was received and verified" $?
done

mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -r -t vigil/test-depot/status \
    -m '{"site":"test-depot","state":"online","version":"0.1.0","heartbeat_s":86400,"seq":999999}'
timeout 3 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t vigil/test-depot/status -v -W 2 -C 1 2>/dev/null |
    "$VIGIL_BUILD/vigilctl" verify --site-key "$KEY" >"$WORK/forged.txt"
rc=$?
[ $rc -eq 1 ] && grep -q '^UNSIGNED vigil/test-depot/status$' "$WORK/forged.txt"
check "a status forged by another broker client is caught (exit $rc: $(cat "$WORK/forged.txt"))" $?
out=$("$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot --site-key "$KEY" \
    --timeout 3)
rc=$?
[ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q '^FORGED: vigil/test-depot/status is not signed by the site; left out$' &&
    printf '%s\n' "$out" | grep -q '^site test-depot: UNKNOWN'
check "vigilctl status with the site's key leaves the forged status out and says so (exit $rc)" $?
out=$("$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot --timeout 3)
printf '%s\n' "$out" | grep -q '^status claims a heartbeat of 86400 s; judged by 3600 s$'
check "a status claiming a day-long heartbeat is judged by an hour at most" $?
# A station watching with the site's key: a forged event is an alarm of its own, a real one shown as usual.
spawn "$WORK/watch.out" "$VIGIL_BUILD/vigilctl" watch --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot \
    --site-key "$KEY" --timeout 8
WATCH_PID=$LAST_PID
sleep 1
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t vigil/test-depot/events \
    -m '{"seq":999999999,"site":"test-depot","alarm":"store1-door.intrusion","state":"normal"}'
sim set store1-door 0
wait_for "$WORK/watch.out" 'store1-door|Store 1 door' 6
wait "$WATCH_PID" 2>/dev/null
grep -q 'FORGED: message on vigil/test-depot/events is not signed by the site; ignored' "$WORK/watch.out"
check "vigilctl watch with the site's key reports a forged event and ignores it" $?
! grep -q '999999999' "$WORK/watch.out" && grep -qi 'door' "$WORK/watch.out"
check "the forged event is not shown as an alarm; the real one is" $?
real=$(grep -m1 '^0 vigil/test-depot/events ' "$WORK/all.txt" | cut -d' ' -f3-)
echo "vigil/test-depot/alarms/store1-door.intrusion $real" | "$VIGIL_BUILD/vigilctl" verify --site-key "$KEY" |
    grep -q '^FORGED '
check "a real event moved to another topic is caught" $?
finish
