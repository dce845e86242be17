#!/bin/bash
# test.sh - installs what is missing, builds pgring in ./build and runs every test.
# Ends with "tests: N passed, N failed"; exits non-zero if anything failed
# (and, when CI=true, if anything was skipped: CI has all it needs).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

if [ -f config.status ]; then
	echo "test.sh: the source tree is configured in place; run 'make distclean' there first" >&2
	exit 1
fi
./autogen.sh
mkdir -p build
cd build
../configure --enable-werror
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

if [ "$skipped" -gt 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "test.sh: $skipped skipped; in CI nothing may skip"
		failed=$((failed + skipped))
	else
		echo "test.sh: $skipped skipped"
	fi
fi
[ "$passed" -gt 0 ] || { echo "test.sh: no test results found"; failed=$((failed + 1)); }
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$check_rc" -eq 0 ]
