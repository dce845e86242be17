/* server.c - server connections: connect, log in to PostgreSQL, watch ReadyForQuery, reset and release */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "process.h"
#include "worker.h"

/* the most a closed server waits for PostgreSQL's end of the connection */
#define SERVER_DRAIN_US	2000000

#define AUTH_OK			0
#define AUTH_CLEARTEXT		3
#define AUTH_MD5		5
#define AUTH_SASL		10
#define AUTH_SASL_CONTINUE	11
#define AUTH_SASL_FINAL		12
/* a ReadyForQuery status other than I, T or E (proto_read_ready_for_query) */
#define READY_BAD		"malformed ReadyForQuery from server"

static const struct conn_ops server_ops;
static void cancel_release_req(struct server *sv);
static void cancel_ready(struct server *sv);
static void peer_cancel_ready(struct server *sv);
static void peer_pool_run(struct worker *w, struct peer_pool *pp);

static struct server *sv_of(struct conn *c)
{
	return list_entry(c, struct server, c);
}

void server_log(struct server *sv, enum log_level lvl, const char *fmt, ...)
{
	char prefix[256], addr[NET_ADDR_TEXT];
	va_list ap;

	if (!log_enabled(sv->c.w->log, lvl))
		return;
	snprintf(prefix, sizeof(prefix), "S-%p: %s/%s@%s:%d ", (void *)sv,
		 sv->pool ? sv->pool->dbname : "", sv->pool ? sv->pool->user : "",
		 net_addr_text(&sv->c.addr, addr, sizeof(addr)), sv->c.addr.port);
	va_start(ap, fmt);
	log_vmsg(sv->c.w->log, lvl, prefix, fmt, ap);
	va_end(ap);
}

/* The password pgring logs in with: the [databases] entry's, else auth_file's. */
static const char *server_password(struct server *sv, const struct secret **sec)
{
	const struct db_conf *db = pool_db_conf(sv->pool);
	const struct userlist *ul = sv->c.w->users;
	const struct userlist_entry *ue;

	*sec = NULL;
	if (db && db->user && db->password)
		return db->password;
	ue = ul ? userlist_find(ul, sv->pool->user) : NULL;
	if (!ue) {	/* a user auth_query found */
		*sec = authq_pool_secret(sv->pool);
		return *sec ? (*sec)->text : NULL;
	}
	*sec = &ue->secret;
	return ue->secret.text;
}

/* A replication client whose server goes before they are linked: told
 * (unless it is the one going) */
static void repl_orphan(struct server *sv, const char *why)
{
	struct client *owner = sv->repl_owner;

	if (!owner)
		return;
	sv->repl_owner = NULL;
	owner->repl_server = NULL;
	client_fail(owner, "08006", "%s", why ? why : "server connection closed");
}

/*
 * PostgreSQL takes a server socket that just closes for a client that went
 * away ("unexpected EOF on client connection"): one that is logged in and
 * between messages (idle, or running pgring's reset query) is told first,
 * with a Terminate, as PgBouncer does.  A server in a client's hands may be
 * in the middle of a message of the client's: it just closes.
 */
static void send_terminate(struct server *sv)
{
	static const uint8_t terminate[5] = { 'X', 0, 0, 0, 4 };

	if ((sv->state != SV_IDLE && sv->state != SV_USED) || sv->is_cancel || sv->peer)
		return;
	if (!conn_send_last(&sv->c, terminate, sizeof(terminate)))
		server_log(sv, LOG_LVL_DEBUG, "Terminate not sent: the socket is busy or gone");
}

static void drain_timeout(struct loop *loop, struct loop_timer *t)
{
	struct server *sv = list_entry(t, struct server, timer);

	(void)loop;
	server_log(sv, LOG_LVL_WARNING, "no end of the connection from PostgreSQL after %d s, "
		   "closing it", SERVER_DRAIN_US / 1000000);
	conn_close(&sv->c);
}

/*
 * With several workers a server's limit units go back only once PostgreSQL
 * has closed the connection: its backend has left pg_stat_activity then,
 * and a launch that takes the units (on any worker) cannot make one more
 * backend than the limit, not even for a moment.  The socket's sending side
 * is shut (after the Terminate, if any) and its reading side drained to
 * EOF; server_on_free gives the units.  With one worker (and at exit) it
 * closes at once, as it always has.
 */
static bool server_drains(struct server *sv)
{
	struct worker *w = sv->c.w;

	if (!sv->pool || !sv->counted || w->proc->nworkers < 2 || w->exiting ||
	    sv->c.sock.fd < 0 || sv->c.closing)
		return false;
	++*loop_syscalls(w->loop);
	if (shutdown(sv->c.sock.fd, SHUT_WR) < 0)
		return false;
	loop_timer_set(w->loop, &sv->timer, SERVER_DRAIN_US, drain_timeout);
	conn_start_recv(&sv->c);
	return true;
}

void server_close(struct server *sv, const char *why)
{
	struct pool *pool = sv->pool;
	struct client *cl = sv->client;

	if (sv->c.closing || sv->draining)
		return;
	dns_forget(&sv->dnsw);	/* a lookup still running answers nobody */
	kdf_unwait(&sv->kdf);	/* its keys may come back after it is gone */
	cancel_release_req(sv);
	repl_orphan(sv, why);
	if (why && sv->state != SV_CANCEL)
		server_log(sv, sv->state == SV_LOGIN ? LOG_LVL_WARNING : LOG_LVL_LOG,
			   "closing because: %s", why);
	if (cl) {
		cl->server = NULL;
		cl->c.peer = NULL;
		sv->client = NULL;
		sv->c.peer = NULL;
		client_fail(cl, "08006", "server conn crashed?");
	}
	send_terminate(sv);
	if (pool && sv->c.w->nservers)
		sv->c.w->nservers--;
	sv->draining = server_drains(sv);
	pool_change_server(sv, SV_CLOSING);
	if (sv->draining)
		list_append(&sv->c.w->draining, &sv->node);	/* out of its pool's lists now */
	else
		conn_close(&sv->c);
	pool_server_gone(pool);
}

void server_close_draining(struct worker *w)
{
	while (!list_empty(&w->draining)) {
		struct server *sv = list_entry(w->draining.head.next, struct server, node);

		list_remove(&w->draining, &sv->node);
		sv->draining = false;
		conn_close(&sv->c);
	}
}

/* sv, a cancel connection (its socket open, or its DNS lookup under way),
 * is on w->cancels until freed: close_all closes those left */
static void cancel_track(struct worker *w, struct server *sv)
{
	list_append(&w->cancels, &sv->node);
	sv->in_cancels = true;
}

void server_close_cancels(struct worker *w)
{
	while (!list_empty(&w->cancels)) {
		struct server *sv = list_entry(list_first(&w->cancels), struct server, node);

		list_remove(&w->cancels, &sv->node);
		sv->in_cancels = false;
		conn_close(&sv->c);
	}
}

/*
 * sqlstate NULL: a failure that may pass (no connection, PostgreSQL starting
 * up or shutting down): the clients that wait go on waiting for the retry.
 * Otherwise PostgreSQL (or pgring's own login) refused: they hear it.
 */
static void login_fail_as(struct server *sv, const char *sqlstate, const char *logmsg,
			  const char *msg)
{
	struct pool *pool = sv->pool;
	/* another host of the list may serve the waiting clients at once */
	bool other = !sqlstate && hostsel_login_lost(sv, logmsg);

	/* before the close, which would otherwise launch the next try at once */
	if (!other)
		pool->last_login_fail_us = loop_now_us(sv->c.w->loop);
	server_log(sv, other ? LOG_LVL_DEBUG : LOG_LVL_WARNING, "server login failed: %s", logmsg);
	if (sv->repl_owner) {	/* its client hears PostgreSQL's words, as others do */
		struct client *owner = sv->repl_owner;

		sv->repl_owner = NULL;
		owner->repl_server = NULL;
		client_login_failed(owner, msg);
	}
	server_close(sv, NULL);
	if (!other)
		pool_login_failed(pool, sqlstate, msg);
}

/* pgring cannot log in as the pool's user: no retry will fix it */
static void server_login_fail(struct server *sv, const char *msg)
{
	login_fail_as(sv, "08P01", msg, msg);
}

/* no connection, or it broke: the next try may work */
static void server_login_lost(struct server *sv, const char *msg)
{
	login_fail_as(sv, NULL, msg, msg);
}

/* PostgreSQL's ErrorResponse: the log and the clients get its own words;
 * 57P03 (starting up, shutting down, in recovery) passes by itself */
static void server_login_refused(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct error_fields ef = { 0 };
	char logmsg[512];
	const char *msg, *code;

	proto_parse_error(body, len, &ef);
	msg = ef.message ? ef.message : "login failed";
	code = ef.sqlstate && strlen(ef.sqlstate) == 5 ? ef.sqlstate : "08P01";
	snprintf(logmsg, sizeof(logmsg), "%s %s", ef.severity ? ef.severity : "FATAL", msg);
	login_fail_as(sv, strcmp(code, "57P03") ? code : NULL, logmsg, msg);
}

/* ---- connect and startup ---- */

static void server_timeout(struct loop *loop, struct loop_timer *t)
{
	struct server *sv = list_entry(t, struct server, timer);

	if (sv->state == SV_LOGIN)
		server_login_lost(sv, "server_connect_timeout");
}

/* A replication client's server starts with the client's parameters, as
 * it sent them (a walsender takes no SET later); they come after the
 * database's, and PostgreSQL takes the later of two */
static void repl_startup(struct server *sv, struct pktbuf *pb)
{
	const struct client *cl = sv->repl_owner;

	pkt_str(pb, "replication");
	pkt_str(pb, sv->pool->replication == REPL_LOGICAL ? "database" : "true");
	pkt_bytes(pb, cl->repl_params.data, cl->repl_params.len);
}

static void send_startup(struct server *sv)
{
	struct pktbuf *pb = &sv->c.w->tmp;
	const struct db_conf *db = pool_db_conf(sv->pool);

	pkt_begin(pb, 0);
	pkt_u32(pb, PROTO_V3);
	pkt_str(pb, "user");
	pkt_str(pb, sv->pool->user);
	pkt_str(pb, "database");
	pkt_str(pb, db && db->dbname ? db->dbname : sv->pool->dbname);
	if (db && db->client_encoding) {
		pkt_str(pb, "client_encoding");
		pkt_str(pb, db->client_encoding);
	}
	if (db && db->datestyle) {
		pkt_str(pb, "datestyle");
		pkt_str(pb, db->datestyle);
	}
	if (db && db->timezone) {
		pkt_str(pb, "timezone");
		pkt_str(pb, db->timezone);
	}
	if (db && db->application_name) {
		pkt_str(pb, "application_name");
		pkt_str(pb, db->application_name);
	}
	if (sv->repl_owner)
		repl_startup(sv, pb);
	pkt_u8(pb, 0);
	pkt_end(pb);
	if (!conn_send_pkt(&sv->c, pb))
		return;
	sv->login_sent = true;
}

static void server_on_tls(struct conn *c);

static void server_on_connect(struct conn *c, int res)
{
	struct server *sv = sv_of(c);
	char msg[160];

	if (res < 0) {
		snprintf(msg, sizeof(msg), "could not connect to server: %s", strerror(-res));
		if (sv->state == SV_CANCEL) {
			log_warning(c->w->log, "cancel request dropped: %s", msg);
			server_close(sv, NULL);
			return;
		}
		server_login_lost(sv, msg);
		return;
	}
	net_tune(c->sock.fd, c->w->cfg, loop_syscalls(c->w->loop));
	net_peer(c->sock.fd, &c->addr, loop_syscalls(c->w->loop));
	net_local(c->sock.fd, &c->laddr, loop_syscalls(c->w->loop));
	/* PgBouncer's rule: TLS over TCP only; the rest waits for server_on_tls.
	 * A CancelRequest goes in clear text: PostgreSQL takes it before any
	 * hba check, and it carries no more than the key it names. */
	if (tls_server_sslmode(c->w) != TLS_DISABLE && c->addr.family != AF_UNIX &&
	    sv->state != SV_CANCEL) {
		const struct db_conf *db = pool_db_conf(sv->pool);

		if (tls_connect(c, db ? db->host : NULL) < 0) {
			server_login_lost(sv, "could not start TLS");
			return;
		}
		conn_start_recv(c);
		return;
	}
	server_on_tls(c);
}

/* Connected, TLS up or declined by PostgreSQL as sslmode allows: log in,
 * or send the cancel */
static void server_on_tls(struct conn *c)
{
	struct server *sv = sv_of(c);

	if (sv->state == SV_CANCEL) {
		if (sv->peer)
			peer_cancel_ready(sv);
		else
			cancel_ready(sv);
		return;
	}
	send_startup(sv);
	conn_start_recv(c);
}

/* A socket for sv->addr, in the loop: 0, or -errno with err saying why */
static int server_open(struct worker *w, struct server *sv, char *err, size_t errlen)
{
	int fd = net_socket_for(&sv->addr, loop_syscalls(w->loop)), ret;

	if (fd < 0) {
		snprintf(err, errlen, "could not create socket: %s", strerror(-fd));
		return fd;
	}
	ret = conn_attach(&sv->c, fd);
	if (ret < 0)
		snprintf(err, errlen, "could not add socket to the event loop: %s", strerror(-ret));
	return ret;
}

static void server_resolved(struct dns_wait *wt, const struct sockaddr_storage *ss, socklen_t len,
			    const char *err);

/*
 * sv->addr for host:port: 0 when set now; DNS_WAIT when a host name is
 * being looked up (server_resolved goes on, from a later loop turn); or
 * -errno with err saying why for the waiting clients.  IP literals and
 * unix socket directories never wait.
 */
static int server_resolve(struct worker *w, struct server *sv, const char *host, int port,
			  char *err, size_t errlen)
{
	if (w->dns && dns_is_name(host))
		return dns_lookup(w->dns, host, port, &sv->dnsw, server_resolved, &sv->addr,
				  &sv->addrlen, err, errlen);
	return net_resolve(host, port, w->cfg->unix_socket_dir, &sv->addr, &sv->addrlen, err,
			   errlen);
}

/* The host name of a launch (or of a peer's cancel) is looked up: connect,
 * or fail as a connect that failed would */
static void server_resolved(struct dns_wait *wt, const struct sockaddr_storage *ss, socklen_t len,
			    const char *err)
{
	struct server *sv = list_entry(wt, struct server, dnsw);
	struct worker *w = sv->c.w;
	char msg[256];

	if (ss) {
		sv->addr = *ss;
		sv->addrlen = len;
		if (server_open(w, sv, msg, sizeof(msg)) == 0) {
			conn_connect(&sv->c, (struct sockaddr *)&sv->addr, sv->addrlen);
			return;
		}
		err = msg;
	}
	if (sv->state == SV_CANCEL) {
		log_warning(w->log, "cancel request for peer %d dropped: %s",
			    sv->peer ? sv->peer->id : 0, err);
		server_close(sv, NULL);
		return;
	}
	server_login_lost(sv, err);
}

bool server_addr_stale(struct server *sv)
{
	return sv->dnsw.from && dns_addr_stale(&sv->dnsw, &sv->addr);
}

struct server *server_launch(struct pool *pool)
{
	struct worker *w = pool->w;
	struct server *sv = calloc(1, sizeof(*sv));
	const char *host;
	char err[256];
	int ret, port;

	if (!sv) {
		pool_launch_failed(pool, "out of memory");
		return NULL;
	}
	conn_init(&sv->c, w, &server_ops, true);
	list_node_init(&sv->node);
	sv->pool = pool;
	sv->txn_status = 'I';
	sv->state = SV_CLOSING;
	if (hostsel_next(pool, sv, &host, &port, err, sizeof(err)) < 0)
		ret = -EAGAIN;
	else
		ret = server_resolve(w, sv, host, port, err, sizeof(err));
	if (ret == 0)
		ret = server_open(w, sv, err, sizeof(err));
	if (ret < 0) {
		/* a host of a list that cannot be reached (no address) is skipped
		 * as one that refuses; each try marks one more down, so this ends */
		bool other = hostsel_login_lost(sv, err);

		dns_forget(&sv->dnsw);
		free(sv);
		if (other)
			return server_launch(pool);
		pool_launch_failed(pool, err);
		return NULL;
	}
	pool_change_server(sv, SV_LOGIN);
	pool_ref(pool);
	w->nservers++;
	/* server_connect_timeout counts from here: a slow DNS answer uses it up too */
	loop_timer_set(w->loop, &sv->timer, (uint64_t)w->cfg->server_connect_timeout_us,
		       server_timeout);
	if (ret == DNS_WAIT)
		return sv;	/* SV_LOGIN, resolving: server_resolved connects */
	conn_connect(&sv->c, (struct sockaddr *)&sv->addr, sv->addrlen);
	return sv;
}

static void cancel_timeout(struct loop *loop, struct loop_timer *t)
{
	struct server *sv = list_entry(t, struct server, timer);

	(void)loop;
	server_log(sv, LOG_LVL_WARNING, "cancel request abandoned after cancel_wait_timeout");
	server_close(sv, NULL);
}

/*
 * The CancelRequest for target's query, on a connection of its own. req, the
 * client that asked, stays open until the cancel is out or given up, at most
 * cancel_wait_timeout, as the cancel connection itself.
 */
/* A connection that only carries a CancelRequest; NULL when out of memory */
static struct server *cancel_server_new(struct worker *w)
{
	struct server *sv = calloc(1, sizeof(*sv));

	if (sv) {
		conn_init(&sv->c, w, &server_ops, true);
		list_node_init(&sv->node);
		sv->state = SV_CANCEL;
	}
	return sv;
}

/* The socket of a cancel connection to sv->addr, in the loop; -errno */
static int cancel_socket(struct server *sv)
{
	int ret = net_socket_for(&sv->addr, loop_syscalls(sv->c.w->loop));

	return ret >= 0 ? conn_attach(&sv->c, ret) : ret;
}

/* req's cancel goes on sv, within cancel_wait_timeout (its DNS lookup included) */
static void cancel_arm(struct server *sv, struct client *req)
{
	struct worker *w = sv->c.w;

	sv->cancel_req = req;
	if (req)
		req->cancel_conn = sv;
	if (w->cfg->cancel_wait_timeout_us > 0)
		loop_timer_set(w->loop, &sv->timer, (uint64_t)w->cfg->cancel_wait_timeout_us,
			       cancel_timeout);
}

/* req's cancel goes out on sv, within cancel_wait_timeout */
static void cancel_connect(struct server *sv, struct client *req)
{
	cancel_arm(sv, req);
	conn_connect(&sv->c, (struct sockaddr *)&sv->addr, sv->addrlen);
}

void server_send_cancel(struct client *req, struct client *target)
{
	struct server *tsv = target->server;
	struct cancel_target t = {
		.addr = tsv->addr, .addrlen = tsv->addrlen,
		.pid = tsv->pid, .key = tsv->key,
		.cl_pid = target->cancel_pid, .cl_key = target->cancel_key,
		.server_id = tsv->c.id, .owner = req->c.w->index,
	};

	server_send_cancel_to(req->c.w, req, &t);
}

/* Drops req's cancel: an error to req, when it is still there */
static void cancel_refused(struct client *req, const char *sqlstate, const char *msg)
{
	if (req)
		client_fail(req, sqlstate, "%s", msg);
}

/* req NULL: the client that asked went before the target's worker answered
 * (xcancel.c); the cancel goes on without it, as it does once it is out */
void server_send_cancel_to(struct worker *w, struct client *req, const struct cancel_target *t)
{
	struct server *sv;
	int ret;

	if (w->exiting) {	/* close_all has closed the cancels: none opens after */
		cancel_refused(req, "57P01", "pgring is shutting down");
		return;
	}
	if (w->ncancel_conns >= CANCEL_CONNS_MAX) {
		log_warning(w->log, "%u cancel connections open: a cancel request is refused",
			    w->ncancel_conns);
		cancel_refused(req, "53300", "too many cancel requests in progress");
		return;
	}
	sv = cancel_server_new(w);
	if (!sv) {
		log_warning(w->log, "cancel request dropped: out of memory");
		cancel_refused(req, "53200", "out of memory");
		return;
	}
	sv->is_cancel = true;
	sv->cancel_pid = t->pid;
	sv->cancel_key = t->key;
	sv->cancel_cl_pid = t->cl_pid;
	sv->cancel_cl_key = t->cl_key;
	sv->cancel_target_id = t->server_id;
	sv->cancel_owner = t->owner;
	sv->addr = t->addr;
	sv->addrlen = t->addrlen;
	ret = cancel_socket(sv);
	if (ret < 0) {
		log_warning(w->log, "could not open a cancel connection: %s", strerror(-ret));
		free(sv);
		cancel_refused(req, "08006", "could not open a connection to send the cancel request");
		return;
	}
	w->ncancel_conns++;
	cancel_track(w, sv);
	cancel_connect(sv, req);
}

/* The client that asked for the cancel hears no more of it: the cancel is out or given up. */
static void cancel_release_req(struct server *sv)
{
	struct client *req = sv->cancel_req;

	if (!req)
		return;
	sv->cancel_req = NULL;
	client_cancel_done(req);
}

/*
 * Connected: send the cancel only if its client still holds the server it
 * held when it asked. In transaction mode the server may have gone back to
 * the pool meanwhile, and its next query is another client's.
 */
static void cancel_ready(struct server *sv)
{
	struct worker *w = sv->c.w;

	if (sv->cancel_owner != w->index) {	/* its client is another worker's */
		xcancel_confirm(sv);
		return;
	}
	server_cancel_go(sv, cancel_target_holds(w, sv->cancel_cl_pid, sv->cancel_cl_key,
						 sv->cancel_target_id));
}

void server_cancel_go(struct server *sv, bool holds)
{
	if (!holds) {
		log_info(sv->c.w->log, "cancel request dropped: its client no longer holds the server");
		server_close(sv, NULL);
		return;
	}
	pkt_cancel(&sv->c.w->tmp, sv->cancel_pid, sv->cancel_key);
	if (!conn_send_pkt(&sv->c, &sv->c.w->tmp)) {
		log_warning(sv->c.w->log, "cancel request dropped: could not queue it");
		server_close(sv, NULL);
		return;
	}
	conn_close_after_send(&sv->c);
	cancel_release_req(sv);
}

/* ---- cancels forwarded to [peers] ---- */

struct peer_pool *server_peer_pool(struct worker *w, int id)
{
	for (struct peer_pool *pp = w->peer_pools; pp; pp = pp->next)
		if (pp->id == id)
			return pp;
	return NULL;
}

static struct peer_pool *peer_pool_get(struct worker *w, int id)
{
	struct peer_pool *pp = server_peer_pool(w, id);

	if (pp || !(pp = calloc(1, sizeof(*pp))))
		return pp;
	pp->id = id;
	list_init(&pp->waiting);
	pp->next = w->peer_pools;
	w->peer_pools = pp;
	return pp;
}

void server_peer_pools_free(struct worker *w)
{
	while (w->peer_pools) {
		struct peer_pool *pp = w->peer_pools;

		w->peer_pools = pp->next;
		free(pp);
	}
}

void server_peer_unwait(struct client *req)
{
	list_remove(&req->peer_wait->waiting, &req->node);
	req->peer_wait = NULL;
}

/* the pool_size of a [peers] entry: cancels forwarded to it at once */
static unsigned peer_pool_size(const struct config *cfg, const struct peer_conf *pc)
{
	int n = pc->pool_size != CONF_UNSET ? pc->pool_size : cfg->default_pool_size;

	return n > 0 ? (unsigned)n : 1;
}

/* A connection to the peer for req's CancelRequest; req closes once it is out. */
static void peer_connect(struct worker *w, struct peer_pool *pp, const struct peer_conf *pc,
			 struct client *req)
{
	struct server *sv = cancel_server_new(w);
	char err[256] = "out of memory";
	int ret = -ENOMEM;

	if (sv) {
		sv->peer = pp;
		sv->cancel_pid = req->cancel_pid;
		sv->cancel_key = req->cancel_key;
		ret = server_resolve(w, sv, pc->host, pc->port, err, sizeof(err));
	}
	if (ret == 0) {
		ret = cancel_socket(sv);
		if (ret < 0)
			snprintf(err, sizeof(err), "could not open a connection: %s", strerror(-ret));
	}
	if (ret < 0) {
		log_warning(w->log, "cancel request for peer %d dropped: %s", pp->id, err);
		if (sv)
			dns_forget(&sv->dnsw);
		free(sv);
		client_cancel_done(req);
		return;
	}
	pp->nlogin++;
	cancel_track(w, sv);
	if (ret == DNS_WAIT) {	/* server_resolved connects */
		cancel_arm(sv, req);
		return;
	}
	cancel_connect(sv, req);
}

/* Starts queued cancels while the peer's pool_size allows. */
static void peer_pool_run(struct worker *w, struct peer_pool *pp)
{
	while (!list_empty(&pp->waiting)) {
		const struct peer_conf *pc = config_find_peer(w->cfg, pp->id);
		struct client *req = list_entry(list_first(&pp->waiting), struct client, node);

		if (pc && pp->nlogin + pp->nactive >= peer_pool_size(w->cfg, pc))
			return;
		server_peer_unwait(req);
		if (!pc) {	/* a reload took the entry away */
			log_warning(w->log, "cancel request for peer %d dropped: no such peer in [peers]",
				    pp->id);
			client_cancel_done(req);
			continue;
		}
		peer_connect(w, pp, pc, req);
	}
}

bool server_forward_cancel(struct client *req, uint32_t pid, uint32_t key)
{
	struct worker *w = req->c.w;
	int id = CANCEL_KEY_PEER(pid);
	struct peer_pool *pp;

	if (!w->cfg->peer_id || id == w->cfg->peer_id || !config_find_peer(w->cfg, id))
		return false;
	if (!(key & CANCEL_HOPS_MASK)) {
		log_warning(w->log, "cancel request for peer %d dropped: it has been forwarded "
			    "too often (do two processes share a peer_id?)", id);
		return false;
	}
	pp = peer_pool_get(w, id);
	if (!pp) {
		log_warning(w->log, "cancel request for peer %d dropped: out of memory", id);
		return false;
	}
	/* req is no cancel target any more: its key fields carry the one to forward */
	req->cancel_pid = pid;
	req->cancel_key = key - 1;	/* one hop fewer */
	req->peer_wait = pp;
	list_append(&pp->waiting, &req->node);
	log_debug(w->log, "cancel request for peer %d: %u forwarding, %u queued", id,
		  pp->nlogin + pp->nactive, pp->waiting.count);
	peer_pool_run(w, pp);
	return true;
}

static void peer_cancel_ready(struct server *sv)
{
	struct peer_pool *pp = sv->peer;

	pp->nlogin--;
	pp->nactive++;
	sv->peer_connected = true;
	pkt_cancel(&sv->c.w->tmp, sv->cancel_pid, sv->cancel_key);
	if (!conn_send_pkt(&sv->c, &sv->c.w->tmp)) {
		log_warning(sv->c.w->log, "cancel request for peer %d dropped: could not queue it",
			    pp->id);
		server_close(sv, NULL);
		return;
	}
	conn_close_after_send(&sv->c);
	cancel_release_req(sv);
	log_debug(sv->c.w->log, "cancel request forwarded to peer %d", pp->id);
}

/* ---- login ---- */

static bool send_md5(struct server *sv, const uint8_t *salt)
{
	const struct secret *sec;
	const char *pw = server_password(sv, &sec);
	char hash[MD5_PASSWD_LEN + 1], resp[MD5_PASSWD_LEN + 1];
	struct pktbuf *pb = &sv->c.w->tmp;

	if (pw && sec && sec->kind == SECRET_SCRAM) {
		/* PgBouncer's words: a SCRAM verifier cannot answer md5 */
		server_login_fail(sv, "wrong password type");
		return false;
	}
	if (!pw) {
		server_login_fail(sv, "server asked for an md5 password, and pgring has none for this user");
		return false;
	}
	if (sec && sec->kind == SECRET_MD5)
		snprintf(hash, sizeof(hash), "%s", pw);
	else
		auth_md5_hash(pw, sv->pool->user, hash);
	auth_md5_salted(hash, salt, resp);
	pkt_password(pb, resp);
	return conn_send_pkt(&sv->c, pb);
}

static bool start_scram(struct server *sv, bool offered)
{
	struct pool *pool = sv->pool;
	const struct secret *sec;
	const char *pw = server_password(sv, &sec);
	char first[256];
	int n;

	if (!offered) {
		server_login_fail(sv, "server offers no SASL mechanism pgring knows");
		return false;
	}
	sv->scram = calloc(1, sizeof(*sv->scram));
	if (!sv->scram) {
		server_login_fail(sv, "out of memory");
		return false;
	}
	if (pw && (!sec || sec->kind == SECRET_PLAIN)) {
		scram_client_init_password(sv->scram, pw);
	} else if (pool->have_scram_keys) {
		scram_client_init_keys(sv->scram, pool->scram_client_key, pool->scram_server_key);
	} else {
		server_login_fail(sv, "server asked for SCRAM, and pgring has no plain password or client keys for this user");
		return false;
	}
	n = scram_client_first(sv->scram, first, sizeof(first));
	if (n < 0) {
		server_login_fail(sv, "SCRAM: could not build client-first-message");
		return false;
	}
	pkt_sasl_initial(&sv->c.w->tmp, "SCRAM-SHA-256", first, (size_t)n);
	return conn_send_pkt(&sv->c, &sv->c.w->tmp);
}

static bool send_scram_final(struct server *sv, const char *msg, uint32_t len)
{
	char out[1024];
	int n = scram_client_final(sv->scram, msg, len, out, sizeof(out));

	if (n < 0) {
		server_login_fail(sv, "SCRAM: bad server-first-message");
		return false;
	}
	pkt_sasl_response(&sv->c.w->tmp, out, (size_t)n);
	return conn_send_pkt(&sv->c, &sv->c.w->tmp);
}

/* The auth_file entry whose plain password this login uses, if any: its
 * keys for PostgreSQL's salt are kept there */
static const struct userlist_entry *keys_entry(struct server *sv)
{
	const struct userlist_entry *ue = userlist_find(sv->c.w->users, sv->pool->user);

	if (!ue || ue->secret.kind != SECRET_PLAIN || !sv->scram->password ||
	    strcmp(ue->secret.text, sv->scram->password))
		return NULL;
	return ue;
}

static void keep_server_keys(struct server *sv, const struct kdf_job *job)
{
	const struct userlist_entry *ue = keys_entry(sv);
	struct scram_derived d = { .salt_len = job->salt_len, .iterations = job->iterations };

	if (!ue)
		return;
	memcpy(d.salt, job->salt, job->salt_len);
	memcpy(d.client_key, job->client_key, SCRAM_KEY_LEN);
	memcpy(d.server_key, job->server_key, SCRAM_KEY_LEN);
	/* no memory, or salts enough cached: the next login derives again */
	userlist_keep_server_keys(ue, &d, NULL);
	OPENSSL_cleanse(&d, sizeof(d));
}

static void server_keys_done(struct kdf_waiter *wt, const struct kdf_job *job)
{
	struct server *sv = (struct server *)((char *)wt - offsetof(struct server, kdf));
	char *msg = sv->kdf_msg;

	sv->kdf_msg = NULL;
	if (job->rc < 0) {
		free(msg);
		server_login_fail(sv, "SCRAM key derivation failed");
		return;
	}
	server_log(sv, LOG_LVL_DEBUG, "SCRAM keys for the server derived off the loop in %llu us",
		   (unsigned long long)job->run_us);
	keep_server_keys(sv, job);
	scram_client_set_keys(sv->scram, job->client_key, job->server_key);
	send_scram_final(sv, msg, sv->kdf_msg_len);
	free(msg);
}

/*
 * With a plain password, the keys for the salt and iterations PostgreSQL
 * sent: from the entry's cache, else derived on a kdf thread (up to 1e7
 * iterations, chosen by the server: never on the loop).
 */
static bool scram_keys_then_final(struct server *sv, const char *msg, uint32_t len)
{
	struct worker *w = sv->c.w;
	const struct userlist_entry *ue = keys_entry(sv);
	const struct scram_derived *d;
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;
	int iter, r;

	if (scram_client_peek(sv->scram, msg, len, salt, &salt_len, &iter) < 0) {
		server_login_fail(sv, "SCRAM: bad server-first-message");
		return false;
	}
	d = ue ? userlist_server_keys(ue, salt, salt_len, iter) : NULL;
	if (d) {
		server_log(sv, LOG_LVL_DEBUG, "SCRAM keys for the server from the cache");
		kdf_stats(w->kdf)->cache_hits++;
		scram_client_set_keys(sv->scram, d->client_key, d->server_key);
		return send_scram_final(sv, msg, len);
	}
	if (!(sv->kdf_msg = malloc(len ? len : 1))) {
		server_login_fail(sv, "out of memory");
		return false;
	}
	memcpy(sv->kdf_msg, msg, len);
	sv->kdf_msg_len = len;
	r = kdf_submit(w->kdf, sv->pool->user, sv->scram->password, salt, salt_len, iter, true,
		       &sv->kdf, server_keys_done);
	if (r < 0) {
		server_login_lost(sv, r == -EAGAIN ? "too many SCRAM key derivations queued" :
				  "out of memory");
		return false;
	}
	return true;
}

static bool login_auth(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct auth_request ar;
	char out[1024];

	if (proto_read_auth_request(body, len, &ar) < 0) {
		server_login_fail(sv, "malformed authentication request from server");
		return false;
	}
	switch (ar.code) {
	case AUTH_OK:
		return true;
	case AUTH_CLEARTEXT: {
		const struct secret *sec;
		const char *pw = server_password(sv, &sec);

		if (pw && sec && sec->kind != SECRET_PLAIN) {
			server_login_fail(sv, "wrong password type");	/* a hash is no password */
			return false;
		}
		if (!pw) {
			server_login_fail(sv, "server asked for a cleartext password, and pgring has none for this user");
			return false;
		}
		pkt_password(&sv->c.w->tmp, pw);
		return conn_send_pkt(&sv->c, &sv->c.w->tmp);
	}
	case AUTH_MD5:
		if (!ar.salt) {
			server_login_fail(sv, "malformed md5 request");
			return false;
		}
		return send_md5(sv, ar.salt);
	case AUTH_SASL:
		return start_scram(sv, ar.offers_scram_sha_256);
	case AUTH_SASL_CONTINUE:
		if (!sv->scram || sv->kdf.job) {
			server_login_fail(sv, "unexpected SASL message");
			return false;
		}
		if (sv->scram->have_password)
			return scram_keys_then_final(sv, ar.data, (uint32_t)ar.data_len);
		return send_scram_final(sv, ar.data, (uint32_t)ar.data_len);
	case AUTH_SASL_FINAL:
		if (!sv->scram || scram_client_verify(sv->scram, ar.data, ar.data_len) < 0) {
			server_login_fail(sv, "SCRAM: the server's signature does not match");
			return false;
		}
		return true;
	default:
		snprintf(out, sizeof(out), "server asked for an unsupported authentication method (%u)", ar.code);
		server_login_fail(sv, out);
		return false;
	}
}

static void welcome_add(struct pool *pool, const char *name, const char *val)
{
	int i;

	if (pool->have_welcome)
		return;
	for (i = 0; i < pool->nwelcome; i++)
		if (!strcmp(pool->welcome_name[i], name))
			break;
	if (i == pool->nwelcome) {
		if (i == (int)(sizeof(pool->welcome_name) / sizeof(pool->welcome_name[0])))
			return;
		pool->welcome_name[i] = strdup(name);
		pool->welcome_val[i] = NULL;
		if (!pool->welcome_name[i])
			return;
		pool->nwelcome++;
	}
	free(pool->welcome_val[i]);
	pool->welcome_val[i] = strdup(val);
}

static bool track_param(struct server *sv, const uint8_t *body, uint32_t len, bool login)
{
	const char *name, *val;
	int idx;

	if (!proto_read_param_status(body, len, &name, &val))
		return false;
	hostsel_param(sv, name, val);
	if (login)
		welcome_add(sv->pool, name, val);
	idx = param_lookup(sv->c.w, name);
	if (idx >= 0) {
		param_set_put(sv->c.w, &sv->params, idx, val);
		if (sv->client && !login && !sv->hidden)
			param_set_put(sv->c.w, &sv->client->params, idx, val);
	}
	return true;
}

static void login_done(struct server *sv)
{
	struct pool *pool = sv->pool;
	const struct db_conf *db = pool_db_conf(pool);

	char addr[NET_ADDR_TEXT];

	if (hostsel_probe_login(sv))
		return;		/* its answer's ReadyForQuery comes back here; still timed */
	loop_timer_stop(sv->c.w->loop, &sv->timer);
	if (!hostsel_login_ok(sv))
		return;
	if (sv->scram)
		scram_client_clear(sv->scram);	/* it holds the password */
	free(sv->scram);
	sv->scram = NULL;
	sv->proving = true;
	pool->have_welcome = pool->nwelcome > 0;
	server_log(sv, LOG_LVL_DEBUG, "login done");
	if (sv->c.w->cfg->log_connections)
		server_log(sv, LOG_LVL_LOG, "new connection to server (from %s:%d)",
			   net_addr_text(&sv->c.laddr, addr, sizeof(addr)), sv->c.laddr.port);
	if (db && db->connect_query && *db->connect_query) {
		pkt_query(&sv->c.w->tmp, db->connect_query);
		if (!conn_send_pkt(&sv->c, &sv->c.w->tmp))
			return;
		sv->hidden++;
		pool_change_server(sv, SV_USED);
		return;
	}
	pool_server_ready(sv);
}

/* As libpq, a node that cannot say what it is is skipped for the next host */
static void probe_failed(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct error_fields ef = { 0 };
	char msg[512];

	proto_parse_error(body, len, &ef);
	snprintf(msg, sizeof(msg), "the query for target_session_attrs failed: %s",
		 ef.message ? ef.message : "?");
	server_login_lost(sv, msg);
}

static bool login_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	switch (type) {
	case 'R':
		return login_auth(sv, body, len);
	case 'S':
		return track_param(sv, body, len, true);
	case 'K':
		(void)proto_read_backend_key(body, len, &sv->pid, &sv->key);	/* short: 0, as before */
		return true;
	case 'N':
		return true;
	case 'E':
		if (sv->probing)
			probe_failed(sv, body, len);
		else
			server_login_refused(sv, body, len);
		return false;
	case 'Z':
		if (!proto_read_ready_for_query(body, len)) {
			server_login_fail(sv, READY_BAD);
			return false;
		}
		if (sv->probing)
			hostsel_probe_end(sv);
		login_done(sv);
		return !sv->c.closing;
	case 'T':
	case 'C':
		if (!sv->probing)
			break;
		return true;
	case 'D':
		if (!sv->probing)
			break;
		if (!hostsel_probe_row(sv, body, len)) {
			server_login_fail(sv, "malformed DataRow answering target_session_attrs's query");
			return false;
		}
		return true;
	default:
		break;
	}
	server_login_fail(sv, "unexpected message during login");
	return false;
}

/* ---- after login ---- */

/* Sends SET for each parameter the client sees differently; the replies are
 * consumed (hidden) before the client's own. false: nothing could be sent. */
bool server_send_params(struct server *sv, const struct param_set *want)
{
	struct pktbuf *pb = &sv->c.w->tmp;
	const char *names[PARAM_COUNT], *vals[PARAM_COUNT];
	int n = 0;

	for (int i = 0; i < PARAM_COUNT; i++) {
		const char *v = want->val[i];

		if (!v || v == sv->params.val[i])	/* interned: equal is identical */
			continue;
		names[n] = param_name(sv->c.w, i);
		vals[n++] = v;
	}
	if (!n)
		return true;
	pkt_set_query(pb, names, vals, n);
	if (pb->failed) {
		pkt_reset(pb);
		return false;
	}
	if (!conn_send_pkt(&sv->c, pb))
		return false;
	sv->hidden++;
	prep_server_unnamed(sv, true);
	return true;
}

/* Called with ReadyForQuery: gives the server back when the pool mode says so. */
static void maybe_release(struct server *sv)
{
	struct client *cl = sv->client;
	int mode;

	if (!cl || sv->outstanding > 0 || sv->unsynced)
		return;
	mode = pool_mode_of(sv->pool);
	if (mode == POOL_SESSION)
		return;
	if (mode == POOL_STATEMENT && sv->txn_status != 'I') {
		client_fail(cl, "08P01", "transaction blocks not allowed in statement pooling mode");
		return;
	}
	if (sv->txn_status != 'I')
		return;
	if (cl->c.fr.have || cl->c.fr.in_body)
		return;		/* the client is mid-message to this server */
	server_release(sv);
	/* a pipelining client may have its next transaction queued already */
	if (cl->c.inq_head)
		conn_process(&cl->c);
}

void server_release(struct server *sv)
{
	struct client *cl = sv->client;
	struct worker *w = sv->c.w;
	const char *reset = w->cfg->server_reset_query;
	int mode = pool_mode_of(sv->pool);

	if (cl) {
		cl->server = NULL;
		cl->c.peer = NULL;
		if (cl->state == CL_ACTIVE)
			pool_change_client(cl, CL_IDLE);
	}
	sv->client = NULL;
	sv->c.peer = NULL;
	prep_unlink(sv);
	if (sv->c.closing)
		return;
	if (sv->pool->replication) {	/* never shared: it goes with its client */
		server_close(sv, "replication client gone");
		return;
	}
	if (server_addr_stale(sv)) {
		server_close(sv, "its host name no longer has this address (DNS)");
		return;
	}
	if (sv->outstanding > 0 || sv->unsynced || sv->txn_status != 'I' || sv->hidden ||
	    (cl && (cl->c.fr.have || cl->c.fr.in_body))) {
		server_close(sv, "client disconnect while server was not ready");
		return;
	}
	if (prep_server_lost(sv)) {
		server_close(sv, "its prepared statements are no longer known");
		return;
	}
	if (reset && *reset && (mode == POOL_SESSION || w->cfg->server_reset_query_always)) {
		pkt_query(&w->tmp, reset);
		if (!conn_send_pkt(&sv->c, &w->tmp))
			return;
		sv->hidden++;
		prep_server_unnamed(sv, true);
		prep_server_forget(sv);	/* DISCARD ALL, or whatever it is: assume the worst */
		pool_change_server(sv, SV_USED);
		return;
	}
	pool_server_ready(sv);
}

/* A server whose ReadyForQuery says anything but I, T or E is in a state
 * nobody knows: closed (its client told), never pooled. */
bool server_ready_status(struct server *sv, const uint8_t *body, uint32_t len)
{
	char st = proto_read_ready_for_query(body, len);

	if (!st) {
		server_close(sv, READY_BAD);
		return false;
	}
	sv->txn_status = st;
	return true;
}

static bool hidden_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct error_fields ef;

	switch (type) {
	case 'Z':
		if (!server_ready_status(sv, body, len))
			return false;
		if (hostsel_probe_current(sv))
			hostsel_probe_end(sv);	/* before pool_server_ready judges sv */
		sv->hidden--;
		if (!sv->hidden && sv->state == SV_USED)
			pool_server_ready(sv);
		return !sv->c.closing;
	case 'S':
		track_param(sv, body, len, false);
		return true;
	case 'D':	/* consumed only when it answers the probe */
		if (!hostsel_probe_row(sv, body, len)) {
			server_close(sv, "malformed DataRow answering target_session_attrs's query");
			return false;
		}
		return true;
	case 'E':
		proto_parse_error(body, len, &ef);
		server_log(sv, LOG_LVL_WARNING, "pgring's own query failed: %s",
			   ef.message ? ef.message : "?");
		if (sv->state == SV_USED) {
			server_close(sv, sv->proving && sv->last_used_us ?
				     "server_check_query failed" : "reset or connect query failed");
			return false;
		}
		return true;
	default:
		return true;
	}
}

static enum msg_action server_on_header(struct conn *c, uint8_t type, uint32_t len)
{
	struct server *sv = sv_of(c);

	if (sv->draining)
		return ACT_DROP;	/* PostgreSQL's last words, if any */

	if (sv->state == SV_LOGIN) {
		if (len > LOGIN_MSG_MAX) {
			server_login_fail(sv, "oversized message during login");
			return ACT_CLOSE;
		}
		return ACT_CONSUME;
	}
	if (sv->hidden)
		return type == 'E' || type == 'Z' || type == 'S' ||
		       (type == 'D' && hostsel_probe_current(sv)) ? ACT_CONSUME : ACT_DROP;
	if (authq_serving(sv))
		return authq_server_header(sv, type, len);
	if (sv->state != SV_ACTIVE || !sv->client) {
		/* an idle server speaks only to say it is going away */
		if (type == 'S' || type == 'N')
			return ACT_CONSUME;
		server_close(sv, type == 'E' ? "server sent an error while idle" :
			     "unexpected message from idle server");
		return ACT_CLOSE;
	}
	switch (prep_server_header(sv, type)) {
	case 1:
		return ACT_PEEK;
	case 2:
		return ACT_DROP;	/* the answer to pgring's own Parse or Close */
	case 3:
		return ACT_CONSUME;	/* an error pgring rewrites for the client */
	default:
		break;
	}
	if (type == 'Z' || type == 'S')
		return ACT_PEEK;
	return ACT_FORWARD;
}

static bool server_on_message(struct conn *c, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct server *sv = sv_of(c);

	if (sv->state == SV_LOGIN)
		return login_message(sv, type, body, len);
	if (sv->hidden)
		return hidden_message(sv, type, body, len);
	if (type == 'S')
		return track_param(sv, body, len, false);
	if (authq_serving(sv))
		return authq_server_message(sv, type, body, len);
	if (sv->prep_on)
		prep_server_message(sv, type, body, len);
	if (type == 'Z') {
		if (!server_ready_status(sv, body, len))
			return false;
		sv->ready_at_us = loop_now_us(c->w->loop);
		if (sv->outstanding > 0)
			sv->outstanding--;
		stats_ready(sv);
		maybe_release(sv);
		return !c->closing;
	}
	return true;
}

static void server_on_eof(struct conn *c, int err)
{
	struct server *sv = sv_of(c);

	if (sv->draining) {
		conn_close(c);	/* PostgreSQL let the backend go */
		return;
	}
	if (sv->state == SV_LOGIN && tls_direct_refused(c)) {
		/* no retry will fix it: the waiting clients hear why at once */
		server_login_fail(sv, tls_direct_refused(c));
		return;
	}

	if (sv->state == SV_LOGIN) {
		server_login_lost(sv, err == -EPROTO && tls_error(c) ? tls_error(c) :
				  err ? strerror(-err) : "server closed the connection during login");
		return;
	}
	if (sv->state == SV_CANCEL) {
		server_close(sv, NULL);
		return;
	}
	server_close(sv, err == -EBADMSG ? "bad packet header from server" :
		     err ? strerror(-err) : "server closed the connection");
}

static void server_on_drain(struct conn *c)
{
	if (c->peer)
		conn_process(c->peer);
}

static void server_on_free(struct conn *c)
{
	struct server *sv = sv_of(c);

	if (sv->draining) {
		list_remove(&c->w->draining, &sv->node);
		sv->draining = false;
	}
	if (sv->in_cancels) {
		list_remove(&c->w->cancels, &sv->node);
		sv->in_cancels = false;
	}
	loop_timer_stop(c->w->loop, &sv->timer);
	dns_forget(&sv->dnsw);
	if (sv->is_cancel)
		sv->c.w->ncancel_conns--;
	if (sv->xc)		/* its owner's answer finds it gone */
		xcancel_sv_gone(sv);
	cancel_release_req(sv);	/* closed without server_close: req must not wait on */
	if (sv->peer) {		/* its slot goes to the next cancel for that peer */
		if (sv->peer_connected)
			sv->peer->nactive--;
		else
			sv->peer->nlogin--;
		peer_pool_run(c->w, sv->peer);
	}
	if (sv->pool) {
		pool_server_freed(sv);	/* a drained server's limit units */
		pool_unref(sv->pool);
	}
	prep_server_free(sv);
	param_set_free(sv->c.w, &sv->params);
	if (sv->scram)
		scram_client_clear(sv->scram);
	free(sv->scram);
	kdf_unwait(&sv->kdf);
	free(sv->kdf_msg);
	free(sv);
}

static const struct conn_ops server_ops = {
	.on_header = server_on_header,
	.on_message = server_on_message,
	.on_eof = server_on_eof,
	.on_drain = server_on_drain,
	.on_free = server_on_free,
	.on_connect = server_on_connect,
	.on_tls = server_on_tls,
};
