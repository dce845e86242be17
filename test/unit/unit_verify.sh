#!/bin/bash
# unit_verify.sh - the systemd unit as written, through systemd-analyze verify
# (no booted systemd needed).  verify checks that ExecStart= names an
# executable; the package's /usr/sbin/pgring is not installed here, so that
# path alone is pointed at the pgring just built, and the man pages of
# Documentation= are not looked up (--man=no).  debian/tests/smoke verifies
# the installed unit as it is.  Any output is a failure: verify reports
# unknown keys as warnings and still exits 0.  TAP.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
unit=$top_srcdir/etc/pgring.service
bin=$(cd "$top_builddir" && pwd)/pgring
echo "1..2"
if ! command -v systemd-analyze >/dev/null; then
	echo "not ok 1 - systemd-analyze is missing (scripts/install-deps.sh)"
	echo "not ok 2 - systemd-analyze is missing"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify FILE: systemd-analyze's words about it; non-empty or failing = broken
verify() {
	local out
	out=$(timeout 60 systemd-analyze verify --man=no "$1" 2>&1) || out="${out:-failed}"
	printf '%s' "$out"
}

sed "s|/usr/sbin/pgring|$bin|g" "$unit" >"$tmp/pgring.service"
out=$(verify "$tmp/pgring.service")
if [ -z "$out" ]; then
	echo "ok 1 - etc/pgring.service passes systemd-analyze verify"
else
	echo "not ok 1 - etc/pgring.service: systemd-analyze verify says:"
	printf '%s\n' "$out" | sed 's/^/# /'
fi

# the check can fail: a misspelt key in a copy is reported
mkdir "$tmp/broken"
sed 's/^Type=notify$/Typ=notify/' "$tmp/pgring.service" >"$tmp/broken/pgring.service"
out=$(verify "$tmp/broken/pgring.service")
case "$out" in
*Typ*) echo "ok 2 - a misspelt key is reported" ;;
*) echo "not ok 2 - a misspelt key went unreported: '$out'" ;;
esac
