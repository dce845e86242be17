/* metrics.c - GET /metrics on the worker's loop: the console's SHOW tables as Prometheus text */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "admin.h"
#include "metrics.h"
#include "process.h"
#include "worker.h"

/* Bounds of the endpoint: what a scraper, slow or hostile, can hold. */
#define METRICS_CONN_MAX	16		/* connections at once; more are closed */
#define METRICS_TIMEOUT_S	10		/* an idle or stalled connection is closed */
#define METRICS_REQ_MAX		16384		/* bytes of one request's head */
#define METRICS_BACKLOG		16
#define METRICS_RETRY_US	100000		/* re-arming a poll the kernel refused */
#define METRICS_AGAIN_US	1000		/* MHD left work: come back next turn or so */

struct metrics {
	struct worker *w;
	struct MHD_Daemon *d;
	struct loop_sock sock;	/* a dup of MHD's epoll fd: the loop closes its own */
	struct loop_op op;	/* multishot poll of it */
	struct loop_timer timer;	/* MHD_get_timeout, and re-arms */
	bool rearm;		/* the poll ended: arm it again from the timer */
	bool stopped;
	bool gather;		/* workers > 1: scrapes wait for every worker's rows */
	struct list reqs;	/* struct mreq: scrapes suspended until they have */
	uint64_t next_req;
};

/* A scrape of a process with several workers: suspended while the SHOWs
 * are gathered from every worker (admin_gather), resumed with the text. */
struct mreq {
	struct list_node node;
	struct MHD_Connection *c;
	uint64_t id;
	bool done;
	struct mtext text;
};

/* ---- tables ---- */

void mtable_add(void *arg, int ncols, const char *const *names, const char *const *vals)
{
	struct mtable *t = arg;
	char **cells;

	if (t->failed)
		return;
	if (!t->ncols) {
		if (ncols <= 0 || ncols > (int)(sizeof(t->names) / sizeof(t->names[0]))) {
			t->failed = true;
			return;
		}
		t->ncols = ncols;
		for (int i = 0; i < ncols; i++)
			if (!(t->names[i] = strdup(names[i])))
				t->failed = true;
	}
	if (ncols != t->ncols) {
		t->failed = true;
		return;
	}
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;

		cells = realloc(t->cells, cap * (size_t)ncols * sizeof(*cells));
		if (!cells) {
			t->failed = true;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	cells = t->cells + t->nrows * (size_t)ncols;
	for (int i = 0; i < ncols; i++) {
		cells[i] = vals[i] ? strdup(vals[i]) : NULL;
		if (vals[i] && !cells[i])
			t->failed = true;
	}
	t->nrows++;
}

void mtable_free(struct mtable *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	for (int i = 0; i < t->ncols; i++)
		free(t->names[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static int col_of(const struct mtable *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (!strcmp(t->names[i], name))
			return i;
	return -1;
}

static const char *cell(const struct mtable *t, size_t row, int col)
{
	return col < 0 ? NULL : t->cells[row * (size_t)t->ncols + (size_t)col];
}

/* ---- the families: pgbouncer_exporter's names, types, labels and units ---- */

/* One metric from one column, a sample per row. */
struct mcol {
	const char *col;
	const char *name;
	bool counter;
	bool micro;		/* the column counts microseconds; the metric, seconds */
	const char *help;
};

/* One metric from one row of a two-column (name, value) table. */
struct mkey {
	const char *key;
	const char *name;
	const char *help;
};

static const char *const database_labels[] = {
	"name", "host", "port", "database", "force_user", "pool_mode", NULL,
};

static const struct mcol database_cols[] = {
	{ "pool_size", "pgbouncer_databases_pool_size", false, false,
	  "Server connections a pool of this database may open" },
	/* the column PgBouncer 1.24 renamed reserve_pool_size; the exporter's name */
	{ "reserve_pool_size", "pgbouncer_databases_reserve_pool", false, false,
	  "Additional server connections this database may open from the reserve" },
	{ "max_connections", "pgbouncer_databases_max_connections", false, false,
	  "Most server connections allowed to this database" },
	{ "current_connections", "pgbouncer_databases_current_connections", false, false,
	  "Server connections open to this database now" },
	{ "paused", "pgbouncer_databases_paused", false, false,
	  "1 while this database is paused, else 0" },
	{ "disabled", "pgbouncer_databases_disabled", false, false,
	  "1 while this database is disabled, else 0" },
};

static const char *const stats_labels[] = { "database", NULL };

static const struct mcol stats_cols[] = {
	{ "total_query_count", "pgbouncer_stats_queries_pooled_total", true, false,
	  "SQL queries pooled" },
	{ "total_query_time", "pgbouncer_stats_queries_duration_seconds_total", true, true,
	  "Seconds spent connected to PostgreSQL running queries" },
	{ "total_received", "pgbouncer_stats_received_bytes_total", true, false,
	  "Bytes of network traffic received from clients" },
	{ "total_sent", "pgbouncer_stats_sent_bytes_total", true, false,
	  "Bytes of network traffic sent to clients" },
	{ "total_wait_time", "pgbouncer_stats_client_wait_seconds_total", true, true,
	  "Seconds clients spent waiting for a server" },
	{ "total_xact_count", "pgbouncer_stats_sql_transactions_pooled_total", true, false,
	  "SQL transactions pooled" },
	{ "total_xact_time", "pgbouncer_stats_server_in_transaction_seconds_total", true, true,
	  "Seconds spent connected to PostgreSQL in a transaction, idle in it or running queries" },
	{ "total_client_parse_count", "pgbouncer_stats_client_parses_total", true, false,
	  "Prepared statement Parse messages received from clients" },
	{ "total_server_parse_count", "pgbouncer_stats_server_parses_total", true, false,
	  "Prepared statement Parse messages sent to PostgreSQL" },
	{ "total_bind_count", "pgbouncer_stats_binds_total", true, false,
	  "Prepared statements readied for execution by a Bind message" },
};

static const char *const pool_labels[] = { "database", "user", NULL };

static const struct mcol pool_cols[] = {
	{ "cl_active", "pgbouncer_pools_client_active_connections", false, false,
	  "Client connections linked to a server connection or idle, able to run queries" },
	{ "cl_active_cancel_req", "pgbouncer_pools_client_active_cancel_connections", false, false,
	  "Client connections whose cancel request was forwarded, waiting for the answer" },
	{ "cl_waiting", "pgbouncer_pools_client_waiting_connections", false, false,
	  "Client connections waiting for a server connection" },
	{ "cl_waiting_cancel_req", "pgbouncer_pools_client_waiting_cancel_connections", false,
	  false, "Client connections whose cancel request is not forwarded yet" },
	{ "sv_active", "pgbouncer_pools_server_active_connections", false, false,
	  "Server connections linked to a client connection" },
	{ "sv_active_cancel", "pgbouncer_pools_server_active_cancel_connections", false, false,
	  "Server connections forwarding a cancel request" },
	{ "sv_being_canceled", "pgbouncer_pools_server_being_canceled_connections", false, false,
	  "Server connections waiting for cancel requests sent for them to complete" },
	{ "sv_idle", "pgbouncer_pools_server_idle_connections", false, false,
	  "Server connections idle, ready for a client" },
	{ "sv_used", "pgbouncer_pools_server_used_connections", false, false,
	  "Server connections idle for longer than server_check_delay" },
	{ "sv_tested", "pgbouncer_pools_server_testing_connections", false, false,
	  "Server connections running server_reset_query or server_check_query" },
	{ "sv_login", "pgbouncer_pools_server_login_connections", false, false,
	  "Server connections logging in" },
	{ "maxwait", "pgbouncer_pools_client_maxwait_seconds", false, false,
	  "Seconds the oldest waiting client has waited" },
};

/* worker: with several workers SHOW IO has a row per worker */
static const char *const io_labels[] = { "backend", "worker", NULL };

/* pgring's own: SHOW IO, the event loop's counters */
static const struct mcol io_cols[] = {
	{ "submits", "pgring_io_submits_total", true, false,
	  "io_uring_enter or epoll_wait calls of the event loop" },
	{ "sqes", "pgring_io_sqes_total", true, false, "Operations handed to the kernel" },
	{ "cqes", "pgring_io_cqes_total", true, false, "Completions reaped" },
	{ "sqes_per_submit", "pgring_io_sqes_per_submit", false, false,
	  "Operations per submit call since start" },
	{ "recv_calls", "pgring_io_recv_calls_total", true, false, "recv system calls" },
	{ "send_calls", "pgring_io_send_calls_total", true, false, "send system calls" },
	{ "syscalls", "pgring_io_syscalls_total", true, false,
	  "System calls made on the event loop's thread" },
	{ "cq_overflows", "pgring_io_cq_overflows_total", true, false,
	  "Completions the kernel dropped (io_uring CQ overflow); 0 on epoll" },
	{ "enobufs", "pgring_io_enobufs_total", true, false,
	  "Receives ended because the shared receive buffers ran out" },
	{ "cancels", "pgring_io_cancels_total", true, false, "Operations cancelled" },
	{ "turns", "pgring_io_turns_total", true, false, "Turns of the event loop" },
};

static const struct mkey list_keys[] = {
	{ "databases", "pgbouncer_databases", "Databases" },
	{ "users", "pgbouncer_users", "Users" },
	{ "pools", "pgbouncer_pools", "Pools" },
	{ "free_clients", "pgbouncer_free_clients", "Free client slots" },
	{ "used_clients", "pgbouncer_used_clients", "Client connections in use" },
	{ "login_clients", "pgbouncer_login_clients", "Client connections logging in" },
	{ "free_servers", "pgbouncer_free_servers", "Free server slots" },
	{ "used_servers", "pgbouncer_used_servers", "Server connections in use" },
	{ "dns_names", "pgbouncer_cached_dns_names", "DNS names in the cache" },
	{ "dns_zones", "pgbouncer_cached_dns_zones", "DNS zones in the cache" },
	{ "dns_queries", "pgbouncer_in_flight_dns_queries", "DNS queries in flight" },
};

static const struct mkey config_keys[] = {
	{ "max_client_conn", "pgbouncer_config_max_client_connections",
	  "Configured most client connections (max_client_conn)" },
	{ "max_user_connections", "pgbouncer_config_max_user_connections",
	  "Configured most server connections per user (max_user_connections)" },
};

static void family_head(struct mtext *out, const char *name, const char *help, bool counter)
{
	mtext_puts(out, "# HELP ");
	mtext_puts(out, name);
	mtext_puts(out, " ");
	mtext_puts(out, help);	/* ours: no backslash, no newline to escape */
	mtext_puts(out, "\n# TYPE ");
	mtext_puts(out, name);
	mtext_puts(out, counter ? " counter\n" : " gauge\n");
}

static void label(struct mtext *out, bool first, const char *name, const char *val)
{
	mtext_puts(out, first ? "{" : ",");
	mtext_puts(out, name);
	mtext_puts(out, "=\"");
	metrics_label_value(out, val);
	mtext_puts(out, "\"");
}

static void render_cols(struct mtext *out, const struct mtable *t, const char *const *labels,
			const struct mcol *cols, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int c = col_of(t, cols[k].col);

		if (c < 0 || !t->nrows)
			continue;
		family_head(out, cols[k].name, cols[k].help, cols[k].counter);
		for (size_t r = 0; r < t->nrows; r++) {
			mtext_puts(out, cols[k].name);
			for (int l = 0; labels[l]; l++)
				if (l == 0 || col_of(t, labels[l]) >= 0)
					label(out, l == 0, labels[l], cell(t, r, col_of(t, labels[l])));
			mtext_puts(out, labels[0] ? "} " : " ");
			metrics_sample_value(out, cell(t, r, c), cols[k].micro);
			mtext_puts(out, "\n");
		}
	}
}

static void render_keys(struct mtext *out, const struct mtable *t, const char *keycol,
			const char *valcol, const struct mkey *keys, size_t n)
{
	int kc = col_of(t, keycol), vc = col_of(t, valcol);

	if (kc < 0 || vc < 0)
		return;
	for (size_t k = 0; k < n; k++) {
		for (size_t r = 0; r < t->nrows; r++) {
			const char *key = cell(t, r, kc);

			if (!key || strcmp(key, keys[k].key))
				continue;
			family_head(out, keys[k].name, keys[k].help, false);
			mtext_puts(out, keys[k].name);
			mtext_puts(out, " ");
			metrics_sample_value(out, cell(t, r, vc), false);
			mtext_puts(out, "\n");
			break;
		}
	}
}

/* pgbouncer_server_connections: SHOW SERVERS counted by user, database,
 * state, addr_port and close_needed */
struct srv_key {
	const char *user, *db, *state, *close;
	char addr[160];
};

static int srv_cmp(const void *x, const void *y)
{
	const struct srv_key *a = x, *b = y;
	int d;

	if ((d = strcmp(a->user, b->user)) || (d = strcmp(a->db, b->db)) ||
	    (d = strcmp(a->state, b->state)) || (d = strcmp(a->addr, b->addr)))
		return d;
	return strcmp(a->close, b->close);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static void render_servers(struct mtext *out, const struct mtable *t)
{
	int cu = col_of(t, "user"), cd = col_of(t, "database"), cs = col_of(t, "state");
	int ca = col_of(t, "addr"), cp = col_of(t, "port"), cc = col_of(t, "close_needed");
	const char *name = "pgbouncer_server_connections";
	struct srv_key *keys;

	if (!t->nrows || !(keys = calloc(t->nrows, sizeof(*keys)))) {
		out->failed = out->failed || t->nrows;
		return;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		keys[r].user = or_empty(cell(t, r, cu));
		keys[r].db = or_empty(cell(t, r, cd));
		keys[r].state = or_empty(cell(t, r, cs));
		keys[r].close = cell(t, r, cc) && !strcmp(cell(t, r, cc), "1") ? "true" : "false";
		snprintf(keys[r].addr, sizeof(keys[r].addr), "%s_%s", or_empty(cell(t, r, ca)),
			 or_empty(cell(t, r, cp)));
	}
	qsort(keys, t->nrows, sizeof(*keys), srv_cmp);
	family_head(out, name, "Server connections by state", false);
	for (size_t r = 0, n; r < t->nrows; r += n) {
		char num[24];

		for (n = 1; r + n < t->nrows && !srv_cmp(&keys[r], &keys[r + n]); n++)
			;
		mtext_puts(out, name);
		label(out, true, "user", keys[r].user);
		label(out, false, "database", keys[r].db);
		label(out, false, "state", keys[r].state);
		label(out, false, "addr", keys[r].addr);
		label(out, false, "close_needed", keys[r].close);
		snprintf(num, sizeof(num), "} %zu\n", n);
		mtext_puts(out, num);
	}
	free(keys);
}

static void render_version(struct mtext *out, const struct mtable *t)
{
	int c = col_of(t, "version");

	if (c < 0 || !t->nrows)
		return;
	family_head(out, "pgbouncer_version_info", "The version of the pooler", false);
	mtext_puts(out, "pgbouncer_version_info");
	label(out, true, "version", cell(t, 0, c));
	mtext_puts(out, "} 1\n");
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

bool metrics_render_table(struct mtext *out, const char *what, const struct mtable *t)
{
	if (!strcmp(what, "version"))
		render_version(out, t);
	else if (!strcmp(what, "lists"))
		render_keys(out, t, "list", "items", list_keys, N(list_keys));
	else if (!strcmp(what, "config"))
		render_keys(out, t, "key", "value", config_keys, N(config_keys));
	else if (!strcmp(what, "databases"))
		render_cols(out, t, database_labels, database_cols, N(database_cols));
	else if (!strcmp(what, "stats"))
		render_cols(out, t, stats_labels, stats_cols, N(stats_cols));
	else if (!strcmp(what, "pools"))
		render_cols(out, t, pool_labels, pool_cols, N(pool_cols));
	else if (!strcmp(what, "servers"))
		render_servers(out, t);
	else if (!strcmp(what, "io"))
		render_cols(out, t, io_labels, io_cols, N(io_cols));
	else
		return false;
	return true;
}

void metrics_render_up(struct mtext *out, bool up)
{
	family_head(out, "pgbouncer_up", "1 when every figure could be gathered", false);
	mtext_puts(out, up ? "pgbouncer_up 1\n" : "pgbouncer_up 0\n");
}

static const char *const shows[] = {
	"version", "lists", "config", "databases", "stats", "pools", "servers", "io",
};

/* The whole exposition, from the console's own tables at this moment. */
static void render(struct worker *w, struct mtext *out)
{
	bool up = true;

	for (size_t i = 0; i < N(shows); i++) {
		struct mtable t;

		memset(&t, 0, sizeof(t));
		if (admin_show_rows(w, shows[i], mtable_add, &t) < 0 || t.failed)
			up = false;
		else
			metrics_render_table(out, shows[i], &t);
		mtable_free(&t);
	}
	metrics_render_up(out, up);
}

/* ---- configuration ---- */

int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon = s ? strrchr(s, ':') : NULL, *port, *h = host;
	size_t hlen;
	char *end;
	long p;
	int rc;

	if (!colon || colon == s) {
		snprintf(err, errlen, "\"%s\" is not ADDR:PORT", s ? s : "");
		return -1;
	}
	port = colon + 1;
	p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "\"%s\": the port must be 1 to 65535", s);
		return -1;
	}
	hlen = (size_t)(colon - s);
	if (s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') {
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "\"%s\": the address is too long", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (!strcmp(host, "*")) {
		h = "0.0.0.0";
		hints.ai_family = AF_INET;
	}
	rc = getaddrinfo(h, port, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "\"%s\": %s", host, rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return -1;
}

int metrics_check_config(const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[300];

	if (!cfg->metrics_listen || !*cfg->metrics_listen)
		return 0;
	if (metrics_parse_addr(cfg->metrics_listen, &ss, &len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: metrics_listen %s", cfg->path, why);
		return -1;
	}
	if (addr_port(&ss) == cfg->listen_port) {
		snprintf(err, errlen, "%s: metrics_listen %s: the port is listen_port's; "
			 "the metrics endpoint is never on the pooler's port", cfg->path,
			 cfg->metrics_listen);
		return -1;
	}
	return 0;
}

/* ---- HTTP ---- */

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text,
				  bool allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;	/* MHD closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_metrics(struct metrics *m, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	struct mtext t;
	enum MHD_Result ret;

	memset(&t, 0, sizeof(t));
	render(m->w, &t);
	if (t.failed || !t.buf) {
		mtext_free(&t);
		log_warning(m->w->log, "metrics: out of memory building the answer");
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
	}
	r = MHD_create_response_from_buffer(t.len, t.buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		mtext_free(&t);
		log_warning(m->w->log, "metrics: out of memory building the answer");
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- several workers: a scrape waits for every worker's rows ---- */

static void service(struct metrics *m);
static void timer_cb(struct loop *loop, struct loop_timer *t);

/* SHOW IO's total row: the per-worker series add up to it already */
static void drop_total_row(struct mtable *t)
{
	int wc = col_of(t, "worker");
	size_t last = t->nrows - 1;

	if (wc < 0 || !t->nrows || !cell(t, last, wc) || strcmp(cell(t, last, wc), "total"))
		return;
	for (int i = 0; i < t->ncols; i++)
		free(t->cells[last * (size_t)t->ncols + (size_t)i]);
	t->nrows--;
}

static void gathered(struct worker *w, uint64_t id, struct mtable *t, int n, bool ok)
{
	struct metrics *m = w->metrics;
	struct list_node *pos;
	struct mreq *r = NULL;
	bool up = ok;

	if (!m || m->stopped)
		return;
	list_for_each(pos, &m->reqs)
		if (list_entry(pos, struct mreq, node)->id == id)
			r = list_entry(pos, struct mreq, node);
	if (!r || r->done)
		return;		/* the scraper went */
	for (int i = 0; i < n; i++) {
		if (t[i].failed) {
			up = false;
			continue;
		}
		drop_total_row(&t[i]);
		metrics_render_table(&r->text, shows[i], &t[i]);
	}
	metrics_render_up(&r->text, up);
	r->done = true;
	MHD_resume_connection(r->c);
	/* MHD's turn comes from the timer: this may run inside one (a
	 * gather that needed no other worker) */
	loop_timer_set(w->loop, &m->timer, METRICS_AGAIN_US, timer_cb);
}

static enum MHD_Result reply_gathered(struct metrics *m, struct MHD_Connection *c, struct mreq *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->text.failed || !r->text.buf) {
		log_warning(m->w->log, "metrics: out of memory building the answer");
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
	}
	resp = MHD_create_response_from_buffer(r->text.len, r->text.buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		log_warning(m->w->log, "metrics: out of memory building the answer");
		return MHD_NO;
	}
	memset(&r->text, 0, sizeof(r->text));	/* the response's now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* First call: the gather starts and the connection waits; once resumed,
 * the answer. */
static enum MHD_Result gather_metrics(struct metrics *m, struct MHD_Connection *c, void **req_cls)
{
	struct mreq *r = *req_cls;

	if (r)
		return r->done ? reply_gathered(m, c, r) : MHD_YES;
	if (!(r = calloc(1, sizeof(*r)))) {
		log_warning(m->w->log, "metrics: out of memory building the answer");
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
	}
	r->c = c;
	r->id = ++m->next_req;
	list_append(&m->reqs, &r->node);
	*req_cls = r;
	MHD_suspend_connection(c);
	if (admin_gather(m->w, shows, (int)N(shows), gathered, r->id) < 0) {
		r->text.failed = true;		/* answered 500 once resumed */
		r->done = true;
		MHD_resume_connection(c);
	}
	return MHD_YES;
}

static void req_done(void *cls, struct MHD_Connection *c, void **req_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct metrics *m = cls;
	struct mreq *r = *req_cls;

	(void)c;
	(void)toe;
	if (!r)
		return;
	list_remove(&m->reqs, &r->node);
	mtext_free(&r->text);
	free(r);
	*req_cls = NULL;
}

/* Read-only: GET /metrics, nothing else.  The answer is queued at the
 * first call, with the head read: a body sent along is not waited for. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;

	if (m->gather && metrics_route(method, url) == 200)
		return gather_metrics(m, c, req_cls);
	switch (metrics_route(method, url)) {
	case 405:
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served\n",
				  true);
	case 404:
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: only GET /metrics is served\n",
				  false);
	default:
		return reply_metrics(cls, c);
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics *m = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	log_warning(m->w->log, "metrics: %s", msg);
}

/* ---- on the loop ---- */

static void timer_cb(struct loop *loop, struct loop_timer *t);
static void poll_cb(struct loop *loop, struct loop_op *op, int res, bool more);

static unsigned conns_of(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

/*
 * MHD's turn: its ready sockets served, then its next deadline as a timer.
 * Two kinds of work bring the poll op no new wakeup, so a short timer comes
 * back for them: events MHD left in its epoll set (its fd still readable),
 * and connections closed in this run (MHD takes its listening socket back
 * into its set, at the connection limit taken out, only in the next run;
 * until then a client waiting in the backlog would wait for ever).
 */
static void service(struct metrics *m)
{
	struct loop *loop = m->w->loop;
	struct pollfd pfd = { .fd = m->sock.fd, .events = POLLIN };
	MHD_UNSIGNED_LONG_LONG ms = 0;
	uint64_t delay = UINT64_MAX;
	unsigned before;

	if (m->stopped)
		return;
	before = conns_of(m->d);
	MHD_run(m->d);
	if (m->rearm && !m->op.armed) {
		m->rearm = false;
		loop_poll(loop, &m->sock, &m->op, poll_cb);
	}
	++*loop_syscalls(loop);
	if (poll(&pfd, 1, 0) > 0 || conns_of(m->d) < before)
		delay = METRICS_AGAIN_US;
	else if (MHD_get_timeout(m->d, &ms) == MHD_YES)
		delay = (uint64_t)ms * 1000;
	if (m->rearm && delay > METRICS_RETRY_US)
		delay = METRICS_RETRY_US;
	if (delay == UINT64_MAX)
		loop_timer_stop(loop, &m->timer);
	else
		loop_timer_set(loop, &m->timer, delay, timer_cb);
}

static void timer_cb(struct loop *loop, struct loop_timer *t)
{
	service(list_entry(t, struct metrics, timer));
}

static void poll_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct metrics *m = list_entry(op, struct metrics, op);

	if (m->stopped)
		return;
	if (!more) {
		/* a multishot poll the kernel ended: armed again, from the timer
		 * when it ended in an error (never in a tight loop) */
		if (res < 0 && res != -ECANCELED)
			log_warning(m->w->log, "metrics: poll ended: %s", strerror(-res));
		m->rearm = true;
		if (res >= 0) {
			m->rearm = false;
			loop_poll(loop, &m->sock, &m->op, poll_cb);
		}
	}
	service(m);
}

/* With so_reuseport the endpoint shares its port too: the new process of a
 * rolling restart starts while the old one still serves. */
static int listen_socket(const struct sockaddr_storage *ss, socklen_t len, bool reuseport)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, METRICS_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static struct MHD_Daemon *start_daemon(struct metrics *m, int fd, bool v6)
{
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
				(m->gather ? MHD_ALLOW_SUSPEND_RESUME : 0), 0,
				NULL, NULL, handle, m,
				/* first: MHD logs the options after it through it */
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m,
				MHD_OPTION_NOTIFY_COMPLETED, req_done, m,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_REQ_MAX,
				MHD_OPTION_END);
}

/* The loop watches a dup of MHD's epoll fd: closing the socket closes the
 * dup, and MHD_stop_daemon its own. */
static int watch_daemon(struct metrics *m)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	int fd = info ? fcntl(info->epoll_fd, F_DUPFD_CLOEXEC, 0) : -1;
	int ret;

	if (fd < 0)
		return -1;
	ret = loop_sock_open(m->w->loop, &m->sock, fd);
	if (ret < 0) {
		close(fd);
		errno = -ret;
		return -1;
	}
	loop_poll(m->w->loop, &m->sock, &m->op, poll_cb);
	return 0;
}

int metrics_start(struct worker *w)
{
	const char *spec = w->cfg->metrics_listen;
	struct sockaddr_storage ss;
	struct metrics *m;
	socklen_t len;
	char err[300];
	int fd;

	if (!spec || !*spec)
		return 0;
	if (metrics_parse_addr(spec, &ss, &len, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "metrics_listen %s", err);
		return -1;
	}
	fd = listen_socket(&ss, len, w->cfg->so_reuseport);
	if (fd < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "metrics_listen %s: %s", spec, strerror(errno));
		return -1;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		close(fd);
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	m->w = w;
	m->sock.fd = -1;
	m->gather = w->proc && w->proc->nworkers > 1;
	list_init(&m->reqs);
	/* on failure MHD may or may not have closed fd: it is left (we exit) */
	m->d = start_daemon(m, fd, ss.ss_family == AF_INET6);
	if (!m->d) {
		free(m);
		log_msg(w->log, LOG_LVL_FATAL, "metrics_listen %s: the HTTP server did not start", spec);
		return -1;
	}
	w->metrics = m;
	if (watch_daemon(m) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "metrics_listen %s: cannot watch the HTTP server: %s",
			spec, strerror(errno));
		return -1;	/* teardown frees it */
	}
	log_info(w->log, "metrics: serving GET /metrics on %s", spec);
	service(m);
	return 0;
}

void metrics_stop(struct worker *w)
{
	struct metrics *m = w->metrics;

	if (!m || m->stopped)
		return;
	m->stopped = true;
	/* a scrape still waiting for the workers is answered by its close */
	for (struct list_node *pos = m->reqs.head.next; pos != &m->reqs.head; pos = pos->next) {
		struct mreq *r = list_entry(pos, struct mreq, node);

		if (!r->done) {
			r->done = true;
			MHD_resume_connection(r->c);
		}
	}
	loop_timer_stop(w->loop, &m->timer);
	if (m->op.armed)
		loop_cancel(w->loop, &m->op);
}

void metrics_free(struct worker *w)
{
	struct metrics *m = w->metrics;

	if (!m)
		return;
	metrics_stop(w);
	/* an op the drain did not end keeps its fd: loop_free reaps it */
	if (!m->op.armed)
		loop_sock_close(w->loop, &m->sock);
	MHD_stop_daemon(m->d);
	free(m);
	w->metrics = NULL;
}
