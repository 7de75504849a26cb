#!/bin/sh
# make install with another PREFIX than the build's: a plain `make` (PREFIX
# /usr/local) followed by `make install PREFIX=/usr` must install a vigild
# whose default profile directory is /usr/share/vigil/profiles, where the
# same install put the profiles. Everything goes into a private build
# directory and a DESTDIR under a temporary directory; nothing is installed
# on this machine. The last case runs the installed vigild against the
# installed profiles in a private mount namespace (needs root; otherwise it
# is skipped).
set -u
VIGIL_TOP=${VIGIL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
FAILED=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
B="$TMP/build"
ROOT="$TMP/root"
VIGILD="$ROOT/usr/sbin/vigild"

# pass NAME / fail NAME WHY: one verdict line in the tests/harness.h format.
pass() { echo "ok - $1"; }
fail() {
    echo "not ok - $1: $2"
    FAILED=$((FAILED + 1))
}

# The build and the install as a user would type them, in a build directory
# of their own so the tree under test keeps its objects.
build_and_install() {
    make -s -j2 -C "$VIGIL_TOP" BUILD="$B" "$B/vigild" "$B/vigilctl" "$B/vigil-sim" >"$TMP/make.out" 2>&1 &&
        make -s -C "$VIGIL_TOP" BUILD="$B" DESTDIR="$ROOT" PREFIX=/usr install >>"$TMP/make.out" 2>&1 ||
        { fail "plain make, then make install PREFIX=/usr" "$(tail -n 20 "$TMP/make.out")"; return 1; }
    if [ -x "$VIGILD" ] && diff -r "$VIGIL_TOP/sensors/profiles" "$ROOT/usr/share/vigil/profiles" >"$TMP/diff.out"; then
        pass "make install PREFIX=/usr puts vigild in /usr/sbin and the profiles in /usr/share/vigil/profiles"
    else
        fail "installed vigild and profiles" "$(ls -R "$ROOT" | head -n 20; cat "$TMP/diff.out")"
        return 1
    fi
}

# A site config without profile_dir, away from any source tree, so vigild
# falls back to its compiled-in default.
write_site() {
    mkdir -p "$TMP/etc"
    cp "$VIGIL_TOP/config/demo-site.conf" "$TMP/etc/site.conf"
    sed 's/profile = "din16"/profile = "no-such-model"/' "$TMP/etc/site.conf" >"$TMP/etc/unknown.conf"
}

# An unknown profile makes vigild name the directory it looked in: the
# install's, not the plain build's /usr/local.
check_default_dir() {
    out=$("$VIGILD" --check-config "$TMP/etc/unknown.conf" 2>&1)
    want="no /usr/share/vigil/profiles/no-such-model.conf"
    case "$out" in
    *"$want"*) pass "installed vigild looks for profiles in /usr/share/vigil/profiles" ;;
    *) fail "installed vigild looks for profiles in /usr/share/vigil/profiles" "got: $out" ;;
    esac
}

# The installed tree's /usr/share over the machine's, in a mount namespace of
# this command alone: the installed vigild checks the site against the
# profiles the install put there.
check_finds_profiles() {
    name="installed vigild --check-config finds the installed profiles"
    if ! unshare -m true 2>/dev/null; then
        echo "ok - $name # SKIP needs root for a private mount namespace"
        return
    fi
    out=$(unshare -m sh -c 'mount --bind "$1/usr/share" /usr/share && "$2" --check-config "$3"' \
        sh "$ROOT" "$VIGILD" "$TMP/etc/site.conf" 2>&1)
    case "$out" in
    *': OK: site "demo-depot"'*) pass "$name" ;;
    *) fail "$name" "got: $out" ;;
    esac
}

if build_and_install; then
    write_site
    check_default_dir
    check_finds_profiles
fi
[ "$FAILED" -eq 0 ]
