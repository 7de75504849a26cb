# bench/site.sh - the simulated site of the benchmarks, sourced by
# bench/latency.sh and bench/peers/run.sh after scripts/lib.sh: N digital
# contacts pt0000.. in an always-armed zone over $DEVICES Modbus TCP devices
# io01.. (one bus each) polled every $POLL_MS, and vigil-sim serving it.
#
# Environment: BENCH_DEVICES [20], BENCH_POLL_MS [100], BENCH_TABLE
# [discrete] (or input), BENCH_CHATTER_COUNT [3]. SITE_BROKER, if set, is
# the keys of the site's broker entry (a TLS listener); otherwise the plain
# listener on $BROKER_PORT.

DEVICES=${BENCH_DEVICES:-20}
POLL_MS=${BENCH_POLL_MS:-100}
BENCH_TABLE=${BENCH_TABLE:-discrete}
BENCH_CHATTER_COUNT=${BENCH_CHATTER_COUNT:-3}

# gen_profile DIR PER_DEVICE: a din16-like module with PER_DEVICE contacts
# di1..diK: discrete inputs, or with BENCH_TABLE=input bit 0 of input
# registers 0..K-1, one contact per register (what collectd's modbus
# plugin, which reads only registers, can read too).
gen_profile() {
    local k
    mkdir -p "$1"
    {
        printf 'profile = {\n  name = "bench-din";\n  description = "generated: %d dry-contact inputs";\n' "$2"
        if [ "$BENCH_TABLE" = input ]; then
            echo "  inputs = ("
            for k in $(seq 1 "$2"); do
                printf '    { name = "di%d"; table = "input"; format = "regbit"; bit = 0; address = %d; }%s\n' \
                    "$k" $((k - 1)) "$([ "$k" -lt "$2" ] && echo ,)"
            done
            echo "  );"
        else
            printf '  inputs = ( { name = "di"; table = "discrete"; address = 0; count = %d; } );\n' "$2"
        fi
        echo "};"
    } >"$1/bench-din.conf"
}

# gen_site DIR N PER_DEVICE: the site config on stdout. Points are pt0000..,
# the names bench/latency.c flips. Chatter detection stays on with its
# default count but a 1 s window: the driver flips a point at most once per
# 600 ms, so it never chatters.
gen_site() {
    local dir=$1 n=$2 per=$3 d i broker=${SITE_BROKER:-}
    [ -n "$broker" ] || broker="uri = \"tcp://127.0.0.1:$BROKER_PORT\";"
    cat <<CONF
site = { id = "bench-n$n"; state_dir = "$dir/state"; profile_dir = "$dir/profiles"; };
mqtt = { brokers = ( { $broker } ); heartbeat_s = 60; };
rules = { chatter_count = $BENCH_CHATTER_COUNT; chatter_window_s = 1; };
zones = ( { id = "always"; name = "24-hour"; always_armed = true; } );
CONF
    echo "buses = ("
    for d in $(seq 1 "$DEVICES"); do
        printf '  { id = "bus%02d"; type = "tcp"; host = "127.0.0.1"; port = %d; }%s\n' \
            "$d" "$(free_port)" "$([ "$d" -lt "$DEVICES" ] && echo ,)"
    done
    echo ");"
    echo "devices = ("
    for d in $(seq 1 "$DEVICES"); do
        printf '  { id = "io%02d"; bus = "bus%02d"; unit = 1; profile = "bench-din"; poll_ms = %d; }%s\n' \
            "$d" "$d" "$POLL_MS" "$([ "$d" -lt "$DEVICES" ] && echo ,)"
    done
    echo ");"
    echo "points = ("
    for i in $(seq 0 $((n - 1))); do
        printf '  { id = "pt%04d"; device = "io%02d"; input = "di%d"; kind = "digital"; zone = "always"; }%s\n' \
            "$i" $((i / per + 1)) $((i % per + 1)) "$([ "$i" -lt $((n - 1)) ] && echo ,)"
    done
    echo ");"
}

# start_sim_site DIR N PER_DEVICE: generates the site and starts vigil-sim on
# it; sets SIM_PID. A port picked free can be taken before the simulator
# binds it (an outgoing connection's ephemeral port), so a bind failure
# regenerates the site on other ports, up to three times.
start_sim_site() {
    local dir=$1 n=$2 per=$3
    for _ in 1 2 3; do
        gen_site "$dir" "$n" "$per" >"$dir/site.conf"
        spawn "$dir/sim.out" "$VIGIL_BUILD/vigil-sim" --config "$dir/site.conf" --profiles "$dir/profiles" \
            --control "$dir/sim.ctl"
        SIM_PID=$LAST_PID
        wait_for "$dir/sim.out" '^ready' 10 && return 0
        stop_pid "$SIM_PID"
        grep -q 'Address already in use' "$dir/sim.out" || break
    done
    echo "bench N=$n: vigil-sim did not start:" >&2
    tail -n 20 "$dir/sim.out" >&2
    return 1
}

# finish_run RC WHAT LOG PID: reports a failed run (WHAT, the last lines of
# LOG), stops the gateway PID and the simulator; returns RC.
finish_run() {
    if [ "$1" -ne 0 ]; then
        echo "$2: failed; its log (last 20 lines):" >&2
        tail -n 20 "$3" >&2
    fi
    stop_pid "$4"
    stop_pid "$SIM_PID"
    return "$1"
}
