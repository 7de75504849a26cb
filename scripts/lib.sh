# lib.sh - shared shell helpers for the demo, the integration tests and the
# benchmarks: free loopback ports, a real mosquitto, the site simulator and
# vigild started on them, and clean-up of every started process by its PID.
#
# Source it, then call site_setup WORKDIR; every process started through
# spawn() is stopped by cleanup (installed as an EXIT trap).

VIGIL_TOP=${VIGIL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
VIGIL_BUILD=${VIGIL_BUILD:-$VIGIL_TOP/build}
SPAWNED=""

# True if something accepts connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a loopback TCP port nobody listens on and this run has not handed
# out. Below 32768, the start of Linux's ephemeral range, so an outgoing
# connection cannot take it between now and the bind. The ports handed out
# are kept in a file because callers run this in a $(...) subshell.
free_port() {
    local p used="${WORK:-/tmp}/.ports-$$"
    while :; do
        p=$((20000 + RANDOM % 12768))
        grep -qx "$p" "$used" 2>/dev/null && continue
        port_open "$p" && continue
        echo "$p" >>"$used"
        echo "$p"
        return
    done
}

# spawn LOGFILE CMD...: starts CMD in the background, remembers its PID in $LAST_PID.
spawn() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    SPAWNED="$LAST_PID $SPAWNED"
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; waits for it.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local pid
    for pid in $SPAWNED; do stop_pid "$pid"; done
    SPAWNED=""
}

# proc_ticks PID...: utime + stime of the processes (all their threads), summed, in clock ticks.
proc_ticks() {
    local p
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }'
}

# cpu_pct TICKS SECONDS: clock ticks spent over SECONDS of wall time, as % of one core.
cpu_pct() {
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v dt="$2" 'BEGIN { printf "%.1f", 100 * t / hz / dt }'
}

# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds (true)
# or SECONDS have passed (false). Every wait below is built on it, so no
# caller sleeps a fixed time in the hope that something happened.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt "$deadline" ]; do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}

# at_least N CMD...: true if CMD prints a number of N or more (false if it
# prints no number at all, as grep -c on a file not yet written).
at_least() {
    local n=$1 got
    shift
    got=$("$@")
    [ "$got" -ge "$n" ] 2>/dev/null
}

# wait_for FILE REGEX SECONDS: true once a line of FILE matches.
wait_for() {
    wait_until "$3" grep -qsE -- "$2" "$1"
}

# wait_port PORT SECONDS
wait_port() {
    wait_until "$2" port_open "$1"
}

# seq_gaps: reads seqs, one a line, and prints every place where one is not
# one more than the one before it; prints nothing if they are contiguous.
seq_gaps() {
    awk 'NR > 1 && $1 != prev + 1 { print "after " prev " came " $1 } { prev = $1 }'
}

# PKI for TLS brokers: keys and certificates made by openssl in $PKI.
# cert NAME SAN SIGNER DAYS [EXT]: an EC key and a certificate NAME.crt for CN=NAME with
# subjectAltName SAN, signed by the CA SIGNER, valid DAYS days (-1: already expired).
cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" \
        -out "$PKI/$1.csr" -subj "/CN=$1" 2>/dev/null &&
        printf 'subjectAltName=%s\n%s\n' "$2" "${5:-}" >"$PKI/$1.ext" &&
        openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$3.crt" -CAkey "$PKI/$3.key" -CAcreateserial \
            -out "$PKI/$1.crt" -days "$4" -extfile "$PKI/$1.ext" 2>/dev/null
}

# ca NAME: a self-signed EC CA certificate NAME.crt, valid 2 days.
ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" \
        -out "$PKI/$1.crt" -days 2 -subj "/CN=$1" 2>/dev/null
}

# start_broker: a real mosquitto on a free loopback port; sets BROKER_PORT, BROKER_PID.
# BROKER_EXTRA, if set, is appended to its config (another listener).
start_broker() {
    BROKER_PORT=${BROKER_PORT:-$(free_port)}
    cat >"$WORK/mosquitto.conf" <<EOF
allow_anonymous true
persistence false
log_dest stderr
listener $BROKER_PORT 127.0.0.1
${BROKER_EXTRA:-}
EOF
    spawn "$WORK/mosquitto.log" mosquitto -c "$WORK/mosquitto.conf"
    BROKER_PID=$LAST_PID
    wait_port "$BROKER_PORT" 10
}

# start_influxd DATABASE: a real influxd (InfluxDB 1.x) on a free loopback
# port, its data under $WORK/influxd, no authentication, with DATABASE
# created; sets INFLUX_PORT and INFLUXD_PID. False if it did not start.
start_influxd() {
    INFLUX_PORT=$(free_port)
    mkdir -p "$WORK/influxd"
    cat >"$WORK/influxd.conf" <<EOF
reporting-enabled = false
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$WORK/influxd/meta"
  logging-enabled = false
[data]
  dir = "$WORK/influxd/data"
  wal-dir = "$WORK/influxd/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
[continuous_queries]
  enabled = false
EOF
    spawn "$WORK/influxd.log" influxd -config "$WORK/influxd.conf"
    INFLUXD_PID=$LAST_PID
    wait_port "$INFLUX_PORT" 20 &&
        curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode "q=CREATE DATABASE $1" >/dev/null
}

# make_site TEMPLATE OUT: a copy of a site config with every Modbus port
# replaced by a free one, the broker on $BROKER_PORT and the state under $WORK.
# OUT is private (0600), as vigild wants a file that holds a password or token.
make_site() {
    local tmpl=$1 out=$2 line p
    : >"$out"
    chmod 600 "$out"
    while IFS= read -r line; do
        case "$line" in
        *"port = "[0-9]*";"*)
            p=$(free_port)
            line=$(printf '%s\n' "$line" | sed -E "s/port = [0-9]+;/port = $p;/") ;;
        *"uri = \"tcp://"*)
            line=$(printf '%s\n' "$line" | sed -E "s#tcp://[^\"]*#tcp://127.0.0.1:$BROKER_PORT#") ;;
        *"state_dir = "*)
            line=$(printf '%s\n' "$line" | sed -E "s#state_dir = \"[^\"]*\"#state_dir = \"$WORK/state\"#") ;;
        *"device = \"/"*)
            line=$(printf '%s\n' "$line" | sed -E "s#device = \"/[^\"]*/#device = \"$WORK/#") ;;
        esac
        printf '%s\n' "$line" >>"$out"
    done <"$tmpl"
}

# start_sim SITE: vigil-sim serving the site, driven through a FIFO; sets SIM_PID.
start_sim() {
    mkfifo "$WORK/sim.ctl"
    spawn "$WORK/sim.out" "$VIGIL_BUILD/vigil-sim" --config "$1" --profiles "$VIGIL_TOP/sensors/profiles" \
        --control "$WORK/sim.ctl"
    SIM_PID=$LAST_PID
    wait_for "$WORK/sim.out" '^ready' 10
}

# sim CMD...: one command to the simulator.
sim() {
    echo "$*" >"$WORK/sim.ctl"
}

# start_vigild SITE [ARGS...]: sets VIGILD_PID. VIGILD_BIN runs another build of vigild
# (a test's own, with one more sink).
start_vigild() {
    local site=$1
    shift
    spawn "$WORK/vigild.log" "${VIGILD_BIN:-$VIGIL_BUILD/vigild}" --config "$site" --profiles "$VIGIL_TOP/sensors/profiles" "$@"
    VIGILD_PID=$LAST_PID
}

# subscribe OUTFILE TOPIC...: records "retained-flag topic payload" lines.
subscribe() {
    local out=$1 args="" t
    shift
    for t in "$@"; do args="$args -t $t"; done
    # shellcheck disable=SC2086
    spawn "$out" mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -F '%r %t %p' $args
    LAST_SUB_PID=$LAST_PID
}

# site_setup: a private work directory, removed with every process on exit.
site_setup() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil.XXXXXX")
    trap 'cleanup; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
}
