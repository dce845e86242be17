#!/bin/bash
# test.sh - installs what is missing, builds pgring in ./build and runs every test:
# the unit tests, then the integration suite on both event backends at
# workers = 1 (suite.sh) and at workers = 4 (suite-w4.sh), the two side by side.
# Ends with "tests: N passed, N failed"; exits non-zero if anything failed
# (and, when CI=true, if anything was skipped: CI has all it needs).
#
# scripts/test-sanitizers.sh and scripts/test-tsan.sh run it again with
# another build directory, configure flags and label (PGRING_BUILD_DIR,
# PGRING_CONFIGURE_FLAGS, PGRING_TEST_LABEL) and one suite pass
# (PGRING_SUITES: the integration drivers make check runs); with
# SANITIZER_LOG_DIR set, any report there fails too.  PGRING_NO_SETUP=1 skips
# install-deps.sh and autogen.sh: for passes that run side by side in one
# tree (.ci/run), after one setup.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
jobs=$(nproc 2>/dev/null || echo 2)
build=${PGRING_BUILD_DIR:-build}
label=${PGRING_TEST_LABEL:-tests}

suites=${PGRING_SUITES:-test/integration/suite.sh test/integration/suite-w4.sh}

if [ "${PGRING_NO_SETUP:-0}" != 1 ]; then
	scripts/install-deps.sh
fi
if [ -f config.status ]; then
	echo "$label: the source tree is configured in place; run 'make distclean' there first" >&2
	exit 1
fi
if [ "${PGRING_NO_SETUP:-0}" != 1 ] || [ ! -x configure ]; then
	./autogen.sh
fi
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086 # the flags are words
../configure ${PGRING_CONFIGURE_FLAGS:---enable-werror}
make -j"$jobs"

check_rc=0
# a result file of an earlier run must not be counted for this one
find . -name '*.trs' -delete
# shellcheck disable=SC2016 # make expands $(UNIT_TESTS)
make -j"$jobs" check VERBOSE=1 TESTS='$(UNIT_TESTS) '"$suites" || check_rc=$?

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
