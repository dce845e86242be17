#!/bin/bash
# report.sh - medians over rounds, ratios pgring/PgBouncer, Markdown table and plots
#
# usage: bench/report.sh RESULTS_DIR [HAVE_GNUPLOT]
# Reads raw.tsv and idle.tsv that run.sh wrote; writes summary.tsv, summary.md
# and, with gnuplot, tps.png and cpu.png.
set -uo pipefail

OUT=$1
PLOT=${2:-1}
RAW=$OUT/raw.tsv
SUM=$OUT/summary.tsv
MD=$OUT/summary.md

# median of a space-separated list of numbers, "-" when none
# shellcheck disable=SC2016
MEDIAN_AWK='
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	if (n == 0) return "-"
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(k, f, v) { if (v != "-" && v != "FAIL" && v != "") vals[k, f] = vals[k, f] " " v }
'

# summary.tsv: target mode clients pooler, then the median of every figure
awk -F'\t' "$MEDIAN_AWK"'
NR > 1 {
	k = $2 "\t" $3 "\t" $4 "\t" $5
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	runs[k]++
	if ($6 == "FAIL") { fails[k]++; next }
	for (f = 6; f <= 11; f++) add(k, f, $f)
	if ($9 + 0 > 0) add(k, 12, 1e6 / $9)
}
END {
	print "target\tmode\tclients\tpooler\ttps\tp50_us\tp99_us\tcpu_us_tx\tsyscalls_tx\tctxsw_tx\ttx_per_cpu_s\tfailed_runs"
	for (i = 1; i <= n; i++) {
		k = order[i]
		line = k
		for (f = 6; f <= 12; f++) line = line "\t" median(vals[k, f])
		print line "\t" (fails[k] + 0) "/" runs[k]
	}
}' "$RAW" >"$SUM"

fmt_awk='
function fmt(v, d) { if (v == "-" || v == "") return "-"; return sprintf("%." d "f", v) }
function ratio(a, b) { if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) return "-"; return sprintf("%.2f", a / b) }
'

{
	echo "## Throughput and cost per transaction (medians over rounds)"
	echo
	echo "target \`pg\`: PostgreSQL, pgbench -S; \`null\`: the null backend (bench/nullpg.c);"
	echo "\`authq\`, \`scram\`: a new SCRAM login per transaction (pgbench -C -S), so tx/CPU-s is"
	echo "logins per pooler CPU-second (with --tls, each one a TLS handshake too)."
	echo "Ratios: pgring / PgBouncer (higher is better for tps and tx/CPU-s, lower for the rest);"
	echo "with --baseline, also pgring / pgring-base (this build against the earlier one)."
	echo
	echo "| target | mode | clients | pooler | tps | p50 µs | p99 µs | CPU µs/tx | syscalls/tx | ctx sw/tx | tx/CPU-s | failed |"
	echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' "$fmt_awk"'
	NR > 1 {
		k = $1 "\t" $2 "\t" $3
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		for (f = 5; f <= 12; f++) v[k, $4, f] = $f
		poolers[$4] = 1
	}
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, w, "\t")
			for (p in poolers) {
				if (!((k, p, 5) in v)) continue
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w[1], w[2], w[3], p,
					fmt(v[k, p, 5], 0), fmt(v[k, p, 6], 0), fmt(v[k, p, 7], 0), fmt(v[k, p, 8], 1),
					fmt(v[k, p, 9], 2), fmt(v[k, p, 10], 2), fmt(v[k, p, 11], 0), v[k, p, 12]
			}
			for (p in poolers) {
				if (p == "pgbouncer" || !((k, p, 5) in v) || !((k, "pgbouncer", 5) in v)) continue
				printf "| %s | %s | %s | **%s/pgbouncer** | **%s** | %s | %s | **%s** | **%s** | %s | **%s** | |\n", w[1], w[2], w[3], p,
					ratio(v[k, p, 5], v[k, "pgbouncer", 5]), ratio(v[k, p, 6], v[k, "pgbouncer", 6]),
					ratio(v[k, p, 7], v[k, "pgbouncer", 7]), ratio(v[k, p, 8], v[k, "pgbouncer", 8]),
					ratio(v[k, p, 9], v[k, "pgbouncer", 9]), ratio(v[k, p, 10], v[k, "pgbouncer", 10]),
					ratio(v[k, p, 11], v[k, "pgbouncer", 11])
			}
			# before/after from one run: this build against --baseline
			if ((k, "pgring", 5) in v && (k, "pgring-base", 5) in v) {
				p = "pgring"; b = "pgring-base"
				printf "| %s | %s | %s | *pgring/pgring-base* | *%s* | %s | %s | *%s* | *%s* | %s | *%s* | |\n", w[1], w[2], w[3],
					ratio(v[k, p, 5], v[k, b, 5]), ratio(v[k, p, 6], v[k, b, 6]),
					ratio(v[k, p, 7], v[k, b, 7]), ratio(v[k, p, 8], v[k, b, 8]),
					ratio(v[k, p, 9], v[k, b, 9]), ratio(v[k, p, 10], v[k, b, 10]),
					ratio(v[k, p, 11], v[k, b, 11])
			}
		}
	}' "$SUM"
	if [ -s "$OUT/idle.tsv" ] && [ "$(wc -l <"$OUT/idle.tsv")" -gt 1 ]; then
		echo
		echo "## Memory per idle client (median over rounds, fresh instance each round)"
		echo
		echo "| pooler | idle clients | RSS before KiB | RSS after KiB | bytes per client |"
		echo "|---|---:|---:|---:|---:|"
		awk -F'\t' "$MEDIAN_AWK"'
		NR > 1 { if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
			 add($2, 3, $3); add($2, 4, $4); add($2, 5, $5); add($2, 6, $6) }
		END { for (i = 1; i <= n; i++) { p = order[i]
			printf "| %s | %s | %s | %s | %s |\n", p, median(vals[p, 3]), median(vals[p, 4]),
				median(vals[p, 5]), median(vals[p, 6]) } }' "$OUT/idle.tsv"
	fi
	echo
	echo '```'
	cat "$OUT/env.txt" 2>/dev/null
	echo '```'
} >"$MD"

# ---- plots: throughput and CPU per transaction against clients -------------------------
if [ "$PLOT" = 1 ] && command -v gnuplot >/dev/null; then
	series=()
	while IFS=$'\t' read -r target mode pooler; do
		f=$OUT/plot.$target.$mode.$pooler.dat
		awk -F'\t' -v t="$target" -v m="$mode" -v p="$pooler" \
			'$1 == t && $2 == m && $4 == p && $5 != "-" { print $3, $5, $8 }' "$SUM" | sort -n >"$f"
		series+=("$f|$target $mode $pooler")
	done < <(awk -F'\t' 'NR > 1 { print $1 "\t" $2 "\t" $4 }' "$SUM" | sort -u)
	for what in tps cpu; do
		col=2 ylabel="transactions/s"
		[ "$what" = cpu ] && col=3 ylabel="pooler CPU µs per transaction"
		plots=""
		for s in "${series[@]}"; do
			plots="$plots${plots:+, }'${s%%|*}' using 1:$col with linespoints title '${s#*|}'"
		done
		gnuplot <<-EOF 2>>"$OUT/gnuplot.log"
		set terminal png size 1000,600
		set output '$OUT/$what.png'
		set logscale x
		set xlabel 'clients'
		set ylabel '$ylabel'
		set key outside right
		set grid
		plot $plots
		EOF
	done
fi
cat "$MD"
