/* admin.c - the admin console: PAUSE/RESUME, RECONNECT, KILL, RELOAD, SET, SHUTDOWN, stats
 * log; its SHOW tables are in admin_show.c */

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
#include "admin_int.h"
#include "notify.h"
#include "process.h"
#include "snapshot.h"
#include "worker.h"

#define ADMIN_QUERY_MAX	65536		/* longer console queries are refused */
#define ADMIN_TICK_US	50000		/* how often owed answers are checked */

/* ---- small helpers ---- */

bool admin_console_db(const char *dbname)
{
	return !strcmp(dbname, "pgbouncer") || !strcmp(dbname, "pgring");
}

struct admin_db *db_state(struct admin *a, const char *name, bool create)
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
struct pool *next_pool(struct admin *a, struct pool *p)
{
	struct list *l = &a->w->pools;

	if (!p)
		return &a->pool;
	if (p == &a->pool)
		return list_empty(l) ? NULL : list_entry(list_first(l), struct pool, node);
	return p->node.next == &l->head ? NULL : list_entry(p->node.next, struct pool, node);
}

/* The pooled ones only: w->pools. */
struct pool *next_db_pool(struct admin *a, struct pool *p)
{
	p = next_pool(a, p);
	return p == &a->pool ? next_pool(a, p) : p;
}

unsigned servers_of(const struct pool *p)
{
	return p->login_servers.count + p->idle_servers.count + p->active_servers.count +
	       p->used_servers.count;
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

bool must_reconnect(struct admin *a, const struct server *sv)
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

void reply_ok(struct client *cl, const char *tag)
{
	struct pktbuf *pb = &cl->c.w->admin->out;

	pkt_command_complete(pb, tag);
	pkt_ready(pb, 'I');
	send_out(cl);
}

void reply_error(struct client *cl, const char *sqlstate, const char *fmt, ...)
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

/* Takes the reference to snap and makes it the running config and users. */
static void swap_config(struct worker *w, struct snapshot *snap)
{
	struct admin *a = w->admin;
	const struct config *cfg = snap->cfg;
	int64_t old_period = w->cfg->stats_period_us;

	if (a)
		mark_changed_dbs(a, w->cfg, cfg);
	/* nothing uses pointers into the old snapshot after this (a pool's
	 * cached entries are checked against cfg_epoch, bumped here), so it
	 * can go now */
	snapshot_unref(w->snap);
	w->snap = snap;
	w->cfg = cfg;
	w->cfg_epoch++;
	w->users = snap->users;
	if (!a)
		return;
	if (cfg->stats_period_us != old_period)
		stats_timer_arm(a);
	close_stale_idle(a);		/* of databases whose settings changed */
	pair_all(a, NULL);		/* a larger pool_size lets waiting clients in */
}

/* ---- a new snapshot goes to every worker (doc/workers.md, "Snapshots") ---- */

struct snapmsg {
	struct wmsg m;
	struct snapshot *snap;
	int ack_to;		/* a console's worker waiting for every worker to have it, or -1 */
	uint64_t job;
};

/* who is told when a worker took a snapshot (a console's RELOAD / SET) */
struct snap_ack {
	int to;
	uint64_t job;
};

static void snap_run(struct worker *w, struct wmsg *m)
{
	struct snapshot *snap = ((struct snapmsg *)m)->snap;
	int ack_to = ((struct snapmsg *)m)->ack_to;
	uint64_t job = ((struct snapmsg *)m)->job;
	char err[512];

	free(m);
	if (!w->loop || w->exiting) {
		snapshot_unref(snap);
		return;
	}
	/* an older one than ours arrived late (two RELOADs crossed): the
	 * newest wins on every worker */
	if (snap->gen < w->snap->gen) {
		snapshot_unref(snap);
	} else {
		if (tls_worker_reload(w, snap->cfg, err, sizeof(err)) < 0)
			log_error(w->log, "worker %u: TLS reload failed, keeping the running TLS "
				  "settings: %s", w->index, err);
		swap_config(w, snap);
		if (w->client_sock_gone)
			w->client_sock_gone(w);		/* max_client_conn may have changed */
	}
	if (ack_to >= 0)
		admin_job_reply(w, ack_to, job, NULL, NULL);	/* the console's answer waits for it */
}

/* snap is w's now (swapped in): every other worker gets a reference.
 * The number of workers that will acknowledge it to ack (if any). */
static int publish(struct worker *w, struct snapshot *snap, const struct snap_ack *ack)
{
	struct process *p = w->proc;
	int n = 0;

	if (!p)
		return 0;
	snap->gen = atomic_fetch_add(&p->snap_gen, 1) + 1;
	for (int i = 0; i < p->nworkers; i++) {
		struct snapmsg *sm;

		if (i == (int)w->index)
			continue;
		sm = calloc(1, sizeof(*sm));
		if (!sm) {
			log_error(w->log, "out of memory: worker %d keeps its config until the next "
				  "reload", i);
			continue;
		}
		snapshot_ref(snap);
		sm->m.run = snap_run;
		sm->snap = snap;
		sm->ack_to = ack ? ack->to : -1;
		sm->job = ack ? ack->job : 0;
		worker_post(p->workers[i], &sm->m);
		n++;
	}
	return n;
}

static void warn_cb(void *arg, const char *msg)
{
	log_warning((struct logger *)arg, "%s", msg);
}

static int reload_config(struct worker *w, const char *why, const struct snap_ack *ack)
{
	int nacks;

	struct config *cfg = NULL;
	struct userlist *ul = NULL;
	struct snapshot *snap;
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
	snap = snapshot_new(cfg, ul, 1);
	if (!snap) {
		log_error(w->log, "config reload failed, keeping the running config: out of memory");
		userlist_free(ul);
		config_free(cfg);
		return -1;
	}
	userlist_carry_keys(ul, w->users, cfg->scram_iterations);
	/* new handshakes get the new files; on error the old ones stay, and
	 * live connections keep theirs either way */
	if (tls_worker_reload(w, cfg, err, sizeof(err)) < 0)
		log_error(w->log, "TLS reload failed, keeping the running TLS settings: %s", err);
	log_configure(w->log, cfg->logfile, cfg->syslog, cfg->syslog_ident, cfg->syslog_facility,
		      cfg->verbose > w->log->level - LOG_LVL_LOG ? cfg->verbose :
		      w->log->level - LOG_LVL_LOG, w->log->quiet);
	nacks = publish(w, snap, ack);
	swap_config(w, snap);
	client_kdf_warm(w);	/* a new auth_file, or scram_iterations */
	return nacks;
}

/* RELOAD and SIGHUP: systemd hears RELOADING=1, then READY=1 whatever the outcome */
int admin_reload(struct worker *w, const char *why)
{
	int ret;

	notify_reloading();
	ret = reload_config(w, why, NULL);
	notify_ready();
	return ret < 0 ? -1 : 0;
}

/* ---- PAUSE, RESUME, and answers owed ---- */

static void tick_fire(struct loop *loop, struct loop_timer *t);

static void tick_arm(struct admin *a)
{
	if (!loop_timer_armed(&a->tick))
		loop_timer_set(a->w->loop, &a->tick, ADMIN_TICK_US, tick_fire);
}

bool add_pending_for(struct admin *a, uint64_t client_id, uint8_t kind, const char *db,
		     int reply_to, uint64_t job)
{
	struct pending *p;

	if (a->npending == MAX_PENDING)
		return false;
	p = &a->pending[a->npending++];
	p->client_id = client_id;
	p->kind = kind;
	snprintf(p->db, sizeof(p->db), "%s", db ? db : "");
	p->reply_to = reply_to;
	p->job = job;
	tick_arm(a);
	return true;
}

static bool add_pending(struct client *cl, uint8_t kind, const char *db)
{
	return add_pending_for(cl->c.w->admin, cl->c.id, kind, db, -1, 0);
}

struct client *console_client(struct admin *a, uint64_t id)
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
		if (a->pending[i].reply_to < 0 && a->pending[i].client_id == cl->c.id)
			return true;
	return admin_job_waiting(a, cl->c.id);
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

/* Whether what p waits for came: NULL, or the error it ended in. */
static bool pending_done(struct admin *a, const struct pending *p, const char **err)
{
	*err = NULL;
	switch (p->kind) {
	case WAIT_PAUSE:
		if (!db_paused(a, p->db))
			*err = "PAUSE ended by RESUME before it completed";
		return *err || count_servers(a, p->db) == 0;
	case WAIT_SUSPEND:
		if (!a->w->suspended)
			*err = "SUSPEND ended by RESUME before it completed";
		return *err || suspend_busy(a) == 0;
	case WAIT_CLOSE:
		return count_stale(a, p->db) == 0;
	default:
		return true;
	}
}

static const char *pending_tag(const struct pending *p)
{
	return p->kind == WAIT_PAUSE ? "PAUSE" : p->kind == WAIT_SUSPEND ? "SUSPEND" : "WAIT_CLOSE";
}

/* answers the owed ones whose condition holds; true if some remain */
static bool settle_pending(struct admin *a)
{
	int i = 0;

	while (i < a->npending) {
		struct pending *p = &a->pending[i];
		bool remote = p->reply_to >= 0;
		struct client *cl = remote ? NULL : console_client(a, p->client_id);
		const char *err = NULL;

		if ((cl || remote) && !pending_done(a, p, &err)) {
			i++;
			continue;
		}
		if (remote)
			admin_job_reply(a->w, p->reply_to, p->job, "08P01", err);
		else if (cl && err)
			reply_error(cl, "08P01", "%s", err);
		else if (cl)
			reply_ok(cl, pending_tag(p));
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

/* workers > 1: the checked command runs on every worker, then tag answers */
static bool bcast(struct client *cl, struct admin *a, const char *verb, const char *arg,
		  const char *tag)
{
	struct admin_cmd cmd;

	if (!admin_multi(a))
		return false;
	memset(&cmd, 0, sizeof(cmd));
	snprintf(cmd.verb, sizeof(cmd.verb), "%s", verb);
	snprintf(cmd.arg, sizeof(cmd.arg), "%s", arg);
	admin_job_command(cl, a, &cmd, tag);
	return true;
}

/* The effects of the commands on one worker; the checks are the caller's. */
static int pause_apply(struct admin *a, const char *db)
{
	struct admin_db *d;

	if (!*db) {
		a->paused = true;
	} else {
		if (!(d = db_state(a, db, true)))
			return -ENOMEM;
		d->paused = true;
	}
	close_idle(a, db, "pause mode");
	return 0;
}

static void cmd_pause(struct client *cl, struct admin *a, const char *db)
{
	if (a->paused || a->w->suspended) {
		reply_error(cl, "08P01", "already suspended/paused");
		return;
	}
	if (!*db) {
		log_info(a->w->log, "PAUSE command issued");
	} else {
		if (!check_db(cl, a, "pause", db))
			return;
		log_info(a->w->log, "PAUSE '%s' command issued", db);
	}
	/* with several workers: answered once each one's servers are gone */
	if (bcast(cl, a, "pause", db, "PAUSE"))
		return;
	if (pause_apply(a, db) < 0) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	if (count_servers(a, db) == 0) {
		reply_ok(cl, "PAUSE");
		return;
	}
	/* the answer comes when the last server is gone */
	if (!add_pending(cl, WAIT_PAUSE, db))
		reply_error(cl, "08P01", "too many console commands waiting");
}

static void resume_apply(struct admin *a, const char *db)
{
	struct admin_db *d;

	if (!*db) {
		suspend_end(a);
		a->paused = false;
	} else if ((d = db_state(a, db, false))) {
		d->paused = false;
	}
	pair_all(a, db);
	tick_arm(a);		/* PAUSEs still owed an answer learn of it */
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
	}
	if (bcast(cl, a, "resume", db, "RESUME"))
		return;
	resume_apply(a, db);
	reply_ok(cl, "RESUME");
}

static int disable_apply(struct admin *a, const char *db, bool disable)
{
	struct admin_db *d = db_state(a, db, disable);

	if (d)
		d->disabled = disable;
	else if (disable)
		return -ENOMEM;
	return 0;
}

static void cmd_disable(struct client *cl, struct admin *a, const char *db, bool disable)
{
	if (!*db) {
		reply_error(cl, "08P01", "a database is required");
		return;
	}
	/* logged before the checks, as PgBouncer does: a refused one shows too */
	log_info(a->w->log, "%s '%s' command issued", disable ? "DISABLE" : "ENABLE", db);
	if (!check_db(cl, a, disable ? "disable" : "enable", db))
		return;
	if (bcast(cl, a, disable ? "disable" : "enable", db, disable ? "DISABLE" : "ENABLE"))
		return;
	if (disable_apply(a, db, disable) < 0) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	reply_ok(cl, disable ? "DISABLE" : "ENABLE");
}

static int reconnect_apply(struct admin *a, const char *db)
{
	uint64_t now = loop_now_us(a->w->loop) + 1;
	struct admin_db *d;

	if (!*db) {
		a->reconnect_all_us = now;
	} else {
		if (!(d = db_state(a, db, true)))
			return -ENOMEM;
		d->reconnect_us = now;
	}
	/* idle ones are released already; the rest go as they are released */
	close_idle(a, db, "RECONNECT issued");
	return 0;
}

static void cmd_reconnect(struct client *cl, struct admin *a, const char *db)
{
	if (!*db) {
		log_info(a->w->log, "RECONNECT command issued");
	} else {
		if (!check_db(cl, a, "reconnect", db))
			return;
		log_info(a->w->log, "RECONNECT '%s' command issued", db);
	}
	if (bcast(cl, a, "reconnect", db, "RECONNECT"))
		return;
	if (reconnect_apply(a, db) < 0) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
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

static int kill_apply(struct admin *a, const char *db)
{
	struct admin_db *d;
	struct pool *p;

	/* the databases stay paused until RESUME, as PgBouncer's do */
	for (p = next_db_pool(a, NULL); p; p = next_db_pool(a, p)) {
		if (!db_matches(p, db))
			continue;
		if (!(d = db_state(a, p->dbname, true)))
			return -ENOMEM;
		d->paused = true;
	}
	if (*db) {
		if (!(d = db_state(a, db, true)))
			return -ENOMEM;
		d->paused = true;
	}
	for (p = next_db_pool(a, NULL); p; p = next_db_pool(a, p))
		if (db_matches(p, db))
			kill_pool(p);
	return 0;
}

static void cmd_kill(struct client *cl, struct admin *a, const char *db)
{
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
	if (bcast(cl, a, "kill", db, "KILL"))
		return;
	if (kill_apply(a, db) < 0) {
		reply_error(cl, "53200", "out of memory");
		return;
	}
	reply_ok(cl, "KILL");
}

/*
 * SUSPEND: accepting stops and every socket but the console's is flushed
 * and no longer read (suspend.c); the answer comes once all are, or at
 * suspend_timeout, when those that would not settle are closed.  PgBouncer
 * uses it for its online restart (-R), which pgring has not; an operator
 * may still want the pooler frozen for a moment, with no client refused.
 */
static void suspend_apply(struct admin *a)
{
	struct worker *w = a->w;

	w->suspended = true;
	a->suspend_start_us = loop_now_us(w->loop);
	if (w->client_sock_gone)
		w->client_sock_gone(w);		/* accepting stops */
	tick_arm(a);
}

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
	if (bcast(cl, a, "suspend", "", "SUSPEND"))
		return;
	suspend_apply(a);
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
	/* another worker's: the worker the id names closes it */
	if (admin_multi(a) && conn_id_worker(id) != a->w->index &&
	    bcast(cl, a, "kill_client", arg, "KILL_CLIENT"))
		return;
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

/* KILL_CLIENT on the worker that owns the id: 0, or -1 when none has it */
static int kill_client_here(struct admin *a, const char *arg)
{
	unsigned long long id = strtoull(arg, NULL, 10);
	struct list_node *pos;

	list_for_each(pos, &a->w->clients) {
		struct client *c = list_entry(pos, struct client, all);

		if (c->c.id != id)
			continue;
		log_info(a->w->log, "KILL_CLIENT %llu command issued", id);
		client_fail(c, "57P01", "client killed by admin (KILL_CLIENT)");
		return 0;
	}
	return -1;
}

static void cmd_wait_close(struct client *cl, struct admin *a, const char *db)
{
	if (*db && !check_db(cl, a, "wait in", db))
		return;
	log_info(a->w->log, "WAIT_CLOSE%s%s command issued", *db ? " " : "", db);
	if (bcast(cl, a, "wait_close", db, "WAIT_CLOSE"))
		return;
	if (count_stale(a, db) == 0) {
		reply_ok(cl, "WAIT_CLOSE");
		return;
	}
	if (!add_pending(cl, WAIT_CLOSE, db))
		reply_error(cl, "08P01", "too many console commands waiting");
}

/* SET on w, published to the other workers: the number that will
 * acknowledge it to ack, or -1 with sqlstate and the message in msg */
static int set_config(struct worker *w, const struct admin_cmd *cmd, const struct snap_ack *ack,
		      char *sqlstate, char *msg, size_t msglen)
{
	struct config *n = NULL;
	struct snapshot *snap;
	char err[512];
	int nacks;

	snprintf(sqlstate, 6, "08P01");
	if (config_set(w->cfg, cmd->arg, cmd->value, &n, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "SET failed: %s", err);
		return -1;
	}
	/* a TLS key takes effect for new handshakes, or the SET is refused */
	if (strstr(cmd->arg, "tls") && tls_worker_reload(w, n, err, sizeof(err)) < 0) {
		config_free(n);
		snprintf(msg, msglen, "SET failed: %s", err);
		return -1;
	}
	snap = snapshot_with_config(w->snap, n, 1);	/* the same users */
	if (!snap) {
		config_free(n);
		snprintf(sqlstate, 6, "53200");
		snprintf(msg, msglen, "SET failed: out of memory");
		return -1;
	}
	log_info(w->log, "SET %s = %s", cmd->arg, cmd->value);
	nacks = publish(w, snap, ack);
	swap_config(w, snap);
	return nacks;
}

int admin_apply_config(struct worker *w, const struct admin_cmd *cmd, int reply_to,
		       uint64_t job, char *sqlstate, char *err, size_t errlen)
{
	struct snap_ack ack = { .to = reply_to, .job = job };
	int n;

	if (!strcmp(cmd->verb, "set"))
		return set_config(w, cmd, &ack, sqlstate, err, errlen);
	notify_reloading();
	n = reload_config(w, "RELOAD command issued", &ack);
	notify_ready();
	if (n < 0) {
		snprintf(sqlstate, 6, "F0000");
		snprintf(err, errlen, "RELOAD failed, see logs for additional details");
	}
	return n;
}

static void cmd_set(struct client *cl, struct admin *a, const struct admin_cmd *cmd)
{
	char err[600], tag[600], state[6];

	if (fake_param(cmd->arg) >= 0) {
		pkt_reset(&a->out);
		pkt_notice(&a->out, "00000", "SET ignored");
		reply_ok(cl, "SET");
		return;
	}
	if (!need_admin(cl))
		return;
	snprintf(tag, sizeof(tag), "SET %s=%s", cmd->arg, cmd->value);
	/* several workers: worker 0 makes it, each worker takes it, then the answer */
	if (admin_multi(a)) {
		admin_job_command(cl, a, cmd, tag);
		return;
	}
	if (set_config(a->w, cmd, NULL, state, err, sizeof(err)) < 0) {
		reply_error(cl, state, "%s", err);
		return;
	}
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
	if (bcast(cl, a, "shutdown", arg, mode == SHUTDOWN_IMMEDIATE ? NULL : "SHUTDOWN"))
		return;		/* every worker goes down */
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

static enum shutdown_mode shutdown_mode_of(const char *arg)
{
	if (!strcasecmp(arg, "wait_for_servers"))
		return SHUTDOWN_WAIT_FOR_SERVERS;
	if (!strcasecmp(arg, "wait_for_clients"))
		return SHUTDOWN_WAIT_FOR_CLIENTS;
	return SHUTDOWN_IMMEDIATE;
}

/* an answer owed once this worker's part is done */
static int owe(struct admin *a, uint8_t kind, const char *db, int reply_to, uint64_t job,
	       char *err, size_t errlen)
{
	if (add_pending_for(a, 0, kind, db, reply_to, job))
		return 1;
	snprintf(err, errlen, "too many console commands waiting");
	return -1;
}

int admin_apply(struct worker *w, const struct admin_cmd *cmd, int reply_to, uint64_t job,
		char *sqlstate, char *err, size_t errlen)
{
	struct admin *a = w->admin;
	const char *v = cmd->verb, *db = cmd->arg;
	int ret = 0;

	snprintf(sqlstate, 6, "08P01");
	if (!strcmp(v, "pause")) {
		if (!(ret = pause_apply(a, db)) && count_servers(a, db))
			return owe(a, WAIT_PAUSE, db, reply_to, job, err, errlen);
	} else if (!strcmp(v, "resume")) {
		resume_apply(a, db);
	} else if (!strcmp(v, "disable") || !strcmp(v, "enable")) {
		ret = disable_apply(a, db, v[0] == 'd');
	} else if (!strcmp(v, "reconnect")) {
		ret = reconnect_apply(a, db);
	} else if (!strcmp(v, "kill")) {
		ret = kill_apply(a, db);
	} else if (!strcmp(v, "kill_client")) {
		if (kill_client_here(a, db) < 0) {
			snprintf(err, errlen, "client %s not found", db);
			return -1;
		}
	} else if (!strcmp(v, "suspend")) {
		suspend_apply(a);
		if (suspend_busy(a))
			return owe(a, WAIT_SUSPEND, NULL, reply_to, job, err, errlen);
	} else if (!strcmp(v, "wait_close")) {
		if (count_stale(a, db))
			return owe(a, WAIT_CLOSE, db, reply_to, job, err, errlen);
	} else if (!strcmp(v, "shutdown")) {
		enum shutdown_mode mode = shutdown_mode_of(db);

		admin_shutdown(w, mode, mode == SHUTDOWN_WAIT_FOR_SERVERS ?
			       "SHUTDOWN WAIT_FOR_SERVERS command issued" :
			       mode == SHUTDOWN_WAIT_FOR_CLIENTS ?
			       "SHUTDOWN WAIT_FOR_CLIENTS command issued" : "SHUTDOWN command issued");
	}
	if (ret < 0) {
		snprintf(sqlstate, 6, "53200");
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
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
	else if (bcast(cl, a, "reload", "", "RELOAD"))
		return;		/* worker 0 loads it; each worker takes it */
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
	admin_jobs_init(a);
	if (admin_multi(a) && !a->gone) {
		free(a);
		return -ENOMEM;
	}
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
	admin_job_gone(w);	/* no console waits for this worker any more */
	admin_jobs_free(a);
	loop_timer_stop(w->loop, &a->tick);
	loop_timer_stop(w->loop, &a->stats_timer);
	pkt_free(&a->out);
	free(a->dbs);
	free(a);
	w->admin = NULL;
	w->pool_policy = NULL;
}
