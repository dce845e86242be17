/* pool.c - (database, user) pools: one list per state, pairing clients with servers, sizing */

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "process.h"
#include "worker.h"

static void pool_block(struct pool *pool, int k);

static bool policy_held(const struct pool *pool)
{
	return pool->w->pool_policy && pool->w->pool_policy->held(pool);
}

static bool policy_drops_waiters(const struct worker *w)
{
	return w->pool_policy && w->pool_policy->drops_waiters(w);
}

static bool policy_retire(struct server *sv)
{
	return sv->c.w->pool_policy && sv->c.w->pool_policy->retire(sv);
}

/* ---- tracked parameters ---- */

static const char *const base_names[PARAM_BASE] = {
	[PARAM_CLIENT_ENCODING] = "client_encoding",
	[PARAM_DATESTYLE] = "DateStyle",
	[PARAM_TIMEZONE] = "TimeZone",
	[PARAM_STANDARD_CONFORMING_STRINGS] = "standard_conforming_strings",
	[PARAM_APPLICATION_NAME] = "application_name",
};

const char *param_name(const struct worker *w, int idx)
{
	if (idx < PARAM_BASE)
		return base_names[idx];
	return idx - PARAM_BASE < w->nparam_extra ? w->param_extra[idx - PARAM_BASE] : NULL;
}

int param_lookup(const struct worker *w, const char *name)
{
	for (int i = 0; i < PARAM_BASE + w->nparam_extra; i++)
		if (!strcasecmp(param_name(w, i), name))
			return i;
	return -1;
}

/* The comma/space separated track_extra_parameters; a name tracked already
 * is skipped.  Only what PostgreSQL reports in ParameterStatus can follow
 * the client (PgBouncer's limit too): the others are set but never seen. */
int param_setup(struct worker *w, const char *extra, char *err, size_t errlen)
{
	const char *p = extra ? extra : "";
	char name[PARAM_NAME_MAX];

	w->nparam_extra = 0;
	while (*p) {
		size_t n = strcspn(p, ", \t");

		if (!n) {
			p++;
			continue;
		}
		if (n >= sizeof(name)) {
			snprintf(err, errlen, "track_extra_parameters: name too long: %.*s", (int)n, p);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = 0;
		p += n;
		for (size_t i = 0; i < n; i++) {
			if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '.') {
				snprintf(err, errlen, "track_extra_parameters: invalid name: %s", name);
				return -1;
			}
		}
		if (param_lookup(w, name) >= 0)
			continue;
		if (w->nparam_extra == PARAM_EXTRA_MAX) {
			snprintf(err, errlen, "track_extra_parameters: more than %d names",
				 PARAM_EXTRA_MAX);
			return -1;
		}
		memcpy(w->param_extra[w->nparam_extra++], name, n + 1);
	}
	return 0;
}

/*
 * Parameter values are interned per worker: thousands of clients share a
 * handful of values ("UTF8", "ISO, MDY", ...), each stored once with a
 * count, and equal values are equal pointers.
 */
struct istr {
	struct istr *next;
	uint64_t hash;
	uint32_t refs;
	char s[];
};

struct istr_table {
	struct istr *b[256];
};

static uint64_t istr_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

const char *param_intern(struct worker *w, const char *s)
{
	uint64_t h = istr_hash(s);
	struct istr *e;
	size_t n;

	if (!w->istr && !(w->istr = calloc(1, sizeof(*w->istr))))
		return NULL;
	for (e = w->istr->b[h % 256]; e; e = e->next) {
		if (e->hash == h && !strcmp(e->s, s)) {
			e->refs++;
			return e->s;
		}
	}
	n = strlen(s);
	if (!(e = malloc(sizeof(*e) + n + 1)))
		return NULL;
	e->hash = h;
	e->refs = 1;
	memcpy(e->s, s, n + 1);
	e->next = w->istr->b[h % 256];
	w->istr->b[h % 256] = e;
	return e->s;
}

void param_unintern(struct worker *w, const char *s)
{
	struct istr *e, **pp;

	if (!s)
		return;
	e = list_entry(s, struct istr, s);
	if (--e->refs)
		return;
	for (pp = &w->istr->b[e->hash % 256]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	free(e);
}

void param_set_free(struct worker *w, struct param_set *ps)
{
	for (int i = 0; i < PARAM_COUNT; i++) {
		param_unintern(w, ps->val[i]);
		ps->val[i] = NULL;
	}
}

void param_set_put(struct worker *w, struct param_set *ps, int idx, const char *val)
{
	const char *v = val ? param_intern(w, val) : NULL;

	if (val && !v)
		return;		/* keep the old value: a later SET corrects it */
	param_unintern(w, ps->val[idx]);
	ps->val[idx] = v;
}

/* ---- configuration as it applies to a pool ---- */

/* The pool's entries in the worker's config, looked up again only after the
 * config changed; the cache does not change what the pool is, hence the cast */
static const struct pool *pool_conf_of(const struct pool *pool)
{
	struct pool *p = (struct pool *)pool;
	const struct worker *w = pool->w;

	if (!p->conf_known || p->conf_epoch != w->cfg_epoch) {
		const struct db_conf *db = config_find_db(w->cfg, pool->dbname);

		p->conf_db = db ? db : w->cfg->fallback_db;
		p->conf_user = config_find_user(w->cfg, pool->user);
		p->conf_epoch = w->cfg_epoch;
		p->conf_known = true;
	}
	return p;
}

const struct db_conf *pool_db_conf(const struct pool *pool)
{
	return pool_conf_of(pool)->conf_db;
}

static const struct user_conf *pool_user_conf(const struct pool *pool)
{
	return pool_conf_of(pool)->conf_user;
}

/* A setting as it applies to a pool: [users] over [databases] over [pgbouncer].
 * off is the field's offset in user_conf / db_conf, or -1 where it has none. */
static int setting(const struct pool *pool, long uoff, long doff, int global)
{
	const struct user_conf *uc = uoff >= 0 ? pool_user_conf(pool) : NULL;
	const struct db_conf *db = doff >= 0 ? pool_db_conf(pool) : NULL;
	int v;

	if (uc) {
		memcpy(&v, (const char *)uc + uoff, sizeof(v));
		if (v != CONF_UNSET)
			return v;
	}
	if (db) {
		memcpy(&v, (const char *)db + doff, sizeof(v));
		if (v != CONF_UNSET)
			return v;
	}
	return global;
}

#define USER_OFF(f) ((long)offsetof(struct user_conf, f))
#define DB_OFF(f) ((long)offsetof(struct db_conf, f))

int pool_mode_of(const struct pool *pool)
{
	if (pool->replication)
		return POOL_SESSION;	/* a replication server is its client's alone */
	/* POOL_MODE_UNSET is CONF_UNSET */
	return setting(pool, USER_OFF(pool_mode), DB_OFF(pool_mode), pool->w->cfg->pool_mode);
}

int pool_size_of(const struct pool *pool)
{
	return setting(pool, USER_OFF(pool_size), DB_OFF(pool_size), pool->w->cfg->default_pool_size);
}

int pool_min_size_of(const struct pool *pool)
{
	if (pool->replication)
		return 0;	/* its servers are launched for their clients only */
	return setting(pool, -1, DB_OFF(min_pool_size), pool->w->cfg->min_pool_size);
}

int pool_reserve_size_of(const struct pool *pool)
{
	return setting(pool, USER_OFF(reserve_pool_size), DB_OFF(reserve_pool_size),
		       pool->w->cfg->reserve_pool_size);
}

/* A per-entry limit of 0 or less leaves the global one, as in PgBouncer. */
static int limit_of(int entry, int global)
{
	return entry > 0 ? entry : global;
}

int pool_max_db_connections_of(const struct pool *pool)
{
	const struct db_conf *db = pool_db_conf(pool);

	return limit_of(db ? db->max_db_connections : 0, pool->w->cfg->max_db_connections);
}

int pool_max_user_connections_of(const struct pool *pool)
{
	const struct user_conf *uc = pool_user_conf(pool);

	return limit_of(uc ? uc->max_user_connections : 0, pool->w->cfg->max_user_connections);
}

int64_t pool_lifetime_of(const struct pool *pool)
{
	const struct db_conf *db = pool_db_conf(pool);

	if (db && db->server_lifetime_us != CONF_UNSET)
		return db->server_lifetime_us;
	return pool->w->cfg->server_lifetime_us;
}

unsigned pool_server_count(const struct pool *pool)
{
	return pool->login_servers.count + pool->idle_servers.count + pool->active_servers.count +
	       pool->used_servers.count;
}

unsigned pool_client_count(const struct pool *pool)
{
	return pool->wait_login.count + pool->idle_clients.count + pool->waiting.count +
	       pool->active_clients.count;
}

/* Servers of this database (by_db) or of this user, over every worker. */
static unsigned servers_sharing(const struct pool *pool, bool by_db)
{
	return limit_count(&pool->slot[by_db ? LIMIT_DB : LIMIT_USER]->servers);
}

unsigned pool_shared_servers(const struct pool *pool)
{
	return pool->slot[LIMIT_POOL] ? limit_count(&pool->slot[LIMIT_POOL]->servers) :
					pool_server_count(pool);
}

static unsigned count_login_user(const struct list *l, const char *user)
{
	const struct list_node *pos;
	unsigned n = 0;

	list_for_each(pos, l)
		n += !strcmp(list_entry(pos, const struct client, node)->user, user);
	return n;
}

unsigned pool_login_user_clients(struct worker *w, const char *user)
{
	struct list_node *pos;
	unsigned n = 0;

	list_for_each(pos, &w->pools) {
		const struct pool *p = list_entry(pos, struct pool, node);

		n += count_login_user(&p->wait_login, user) + count_login_user(&p->idle_clients, user) +
		     count_login_user(&p->waiting, user) + count_login_user(&p->active_clients, user);
	}
	return n;
}

/* max_db_client_connections / max_user_client_connections, for a client that
 * just logged in: it takes a unit of its database's and its login user's
 * client counters (over every worker) or is refused; a forced user= of a
 * [databases] entry is the server's user, not the client's.  which:
 * PgBouncer's words for the one reached */
bool pool_client_limit_reached(struct client *cl, const char **which)
{
	const struct config *cfg = cl->c.w->cfg;
	struct pool *pool = cl->pool;
	const struct db_conf *db = pool_db_conf(pool);
	const struct user_conf *uc = config_find_user(cfg, cl->user);
	int dbmax = limit_of(db ? db->max_db_client_connections : 0,
				 cfg->max_db_client_connections);
	int umax = limit_of(uc ? uc->max_user_client_connections : 0,
				cfg->max_user_client_connections);
	struct limit_slot *us = pool->slot[LIMIT_USER];
	unsigned max[3] = { dbmax > 0 ? (unsigned)dbmax : 0, umax > 0 ? (unsigned)umax : 0, 0 };
	int full = 0;

	/* the slot table's lock only for a forced user's clients */
	if (strcmp(pool->user, cl->user))
		us = limit_slot_get(&cl->c.w->proc->limits, LIMIT_USER, NULL, cl->user);
	if (!us) {
		*which = "out of memory";
		return true;
	}
	cl->counted[0] = &pool->slot[LIMIT_DB]->clients;
	cl->counted[1] = &us->clients;
	if (limit_take_all(cl->counted, max, &full))
		return false;
	cl->counted[0] = cl->counted[1] = NULL;
	*which = full == 0 ? "client connections exceeded (max_db_client_connections)" :
			     "client connections exceeded (max_user_client_connections)";
	return true;
}

struct pool *pool_get(struct worker *w, const char *dbname, const char *user)
{
	return pool_get_repl(w, dbname, user, REPL_NONE);
}

/* Looked up once (the table's lock): the pointers stay valid as long as the
 * process.  A replication pool's servers are its clients' own, outside
 * pool_size, but count against max_db/user_connections. */
static bool pool_slots_get(struct pool *pool)
{
	struct limit_table *t = &pool->w->proc->limits;

	if (!pool->replication &&
	    !(pool->slot[LIMIT_POOL] = limit_slot_get(t, LIMIT_POOL, pool->dbname, pool->user)))
		return false;
	pool->slot[LIMIT_DB] = limit_slot_get(t, LIMIT_DB, pool->dbname, NULL);
	pool->slot[LIMIT_USER] = limit_slot_get(t, LIMIT_USER, NULL, pool->user);
	return pool->slot[LIMIT_DB] && pool->slot[LIMIT_USER];
}

/* Replication connections get pools of their own: their servers are never
 * shared, and a walsender takes no SET, reset query or check query */
struct pool *pool_get_repl(struct worker *w, const char *dbname, const char *user, int repl)
{
	struct list_node *pos, *tmp;
	struct pool *pool;
	bool db_known = false;

	list_for_each_safe(pos, tmp, &w->pools) {
		pool = list_entry(pos, struct pool, node);
		if (strcmp(pool->dbname, dbname))
			continue;
		if (!strcmp(pool->user, user) && pool->replication == repl)
			return pool;
		db_known = true;
	}
	/* PgBouncer's line for a database the "*" entry makes */
	if (!db_known && w->cfg->fallback_db && !config_find_db(w->cfg, dbname))
		log_info(w->log, "registered new auto-database: %s", dbname);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->w = w;
	snprintf(pool->dbname, sizeof(pool->dbname), "%s", dbname);
	snprintf(pool->user, sizeof(pool->user), "%s", user);
	pool->replication = (uint8_t)repl;
	pool->blocked = -1;
	if (!pool_slots_get(pool)) {
		free(pool);
		return NULL;
	}
	list_init(&pool->wait_login);
	list_init(&pool->idle_clients);
	list_init(&pool->waiting);
	list_init(&pool->active_clients);
	list_init(&pool->login_servers);
	list_init(&pool->idle_servers);
	list_init(&pool->active_servers);
	list_init(&pool->used_servers);
	list_append(&w->pools, &pool->node);
	return pool;
}

static void pool_clear_welcome(struct pool *pool)
{
	for (int i = 0; i < pool->nwelcome; i++) {
		free(pool->welcome_name[i]);
		free(pool->welcome_val[i]);
	}
	pool->nwelcome = 0;
	pool->have_welcome = false;
}

static void pool_free(struct pool *pool)
{
	struct worker *w = pool->w;

	pool_block(pool, -1);
	list_remove(&w->pools, &pool->node);
	loop_timer_stop(w->loop, &pool->retry_timer);
	loop_timer_stop(w->loop, &pool->fail_timer);
	pool_clear_welcome(pool);
	authq_pool_free(pool);
	OPENSSL_cleanse(pool->scram_client_key, sizeof(pool->scram_client_key));
	OPENSSL_cleanse(pool->scram_server_key, sizeof(pool->scram_server_key));
	free(pool);
}

/* server_close() moves each to SV_CLOSING, off these lists */
static void close_list(struct list *l, const char *why)
{
	while (!list_empty(l))
		server_close(list_entry(list_first(l), struct server, node), why);
}

void pool_close_servers(struct worker *w, const char *why)
{
	struct list_node *pos;

	list_for_each(pos, &w->pools) {
		struct pool *pool = list_entry(pos, struct pool, node);

		close_list(&pool->login_servers, why);
		close_list(&pool->idle_servers, why);
		close_list(&pool->active_servers, why);
		close_list(&pool->used_servers, why);
	}
}

/* At exit: what every param_set gave back, and the table. */
static void istr_free(struct worker *w)
{
	if (!w->istr)
		return;
	for (int i = 0; i < 256; i++) {
		while (w->istr->b[i]) {
			struct istr *e = w->istr->b[i];

			w->istr->b[i] = e->next;
			free(e);
		}
	}
	free(w->istr);
	w->istr = NULL;
}

void pool_free_all(struct worker *w)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &w->pools)
		pool_free(list_entry(pos, struct pool, node));
	prep_registry_free(w);
	istr_free(w);
}

void pool_ref(struct pool *pool)
{
	pool->refs++;
	pool->unused_since_us = 0;
}

void pool_unref(struct pool *pool)
{
	if (--pool->refs == 0)
		pool->unused_since_us = loop_now_us(pool->w->loop);
}

/*
 * A pool the "*" entry made, with no client or server left pointing at it
 * (closing ones included) for autodb_idle_timeout, is freed; its stats go
 * with it, as in PgBouncer.  A paused database keeps its pools.  Nothing
 * else keeps a pool pointer across loop turns: the console walks w->pools
 * and knows databases by name.
 */
bool pool_free_if_unused(struct pool *pool, uint64_t now)
{
	const struct config *cfg = pool->w->cfg;
	int64_t limit = cfg->autodb_idle_timeout_us;

	if (pool->refs || !pool->unused_since_us || limit <= 0 || !cfg->fallback_db ||
	    config_find_db(cfg, pool->dbname) || policy_held(pool) ||
	    now - pool->unused_since_us < (uint64_t)limit)
		return false;
	log_info(pool->w->log, "%s/%s: freeing the pool of an auto-database unused for %llds",
		 pool->dbname, pool->user, (long long)(limit / 1000000));
	pool_free(pool);
	return true;
}

/* ---- limits shared by every worker (doc/workers.md) ---- */

/*
 * Each server holds a unit of its pool's (db, user), database and user slots
 * from launch to close, taken by compare-and-swap under each limit, so that
 * no number of workers opens more than a limit allows.  With one worker the
 * counts are exactly what its own lists hold.  With more, a pool whose
 * clients a full slot holds back registers its oldest client's wait start
 * there; whoever frees a unit wakes the worker of the oldest one (WAKE), and
 * a worker holding an idle server of a full slot is asked to close it
 * (EVICT_IDLE).  A unit freed by a close thus goes to the oldest waiter
 * across workers; a server released by its client serves its own worker's
 * queue unless another worker's oldest client has waited HANDOVER_US longer.
 * A hand-over costs a server login: with 100 clients on a pool of 2 over 4
 * workers, 50 ms handed over on most releases (107 tps, against 309 with
 * one worker) where 200 ms kept 239 tps, at the price of a client on another
 * worker waiting up to that much longer than strict FIFO would have it.
 */
#define HANDOVER_US	200000

static bool multi(const struct worker *w)
{
	return w->proc->nworkers > 1;
}

static void pool_ctrs(const struct pool *pool, struct limit_ctr *c[3])
{
	for (int k = 0; k < 3; k++)
		c[k] = pool->slot[k] ? &pool->slot[k]->servers : NULL;
}

/* The wait start of the pool's oldest client that wants a server (a login
 * waiting for the pool's first server counts); 0 for none. */
static uint64_t pool_head_since(const struct pool *pool)
{
	uint64_t since = 0;

	if (!list_empty(&pool->waiting))
		since = list_entry(list_first(&pool->waiting), struct client, node)->wait_start_us;
	if (!list_empty(&pool->wait_login)) {
		uint64_t t = list_entry(list_first(&pool->wait_login), struct client,
					node)->state_since_us;

		if (!since || t < since)
			since = t;
	}
	return since;
}

/* This worker's registration on s: its oldest held-back client there. */
static void wait_refresh(struct worker *w, struct limit_slot *s)
{
	struct list_node *pos;
	uint64_t since = 0;

	list_for_each(pos, &w->pools) {
		const struct pool *p = list_entry(pos, struct pool, node);

		if (p->blocked >= 0 && p->slot[p->blocked] == s && p->blocked_since &&
		    (!since || p->blocked_since < since))
			since = p->blocked_since;
	}
	limit_wait_set(s, w->index, since);
}

/* The pool's clients are held back by slot k (-1: by none): registered there
 * with its oldest one's wait start, or the registration dropped. */
static void pool_block(struct pool *pool, int k)
{
	uint64_t since = k >= 0 ? pool_head_since(pool) : 0;
	struct limit_slot *was, *now;

	if (!multi(pool->w))
		return;
	if (!since)
		k = -1;
	if (pool->blocked == k && pool->blocked_since == since)
		return;
	was = pool->blocked >= 0 ? pool->slot[pool->blocked] : NULL;
	now = k >= 0 ? pool->slot[k] : NULL;
	pool->blocked = (int8_t)k;
	pool->blocked_since = since;
	if (was && was != now)
		wait_refresh(pool->w, was);
	if (now)
		wait_refresh(pool->w, now);
	else
		pool->evict_asked = false;
}

struct slot_msg {
	struct wmsg m;
	struct limit_slot *slot;
};

static void post_slot(struct worker *w, unsigned to, struct limit_slot *s,
		      void (*run)(struct worker *, struct wmsg *))
{
	struct slot_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		/* the janitor pairs every pool with waiters four times a second */
		log_warning(w->log, "out of memory: a limit wake-up waits for the janitor");
		return;
	}
	m->m.run = run;
	m->slot = s;
	worker_post(w->proc->workers[to], &m->m);
}

static void wake_run(struct worker *w, struct wmsg *m);

/* A unit of s came free: the worker of its oldest held-back client gets to
 * take it.  Its own worker's pools are paired by the caller (local). */
static void wake_oldest(struct worker *w, struct limit_slot *s, bool local)
{
	uint64_t since;
	int o;

	/* limit_give's decrement and this read of the registrations are
	 * sequentially consistent, as a registration and its worker's next
	 * read of the counter (take_units): one of the two sees the other */
	o = limit_wait_oldest(s, -1, &since);
	if (o >= 0 && (o != (int)w->index || !local))
		post_slot(w, (unsigned)o, s, wake_run);
}

static void units_give(struct pool *pool, struct limit_ctr *const c[3], bool local)
{
	limit_give_all(c);
	if (!multi(pool->w))
		return;
	for (int k = 0; k < 3; k++)
		if (c[k])
			wake_oldest(pool->w, list_entry(c[k], struct limit_slot, servers), local);
}

void pool_unreserve(struct pool *pool)
{
	struct limit_ctr *c[3];

	if (!pool->reserved)
		return;
	pool->reserved = false;
	pool_ctrs(pool, c);
	units_give(pool, c, false);
}

static void wake_run(struct worker *w, struct wmsg *m)
{
	struct limit_slot *s = ((struct slot_msg *)m)->slot;
	struct list_node *pos, *tmp;
	uint64_t since;
	int o;

	free(m);
	if (!w->loop || w->exiting)
		return;
	list_for_each_safe(pos, tmp, &w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		if (p->blocked >= 0 && p->slot[p->blocked] == s)
			pool_pair(p);
	}
	/* no client here wants it (any more): the next oldest does */
	if (!atomic_load(&s->wait[w->index]) && (o = limit_wait_oldest(s, (int)w->index, &since)) >= 0)
		post_slot(w, (unsigned)o, s, wake_run);
}

/* Whether another worker's client waits for a unit of s and has waited since
 * before `before` (0: whatever its age). */
static bool other_waits(const struct worker *w, struct limit_slot *s, uint64_t before)
{
	uint64_t since;

	return s && limit_wait_oldest(s, (int)w->index, &since) >= 0 && (!before || since < before);
}

/* EVICT_IDLE: another worker's client waits for a unit of a full slot while
 * this worker holds an idle server of it: the coldest goes. */
static void evict_run(struct worker *w, struct wmsg *m)
{
	struct limit_slot *s = ((struct slot_msg *)m)->slot;
	struct server *cold = NULL;
	struct list_node *pos;

	free(m);
	if (!w->loop || w->exiting || !other_waits(w, s, 0))
		return;
	list_for_each(pos, &w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);
		struct server *sv;

		if ((p->slot[0] != s && p->slot[1] != s && p->slot[2] != s) ||
		    list_empty(&p->idle_servers) || !list_empty(&p->waiting))
			continue;
		/* the idle list is LIFO: its tail is the coldest */
		sv = list_entry(p->idle_servers.head.prev, struct server, node);
		if (!cold || sv->last_used_us < cold->last_used_us)
			cold = sv;
	}
	if (cold)
		server_close(cold, "evicted for a client of another worker");
}

/* Held back by full slot k: the other workers are asked, once per launch,
 * for an idle server of it. */
static void ask_evict(struct pool *pool, int k)
{
	struct worker *w = pool->w;

	if (pool->evict_asked)
		return;
	pool->evict_asked = true;
	for (int i = 0; i < w->proc->nworkers; i++)
		if (i != (int)w->index)
			post_slot(w, (unsigned)i, pool->slot[k], evict_run);
}

/* A ready server that another worker's client needs more than this one's:
 * closed, its units go to that client (wake_oldest).  Why, or NULL. */
static const char *handed_over(const struct pool *pool)
{
	uint64_t mine = pool_head_since(pool);

	if (!multi(pool->w))
		return NULL;
	/* with no client of its own waiting, any waiter elsewhere takes it */
	mine = !mine ? 0 : mine > HANDOVER_US ? mine - HANDOVER_US : 1;
	for (int k = 0; k < 3; k++)
		if (other_waits(pool->w, pool->slot[k], mine))
			return "handed over to a client waiting on another worker";
	return NULL;
}

/* A launch with its oldest client waiting since `mine` (0: none, min_pool_size)
 * leaves a unit of slot k to an older client of another worker: false, *full = k. */
static bool older_elsewhere(const struct pool *pool, uint64_t mine, int *full)
{
	if (!multi(pool->w))
		return false;
	for (int k = 0; k < 3; k++) {
		if (other_waits(pool->w, pool->slot[k], mine)) {
			*full = k;
			return true;
		}
	}
	return false;
}

/* ---- one state, one list ---- */

static struct list *client_list(struct client *cl, enum client_state st)
{
	struct pool *pool = cl->pool;

	switch (st) {
	case CL_LOGIN:
		return &cl->c.w->login_clients;
	case CL_WAIT_LOGIN:
		return &pool->wait_login;
	case CL_IDLE:
		return &pool->idle_clients;
	case CL_WAITING:
		return &pool->waiting;
	case CL_ACTIVE:
		return &pool->active_clients;
	case CL_CANCEL:
	case CL_CLOSING:
	default:
		return NULL;
	}
}

void pool_change_client(struct client *cl, enum client_state st)
{
	struct list *from = client_list(cl, cl->state), *to;
	bool was_queued = cl->state == CL_WAITING || cl->state == CL_WAIT_LOGIN;

	if (from)
		list_remove(from, &cl->node);
	cl->state = st;
	cl->state_since_us = loop_now_us(cl->c.w->loop);
	to = client_list(cl, st);
	if (to)
		list_append(to, &cl->node);
	if (st == CL_CLOSING && cl->counted[0]) {
		limit_give_all(cl->counted);
		cl->counted[0] = cl->counted[1] = NULL;
	}
	/* the oldest held-back client may have changed */
	if (was_queued && cl->pool && cl->pool->blocked >= 0)
		pool_block(cl->pool, cl->pool->blocked);
}

/* A server entering its pool's lists carries the units its launch took. */
static void server_count_in(struct server *sv)
{
	struct pool *pool = sv->pool;
	struct limit_ctr *c[3];

	if (sv->counted)
		return;
	sv->counted = true;
	if (pool->reserved) {
		pool->reserved = false;
		return;
	}
	/* every launch reserves first: this is a bug, but the counts must
	 * still match the servers, or a close would give what was not taken */
	log_error(pool->w->log, "%s/%s: a server launched without its limit units", pool->dbname,
		  pool->user);
	pool_ctrs(pool, c);
	for (int k = 0; k < 3; k++)
		if (c[k])
			(void)limit_take(c[k], 0);
}

/* ...and gives them back when it leaves them (server_close): once */
static void server_count_out(struct server *sv)
{
	struct limit_ctr *c[3];

	if (!sv->counted || sv->draining)
		return;
	sv->counted = false;
	pool_ctrs(sv->pool, c);
	units_give(sv->pool, c, true);
}

static struct list *server_list(struct server *sv, enum server_state st)
{
	struct pool *pool = sv->pool;

	switch (st) {
	case SV_LOGIN:
		return &pool->login_servers;
	case SV_IDLE:
		return &pool->idle_servers;
	case SV_ACTIVE:
		return &pool->active_servers;
	case SV_USED:
		return &pool->used_servers;
	case SV_CANCEL:
	case SV_CLOSING:
	default:
		return NULL;
	}
}

void pool_change_server(struct server *sv, enum server_state st)
{
	struct list *from = sv->pool ? server_list(sv, sv->state) : NULL, *to;

	if (from)
		list_remove(from, &sv->node);
	sv->state = st;
	to = sv->pool ? server_list(sv, st) : NULL;
	if (!from && to)
		server_count_in(sv);
	else if (from && !to)
		server_count_out(sv);
	if (!to)
		return;
	/* idle servers are LIFO: the warmest connection is reused first;
	 * server_round_robin makes them FIFO, to spread load evenly over them */
	if (st == SV_IDLE && !sv->c.w->cfg->server_round_robin)
		list_prepend(to, &sv->node);
	else
		list_append(to, &sv->node);
}

/* ---- pairing ---- */

/* false: the client's parameters could not be sent; both ends are closed */
static bool pool_link(struct client *cl, struct server *sv)
{
	pool_change_client(cl, CL_ACTIVE);
	pool_change_server(sv, SV_ACTIVE);
	cl->server = sv;
	sv->client = cl;
	cl->c.peer = &sv->c;
	sv->c.peer = &cl->c;
	sv->outstanding = 0;
	sv->unsynced = false;
	prep_link(sv);
	/* a replication server got the client's parameters at startup, and a
	 * physical walsender would refuse a SET */
	if (sv->pool->replication || cl->authq || server_send_params(sv, &cl->params))
		return true;
	/* the server may hold half a SET: it is not reused */
	cl->server = NULL;
	cl->c.peer = NULL;
	sv->client = NULL;
	sv->c.peer = NULL;
	server_close(sv, "could not send the client's parameters");
	client_fail(cl, "53200", "out of memory sending the client's parameters to the server");
	return false;
}

static void fail_fire(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	pool_report_launch_failure(list_entry(t, struct pool, fail_timer));
}

static void retry_fire(struct loop *loop, struct loop_timer *t)
{
	struct pool *pool = list_entry(t, struct pool, retry_timer);

	(void)loop;
	pool_pair(pool);
}

/* An idle server of another pool of the same database (by_db) or user, to close
 * so that this pool may open one under max_db/user_connections. */
static bool evict_idle(struct pool *pool, bool by_db)
{
	struct list_node *pos;

	list_for_each(pos, &pool->w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		if (p == pool || list_empty(&p->idle_servers) || !list_empty(&p->waiting))
			continue;
		if (by_db ? strcmp(p->dbname, pool->dbname) : strcmp(p->user, pool->user))
			continue;
		/* the idle list is LIFO: its tail is the coldest (with
		 * server_round_robin, the latest: idle all the same) */
		server_close(list_entry(p->idle_servers.head.prev, struct server, node),
			     by_db ? "evicted for max_db_connections" : "evicted for max_user_connections");
		return true;
	}
	return false;
}

/* Whether the oldest waiting client has waited past reserve_pool_timeout.  A
 * login waiting for the pool's first server counts, as in PgBouncer (its
 * waiting_client_list holds both): with several workers the first client of
 * a (db, user) on a worker waits so while the other workers hold the pool. */
static bool reserve_due(struct pool *pool)
{
	struct worker *w = pool->w;
	uint64_t since = pool_head_since(pool);

	if (!since || pool_reserve_size_of(pool) <= 0)
		return false;
	return loop_now_us(w->loop) - since >= (uint64_t)w->cfg->reserve_pool_timeout_us;
}

/*
 * Takes a unit of each slot of the pool under its limit (psize for the
 * pool's own: pool_size, with the reserve, or min_pool_size), evicting an
 * idle server of another pool of this worker for a full max_db/user limit
 * as before.  fair: a unit is left to an older client of another worker
 * (mine: this pool's oldest client's wait start, 0 none).  false: *full is
 * the slot that held it back.
 */
static bool take_units(struct pool *pool, unsigned psize, bool fair, uint64_t mine, int *full)
{
	int dbmax = pool_max_db_connections_of(pool), umax = pool_max_user_connections_of(pool);
	unsigned max[3] = { psize, dbmax > 0 ? (unsigned)dbmax : 0, umax > 0 ? (unsigned)umax : 0 };
	bool evicted[3] = { true, false, false };	/* none for the pool's own size */
	struct limit_ctr *c[3];

	if (fair && older_elsewhere(pool, mine, full)) {
		if (mine)
			pool_block(pool, *full);
		return false;
	}
	pool_ctrs(pool, c);
	for (;;) {
		if (limit_take_all(c, max, full))
			return true;
		/* counted again after an eviction: closing a server pairs the
		 * other pools held back by the limit, and one may take the room */
		if (evicted[*full] || !evict_idle(pool, *full == LIMIT_DB))
			break;
		evicted[*full] = true;
	}
	if (!multi(pool->w) || !fair || !mine)
		return false;
	/* registered before the second try: a unit freed meanwhile is either
	 * seen by that try or its giver sees the registration (wake_oldest) */
	pool_block(pool, *full);
	for (int k = 0; k < 3; k++)
		if (c[k])	/* a read of the latest count, in that order */
			(void)atomic_fetch_add(&c[k]->n, 0);
	if (limit_take_all(c, max, full))
		return true;
	ask_evict(pool, *full);
	return false;
}

/* The pool is full and its oldest client has waited reserve_pool_timeout:
 * the reserve's size on top, if it has room. */
static int reserve_room(struct pool *pool, int size)
{
	int reserve = pool_reserve_size_of(pool);

	if (reserve <= 0 || pool_shared_servers(pool) >= (unsigned)(size + reserve) ||
	    !reserve_due(pool))
		return 0;
	if (!pool->reserve_warned)
		log_info(pool->w->log, "%s/%s: taking connection from reserve_pool", pool->dbname,
			 pool->user);
	pool->reserve_warned = true;
	return reserve;
}

/* Reserves the units of one more server (server_launch's server carries
 * them); cap: min_pool_size's launches, never past it */
static bool pool_reserve(struct pool *pool, unsigned cap)
{
	struct worker *w = pool->w;
	uint64_t retry = (uint64_t)w->cfg->server_login_retry_us, now = loop_now_us(w->loop);
	uint64_t mine = cap ? 0 : pool_head_since(pool);
	int size = pool_size_of(pool), reserve, full;
	unsigned psize = size > 0 ? (unsigned)size : 0;

	/* a shutdown that waits for clients still serves them (SIGTERM):
	 * servers for those waiting, none to fill min_pool_size */
	if (w->exiting || policy_held(pool) || (w->shutdown && list_empty(&pool->waiting))) {
		pool_block(pool, -1);	/* not a limit: no unit is to wait for */
		return false;
	}
	if (pool->last_login_fail_us && now - pool->last_login_fail_us < retry) {
		pool_block(pool, -1);
		if (!loop_timer_armed(&pool->retry_timer))
			loop_timer_set(w->loop, &pool->retry_timer,
				       retry - (now - pool->last_login_fail_us), retry_fire);
		return false;
	}
	if (cap && (!psize || cap < psize))
		psize = cap;
	if (!take_units(pool, psize, true, mine, &full)) {
		if (cap || full != LIMIT_POOL || size <= 0 || !(reserve = reserve_room(pool, size)) ||
		    !take_units(pool, (unsigned)(size + reserve), true, mine, &full))
			return false;
	}
	pool->reserved = true;
	return true;
}

bool pool_may_launch(struct pool *pool)
{
	return pool_reserve(pool, 0);
}

/* min_pool_size: the (db, user)'s servers over every worker up to min, never
 * past it, never before a client that waits elsewhere */
bool pool_may_prefill(struct pool *pool, unsigned min)
{
	return pool_reserve(pool, min);
}

/* A replication client's own server counts against max_db_connections and
 * max_user_connections like any other; with no room the client is refused
 * (it cannot wait in a queue: no other server would do).  NULL: room, and
 * the units are taken for server_launch. */
const char *pool_repl_limit(struct pool *pool)
{
	int full = -1;

	if (take_units(pool, 0, false, 0, &full)) {
		pool->reserved = true;
		return NULL;
	}
	return full == LIMIT_USER ? "max_user_connections" : "max_db_connections";
}

/* server_check_query before reusing a server idle longer than server_check_delay.
 * One that has just logged in or passed the check (this very loop turn) is
 * handed over as it is: with server_check_delay = 0 it would otherwise be
 * checked again, and again, and never reach the client. */
static bool needs_check(struct server *sv)
{
	const struct config *cfg = sv->c.w->cfg;
	uint64_t now = loop_now_us(sv->c.w->loop);

	if (!cfg->server_check_query || sv->proven_us == now)
		return false;
	return now - sv->last_used_us >= (uint64_t)cfg->server_check_delay_us;
}

static void send_check(struct server *sv)
{
	struct worker *w = sv->c.w;

	pkt_query(&w->tmp, w->cfg->server_check_query);
	if (!conn_send_pkt(&sv->c, &w->tmp))
		return;
	sv->hidden++;
	prep_server_unnamed(sv, true);
	hostsel_probe_check(sv);
	sv->proving = true;
	pool_change_server(sv, SV_USED);
}

static void pool_pair_once(struct pool *pool);

/*
 * Pairing may close a server (an eviction for a shared limit), and a closed
 * server pairs the pools it held back: this one is not entered again from
 * inside itself, where its launch decision is half made; it goes round once
 * more instead.
 */
void pool_pair(struct pool *pool)
{
	if (pool->pairing) {
		pool->pair_again = true;
		return;
	}
	pool->pairing = true;
	do {
		pool->pair_again = false;
		pool_pair_once(pool);
	} while (pool->pair_again);
	pool->pairing = false;
}

static void pool_pair_once(struct pool *pool)
{
	unsigned want;

	if (pool->replication) {
		/* each server is launched for, and linked to, its client; those
		 * that came during a PAUSE wait in wait_login until it ends */
		while (!policy_held(pool) && !list_empty(&pool->wait_login))
			client_repl_launch(list_entry(list_first(&pool->wait_login), struct client, node));
		return;
	}
	if (policy_held(pool)) {
		pool_block(pool, -1);
		return;		/* PAUSE: clients wait, no server is opened */
	}
	while (!list_empty(&pool->waiting) && !list_empty(&pool->idle_servers)) {
		struct client *cl = list_entry(list_first(&pool->waiting), struct client, node);
		struct server *sv = list_entry(list_first(&pool->idle_servers), struct server, node);

		if (!hostsel_host_suits(sv)) {
			server_close(sv, "its node no longer suits target_session_attrs");
			continue;
		}
		if (server_addr_stale(sv)) {
			server_close(sv, "its host name no longer has this address (DNS)");
			continue;
		}
		if (needs_check(sv)) {
			send_check(sv);
			continue;
		}
		if (pool_link(cl, sv))
			client_linked(cl);
	}
	/* one login per client that waits (less those a check will free), up to
	 * the pool size */
	want = pool->waiting.count + (pool->wait_login.count && !pool->have_welcome ? 1 : 0);
	while (want > pool->login_servers.count + pool->used_servers.count && pool_may_launch(pool)) {
		pool->evict_asked = false;
		if (!server_launch(pool)) {
			pool_unreserve(pool);
			break;
		}
	}
	/* still held back by a limit, or no longer: the registration follows */
	if (pool->blocked >= 0 && want <= pool->login_servers.count + pool->used_servers.count)
		pool_block(pool, -1);
	else if (pool->blocked >= 0)
		pool_block(pool, pool->blocked);
	if (!pool_head_since(pool))
		pool->reserve_warned = false;
}

void pool_want_server(struct client *cl)
{
	struct pool *pool = cl->pool;

	if (policy_drops_waiters(cl->c.w)) {
		client_fail(cl, "57P01", "pgring is shutting down");
		return;
	}
	if (pool_fast_fail(cl))
		return;
	cl->wait_start_us = loop_now_us(cl->c.w->loop);
	cl->wait_notified = false;
	pool_change_client(cl, CL_WAITING);
	pool_pair(pool);
}

/* A replication client's own server has logged in: the client hears the
 * server's welcome and is linked to it for good (server_release closes it) */
static void repl_link(struct server *sv)
{
	struct client *cl = sv->repl_owner;

	cl->repl_server = NULL;
	sv->repl_owner = NULL;
	if (!client_send_welcome(cl)) {
		server_close(sv, "its replication client is gone");
		return;
	}
	if (pool_link(cl, sv))
		client_linked(cl);
}

/*
 * A limit shared with other pools (max_db_connections, max_user_connections)
 * is used up, and a pool under it has clients waiting and no server at all:
 * the reason to give a server back rather than reuse it. Evicting only idle
 * servers would starve that pool for as long as this one stays busy.
 */
static const char *starved_sharer(struct pool *pool)
{
	int dbmax = pool_max_db_connections_of(pool), umax = pool_max_user_connections_of(pool);
	bool dbfull = dbmax > 0 && servers_sharing(pool, true) >= (unsigned)dbmax;
	bool ufull = umax > 0 && servers_sharing(pool, false) >= (unsigned)umax;
	struct list_node *pos;

	/* a pool keeps its last server: giving that up would starve it in turn */
	if ((!dbfull && !ufull) || pool_server_count(pool) < 2)
		return NULL;
	list_for_each(pos, &pool->w->pools) {
		const struct pool *p = list_entry(pos, struct pool, node);

		if (p == pool || pool_server_count(p) || policy_held(p) ||
		    (list_empty(&p->waiting) && list_empty(&p->wait_login)))
			continue;
		if (dbfull && !strcmp(p->dbname, pool->dbname))
			return "evicted for max_db_connections";
		if (ufull && !strcmp(p->user, pool->user))
			return "evicted for max_user_connections";
	}
	return NULL;
}

void pool_server_ready(struct server *sv)
{
	struct pool *pool = sv->pool;
	struct worker *w = sv->c.w;
	struct list_node *pos, *tmp;
	int64_t lifetime = pool_lifetime_of(pool);
	uint64_t now = loop_now_us(w->loop);
	const char *why;
	/* just logged in for this worker's clients: it serves one of them
	 * before it can be handed over, or fresh logins would go round */
	bool fresh = sv->state == SV_LOGIN;

	sv->client = NULL;
	sv->c.peer = NULL;
	pool->last_login_fail_us = 0;
	if (sv->repl_owner) {
		repl_link(sv);
		return;
	}
	if (sv->proving)
		sv->proven_us = now;
	sv->proving = false;
	if (policy_retire(sv))
		return;		/* paused, or RECONNECT / a reload asked it to go */
	if (!hostsel_still_matches(sv)) {
		server_close(sv, "its node no longer suits target_session_attrs");
		return;
	}
	if (lifetime > 0 && now - sv->c.connect_time_us >= (uint64_t)lifetime) {
		server_close(sv, "server lifetime over");
		return;
	}
	if ((why = starved_sharer(pool))) {
		server_close(sv, why);
		return;
	}
	sv->last_used_us = now;
	pool_change_server(sv, SV_IDLE);
	/* idle first: it hears a Terminate */
	if (!(fresh && pool_head_since(pool)) && (why = handed_over(pool))) {
		server_close(sv, why);
		return;
	}
	list_for_each_safe(pos, tmp, &pool->wait_login) {
		struct client *cl = list_entry(pos, struct client, node);

		client_login_done(cl);
	}
	pool_pair(pool);
}

/* Servers that serve or will serve clients (not those still logging in). */
static unsigned servers_up(const struct pool *pool)
{
	return pool->idle_servers.count + pool->active_servers.count + pool->used_servers.count;
}

/*
 * A server login failed. Refused by PostgreSQL (sqlstate set), with no server
 * up to serve them, every client that waits for this pool hears PostgreSQL's
 * own error, as PgBouncer does. A failure that may pass (sqlstate NULL: no
 * connection, PostgreSQL restarting) leaves them queued: the pool tries again
 * after server_login_retry, and they wait up to query_wait_timeout.
 */
void pool_login_failed(struct pool *pool, const char *sqlstate, const char *msg)
{
	pool->last_login_fail_us = loop_now_us(pool->w->loop);
	snprintf(pool->last_error, sizeof(pool->last_error), "%s", msg);
	if (sqlstate && !servers_up(pool)) {
		while (!list_empty(&pool->wait_login))
			client_fail(list_entry(list_first(&pool->wait_login), struct client, node),
				    sqlstate, "%s", msg);
		while (!list_empty(&pool->waiting))
			client_fail(list_entry(list_first(&pool->waiting), struct client, node),
				    sqlstate, "%s", msg);
	}
	pool_pair(pool);
}

/*
 * PgBouncer's documentation (server_login_retry): "during the waiting
 * interval, new clients trying to connect to the failing server will get an
 * error immediately without waiting". So a client that comes for a server
 * within server_login_retry of a failed login, no server being up, is
 * refused with PgBouncer's words; clients queued before the failure wait for
 * the retry, and one that comes after the interval is queued and brings the
 * next try. true: cl was refused.
 */
bool pool_fast_fail(struct client *cl)
{
	const struct pool *pool = cl->pool;
	uint64_t now = loop_now_us(pool->w->loop);

	if (!pool->last_login_fail_us || servers_up(pool) ||
	    now - pool->last_login_fail_us >= (uint64_t)pool->w->cfg->server_login_retry_us)
		return false;
	client_fail(cl, "08P01", "server login has been failing, cached error: %s (server_login_retry)",
		    pool->last_error);
	return true;
}

/*
 * A server connection could not even be started (no address, no fd). The
 * clients hear it as from a failed login, but on the next loop turn: the
 * launch is tried from inside pool_pair, whose caller may be the very client
 * that would be failed.
 */
void pool_launch_failed(struct pool *pool, const char *why)
{
	struct worker *w = pool->w;

	pool_unreserve(pool);	/* no server carries them */
	pool->last_login_fail_us = loop_now_us(w->loop);
	snprintf(pool->last_error, sizeof(pool->last_error), "%s", why);
	log_warning(w->log, "%s/%s: could not launch a server connection: %s", pool->dbname,
		    pool->user, why);
	pool->launch_failed = true;
	loop_timer_set(w->loop, &pool->fail_timer, 0, fail_fire);
}

void pool_report_launch_failure(struct pool *pool)
{
	char msg[sizeof(pool->last_error)];

	if (!pool->launch_failed)
		return;
	pool->launch_failed = false;
	loop_timer_stop(pool->w->loop, &pool->fail_timer);
	snprintf(msg, sizeof(msg), "%s", pool->last_error);
	pool_login_failed(pool, NULL, msg);
}

/* A server went away: this pool, and any pool held back by a shared limit,
 * may open another. */
void pool_server_gone(struct pool *pool)
{
	struct list_node *pos, *tmp;

	if (!pool)
		return;
	if (pool_max_db_connections_of(pool) <= 0 && pool_max_user_connections_of(pool) <= 0) {
		pool_pair(pool);
		return;
	}
	/* the others first: one may have been waiting for this very room */
	list_for_each_safe(pos, tmp, &pool->w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		if (p != pool && (!list_empty(&p->waiting) || !list_empty(&p->wait_login)))
			pool_pair(p);
	}
	pool_pair(pool);
}

/* A drained server is gone at last: its units go back, and the pools they
 * held back may launch (here or, by wake_oldest, on another worker). */
void pool_server_freed(struct server *sv)
{
	struct limit_ctr *c[3];

	if (!sv->counted)
		return;
	sv->counted = false;
	pool_ctrs(sv->pool, c);
	units_give(sv->pool, c, true);
	if (!sv->c.w->exiting)
		pool_server_gone(sv->pool);
}
