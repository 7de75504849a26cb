#!/bin/sh
# The packaged systemd files, checked offline with systemd's own tools: the
# unit the Makefile generates verifies (binary, directives, documentation),
# its sandbox rates "OK" (exposure <= 2.0), sysusers creates the vigil account
# in group dialout, tmpfiles hands it the config, and the man pages format
# cleanly. Nothing is installed or started on this machine. Without
# systemd-analyze the whole script is skipped (exit 77); a check whose tool
# is missing is reported as skipped.
set -u
VIGIL_TOP=${VIGIL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
VIGIL_BUILD=${VIGIL_BUILD:-$VIGIL_TOP/build}
MAX_EXPOSURE=2.0
FAILED=0

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "# skip systemd checks: systemd-analyze not installed"
    exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PREFIX="$TMP/prefix"
UNIT="$TMP/build/vigild.service"
export SYSTEMD_COLORS=0

# pass NAME / fail NAME WHY / skip NAME WHY: one verdict line in the
# tests/harness.h format.
pass() { echo "ok - $1"; }
skip() { echo "ok - $1 # SKIP $2"; }
fail() {
    echo "not ok - $1: $2"
    FAILED=$((FAILED + 1))
}

# The unit as `make install PREFIX=...` would install it, pointing at a copy of
# the vigild under test (systemd-analyze verify wants ExecStart to exist).
make_unit() {
    make -s -C "$VIGIL_TOP" BUILD="$TMP/build" PREFIX="$PREFIX" "$UNIT" >"$TMP/make.out" 2>&1 ||
        { fail "make generates the unit" "$(cat "$TMP/make.out")"; return 1; }
    if grep -q '@SBINDIR@' "$UNIT" || ! grep -qx "ExecStart=$PREFIX/sbin/vigild --config /etc/vigil/site.conf" "$UNIT"; then
        fail "make generates the unit" "ExecStart not substituted: $(grep '^ExecStart' "$UNIT")"
        return 1
    fi
    pass "make generates the unit with ExecStart under PREFIX"
    [ -x "$VIGIL_BUILD/vigild" ] || { fail "unit checks" "$VIGIL_BUILD/vigild not built"; return 1; }
    mkdir -p "$PREFIX/sbin" && cp "$VIGIL_BUILD/vigild" "$PREFIX/sbin/vigild"
}

# The directives vigild depends on, beyond what the security rating sees.
check_essentials() {
    missing=""
    for line in Type=notify WatchdogSec=30 Restart=always LimitNOFILE=1023 StateDirectory=vigil \
                User=vigil SupplementaryGroups=dialout DevicePolicy=closed; do
        grep -qx "$line" "$UNIT" || missing="$missing $line"
    done
    if [ -z "$missing" ]; then
        pass "unit is Type=notify with watchdog, restart, fd limit, state dir and serial access"
    else
        fail "unit essentials" "missing:$missing"
    fi
}

# systemd-analyze verify with the man pages on MANPATH, so Documentation= is
# checked too. Any output at all (even an "ignoring" warning) fails.
check_verify() {
    mkdir -p "$TMP/man/man1" "$TMP/man/man5" "$TMP/man/man8"
    cp "$VIGIL_TOP/man/vigilctl.1" "$TMP/man/man1/"
    cp "$VIGIL_TOP/man/vigil.conf.5" "$TMP/man/man5/"
    cp "$VIGIL_TOP/man/vigild.8" "$TMP/man/man8/"
    man_opt=--man=yes
    command -v man >/dev/null 2>&1 || man_opt=--man=no
    out=$(MANPATH="$TMP/man" systemd-analyze verify "$man_opt" "$UNIT" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        pass "unit verifies ($man_opt)"
    else
        fail "unit verifies" "status $rc: $out"
    fi
}

# The overall exposure from `systemd-analyze security`, 0.0 (best) to 10.0.
check_security() {
    systemd-analyze security --offline=yes "$UNIT" >"$TMP/security.out" 2>&1
    x=$(sed -n 's/.*Overall exposure level for vigild\.service: \([0-9.]*\).*/\1/p' "$TMP/security.out")
    if [ -z "$x" ]; then
        fail "exposure rating" "no overall exposure in: $(tail -n 3 "$TMP/security.out")"
    elif awk -v x="$x" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(x <= max) }'; then
        pass "exposure $x <= $MAX_EXPOSURE"
    else
        fail "exposure $x <= $MAX_EXPOSURE" "$(grep '✗' "$TMP/security.out")"
    fi
}

# sysusers into an empty root: the account exists, with its home, in dialout.
check_sysusers() {
    if ! command -v systemd-sysusers >/dev/null 2>&1; then
        skip "sysusers creates user vigil in group dialout" "systemd-sysusers not installed"
        return
    fi
    mkdir -p "$TMP/root/etc"
    systemd-sysusers --root="$TMP/root" - <"$VIGIL_TOP/systemd/vigil.sysusers.conf" >"$TMP/sysusers.out" 2>&1
    if grep -q '^vigil:x:[0-9]*:[0-9]*:[^:]*:/var/lib/vigil:' "$TMP/root/etc/passwd" 2>/dev/null &&
       grep -Eq '^dialout:x:[0-9]+:(.*,)?vigil(,|$)' "$TMP/root/etc/group"; then
        pass "sysusers creates user vigil in group dialout"
    else
        fail "sysusers creates user vigil in group dialout" "$(cat "$TMP/sysusers.out")"
    fi
}

# tmpfiles against the same root: site.conf becomes root:vigil 0640 in a
# root:vigil 0750 directory. Changing owners needs root.
check_tmpfiles() {
    if ! command -v systemd-tmpfiles >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ] || [ ! -f "$TMP/root/etc/group" ]; then
        skip "tmpfiles gives group vigil read access to site.conf" "needs systemd-tmpfiles, root and the sysusers root"
        return
    fi
    gid=$(sed -n 's/^vigil:x:\([0-9]*\):.*/\1/p' "$TMP/root/etc/group")
    mkdir -p "$TMP/root/etc/vigil"
    : >"$TMP/root/etc/vigil/site.conf"
    chmod 600 "$TMP/root/etc/vigil/site.conf"
    systemd-tmpfiles --root="$TMP/root" --create - <"$VIGIL_TOP/systemd/vigil.tmpfiles.conf" >"$TMP/tmpfiles.out" 2>&1
    got="$(stat -c '%a %u:%g' "$TMP/root/etc/vigil") $(stat -c '%a %u:%g' "$TMP/root/etc/vigil/site.conf")"
    if [ "$got" = "750 0:$gid 640 0:$gid" ]; then
        pass "tmpfiles gives group vigil read access to site.conf"
    else
        fail "tmpfiles gives group vigil read access to site.conf" "got '$got', want '750 0:$gid 640 0:$gid'"
    fi
}

# groff in its strictest warning mode must have nothing to say.
check_man() {
    if ! command -v groff >/dev/null 2>&1; then
        skip "man pages format without warnings" "groff not installed"
        return
    fi
    out=""
    for page in "$VIGIL_TOP"/man/vigild.8 "$VIGIL_TOP"/man/vigilctl.1 "$VIGIL_TOP"/man/vigil.conf.5; do
        out="$out$(groff -man -ww -z "$page" 2>&1)"
    done
    if [ -z "$out" ]; then
        pass "man pages format without warnings"
    else
        fail "man pages format without warnings" "$out"
    fi
}

if make_unit; then
    check_essentials
    check_verify
    check_security
fi
check_sysusers
check_tmpfiles
check_man
[ "$FAILED" -eq 0 ]
