#!/bin/bash
# workers-report.sh - medians over rounds of bench/workers.sh's raw.tsv, the issue 17 targets
#
# usage: bench/workers-report.sh RESULTS_DIR     writes summary.tsv and summary.md
set -uo pipefail
OUT=$1
RAW=$OUT/raw.tsv SUM=$OUT/summary.tsv MD=$OUT/summary.md

# summary.tsv: target clients pooler, medians of tps..driver_cpus, every round's shares
awk -F'\t' '
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
NR > 1 {
	k = $2 "\t" $3 "\t" $4
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	runs[k]++
	if ($5 == "FAIL") { fails[k]++; next }
	for (f = 5; f <= 12; f++) if (f != 10 && $f != "-") v[k, f] = v[k, f] " " $f
	sh[k] = sh[k] (sh[k] == "" ? "" : " ") $10
	wc[k] = wc[k] (wc[k] == "" ? "" : ", ") ($14 == "" ? "-" : $14)
}
END {
	print "target\tclients\tpooler\ttps\tcpu_us_tx\tsyscalls_tx\tctxsw_tx\tservers\tpooler_cpus\tdriver_cpus\tshares\tfailed_runs\tworker_clients"
	for (i = 1; i <= n; i++) {
		k = order[i]; line = k
		for (f = 5; f <= 12; f++) if (f != 10) line = line "\t" median(v[k, f])
		print line "\t" (sh[k] == "" ? "-" : sh[k]) "\t" (fails[k] + 0) "/" runs[k] "\t" (wc[k] == "" ? "-" : wc[k])
	}
}' "$RAW" >"$SUM"

{
	echo "## workers = N against PgBouncer (medians over rounds)"
	echo
	echo "pgbench -n -S; target \`null\`: the null backend (bench/nullpg.c), \`pg\`: PostgreSQL."
	echo "pgbouncer-x2: two PgBouncers on one port with so_reuseport = 1. CPU, system calls and"
	echo "context switches: all threads of all the pooler's processes. servers: server connections"
	echo "open at the window's end. CPU shares: each busy thread's (pgring: one per worker, in"
	echo "worker order) or process's share of the pooler's CPU, per round. Clients per worker:"
	echo "pgring's SHOW CLIENTS on worker 0's console (\"w0 n/C\": it lists only worker 0's);"
	echo "K PgBouncers: each process's (ss -p). pooler/driver"
	echo "CPUs: cores busy (the pooler; pgbench + the null backend)."
	echo
	echo "| target | clients | pooler | tps | CPU µs/tx | syscalls/tx | ctx sw/tx | servers | CPU shares % | clients per worker | pooler CPUs | driver CPUs | failed |"
	echo "|---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"
	awk -F'\t' 'function f(v, d) { return v == "-" ? "-" : sprintf("%." d "f", v) }
	NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3,
		f($4, 0), f($5, 1), f($6, 2), f($7, 2), f($8, 0), $11, $13, f($9, 2), f($10, 2), $12 }' "$SUM"
	echo
	echo "### Issue 17 targets"
	echo
	echo "| target | clients | CPU/tx w2 / w1 (goal <= 1.10) | tps w2 / pgbouncer-x2 (goal >= 1.00) | tps w2 / w1 | tps w2 / pgbouncer |"
	echo "|---|---:|---:|---:|---:|---:|"
	awk -F'\t' 'function r(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	NR > 1 { k = $1 "\t" $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }; tps[k, $3] = $4; cpu[k, $3] = $5 }
	END { for (i = 1; i <= n; i++) { k = order[i]; split(k, w, "\t")
		if (!((k, "pgring-w2") in tps)) continue
		printf "| %s | %s | %s | %s | %s | %s |\n", w[1], w[2], r(cpu[k, "pgring-w2"], cpu[k, "pgring-w1"]),
			r(tps[k, "pgring-w2"], tps[k, "pgbouncer-x2"]), r(tps[k, "pgring-w2"], tps[k, "pgring-w1"]),
			r(tps[k, "pgring-w2"], tps[k, "pgbouncer"]) } }' "$SUM"
	echo
	echo '```'
	cat "$OUT/env.txt" 2>/dev/null
	echo '```'
} >"$MD"
cat "$MD"
