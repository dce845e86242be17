#!/bin/bash
# test-sanitizers.sh - builds pgring with AddressSanitizer + UBSan in ./build-asan
# and runs the whole test suite on it: unit tests, and the integration
# scenarios on both event backends with workers = $WORKERS (default 4: the
# threads, their inboxes and their exit; scripts/test.sh runs workers = 1
# and valgrind-scenarios.sh checks its memory).  Any sanitizer report fails the run,
# including one from a pgring instance the suite started (they write to
# $SANITIZER_LOG_DIR, which suite.sh checks after each scenario and this
# script checks once more at the end).
# Ends with "sanitizers: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)

# Reports go to files the service user (pgring drops to postgres as root)
# can write, one per process: asan.PID.
SANITIZER_LOG_DIR=$(mktemp -d /tmp/pgring-asan.XXXXXX)
chmod 1777 "$SANITIZER_LOG_DIR"
trap 'rm -rf "$SANITIZER_LOG_DIR"' EXIT
export SANITIZER_LOG_DIR
# Leak checking at exit is on: every exit (a shutdown, a signal, a fatal
# error, a start that fails) closes every connection and frees everything
# pgring allocated, so any LeakSanitizer report is a real leak.
# SANITIZER_LEAKS=0 turns it off.
export ASAN_OPTIONS="log_path=$SANITIZER_LOG_DIR/asan:halt_on_error=1:detect_leaks=${SANITIZER_LEAKS:-1}:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$SANITIZER_LOG_DIR/ubsan:halt_on_error=1:print_stacktrace=1"

export WORKERS=${WORKERS:-4}

# the same run as scripts/test.sh, one suite pass; warnings are the main
# build's business
PGRING_BUILD_DIR=build-asan PGRING_CONFIGURE_FLAGS=--enable-sanitizers PGRING_TEST_LABEL=sanitizers \
	PGRING_SUITES=test/integration/suite.sh "$src/scripts/test.sh"
