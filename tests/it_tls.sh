#!/usr/bin/env bash
# TLS on a broker path, against a real mosquitto with certificates made
# here by openssl: a good chain (server verified, host name checked, client
# certificate) connects and carries events; a wrong CA, an expired server
# certificate, a certificate for another host name and a missing client
# certificate are each refused with a log line naming the reason, and the
# station, listening on the site's other (plain) path, gets path_fault.
# None of them crashes vigild or makes it spin. vigilctl watch and status
# over TLS receive what the site publishes.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null && command -v mosquitto >/dev/null ||
    { echo "ok - TLS paths # SKIP needs openssl and mosquitto"; exit 77; }

make_pki() {
    PKI=$WORK/pki
    mkdir -p "$PKI"
    ca ca && ca ca2 &&
        cert server 'DNS:localhost,IP:127.0.0.1' ca 2 &&
        cert expired 'DNS:localhost,IP:127.0.0.1' ca -1 &&
        cert wronghost 'DNS:wrong.example.net' ca 2 &&
        cert gateway 'DNS:gateway' ca 2 'extendedKeyUsage=clientAuth' || return 1
    chmod 600 "$PKI"/*.key
}

# listener PORT CERT: a TLS listener that requires a client certificate from ca.
listener() {
    printf 'listener %s 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/%s.crt\nkeyfile %s/%s.key\n' \
        "$1" "$PKI" "$PKI" "$2" "$PKI" "$2"
    printf 'require_certificate true\nallow_anonymous true\n'
}

# The TLS broker: a good listener and one each for the expired and the wrong-host certificate.
start_tls_broker() {
    TLS_PORT=$(free_port) EXPIRED_PORT=$(free_port) WRONGHOST_PORT=$(free_port)
    {
        echo 'per_listener_settings true'
        # as root, mosquitto would switch to its own user, which cannot read the work directory
        echo 'user root'
        echo 'persistence false'
        echo 'log_dest stderr'
        listener "$TLS_PORT" server
        listener "$EXPIRED_PORT" expired
        listener "$WRONGHOST_PORT" wronghost
    } >"$WORK/mosquitto-tls.conf"
    spawn "$WORK/mosquitto-tls.log" mosquitto -c "$WORK/mosquitto-tls.conf"
    wait_port "$TLS_PORT" 10 && wait_port "$WRONGHOST_PORT" 5
}

# site ID TLS-PORT BROKER-KEYS: a site without devices whose first path is the plain
# station broker and whose second is TLS on TLS-PORT with BROKER-KEYS.
site() {
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/site.conf" <<EOF
site = { id = "$1"; state_dir = "$WORK/$1"; };
mqtt = {
  path_fault_s = 5;
  brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; },
              { uri = "ssl://localhost:$2"; $3 } );
};
EOF
}

# run_site ID: vigild on the site; its log is $WORK/ID/vigild.log, its pid in PID_<ID>.
run_site() {
    spawn "$WORK/$1/vigild.log" "$VIGIL_BUILD/vigild" --config "$WORK/$1/site.conf"
    printf -v "PID_${1//-/_}" '%s' "$LAST_PID"
}

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

site_setup
make_pki || bail "openssl could not make the test certificates"
start_broker || bail "mosquitto (plain) did not start"
start_tls_broker || bail "mosquitto (TLS) did not start: $(cat "$WORK/mosquitto-tls.log")"
subscribe "$WORK/all.txt" 'vigil/+/events' 'vigil/+/status'

CLIENT="ca_file = \"$PKI/ca.crt\"; cert_file = \"$PKI/gateway.crt\"; key_file = \"$PKI/gateway.key\";"
site tls-good "$TLS_PORT" "$CLIENT"
site tls-wrongca "$TLS_PORT" "ca_file = \"$PKI/ca2.crt\"; cert_file = \"$PKI/gateway.crt\"; key_file = \"$PKI/gateway.key\";"
site tls-expired "$EXPIRED_PORT" "$CLIENT"
site tls-wronghost "$WRONGHOST_PORT" "$CLIENT"
site tls-nocert "$TLS_PORT" "ca_file = \"$PKI/ca.crt\";"
for s in tls-good tls-wrongca tls-expired tls-wronghost tls-nocert; do
    "$VIGIL_BUILD/vigild" --check-config "$WORK/$s/site.conf" >"$WORK/$s/check.out" 2>&1 ||
        bail "$s: --check-config: $(cat "$WORK/$s/check.out")"
    run_site "$s"
done

# --- the good chain ------------------------------------------------------------
TLS_SUB="mosquitto_sub -h localhost -p $TLS_PORT --cafile $PKI/ca.crt --cert $PKI/gateway.crt --key $PKI/gateway.key"
$TLS_SUB -C 1 -W 10 -t vigil/tls-good/status >"$WORK/tls-status.txt" 2>&1
grep -q '"state":"online"' "$WORK/tls-status.txt"
check "the good chain connects: the site's status is on the TLS broker ($(head -c 200 "$WORK/tls-status.txt"))" $?
grep -q libpaho-mqtt3as.so "/proc/$PID_tls_good/maps" && ! grep -q libpaho-mqtt3a.so "/proc/$PID_tls_good/maps"
check "with a TLS broker, vigild runs paho's TLS variant (and not the plain one beside it)" $?

"$VIGIL_BUILD/vigilctl" watch --broker "ssl://localhost:$TLS_PORT" --site tls-good --client-id tls-watch \
    --ca "$PKI/ca.crt" --cert "$PKI/gateway.crt" --key "$PKI/gateway.key" --json --timeout 20 \
    >"$WORK/watch.json" 2>"$WORK/watch.err" &
WATCH_PID=$!
SPAWNED="$WATCH_PID $SPAWNED"
wait_for "$WORK/watch.err" '^vigilctl: subscribed' 10
check "vigilctl watch connects over TLS with --ca, --cert and --key ($(tail -n 1 "$WORK/watch.err"))" $?

# --- the refusals ----------------------------------------------------------------
declare -A REASON=(
    [tls-wrongca]='not issued by the configured CA'
    [tls-expired]='certificate has expired'
    [tls-wronghost]='does not match the host name localhost'
    [tls-nocert]='refused this client: .*certificate required'
)
declare -A SAYS=(
    [tls-wrongca]='a broker certificate from another CA'
    [tls-expired]='an expired broker certificate'
    [tls-wronghost]='a broker certificate for another host name'
    [tls-nocert]='no client certificate where the broker requires one'
)
for s in tls-wrongca tls-expired tls-wronghost tls-nocert; do
    wait_for "$WORK/all.txt" "^[01] vigil/$s/events .*\"type\":\"path_fault\",.*\"state\":\"active_unacked\"" 12
    check "$s: ${SAYS[$s]}: the station hears path_fault on the plain path" $?
    grep -E "path=2 broker=ssl://localhost:[0-9]+: TLS refused: .*${REASON[$s]}" "$WORK/$s/vigild.log" >/dev/null
    check "$s: the log names the reason ($(grep -m 1 'TLS refused' "$WORK/$s/vigild.log" | cut -c 1-240))" $?
    grep -qE "^[01] vigil/$s/events .*path_fault.*TLS: .*${REASON[$s]}" "$WORK/all.txt"
    check "$s: the station reads the reason in the path_fault text" $?
done

# A refused path retries every few seconds: vigild must idle, not spin.
declare -A T0
for s in tls-wrongca tls-expired tls-wronghost tls-nocert; do
    pid_var="PID_${s//-/_}"
    T0[$s]=$(cpu_ticks "${!pid_var}")
done
sleep 4
for s in tls-wrongca tls-expired tls-wronghost tls-nocert; do
    pid_var="PID_${s//-/_}"
    kill -0 "${!pid_var}" 2>/dev/null
    check "$s: vigild is still running" $?
    used=$(($(cpu_ticks "${!pid_var}") - T0[$s]))
    # 4 s is 400 ticks; a spinning thread would use most of them
    [ "$used" -lt 100 ]
    check "$s: vigild idles while refused ($used ticks of CPU in 4 s)" $?
done

grep -q '"type":"path_fault"' "$WORK/all.txt" && ! grep -q '^[01] vigil/tls-good/events .*"type":"path_fault"' "$WORK/all.txt"
check "the good site raises no path_fault" $?

# --- vigilctl over TLS --------------------------------------------------------------
mosquitto_pub -h localhost -p "$TLS_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/gateway.crt" \
    --key "$PKI/gateway.key" -q 1 -t vigil/tls-good/events -m \
    '{"seq":999,"ts":"2026-11-25T10:00:00.123Z","site":"tls-good","alarm":"door.intrusion","priority":"high","state":"active_unacked","text":"Door: intrusion"}'
wait_for "$WORK/watch.json" '"seq":999' 10
check "vigilctl watch over TLS receives the events" $?

run_tool "$WORK/status.out" "$VIGIL_BUILD/vigilctl" status --broker "ssl://localhost:$TLS_PORT" --site tls-good \
    --ca "$PKI/ca.crt" --cert "$PKI/gateway.crt" --key "$PKI/gateway.key" --timeout 10
expect_output "vigilctl status over TLS reads the site's retained state" 0 'tls-good.*online|online.*tls-good'

run_tool "$WORK/status-nocert.out" "$VIGIL_BUILD/vigilctl" status --broker "ssl://localhost:$TLS_PORT" \
    --site tls-good --ca "$PKI/ca.crt" --timeout 5
expect_output "vigilctl status without the client certificate is refused and says why" 2 'certificate required'

run_tool "$WORK/status-noca.out" "$VIGIL_BUILD/vigilctl" status --broker "ssl://localhost:$TLS_PORT" --site tls-good
expect_output "vigilctl status on an ssl:// broker without --ca is a usage error" 2 'needs --ca'

finish
