#!/bin/bash
# device-kit.sh - packs what bench/device-run.sh needs on a bare, offline machine into
# bench/devkit/ (git-ignored): the device kit of make-device-kit.sh (PostgreSQL, pgbench,
# PgBouncer and their libraries) and tools.tar.gz (pgring, nullpg, pgload, perf, strace, ss,
# taskset, lscpu and every library they need beyond glibc).
#
# usage: bench/device-kit.sh [--build DIR (default build)] [--kit-script PATH]
#                            [--pgkit FILE (a pgkit.tar.xz made already)]
# then carry bench/devkit to the device and run bench/device-run.sh there.
set -euo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$SRC_DIR/build PGKIT="" KIT_SCRIPT=""
for k in "$SRC_DIR/../shared/tools/make-device-kit.sh" /work/shared/tools/make-device-kit.sh; do
	[ -x "$k" ] && { KIT_SCRIPT=$k; break; }
done
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift ;;
	--kit-script) KIT_SCRIPT=$2; shift ;;
	--pgkit) PGKIT=$2; shift ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "device-kit.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
DK=$SRC_DIR/bench/devkit
for f in pgring bench/nullpg bench/pgload; do
	[ -x "$BUILD/$f" ] || { echo "device-kit.sh: no $BUILD/$f (make in $BUILD)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -z "$PGKIT" ] || cp "$PGKIT" "$work/pgkit.tar.xz" || exit 1	# it may lie in $DK
rm -rf "$DK" && mkdir -p "$DK"
if [ -n "$PGKIT" ]; then
	mv "$work/pgkit.tar.xz" "$DK/pgkit.tar.xz"
else
	[ -n "$KIT_SCRIPT" ] || { echo "device-kit.sh: no make-device-kit.sh (--kit-script)" >&2; exit 1; }
	"$KIT_SCRIPT" "$DK" >/dev/null
fi

mkdir -p "$work/dk/bin" "$work/dk/lib"
cp "$BUILD/pgring" "$BUILD/bench/nullpg" "$BUILD/bench/pgload" "$work/dk/bin/"
for t in perf strace ss taskset lscpu; do
	p=$(command -v "$t" || true)
	[ -n "$p" ] && cp -L "$p" "$work/dk/bin/" || echo "device-kit.sh: no $t here, not packed" >&2
done
skip='^(libc|libm|libpthread|libdl|librt|ld-linux.*|libresolv|libutil)\.so'
for f in "$work"/dk/bin/*; do ldd "$f" 2>/dev/null | awk '/=> \//{ print $3 }'; done | sort -u |
	while read -r lib; do
		base=$(basename "$lib")
		[[ $base =~ $skip ]] && continue
		cp -L "$lib" "$work/dk/lib/$base"
	done
{
	echo "pgring: $(cd "$SRC_DIR" && git describe --always --dirty 2>/dev/null) ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo "built on: $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
} >"$work/dk/VERSION"
tar -C "$work" -czf "$DK/tools.tar.gz" dk
du -shc "$DK"/* | sed "s|$SRC_DIR/||"
