#!/usr/bin/env bash
# Signed, role-checked commands end to end (docs/commands.md): a site with
# operators, real mosquitto, the simulator and vigild; vigilctl signs with
# each operator's key. A guard acknowledges but cannot disarm; an officer
# disarms; an unsigned or forged disarm never opens the store, and the
# station hears of each attempt as a command_refused event.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

site_setup
prepare_site "$VIGIL_TOP/tests/sites/spine.conf"
CTL="$VIGIL_BUILD/vigilctl"
"$CTL" key new guard-ana --dir "$WORK" >"$WORK/guard.txt" || bail "vigilctl key new failed"
"$CTL" key new off-kovac --dir "$WORK" >"$WORK/officer.txt" || bail "vigilctl key new failed"
[ "$(stat -c %a "$WORK/guard-ana.key")" = 600 ]
check "vigilctl key new writes the secret key readable by its owner only" $?
{
    echo "operators = ("
    grep 'name = "guard-ana"' "$WORK/guard.txt"
    grep 'name = "off-kovac"' "$WORK/officer.txt" | sed -e 's/role = "guard"/role = "officer"/' -e 's/},$/}/'
    echo ");"
} >>"$WORK/site.conf"
launch_site "$WORK/site.conf"
wait_event '"type":"gateway_restarted"' 10 || bail "vigild did not start"

# op AS KEY ARGS...: vigilctl's operator command against the test site.
op() {
    local who=$1 key=$2
    shift 2
    "$CTL" "$@" --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot --operator "$who" --sign-key "$key" --timeout 5
}
zone_armed() {
    is_retained "^1 vigil/test-depot/zones/store1 .*\"armed\":$1"
}

sim set store1-door 1
wait_event '"alarm":"store1-door.intrusion".*"state":"active_unacked"' 5 || bail "no door alarm"
out=$(op guard-ana "$WORK/guard-ana.key" ack store1-door.intrusion --comment "seen on camera 2")
check "a guard's signed ack is done (exit $?: $out)" $?
wait_event '"alarm":"store1-door.intrusion".*"state":"active_acked".*"operator":"guard-ana"' 5
check "the station sees the alarm acknowledged by the guard" $?

out=$(op guard-ana "$WORK/guard-ana.key" disarm store1)
rc=$?
[ $rc -eq 1 ] && [ "$out" = 'refused: operator "guard-ana" (guard) may not disarm' ]
check "a guard cannot disarm the store, and is told why (exit $rc: $out)" $?
wait_event '"type":"command_refused".*"priority":"high".*disarm store1 by \\"guard-ana\\" refused: operator' 5
check "the station sees the guard's disarm attempt as a command_refused event" $?

send_cmd "{\"id\":\"u-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"off-kovac\",\"ts\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
wait_result '"id":"u-1","op":"disarm","ok":false,"error":"command is not signed; this site requires signatures"' 5
check "an unsigned disarm is refused with the reason" $?
# Signed by the guard's key under the officer's name: a forgery.
forged=$("$CTL" disarm store1 --broker "tcp://127.0.0.1:$BROKER_PORT" --site test-depot --operator off-kovac \
    --sign-key "$WORK/guard-ana.key" --timeout 5)
[ "$forged" = 'refused: bad signature for operator "off-kovac"' ]
check "a disarm signed with another operator's key is refused ($forged)" $?
zone_armed true
check "after every refused attempt the store is still armed" $?
[ "$(events | grep -c '"type":"command_refused"')" -ge 3 ]
check "every refused attempt reached the station" $?

out=$(op off-kovac "$WORK/off-kovac.key" disarm store1)
check "an officer's signed disarm is done ($out)" $?
wait_until 5 zone_armed false
check "the store is disarmed, retained for every console" $?
! events | grep '"type":"command_refused"' | grep -qE '"sig"|[A-Za-z0-9+/]{86}=='
check "no refusal event carries signature material" $?

sim set store1-tamper 1
wait_event '"alarm":"store1-tamper.tamper".*"state":"active_unacked"' 5 || bail "no tamper alarm"
out=$(op guard-ana "$WORK/guard-ana.key" shelve store1-tamper.tamper 600)
[ "$out" = "refused: a guard may not shelve a 24-hour alarm; ask an officer" ]
check "a guard cannot shelve the tamper loop of a 24-hour zone ($out)" $?
finish
