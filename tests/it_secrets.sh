#!/usr/bin/env bash
# Secrets stay secret: a site whose broker has a password, whose influx
# group has a token (InfluxDB unreachable, so its errors are logged) and
# which signs what it publishes with its own key runs at debug log level with a real mosquitto and the simulator; neither secret
# may appear in vigild's log, on any topic of the site, in `vigilctl status`
# output or in the state directory. The file holding them must be private:
# world-readable it is refused with the chmod that fixes it. vigild is not
# dumpable (no core file can carry the secrets).
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

MQTT_PW='Mq7t-pw-never-shown'
TOKEN='Infl-tok-never-shown'
site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf" \
    "influx = { url = \"http://127.0.0.1:$(free_port)\"; api = \"v2\"; org = \"o\"; bucket = \"b\";" \
    "  token = \"$TOKEN\"; batch_age_s = 0.1; health_s = 1; };"
# mosquitto allows anonymous clients here and ignores the credentials.
sed -i "s#\(uri = \"tcp://[^\"]*\";\)#\1 username = \"depot\"; password = \"$MQTT_PW\";#" "$WORK/site.conf"
grep -q "password = \"$MQTT_PW\"" "$WORK/site.conf" || bail "no password in the test site"
"$VIGIL_BUILD/vigilctl" key new gateway --dir "$WORK" >/dev/null || bail "vigilctl key new failed"
SIGNING_KEY=$(head -c 40 "$WORK/gateway.key")
[ ${#SIGNING_KEY} -eq 40 ] || bail "no secret key in $WORK/gateway.key"
sign_site "$WORK/gateway.key"

chmod 644 "$WORK/site.conf"
run_tool "$WORK/check.txt" "$VIGIL_BUILD/vigild" --check-config "$WORK/site.conf" --profiles "$VIGIL_TOP/sensors/profiles"
expect_output "a world-readable config holding the broker password is refused with the fix" 1 \
    "site.conf:[0-9]+: mqtt broker #1: password is a secret, but this file is open to every user \(mode 0644\); expected chmod 600 .*site.conf"
grep -q 'influx: token is a secret' "$WORK/check.txt"
check "the InfluxDB token's file is refused too" $?
! grep -qE "$MQTT_PW|$TOKEN" "$WORK/check.txt"
check "the refusal does not show the secrets" $?
chmod 600 "$WORK/site.conf"

launch_site "$WORK/site.conf" --log-level debug
wait_retained '^1 vigil/test-depot/status .*"state":"online"' 10 || bail "vigild did not come online"
sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion"' 5 || bail "no door alarm"
wait_for "$WORK/vigild.log" 'influx.*(fail|cannot|refused|unreachable)' 10
check "the InfluxDB sink logs its failures (the test covers its error path)" $?
sleep 2

run_tool "$WORK/status.txt" "$VIGIL_BUILD/vigilctl" status --config "$WORK/site.conf" \
    --profiles "$VIGIL_TOP/sensors/profiles" --timeout 3
grep -q '^site test-depot: online' "$WORK/status.txt"
check "vigilctl status, with the credentials from the config, reaches the site" $?

# The first 40 base64 characters of the key file: 30 bytes of its seed, the secret half.
for what in "broker password=$MQTT_PW" "InfluxDB token=$TOKEN" "site's signing key=$SIGNING_KEY"; do
    secret=${what#*=} what=${what%%=*}
    ! grep -qF -- "$secret" "$WORK/vigild.log"
    check "vigild's debug log never shows the $what" $?
    ! grep -qF -- "$secret" "$WORK/all.txt"
    check "no topic of the site carries the $what" $?
    ! grep -qF -- "$secret" "$WORK/status.txt"
    check "vigilctl status never prints the $what" $?
    ! grep -rqaF -- "$secret" "$WORK/state"
    check "the state directory (journal, outbox) never holds the $what" $?
done

# A process that is not dumpable has its /proc/PID files owned by root, which
# only a test running as another user can see.
if [ "$(id -u)" -eq 0 ]; then
    echo "ok - vigild is not dumpable # SKIP running as root: /proc shows no difference"
else
    [ "$(stat -c %u "/proc/$VIGILD_PID/environ")" -eq 0 ]
    check "vigild is not dumpable: no core file can hold the secrets" $?
fi
# vigilctl holds operators' signing keys: run as another user than the
# test (setpriv as root), its /proc files are root's only if it is not dumpable.
as_other=()
[ "$(id -u)" -ne 0 ] || as_other=(setpriv --reuid=65534 --regid=65534 --clear-groups)
"${as_other[@]}" "$VIGIL_BUILD/vigilctl" watch --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot \
    >/dev/null 2>"$WORK/ctl-watch.err" &
CTL_PID=$!
SPAWNED="$CTL_PID ${SPAWNED:-}"
wait_for "$WORK/ctl-watch.err" 'subscribed' 10
[ "$(stat -c %u "/proc/$CTL_PID/environ")" -eq 0 ] && [ "$(stat -c %u "/proc/$CTL_PID")" -ne 0 ]
check "vigilctl is not dumpable: no core file can hold an operator's key" $?
finish
