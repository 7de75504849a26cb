#!/bin/sh
# Installs the Debian packages vigil needs to build, test and run its demo,
# but only those that are missing, so a second run costs nothing.
# `deps.sh deb` adds the tools that build the Debian package (make deb);
# `deps.sh fuzz` adds clang and its libFuzzer runtime (make fuzz).
set -eu
PKGS="build-essential pkg-config libmodbus-dev libpaho-mqtt-dev libconfig-dev libjansson-dev
      libsystemd-dev libcurl4-openssl-dev zlib1g-dev libsodium-dev libssl-dev mosquitto mosquitto-clients influxdb jq systemd man-db"
[ "${1:-}" = deb ] && PKGS="$PKGS dpkg-dev debhelper"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
