/* admin.c - the admin console: SHOW, PAUSE/RESUME, RECONNECT, KILL, RELOAD, SET, SHUTDOWN, stats log */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin.h"
#include "notify.h"
#include "worker.h"

#define ADMIN_QUERY_MAX	65536		/* longer console queries are refused */
#define ADMIN_TICK_US	50000		/* how often owed answers are checked */
#define ADMIN_MAX_COLS	32
#define ADMIN_ROW_BYTES	16384		/* text of one row's cells */
#define MAX_PENDING	64

/* PostgreSQL type oids of the console's columns */
#define OID_INT8	20
#define OID_INT4	23
#define OID_TEXT	25
#define OID_NUMERIC	1700

/* Per-database flags set from the console; databases are config entries,
 * which are immutable, so these live here by name. */
struct admin_db {
	char name[64];
	bool paused;
	bool disabled;
	uint64_t reconnect_us;	/* servers connected before this must close */
};

enum wait_kind {
	WAIT_PAUSE = 1,
	WAIT_CLOSE,
	WAIT_SUSPEND,
};

/* A console client owed an answer (PAUSE, WAIT_CLOSE), found again by id. */
struct pending {
	uint64_t client_id;
	uint8_t kind;
	char db[64];		/* "" = every database */
};

struct admin {
	struct worker *w;
	admin_row_fn sink;		/* admin_show_rows: rows go here, not to a client */
	void *sink_arg;
	struct pool pool;		/* the console's pool, outside w->pools */
	bool paused;			/* global PAUSE */
	uint64_t suspend_start_us;	/* SUSPEND began (suspend_timeout) */
	int shutdown_mode;
	struct admin_db *dbs;
	size_t ndbs;
	uint64_t reconnect_all_us;	/* RECONNECT with no database */
	struct pending pending[MAX_PENDING];
	int npending;
	struct loop_timer tick;
	struct loop_timer stats_timer;
	uint64_t stats_stamp_us;
	struct pktbuf out;
};

struct col {
	const char *name;
	uint32_t oid;
};

/* One result set being built into a->out. */
struct rowset {
	struct admin *a;
	int ncols;
	const char *names[ADMIN_MAX_COLS];
	const char *vals[ADMIN_MAX_COLS];
	char text[ADMIN_ROW_BYTES];	/* the cells' text, end to end */
	size_t used;
	int rows;
};

/* ---- small helpers ---- */

bool admin_console_db(const char *dbname)
{
	return !strcmp(dbname, "pgbouncer") || !strcmp(dbname, "pgring");
}

static struct admin_db *db_state(struct admin *a, const char *name, bool create)
{
	struct admin_db *n;

	for (size_t i = 0; i < a->ndbs; i++)
		if (!strcmp(a->dbs[i].name, name))
			return &a->dbs[i];
	if (!create)
		return NULL;
	n = realloc(a->dbs, (a->ndbs + 1) * sizeof(*a->dbs));
	if (!n)
		return NULL;
	a->dbs = n;
	n = &a->dbs[a->ndbs++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	return n;
}

/* The console's pool first, then w->pools in order. */
static struct pool *next_pool(struct admin *a, struct pool *p)
{
	struct list *l = &a->w->pools;

	if (!p)
		return &a->pool;
	if (p == &a->pool)
		return list_empty(l) ? NULL : list_entry(list_first(l), struct pool, node);
	return p->node.next == &l->head ? NULL : list_entry(p->node.next, struct pool, node);
}

/* The pooled ones only: w->pools. */
static struct pool *next_db_pool(struct admin *a, struct pool *p)
{
	p = next_pool(a, p);
	return p == &a->pool ? next_pool(a, p) : p;
}

static unsigned servers_of(const struct pool *p)
{
	return p->login_servers.count + p->idle_servers.count + p->active_servers.count +
	       p->used_servers.count;
}

static unsigned clients_of(const struct pool *p)
{
	return p->wait_login.count + p->idle_clients.count + p->waiting.count +
	       p->active_clients.count;
}

static bool db_matches(const struct pool *p, const char *db)
{
	return !db || !*db || !strcmp(p->dbname, db);
}

/* closes idle servers of the pools of db ("" or NULL: all) */
static void close_idle(struct admin *a, const char *db, const char *why)
{
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		if (!db_matches(p, db))
			continue;
		while (!list_empty(&p->idle_servers)) {
			struct server *sv = list_entry(list_first(&p->idle_servers), struct server, node);

			if (sv->c.closing)
				break;
			server_close(sv, why);
		}
	}
}

static unsigned count_servers(struct admin *a, const char *db)
{
	unsigned n = 0;

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (db_matches(p, db))
			n += servers_of(p);
	return n;
}

static uint64_t reconnect_stamp(struct admin *a, const char *dbname)
{
	const struct admin_db *d = db_state(a, dbname, false);
	uint64_t t = a->reconnect_all_us;

	if (d && d->reconnect_us > t)
		t = d->reconnect_us;
	return t;
}

static bool must_reconnect(struct admin *a, const struct server *sv)
{
	return sv->pool && sv->c.connect_time_us < reconnect_stamp(a, sv->pool->dbname);
}

static unsigned count_stale(struct admin *a, const char *db)
{
	unsigned n = 0;
	const struct list *lists[4];

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		if (!db_matches(p, db))
			continue;
		lists[0] = &p->login_servers;
		lists[1] = &p->idle_servers;
		lists[2] = &p->active_servers;
		lists[3] = &p->used_servers;
		for (int i = 0; i < 4; i++) {
			struct list_node *pos, *tmp;

			list_for_each_safe(pos, tmp, lists[i])
				if (must_reconnect(a, list_entry(pos, struct server, node)))
					n++;
		}
	}
	return n;
}

/* idle servers that RECONNECT or a reload marked: released already, so they go now */
static void close_stale_idle(struct admin *a)
{
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		struct list_node *pos, *tmp;
		struct server *stale;

		/* a close pairs the pool again, which may take other idle servers:
		 * look again from the start after each */
		do {
			stale = NULL;
			list_for_each_safe(pos, tmp, &p->idle_servers) {
				struct server *sv = list_entry(pos, struct server, node);

				if (must_reconnect(a, sv) && !sv->c.closing) {
					stale = sv;
					break;
				}
			}
			if (stale)
				server_close(stale, "database settings changed");
		} while (stale);
	}
}

static void pair_all(struct admin *a, const char *db)
{
	struct pool *p = next_db_pool(a, NULL);

	while (p) {
		struct pool *next = next_db_pool(a, p);

		if (db_matches(p, db))
			pool_pair(p);
		p = next;
	}
}

/* Whether name is a database a command may act on. */
static bool db_known(struct admin *a, const char *name)
{
	const struct config *cfg = a->w->cfg;

	if (config_find_db(cfg, name) || cfg->fallback_db)
		return true;
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (!strcmp(p->dbname, name))
			return true;
	return false;
}

/* ---- answers ---- */

static void send_out(struct client *cl)
{
	struct admin *a = cl->c.w->admin;

	if (a->out.failed) {
		pkt_reset(&a->out);
		pkt_error(&a->out, "ERROR", "53200", "out of memory");
		pkt_ready(&a->out, 'I');
	}
	if (!conn_send_pkt(&cl->c, &a->out))
		return;		/* the console conn is failing, logged */
}

static void reply_ok(struct client *cl, const char *tag)
{
	struct pktbuf *pb = &cl->c.w->admin->out;

	pkt_command_complete(pb, tag);
	pkt_ready(pb, 'I');
	send_out(cl);
}

static void reply_error(struct client *cl, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_error(struct client *cl, const char *sqlstate, const char *fmt, ...)
{
	struct pktbuf *pb = &cl->c.w->admin->out;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warning(cl->c.w->log, "console: %s", msg);
	pkt_reset(pb);
	pkt_error(pb, "ERROR", sqlstate, "%s", msg);
	pkt_ready(pb, 'I');
	send_out(cl);
}

static void rs_begin(struct rowset *rs, struct admin *a, const struct col *cols, int n)
{
	const char *names[ADMIN_MAX_COLS];
	uint32_t oids[ADMIN_MAX_COLS];

	rs->a = a;
	rs->ncols = n;
	rs->rows = 0;
	rs->used = 0;
	for (int i = 0; i < n; i++) {
		names[i] = rs->names[i] = cols[i].name;
		oids[i] = cols[i].oid;
		rs->vals[i] = NULL;
	}
	pkt_reset(&a->out);
	pkt_row_desc(&a->out, names, oids, n);
}

/* copies s into the row (cut short if the row is full: never with what
 * pgring prints, whose longest cell is a 512-byte config value) */
static void cell_str(struct rowset *rs, int i, const char *s)
{
	size_t room = sizeof(rs->text) - rs->used, n;
	char *dst = rs->text + rs->used;

	if (!s) {
		rs->vals[i] = NULL;
		return;
	}
	n = strlen(s);
	if (n >= room)
		n = room ? room - 1 : 0;
	if (!room) {
		rs->vals[i] = "";
		return;
	}
	memcpy(dst, s, n);
	dst[n] = 0;
	rs->used += n + 1;
	rs->vals[i] = dst;
}

static void cell_u64(struct rowset *rs, int i, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	cell_str(rs, i, buf);
}

static void cell_int(struct rowset *rs, int i, long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", v);
	cell_str(rs, i, buf);
}

static void rs_row(struct rowset *rs)
{
	if (rs->a->sink)
		rs->a->sink(rs->a->sink_arg, rs->ncols, rs->names, rs->vals);
	else
		pkt_data_row(&rs->a->out, rs->vals, rs->ncols);
	for (int i = 0; i < rs->ncols; i++)
		rs->vals[i] = NULL;
	rs->used = 0;
	rs->rows++;
}

static void rs_end(struct rowset *rs, struct client *cl)
{
	if (cl)
		reply_ok(cl, "SHOW");
}

/* loop time (monotonic) as wall-clock text, as PgBouncer prints times */
static void format_time(struct worker *w, uint64_t mono_us, char *buf, size_t len)
{
	uint64_t now_mono = loop_now_us(w->loop);
	struct timespec ts;
	struct tm tm;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec - (time_t)((now_mono > mono_us ? now_mono - mono_us : 0) / 1000000);
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

/* ---- SHOW ---- */

#define NCOLS(c) ((int)(sizeof(c) / sizeof((c)[0])))

static void stats_of_db(struct admin *a, const char *db, struct stats *total, struct stats *avg)
{
	memset(total, 0, sizeof(*total));
	memset(avg, 0, sizeof(*avg));
	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		if (strcmp(p->dbname, db))
			continue;
		stats_add(total, &p->stats.total);
		stats_add(avg, &p->stats.avg);
	}
}

/* Each database once, in the order its first pool appears. */
static bool first_of_db(struct admin *a, struct pool *p)
{
	for (struct pool *q = next_pool(a, NULL); q && q != p; q = next_pool(a, q))
		if (!strcmp(q->dbname, p->dbname))
			return false;
	return true;
}

static int put_counts(struct rowset *rs, int i, const struct stats *s, bool with_ps)
{
	cell_u64(rs, i++, s->server_assignment_count);
	cell_u64(rs, i++, s->xact_count);
	cell_u64(rs, i++, s->query_count);
	cell_u64(rs, i++, s->bytes_received);
	cell_u64(rs, i++, s->bytes_sent);
	cell_u64(rs, i++, s->xact_time);
	cell_u64(rs, i++, s->query_time);
	cell_u64(rs, i++, s->wait_time);
	if (with_ps) {
		cell_u64(rs, i++, s->client_parse_count);
		cell_u64(rs, i++, s->server_parse_count);
		cell_u64(rs, i++, s->bind_count);
		cell_u64(rs, i++, s->client_login_count);
	}
	return i;
}

static void show_stats(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "database", OID_TEXT },
		{ "total_server_assignment_count", OID_NUMERIC }, { "total_xact_count", OID_NUMERIC },
		{ "total_query_count", OID_NUMERIC }, { "total_received", OID_NUMERIC },
		{ "total_sent", OID_NUMERIC }, { "total_xact_time", OID_NUMERIC },
		{ "total_query_time", OID_NUMERIC }, { "total_wait_time", OID_NUMERIC },
		{ "total_client_parse_count", OID_NUMERIC }, { "total_server_parse_count", OID_NUMERIC },
		{ "total_bind_count", OID_NUMERIC }, { "total_client_login_count", OID_NUMERIC },
		{ "avg_server_assignment_count", OID_NUMERIC }, { "avg_xact_count", OID_NUMERIC },
		{ "avg_query_count", OID_NUMERIC }, { "avg_recv", OID_NUMERIC },
		{ "avg_sent", OID_NUMERIC }, { "avg_xact_time", OID_NUMERIC },
		{ "avg_query_time", OID_NUMERIC }, { "avg_wait_time", OID_NUMERIC },
		{ "avg_client_parse_count", OID_NUMERIC }, { "avg_server_parse_count", OID_NUMERIC },
		{ "avg_bind_count", OID_NUMERIC }, { "avg_client_login_count", OID_NUMERIC },
	};
	struct rowset rs;
	struct stats total, avg;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		if (!first_of_db(a, p))
			continue;
		stats_of_db(a, p->dbname, &total, &avg);
		cell_str(&rs, 0, p->dbname);
		put_counts(&rs, put_counts(&rs, 1, &total, true), &avg, true);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

/* SHOW STATS_TOTALS and STATS_AVERAGES: the same columns without prefixes,
 * except that the averages keep avg_ on the three prepared-statement ones */
static void show_stats_part(struct client *cl, struct admin *a, bool averages)
{
	struct col cols[] = {
		{ "database", OID_TEXT },
		{ "server_assignment_count", OID_NUMERIC }, { "xact_count", OID_NUMERIC },
		{ "query_count", OID_NUMERIC }, { "bytes_received", OID_NUMERIC },
		{ "bytes_sent", OID_NUMERIC }, { "xact_time", OID_NUMERIC },
		{ "query_time", OID_NUMERIC }, { "wait_time", OID_NUMERIC },
		{ "client_parse_count", OID_NUMERIC }, { "server_parse_count", OID_NUMERIC },
		{ "bind_count", OID_NUMERIC }, { "client_login_count", OID_NUMERIC },
	};
	struct rowset rs;
	struct stats total, avg;

	if (averages) {
		cols[9].name = "avg_client_parse_count";
		cols[10].name = "avg_server_parse_count";
		cols[11].name = "avg_bind_count";
		cols[12].name = "avg_client_login_count";
	}
	rs_begin(&rs, a, cols, NCOLS(cols));
	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		if (!first_of_db(a, p))
			continue;
		stats_of_db(a, p->dbname, &total, &avg);
		cell_str(&rs, 0, p->dbname);
		put_counts(&rs, 1, averages ? &avg : &total, true);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

static void show_totals(struct client *cl, struct admin *a)
{
	static const struct col cols[] = { { "name", OID_TEXT }, { "value", OID_NUMERIC } };
	static const char *const names[] = {
		"server_assignment_count", "xact_count", "query_count", "client_bytes",
		"server_bytes", "xact_time", "query_time", "wait_time", "ps_client_parse_count",
		"ps_server_parse_count", "ps_bind_count", "client_login_count",
	};
	struct stats total = { 0 }, avg = { 0 };
	struct rowset rs, vals;
	char name[64];

	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		stats_add(&total, &p->stats.total);
		stats_add(&avg, &p->stats.avg);
	}
	rs_begin(&rs, a, cols, NCOLS(cols));
	for (int k = 0; k < 2; k++) {
		/* the values in the order of names[], through the same helper */
		vals.used = 0;
		put_counts(&vals, 0, k ? &avg : &total, true);
		for (int i = 0; i < NCOLS(names); i++) {
			snprintf(name, sizeof(name), "%s_%s", k ? "avg" : "total", names[i]);
			cell_str(&rs, 0, name);
			cell_str(&rs, 1, vals.vals[i]);
			rs_row(&rs);
		}
	}
	rs_end(&rs, cl);
}

static const char *load_balance_of(const struct pool *p)
{
	const struct db_conf *db = pool_db_conf(p);

	return db && db->host && strchr(db->host, ',') ? hosts_lb_name(db->lb_hosts) : NULL;
}

static void show_pools(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "database", OID_TEXT }, { "user", OID_TEXT },
		{ "cl_active", OID_INT4 }, { "cl_waiting", OID_INT4 },
		{ "cl_active_cancel_req", OID_INT4 }, { "cl_waiting_cancel_req", OID_INT4 },
		{ "sv_active", OID_INT4 }, { "sv_active_cancel", OID_INT4 },
		{ "sv_being_canceled", OID_INT4 }, { "sv_idle", OID_INT4 },
		{ "sv_used", OID_INT4 }, { "sv_tested", OID_INT4 }, { "sv_login", OID_INT4 },
		{ "maxwait", OID_INT4 }, { "maxwait_us", OID_INT4 },
		{ "pool_mode", OID_TEXT }, { "load_balance_hosts", OID_TEXT },
	};
	uint64_t now = loop_now_us(a->w->loop);
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		uint64_t wait = 0;
		int i = 0;

		if (!list_empty(&p->waiting)) {
			const struct client *first = list_entry(list_first(&p->waiting), struct client, node);

			wait = now > first->wait_start_us ? now - first->wait_start_us : 0;
		}
		cell_str(&rs, i++, p->dbname);
		cell_str(&rs, i++, p->user);
		cell_int(&rs, i++, p->active_clients.count + p->idle_clients.count);
		cell_int(&rs, i++, p->waiting.count + p->wait_login.count);
		cell_int(&rs, i++, 0);
		cell_int(&rs, i++, 0);
		cell_int(&rs, i++, p->active_servers.count);
		cell_int(&rs, i++, 0);
		cell_int(&rs, i++, 0);
		cell_int(&rs, i++, p->idle_servers.count);
		cell_int(&rs, i++, p->used_servers.count);
		cell_int(&rs, i++, 0);
		cell_int(&rs, i++, p->login_servers.count);
		cell_int(&rs, i++, (long long)(wait / 1000000));
		cell_int(&rs, i++, (long long)(wait % 1000000));
		cell_str(&rs, i++, p == &a->pool ? "statement" : pool_mode_name(pool_mode_of(p)));
		cell_str(&rs, i++, p == &a->pool ? NULL : load_balance_of(p));
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

static const struct col socket_cols[] = {
	{ "type", OID_TEXT }, { "user", OID_TEXT }, { "database", OID_TEXT },
	{ "replication", OID_TEXT }, { "state", OID_TEXT }, { "addr", OID_TEXT },
	{ "port", OID_INT4 }, { "local_addr", OID_TEXT }, { "local_port", OID_INT4 },
	{ "connect_time", OID_TEXT }, { "request_time", OID_TEXT }, { "wait", OID_INT4 },
	{ "wait_us", OID_INT4 }, { "close_needed", OID_INT4 }, { "ptr", OID_TEXT },
	{ "link", OID_TEXT }, { "remote_pid", OID_INT4 }, { "tls", OID_TEXT },
	{ "application_name", OID_TEXT }, { "prepared_statements", OID_INT4 }, { "id", OID_INT4 },
};

/*
 * SHOW SOCKETS adds PgBouncer's buffer columns, as pgring has them: it keeps
 * no per-socket buffer, so recv_pos is the bytes of the message coming in
 * received so far, pkt_remain those still to come, send_remain the bytes
 * queued to send, pkt_avail the shared receive buffers the socket holds;
 * pkt_pos, send_pos and send_avail are always 0.
 */
static const struct col low_cols[] = {
	{ "recv_pos", OID_INT4 }, { "pkt_pos", OID_INT4 }, { "pkt_remain", OID_INT4 },
	{ "send_pos", OID_INT4 }, { "send_remain", OID_INT4 }, { "pkt_avail", OID_INT4 },
	{ "send_avail", OID_INT4 },
};

/* what SHOW ACTIVE_SOCKETS lists: a socket with bytes in flight */
static bool conn_busy(const struct conn *c)
{
	return c->out_bytes || c->inq_n || c->fr.have || c->fr.in_body;
}

static void low_cells(struct rowset *rs, int i, const struct conn *c)
{
	const struct frame *fr = &c->fr;

	cell_int(rs, i++, fr->in_body ? (long long)fr->have + fr->len - fr->left : fr->have);
	cell_int(rs, i++, 0);
	cell_int(rs, i++, fr->in_body ? fr->left : 0);
	cell_int(rs, i++, 0);
	cell_int(rs, i++, (long long)c->out_bytes);
	cell_int(rs, i++, c->inq_n);
	cell_int(rs, i++, 0);
}

/* which rows and columns a socket list shows */
enum sock_view {
	VIEW_PLAIN = 0,		/* SHOW CLIENTS / SERVERS */
	VIEW_SOCKETS,		/* SHOW SOCKETS: plus low_cols */
	VIEW_ACTIVE,		/* SHOW ACTIVE_SOCKETS: those, busy ones only */
};

static void socket_row(struct rowset *rs, struct admin *a, const struct conn *c, bool server,
		       const char *user, const char *db, int repl, const char *state,
		       const void *link, uint32_t pid, const char *appname, bool close_needed,
		       enum sock_view view)
{
	uint64_t now = loop_now_us(a->w->loop);
	uint64_t wait = 0;
	char buf[64], addr[NET_ADDR_TEXT], laddr[NET_ADDR_TEXT], tlsbuf[128];
	int i = 0;

	if (!server && !strcmp(state, "waiting") && c->request_time_us)
		wait = now > c->request_time_us ? now - c->request_time_us : 0;
	cell_str(rs, i++, server ? "S" : "C");
	cell_str(rs, i++, user);
	cell_str(rs, i++, db);
	cell_str(rs, i++, proto_replication_name(repl));
	cell_str(rs, i++, state);
	cell_str(rs, i++, net_addr_text(&c->addr, addr, sizeof(addr)));
	cell_int(rs, i++, c->addr.port);
	cell_str(rs, i++, net_addr_text(&c->laddr, laddr, sizeof(laddr)));
	cell_int(rs, i++, c->laddr.port);
	format_time(a->w, c->connect_time_us, buf, sizeof(buf));
	cell_str(rs, i++, buf);
	format_time(a->w, c->request_time_us ? c->request_time_us : c->connect_time_us, buf,
		    sizeof(buf));
	cell_str(rs, i++, buf);
	cell_int(rs, i++, (long long)(wait / 1000000));
	cell_int(rs, i++, (long long)(wait % 1000000));
	cell_int(rs, i++, close_needed);
	snprintf(buf, sizeof(buf), "%p", (const void *)c);
	cell_str(rs, i++, buf);
	if (link)
		snprintf(buf, sizeof(buf), "%p", link);
	else
		buf[0] = 0;
	cell_str(rs, i++, buf);
	cell_int(rs, i++, pid);
	tls_info(c, tlsbuf, sizeof(tlsbuf));
	cell_str(rs, i++, tlsbuf);
	cell_str(rs, i++, appname ? appname : "");
	cell_int(rs, i++, server ? prep_server_count(list_entry(c, const struct server, c)) :
		 prep_client_count(list_entry(c, const struct client, c)));
	cell_int(rs, i++, (long long)c->id);
	if (view != VIEW_PLAIN)
		low_cells(rs, i, c);
	rs_row(rs);
}

static void client_rows(struct rowset *rs, struct admin *a, const struct list *l, const char *st,
			enum sock_view view)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, l) {
		const struct client *cl = list_entry(pos, struct client, node);
		const char *state = st ? st : (cl->server || cl->console ? "active" : "idle");

		if (view == VIEW_ACTIVE && !conn_busy(&cl->c))
			continue;
		socket_row(rs, a, &cl->c, false, cl->user ? cl->user : "",
			   cl->pool ? cl->pool->dbname : cl->dbname ? cl->dbname : "(nodb)",
			   cl->pool ? cl->pool->replication : REPL_NONE, state,
			   cl->server ? (const void *)&cl->server->c : NULL, 0,
			   cl->params.val[PARAM_APPLICATION_NAME], false, view);
	}
}

static void all_client_rows(struct rowset *rs, struct admin *a, enum sock_view view)
{
	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p)) {
		client_rows(rs, a, &p->active_clients, NULL, view);
		client_rows(rs, a, &p->idle_clients, NULL, view);
		client_rows(rs, a, &p->waiting, "waiting", view);
		client_rows(rs, a, &p->wait_login, "waiting", view);
	}
}

static void show_clients(struct client *cl, struct admin *a)
{
	struct rowset rs;

	rs_begin(&rs, a, socket_cols, NCOLS(socket_cols));
	all_client_rows(&rs, a, VIEW_PLAIN);
	rs_end(&rs, cl);
}

static void server_rows(struct rowset *rs, struct admin *a, const struct list *l, const char *st,
			enum sock_view view)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, l) {
		const struct server *sv = list_entry(pos, struct server, node);

		if (view == VIEW_ACTIVE && !conn_busy(&sv->c))
			continue;
		socket_row(rs, a, &sv->c, true, sv->pool->user, sv->pool->dbname, sv->pool->replication, st,
			   sv->client ? (const void *)&sv->client->c : NULL, sv->pid,
			   sv->params.val[PARAM_APPLICATION_NAME], must_reconnect(a, sv), view);
	}
}

static void all_server_rows(struct rowset *rs, struct admin *a, enum sock_view view)
{
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		server_rows(rs, a, &p->active_servers, "active", view);
		server_rows(rs, a, &p->idle_servers, "idle", view);
		server_rows(rs, a, &p->used_servers, "used", view);
		server_rows(rs, a, &p->login_servers, "new", view);
	}
}

static void show_servers(struct client *cl, struct admin *a)
{
	struct rowset rs;

	rs_begin(&rs, a, socket_cols, NCOLS(socket_cols));
	all_server_rows(&rs, a, VIEW_PLAIN);
	rs_end(&rs, cl);
}

/* SHOW SOCKETS / ACTIVE_SOCKETS: clients (logging in too), then servers,
 * with SHOW CLIENTS' columns and low_cols */
static void show_sockets_view(struct client *cl, struct admin *a, enum sock_view view)
{
	struct col cols[NCOLS(socket_cols) + NCOLS(low_cols)];
	struct rowset rs;

	memcpy(cols, socket_cols, sizeof(socket_cols));
	memcpy(cols + NCOLS(socket_cols), low_cols, sizeof(low_cols));
	rs_begin(&rs, a, cols, NCOLS(cols));
	client_rows(&rs, a, &a->w->login_clients, "login", view);
	all_client_rows(&rs, a, view);
	all_server_rows(&rs, a, view);
	rs_end(&rs, cl);
}

/*
 * SHOW FDS: PgBouncer lists what an online restart would hand over; pgring
 * has no online restart, so this is every socket it holds, with what it
 * knows of each: listeners ("pooler"), clients and servers. cancel is the
 * key pgring gave the client, or PostgreSQL's key of the server; password
 * and the SCRAM keys are never shown (NULL).
 */
static const struct col fds_cols[] = {
	{ "fd", OID_INT4 }, { "task", OID_TEXT }, { "user", OID_TEXT }, { "database", OID_TEXT },
	{ "addr", OID_TEXT }, { "port", OID_INT4 }, { "cancel", OID_INT8 }, { "link", OID_INT4 },
	{ "client_encoding", OID_TEXT }, { "std_strings", OID_TEXT }, { "datestyle", OID_TEXT },
	{ "timezone", OID_TEXT }, { "password", OID_TEXT }, { "scram_client_key", OID_TEXT },
	{ "scram_server_key", OID_TEXT },
};

static void fd_row(struct rowset *rs, const struct conn *c, const char *task, const char *user,
		   const char *db, uint32_t pid, uint32_t key, const struct conn *link,
		   const struct param_set *ps)
{
	char addr[NET_ADDR_TEXT];
	int i = 0;

	cell_int(rs, i++, c->sock.fd);
	cell_str(rs, i++, task);
	cell_str(rs, i++, user);
	cell_str(rs, i++, db);
	cell_str(rs, i++, net_addr_text(&c->addr, addr, sizeof(addr)));
	cell_int(rs, i++, c->addr.port);
	cell_int(rs, i++, (long long)(int64_t)((uint64_t)pid << 32 | key));
	if (link)
		cell_int(rs, i++, link->sock.fd);
	else
		cell_str(rs, i++, NULL);
	cell_str(rs, i++, ps->val[PARAM_CLIENT_ENCODING]);
	cell_str(rs, i++, ps->val[PARAM_STANDARD_CONFORMING_STRINGS]);
	cell_str(rs, i++, ps->val[PARAM_DATESTYLE]);
	cell_str(rs, i++, ps->val[PARAM_TIMEZONE]);
	rs_row(rs);	/* password and the keys: left NULL */
}

static void fd_server_rows(struct rowset *rs, const struct list *l)
{
	struct list_node *pos;

	list_for_each(pos, l) {
		const struct server *sv = list_entry(pos, struct server, node);

		fd_row(rs, &sv->c, "server", sv->pool->user, sv->pool->dbname, sv->pid, sv->key,
		       sv->client ? &sv->client->c : NULL, &sv->params);
	}
}

static void show_fds(struct client *cl, struct admin *a)
{
	struct worker *w = a->w;
	struct list_node *pos;
	struct rowset rs;

	rs_begin(&rs, a, fds_cols, NCOLS(fds_cols));
	for (int k = 0; k < w->nlisteners; k++) {
		const struct net_listener *nl = &w->listeners[k].nl;

		if (nl->fd < 0)
			continue;
		cell_int(&rs, 0, nl->fd);
		cell_str(&rs, 1, "pooler");
		cell_str(&rs, 4, nl->name);
		cell_int(&rs, 5, w->cfg->listen_port);
		rs_row(&rs);
	}
	list_for_each(pos, &w->clients) {
		const struct client *c = list_entry(pos, struct client, all);

		fd_row(&rs, &c->c, "client", c->user, c->dbname, c->cancel_pid, c->cancel_key,
		       c->server ? &c->server->c : NULL, &c->params);
	}
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		fd_server_rows(&rs, &p->active_servers);
		fd_server_rows(&rs, &p->idle_servers);
		fd_server_rows(&rs, &p->used_servers);
		fd_server_rows(&rs, &p->login_servers);
	}
	rs_end(&rs, cl);
}

static void show_sockets(struct client *cl, struct admin *a)
{
	show_sockets_view(cl, a, VIEW_SOCKETS);
}

static void show_active_sockets(struct client *cl, struct admin *a)
{
	show_sockets_view(cl, a, VIEW_ACTIVE);
}

/* one SHOW DATABASES row; db NULL for a name the fallback entry serves */
static void database_row(struct rowset *rs, struct admin *a, const char *name,
			 const struct db_conf *db)
{
	const struct config *cfg = a->w->cfg;
	const struct admin_db *d = db_state(a, name, false);
	unsigned servers = 0, clients = 0;
	int i = 0;

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		if (strcmp(p->dbname, name))
			continue;
		servers += servers_of(p);
		clients += clients_of(p);
	}
	cell_str(rs, i++, name);
	cell_str(rs, i++, db ? db->host : NULL);
	cell_int(rs, i++, db && db->port > 0 ? db->port : 5432);
	cell_str(rs, i++, db && db->dbname ? db->dbname : name);
	cell_str(rs, i++, db ? db->user : NULL);
	cell_int(rs, i++, db && db->pool_size != CONF_UNSET ? db->pool_size : cfg->default_pool_size);
	cell_int(rs, i++, db && db->min_pool_size != CONF_UNSET ? db->min_pool_size :
		 cfg->min_pool_size);
	cell_int(rs, i++, db && db->reserve_pool_size != CONF_UNSET ? db->reserve_pool_size :
		 cfg->reserve_pool_size);
	cell_int(rs, i++, (db && db->server_lifetime_us != CONF_UNSET ? db->server_lifetime_us :
			   cfg->server_lifetime_us) / 1000000);
	cell_str(rs, i++, db && db->pool_mode != POOL_MODE_UNSET ? pool_mode_name(db->pool_mode) :
		 NULL);
	cell_str(rs, i++, db && db->host && strchr(db->host, ',') ? hosts_lb_name(db->lb_hosts) :
		 NULL);
	cell_int(rs, i++, db && db->max_db_connections != CONF_UNSET ? db->max_db_connections :
		 cfg->max_db_connections);
	cell_int(rs, i++, servers);
	cell_int(rs, i++, db && db->max_db_client_connections != CONF_UNSET ?
		 db->max_db_client_connections : cfg->max_db_client_connections);
	cell_int(rs, i++, clients);
	cell_int(rs, i++, a->paused || (d && d->paused));
	cell_int(rs, i++, d && d->disabled);
	rs_row(rs);
}

static const struct col database_cols[] = {
	{ "name", OID_TEXT }, { "host", OID_TEXT }, { "port", OID_INT4 },
	{ "database", OID_TEXT }, { "force_user", OID_TEXT }, { "pool_size", OID_INT4 },
	{ "min_pool_size", OID_INT4 }, { "reserve_pool_size", OID_INT4 },
	{ "server_lifetime", OID_INT4 }, { "pool_mode", OID_TEXT },
	{ "load_balance_hosts", OID_TEXT }, { "max_connections", OID_INT4 },
	{ "current_connections", OID_INT4 }, { "max_client_connections", OID_INT4 },
	{ "current_client_connections", OID_INT4 }, { "paused", OID_INT4 },
	{ "disabled", OID_INT4 },
};

static void show_databases(struct client *cl, struct admin *a)
{
	const struct config *cfg = a->w->cfg;
	struct rowset rs;
	int i = 0;

	rs_begin(&rs, a, database_cols, NCOLS(database_cols));
	for (size_t k = 0; k < cfg->ndbs; k++)
		if (&cfg->dbs[k] != cfg->fallback_db)
			database_row(&rs, a, cfg->dbs[k].name, &cfg->dbs[k]);
	/* names the "*" entry serves, once each */
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (!config_find_db(cfg, p->dbname) && first_of_db(a, p))
			database_row(&rs, a, p->dbname, cfg->fallback_db);
	/* the console itself, as PgBouncer lists it */
	cell_str(&rs, i++, "pgbouncer");
	cell_str(&rs, i++, NULL);
	cell_int(&rs, i++, cfg->listen_port);
	cell_str(&rs, i++, "pgbouncer");
	cell_str(&rs, i++, "pgbouncer");
	cell_int(&rs, i++, 2);
	cell_int(&rs, i++, 0);
	cell_int(&rs, i++, 0);
	cell_int(&rs, i++, cfg->server_lifetime_us / 1000000);
	cell_str(&rs, i++, "statement");
	cell_str(&rs, i++, NULL);
	cell_int(&rs, i++, cfg->max_db_connections);
	cell_int(&rs, i++, 0);
	cell_int(&rs, i++, cfg->max_db_client_connections);
	cell_int(&rs, i++, clients_of(&a->pool));
	cell_int(&rs, i++, 0);
	cell_int(&rs, i++, 0);
	rs_row(&rs);
	rs_end(&rs, cl);
}

static void user_row(struct rowset *rs, struct admin *a, const char *name)
{
	const struct config *cfg = a->w->cfg;
	const struct user_conf *uc = config_find_user(cfg, name);
	/* as PgBouncer: servers by the pool's user, clients by their login user
	 * (a forced user= of a [databases] entry is only the servers') */
	unsigned servers = 0, clients = pool_login_user_clients(a->w, name);
	char num[16];
	int i = 0;

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (!strcmp(p->user, name))
			servers += servers_of(p);
	cell_str(rs, i++, name);
	/* PgBouncer prints these two as text, empty where not set */
	if (uc && uc->pool_size != CONF_UNSET)
		snprintf(num, sizeof(num), "%9d", uc->pool_size);
	else
		num[0] = 0;
	cell_str(rs, i++, num);
	if (uc && uc->reserve_pool_size != CONF_UNSET)
		snprintf(num, sizeof(num), "%9d", uc->reserve_pool_size);
	else
		num[0] = 0;
	cell_str(rs, i++, num);
	cell_str(rs, i++, uc && uc->pool_mode != POOL_MODE_UNSET ? pool_mode_name(uc->pool_mode) :
		 NULL);
	cell_int(rs, i++, uc && uc->max_user_connections != CONF_UNSET ? uc->max_user_connections :
		 cfg->max_user_connections);
	cell_int(rs, i++, servers);
	cell_int(rs, i++, uc && uc->max_user_client_connections != CONF_UNSET ?
		 uc->max_user_client_connections : cfg->max_user_client_connections);
	cell_int(rs, i++, clients);
	rs_row(rs);
}

static void show_users(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "name", OID_TEXT }, { "pool_size", OID_TEXT }, { "reserve_pool_size", OID_TEXT },
		{ "pool_mode", OID_TEXT }, { "max_user_connections", OID_INT4 },
		{ "current_connections", OID_INT4 }, { "max_user_client_connections", OID_INT4 },
		{ "current_client_connections", OID_INT4 },
	};
	const struct config *cfg = a->w->cfg;
	const struct userlist *ul = a->w->users;
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	/* auth_file users, then [users] entries and pool users not among them */
	for (size_t k = 0; ul && k < ul->n; k++)
		user_row(&rs, a, ul->ents[k].name);
	for (size_t k = 0; k < cfg->nusers; k++)
		if (!ul || !userlist_find(ul, cfg->users[k].name))
			user_row(&rs, a, cfg->users[k].name);
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		bool seen = (ul && userlist_find(ul, p->user)) || config_find_user(cfg, p->user);

		for (struct pool *q = next_db_pool(a, NULL); !seen && q != p; q = next_db_pool(a, q))
			seen = !strcmp(q->user, p->user);
		if (!seen)
			user_row(&rs, a, p->user);
	}
	rs_end(&rs, cl);
}

static void show_config(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "key", OID_TEXT }, { "value", OID_TEXT }, { "default", OID_TEXT },
		{ "changeable", OID_TEXT },
	};
	struct config_key_info info;
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (size_t k = 0; config_key_at(a->w->cfg, k, &info); k++) {
		cell_str(&rs, 0, info.name);
		cell_str(&rs, 1, info.value);
		cell_str(&rs, 2, info.default_value);
		cell_str(&rs, 3, info.reloadable ? "yes" : "no");
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

static void two_cols(struct rowset *rs, const char *k, long long v)
{
	cell_str(rs, 0, k);
	cell_int(rs, 1, v);
	rs_row(rs);
}

static void show_lists(struct client *cl, struct admin *a)
{
	static const struct col cols[] = { { "list", OID_TEXT }, { "items", OID_INT4 } };
	struct worker *w = a->w;
	struct rowset rs;
	unsigned pools = 1, dbs = 0, servers = 0, users = 0;

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		pools++;
		servers += servers_of(p);
		if (first_of_db(a, p) && !config_find_db(w->cfg, p->dbname))
			dbs++;
	}
	for (size_t k = 0; k < w->cfg->ndbs; k++)
		if (&w->cfg->dbs[k] != w->cfg->fallback_db)
			dbs++;
	users = w->users ? (unsigned)w->users->n : 0;
	rs_begin(&rs, a, cols, NCOLS(cols));
	two_cols(&rs, "databases", dbs + 1);
	two_cols(&rs, "users", users);
	two_cols(&rs, "peers", (long long)a->w->cfg->npeers);
	two_cols(&rs, "pools", pools);
	two_cols(&rs, "peer_pools", (long long)a->w->cfg->npeers);
	two_cols(&rs, "free_clients", 0);
	two_cols(&rs, "used_clients", w->nclients);
	two_cols(&rs, "login_clients", w->login_clients.count);
	two_cols(&rs, "free_servers", 0);
	two_cols(&rs, "used_servers", servers);
	two_cols(&rs, "dns_names", 0);
	two_cols(&rs, "dns_zones", 0);
	two_cols(&rs, "dns_queries", 0);
	two_cols(&rs, "dns_pending", 0);
	rs_end(&rs, cl);
}

static void mem_row(struct rowset *rs, const char *name, size_t size, unsigned used, unsigned avail)
{
	cell_str(rs, 0, name);
	cell_int(rs, 1, (long long)size);
	cell_int(rs, 2, used);
	cell_int(rs, 3, avail);
	cell_int(rs, 4, (long long)(size * (used + avail)));
	rs_row(rs);
}

/* Objects of varying size (prepared statements: their texts): the size
 * shown is the mean, memtotal the exact sum */
static void mem_row_bytes(struct rowset *rs, const char *name, size_t used, size_t bytes)
{
	cell_str(rs, 0, name);
	cell_int(rs, 1, used ? (long long)(bytes / used) : 0);
	cell_int(rs, 2, (long long)used);
	cell_int(rs, 3, 0);
	cell_int(rs, 4, (long long)bytes);
	rs_row(rs);
}

/* pgring allocates objects one by one (no slabs): nothing is kept free */
static void show_mem(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "name", OID_TEXT }, { "size", OID_INT4 }, { "used", OID_INT4 },
		{ "free", OID_INT4 }, { "memtotal", OID_INT4 },
	};
	struct worker *w = a->w;
	struct rowset rs;
	unsigned pools = 1, servers = 0, total = loop_bufs_total(w->loop);
	unsigned avail = loop_bufs_free(w->loop);
	struct prep_mem pm;

	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		pools++;
		servers += servers_of(p);
	}
	rs_begin(&rs, a, cols, NCOLS(cols));
	mem_row(&rs, "client_cache", sizeof(struct client), w->nclients, 0);
	mem_row(&rs, "server_cache", sizeof(struct server), servers, 0);
	mem_row(&rs, "pool_cache", sizeof(struct pool), pools, 0);
	mem_row(&rs, "iobuf_cache", loop_buf_size(w->loop), total - avail, avail);
	/* pgring's own rows: the registry of named statements */
	prep_mem_usage(w, &pm);
	mem_row_bytes(&rs, "prepared_stmt_cache", pm.stmts, pm.stmt_bytes);
	mem_row_bytes(&rs, "prepared_name_cache", pm.names, pm.name_bytes);
	rs_end(&rs, cl);
}

static void show_state(struct client *cl, struct admin *a)
{
	static const struct col cols[] = { { "key", OID_TEXT }, { "value", OID_TEXT } };
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	cell_str(&rs, 0, "active");
	cell_str(&rs, 1, a->paused ? "no" : "yes");
	rs_row(&rs);
	cell_str(&rs, 0, "paused");
	cell_str(&rs, 1, a->paused ? "yes" : "no");
	rs_row(&rs);
	cell_str(&rs, 0, "suspended");
	cell_str(&rs, 1, a->w->suspended ? "yes" : "no");
	rs_row(&rs);
	rs_end(&rs, cl);
}

static void show_version(struct client *cl, struct admin *a)
{
	static const struct col cols[] = { { "version", OID_TEXT } };
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	cell_str(&rs, 0, PACKAGE_NAME " " PACKAGE_VERSION);
	rs_row(&rs);
	rs_end(&rs, cl);
}

/* pgring's own: the event loop's counters, the figures behind batching */
static void show_io(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "backend", OID_TEXT }, { "submits", OID_INT8 }, { "sqes", OID_INT8 },
		{ "cqes", OID_INT8 }, { "sqes_per_submit", OID_NUMERIC },
		{ "recv_calls", OID_INT8 }, { "send_calls", OID_INT8 }, { "syscalls", OID_INT8 },
		{ "cq_overflows", OID_INT8 }, { "enobufs", OID_INT8 }, { "cancels", OID_INT8 },
		{ "turns", OID_INT8 },
	};
	const struct loop_stats *st = loop_get_stats(a->w->loop);
	struct rowset rs;
	char ratio[32];
	int i = 0;

	snprintf(ratio, sizeof(ratio), "%.2f", st->enters ? (double)st->sqes / (double)st->enters : 0.0);
	rs_begin(&rs, a, cols, NCOLS(cols));
	cell_str(&rs, i++, loop_backend_name(a->w->loop));
	cell_u64(&rs, i++, st->enters);
	cell_u64(&rs, i++, st->sqes);
	cell_u64(&rs, i++, st->cqes);
	cell_str(&rs, i++, ratio);
	cell_u64(&rs, i++, st->recv_calls);
	cell_u64(&rs, i++, st->send_calls);
	/* the logger's writes run on this thread too */
	cell_u64(&rs, i++, st->syscalls + log_syscalls(a->w->log));
	cell_u64(&rs, i++, st->cq_overflows);
	cell_u64(&rs, i++, st->enobufs);
	cell_u64(&rs, i++, st->cancels);
	cell_u64(&rs, i++, st->turns);
	rs_row(&rs);
	rs_end(&rs, cl);
}

/* pgring's own: SCRAM key derivation off the loop (kdf.c) */
static void show_kdf(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "threads", OID_INT4 }, { "in_flight", OID_INT4 }, { "submitted", OID_INT8 },
		{ "done", OID_INT8 }, { "joined", OID_INT8 }, { "cache_hits", OID_INT8 },
		{ "mocked", OID_INT8 }, { "refused", OID_INT8 },
	};
	const struct kdf_stats *st = kdf_stats(a->w->kdf);
	struct rowset rs;
	int i = 0;

	rs_begin(&rs, a, cols, NCOLS(cols));
	cell_u64(&rs, i++, (uint64_t)a->w->cfg->kdf_threads);
	cell_u64(&rs, i++, kdf_in_flight(a->w->kdf));
	cell_u64(&rs, i++, st->submitted);
	cell_u64(&rs, i++, st->done);
	cell_u64(&rs, i++, st->joined);
	cell_u64(&rs, i++, st->cache_hits);
	cell_u64(&rs, i++, st->mocked);
	cell_u64(&rs, i++, st->refused);
	rs_row(&rs);
	rs_end(&rs, cl);
}

/* the [peers] entries as configured, pool_size as it applies */
static void show_peers(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "peer_id", OID_INT4 }, { "host", OID_TEXT }, { "port", OID_INT4 },
		{ "pool_size", OID_INT4 },
	};
	const struct config *cfg = a->w->cfg;
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (size_t k = 0; k < cfg->npeers; k++) {
		const struct peer_conf *pc = &cfg->peers[k];

		cell_int(&rs, 0, pc->id);
		cell_str(&rs, 1, pc->host);
		cell_int(&rs, 2, pc->port);
		cell_int(&rs, 3, pc->pool_size != CONF_UNSET ? pc->pool_size : cfg->default_pool_size);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

/* per peer: cancels being forwarded (active), queued under its pool_size
 * (waiting), and their connections, connected or still connecting */
static void show_peer_pools(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "peer_id", OID_INT4 }, { "cl_active_cancel_req", OID_INT4 },
		{ "cl_waiting_cancel_req", OID_INT4 }, { "sv_active_cancel", OID_INT4 },
		{ "sv_login", OID_INT4 },
	};
	const struct config *cfg = a->w->cfg;
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (size_t k = 0; k < cfg->npeers; k++) {
		const struct peer_pool *pp = server_peer_pool(a->w, cfg->peers[k].id);

		cell_int(&rs, 0, cfg->peers[k].id);
		cell_int(&rs, 1, pp ? pp->nlogin + pp->nactive : 0);
		cell_int(&rs, 2, pp ? pp->waiting.count : 0);
		cell_int(&rs, 3, pp ? pp->nactive : 0);
		cell_int(&rs, 4, pp ? pp->nlogin : 0);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

/* the names looked up, as PgBouncer shows them: ttl is what is left of it */
static void show_dns_hosts(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "hostname", OID_TEXT }, { "ttl", OID_INT8 }, { "addrs", OID_TEXT },
	};
	uint64_t now = loop_now_us(a->w->loop);
	struct rowset rs;
	char addrs[1024];

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (const struct dns_host *h = dns_hosts(a->w->dns); h; h = h->next) {
		dns_host_addrs_text(h, addrs, sizeof(addrs));
		cell_str(&rs, 0, h->name);
		cell_u64(&rs, 1, dns_host_ttl_left(h, now));
		cell_str(&rs, 2, addrs);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

static void show_dns_zones(struct client *cl, struct admin *a)
{
	static const struct col cols[] = {
		{ "zonename", OID_TEXT }, { "serial", OID_INT8 }, { "count", OID_INT4 },
	};
	struct rowset rs;

	rs_begin(&rs, a, cols, NCOLS(cols));
	for (const struct dns_zone *z = dns_zones(a->w->dns); z; z = z->next) {
		cell_str(&rs, 0, z->name);
		cell_u64(&rs, 1, z->serial);
		cell_int(&rs, 2, z->nhosts);
		rs_row(&rs);
	}
	rs_end(&rs, cl);
}

static void show_help(struct client *cl, struct admin *a)
{
	pkt_reset(&a->out);
	pkt_begin(&a->out, 'N');
	pkt_u8(&a->out, 'S');
	pkt_str(&a->out, "NOTICE");
	pkt_u8(&a->out, 'C');
	pkt_str(&a->out, "00000");
	pkt_u8(&a->out, 'M');
	pkt_str(&a->out, "Console usage");
	pkt_u8(&a->out, 'D');
	pkt_str(&a->out,
		"\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
		"\tSHOW PEERS|PEER_POOLS\n"
		"\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE|IO|KDF\n"
		"\tSHOW DNS_HOSTS|DNS_ZONES\n"
		"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
		"\tSET key = arg\n"
		"\tRELOAD\n"
		"\tPAUSE [<db>]\n"
		"\tRESUME [<db>]\n"
		"\tDISABLE <db>\n"
		"\tENABLE <db>\n"
		"\tRECONNECT [<db>]\n"
		"\tKILL [<db>]\n"
		"\tKILL_CLIENT <client_id>\n"
		"\tSUSPEND\n"
		"\tSHUTDOWN\n"
		"\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
		"\tWAIT_CLOSE [<db>]");
	pkt_u8(&a->out, 0);
	pkt_end(&a->out);
	reply_ok(cl, "SHOW");
}

/* Parameters some clients SHOW or SET on connect; answered, not acted on. */
static const char *const fake_params[][2] = {
	{ "client_encoding", "UTF8" },
	{ "default_transaction_isolation", "read committed" },
	{ "standard_conforming_strings", "on" },
	{ "datestyle", "ISO" },
	{ "timezone", "GMT" },
	{ "extra_float_digits", "2" },
};

static int fake_param(const char *name)
{
	for (int i = 0; i < (int)(sizeof(fake_params) / sizeof(fake_params[0])); i++)
		if (!strcasecmp(name, fake_params[i][0]))
			return i;
	return -1;
}

struct show_cmd {
	const char *name;
	void (*fn)(struct client *cl, struct admin *a);
};

static void show_stats_totals(struct client *cl, struct admin *a)
{
	show_stats_part(cl, a, false);
}

static void show_stats_averages(struct client *cl, struct admin *a)
{
	show_stats_part(cl, a, true);
}

static const struct show_cmd show_cmds[] = {
	{ "clients", show_clients },
	{ "config", show_config },
	{ "databases", show_databases },
	{ "dns_hosts", show_dns_hosts },
	{ "active_sockets", show_active_sockets },
	{ "dns_zones", show_dns_zones },
	{ "fds", show_fds },
	{ "help", show_help },
	{ "io", show_io },
	{ "kdf", show_kdf },
	{ "lists", show_lists },
	{ "mem", show_mem },
	{ "peer_pools", show_peer_pools },
	{ "peers", show_peers },
	{ "pools", show_pools },
	{ "servers", show_servers },
	{ "sockets", show_sockets },
	{ "state", show_state },
	{ "stats", show_stats },
	{ "stats_averages", show_stats_averages },
	{ "stats_totals", show_stats_totals },
	{ "totals", show_totals },
	{ "users", show_users },
	{ "version", show_version },
};

static void cmd_show(struct client *cl, struct admin *a, const struct admin_cmd *cmd, const char *q)
{
	int fp;

	for (size_t i = 0; i < sizeof(show_cmds) / sizeof(show_cmds[0]); i++) {
		if (!strcasecmp(cmd->arg, show_cmds[i].name)) {
			show_cmds[i].fn(cl, a);
			return;
		}
	}
	fp = fake_param(cmd->arg);
	if (fp >= 0) {
		struct col c = { fake_params[fp][0], OID_TEXT };
		struct rowset rs;

		rs_begin(&rs, a, &c, 1);
		cell_str(&rs, 0, fake_params[fp][1]);
		rs_row(&rs);
		rs_end(&rs, cl);
		return;
	}
	reply_error(cl, "08P01", "invalid command '%s', use SHOW HELP;", q);
}

int admin_show_rows(struct worker *w, const char *what, admin_row_fn fn, void *arg)
{
	struct admin *a = w->admin;

	if (!a)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(show_cmds) / sizeof(show_cmds[0]); i++) {
		/* SHOW HELP is a notice, not rows */
		if (strcasecmp(what, show_cmds[i].name) || show_cmds[i].fn == show_help)
			continue;
		a->sink = fn;
		a->sink_arg = arg;
		show_cmds[i].fn(NULL, a);
		a->sink = NULL;
		a->sink_arg = NULL;
		pkt_reset(&a->out);
		return 0;
	}
	return -ENOENT;
}

/* ---- config swap (RELOAD, SET, SIGHUP) ---- */

static void stats_timer_arm(struct admin *a);

static bool same_str(const char *x, const char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, y));
}

/* Servers of a database whose connection settings changed get replaced as
 * they are released, as RECONNECT does. */
static void mark_changed_dbs(struct admin *a, const struct config *old, const struct config *new)
{
	uint64_t now = loop_now_us(a->w->loop) + 1;

	for (size_t k = 0; k < old->ndbs; k++) {
		const struct db_conf *o = &old->dbs[k];
		const struct db_conf *n = config_find_db(new, o->name);
		struct admin_db *d;

		if (n && same_str(o->host, n->host) && same_str(o->ports, n->ports) &&
		    o->tsa == n->tsa &&
		    same_str(o->dbname, n->dbname) && same_str(o->user, n->user) &&
		    same_str(o->password, n->password))
			continue;
		d = db_state(a, o->name, true);
		if (d)
			d->reconnect_us = now;
	}
}

/* Takes ownership of cfg and makes it the running config. */
static void swap_config(struct worker *w, struct config *cfg)
{
	struct admin *a = w->admin;
	int64_t old_period = w->cfg->stats_period_us;

	if (a)
		mark_changed_dbs(a, w->cfg, cfg);
	/* nothing keeps pointers into the old snapshot across turns (pools
	 * look their settings up by name), so it can go now */
	config_free(w->owned_cfg);
	w->owned_cfg = cfg;
	w->cfg = cfg;
	if (!a)
		return;
	if (cfg->stats_period_us != old_period)
		stats_timer_arm(a);
	close_stale_idle(a);		/* of databases whose settings changed */
	pair_all(a, NULL);		/* a larger pool_size lets waiting clients in */
}

static void warn_cb(void *arg, const char *msg)
{
	log_warning((struct logger *)arg, "%s", msg);
}

static int reload_config(struct worker *w, const char *why)
{
	struct config *cfg = NULL;
	struct userlist *ul = NULL;
	char err[512];

	log_info(w->log, "%s, re-reading config", why);
	log_reopen(w->log);
	if (config_load(w->cfg_path, &cfg, err, sizeof(err), warn_cb, w->log) < 0) {
		log_error(w->log, "config reload failed, keeping the running config: %s", err);
		return -1;
	}
	if (config_keep_no_reload(cfg, w->cfg, warn_cb, w->log) < 0) {
		log_error(w->log, "config reload failed, keeping the running config: out of memory");
		config_free(cfg);
		return -1;
	}
	switch (config_attach_hba(cfg, w->cfg, err, sizeof(err))) {
	case 0:
		break;
	case 1:
		log_error(w->log, "hba reload failed, keeping the old hba and ident rules: %s", err);
		break;
	default:
		log_error(w->log, "config reload failed, keeping the running config: %s", err);
		config_free(cfg);
		return -1;
	}
	if (cfg->auth_file && *cfg->auth_file &&
	    userlist_load(cfg->auth_file, &ul, err, sizeof(err), warn_cb, w->log) < 0) {
		log_error(w->log, "auth_file reload failed, keeping the running config: %s", err);
		config_free(cfg);
		return -1;
	}
	userlist_carry_keys(ul, w->users);
	/* new handshakes get the new files; on error the old ones stay, and
	 * live connections keep theirs either way */
	if (tls_worker_reload(w, cfg, err, sizeof(err)) < 0)
		log_error(w->log, "TLS reload failed, keeping the running TLS settings: %s", err);
	userlist_free(w->users);
	w->users = ul;
	log_configure(w->log, cfg->logfile, cfg->syslog, cfg->syslog_ident, cfg->syslog_facility,
		      cfg->verbose > w->log->level - LOG_LVL_LOG ? cfg->verbose :
		      w->log->level - LOG_LVL_LOG, w->log->quiet);
	swap_config(w, cfg);
	client_kdf_warm(w);	/* a new auth_file, or scram_iterations */
	return 0;
}

/* RELOAD and SIGHUP: systemd hears RELOADING=1, then READY=1 whatever the outcome */
int admin_reload(struct worker *w, const char *why)
{
	int ret;

	notify_reloading();
	ret = reload_config(w, why);
	notify_ready();
	return ret;
}

/* ---- PAUSE, RESUME, and answers owed ---- */

static void tick_fire(struct loop *loop, struct loop_timer *t);

static void tick_arm(struct admin *a)
{
	if (!loop_timer_armed(&a->tick))
		loop_timer_set(a->w->loop, &a->tick, ADMIN_TICK_US, tick_fire);
}

static bool add_pending(struct client *cl, uint8_t kind, const char *db)
{
	struct admin *a = cl->c.w->admin;
	struct pending *p;

	if (a->npending == MAX_PENDING)
		return false;
	p = &a->pending[a->npending++];
	p->client_id = cl->c.id;
	p->kind = kind;
	snprintf(p->db, sizeof(p->db), "%s", db ? db : "");
	tick_arm(a);
	return true;
}

static struct client *console_client(struct admin *a, uint64_t id)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &a->pool.idle_clients) {
		struct client *cl = list_entry(pos, struct client, node);

		if (cl->c.id == id)
			return cl;
	}
	return NULL;
}

static bool is_pending(struct admin *a, const struct client *cl)
{
	for (int i = 0; i < a->npending; i++)
		if (a->pending[i].client_id == cl->c.id)
			return true;
	return false;
}

static bool db_paused(struct admin *a, const char *db)
{
	const struct admin_db *d;

	if (a->paused)
		return true;
	d = db && *db ? db_state(a, db, false) : NULL;
	return d && d->paused;
}

/* Sockets SUSPEND still waits for; past suspend_timeout, none: they are
 * closed, as PgBouncer closes them */
static unsigned suspend_busy(struct admin *a)
{
	int64_t limit = a->w->cfg->suspend_timeout_us;
	bool force = limit > 0 && loop_now_us(a->w->loop) - a->suspend_start_us >= (uint64_t)limit;

	return suspend_step(a->w, force);
}

/* answers the owed ones whose condition holds; true if some remain */
static bool settle_pending(struct admin *a)
{
	int i = 0;

	while (i < a->npending) {
		struct pending *p = &a->pending[i];
		struct client *cl = console_client(a, p->client_id);
		bool done = true;

		if (cl && p->kind == WAIT_PAUSE) {
			if (!db_paused(a, p->db))
				reply_error(cl, "08P01", "PAUSE ended by RESUME before it completed");
			else if (count_servers(a, p->db) == 0)
				reply_ok(cl, "PAUSE");
			else
				done = false;
		} else if (cl && p->kind == WAIT_SUSPEND) {
			if (!a->w->suspended)
				reply_error(cl, "08P01", "SUSPEND ended by RESUME before it completed");
			else if (suspend_busy(a) == 0)
				reply_ok(cl, "SUSPEND");
			else
				done = false;
		} else if (cl && p->kind == WAIT_CLOSE) {
			if (count_stale(a, p->db) == 0)
				reply_ok(cl, "WAIT_CLOSE");
			else
				done = false;
		}
		if (!done) {
			i++;
			continue;
		}
		a->pending[i] = a->pending[--a->npending];
		if (cl)
			conn_process(&cl->c);	/* what it sent meanwhile */
	}
	return a->npending > 0;
}

static void tick_fire(struct loop *loop, struct loop_timer *t)
{
	struct admin *a = list_entry(t, struct admin, tick);
	struct worker *w = a->w;
	bool again;

	(void)loop;
	/* servers that went idle by a path that does not pass the retire hook */
	for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (admin_pool_held(p))
			close_idle(a, p->dbname, "pause mode");
	again = settle_pending(a);
	if (w->suspended) {
		(void)suspend_step(w, false);	/* sockets that came since */
		again = true;
	}
	if (w->shutdown && a->shutdown_mode == SHUTDOWN_WAIT_FOR_SERVERS) {
		if (count_servers(a, NULL) == 0 && !w->nlisteners_open) {
			log_info(w->log, "no server connections left, exiting");
			loop_stop(w->loop);
			return;
		}
		again = true;
	}
	if (again)
		tick_arm(a);
}

bool admin_pool_held(const struct pool *pool)
{
	struct admin *a = pool->w->admin;

	if (!a)
		return false;
	if (pool == &a->pool)
		return true;	/* the console never has servers */
	return db_paused(a, pool->dbname);
}

bool admin_server_close_needed(const struct server *sv)
{
	struct admin *a = sv->c.w->admin;

	return a && !sv->c.closing && must_reconnect(a, sv);
}

bool admin_server_retire(struct server *sv)
{
	struct admin *a = sv->c.w->admin;

	if (!a || !sv->pool || sv->c.closing)
		return false;
	if (admin_pool_held(sv->pool)) {
		server_close(sv, "pause mode");
		return true;
	}
	if (must_reconnect(a, sv)) {
		server_close(sv, "reconnect: database settings changed or RECONNECT issued");
		return true;
	}
	return false;
}

void admin_pause_all(struct worker *w, const char *why)
{
	struct admin *a = w->admin;

	if (!a || a->paused)
		return;
	log_info(w->log, "%s, pausing", why);
	a->paused = true;
	close_idle(a, NULL, "pause mode");
	tick_arm(a);
}

static void suspend_end(struct admin *a)
{
	struct worker *w = a->w;

	if (!w->suspended)
		return;
	w->suspended = false;
	suspend_thaw_all(w);
	if (w->client_sock_gone)
		w->client_sock_gone(w);		/* accept again */
}

void admin_resume_all(struct worker *w, const char *why)
{
	struct admin *a = w->admin;

	if (a && w->shutdown) {
		/* PgBouncer 1.23+: a shutdown cannot be called off */
		log_info(w->log, "%s during a shutdown: ignored", why);
		return;
	}
	if (!a || (!a->paused && !w->suspended))
		return;
	log_info(w->log, "%s, resuming", why);
	suspend_end(a);
	a->paused = false;
	pair_all(a, NULL);
	tick_arm(a);
}

static bool need_admin(struct client *cl)
{
	if (cl->console == CONSOLE_ADMIN)
		return true;
	reply_error(cl, "08P01", "admin access needed");
	return false;
}

/* a database argument that is real and not the console's */
static bool check_db(struct client *cl, struct admin *a, const char *verb, const char *db)
{
	if (admin_console_db(db)) {
		reply_error(cl, "08P01", "cannot %s admin db: %s", verb, db);
		return false;
	}
	if (!db_known(a, db)) {
		reply_error(cl, "08P01", "no such database: %s", db);
		return false;
	}
	return true;
}

static void cmd_pause(struct client *cl, struct admin *a, const char *db)
{
	struct admin_db *d;

	if (a->paused || a->w->suspended) {
		reply_error(cl, "08P01", "already suspended/paused");
		return;
	}
	if (!*db) {
		log_info(a->w->log, "PAUSE command issued");
		a->paused = true;
	} else {
		if (!check_db(cl, a, "pause", db))
			return;
		log_info(a->w->log, "PAUSE '%s' command issued", db);
		if (!(d = db_state(a, db, true))) {
			reply_error(cl, "53200", "out of memory");
			return;
		}
		d->paused = true;
	}
	close_idle(a, db, "pause mode");
	if (count_servers(a, db) == 0) {
		reply_ok(cl, "PAUSE");
		return;
	}
	/* the answer comes when the last server is gone */
	if (!add_pending(cl, WAIT_PAUSE, db))
		reply_error(cl, "08P01", "too many console commands waiting");
}

static void cmd_resume(struct client *cl, struct admin *a, const char *db)
{
	struct admin_db *d;

	if (!*db) {
		log_info(a->w->log, "RESUME command issued");
		if (a->w->shutdown) {
			reply_error(cl, "08P01", "pooler is shutting down");
			return;
		}
		if (!a->paused && !a->w->suspended) {
			reply_error(cl, "08P01", "pooler is not paused/suspended");
			return;
		}
		suspend_end(a);
		a->paused = false;
	} else {
		log_info(a->w->log, "RESUME '%s' command issued", db);
		if (!db_known(a, db)) {
			reply_error(cl, "08P01", "no such database: %s", db);
			return;
		}
		d = db_state(a, db, false);
		if (!d || !d->paused) {
			reply_error(cl, "08P01", "database %s is not paused", db);
			return;
		}
		d->paused = false;
	}
	pair_all(a, db);
	tick_arm(a);		/* PAUSEs still owed an answer learn of it */
	reply_ok(cl, "RESUME");
}

static void cmd_disable(struct client *cl, struct admin *a, const char *db, bool disable)
{
	struct admin_db *d;

	if (!*db) {
		reply_error(cl, "08P01", "a database is required");
		return;
	}
	/* logged before the checks, as PgBouncer does: a refused one shows too */
	log_info(a->w->log, "%s '%s' command issued", disable ? "DISABLE" : "ENABLE", db);
	if (!check_db(cl, a, disable ? "disable" : "enable", db))
		return;
	d = db_state(a, db, disable);
	if (d)
		d->disabled = disable;
	else if (disable) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	reply_ok(cl, disable ? "DISABLE" : "ENABLE");
}

static void cmd_reconnect(struct client *cl, struct admin *a, const char *db)
{
	uint64_t now = loop_now_us(a->w->loop) + 1;
	struct admin_db *d;

	if (!*db) {
		log_info(a->w->log, "RECONNECT command issued");
		a->reconnect_all_us = now;
	} else {
		if (!check_db(cl, a, "reconnect", db))
			return;
		log_info(a->w->log, "RECONNECT '%s' command issued", db);
		if (!(d = db_state(a, db, true))) {
			reply_error(cl, "53200", "out of memory");
			return;
		}
		d->reconnect_us = now;
	}
	/* idle ones are released already; the rest go as they are released */
	close_idle(a, db, "RECONNECT issued");
	reply_ok(cl, "RECONNECT");
}

static void kill_pool(struct pool *p)
{
	while (!list_empty(&p->active_clients) || !list_empty(&p->idle_clients) ||
	       !list_empty(&p->waiting) || !list_empty(&p->wait_login)) {
		struct list *l = !list_empty(&p->active_clients) ? &p->active_clients :
				 !list_empty(&p->idle_clients) ? &p->idle_clients :
				 !list_empty(&p->waiting) ? &p->waiting : &p->wait_login;
		struct client *c = list_entry(list_first(l), struct client, node);

		if (c->state == CL_CLOSING)
			break;
		client_fail(c, "08P01", "database removed");
	}
	for (;;) {
		struct list *l = !list_empty(&p->active_servers) ? &p->active_servers :
				 !list_empty(&p->used_servers) ? &p->used_servers :
				 !list_empty(&p->idle_servers) ? &p->idle_servers :
				 !list_empty(&p->login_servers) ? &p->login_servers : NULL;
		struct server *sv;

		if (!l)
			break;
		sv = list_entry(list_first(l), struct server, node);
		if (sv->c.closing)
			break;
		server_close(sv, "database removed");
	}
}

static void cmd_kill(struct client *cl, struct admin *a, const char *db)
{
	struct admin_db *d;
	struct pool *p;

	if (a->paused) {
		reply_error(cl, "08P01", "already suspended/paused");
		return;
	}
	if (*db && !check_db(cl, a, "kill", db))
		return;
	if (*db)
		log_info(a->w->log, "KILL '%s' command issued", db);
	else
		log_info(a->w->log, "KILL command issued");
	/* the databases stay paused until RESUME, as PgBouncer's do */
	for (p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		if (!db_matches(p, db))
			continue;
		if (!(d = db_state(a, p->dbname, true))) {
			reply_error(cl, "53200", "out of memory");
			return;
		}
		d->paused = true;
	}
	if (*db && !(d = db_state(a, db, true))) {
		reply_error(cl, "53200", "out of memory");
		return;
	} else if (*db) {
		d->paused = true;
	}
	for (p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (db_matches(p, db))
			kill_pool(p);
	reply_ok(cl, "KILL");
}

/*
 * SUSPEND: accepting stops and every socket but the console's is flushed
 * and no longer read (suspend.c); the answer comes once all are, or at
 * suspend_timeout, when those that would not settle are closed.  PgBouncer
 * uses it for its online restart (-R), which pgring has not; an operator
 * may still want the pooler frozen for a moment, with no client refused.
 */
static void cmd_suspend(struct client *cl, struct admin *a, const char *arg)
{
	struct worker *w = a->w;

	if (*arg) {
		reply_error(cl, "08P01", "SUSPEND takes no argument");
		return;
	}
	if (a->paused || w->suspended) {
		reply_error(cl, "08P01", "already suspended/paused");
		return;
	}
	if (w->shutdown) {
		reply_error(cl, "08P01", "pooler is shutting down");
		return;
	}
	log_info(w->log, "SUSPEND command issued");
	w->suspended = true;
	a->suspend_start_us = loop_now_us(w->loop);
	if (w->client_sock_gone)
		w->client_sock_gone(w);		/* accepting stops */
	tick_arm(a);
	if (suspend_busy(a) == 0)
		reply_ok(cl, "SUSPEND");
	else if (!add_pending(cl, WAIT_SUSPEND, NULL))
		reply_error(cl, "08P01", "too many console commands waiting");
}

/* KILL_CLIENT id: the client of that id (SHOW CLIENTS' id column) is closed
 * at once with an error; a server it held is released as at any close */
static void cmd_kill_client(struct client *cl, struct admin *a, const char *arg)
{
	unsigned long long id;
	struct list_node *pos;
	char *end;

	errno = 0;
	id = strtoull(arg, &end, 10);
	if (!*arg || *end || errno || !isdigit((unsigned char)*arg)) {
		reply_error(cl, "08P01", "KILL_CLIENT needs the id of a client, as SHOW CLIENTS shows it");
		return;
	}
	list_for_each(pos, &a->w->clients) {
		struct client *c = list_entry(pos, struct client, all);

		if (c->c.id != id)
			continue;
		log_info(a->w->log, "KILL_CLIENT %llu command issued", id);
		if (c != cl)
			reply_ok(cl, "KILL_CLIENT");
		client_fail(c, "57P01", "client killed by admin (KILL_CLIENT)");
		return;
	}
	reply_error(cl, "08P01", "client %llu not found", id);
}

static void cmd_wait_close(struct client *cl, struct admin *a, const char *db)
{
	if (*db && !check_db(cl, a, "wait in", db))
		return;
	log_info(a->w->log, "WAIT_CLOSE%s%s command issued", *db ? " " : "", db);
	if (count_stale(a, db) == 0) {
		reply_ok(cl, "WAIT_CLOSE");
		return;
	}
	if (!add_pending(cl, WAIT_CLOSE, db))
		reply_error(cl, "08P01", "too many console commands waiting");
}

static void cmd_set(struct client *cl, struct admin *a, const struct admin_cmd *cmd)
{
	struct config *n = NULL;
	char err[512], tag[600];

	if (fake_param(cmd->arg) >= 0) {
		pkt_reset(&a->out);
		pkt_notice(&a->out, "00000", "SET ignored");
		reply_ok(cl, "SET");
		return;
	}
	if (!need_admin(cl))
		return;
	if (config_set(a->w->cfg, cmd->arg, cmd->value, &n, err, sizeof(err)) < 0) {
		reply_error(cl, "08P01", "SET failed: %s", err);
		return;
	}
	/* a TLS key takes effect for new handshakes, or the SET is refused */
	if (strstr(cmd->arg, "tls") && tls_worker_reload(a->w, n, err, sizeof(err)) < 0) {
		config_free(n);
		reply_error(cl, "08P01", "SET failed: %s", err);
		return;
	}
	log_info(a->w->log, "SET %s = %s", cmd->arg, cmd->value);
	swap_config(a->w, n);
	snprintf(tag, sizeof(tag), "SET %s=%s", cmd->arg, cmd->value);
	pkt_reset(&a->out);
	reply_ok(cl, tag);
}

bool admin_drops_waiters(const struct worker *w)
{
	return w->shutdown && w->admin && w->admin->shutdown_mode == SHUTDOWN_WAIT_FOR_SERVERS;
}

static void fail_list(struct list *l)
{
	while (!list_empty(l))
		client_fail(list_entry(list_first(l), struct client, node), "57P01",
			    "pgring is shutting down");
}

/*
 * SHUTDOWN WAIT_FOR_SERVERS (SIGINT): a client without a server will get
 * none any more (paused ones included); it is told and disconnected, as in
 * PgBouncer 1.23+, rather than held until the process exits.
 */
static void drop_waiters(struct worker *w)
{
	struct list_node *pos;

	list_for_each(pos, &w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		fail_list(&p->waiting);
		fail_list(&p->wait_login);
	}
}

void admin_shutdown(struct worker *w, enum shutdown_mode mode, const char *why)
{
	struct admin *a = w->admin;

	if (w->suspended && !w->shutdown) {
		/* frozen sockets would never finish: PgBouncer dies here */
		log_info(w->log, "%s: suspend was in progress, going down immediately", why);
		w->exit_code = 1;
		mode = SHUTDOWN_IMMEDIATE;
	}
	if (w->shutdown || mode == SHUTDOWN_IMMEDIATE) {
		log_info(w->log, "%s%s, exiting now", why, w->shutdown ? " again" : "");
		w->shutdown = true;
		loop_stop(w->loop);
		return;
	}
	w->shutdown = true;
	if (w->stop_accepting)
		w->stop_accepting(w);
	if (a)
		a->shutdown_mode = mode;
	if (mode == SHUTDOWN_WAIT_FOR_SERVERS && a) {
		log_info(w->log, "%s, shutting down once server connections are released", why);
		a->paused = true;
		drop_waiters(w);
		close_idle(a, NULL, "shutting down");
		tick_arm(a);
		return;
	}
	log_info(w->log, "%s, shutting down once clients are gone", why);
	admin_maybe_exit(w);
}

void admin_maybe_exit(struct worker *w)
{
	struct admin *a = w->admin;

	if (!w->shutdown || w->nlisteners_open)
		return;
	if (a && a->shutdown_mode == SHUTDOWN_WAIT_FOR_SERVERS)
		tick_arm(a);	/* it counts the servers */
	else if (!w->nclients)
		loop_stop(w->loop);
}

static void cmd_shutdown(struct client *cl, struct admin *a, const char *arg)
{
	enum shutdown_mode mode = SHUTDOWN_IMMEDIATE;

	if (!strcasecmp(arg, "wait_for_servers"))
		mode = SHUTDOWN_WAIT_FOR_SERVERS;
	else if (!strcasecmp(arg, "wait_for_clients"))
		mode = SHUTDOWN_WAIT_FOR_CLIENTS;
	else if (*arg) {
		reply_error(cl, "08P01", "invalid command 'SHUTDOWN %s', use SHOW HELP;", arg);
		return;
	}
	if (!need_admin(cl))
		return;
	if (mode == SHUTDOWN_IMMEDIATE) {
		/* no answer: the connection ends with the process */
		admin_shutdown(a->w, mode, "SHUTDOWN command issued");
		return;
	}
	admin_shutdown(a->w, mode, mode == SHUTDOWN_WAIT_FOR_SERVERS ?
		       "SHUTDOWN WAIT_FOR_SERVERS command issued" :
		       "SHUTDOWN WAIT_FOR_CLIENTS command issued");
	reply_ok(cl, "SHUTDOWN");
}

/* ---- one query ---- */

static void run_query(struct client *cl, const char *q)
{
	struct admin *a = cl->c.w->admin;
	struct admin_cmd cmd;
	int ret = admin_parse(q, &cmd);
	const char *v = cmd.verb;

	pkt_reset(&a->out);
	a->pool.stats.total.query_count++;
	a->pool.stats.total.xact_count++;
	if (ret == -E2BIG) {
		reply_error(cl, "08P01", "bad arguments");
		return;
	}
	if (ret < 0) {
		reply_error(cl, "08P01", "invalid command '%s', use SHOW HELP;", q);
		return;
	}
	if (!*v) {
		pkt_begin(&a->out, 'I');	/* EmptyQueryResponse */
		pkt_end(&a->out);
		pkt_ready(&a->out, 'I');
		send_out(cl);
		return;
	}
	if (!strcmp(v, "show") || !strcmp(v, "select")) {
		cmd_show(cl, a, &cmd, q);
		return;
	}
	if (!strcmp(v, "set")) {
		cmd_set(cl, a, &cmd);
		return;
	}
	if (strcmp(v, "pause") && strcmp(v, "resume") && strcmp(v, "disable") &&
	    strcmp(v, "enable") && strcmp(v, "reconnect") && strcmp(v, "kill") &&
	    strcmp(v, "reload") && strcmp(v, "shutdown") && strcmp(v, "wait_close") &&
	    strcmp(v, "kill_client") && strcmp(v, "suspend")) {
		reply_error(cl, "08P01", "invalid command '%s', use SHOW HELP;", q);
		return;
	}
	if (!strcmp(v, "shutdown")) {
		cmd_shutdown(cl, a, cmd.arg);
		return;
	}
	if (!need_admin(cl))
		return;
	if (!strcmp(v, "pause"))
		cmd_pause(cl, a, cmd.arg);
	else if (!strcmp(v, "resume"))
		cmd_resume(cl, a, cmd.arg);
	else if (!strcmp(v, "disable") || !strcmp(v, "enable"))
		cmd_disable(cl, a, cmd.arg, v[0] == 'd');
	else if (!strcmp(v, "reconnect"))
		cmd_reconnect(cl, a, cmd.arg);
	else if (!strcmp(v, "kill"))
		cmd_kill(cl, a, cmd.arg);
	else if (!strcmp(v, "kill_client"))
		cmd_kill_client(cl, a, cmd.arg);
	else if (!strcmp(v, "suspend"))
		cmd_suspend(cl, a, cmd.arg);
	else if (!strcmp(v, "wait_close"))
		cmd_wait_close(cl, a, cmd.arg);
	else if (*cmd.arg)
		reply_error(cl, "08P01", "invalid command '%s', use SHOW HELP;", q);
	else if (admin_reload(a->w, "RELOAD command issued") == 0)
		reply_ok(cl, "RELOAD");
	else
		reply_error(cl, "F0000", "RELOAD failed, see logs for additional details");
}

/* ---- hooks from client.c ---- */

void admin_login(struct client *cl)
{
	struct worker *w = cl->c.w;
	struct admin *a = w->admin;
	const struct config *cfg = w->cfg;
	struct pktbuf *pb = &w->tmp;
	static const char *const welcome[][2] = {
		{ "server_version", PACKAGE_VERSION "/bouncer" },
		{ "client_encoding", "UTF8" },
		{ "server_encoding", "UTF8" },
		{ "DateStyle", "ISO" },
		{ "TimeZone", "GMT" },
		{ "standard_conforming_strings", "on" },
		{ "is_superuser", "on" },
	};

	if (!a) {
		client_fail(cl, "08P01", "not allowed");
		return;
	}
	if (cl->admin || config_list_has(cfg->admin_users, cl->user))
		cl->console = CONSOLE_ADMIN;
	else if (config_list_has(cfg->stats_users, cl->user))
		cl->console = CONSOLE_STATS;
	else {
		client_log(cl, LOG_LVL_LOG, "console access refused: not in admin_users or stats_users");
		client_fail(cl, "08P01", "not allowed");
		return;
	}
	if (cfg->log_connections) {
		char tls[128];

		tls_info(&cl->c, tls, sizeof(tls));
		client_log(cl, LOG_LVL_LOG, "login attempt: db=%s user=%s tls=%s (console, %s)",
			   cl->dbname, cl->user, *tls ? tls : "no",
			   cl->console == CONSOLE_ADMIN ? "admin" : "stats");
	}
	cl->pool = &a->pool;
	pool_ref(&a->pool);	/* client_on_free gives it back */
	for (size_t i = 0; i < sizeof(welcome) / sizeof(welcome[0]); i++)
		pkt_param_status(pb, welcome[i][0], welcome[i][1]);
	pkt_backend_key(pb, cl->cancel_pid, cl->cancel_key);
	pkt_ready(pb, 'I');
	if (!conn_send_pkt(&cl->c, pb))
		return;
	/* CL_IDLE: it never asks for a server; code that walks active clients
	 * may take one for granted there */
	pool_change_client(cl, CL_IDLE);
	conn_process(&cl->c);
}

bool admin_db_refused(struct client *cl)
{
	struct admin *a = cl->c.w->admin;
	const struct admin_db *d = a ? db_state(a, cl->dbname, false) : NULL;

	if (!d || !d->disabled)
		return false;
	client_fail(cl, "08P01", "database \"%s\" is disabled", cl->dbname);
	return true;
}

int admin_on_header(struct client *cl, uint8_t type, uint32_t len)
{
	struct admin *a = cl->c.w->admin;

	if (is_pending(a, cl))
		return ACT_WAIT;	/* an answer is owed first */
	switch (type) {
	case 'X':
		return ACT_CONSUME;
	case 'Q':
		if (len > ADMIN_QUERY_MAX) {
			client_fail(cl, "54000", "console query too long");
			return ACT_CLOSE;
		}
		return ACT_CONSUME;
	case 'P':
	case 'B':
	case 'E':
		client_fail(cl, "08P01", "extended query protocol not supported by admin console");
		return ACT_CLOSE;
	default:
		client_fail(cl, "08P01", "unsupported packet type for admin console: %c",
			    type >= 32 && type < 127 ? type : '?');
		return ACT_CLOSE;
	}
}

bool admin_on_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
	if (type != 'Q')
		return true;
	if (!len || body[len - 1] != 0 || memchr(body, 0, len) != body + len - 1) {
		client_fail(cl, "08P01", "invalid query message");
		return false;
	}
	log_debug(cl->c.w->log, "console query: %s", (const char *)body);
	run_query(cl, (const char *)body);
	return cl->state != CL_CLOSING && !cl->c.closing;
}

/* ---- stats period ---- */

static void log_db_stats(struct admin *a, const char *db)
{
	struct stats total, avg;

	stats_of_db(a, db, &total, &avg);
	log_info(a->w->log,
		 "[%s] stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, %" PRIu64
		 " client parses/s, %" PRIu64 " server parses/s, %" PRIu64 " binds/s, in %" PRIu64
		 " B/s, out %" PRIu64 " B/s, xact %" PRIu64 " us, query %" PRIu64 " us, wait %" PRIu64
		 " us", db, avg.xact_count, avg.query_count, avg.client_parse_count,
		 avg.server_parse_count, avg.bind_count, avg.bytes_received, avg.bytes_sent,
		 avg.xact_time, avg.query_time, avg.wait_time);
}

static void stats_fire(struct loop *loop, struct loop_timer *t)
{
	struct admin *a = list_entry(t, struct admin, stats_timer);
	uint64_t now = loop_now_us(loop);
	uint64_t period = now - a->stats_stamp_us;

	for (struct pool *p = next_pool(a, NULL); p; p = next_pool(a, p))
		stats_roll(&p->stats, period);
	a->stats_stamp_us = now;
	if (a->w->cfg->log_stats)
		for (struct pool *p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
			if (first_of_db(a, p))
				log_db_stats(a, p->dbname);
	stats_timer_arm(a);
}

static void stats_timer_arm(struct admin *a)
{
	int64_t period = a->w->cfg->stats_period_us;

	if (period <= 0)
		period = 60 * 1000000;
	loop_timer_stop(a->w->loop, &a->stats_timer);
	loop_timer_set(a->w->loop, &a->stats_timer, (uint64_t)period, stats_fire);
}

/* ---- setup ---- */

static const struct pool_policy admin_policy = {
	.held = admin_pool_held,
	.drops_waiters = admin_drops_waiters,
	.retire = admin_server_retire,
};

int admin_init(struct worker *w)
{
	struct admin *a = calloc(1, sizeof(*a));
	struct pool *p;

	if (!a)
		return -ENOMEM;
	a->w = w;
	p = &a->pool;
	p->w = w;
	snprintf(p->dbname, sizeof(p->dbname), "pgbouncer");
	snprintf(p->user, sizeof(p->user), "pgbouncer");
	list_node_init(&p->node);
	list_init(&p->wait_login);
	list_init(&p->idle_clients);
	list_init(&p->waiting);
	list_init(&p->active_clients);
	list_init(&p->login_servers);
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->used_servers);
	pkt_init(&a->out);
	w->admin = a;
	w->pool_policy = &admin_policy;
	a->stats_stamp_us = loop_now_us(w->loop);
	stats_timer_arm(a);
	return 0;
}

void admin_free(struct worker *w)
{
	struct admin *a = w->admin;

	if (!a)
		return;
	loop_timer_stop(w->loop, &a->tick);
	loop_timer_stop(w->loop, &a->stats_timer);
	pkt_free(&a->out);
	free(a->dbs);
	free(a);
	w->admin = NULL;
	w->pool_policy = NULL;
}
