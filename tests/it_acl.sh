#!/usr/bin/env bash
# The shipped broker ACL (config/mosquitto-acl.example) in a real mosquitto
# with a password file and two sites, depot-north (A) and depot-south (B):
# A cannot publish as B, cannot read B's commands, cannot inject B's
# retained alarms and cannot send commands; the station reads every site and
# sends commands, but cannot publish a site's events. A real vigild logging
# in as A works under the ACL, its second (inbound) client as A too, and
# answers the station's command; so does vigilctl status as the station.
# Each "never arrives" is checked after a permitted message sent later on
# the same topic has arrived.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

command -v mosquitto_passwd >/dev/null ||
    { echo "ok - broker ACL # SKIP needs mosquitto_passwd"; exit 77; }

start_acl_broker() {
    BROKER_PORT=$(free_port)
    : >"$WORK/passwd"
    for u in depot-north depot-south station; do
        mosquitto_passwd -b "$WORK/passwd" "$u" "pw-$u" || return 1
    done
    cat >"$WORK/mosquitto.conf" <<EOF
listener $BROKER_PORT 127.0.0.1
allow_anonymous false
password_file $WORK/passwd
acl_file $VIGIL_TOP/config/mosquitto-acl.example
persistence false
user root
log_dest stderr
EOF
    spawn "$WORK/mosquitto.log" mosquitto -c "$WORK/mosquitto.conf"
    BROKER_PID=$LAST_PID
    wait_port "$BROKER_PORT" 10
}

# login USER: the arguments that log a mosquitto client in as USER (no spaces in them).
login() {
    echo "-h 127.0.0.1 -p $BROKER_PORT -u $1 -P pw-$1 -q 1"
}

# as USER pub|sub ARGS...: a mosquitto client logged in as USER.
as() {
    local user=$1 tool=$2
    shift 2
    # shellcheck disable=SC2046
    "mosquitto_$tool" $(login "$user") "$@"
}

# listen USER NAME TOPIC: a subscriber as USER printing "topic payload" into
# $WORK/NAME, spawned itself (not through a shell function) so that the PID
# cleanup stops is the subscriber's.
listen() {
    # shellcheck disable=SC2046
    spawn "$WORK/$2" mosquitto_sub $(login "$1") -v -t "$3"
    sleep 0.5 # mosquitto_sub says nothing when it has subscribed
}

# after_control FILE CONTROL: waits until the permitted CONTROL payload is in FILE.
after_control() {
    wait_for "$WORK/$1" "$2" 5
}

site_setup
start_acl_broker || bail "mosquitto with the ACL did not start: $(cat "$WORK/mosquitto.log")"

# --- A publishes as B -------------------------------------------------------------
listen station south-events 'vigil/depot-south/events'
as depot-north pub -t vigil/depot-south/events -m forged-by-north
as depot-south pub -t vigil/depot-south/events -m real-south
after_control south-events real-south
! grep -q forged-by-north "$WORK/south-events"
check "site A's event published to vigil/B/events never reaches B's subscriber" $?

# --- A reads B's commands -----------------------------------------------------------
listen depot-north north-spy 'vigil/depot-south/cmd'
listen depot-south south-cmd 'vigil/depot-south/cmd'
as station pub -t vigil/depot-south/cmd -m disarm-south
after_control south-cmd disarm-south
sleep 0.3
! grep -q disarm-south "$WORK/north-spy"
check "site A does not receive B's commands (B does)" $?

# --- A injects B's retained alarms ---------------------------------------------------
as depot-north pub -r -t vigil/depot-south/alarms/store1-door.intrusion -m forged-normal
as depot-south pub -r -t vigil/depot-south/alarms/fence-z1.perimeter -m real-active
as station sub -v -t 'vigil/depot-south/alarms/#' -W 2 >"$WORK/south-retained" 2>/dev/null
grep -q real-active "$WORK/south-retained" && ! grep -q forged-normal "$WORK/south-retained"
check "site A's retained publish to vigil/B/alarms/x is not retained (B's own is)" $?

# --- A sends commands; the station publishes events -------------------------------------
listen station north-cmd 'vigil/depot-north/cmd'
as depot-north pub -t vigil/depot-north/cmd -m self-command
as station pub -t vigil/depot-north/cmd -m station-command
after_control north-cmd station-command
! grep -q self-command "$WORK/north-cmd"
check "a gateway cannot publish a command, not even to its own site" $?

listen station north-events 'vigil/depot-north/events'
as station pub -t vigil/depot-north/events -m forged-by-station
as depot-north pub -t vigil/depot-north/events -m real-north
after_control north-events real-north
! grep -q forged-by-station "$WORK/north-events"
check "the station cannot publish a site's events" $?

# --- a real gateway under the ACL ----------------------------------------------------------
mkdir -p "$WORK/state"
printf 'pw-depot-north\n' >"$WORK/north.pw"
chmod 600 "$WORK/north.pw"
cat >"$WORK/site.conf" <<EOF
site = { id = "depot-north"; state_dir = "$WORK/state"; };
mqtt = { brokers = ( { uri = "tcp://127.0.0.1:$BROKER_PORT"; username = "depot-north";
                       password_file = "$WORK/north.pw"; } ); };
EOF
listen station gateway 'vigil/depot-north/#'
start_vigild "$WORK/site.conf"
wait_for "$WORK/gateway" '^vigil/depot-north/status .*"state":"online"' 10 &&
    wait_for "$WORK/gateway" '^vigil/depot-north/events .*gateway_restarted' 5
check "vigild logged in as its site's user publishes its status and events under the ACL" $?
grep -q ' as vigil-depot-north\.in (.*u.depot-north.)' "$WORK/mosquitto.log"
check "vigild's inbound client (commands and receipts) logs in as the site's user too" $?
as station pub -t vigil/depot-north/cmd -m '{"id":"acl-1","op":"ack","alarm":"none.intrusion","operator":"station"}'
wait_for "$WORK/gateway" '^vigil/depot-north/cmd/result .*"id":"acl-1"' 5
check "under the ACL the station's command reaches the gateway and its result comes back" $?
! grep -q 'pw-depot-north' "$WORK/vigild.log"
check "the password from password_file is never logged" $?

# --- vigilctl with credentials -------------------------------------------------------------
printf 'pw-station\n' >"$WORK/station.pw"
chmod 600 "$WORK/station.pw"
run_tool "$WORK/status.out" "$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$BROKER_PORT" \
    --site depot-north --username station --password-file "$WORK/station.pw"
expect_output "vigilctl status logs in with --username and --password-file and reads the site" 0 'online'
! grep -q pw-station "$WORK/status.out"
check "vigilctl status never prints the password" $?
chmod 644 "$WORK/station.pw"
run_tool "$WORK/status-open.out" "$VIGIL_BUILD/vigilctl" status --broker "tcp://127.0.0.1:$BROKER_PORT" \
    --site depot-north --username station --password-file "$WORK/station.pw"
expect_output "a password file others can read is refused with the fix" 2 "chmod 600 $WORK/station.pw"

finish
