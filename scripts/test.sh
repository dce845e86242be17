#!/bin/bash
# test.sh - installs what is missing, builds pgring in ./build and runs every test.
# Ends with "tests: N passed, N failed"; exits non-zero if anything failed
# (and, when CI=true, if anything was skipped: CI has all it needs).
#
# scripts/test-sanitizers.sh runs it again with another build directory,
# configure flags and label (PGRING_BUILD_DIR, PGRING_CONFIGURE_FLAGS,
# PGRING_TEST_LABEL); with SANITIZER_LOG_DIR set, any report there fails too.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
jobs=$(nproc 2>/dev/null || echo 2)
build=${PGRING_BUILD_DIR:-build}
label=${PGRING_TEST_LABEL:-tests}

scripts/install-deps.sh

if [ -f config.status ]; then
	echo "$label: the source tree is configured in place; run 'make distclean' there first" >&2
	exit 1
fi
./autogen.sh
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086 # the flags are words
../configure ${PGRING_CONFIGURE_FLAGS:---enable-werror}
make -j"$jobs"

check_rc=0
make -j"$jobs" check VERBOSE=1 || check_rc=$?

# Count the results automake wrote: one line per unit program, one per TAP test.
read -r passed failed skipped < <(
	find . -name '*.trs' -exec cat {} + 2>/dev/null | awk '
		/^:test-result: (PASS|XFAIL)/ { p++ }
		/^:test-result: (FAIL|ERROR|XPASS)/ { f++ }
		/^:test-result: SKIP/ { s++ }
		END { printf "%d %d %d\n", p, f, s }')

if [ -n "${SANITIZER_LOG_DIR:-}" ]; then
	reports=$(find "$SANITIZER_LOG_DIR" -type f -size +0 | sort)
	if [ -n "$reports" ]; then
		echo "$label: sanitizer reports:"
		for r in $reports; do
			echo "--- $r"
			head -n 60 "$r"
		done
		failed=$((failed + $(echo "$reports" | wc -l)))
	fi
fi
if [ "$skipped" -gt 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "$label: $skipped skipped; in CI nothing may skip"
		failed=$((failed + skipped))
	else
		echo "$label: $skipped skipped"
	fi
fi
[ "$passed" -gt 0 ] || { echo "$label: no test results found"; failed=$((failed + 1)); }
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$check_rc" -eq 0 ]
