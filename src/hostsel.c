/* hostsel.c - which host of its database's list a pool's next server goes to, and what logins teach of the hosts */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* The back-off of a host that failed, or whose role did not suit, grows up
 * to server_login_retry: a host that comes back is in use again by then. */
static uint64_t backoff_cap(const struct worker *w)
{
	return (uint64_t)w->cfg->server_login_retry_us;
}

/* The pool's host list as health entries in st; its length, 0 when out of memory */
static int pool_hosts(struct pool *pool, struct host_state **st)
{
	const struct db_conf *db = pool_db_conf(pool);
	struct host_addr addrs[HOSTS_MAX];
	char err[200];
	int n = hosts_parse(db ? db->host : NULL, db ? db->ports : NULL, addrs, HOSTS_MAX, err,
			    sizeof(err));

	for (int i = 0; i < n; i++)
		if (!(st[i] = hosts_state(&pool->w->hosts, addrs[i].name, addrs[i].port)))
			return 0;
	return n > 0 ? n : 0;
}

static int pool_tsa(const struct pool *pool)
{
	const struct db_conf *db = pool_db_conf(pool);

	return db && !pool->replication ? db->tsa : HOSTS_TSA_ANY;
}

int hostsel_next(struct pool *pool, struct server *sv, const char **host, int *port, char *err,
		 size_t errlen)
{
	const struct db_conf *db = pool_db_conf(pool);
	struct host_state *st[HOSTS_MAX];
	uint64_t wait;
	int n = pool_hosts(pool, st), i;

	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	i = hosts_pick(st, n, &pool->host_cursor, db ? db->lb_hosts : HOSTS_LB_ROUND_ROBIN,
		       pool_tsa(pool), loop_now_us(pool->w->loop), &wait);
	if (i < 0) {
		snprintf(err, errlen, "no host of the list may be tried now (down, or not %s)",
			 hosts_tsa_name(pool_tsa(pool)));
		return -1;
	}
	sv->host = st[i];
	*host = st[i]->name[0] ? st[i]->name : NULL;
	*port = st[i]->port;
	return 0;
}

bool hostsel_login_lost(struct server *sv, const char *why)
{
	struct worker *w = sv->c.w;
	struct host_state *st[HOSTS_MAX];
	uint64_t now = loop_now_us(w->loop);
	int n;

	if (!sv->host || sv->repl_owner || (n = pool_hosts(sv->pool, st)) < 2)
		return false;	/* one host: the pool's server_login_retry, as PgBouncer */
	if (hosts_mark_down(&w->hosts, sv->host, now, backoff_cap(w)))
		log_warning(w->log, "host %s:%d is down (%s): skipped, and retried after a back-off",
			    sv->host->name[0] ? sv->host->name : w->cfg->unix_socket_dir,
			    sv->host->port, why);
	return hosts_any_eligible(st, n, pool_tsa(sv->pool), now, NULL, false);
}

/* the uint8_t booleans of struct server: 0 not known, 1 off, 2 on */
static const char *const onoff[] = { NULL, "off", "on" };

/* What sv's ParameterStatus says of its node, else what the probe found */
static int role_of(const struct server *sv)
{
	int role = hosts_role_of(onoff[sv->hot_standby], onoff[sv->default_ro]);

	return role != HOSTS_ROLE_UNKNOWN ? role : sv->probed_role;
}

/* After login, news of a switchover: every pool listing the host hears it */
static void role_news(struct server *sv)
{
	struct worker *w = sv->c.w;
	int role = role_of(sv);

	if (sv->host && role != HOSTS_ROLE_UNKNOWN &&
	    hosts_set_role(sv->host, role, loop_now_us(w->loop), backoff_cap(w)))
		log_info(w->log, "host %s:%d is now %s", sv->host->name[0] ? sv->host->name :
			 w->cfg->unix_socket_dir, sv->host->port, hosts_role_name(role));
}

/* A node that does not suit: not tried again for a back-off; the clients
 * wait for another host, or for server_login_retry when none is left */
static void login_mismatch(struct server *sv, int tsa, int role)
{
	struct pool *pool = sv->pool;
	struct worker *w = sv->c.w;
	struct host_state *st[HOSTS_MAX];
	uint64_t now = loop_now_us(w->loop);
	int n = pool_hosts(pool, st);

	hosts_mark_mismatch(sv->host, now, backoff_cap(w));
	/* logged once per run of refusals, as a host going down is */
	server_log(sv, sv->host->mismatches == 1 ? LOG_LVL_LOG : LOG_LVL_DEBUG,
		   "server is %s, not %s (target_session_attrs): closing",
		   hosts_role_name(role), hosts_tsa_name(tsa));
	if (!n || !hosts_any_eligible(st, n, tsa, now, sv->host, false)) {
		pool->last_login_fail_us = now;
		snprintf(pool->last_error, sizeof(pool->last_error),
			 "no server of the host list is %s (target_session_attrs)", hosts_tsa_name(tsa));
	}
	server_close(sv, NULL);
}

bool hostsel_login_ok(struct server *sv)
{
	struct worker *w = sv->c.w;
	struct host_state *st[HOSTS_MAX];
	int tsa = pool_tsa(sv->pool), role = role_of(sv), m, n, was;

	if (!sv->host)
		return true;
	was = sv->host->role;
	/* a connection that reports nothing and was not asked (a walsender,
	 * PostgreSQL < 14 for target_session_attrs = any) tells nothing of the node */
	if (role != HOSTS_ROLE_UNKNOWN &&
	    hosts_set_role(sv->host, role, loop_now_us(w->loop), backoff_cap(w)) &&
	    was != HOSTS_ROLE_UNKNOWN)
		log_info(w->log, "host %s:%d is now %s", sv->host->name[0] ? sv->host->name :
			 w->cfg->unix_socket_dir, sv->host->port, hosts_role_name(role));
	n = pool_hosts(sv->pool, st);
	if (n > 1 && hosts_mark_up(&w->hosts, sv->host))
		log_info(w->log, "host %s:%d is up again", sv->host->name[0] ? sv->host->name :
			 w->cfg->unix_socket_dir, sv->host->port);
	m = hosts_match(tsa, role);
	/* prefer-standby takes a primary only when no standby may be had */
	if (m == HOSTS_MATCH_YES || (m == HOSTS_MATCH_FALLBACK &&
	    !hosts_any_eligible(st, n, tsa, loop_now_us(w->loop), sv->host, true)))
		return true;
	login_mismatch(sv, tsa, role);
	return false;
}

void hostsel_param(struct server *sv, const char *name, const char *val)
{
	uint8_t v = !strcmp(val, "on") ? 2 : !strcmp(val, "off") ? 1 : 0;

	if (!strcmp(name, "in_hot_standby"))
		sv->hot_standby = v;
	else if (!strcmp(name, "default_transaction_read_only"))
		sv->default_ro = v;
	else
		return;
	if (sv->state != SV_LOGIN)
		role_news(sv);
}

/* ---- servers before PostgreSQL 14: HOSTS_PROBE_QUERY ---- */

static bool probe_send(struct server *sv)
{
	struct worker *w = sv->c.w;

	pkt_query(&w->tmp, HOSTS_PROBE_QUERY);
	if (!conn_send_pkt(&sv->c, &w->tmp))
		return false;
	sv->probing = true;
	sv->probe_rows = 0;
	return true;
}

bool hostsel_probe_login(struct server *sv)
{
	if (!sv->host || sv->probed || !hosts_probe_needed(pool_tsa(sv->pool), role_of(sv)))
		return false;
	sv->probed = true;
	server_log(sv, LOG_LVL_DEBUG, "no in_hot_standby reported: asking for target_session_attrs");
	probe_send(sv);		/* a failure closes sv */
	return true;
}

/* A node promoted reports nothing before PostgreSQL 14: only asking tells */
void hostsel_probe_check(struct server *sv)
{
	if (sv->probed && !sv->probing && probe_send(sv)) {
		sv->hidden++;
		prep_server_unnamed(sv, true);
	}
}

/* At login nothing else runs; with a check the probe went last, so its
 * answer comes after every other ReadyForQuery pgring waits for */
bool hostsel_probe_current(const struct server *sv)
{
	return sv->probing && (sv->state == SV_LOGIN || sv->hidden == 1);
}

bool hostsel_probe_row(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct row_col col;
	char val[8] = "";

	if (proto_read_data_row(body, len, &col, 1) != 1 || col.len < 0)
		return false;
	if ((size_t)col.len < sizeof(val))
		memcpy(val, col.val, (size_t)col.len);	/* anything longer is no answer it knows */
	if (sv->probe_rows == 0)
		sv->probe_ro = !strcmp(val, "on") ? 2 : !strcmp(val, "off") ? 1 : 0;
	else if (sv->probe_rows == 1)
		sv->probed_role = (uint8_t)hosts_role_probed(onoff[sv->probe_ro], val);
	sv->probe_rows++;
	return true;
}

void hostsel_probe_end(struct server *sv)
{
	sv->probing = false;
	if (sv->probe_rows != 2)
		sv->probed_role = HOSTS_ROLE_UNKNOWN;
	server_log(sv, LOG_LVL_DEBUG, "it says it is %s", hosts_role_name(sv->probed_role));
	if (sv->state != SV_LOGIN)
		role_news(sv);
}

bool hostsel_still_matches(const struct server *sv)
{
	return !sv->host || hosts_match(pool_tsa(sv->pool), role_of(sv)) != HOSTS_MATCH_NO;
}

bool hostsel_host_suits(const struct server *sv)
{
	return !sv->host || hosts_match(pool_tsa(sv->pool), sv->host->role) != HOSTS_MATCH_NO ||
	       sv->host->role == HOSTS_ROLE_UNKNOWN;
}
