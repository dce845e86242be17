#!/bin/bash
# test-sanitizers.sh - builds pgring with AddressSanitizer + UBSan in ./build-asan
# and runs the whole test suite on it: unit tests, and the integration
# scenarios on both event backends.  Any sanitizer report fails the run,
# including one from a pgring instance the suite started (they write to
# $SANITIZER_LOG_DIR, which suite.sh checks after each scenario and this
# script checks once more at the end).
# Ends with "sanitizers: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

if [ -f config.status ]; then
	echo "test-sanitizers.sh: the source tree is configured in place; run 'make distclean' there first" >&2
	exit 1
fi
./autogen.sh
mkdir -p build-asan
cd build-asan
# warnings are the main build's business (scripts/test.sh builds with -Werror)
../configure --enable-sanitizers
make -j"$jobs"

# Reports go to files the service user (pgring drops to postgres as root)
# can write, one per process: asan.PID.
SANITIZER_LOG_DIR=$(mktemp -d /tmp/pgring-asan.XXXXXX)
chmod 1777 "$SANITIZER_LOG_DIR"
trap 'rm -rf "$SANITIZER_LOG_DIR"' EXIT
export SANITIZER_LOG_DIR
# Leak checking at exit is off by default: pgring exits without freeing its
# config, auth_file, loop, listeners and pools (allocations that live as long
# as the process, not leaks that grow), and LeakSanitizer would report every
# instance.  Leaks that grow are caught by robust_many (fds and RSS over two
# rounds of thousands of connections) and by the fuzzers, which run with
# LeakSanitizer on.  SANITIZER_LEAKS=1 turns it on here too.
export ASAN_OPTIONS="log_path=$SANITIZER_LOG_DIR/asan:halt_on_error=1:detect_leaks=${SANITIZER_LEAKS:-0}:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$SANITIZER_LOG_DIR/ubsan:halt_on_error=1:print_stacktrace=1"

check_rc=0
make -j"$jobs" check VERBOSE=1 || check_rc=$?

read -r passed failed skipped < <(
	find . -name '*.trs' -exec cat {} + 2>/dev/null | awk '
		/^:test-result: (PASS|XFAIL)/ { p++ }
		/^:test-result: (FAIL|ERROR|XPASS)/ { f++ }
		/^:test-result: SKIP/ { s++ }
		END { printf "%d %d %d\n", p, f, s }')

reports=$(find "$SANITIZER_LOG_DIR" -type f -size +0 | sort)
if [ -n "$reports" ]; then
	echo "test-sanitizers.sh: sanitizer reports:"
	for r in $reports; do
		echo "--- $r"
		head -n 60 "$r"
	done
	failed=$((failed + $(echo "$reports" | wc -l)))
fi
if [ "$skipped" -gt 0 ] && [ "${CI:-}" = true ]; then
	echo "test-sanitizers.sh: $skipped skipped; in CI nothing may skip"
	failed=$((failed + skipped))
fi
[ "$passed" -gt 0 ] || { echo "test-sanitizers.sh: no test results found"; failed=$((failed + 1)); }
echo "sanitizers: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$check_rc" -eq 0 ]
