/* maint.c - periodic work, a few times a second: wait, idle, query and transaction timeouts,
 * server_fast_close, server lifetimes, min_pool_size, idle auto-databases */

#include <stddef.h>
#include <string.h>

#include "process.h"
#include "worker.h"

#define JANITOR_US	(250 * 1000)

/* The [users] entry of name's value at off, else global */
static int64_t user_time_of(const struct config *cfg, const char *name, size_t off, int64_t global)
{
	const struct user_conf *uc = config_find_user(cfg, name);
	int64_t v;

	if (!uc)
		return global;
	memcpy(&v, (const char *)uc + off, sizeof(v));
	return v != CONF_UNSET ? v : global;
}

/* Server-side timeouts go by the user the pool logs in as, as PgBouncer's go
 * by the server's login user */
static int64_t user_time(const struct pool *pool, size_t off, int64_t global)
{
	return user_time_of(pool->w->cfg, pool->user, off, global);
}

/* Client-side ones (client_idle_timeout, query_wait_timeout) by the user the
 * client logged in as, as PgBouncer's: under a forced user= of a [databases]
 * entry that is not the pool's user */
static int64_t client_time(const struct client *cl, size_t off, int64_t global)
{
	return user_time_of(cl->c.w->cfg, cl->user, off, global);
}

static bool past(uint64_t now, uint64_t since, int64_t limit)
{
	return limit > 0 && now - since >= (uint64_t)limit;
}

/* Ends a client and its server for a timeout: each with its own reason. */
static void kill_pair(struct client *cl, struct server *sv, const char *sv_why, const char *cl_msg)
{
	sv->client = NULL;
	sv->c.peer = NULL;
	cl->server = NULL;
	cl->c.peer = NULL;
	server_close(sv, sv_why);
	client_fail(cl, "08P01", "%s", cl_msg);
}

/* A client waited out query_wait_timeout: while server logins fail, it hears why */
static void wait_timed_out(struct client *cl)
{
	const struct pool *pool = cl->pool;

	if (pool->last_login_fail_us && pool->last_error[0])
		client_fail(cl, "08P01", "query_wait_timeout (server login failed: %s)",
			    pool->last_error);
	else
		client_fail(cl, "08P01", "query_wait_timeout");
}

/*
 * query_wait_notify: a client queued that long hears once, as a NOTICE, that
 * it waits for a server (PgBouncer's words), rather than wonder at silence.
 * The list is in order of arrival: the walk stops at the first one not due.
 */
static void notify_waiting(struct pool *pool, uint64_t now)
{
	int64_t after = pool->w->cfg->query_wait_notify_us;
	struct pktbuf *pb = &pool->w->tmp;
	struct list_node *pos, *tmp;

	if (after <= 0)
		return;
	list_for_each_safe(pos, tmp, &pool->waiting) {
		struct client *cl = list_entry(pos, struct client, node);

		if (!past(now, cl->wait_start_us, after))
			break;
		if (cl->wait_notified)
			continue;
		cl->wait_notified = true;
		/* PgBouncer's words and SQLSTATE (janitor.c, pktbuf_write_Notice) */
		pkt_notice(pb, "00000", "No server connection available in postgres backend, client being queued");
		if (!conn_send_pkt(&cl->c, pb))
			continue;	/* the client is failing already */
	}
}

/* query_wait_timeout: [users] over [databases] over [pgbouncer] */
static int64_t wait_timeout(const struct client *cl)
{
	const struct db_conf *db = pool_db_conf(cl->pool);
	int64_t global = cl->c.w->cfg->query_wait_timeout_us;

	if (db && db->query_wait_timeout_us != CONF_UNSET)
		global = db->query_wait_timeout_us;
	return client_time(cl, offsetof(struct user_conf, query_wait_timeout_us), global);
}

/* Each ends cl if its time is up: true if it did */
static bool wait_login_due(struct client *cl, uint64_t now)
{
	if (past(now, cl->state_since_us, wait_timeout(cl)))
		wait_timed_out(cl);
	else if (past(now, cl->c.connect_time_us, cl->c.w->cfg->client_login_timeout_us))
		client_fail(cl, "08P01", "client_login_timeout");
	else
		return false;
	return true;
}

static bool waiting_due(struct client *cl, uint64_t now)
{
	if (!past(now, cl->wait_start_us, wait_timeout(cl)))
		return false;
	wait_timed_out(cl);
	return true;
}

static bool idle_due(struct client *cl, uint64_t now)
{
	if (!past(now, cl->state_since_us, client_time(cl, offsetof(struct user_conf,
				client_idle_timeout_us), cl->c.w->cfg->client_idle_timeout_us)))
		return false;
	client_fail(cl, "08P01", "client_idle_timeout");
	return true;
}

/*
 * Ends the clients of l whose time is up.  A list is in order of arrival, so
 * with one timeout for all the walk stops at the first that is not due; the
 * clients of a forced-user pool have their login users' timeouts, and are
 * all looked at.  After an end the walk starts again from the head: ending a
 * client may move others (pool_pair).
 */
static void expire(struct list *l, bool one_timeout, uint64_t now,
		   bool (*due)(struct client *cl, uint64_t now))
{
	struct list_node *pos;

again:
	list_for_each(pos, l) {
		if (due(list_entry(pos, struct client, node), now))
			goto again;
		if (one_timeout)
			return;
	}
}

static void janitor_clients(struct pool *pool, uint64_t now)
{
	const struct config *cfg = pool->w->cfg;
	const struct db_conf *db = pool_db_conf(pool);
	bool one_timeout = !db || !db->user;	/* every client logged in as pool->user */
	int64_t query_to = user_time(pool, offsetof(struct user_conf, query_timeout_us),
				     cfg->query_timeout_us);
	int64_t txn_to = user_time(pool, offsetof(struct user_conf, idle_transaction_timeout_us),
				   cfg->idle_transaction_timeout_us);
	int64_t xact_to = user_time(pool, offsetof(struct user_conf, transaction_timeout_us),
				    cfg->transaction_timeout_us);
	/* other modes release a server as its transaction ends anyway */
	bool fast_close = cfg->server_fast_close && pool_mode_of(pool) == POOL_SESSION;
	struct list_node *pos, *tmp;

	/* a login waiting for the pool's first server waits for a server too */
	expire(&pool->wait_login, one_timeout, now, wait_login_due);
	expire(&pool->waiting, one_timeout, now, waiting_due);
	notify_waiting(pool, now);
	expire(&pool->idle_clients, one_timeout, now, idle_due);
	if (query_to <= 0 && txn_to <= 0 && xact_to <= 0 && !fast_close)
		return;
	list_for_each_safe(pos, tmp, &pool->active_clients) {
		struct client *cl = list_entry(pos, struct client, node);
		struct server *sv = cl->server;
		bool running, in_txn;

		if (!sv)
			continue;
		running = sv->outstanding > 0 || sv->unsynced;
		in_txn = running || sv->txn_status != 'I';
		if (running && past(now, sv->query_start_us, query_to))
			kill_pair(cl, sv, "query timeout", "query_timeout");
		else if (!running && in_txn && past(now, sv->ready_at_us, txn_to))
			kill_pair(cl, sv, "idle transaction timeout", "idle transaction timeout");
		else if (in_txn && cl->xact_start_us && past(now, cl->xact_start_us, xact_to))
			kill_pair(cl, sv, "transaction timeout", "transaction timeout");
		else if (!in_txn && fast_close && admin_server_close_needed(sv))
			/* the session ends rather than outlive a RECONNECT or a
			 * changed [databases] entry */
			kill_pair(cl, sv, "database configuration changed",
				  "database configuration changed");
	}
}

/* Closes at most one idle server past server_lifetime or server_idle_timeout;
 * true if it did (the lists changed: look again). */
static bool janitor_one_server(struct pool *pool, uint64_t now)
{
	const struct config *cfg = pool->w->cfg;
	int64_t lifetime = pool_lifetime_of(pool);
	unsigned count = pool_shared_servers(pool);	/* min_pool_size counts every worker's */
	int min = pool_min_size_of(pool);
	struct list_node *pos;

	list_for_each(pos, &pool->idle_servers) {
		struct server *sv = list_entry(pos, struct server, node);

		if (past(now, sv->c.connect_time_us, lifetime)) {
			server_close(sv, "server lifetime over");
			return true;
		}
		/* a switchover drains the idle servers whose node no longer suits */
		if (!hostsel_host_suits(sv)) {
			server_close(sv, "its node no longer suits target_session_attrs");
			return true;
		}
		/* likewise an address its name no longer has: a worker whose
		 * clients stopped coming would keep it, taking it only to close it */
		if (server_addr_stale(sv)) {
			server_close(sv, "its host name no longer has this address (DNS)");
			return true;
		}
		if (past(now, sv->last_used_us, cfg->server_idle_timeout_us) &&
		    (min <= 0 || count > (unsigned)min)) {
			server_close(sv, "server idle timeout");
			return true;
		}
	}
	return false;
}

/*
 * A pool over pool_size + reserve_pool_size (a RELOAD or SET made one
 * smaller) gives idle servers back at once, coldest first, as PgBouncer's
 * janitor does; those in a client's hands (or running server_reset_query)
 * go once idle.  A pool_size of 0 is left alone, as there.  With several
 * workers each closes its share of the surplus per tick: the count over the
 * process drops only once they are drained.
 */
static void janitor_shrink(struct pool *pool)
{
	int size = pool_size_of(pool);
	unsigned count = pool_shared_servers(pool), over;
	int nw = pool->w->proc->nworkers;

	if (size <= 0 || pool->replication)
		return;
	size += pool_reserve_size_of(pool);
	if (count <= (unsigned)size)
		return;
	over = count - (unsigned)size;
	if (nw > 1)
		over = (over + (unsigned)nw - 1) / (unsigned)nw;
	/* the idle list is LIFO: its tail is the coldest */
	while (over-- && !list_empty(&pool->idle_servers))
		server_close(list_entry(pool->idle_servers.head.prev, struct server, node),
			     "too many servers in the pool");
}

static void janitor_pool(struct pool *pool, uint64_t now)
{
	int min = pool_min_size_of(pool);
	int n = 0;

	pool_report_launch_failure(pool);
	janitor_clients(pool, now);
	while (janitor_one_server(pool, now) && ++n < 64)
		;
	janitor_shrink(pool);
	/* min_pool_size: servers opened ahead of clients, once the pool exists */
	while (min > 0 && pool_shared_servers(pool) < (unsigned)min &&
	       pool_may_prefill(pool, (unsigned)min))
		if (!server_launch(pool))
			break;
	/* reserve_pool_timeout passes while clients wait: let them have it; and
	 * a login that waits for the first server is never left without a try */
	if (!list_empty(&pool->waiting) || !list_empty(&pool->wait_login))
		pool_pair(pool);
}

/* client_login_timeout: the login list is in order of arrival */
static void janitor_logins(struct worker *w, uint64_t now)
{
	while (!list_empty(&w->login_clients)) {
		struct client *cl = list_entry(list_first(&w->login_clients), struct client, node);

		if (!past(now, cl->c.connect_time_us, w->cfg->client_login_timeout_us))
			break;
		client_fail(cl, "08P01", "client_login_timeout");
	}
}

/*
 * A [databases] entry with a forced user= names its pool before any client
 * comes: with min_pool_size, the pool is made here, after start-up or a
 * reload, and janitor_pool opens its servers ahead of the clients.
 */
static void janitor_forced_pools(struct worker *w)
{
	const struct config *cfg = w->cfg;

	if (w->shutdown)
		return;
	for (size_t i = 0; i < cfg->ndbs; i++) {
		const struct db_conf *db = &cfg->dbs[i];
		int min = db->min_pool_size != CONF_UNSET ? db->min_pool_size : cfg->min_pool_size;

		if (db->user && min > 0 && !pool_get(w, db->name, db->user))
			log_warning(w->log, "%s/%s: no memory for the min_pool_size pool", db->name,
				    db->user);
	}
}

static void janitor_fire(struct loop *loop, struct loop_timer *t)
{
	struct worker *w = list_entry(t, struct worker, janitor);
	uint64_t now = loop_now_us(loop);
	struct list_node *pos, *tmp;

	janitor_logins(w, now);
	janitor_forced_pools(w);
	list_for_each_safe(pos, tmp, &w->pools) {
		struct pool *pool = list_entry(pos, struct pool, node);

		if (!pool_free_if_unused(pool, now))
			janitor_pool(pool, now);
	}
	if (!w->shutdown || w->nclients)
		loop_timer_set(loop, &w->janitor, JANITOR_US, janitor_fire);
}

void maint_start(struct worker *w)
{
	loop_timer_set(w->loop, &w->janitor, JANITOR_US, janitor_fire);
}
