#!/bin/bash
# test-tsan.sh - builds pgring with ThreadSanitizer in ./build-tsan and runs
# the test suite on it (unit tests, and the integration scenarios on both
# event backends) with workers = $WORKERS.  Any ThreadSanitizer report fails
# the run, including one from a pgring instance the suite started (they write
# to $SANITIZER_LOG_DIR, which suite.sh checks after each scenario and
# test.sh once more at the end).  SCENARIOS="a b" limits the integration part
# to those scenarios, as with suite.sh.
#
# WORKERS defaults to 4 (one suite pass, both backends): with one worker the
# only threads are the KDF pool's.
# Ends with "tsan: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)

SANITIZER_LOG_DIR=$(mktemp -d /tmp/pgring-tsan.XXXXXX)
chmod 1777 "$SANITIZER_LOG_DIR"
trap 'rm -rf "$SANITIZER_LOG_DIR"' EXIT
export SANITIZER_LOG_DIR
export WORKERS=${WORKERS:-4}
# one report per process (tsan.PID); a race is a failure, so stop at the first
export TSAN_OPTIONS="log_path=$SANITIZER_LOG_DIR/tsan:halt_on_error=1:second_deadlock_stack=1"

PGRING_BUILD_DIR=build-tsan PGRING_CONFIGURE_FLAGS=--enable-tsan PGRING_TEST_LABEL=tsan \
	PGRING_SUITES=test/integration/suite.sh "$src/scripts/test.sh"
