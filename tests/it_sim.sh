#!/usr/bin/env bash
# it_sim.sh - vigil-sim as a program: FIFO control, signals, start-up errors.
# (The Modbus side of the simulator is exercised by test_poller.)
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

SIM="$VIGIL_BUILD/vigil-sim"

# sim_bg LOG ARGS...: vigil-sim in the background, its stdout into LOG
# (stderr as the caller redirects it), stopped by cleanup; sets LAST_PID.
sim_bg() {
    local log=$1
    shift
    "$SIM" "$@" >"$log" &
    LAST_PID=$!
    SPAWNED="$LAST_PID $SPAWNED"
}

# reap PID: waits for PID, returns its status and drops it from cleanup's
# list (its PID may be reused).
reap() {
    wait "$1"
    local rc=$?
    SPAWNED=${SPAWNED/"$1 "/}
    return $rc
}

write_site() { # file, port, tty
    cat >"$1" <<EOF
site = { id = "it-sim"; state_dir = "$dir/state"; profile_dir = "$VIGIL_TOP/sensors/profiles"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:1"; } ); };
buses = ( { id = "lan"; type = "tcp"; host = "127.0.0.1"; port = $2; },
          { id = "line"; type = "rtu"; device = "$3"; } );
devices = ( { id = "io"; bus = "lan"; unit = 1; profile = "din16"; },
            { id = "th"; bus = "line"; unit = 3; profile = "th-rs485"; } );
points = ( { id = "door"; device = "io"; input = "di1"; kind = "digital"; },
           { id = "temp"; device = "th"; input = "temperature"; kind = "temperature"; } );
EOF
}

site_setup
dir=$WORK
port=$(free_port)
write_site "$dir/site.conf" "$port" "$dir/tty0"

# FIFO control: ready after the listeners and the pty link exist, one answer per command.
sim_bg "$dir/out" --config "$dir/site.conf" --control "$dir/ctl" 2>"$dir/err"
sim_pid=$LAST_PID
st=0
wait_for "$dir/out" '^ready$' 5 || st=1
[ -p "$dir/ctl" ] && [ -L "$dir/tty0" ] && [ -c "$(readlink "$dir/tty0")" ] || st=1
echo "set temp -3.5" >"$dir/ctl"
echo "stats io" >"$dir/ctl"
echo "set nosuch 1" >"$dir/ctl"
echo "fail io sideways" >"$dir/ctl"
wait_for "$dir/out" '^error unknown mode' 5 || st=1
[ "$(sed -n 2,4p "$dir/out" | tr '\n' '|')" = 'ok|ok requests=0|error unknown point "nosuch"|' ] || st=1
[ $st -eq 0 ] || sed "s/^/#   /" "$dir/out" "$dir/err"
check sim_ready_and_fifo_control $st

# SIGTERM: exits 0 and removes the pty symlink and the FIFO it created.
kill -TERM "$sim_pid"
reap "$sim_pid"
st=$?
[ ! -e "$dir/tty0" ] && [ ! -L "$dir/tty0" ] && [ ! -e "$dir/ctl" ] || st=1
check sim_sigterm_cleans_up $st

# A port already in use: message on stderr, exit 1, nothing left behind.
sim_bg "$dir/out1" --config "$dir/site.conf" 2>/dev/null </dev/null
first=$LAST_PID
wait_for "$dir/out1" '^ready$' 5
"$SIM" --config "$dir/site.conf" >/dev/null 2>"$dir/err2" </dev/null
st=$?
[ "$st" -eq 1 ] && grep -q "Address already in use" "$dir/err2" && st=0 || st=1
kill -TERM "$first"
reap "$first"
check sim_port_in_use_exits_1 $st

# An invalid config: the loader's message, exit 1.
echo 'site = { id = "x" ' >"$dir/bad.conf"
"$SIM" --config "$dir/bad.conf" >/dev/null 2>"$dir/err3" </dev/null
st=$?
[ "$st" -eq 1 ] && grep -q "bad.conf" "$dir/err3" && st=0 || st=1
check sim_bad_config_exits_1 $st

finish
