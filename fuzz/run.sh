#!/bin/bash
# fuzz/run.sh - builds pgring's libFuzzer harnesses with clang (ASan + UBSan)
# in their own build directory, replays the committed corpora and the inputs
# of past crashes, then fuzzes each harness for a bounded time, one at a time.
#
#   fuzz/run.sh                  replay, then fuzz each harness FUZZ_SECONDS
#   fuzz/run.sh --replay         replay only (no new inputs; a few seconds)
#   fuzz/run.sh --seeds          regenerate fuzz/corpus from gen_corpus.c
#
#   FUZZ_SECONDS=60              time per harness
#   FUZZ_TARGETS="frontend ..."  a subset (frontend backend scram config userlist admin metrics)
#   FUZZ_BUILD=DIR               build directory (default build-fuzz/, git-ignored)
#
# A crash leaves its input in $FUZZ_BUILD/crashes/; once fixed, copy it into
# fuzz/regress/NAME/ so every later run replays it.  Ends with
# "fuzz: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
build=${FUZZ_BUILD:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-frontend backend scram config userlist admin metrics}
mode=fuzz
case "${1:-}" in
--replay) mode=replay ;;
--seeds) mode=seeds ;;
"") ;;
*) echo "usage: fuzz/run.sh [--replay|--seeds]" >&2; exit 2 ;;
esac

CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: no $CC (scripts/install-deps.sh installs clang)" >&2; exit 1; }
mkdir -p "$build/crashes"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
# auth.c's constant-time compare uses & on booleans on purpose
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-bitwise-instead-of-logical -Isrc -Ifuzz"
libsrc="src/proto.c src/auth.c src/userlist.c src/config.c src/hba.c src/hosts.c src/admin_parse.c src/metrics_text.c"
libs="$(pkg-config --libs inih libcrypto libidn 2>/dev/null || echo -linih -lcrypto -lidn) -lm"

if [ "$mode" = seeds ]; then
	# shellcheck disable=SC2086
	$CC $cflags $san -o "$build/gen_corpus" fuzz/gen_corpus.c $libsrc $libs
	rm -rf fuzz/corpus.new && mkdir -p fuzz/corpus.new
	"$build/gen_corpus" fuzz/corpus.new
	for t in fuzz/corpus.new/*; do
		mkdir -p "fuzz/corpus/$(basename "$t")"
		cp "$t"/* "fuzz/corpus/$(basename "$t")/"
	done
	rm -rf fuzz/corpus.new
	echo "fuzz: seeds written to fuzz/corpus"
	exit 0
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
for t in $targets; do
	bin=$build/fuzz_$t
	# shellcheck disable=SC2086
	if ! $CC $cflags -fsanitize=fuzzer $san -o "$bin" "fuzz/fuzz_$t.c" $libsrc $libs; then
		echo "fuzz: $t: build failed"
		failed=$((failed + 1))
		continue
	fi
	dirs=()
	for d in "fuzz/corpus/$t" "fuzz/regress/$t"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	[ ${#dirs[@]} -gt 0 ] || { echo "fuzz: $t: no corpus"; failed=$((failed + 1)); continue; }
	# replay every committed input: seeds and the inputs of fixed crashes
	if ! "$bin" -runs=0 "${dirs[@]}" >"$build/$t.replay.log" 2>&1; then
		echo "fuzz: $t: replaying ${dirs[*]} failed"
		tail -n 40 "$build/$t.replay.log"
		failed=$((failed + 1))
		continue
	fi
	if [ "$mode" = replay ]; then
		echo "fuzz: $t: replayed $(find "${dirs[@]}" -type f | wc -l) inputs"
		passed=$((passed + 1))
		continue
	fi
	work=$build/corpus/$t
	mkdir -p "$work"
	rc=0
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		-print_final_stats=1 -artifact_prefix="$build/crashes/$t-" \
		"$work" "${dirs[@]}" >"$build/$t.log" 2>&1 || rc=$?
	execs=$(awk '/^stat::number_of_executed_units/ { print $2 }' "$build/$t.log")
	cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -n 1 || true)
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $t: FAILED after ${execs:-?} executions; the input is in $build/crashes/"
		grep -A 30 -m 1 'ERROR: \|runtime error\|SUMMARY' "$build/$t.log" || tail -n 40 "$build/$t.log"
		failed=$((failed + 1))
	else
		echo "fuzz: $t: ${execs:-?} executions in ${seconds}s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) files"
		passed=$((passed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
