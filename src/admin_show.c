/* admin_show.c - the admin console's SHOW tables: read-only views of the
 * pools, connections, config and counters (admin.c has the commands that
 * change state) */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin.h"
#include "admin_int.h"
#include "process.h"
#include "worker.h"

#define ADMIN_MAX_COLS	32
#define ADMIN_ROW_BYTES	16384		/* text of one row's cells */

/* PostgreSQL type oids of the console's columns */
#define OID_INT8	20
#define OID_INT4	23
#define OID_TEXT	25
#define OID_NUMERIC	1700

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

static unsigned clients_of(const struct pool *p)
{
	return p->wait_login.count + p->idle_clients.count + p->waiting.count +
	       p->active_clients.count;
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
		a->col_names[i] = cols[i].name;
		a->col_oids[i] = cols[i].oid;
	}
	a->col_n = n;
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

void stats_of_db(struct admin *a, const char *db, struct stats *total, struct stats *avg)
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
bool first_of_db(struct admin *a, struct pool *p)
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
	cell_u64(&rs, i++, st->syscalls + worker_syscalls_off_loop(a->w));
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

int fake_param(const char *name)
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

void cmd_show(struct client *cl, struct admin *a, const struct admin_cmd *cmd, const char *q)
{
	int fp;

	if (admin_job_show(cl, a, cmd->arg))
		return;		/* every worker's rows, merged (admin_job.c) */
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
