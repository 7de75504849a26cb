#!/usr/bin/env bash
# bench/peers/run.sh [BUILD] - vigild beside collectd and Node-RED on one
# simulated site, interleaved over rounds; prints one table with the
# ratios to vigild. See bench/README.md ("Peers").
#
# The site (bench/site.sh with BENCH_TABLE=input): BENCH_POINTS [1000]
# contacts, one bit-0 input register each, on BENCH_DEVICES [20] Modbus TCP
# devices served by vigil-sim, polled every BENCH_POLL_MS [100]; a local
# mosquitto. Each round runs every gateway in BENCH_PEERS ["vigild collectd
# nodered"] in turn, each on a fresh simulator (all contacts at 0), and
# BUILD/bench/latency flips contacts and times the station's messages:
#
#   vigild    the site config as is; events at QoS 1
#   collectd  Debian's collectd-core, modbus plugin (one Data per contact:
#             it reads one register per request) and mqtt plugin at QoS 1
#   nodered   Node-RED and node-red-contrib-modbus from bench/peers/
#             package-lock.json (npm ci on first use, into bench/peers/
#             node_modules), flow from flows.js
#
# BENCH_BEFORE=BUILD2 adds the gateway "before": the vigild of another build
# (an older tree), measured the same way, for before/after figures taken
# in one interleaved run.
#
# BENCH_TLS=1 puts the gateways' MQTT on TLS: a throwaway CA and server
# certificate made by openssl, a TLS listener on the same mosquitto (the
# station's subscriber stays on the plain one), vigild on ssl:// with
# ca_file, collectd's mqtt plugin with CACert. Node-RED is left out of it.
#
# A gateway that is not installed is reported and left out. Environment as
# bench/latency.sh (BENCH_RATE, BENCH_WARMUP_S, BENCH_IDLE_S [15],
# BENCH_FLIP_S [30], BENCH_SEED) plus BENCH_ROUNDS [3]. Exits 1 if a run
# failed or lost a flip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
VIGIL_TOP=$(cd "$here/../.." && pwd)
VIGIL_BUILD=$(cd "${1:-build}" && pwd) || exit 1
. "$VIGIL_TOP/scripts/lib.sh"
BENCH_TABLE=input
. "$VIGIL_TOP/bench/site.sh"

N=${BENCH_POINTS:-1000}
ROUNDS=${BENCH_ROUNDS:-3}
PEERS=${BENCH_PEERS:-vigild collectd nodered}
[ -n "${BENCH_BEFORE:-}" ] && PEERS="before $PEERS"
PER=$(((N + DEVICES - 1) / DEVICES))
NODE_RED=$here/node_modules/node-red/red.js

# have_peer NAME: true if the gateway can run here (installs Node-RED's lock file once).
have_peer() {
    case $1 in
    vigild) return 0 ;;
    before) [ -x "$BENCH_BEFORE/vigild" ] ;;
    collectd) command -v collectd >/dev/null || [ -x /usr/sbin/collectd ] ;;
    nodered)
        [ -f "$NODE_RED" ] && return 0
        command -v npm >/dev/null || return 1
        (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts >"$WORK/npm.log" 2>&1) && [ -f "$NODE_RED" ]
        ;;
    esac
}

# bus_ports DIR: the TCP ports of the generated site's buses, in device order.
bus_ports() {
    sed -n 's/.*id = "bus[0-9]*"; type = "tcp"; host = "127.0.0.1"; port = \([0-9]*\);.*/\1/p' "$1/site.conf"
}

# gen_collectd DIR: collectd.conf for the site: one Host per device, one
# Data (one input register) per contact, values published at every poll.
gen_collectd() {
    local dir=$1 d=0 i port
    cat <<CONF
FQDNLookup false
Hostname "bench"
BaseDir "$dir/collectd"
PIDFile "$dir/collectd/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval $(awk "BEGIN { print $POLL_MS / 1000 }")
LoadPlugin modbus
LoadPlugin mqtt
<Plugin mqtt>
  <Publish "station">
    Host "127.0.0.1"
    Port "${TLS_PORT:-$BROKER_PORT}"${COLLECTD_TLS:-}
    ClientId "collectd-bench"
    Prefix "collectd"
    QoS 1
    Retain false
    StoreRates false
  </Publish>
</Plugin>
<Plugin modbus>
CONF
    for i in $(seq 0 $((N - 1))); do
        printf '  <Data "pt%04d">\n    RegisterBase %d\n    RegisterType Uint16\n    RegisterCmd ReadInput\n' "$i" $((i % PER))
        printf '    Type gauge\n    Instance "pt%04d"\n  </Data>\n' "$i"
    done
    for port in $(bus_ports "$dir"); do
        d=$((d + 1))
        printf '  <Host "io%02d">\n    Address "127.0.0.1"\n    Port "%d"\n' "$d" "$port"
        printf '    Interval %s\n    <Slave 1>\n      Instance "io%02d"\n' "$(awk "BEGIN { print $POLL_MS / 1000 }")" "$d"
        for i in $(seq $(((d - 1) * PER)) $((d * PER - 1))); do
            [ "$i" -lt "$N" ] && printf '      Collect "pt%04d"\n' "$i"
        done
        printf '    </Slave>\n  </Host>\n'
    done
    echo "</Plugin>"
}

# start_peer NAME DIR: starts the gateway on the site in DIR; sets PEER_PID.
start_peer() {
    local name=$1 dir=$2
    case $name in
    vigild) spawn "$dir/vigild.log" "$VIGIL_BUILD/vigild" --config "$dir/site.conf" ;;
    before) spawn "$dir/before.log" "$BENCH_BEFORE/vigild" --config "$dir/site.conf" ;;
    collectd)
        mkdir -p "$dir/collectd"
        gen_collectd "$dir" >"$dir/collectd.conf"
        spawn "$dir/collectd.log" collectd -f -C "$dir/collectd.conf"
        ;;
    nodered)
        mkdir -p "$dir/nodered"
        # shellcheck disable=SC2046
        node "$here/flows.js" "$dir/nodered/flows.json" "$BROKER_PORT" "$POLL_MS" "$PER" $(bus_ports "$dir")
        spawn "$dir/nodered.log" node "$NODE_RED" --userDir "$dir/nodered" --port "$(free_port)" flows.json
        ;;
    esac
    PEER_PID=$LAST_PID
}

# sim_requests DIR: Modbus requests the simulator has answered, all devices.
sim_requests() {
    local dir=$1 d
    for d in $(seq 1 "$DEVICES"); do printf 'stats io%02d\n' "$d"; done >"$dir/sim.ctl"
    sleep 0.5
    grep -o 'requests=[0-9]*' "$dir/sim.out" | tail -n "$DEVICES" | awk -F= '{ s += $2 } END { print s + 0 }'
}

# run_peer NAME ROUND: one measurement; prints the latency line with the
# peer, the round, Modbus requests/s and the poll interval achieved.
run_peer() {
    local name=$1 round=$2 dir="$WORK/$1-$2" q0 q1 t0 t1 rc per_cycle
    mkdir -p "$dir/state"
    mkfifo "$dir/sim.ctl"
    gen_profile "$dir/profiles" "$PER"
    start_sim_site "$dir" "$N" "$PER" || return 1
    start_peer "$name" "$dir"
    t0=$(date +%s.%N)
    q0=$(sim_requests "$dir")
    spawn "$dir/latency.out" "$VIGIL_BUILD/bench/latency" --peer "${name/before/vigild}" --broker-port "$BROKER_PORT" \
        --broker-pid "$BROKER_PID" --site "bench-n$N" --control "$dir/sim.ctl" --points "$N" --pid "$PEER_PID" \
        --poll-ms "$POLL_MS" --rate "${BENCH_RATE:-20}" --warmup-s "${BENCH_WARMUP_S:-3}" \
        --idle-s "${BENCH_IDLE_S:-15}" --flip-s "${BENCH_FLIP_S:-30}" --seed "${BENCH_SEED:-1}"
    wait "$LAST_PID"
    rc=$?
    q1=$(sim_requests "$dir")
    t1=$(date +%s.%N)
    # requests one poll of one device costs: collectd reads a register per request
    per_cycle=1
    [ "$name" = collectd ] && per_cycle=$PER
    awk -v p="$name" -v r="$round" -v q0="$q0" -v q1="$q1" -v t0="$t0" -v t1="$t1" -v d="$DEVICES" \
        -v c="$per_cycle" '{ rs = (q1 - q0) / (t1 - t0);
            printf "peer=%s round=%s %s  req_s=%.0f poll_ms=%.1f\n", p, r, $0, rs, (rs > 0 ? 1000 * d * c / rs : 0) }' \
        "$dir/latency.out"
    finish_run $rc "peers: $name round $round" "$dir/$name.log" "$PEER_PID"
}

# table FILE: one row per gateway, medians over the rounds (ranges in
# brackets), and each figure's ratio to vigild's.
table() {
    awk '
    function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2) + 0; return "" }
    function med(p, k,   n, i, j, t, v) { n = cnt[p]; for (i = 1; i <= n; i++) v[i] = val[p, k, i]
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        lo[p, k] = v[1]; hi[p, k] = v[n]; return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    /^peer=/ { split($1, a, "="); p = a[2]; if (!(p in cnt)) order[++np] = p; n = ++cnt[p]
        val[p, "cpu", n] = field("cpu"); val[p, "rss_peak", n] = field("rss_peak"); val[p, "req_s", n] = field("req_s")
        val[p, "poll_ms", n] = field("poll_ms"); val[p, "p50", n] = field("p50"); val[p, "p99", n] = field("p99")
        val[p, "broker_cpu", n] = field("broker_cpu"); val[p, "wakeups", n] = field("wakeups") }
    END {
        split("cpu rss_peak req_s poll_ms p50 p99 broker_cpu wakeups", keys, " ")
        split("CPU % (flips)|peak RSS MiB|Modbus req/s|poll ms achieved|p50 ms|p99 ms|broker CPU %|wake-ups/s", names, "|")
        printf "%-18s", "median (range)"; for (i = 1; i <= np; i++) printf " | %-26s", order[i]; printf "\n"
        for (k = 1; k <= 8; k++) {
            printf "%-18s", names[k]
            for (i = 1; i <= np; i++) { p = order[i]; m[p] = med(p, keys[k]) }
            for (i = 1; i <= np; i++) { p = order[i]
                s = sprintf("%.4g (%.4g-%.4g)", m[p], lo[p, keys[k]], hi[p, keys[k]])
                if (p != "vigild" && ("vigild" in cnt) && m["vigild"] > 0) s = s sprintf(" x%.3g", m[p] / m["vigild"])
                printf " | %-26s", s }
            printf "\n" }
    }' "$1"
}

# tls_setup: for BENCH_TLS=1, the CA and server certificate in $WORK/pki, a
# TLS listener for the broker (BROKER_EXTRA) and the gateways' settings for it.
tls_setup() {
    PKI=$WORK/pki TLS_PORT=$(free_port)
    mkdir -p "$PKI"
    ca ca && cert server 'DNS:localhost,IP:127.0.0.1' ca 2 || return 1
    chmod 600 "$PKI"/*.key
    # as root, mosquitto would switch to its own user, which cannot read the work directory
    BROKER_EXTRA=$(printf 'user root\nlistener %s 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key' \
        "$TLS_PORT" "$PKI" "$PKI" "$PKI")
    SITE_BROKER="uri = \"ssl://localhost:$TLS_PORT\"; ca_file = \"$PKI/ca.crt\";"
    COLLECTD_TLS=$(printf '\n    CACert "%s/ca.crt"\n    TLSProtocol "tlsv1.2"' "$PKI")
}

site_setup
transport=plain
if [ "${BENCH_TLS:-0}" = 1 ]; then
    tls_setup || { echo "peers: could not make the TLS certificates (openssl)" >&2; exit 1; }
    transport=TLS
fi
start_broker || { echo "peers: mosquitto did not start" >&2; exit 1; }
run=""
for p in $PEERS; do
    if [ "$transport" = TLS ] && [ "$p" = nodered ]; then
        echo "peers: nodered has no TLS set-up in this bench: left out" >&2
    elif have_peer "$p"; then run="$run $p"; else echo "peers: $p is not installed here: left out" >&2; fi
done
echo "# peers: N=$N on $DEVICES devices, poll $POLL_MS ms, MQTT $transport, $ROUNDS rounds of:$run"
status=0
for r in $(seq 1 "$ROUNDS"); do
    for p in $run; do
        run_peer "$p" "$r" >"$WORK/one" || status=1
        cat "$WORK/one"
        cat "$WORK/one" >>"$WORK/results"
    done
done
echo
table "$WORK/results"
echo "(xN: the gateway's median over vigild's)"
exit $status
