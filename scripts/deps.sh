#!/bin/sh
# Installs what vigil needs to build, test and run its demo, but only what is
# missing, so a second run costs nothing (and prints nothing):
#   deps.sh        the Debian packages, chromium for the console's browser
#                  test, and the npm packages of console/ and tests/console/
#   deps.sh deb    also the tools that build the Debian package (make deb)
#   deps.sh fuzz   also clang and its libFuzzer runtime (make fuzz)
#   deps.sh npm    only the npm packages (make console)
# npm packages come from each directory's package-lock.json (npm ci).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# apt_missing PKG...: installs those not installed yet.
apt_missing() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "deps: installing$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# npm_ci DIR: DIR's packages exactly as its lock file pins them, unless
# node_modules already holds them (npm writes its own copy of the lock last).
npm_ci() {
    [ "$top/$1/node_modules/.package-lock.json" -nt "$top/$1/package-lock.json" ] && return 0
    echo "deps: npm ci in $1"
    (cd "$top/$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ "${1:-}" = npm ]; then
    npm_ci console
    exit 0
fi
PKGS="build-essential pkg-config libmodbus-dev libpaho-mqtt-dev libconfig-dev libjansson-dev
      libsystemd-dev libcurl4-openssl-dev zlib1g-dev libsodium-dev libssl-dev mosquitto mosquitto-clients influxdb jq systemd man-db"
[ "${1:-}" = deb ] && PKGS="$PKGS dpkg-dev debhelper"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-dev"
# shellcheck disable=SC2086
apt_missing $PKGS
# On a line of its own: a machine that cannot get chromium still gets
# everything above, and tests/it_console.sh then skips, saying why.
apt_missing chromium || echo "deps: chromium could not be installed: the console's browser test will be skipped"
npm_ci console
npm_ci tests/console
