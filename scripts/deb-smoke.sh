#!/bin/bash
# deb-smoke.sh - builds the Debian package from a copy of the tree, checks it
# with lintian, installs it and runs debian/tests/smoke (the installed pgring
# in front of a throwaway PostgreSQL, psql through it), then removes it again
# if it was not installed before.  Runs as root on Debian 12.
#   DEB_BUILD_OPTIONS=nocheck   skip the test suite inside the package build
#   KEEP_DEBSRC=1               leave the build copy and the .deb in place
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "deb-smoke: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root (it installs the package)"
command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null ||
	die "dpkg-dev and lintian are missing (scripts/install-deps.sh)"

work=$(mktemp -d /tmp/pgring-debsrc.XXXXXX)
was_installed=no
[ "$(dpkg-query -W -f='${Status}' pgring 2>/dev/null)" = "install ok installed" ] && was_installed=yes
cleanup() {
	if [ "${KEEP_DEBSRC:-0}" = 1 ]; then
		echo "deb-smoke: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# dpkg-buildpackage configures in the tree it builds; never let it touch the
# working tree (others build out of tree from it).  Tracked files and new
# files git does not ignore: what the next commit would hold.
echo "deb-smoke: copying the tree to $work/pgring"
mkdir "$work/pgring"
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
	(cd "$src" && xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) |
	tar -C "$src" --null --no-recursion -T - -cf - | tar -C "$work/pgring" -xf -
[ -f "$work/pgring/debian/control" ] || die "the copy has no debian/control"

echo "deb-smoke: dpkg-buildpackage (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
(cd "$work/pgring" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -n 80 "$work/build.log"
	die "the package build failed (log above)"
}
deb=$(ls "$work"/pgring_*.deb)
echo "deb-smoke: built $(basename "$deb")"

echo "deb-smoke: lintian"
lintian --fail-on error,warning --display-info "$deb" ||
	die "lintian reports errors or warnings"

echo "deb-smoke: installing"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" >"$work/install.log" 2>&1 || {
	tail -n 30 "$work/install.log"
	die "apt-get install failed"
}
rc=0
"$work/pgring/debian/tests/smoke" || rc=$?
if [ "$was_installed" = no ]; then
	echo "deb-smoke: removing the package again"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y pgring >/dev/null 2>&1 || rc=1
fi
[ "$rc" = 0 ] || die "the smoke test failed"
echo "deb-smoke: ok"
