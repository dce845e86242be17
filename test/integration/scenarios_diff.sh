# scenarios_diff.sh - differential tests with PostgreSQL as the oracle: scripts
# of frontend messages played straight to PostgreSQL and through pgring must
# get the same backend messages (test/integration/difftest.py; sourced by suite.sh)
#
#   DIFF_RANDOM_SECONDS=60   how long diff_random generates runs (per backend)
#   DIFF_SEED=S              the first run's seed (default: random, printed)
#   DIFF_RUNS=N              stop after N runs (default: when the time is up)
#   DIFF_AVOID="F1 F14 F5"   known findings the generator should not trigger
#                            (default: none; see test/integration/diff/README)
#   DIFF_KEEP_GOING=1        go on after a run that differs
# and, set by other scenarios (scenarios_tlsclients.sh runs these over TLS):
#   DIFF_MODES="session transaction"   the pool modes diff_scripts runs
#   DIFF_CONF="..."          more pgring settings for every instance
#   DIFF_ARGS="..."          more difftest.py options (e.g. --tls CA_FILE)

: "${PYTHON3:=/usr/bin/python3}"
DIFFTEST=$top_srcdir/test/integration/difftest.py
DIFF_SCRIPTS=${DIFF_SCRIPTS:-$top_srcdir/test/integration/diff}

difftest() { timeout -k 5 "${DIFF_TIMEOUT:-300}" "$PYTHON3" "$DIFFTEST" "$@"; }

# every script in diff/ through a pgring in session and in transaction mode;
# scripts with the same @config lines share an instance
sc_diff_scripts() {
	local mode cfg f rc=0
	local -A groups=()
	[ -x "$PYTHON3" ] || { echo "no $PYTHON3 (scripts/install-deps.sh installs python3)"; return 1; }
	for f in "$DIFF_SCRIPTS"/*.txt; do
		# the key is never empty: bash aborts on an empty subscript
		cfg="#$(sed -n 's/^@config //p' "$f")"
		groups[$cfg]="${groups[$cfg]:-} $f"
	done
	[ ${#groups[@]} -gt 0 ] || { echo "no scripts in $DIFF_SCRIPTS"; return 1; }
	for mode in ${DIFF_MODES:-session transaction}; do
		for cfg in "${!groups[@]}"; do
			pgring_start "$1" "auth_type = trust
pool_mode = $mode
${cfg#\#}
${DIFF_CONF:-}" || return 1
			echo "== pool_mode = $mode $(echo ${cfg#\#} | sed 's/ = /=/g')"
			# shellcheck disable=SC2086 # the group is a list of paths
			difftest scripts --mode "$mode" --pg-port "$PG_PORT" --pooler-port "$PGRING_PORT" \
				${DIFF_ARGS:-} ${groups[$cfg]} || rc=1
			pgring_stop
		done
	done
	return $rc
}

# generated clients interleaved through pgring (transaction mode, one seed in
# eight session mode), each compared with its script run alone on
# PostgreSQL; one pgring per seed, with the pool mode, pool size and
# max_prepared_statements that seed picks
sc_diff_random() {
	local seed=${DIFF_SEED:-$((RANDOM * 32768 + RANDOM))} runs=0 rc=0 cfg
	local end=$(($(date +%s) + ${DIFF_RANDOM_SECONDS:-60}))
	[ -x "$PYTHON3" ] || { echo "no $PYTHON3 (scripts/install-deps.sh installs python3)"; return 1; }
	echo "first seed $seed (DIFF_SEED=$seed reproduces this sequence of runs)"
	while [ "$(date +%s)" -lt "$end" ] && [ "$runs" -lt "${DIFF_RUNS:-1000000}" ]; do
		cfg=$(difftest random-config --seed "$seed") || return 1
		pgring_start "$1" "auth_type = trust
max_client_conn = 100
$cfg
${DIFF_CONF:-}" || return 1
		# shellcheck disable=SC2086 # options are words
		difftest random --seed "$seed" --avoid "${DIFF_AVOID:-}" \
			--pg-port "$PG_PORT" --pooler-port "$PGRING_PORT" ${DIFF_ARGS:-} || rc=1
		pgring_stop
		runs=$((runs + 1))
		seed=$((seed + 1))
		[ $rc = 0 ] || [ "${DIFF_KEEP_GOING:-0}" = 1 ] || break
	done
	echo "$runs runs"
	[ "$runs" -gt 0 ] || { echo "no run in ${DIFF_RANDOM_SECONDS:-60} s"; return 1; }
	return $rc
}

SCENARIOS="$SCENARIOS diff_scripts diff_random"
