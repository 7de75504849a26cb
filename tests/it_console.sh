#!/usr/bin/env bash
# The guard console (console/) in a real browser: Debian's chromium driven
# by playwright-core (tests/console/*.mjs) against mosquitto, whose
# websockets listener serves the built page (http_dir) and speaks MQTT to
# it, the simulator and vigild. The page is opened on http://127.0.0.1:
# browsers count loopback as a secure context, so WebCrypto (the operator's
# Ed25519 key) works there without a test certificate; a real post is
# served over HTTPS/WSS (docs/console.md).
#
# Screenshots go to $WORK/screenshots (kept with KEEP_WORK=1) and a copy to
# build/console-screenshots/.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "# $CHROMIUM is missing (scripts/deps.sh could not install Debian's chromium): the console cannot be tested in a browser"
    exit 77
fi
[ -f "$VIGIL_BUILD/console/index.html" ] ||
    bail "no console in $VIGIL_BUILD/console: run make console BUILD=$VIGIL_BUILD"
[ -d "$VIGIL_TOP/tests/console/node_modules/playwright-core" ] ||
    bail "tests/console has no node_modules: run scripts/deps.sh"

OPERATOR=off-kovac
SITE=test-depot

site_setup
export WORK CHROMIUM SITE OPERATOR VIGIL_TOP
export PROFILE="$WORK/chromium-profile" KEYLINE_FILE="$WORK/keyline" SHOTS_COPY="$VIGIL_TOP/build/console-screenshots"

# The site signs what it publishes (docs/mqtt.md, "Signed payloads"); the
# console has its public key, and the test its secret key, to publish
# hand-made events as the site would (tests/console/console.mjs).
"$VIGIL_BUILD/vigilctl" key new gateway --dir "$WORK" >"$WORK/gateway.txt" || bail "vigilctl key new failed"
SITE_KEY=$(sed -n 's/.*key = "\([^"]*\)".*/\1/p' "$WORK/gateway.txt")
[ -n "$SITE_KEY" ] || bail "vigilctl key new printed no public key: $(cat "$WORK/gateway.txt")"
export SITE_SECRET_FILE="$WORK/gateway.key"

# The page and its config: the site to show with its public key, its heartbeat. Mosquitto
# started as root reads http_dir as its own user: the work directory must
# let it through.
cp -r "$VIGIL_BUILD/console" "$WORK/www"
chmod 711 "$WORK"
chmod -R a+rX "$WORK/www"
printf '{"prefix":"vigil","sites":[{"id":"%s","public_key":"%s"}],"language":"en","heartbeat_s":20}\n' \
    "$SITE" "$SITE_KEY" >"$WORK/www/console.json"
WS_PORT=$(free_port)
BROKER_EXTRA="listener $WS_PORT
protocol websockets
http_dir $WORK/www"
start_broker || bail "mosquitto did not start: $(cat "$WORK/mosquitto.log")"
wait_port "$WS_PORT" 10 || bail "mosquitto's websockets listener did not open: $(cat "$WORK/mosquitto.log")"
export CONSOLE_URL="http://127.0.0.1:$WS_PORT" BROKER_PORT BROKER_PID

# run_node SCRIPT: one script of tests/console, bounded; its TAP lines are this test's.
run_node() {
    (cd "$VIGIL_TOP/tests/console" && timeout -k 5 55 node "$1") 2>&1
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
    return "$rc"
}

run_node model.mjs
export VECTORS="$VIGIL_TOP/tests/cmdgate_vectors.txt"
run_node enrol.mjs
[ -s "$KEYLINE_FILE" ] || bail "the enrolment page gave no key line"

prepare_site "$VIGIL_TOP/tests/sites/spine.conf" "$NO_CHATTER"
sign_site "$SITE_SECRET_FILE"
# The site knows the operator by the key the browser made: it accepts only signed commands.
printf 'operators = ( %s );\n' "$(sed 's/,$//' "$KEYLINE_FILE")" >>"$WORK/site.conf"
launch_site "$WORK/site.conf"
export SIM_CTL="$WORK/sim.ctl" VIGILD_PID
wait_retained "^1 vigil/$SITE/status .*\"state\":\"online\"" 10 || bail "vigild did not come online"
wait_retained "^1 vigil/$SITE/zones/store1 " 10 || bail "vigild published no zones"

# The browser test kills vigild (SIGKILL) and stops the broker: disowned,
# bash prints no "Killed" notice (cleanup still stops them by PID if they live).
disown "$VIGILD_PID" "$BROKER_PID"
run_node console.mjs
finish
