#!/bin/bash
# it_sim.sh - vigil-sim as a program: FIFO control, signals, start-up errors.
# (The Modbus side of the simulator is exercised by test_poller.)
set -u
BUILD=${VIGIL_BUILD:-build}
TOP=${VIGIL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
SIM="$BUILD/vigil-sim"
dir=$(mktemp -d /tmp/vigil-it-sim-XXXXXX)
pids=""
failed=0

cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT

verdict() { # name, status
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; failed=1; fi
}

# A loopback port that refuses connections right now.
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo 0
}

# Waits up to 5 s for a line matching $2 in file $1.
wait_line() {
    for _ in $(seq 100); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

write_site() { # file, port, tty
    cat >"$1" <<EOF
site = { id = "it-sim"; state_dir = "$dir/state"; profile_dir = "$TOP/sensors/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:1"; } ); };
buses = ( { id = "lan"; type = "tcp"; host = "127.0.0.1"; port = $2; },
          { id = "line"; type = "rtu"; device = "$3"; } );
devices = ( { id = "io"; bus = "lan"; unit = 1; profile = "din16"; },
            { id = "th"; bus = "line"; unit = 3; profile = "th-rs485"; } );
points = ( { id = "door"; device = "io"; input = "di1"; kind = "digital"; },
           { id = "temp"; device = "th"; input = "temperature"; kind = "temperature"; } );
EOF
}

port=$(free_port)
write_site "$dir/site.conf" "$port" "$dir/tty0"

# FIFO control: ready after the listeners and the pty link exist, one answer per command.
"$SIM" --config "$dir/site.conf" --control "$dir/ctl" >"$dir/out" 2>"$dir/err" &
sim=$!
pids="$pids $sim"
st=0
wait_line "$dir/out" '^ready$' || st=1
[ -p "$dir/ctl" ] && [ -L "$dir/tty0" ] && [ -c "$(readlink "$dir/tty0")" ] || st=1
echo "set temp -3.5" >"$dir/ctl"
echo "stats io" >"$dir/ctl"
echo "set nosuch 1" >"$dir/ctl"
echo "fail io sideways" >"$dir/ctl"
wait_line "$dir/out" '^error unknown mode' || st=1
[ "$(sed -n 2,4p "$dir/out" | tr '\n' '|')" = 'ok|ok requests=0|error unknown point "nosuch"|' ] || st=1
[ $st -eq 0 ] || sed "s/^/#   /" "$dir/out" "$dir/err"
verdict sim_ready_and_fifo_control $st

# SIGTERM: exits 0 and removes the pty symlink and the FIFO it created.
kill -TERM "$sim"
wait "$sim"
st=$?
[ ! -e "$dir/tty0" ] && [ ! -L "$dir/tty0" ] && [ ! -e "$dir/ctl" ] || st=1
verdict sim_sigterm_cleans_up $st

# A port already in use: message on stderr, exit 1, nothing left behind.
"$SIM" --config "$dir/site.conf" >"$dir/out1" 2>/dev/null </dev/null &
first=$!
pids="$pids $first"
wait_line "$dir/out1" '^ready$'
"$SIM" --config "$dir/site.conf" >/dev/null 2>"$dir/err2" </dev/null
st=$?
[ "$st" -eq 1 ] && grep -q "Address already in use" "$dir/err2" && st=0 || st=1
kill -TERM "$first"
wait "$first"
verdict sim_port_in_use_exits_1 $st

# An invalid config: the loader's message, exit 1.
echo 'site = { id = "x" ' >"$dir/bad.conf"
"$SIM" --config "$dir/bad.conf" >/dev/null 2>"$dir/err3" </dev/null
st=$?
[ "$st" -eq 1 ] && grep -q "bad.conf" "$dir/err3" && st=0 || st=1
verdict sim_bad_config_exits_1 $st

exit $failed
