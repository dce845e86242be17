/* admin_job.c - with workers > 1 the console is still one console: a SHOW is
 * gathered from every worker and merged, a command runs on every worker
 * before it is answered (doc/workers.md, "Console: gather and broadcast") */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "admin_int.h"
#include "metrics.h"
#include "process.h"
#include "worker.h"

#define JOB_WHAT_MAX	8
#define JOB_WHAT_LEN	24
#define OID_TEXT	25

/*
 * One SHOW or command of this worker waiting for the others.  It is this
 * worker's alone: the others only name it by id in their replies, so a
 * reply that finds none (the console's worker is exiting) lets go.
 */
struct job {
	struct list_node node;
	uint64_t id;
	uint64_t client_id;	/* the console owed the answer; 0: a gather's fn */
	int nleft;		/* replies still owed */
	bool have_result;	/* RELOAD/SET: worker 0's reply came (acks may precede it) */
	bool config;		/* RELOAD/SET: worker 0 answers, the others acknowledge */
	bool *answered;		/* [nworkers] */
	/* a gather */
	int nwhat;
	char what[JOB_WHAT_MAX][JOB_WHAT_LEN];
	struct mtable *parts;	/* [nworkers * nwhat] */
	const char *names[JOB_WHAT_MAX][32];	/* the columns, from this worker's part */
	uint32_t oids[JOB_WHAT_MAX][32];
	int ncols[JOB_WHAT_MAX];
	admin_gather_fn fn;
	uint64_t token;
	/* a command */
	char tag[600];
	char sqlstate[6];
	char err[256];		/* the first refusal reported */
};

/* what a worker is asked */
struct jreq {
	struct wmsg m;
	uint64_t job;
	int from;
	int nwhat;		/* > 0: a gather of these; 0: cmd */
	char what[JOB_WHAT_MAX][JOB_WHAT_LEN];
	struct admin_cmd cmd;
};

/* what it answers */
struct jrep {
	struct wmsg m;
	uint64_t job;
	int from;
	int nacks;		/* RELOAD/SET from worker 0: acknowledgements to come, else -1 */
	char sqlstate[6];
	char err[256];		/* "" when done */
	int nwhat;
	struct mtable t[JOB_WHAT_MAX];
};

struct gonemsg {
	struct wmsg m;
	int index;
};

bool admin_multi(const struct admin *a)
{
	return a && a->w->proc && a->w->proc->nworkers > 1;
}

static int nworkers(const struct admin *a)
{
	return a->w->proc->nworkers;
}

/* ---- merging: how each gathered table's rows become one ---- */

enum mop {
	OP_FIRST = 0,
	OP_KEY,		/* rows with the same keys are one */
	OP_SUM,
	OP_MAX,
	OP_WAVG,	/* mean weighted by the column `arg` of the same row */
	OP_MAXWAIT,	/* maxwait with maxwait_us (arg): the longest wait */
	OP_DERIVED,	/* computed from the others at the end */
	OP_STATE,	/* SHOW STATE: active if every worker is, else yes if any */
	OP_TOTALS,	/* SHOW TOTALS: sums, the three mean times weighted */
	OP_LISTS,	/* SHOW LISTS: connections summed, config counts the most */
};

struct mrule {
	const char *col;
	enum mop op;
	const char *arg;
};

struct mspec {
	const char *show;
	bool concat;		/* lists: every worker's rows, each connection once */
	const struct mrule *rules;	/* ends with a NULL col; others: OP_FIRST */
};

static const struct mrule r_none[] = { { NULL, 0, NULL } };
static const struct mrule r_dedup[] = { { "hostname", OP_KEY, NULL }, { "zonename", OP_KEY, NULL },
					{ NULL, 0, NULL } };
static const struct mrule r_pools[] = {
	{ "database", OP_KEY, NULL }, { "user", OP_KEY, NULL },
	{ "cl_active", OP_SUM, NULL }, { "cl_waiting", OP_SUM, NULL },
	{ "cl_active_cancel_req", OP_SUM, NULL }, { "cl_waiting_cancel_req", OP_SUM, NULL },
	{ "sv_active", OP_SUM, NULL }, { "sv_active_cancel", OP_SUM, NULL },
	{ "sv_being_canceled", OP_SUM, NULL }, { "sv_idle", OP_SUM, NULL },
	{ "sv_used", OP_SUM, NULL }, { "sv_tested", OP_SUM, NULL }, { "sv_login", OP_SUM, NULL },
	{ "maxwait", OP_MAXWAIT, "maxwait_us" }, { "maxwait_us", OP_DERIVED, NULL },
	{ NULL, 0, NULL }
};
/* SHOW STATS, STATS_TOTALS, STATS_AVERAGES: counts and rates add up; the
 * mean times are weighted by what they are the mean of */
static const struct mrule r_stats[] = {
	{ "database", OP_KEY, NULL },
	{ "avg_xact_time", OP_WAVG, "avg_xact_count" },
	{ "avg_query_time", OP_WAVG, "avg_query_count" },
	{ "avg_wait_time", OP_WAVG, "avg_server_assignment_count" },
	{ "*", OP_SUM, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_stats_avg[] = {
	{ "database", OP_KEY, NULL },
	{ "xact_time", OP_WAVG, "xact_count" },
	{ "query_time", OP_WAVG, "query_count" },
	{ "wait_time", OP_WAVG, "server_assignment_count" },
	{ "*", OP_SUM, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_stats_totals[] = {
	{ "database", OP_KEY, NULL }, { "*", OP_SUM, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_totals[] = {
	{ "name", OP_KEY, NULL }, { "value", OP_TOTALS, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_databases[] = {
	{ "name", OP_KEY, NULL }, { "current_connections", OP_SUM, NULL },
	{ "current_client_connections", OP_SUM, NULL }, { "paused", OP_MAX, NULL },
	{ "disabled", OP_MAX, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_users[] = {
	{ "name", OP_KEY, NULL }, { "current_connections", OP_SUM, NULL },
	{ "current_client_connections", OP_SUM, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_lists[] = {
	{ "list", OP_KEY, NULL }, { "items", OP_LISTS, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_mem[] = {
	{ "name", OP_KEY, NULL }, { "used", OP_SUM, NULL }, { "free", OP_SUM, NULL },
	{ "memtotal", OP_SUM, NULL }, { "size", OP_DERIVED, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_state[] = {
	{ "key", OP_KEY, NULL }, { "value", OP_STATE, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_kdf[] = {
	{ "threads", OP_FIRST, NULL }, { "*", OP_SUM, NULL }, { NULL, 0, NULL }
};
static const struct mrule r_peer_pools[] = {
	{ "peer_id", OP_KEY, NULL }, { "*", OP_SUM, NULL }, { NULL, 0, NULL }
};

/* SHOW IO is not merged but listed per worker with a total (io_rows) */
static const struct mspec mspecs[] = {
	{ "clients", true, r_none }, { "servers", true, r_none }, { "sockets", true, r_none },
	{ "active_sockets", true, r_none }, { "fds", true, r_none },
	{ "dns_hosts", false, r_dedup }, { "dns_zones", false, r_dedup },
	{ "pools", false, r_pools }, { "stats", false, r_stats },
	{ "stats_totals", false, r_stats_totals }, { "stats_averages", false, r_stats_avg },
	{ "totals", false, r_totals }, { "databases", false, r_databases },
	{ "users", false, r_users }, { "lists", false, r_lists }, { "mem", false, r_mem },
	{ "state", false, r_state }, { "kdf", false, r_kdf }, { "peer_pools", false, r_peer_pools },
	{ "io", true, r_none },
};

static const struct mspec *spec_of(const char *what)
{
	for (size_t i = 0; i < sizeof(mspecs) / sizeof(mspecs[0]); i++)
		if (!strcasecmp(what, mspecs[i].show))
			return &mspecs[i];
	return NULL;
}

static const struct mrule *rule_of(const struct mspec *s, const char *col)
{
	const struct mrule *star = NULL;

	for (const struct mrule *r = s->rules; r->col; r++) {
		if (!strcmp(r->col, col))
			return r;
		if (!strcmp(r->col, "*"))
			star = r;
	}
	return star;
}

static int col_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	return -1;
}

static uint64_t num(const char *s)
{
	return s ? strtoull(s, NULL, 10) : 0;
}

static const char *tcell(const struct mtable *t, size_t row, int col)
{
	return col < 0 ? NULL : t->cells[row * (size_t)t->ncols + (size_t)col];
}

/* the value of the row whose first cell is key, in a two-column table */
static uint64_t row_value(const struct mtable *t, const char *key)
{
	for (size_t r = 0; r < t->nrows; r++)
		if (tcell(t, r, 0) && !strcmp(tcell(t, r, 0), key))
			return num(tcell(t, r, 1));
	return 0;
}

/* One merged row: its cells as the first worker gave them, and per column
 * what the others add to them. */
struct mrow {
	char **cells;
	uint64_t *acc;
	long double *wsum, *wden;
	bool *yes_all, *yes_any;
};

struct merge {
	const struct mspec *spec;
	int ncols;
	const char *const *names;
	const struct mrule *rules[32];
	struct mrow *rows;
	size_t nrows, cap;
	bool failed;
};

static void key_of(const struct merge *mg, const struct mtable *t, size_t r, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int c = 0; c < mg->ncols; c++) {
		const char *v;

		if (!mg->rules[c] || mg->rules[c]->op != OP_KEY)
			continue;
		v = tcell(t, r, c);
		if (used >= len)
			break;
		used += (size_t)snprintf(buf + used, len - used, "%s\x1f", v ? v : "\x1e");
	}
}

static struct mrow *find_row(struct merge *mg, const struct mtable *t, size_t r)
{
	char k1[1024], k2[1024];

	key_of(mg, t, r, k1, sizeof(k1));
	for (size_t i = 0; i < mg->nrows; i++) {
		struct mtable one = { .ncols = mg->ncols, .cells = mg->rows[i].cells, .nrows = 1 };

		key_of(mg, &one, 0, k2, sizeof(k2));
		if (!strcmp(k1, k2))
			return &mg->rows[i];
	}
	return NULL;
}

static struct mrow *new_row(struct merge *mg, const struct mtable *t, size_t r)
{
	struct mrow *row;
	size_t n = (size_t)mg->ncols;

	if (mg->nrows == mg->cap) {
		size_t cap = mg->cap ? mg->cap * 2 : 16;
		struct mrow *rows = realloc(mg->rows, cap * sizeof(*rows));

		if (!rows)
			return NULL;
		mg->rows = rows;
		mg->cap = cap;
	}
	row = &mg->rows[mg->nrows];
	memset(row, 0, sizeof(*row));
	row->cells = calloc(n, sizeof(*row->cells));
	row->acc = calloc(n, sizeof(*row->acc));
	row->wsum = calloc(n, sizeof(*row->wsum));
	row->wden = calloc(n, sizeof(*row->wden));
	row->yes_all = calloc(n, sizeof(*row->yes_all));
	row->yes_any = calloc(n, sizeof(*row->yes_any));
	if (!row->cells || !row->acc || !row->wsum || !row->wden || !row->yes_all || !row->yes_any)
		goto fail;
	for (size_t c = 0; c < n; c++) {
		const char *v = tcell(t, r, (int)c);

		row->yes_all[c] = true;
		if (v && !(row->cells[c] = strdup(v)))
			goto fail;
	}
	mg->nrows++;
	return row;
fail:
	for (size_t c = 0; row->cells && c < n; c++)
		free(row->cells[c]);
	free(row->cells);
	free(row->acc);
	free(row->wsum);
	free(row->wden);
	free(row->yes_all);
	free(row->yes_any);
	return NULL;
}

static bool is_time_total(const char *name, const char **weight)
{
	static const char *const pairs[][2] = {
		{ "avg_xact_time", "avg_xact_count" }, { "avg_query_time", "avg_query_count" },
		{ "avg_wait_time", "avg_server_assignment_count" },
	};

	for (size_t i = 0; i < 3; i++)
		if (name && !strcmp(name, pairs[i][0])) {
			*weight = pairs[i][1];
			return true;
		}
	return false;
}

/* the config's counts are every worker's; the connections, each worker's own */
static bool list_summed(const char *name)
{
	return name && (strstr(name, "_clients") || strstr(name, "_servers"));
}

static void add_cell(struct merge *mg, struct mrow *row, const struct mtable *t, size_t r, int c)
{
	const struct mrule *ru = mg->rules[c];
	const char *v = tcell(t, r, c), *key = tcell(t, r, 0), *wname;
	uint64_t x = num(v), wt;

	if (!ru)
		return;
	switch (ru->op) {
	case OP_SUM:
		row->acc[c] += x;
		break;
	case OP_MAX:
		if (x > row->acc[c])
			row->acc[c] = x;
		break;
	case OP_WAVG:
		wt = num(tcell(t, r, col_index(mg->names, mg->ncols, ru->arg)));
		row->wsum[c] += (long double)x * wt;
		row->wden[c] += wt;
		if (x > row->acc[c])
			row->acc[c] = x;
		break;
	case OP_MAXWAIT:
		x = x * 1000000 + num(tcell(t, r, col_index(mg->names, mg->ncols, ru->arg)));
		if (x > row->acc[c])
			row->acc[c] = x;
		break;
	case OP_STATE:
		row->yes_all[c] = row->yes_all[c] && v && !strcmp(v, "yes");
		row->yes_any[c] = row->yes_any[c] || (v && !strcmp(v, "yes"));
		break;
	case OP_TOTALS:
		if (is_time_total(key, &wname)) {
			wt = row_value(t, wname);
			row->wsum[c] += (long double)x * wt;
			row->wden[c] += wt;
			if (x > row->acc[c])
				row->acc[c] = x;
		} else {
			row->acc[c] += x;
		}
		break;
	case OP_LISTS:
		if (list_summed(key))
			row->acc[c] += x;
		else if (x > row->acc[c])
			row->acc[c] = x;
		break;
	default:
		break;
	}
}

static void merge_part(struct merge *mg, const struct mtable *t)
{
	if (t->failed) {
		mg->failed = true;
		return;
	}
	if (t->ncols && t->ncols != mg->ncols) {
		mg->failed = true;
		return;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		struct mrow *row = mg->spec->concat ? NULL : find_row(mg, t, r);

		if (!row && !(row = new_row(mg, t, r))) {
			mg->failed = true;
			return;
		}
		for (int c = 0; c < mg->ncols; c++)
			add_cell(mg, row, t, r, c);
	}
}

static void set_num(struct mrow *row, int c, uint64_t v, bool *failed)
{
	char buf[24];

	if (c < 0)
		return;
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	free(row->cells[c]);
	if (!(row->cells[c] = strdup(buf)))
		*failed = true;
}

static void set_str(struct mrow *row, int c, const char *s, bool *failed)
{
	free(row->cells[c]);
	if (!(row->cells[c] = strdup(s)))
		*failed = true;
}

static uint64_t wavg(const struct mrow *row, int c)
{
	return row->wden[c] > 0 ? (uint64_t)(row->wsum[c] / row->wden[c]) : row->acc[c];
}

static void finish_row(struct merge *mg, struct mrow *row)
{
	const char *wname;
	int c_used = col_index(mg->names, mg->ncols, "used");
	int c_free = col_index(mg->names, mg->ncols, "free");
	int c_total = col_index(mg->names, mg->ncols, "memtotal");

	for (int c = 0; c < mg->ncols; c++) {
		const struct mrule *ru = mg->rules[c];

		if (!ru || !row->cells[c])
			continue;
		switch (ru->op) {
		case OP_SUM:
		case OP_MAX:
		case OP_LISTS:
			set_num(row, c, row->acc[c], &mg->failed);
			break;
		case OP_WAVG:
			set_num(row, c, wavg(row, c), &mg->failed);
			break;
		case OP_TOTALS:
			set_num(row, c, is_time_total(row->cells[0], &wname) ? wavg(row, c) :
				row->acc[c], &mg->failed);
			break;
		case OP_MAXWAIT:
			set_num(row, c, row->acc[c] / 1000000, &mg->failed);
			set_num(row, col_index(mg->names, mg->ncols, ru->arg), row->acc[c] % 1000000,
				&mg->failed);
			break;
		case OP_STATE:
			set_str(row, c, (row->cells[0] && !strcmp(row->cells[0], "active") ?
					 row->yes_all[c] : row->yes_any[c]) ? "yes" : "no",
				&mg->failed);
			break;
		default:
			break;
		}
	}
	/* SHOW MEM's size: the mean of what the workers hold */
	if (mg->spec->rules == r_mem && c_used >= 0 && c_free >= 0 && c_total >= 0 &&
	    row->cells[c_used] && row->cells[c_free] && row->cells[c_total]) {
		uint64_t n = num(row->cells[c_used]) + num(row->cells[c_free]);

		if (n)
			set_num(row, col_index(mg->names, mg->ncols, "size"),
				num(row->cells[c_total]) / n, &mg->failed);
	}
}

static void free_merge(struct merge *mg)
{
	for (size_t i = 0; i < mg->nrows; i++) {
		struct mrow *row = &mg->rows[i];

		for (int c = 0; c < mg->ncols; c++)
			free(row->cells[c]);
		free(row->cells);
		free(row->acc);
		free(row->wsum);
		free(row->wden);
		free(row->yes_all);
		free(row->yes_any);
	}
	free(mg->rows);
	memset(mg, 0, sizeof(*mg));
}

/* SHOW IO: each worker's row with its index, then their sum as "total" */
static void io_rows(const struct job *j, int k, int n, struct mtable *out)
{
	const char *vals[33];
	uint64_t sum[32] = { 0 };
	char idx[16], buf[32][32], ratio[32];
	int ncols = j->ncols[k] - 1;	/* without the worker column */
	const char *backend = NULL;

	for (int i = 0; i < n; i++) {
		const struct mtable *t = &j->parts[i * j->nwhat + k];

		if (t->failed || (t->ncols && t->ncols != ncols)) {
			out->failed = true;
			return;
		}
		for (size_t r = 0; r < t->nrows; r++) {
			for (int c = 0; c < ncols; c++) {
				vals[c] = tcell(t, r, c);
				sum[c] += num(vals[c]);
			}
			if (!backend)
				backend = vals[0];
			snprintf(idx, sizeof(idx), "%d", i);
			vals[ncols] = idx;
			mtable_add(out, ncols + 1, j->names[k], vals);
		}
	}
	for (int c = 0; c < ncols; c++) {
		snprintf(buf[c], sizeof(buf[c]), "%" PRIu64, sum[c]);
		vals[c] = buf[c];
	}
	vals[0] = backend ? backend : "";
	if (ncols > 4) {
		snprintf(ratio, sizeof(ratio), "%.2f", sum[1] ? (double)sum[2] / (double)sum[1] : 0.0);
		vals[4] = ratio;	/* sqes_per_submit: sqes / submits */
	}
	vals[ncols] = "total";
	mtable_add(out, ncols + 1, j->names[k], vals);
}

/* The merged table k of a job into out (names from the console's run). */
static void merge_job(const struct job *j, int k, int n, int self, struct mtable *out)
{
	const struct mspec *spec = spec_of(j->what[k]);
	const struct mtable *mine = &j->parts[self * j->nwhat + k];
	struct merge mg;

	memset(out, 0, sizeof(*out));
	if (!spec) {
		/* the same on every worker (CONFIG, VERSION): this one's */
		out->failed = mine->failed;
		for (size_t r = 0; r < mine->nrows && !out->failed; r++)
			mtable_add(out, mine->ncols,
				   (const char *const *)mine->names,
				   (const char *const *)(mine->cells + r * (size_t)mine->ncols));
		return;
	}
	if (spec->rules == r_none && !strcasecmp(spec->show, "io")) {
		io_rows(j, k, n, out);
		return;
	}
	memset(&mg, 0, sizeof(mg));
	mg.spec = spec;
	mg.names = j->names[k];
	mg.ncols = j->ncols[k];
	for (int c = 0; c < mg.ncols; c++)
		mg.rules[c] = rule_of(spec, j->names[k][c]);
	for (int i = 0; i < n && !mg.failed; i++)
		merge_part(&mg, &j->parts[i * j->nwhat + k]);
	for (size_t r = 0; r < mg.nrows && !mg.failed; r++) {
		finish_row(&mg, &mg.rows[r]);
		mtable_add(out, mg.ncols, j->names[k], (const char *const *)mg.rows[r].cells);
	}
	if (mg.failed)
		out->failed = true;
	free_merge(&mg);
}

/* ---- jobs ---- */

static void job_free(struct job *j, int n)
{
	if (j->parts)
		for (int i = 0; i < n * j->nwhat; i++)
			mtable_free(&j->parts[i]);
	free(j->parts);
	free(j->answered);
	free(j);
}

static struct job *job_find(struct admin *a, uint64_t id)
{
	struct list_node *pos;

	list_for_each(pos, &a->jobs) {
		struct job *j = list_entry(pos, struct job, node);

		if (j->id == id)
			return j;
	}
	return NULL;
}

bool admin_job_waiting(struct admin *a, uint64_t client_id)
{
	struct list_node *pos;

	if (!a->jobs.head.next)
		return false;
	list_for_each(pos, &a->jobs)
		if (list_entry(pos, struct job, node)->client_id == client_id)
			return true;
	return false;
}

static struct job *job_new(struct admin *a, uint64_t client_id)
{
	int n = nworkers(a);
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !(j->answered = calloc((size_t)n, sizeof(bool)))) {
		free(j);
		return NULL;
	}
	j->id = ++a->next_job;
	j->client_id = client_id;
	j->have_result = true;
	list_append(&a->jobs, &j->node);
	return j;
}

static void send_gathered(struct client *cl, struct admin *a, struct job *j, struct mtable *t)
{
	pkt_reset(&a->out);
	pkt_row_desc(&a->out, j->names[0], j->oids[0], j->ncols[0]);
	for (size_t r = 0; r < t->nrows; r++)
		pkt_data_row(&a->out, (const char *const *)(t->cells + r * (size_t)t->ncols),
			     t->ncols);
	reply_ok(cl, "SHOW");
}

/* every reply is in: the answer, then what the console sent meanwhile */
static void job_finish(struct admin *a, struct job *j)
{
	int n = nworkers(a);
	struct client *cl = j->client_id ? console_client(a, j->client_id) : NULL;
	struct mtable merged[JOB_WHAT_MAX];

	if (cl && (cl->state == CL_CLOSING || cl->c.closing))
		cl = NULL;	/* it went meanwhile (KILL_CLIENT of itself) */
	list_remove(&a->jobs, &j->node);
	if (j->nwhat) {
		bool ok = true;

		for (int k = 0; k < j->nwhat; k++) {
			merge_job(j, k, n, (int)a->w->index, &merged[k]);
			ok = ok && !merged[k].failed;
		}
		if (j->fn)
			j->fn(a->w, j->token, merged, j->nwhat, ok);
		else if (cl && !ok)
			reply_error(cl, "53200", "out of memory");
		else if (cl)
			send_gathered(cl, a, j, &merged[0]);
		for (int k = 0; k < j->nwhat; k++)
			mtable_free(&merged[k]);
	} else if (cl && *j->err) {
		reply_error(cl, j->sqlstate, "%s", j->err);
	} else if (cl && *j->tag) {
		pkt_reset(&a->out);
		reply_ok(cl, j->tag);
	}
	job_free(j, n);
	if (cl && cl->state != CL_CLOSING && !cl->c.closing)
		conn_process(&cl->c);
}

static void job_check(struct admin *a, struct job *j)
{
	if (j->nleft <= 0 && j->have_result)
		job_finish(a, j);
}

static void rep_free(struct jrep *r)
{
	for (int k = 0; k < r->nwhat; k++)
		mtable_free(&r->t[k]);
	free(r);
}

static void rep_run(struct worker *w, struct wmsg *m)
{
	struct jrep *r = (struct jrep *)m;
	struct admin *a = w->admin;
	struct job *j = w->loop && !w->exiting && a ? job_find(a, r->job) : NULL;

	if (!j || r->from < 0 || r->from >= nworkers(a)) {
		rep_free(r);
		return;
	}
	if (*r->err && !*j->err) {
		snprintf(j->sqlstate, sizeof(j->sqlstate), "%s", r->sqlstate);
		snprintf(j->err, sizeof(j->err), "%s", r->err);
	}
	if (j->config && r->nacks >= 0) {
		/* worker 0's outcome: the acknowledgements it asked for follow */
		j->have_result = true;
		j->answered[r->from] = true;
		j->nleft += r->nacks - 1;
	} else if (!j->answered[r->from]) {
		j->answered[r->from] = true;
		j->nleft--;
		for (int k = 0; k < r->nwhat && k < j->nwhat; k++) {
			j->parts[r->from * j->nwhat + k] = r->t[k];
			memset(&r->t[k], 0, sizeof(r->t[k]));
		}
	}
	rep_free(r);
	job_check(a, j);
}

static struct jrep *rep_new(struct worker *w, uint64_t job)
{
	struct jrep *r = calloc(1, sizeof(*r));

	if (!r) {
		log_error(w->log, "out of memory: a console command waits for worker %u in vain",
			  w->index);
		return NULL;
	}
	r->m.run = rep_run;
	r->job = job;
	r->from = (int)w->index;
	r->nacks = -1;
	return r;
}

void admin_job_reply(struct worker *w, int to, uint64_t job, const char *sqlstate,
		     const char *err)
{
	struct jrep *r;

	if (!w->proc || to < 0 || to >= w->proc->nworkers || !(r = rep_new(w, job)))
		return;
	if (err && *err) {
		snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate ? sqlstate : "08P01");
		snprintf(r->err, sizeof(r->err), "%s", err);
	}
	worker_post(w->proc->workers[to], &r->m);
}

/* the tables of a gather, as this worker has them */
static void gather_here(struct worker *w, const struct jreq *q, struct jrep *r)
{
	r->nwhat = q->nwhat;
	for (int k = 0; k < q->nwhat; k++)
		if (admin_show_rows(w, q->what[k], mtable_add, &r->t[k]) < 0)
			r->t[k].failed = true;
}

static void req_run(struct worker *w, struct wmsg *m)
{
	struct jreq *q = (struct jreq *)m;
	struct jrep *r;
	int ret;

	if (!w->loop || w->exiting || !w->admin || !(r = rep_new(w, q->job))) {
		free(q);
		return;
	}
	if (q->nwhat) {
		gather_here(w, q, r);
	} else if (!strcmp(q->cmd.verb, "reload") || !strcmp(q->cmd.verb, "set")) {
		r->nacks = admin_apply_config(w, &q->cmd, q->from, q->job, r->sqlstate, r->err,
					      sizeof(r->err));
		if (r->nacks < 0)
			r->nacks = 0;
	} else {
		ret = admin_apply(w, &q->cmd, q->from, q->job, r->sqlstate, r->err, sizeof(r->err));
		if (ret > 0) {
			free(r);	/* a pending entry answers */
			free(q);
			return;
		}
	}
	worker_post(w->proc->workers[q->from], &r->m);
	free(q);
}

static bool post_req(struct admin *a, struct job *j, int to, const struct admin_cmd *cmd)
{
	struct jreq *q = calloc(1, sizeof(*q));

	if (!q)
		return false;
	q->m.run = req_run;
	q->job = j->id;
	q->from = (int)a->w->index;
	q->nwhat = j->nwhat;
	memcpy(q->what, j->what, sizeof(q->what));
	if (cmd)
		q->cmd = *cmd;
	worker_post(a->w->proc->workers[to], &q->m);
	return true;
}

/* asks the workers still running; false (job dropped) when out of memory */
static bool job_post(struct admin *a, struct job *j, const struct admin_cmd *cmd, int only)
{
	int n = nworkers(a);

	for (int i = 0; i < n; i++) {
		if ((only >= 0 && i != only) || j->answered[i])
			continue;
		if (a->gone && a->gone[i]) {
			j->answered[i] = true;
			continue;
		}
		if (!post_req(a, j, i, cmd)) {
			/* those asked already answer a job that is gone: dropped */
			list_remove(&a->jobs, &j->node);
			job_free(j, n);
			return false;
		}
		j->nleft++;
	}
	return true;
}

/* ---- gathers ---- */

static struct job *gather_start(struct admin *a, uint64_t client_id, const char *const *what,
				int nwhat)
{
	int n = nworkers(a), self = (int)a->w->index;
	struct job *j;

	if (nwhat < 1 || nwhat > JOB_WHAT_MAX || !(j = job_new(a, client_id)))
		return NULL;
	j->nwhat = nwhat;
	for (int k = 0; k < nwhat; k++)
		snprintf(j->what[k], sizeof(j->what[k]), "%s", what[k]);
	if (!(j->parts = calloc((size_t)(n * nwhat), sizeof(*j->parts)))) {
		list_remove(&a->jobs, &j->node);
		job_free(j, n);
		return NULL;
	}
	/* this worker's part now: it names the columns too */
	for (int k = 0; k < nwhat; k++) {
		struct mtable *t = &j->parts[self * nwhat + k];

		a->col_n = 0;
		if (admin_show_rows(a->w, what[k], mtable_add, t) < 0)
			t->failed = true;
		j->ncols[k] = a->col_n;
		for (int c = 0; c < a->col_n; c++) {
			j->names[k][c] = a->col_names[c];
			j->oids[k][c] = a->col_oids[c];
		}
		if (!strcasecmp(what[k], "io") && j->ncols[k] < 32) {
			j->names[k][j->ncols[k]] = "worker";
			j->oids[k][j->ncols[k]++] = OID_TEXT;
		}
	}
	j->answered[self] = true;
	if (!job_post(a, j, NULL, -1))
		return NULL;
	return j;
}

bool admin_job_show(struct client *cl, struct admin *a, const char *what)
{
	struct job *j;

	if (!admin_multi(a) || !spec_of(what))
		return false;
	j = gather_start(a, cl->c.id, &what, 1);
	if (!j) {
		reply_error(cl, "53200", "out of memory");
		return true;
	}
	job_check(a, j);
	return true;
}

int admin_gather(struct worker *w, const char *const *what, int n, admin_gather_fn fn,
		 uint64_t token)
{
	struct admin *a = w->admin;
	struct job *j;

	if (!admin_multi(a))
		return -ENOENT;
	j = gather_start(a, 0, what, n);
	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->token = token;
	job_check(a, j);
	return 0;
}

/* ---- commands ---- */

void admin_job_command(struct client *cl, struct admin *a, const struct admin_cmd *cmd,
		       const char *tag)
{
	struct job *j = job_new(a, cl->c.id);
	int only = -1;

	if (!j) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	snprintf(j->tag, sizeof(j->tag), "%s", tag ? tag : "");
	if (!strcmp(cmd->verb, "reload") || !strcmp(cmd->verb, "set")) {
		/* worker 0 makes every snapshot: two consoles cannot lose one
		 * another's change */
		only = 0;
		j->config = true;
		j->have_result = false;
		if (a->gone && a->gone[0]) {
			list_remove(&a->jobs, &j->node);
			job_free(j, nworkers(a));
			reply_error(cl, "08P01", "pooler is shutting down");
			return;
		}
	} else if (!strcmp(cmd->verb, "kill_client")) {
		only = (int)conn_id_worker(strtoull(cmd->arg, NULL, 10));
		if (only >= nworkers(a)) {
			list_remove(&a->jobs, &j->node);
			job_free(j, nworkers(a));
			reply_error(cl, "08P01", "client %s not found", cmd->arg);
			return;
		}
	}
	if (!job_post(a, j, cmd, only)) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	if (!tag)
		j->client_id = 0;	/* SHUTDOWN: the connection ends with the process */
	job_check(a, j);
}

/* ---- a worker's loop ends ---- */

static void gone_run(struct worker *w, struct wmsg *m)
{
	int i = ((struct gonemsg *)m)->index;
	struct admin *a = w->admin;
	struct list_node *pos, *tmp;

	free(m);
	if (!w->loop || w->exiting || !a || !a->gone || i < 0 || i >= nworkers(a))
		return;
	a->gone[i] = true;
	list_for_each_safe(pos, tmp, &a->jobs) {
		struct job *j = list_entry(pos, struct job, node);

		if (j->answered[i])
			continue;
		j->answered[i] = true;
		j->nleft--;
		if (j->config && i == 0)
			j->have_result = true;	/* what it would have said is lost */
		job_check(a, j);
	}
}

void admin_job_gone(struct worker *w)
{
	if (!w->proc || w->proc->nworkers < 2)
		return;
	for (int i = 0; i < w->proc->nworkers; i++) {
		struct gonemsg *g;

		if (i == (int)w->index)
			continue;
		if (!(g = calloc(1, sizeof(*g)))) {
			log_error(w->log, "out of memory: worker %d is not told that worker %u ended",
				  i, w->index);
			continue;
		}
		g->m.run = gone_run;
		g->index = (int)w->index;
		worker_post(w->proc->workers[i], &g->m);
	}
}

void admin_jobs_init(struct admin *a)
{
	list_init(&a->jobs);
	if (admin_multi(a))
		a->gone = calloc((size_t)nworkers(a), sizeof(bool));
}

void admin_jobs_free(struct admin *a)
{
	while (!list_empty(&a->jobs)) {
		struct job *j = list_entry(list_first(&a->jobs), struct job, node);

		list_remove(&a->jobs, &j->node);
		job_free(j, nworkers(a));
	}
	free(a->gone);
	a->gone = NULL;
}
