/* pool.c - (database, user) pools: one list per state, pairing clients with servers, sizing */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker.h"

/* ---- tracked parameters ---- */

static const char *const param_names[PARAM_COUNT] = {
	[PARAM_CLIENT_ENCODING] = "client_encoding",
	[PARAM_DATESTYLE] = "DateStyle",
	[PARAM_TIMEZONE] = "TimeZone",
	[PARAM_INTERVALSTYLE] = "IntervalStyle",
	[PARAM_STANDARD_CONFORMING_STRINGS] = "standard_conforming_strings",
	[PARAM_APPLICATION_NAME] = "application_name",
};

const char *param_name(int idx)
{
	return param_names[idx];
}

int param_lookup(const char *name)
{
	for (int i = 0; i < PARAM_COUNT; i++)
		if (!strcasecmp(param_names[i], name))
			return i;
	return -1;
}

void param_set_free(struct param_set *ps)
{
	for (int i = 0; i < PARAM_COUNT; i++) {
		free(ps->val[i]);
		ps->val[i] = NULL;
	}
}

void param_set_put(struct param_set *ps, int idx, const char *val)
{
	char *v = val ? strdup(val) : NULL;

	if (val && !v)
		return;		/* keep the old value: a later SET corrects it */
	free(ps->val[idx]);
	ps->val[idx] = v;
}

void param_set_copy(struct param_set *dst, const struct param_set *src)
{
	for (int i = 0; i < PARAM_COUNT; i++)
		param_set_put(dst, i, src->val[i]);
}

/* ---- configuration as it applies to a pool ---- */

const struct db_conf *pool_db_conf(const struct pool *pool)
{
	const struct config *cfg = pool->w->cfg;
	const struct db_conf *db = config_find_db(cfg, pool->dbname);

	return db ? db : cfg->fallback_db;
}

int pool_mode_of(const struct pool *pool)
{
	const struct config *cfg = pool->w->cfg;
	const struct user_conf *uc = config_find_user(cfg, pool->user);
	const struct db_conf *db = pool_db_conf(pool);

	if (uc && uc->pool_mode != POOL_MODE_UNSET)
		return uc->pool_mode;
	if (db && db->pool_mode != POOL_MODE_UNSET)
		return db->pool_mode;
	return cfg->pool_mode;
}

int pool_size_of(const struct pool *pool)
{
	const struct config *cfg = pool->w->cfg;
	const struct user_conf *uc = config_find_user(cfg, pool->user);
	const struct db_conf *db = pool_db_conf(pool);

	if (uc && uc->pool_size != CONF_UNSET)
		return uc->pool_size;
	if (db && db->pool_size != CONF_UNSET)
		return db->pool_size;
	return cfg->default_pool_size;
}

static unsigned pool_server_count(const struct pool *pool)
{
	return pool->login_servers.count + pool->idle_servers.count + pool->active_servers.count +
	       pool->used_servers.count;
}

struct pool *pool_get(struct worker *w, const char *dbname, const char *user)
{
	struct list_node *pos, *tmp;
	struct pool *pool;

	list_for_each_safe(pos, tmp, &w->pools) {
		pool = list_entry(pos, struct pool, node);
		if (!strcmp(pool->dbname, dbname) && !strcmp(pool->user, user))
			return pool;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->w = w;
	snprintf(pool->dbname, sizeof(pool->dbname), "%s", dbname);
	snprintf(pool->user, sizeof(pool->user), "%s", user);
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

void pool_free_all(struct worker *w)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &w->pools) {
		struct pool *pool = list_entry(pos, struct pool, node);

		list_remove(&w->pools, pos);
		loop_timer_stop(w->loop, &pool->retry_timer);
		pool_clear_welcome(pool);
		free(pool);
	}
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

	if (from)
		list_remove(from, &cl->node);
	cl->state = st;
	to = client_list(cl, st);
	if (to)
		list_append(to, &cl->node);
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
	if (!to)
		return;
	/* idle servers are LIFO: the warmest connection is reused first */
	if (st == SV_IDLE)
		list_prepend(to, &sv->node);
	else
		list_append(to, &sv->node);
}

/* ---- pairing ---- */

static void pool_link(struct client *cl, struct server *sv)
{
	pool_change_client(cl, CL_ACTIVE);
	pool_change_server(sv, SV_ACTIVE);
	cl->server = sv;
	sv->client = cl;
	cl->c.peer = &sv->c;
	sv->c.peer = &cl->c;
	sv->outstanding = 0;
	sv->unsynced = false;
	server_send_params(sv, &cl->params);
}

static void retry_fire(struct loop *loop, struct loop_timer *t)
{
	struct pool *pool = list_entry(t, struct pool, retry_timer);

	pool_pair(pool);
}

static bool may_launch(struct pool *pool)
{
	struct worker *w = pool->w;
	uint64_t retry = (uint64_t)w->cfg->server_login_retry_us;
	int size = pool_size_of(pool);

	if (w->shutdown || admin_pool_held(pool))
		return false;
	if (size > 0 && pool_server_count(pool) >= (unsigned)size)
		return false;
	if (pool->last_login_fail_us && loop_now_us(w->loop) - pool->last_login_fail_us < retry) {
		if (!loop_timer_armed(&pool->retry_timer))
			loop_timer_set(w->loop, &pool->retry_timer,
				       retry - (loop_now_us(w->loop) - pool->last_login_fail_us),
				       retry_fire);
		return false;
	}
	return true;
}

void pool_pair(struct pool *pool)
{
	unsigned want;

	if (admin_pool_held(pool))
		return;		/* PAUSE: clients wait, no server is opened */
	while (!list_empty(&pool->waiting) && !list_empty(&pool->idle_servers)) {
		struct client *cl = list_entry(list_first(&pool->waiting), struct client, node);
		struct server *sv = list_entry(list_first(&pool->idle_servers), struct server, node);

		pool_link(cl, sv);
		client_linked(cl);
	}
	/* one login per client that waits, up to the pool size */
	want = pool->waiting.count + (pool->wait_login.count && !pool->have_welcome ? 1 : 0);
	while (want > pool->login_servers.count && may_launch(pool)) {
		if (!server_launch(pool))
			break;
	}
}

void pool_want_server(struct client *cl)
{
	struct pool *pool = cl->pool;

	cl->wait_start_us = loop_now_us(cl->c.w->loop);
	pool_change_client(cl, CL_WAITING);
	pool_pair(pool);
}

void pool_server_ready(struct server *sv)
{
	struct pool *pool = sv->pool;
	struct list_node *pos, *tmp;

	sv->client = NULL;
	sv->c.peer = NULL;
	if (admin_server_retire(sv))
		return;		/* paused, or RECONNECT / a reload asked it to go */
	sv->last_used_us = loop_now_us(sv->c.w->loop);
	pool_change_server(sv, SV_IDLE);
	pool->last_login_fail_us = 0;
	list_for_each_safe(pos, tmp, &pool->wait_login) {
		struct client *cl = list_entry(pos, struct client, node);

		client_login_done(cl);
	}
	pool_pair(pool);
}

void pool_login_failed(struct pool *pool, const char *msg)
{
	struct list_node *pos, *tmp;

	pool->last_login_fail_us = loop_now_us(pool->w->loop);
	snprintf(pool->last_error, sizeof(pool->last_error), "%s", msg);
	/* clients that never got in hear why, as from PostgreSQL itself */
	list_for_each_safe(pos, tmp, &pool->wait_login) {
		struct client *cl = list_entry(pos, struct client, node);

		client_login_failed(cl, msg);
	}
	pool_pair(pool);
}

void pool_server_gone(struct pool *pool)
{
	if (pool)
		pool_pair(pool);
}
