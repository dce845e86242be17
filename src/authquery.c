/* authquery.c - auth_user / auth_query: users not in auth_file, looked up in PostgreSQL */

/*
 * As PgBouncer does it: the client that logs in waits in the pool of
 * (auth_dbname, auth_user) like any client that wants a server, so that
 * lookups share that pool's few servers (opened on demand, within its
 * pool_size, counted in SHOW POOLS), queue when they are all busy, and wait
 * at most query_wait_timeout.  Once linked, auth_query runs with the
 * extended protocol ($1 = the user name); its answer is consumed here, never
 * forwarded, and the server goes back to the pool.  The client's own
 * messages wait until the lookup is over (client.c), so nothing of an
 * unauthenticated client ever reaches the auth user's session.
 *
 * Every login asks again (a changed password, an expiry or a dropped role
 * counts at once, as in PgBouncer); the answer a client proved is kept
 * with its (database, user) pool, as the password pgring logs in to
 * PostgreSQL with, until the next login replaces it or the pool is freed.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "worker.h"

enum authq_phase {
	AQ_NONE = 0,
	AQ_WAITING,		/* queued in the auth pool */
	AQ_RUNNING,		/* the query is out on a server */
};


/* The [databases] entry of the client's database: its own, or "*" */
static const struct db_conf *client_db(const struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	const struct db_conf *db = config_find_db(cfg, cl->dbname);

	return db ? db : cfg->fallback_db;
}

/* Each key: the database's own over [pgbouncer]'s */
static const char *auth_user_of(const struct config *cfg, const struct db_conf *db)
{
	return db && db->auth_user && *db->auth_user ? db->auth_user : cfg->auth_user;
}

static const char *auth_query_of(const struct config *cfg, const struct db_conf *db)
{
	return db && db->auth_query && *db->auth_query ? db->auth_query : cfg->auth_query;
}

/* where the query runs: auth_dbname, else the client's own database */
static const char *auth_dbname_of(const struct client *cl, const struct db_conf *db)
{
	const struct config *cfg = cl->c.w->cfg;

	if (db && db->auth_dbname && *db->auth_dbname)
		return db->auth_dbname;
	return cfg->auth_dbname && *cfg->auth_dbname ? cfg->auth_dbname : cl->dbname;
}

bool authq_wanted(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	bool console = admin_console_db(cl->dbname);
	const struct db_conf *db = console ? NULL : client_db(cl);
	const char *user = auth_user_of(cfg, db), *query = auth_query_of(cfg, db);

	if (cfg->auth_type == AUTH_TYPE_ANY)
		return false;
	/* an unknown database is told after the password (client.c), so it is
	 * not looked up in; the console's users are looked up only in a global
	 * auth_dbname, as in PgBouncer 1.25 */
	if (console ? !cfg->auth_dbname || !*cfg->auth_dbname : !db)
		return false;
	return user && *user && query && *query;
}

static void unlink_pair(struct client *cl, struct server *sv)
{
	sv->client = NULL;
	sv->c.peer = NULL;
	cl->server = NULL;
	cl->c.peer = NULL;
}

static void lookup_timeout(struct loop *loop, struct loop_timer *t)
{
	struct client *cl = list_entry(t, struct client, authq_timer);
	struct server *sv = cl->server;

	(void)loop;
	if (!cl->authq)
		return;
	client_log(cl, LOG_LVL_WARNING, "auth_query: no answer within query_wait_timeout (%s)",
		   sv ? "the query ran too long" : "no server of the auth pool became free");
	if (sv) {	/* a query that hangs is not waited for: its server goes */
		unlink_pair(cl, sv);
		server_close(sv, "auth_query ran past query_wait_timeout");
	}
	client_fail(cl, "08P01", "query_wait_timeout");
}

/*
 * The client went (it gave up, say, in a login storm) while its query ran:
 * the answer is still to come, so the server stays in the pool and drains
 * it as a query of pgring's own (hidden), then is ready again.  Closing it
 * would make a storm of impatient clients churn the auth pool's servers.
 */
void authq_abandon(struct client *cl)
{
	struct server *sv = cl->server;

	unlink_pair(cl, sv);
	cl->authq = AQ_NONE;
	if (sv->c.closing)
		return;
	sv->outstanding = 0;
	sv->hidden++;
	pool_change_server(sv, SV_USED);
}

/* The lookup's own deadline: the wait in the queue is bounded by maint.c,
 * a query that never answers by this */
static void arm_deadline(struct client *cl, const struct db_conf *authdb)
{
	struct worker *w = cl->c.w;
	int64_t to = w->cfg->query_wait_timeout_us;

	if (authdb && authdb->query_wait_timeout_us != CONF_UNSET)
		to = authdb->query_wait_timeout_us;
	if (to > 0)
		loop_timer_set(w->loop, &cl->authq_timer, (uint64_t)to, lookup_timeout);
}

void authq_start(struct client *cl)
{
	struct worker *w = cl->c.w;
	const struct config *cfg = w->cfg;
	const struct db_conf *db = admin_console_db(cl->dbname) ? NULL : client_db(cl), *authdb;
	const char *dbname = auth_dbname_of(cl, db);
	struct pool *pool;

	authdb = config_find_db(cfg, dbname);
	if (!authdb)
		authdb = cfg->fallback_db;
	if (!authdb || admin_console_db(dbname)) {
		client_log(cl, LOG_LVL_WARNING, "auth_dbname %s: %s", dbname, authdb ?
			   "cannot use the reserved console database as an auth_dbname" :
			   "no such database in [databases]");
		client_fail(cl, "08P01", "bouncer config error");
		return;
	}
	pool = pool_get(w, dbname, auth_user_of(cfg, db));
	if (!pool) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	cl->pool = pool;
	pool_ref(pool);
	cl->authq = AQ_WAITING;
	log_debug(w->log, "auth_query: user %s is looked up in %s as %s", cl->user, dbname, pool->user);
	arm_deadline(cl, authdb);
	pool_want_server(cl);
	/* still in its login: a NOTICE (query_wait_notify) would break libpq */
	cl->wait_notified = true;
}

/* Parse, Bind ($1 = the user, as text), Execute, Sync; false: pb failed */
static bool build_query(struct pktbuf *pb, const char *query, const char *user)
{
	uint32_t ulen = (uint32_t)strlen(user);

	pkt_begin(pb, 'P');
	pkt_str(pb, "");
	pkt_str(pb, query);
	pkt_u16(pb, 0);
	pkt_end(pb);
	pkt_begin(pb, 'B');
	pkt_str(pb, "");
	pkt_str(pb, "");
	pkt_u16(pb, 0);		/* parameter formats: all text */
	pkt_u16(pb, 1);
	pkt_u32(pb, ulen);
	pkt_bytes(pb, user, ulen);
	pkt_u16(pb, 0);		/* result formats: all text */
	pkt_end(pb);
	pkt_begin(pb, 'E');
	pkt_str(pb, "");
	pkt_u32(pb, 0);
	pkt_end(pb);
	pkt_begin(pb, 'S');
	pkt_end(pb);
	if (!pb->failed)
		return true;
	pkt_reset(pb);
	return false;
}

void authq_linked(struct client *cl)
{
	struct server *sv = cl->server;
	struct worker *w = cl->c.w;
	const char *query = auth_query_of(w->cfg, admin_console_db(cl->dbname) ? NULL :
					  client_db(cl));

	if (!query || !*query) {	/* a reload took it away meanwhile */
		client_log(cl, LOG_LVL_WARNING, "auth_query: no auth_query configured any more");
		client_fail(cl, "08P01", "bouncer config error");
		return;
	}
	if (!build_query(&w->tmp, query, cl->user)) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	if (!conn_send_pkt(&sv->c, &w->tmp))
		return;		/* the server is failing: server_close tells the client */
	prep_server_unnamed(sv, false);	/* the query is its unnamed statement now */
	cl->authq = AQ_RUNNING;
	cl->authq_rows = 0;
	cl->authq_null = false;
	cl->authq_failed = false;
	sv->outstanding = 1;	/* a release before the answer closes it */
	sv->query_start_us = loop_now_us(w->loop);
}

enum msg_action authq_server_header(struct server *sv, uint8_t type, uint32_t len)
{
	(void)len;
	switch (type) {
	case 'D':
	case 'E':
	case 'Z':
		return ACT_CONSUME;
	case 'S':
		return ACT_CONSUME;	/* server.c tracks it, before authq_server_message */
	case '1':
	case '2':
	case '3':
	case 'C':
	case 'I':
	case 'n':
	case 's':
	case 'T':
	case 't':
	case 'N':
		return ACT_DROP;
	default:
		/* COPY or a stray message: this server's state is not known */
		server_close(sv, "unexpected message in the answer to auth_query");
		return ACT_CLOSE;
	}
}

/* The first row's second column is the secret; the name is only checked
 * not to be NULL, as in PgBouncer. */
static void take_row(struct client *cl, const uint8_t *body, uint32_t len)
{
	struct row_col cols[2];
	uint32_t plen;
	const uint8_t *pw;
	char *text;
	int n;

	if (cl->authq_rows < 255)
		cl->authq_rows++;
	if (cl->authq_rows > 1 || cl->authq_failed)
		return;
	n = proto_read_data_row(body, len, cols, 2);
	if (n >= 0 && n != 2) {	/* PgBouncer's shape too */
		client_log(cl, LOG_LVL_WARNING, "auth_query must return two columns: name, password");
		cl->authq_failed = true;
		return;
	}
	if (n < 0 || cols[0].len < 0) {
		client_log(cl, LOG_LVL_WARNING, "auth_query returned %s", n < 0 ?
			   "a malformed row" : "a NULL user name");
		cl->authq_failed = true;
		return;
	}
	if (cols[1].len <= 0) {
		cl->authq_null = true;
		return;
	}
	pw = cols[1].val;
	plen = (uint32_t)cols[1].len;
	if (memchr(pw, 0, plen)) {
		client_log(cl, LOG_LVL_WARNING, "auth_query: malformed row");
		cl->authq_failed = true;
		return;
	}
	text = malloc((size_t)plen + 1);
	cl->secret = calloc(1, sizeof(*cl->secret));
	if (text && cl->secret) {
		int ret;

		memcpy(text, pw, plen);
		text[plen] = '\0';
		ret = secret_parse(text, cl->secret);
		if (ret < 0)
			client_log(cl, LOG_LVL_WARNING, "auth_query: the password of user %s is %s",
				   cl->user, ret == -ENOMEM ? "out of memory" :
				   "no password, md5 hash or SCRAM verifier pgring can use");
		cl->authq_found = ret == 0;
		cl->authq_failed = ret < 0;
	} else {
		client_log(cl, LOG_LVL_WARNING, "auth_query: out of memory");
		cl->authq_failed = true;
	}
	if (text) {
		OPENSSL_cleanse(text, plen);
		free(text);
	}
	if (!cl->authq_found) {
		free(cl->secret);	/* secret_parse leaves nothing to free on error */
		cl->secret = NULL;
	}
}

/* The answer is in: the server goes back to its pool, the client back to
 * its login, with the secret or without (and the log says why). */
static void lookup_done(struct client *cl, struct server *sv)
{
	struct pool *pool = cl->pool;

	loop_timer_stop(cl->c.w->loop, &cl->authq_timer);
	cl->authq = AQ_NONE;
	sv->outstanding = 0;
	/* unlinked first: a client that sent before it was asked is no
	 * reason to close the server (server_release would) */
	unlink_pair(cl, sv);
	server_release(sv);
	pool_change_client(cl, CL_LOGIN);
	cl->pool = NULL;
	pool_unref(pool);
	if (cl->authq_failed) {
		client_fail(cl, "08P01", "auth_query failed");
		return;
	}
	if (cl->authq_rows > 1) {
		client_log(cl, LOG_LVL_WARNING, "auth_query returned more than one row for user %s",
			   cl->user);
		client_fail(cl, "08P01", "auth_query failed");
		return;
	}
	if (!cl->authq_rows)
		cl->fake_why = "no such user (not in auth_file, and auth_query returned no row)";
	else if (cl->authq_null)
		cl->fake_why = "auth_query returned no password for the user "
			       "(its rolvaliduntil has passed, or it has none)";
	client_auth_lookup_done(cl);
	if (cl->state == CL_LOGIN)
		conn_process(&cl->c);	/* it may have sent before it was asked */
}

bool authq_server_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct client *cl = sv->client;
	struct error_fields ef = { 0 };

	switch (type) {
	case 'D':
		take_row(cl, body, len);
		return true;
	case 'E':
		proto_parse_error(body, len, &ef);
		client_log(cl, LOG_LVL_WARNING, "auth_query failed in %s as %s: %s%s%s",
			   sv->pool->dbname, sv->pool->user, ef.sqlstate ? ef.sqlstate : "",
			   ef.sqlstate ? " " : "", ef.message ? ef.message : "(no message)");
		cl->authq_failed = true;
		return true;
	case 'Z':
		if (!server_ready_status(sv, body, len))
			return false;
		sv->ready_at_us = loop_now_us(sv->c.w->loop);
		lookup_done(cl, sv);
		return !sv->c.closing;
	default:
		return true;
	}
}

void authq_remember(struct client *cl, struct pool *pool)
{
	struct secret *sec;

	cl->authq_found = false;
	/* with a forced user= the pool logs in as that user, not this one */
	if (!cl->secret || strcmp(pool->user, cl->user))
		return;
	sec = calloc(1, sizeof(*sec));
	if (!sec || secret_copy(sec, cl->secret) < 0) {
		free(sec);
		client_log(cl, LOG_LVL_WARNING, "auth_query: out of memory keeping the password: "
			   "the pool keeps the one it had");
		return;
	}
	authq_pool_free(pool);
	pool->authq_secret = sec;
}

const struct secret *authq_pool_secret(const struct pool *pool)
{
	return pool->authq_secret;
}

void authq_pool_free(struct pool *pool)
{
	if (!pool->authq_secret)
		return;
	secret_free(pool->authq_secret);
	free(pool->authq_secret);
	pool->authq_secret = NULL;
}
