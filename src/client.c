/* client.c - client connections: startup, authentication, and the messages that need a server */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "client_hba.h"
#include "hba.h"
#include "process.h"
#include "worker.h"


enum client_auth {
	CA_NONE = 0,
	CA_PLAIN,
	CA_MD5,
	CA_SCRAM_FIRST,
	CA_SCRAM_FINAL,
	CA_KDF_WAIT,		/* kdf.c derives keys; the client must wait */
};

static const struct conn_ops client_ops;

static struct client *cl_of(struct conn *c)
{
	return list_entry(c, struct client, c);
}

void client_log(struct client *cl, enum log_level lvl, const char *fmt, ...)
{
	char prefix[256], addr[NET_ADDR_TEXT];
	va_list ap;

	if (!log_enabled(cl->c.w->log, lvl))
		return;
	snprintf(prefix, sizeof(prefix), "C-%p: %s/%s@%s:%d ", (void *)cl,
		 cl->dbname && *cl->dbname ? cl->dbname : "(nodb)",
		 cl->user && *cl->user ? cl->user : "(nouser)",
		 net_addr_text(&cl->c.addr, addr, sizeof(addr)), cl->c.addr.port);
	va_start(ap, fmt);
	log_vmsg(cl->c.w->log, lvl, prefix, fmt, ap);
	va_end(ap);
}

/* ---- cancel keys: (pid, key) to client in O(1), for CancelRequest ---- */

#define CANCEL_IX_MIN	256

/* The pid's bytes may be fixed (peer_id, the worker index): the key's are
 * random but for its two hop bits, which a forwarded cancel decrements. */
static inline unsigned cancel_ix_slot(uint32_t key, unsigned nb)
{
	return (key >> 2) & (nb - 1);
}

/* Doubles the table; without memory the chains just grow longer. */
static void cancel_ix_grow(struct cancel_index *ix)
{
	unsigned nb = ix->nb ? ix->nb * 2 : CANCEL_IX_MIN;
	struct client **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (unsigned i = 0; i < ix->nb; i++) {
		struct client *cl, *next;

		for (cl = ix->b[i]; cl; cl = next) {
			next = cl->cancel_next;
			cl->cancel_next = b[cancel_ix_slot(cl->cancel_key, nb)];
			b[cancel_ix_slot(cl->cancel_key, nb)] = cl;
		}
	}
	free(ix->b);
	ix->b = b;
	ix->nb = nb;
}

static bool cancel_ix_add(struct client *cl)
{
	struct cancel_index *ix = &cl->c.w->cancel_ix;
	struct client **head;

	if (ix->n >= ix->nb)
		cancel_ix_grow(ix);
	if (!ix->nb)
		return false;
	head = &ix->b[cancel_ix_slot(cl->cancel_key, ix->nb)];
	cl->cancel_next = *head;
	*head = cl;
	cl->cancel_indexed = true;
	ix->n++;
	return true;
}

static void cancel_ix_del(struct client *cl)
{
	struct cancel_index *ix = &cl->c.w->cancel_ix;
	struct client **pp;

	if (!cl->cancel_indexed)
		return;
	for (pp = &ix->b[cancel_ix_slot(cl->cancel_key, ix->nb)]; *pp; pp = &(*pp)->cancel_next) {
		if (*pp == cl) {
			*pp = cl->cancel_next;
			break;
		}
	}
	cl->cancel_indexed = false;
	ix->n--;
}

struct client *client_by_cancel_key(struct worker *w, uint32_t pid, uint32_t key)
{
	const struct cancel_index *ix = &w->cancel_ix;
	struct client *cl;

	if (!ix->nb)
		return NULL;
	for (cl = ix->b[cancel_ix_slot(key, ix->nb)]; cl; cl = cl->cancel_next)
		if (cl->cancel_pid == pid && auth_equal(&cl->cancel_key, &key, 4))
			return cl;
	return NULL;
}

struct client *client_cancel_target(struct worker *w, uint32_t pid, uint32_t key)
{
	struct client *cl = client_by_cancel_key(w, pid, key);

	/* peered, every key given out has its hops full; a forwarded one has
	 * fewer left, and is still ours */
	if (!cl && w->cfg->peer_id)
		cl = client_by_cancel_key(w, pid, key | CANCEL_HOPS_MASK);
	return cl;
}

void client_cancel_index_free(struct worker *w)
{
	free(w->cancel_ix.b);
	memset(&w->cancel_ix, 0, sizeof(w->cancel_ix));
}

static void client_detach(struct client *cl)
{
	struct worker *w = cl->c.w;
	struct server *sv = cl->server;

	if (cl->state == CL_CLOSING)
		return;
	if (sv && cl->authq)
		authq_abandon(cl);	/* its answer is drained, the server kept */
	else if (sv)
		server_release(sv);
	if (cl->repl_server) {	/* still logging in for this client alone */
		sv = cl->repl_server;
		cl->repl_server = NULL;
		sv->repl_owner = NULL;
		server_close(sv, "replication client gone");
	}
	cl->server = NULL;
	cl->c.peer = NULL;
	kdf_unwait(&cl->kdf);	/* its keys may come back after it is gone */
	cancel_ix_del(cl);
	if (cl->peer_wait)
		server_peer_unwait(cl);
	if (cl->xc)		/* the other worker's answer finds it gone */
		xcancel_req_gone(cl);
	if (cl->cancel_conn) {	/* the cancel goes on without the client that asked */
		cl->cancel_conn->cancel_req = NULL;
		cl->cancel_conn = NULL;
	}
	pool_change_client(cl, CL_CLOSING);
	list_remove(&w->clients, &cl->all);
	w->nclients--;
	limit_give(&w->proc->clients);
	if (w->shutdown && !w->nclients)
		admin_maybe_exit(w);
}

/* PgBouncer's line for every client that goes, refused ones included: operators grep for it */
static void log_closing(struct client *cl, const char *why)
{
	if (why && cl->c.w->cfg->log_disconnections && cl->state != CL_CANCEL)
		client_log(cl, LOG_LVL_LOG, "closing because: %s (age=%llus)", why,
			   (unsigned long long)((loop_now_us(cl->c.w->loop) - cl->c.connect_time_us) /
						1000000));
}

static void client_close(struct client *cl, const char *why)
{
	if (cl->state == CL_CLOSING)
		return;
	log_closing(cl, why);
	client_detach(cl);
	conn_close(&cl->c);
}

void client_close_all(struct worker *w, const char *why)
{
	/* client_detach() takes each off w->clients */
	while (!list_empty(&w->clients))
		client_close(list_entry(list_first(&w->clients), struct client, all), why);
}

/* Sends an ErrorResponse, then closes once it is out. */
void client_fail(struct client *cl, const char *sqlstate, const char *fmt, ...)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	char msg[512];
	va_list ap;

	if (cl->state == CL_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_closing(cl, msg);
	if (cl->c.w->cfg->log_pooler_errors)
		client_log(cl, LOG_LVL_WARNING, "pooler error: %s", msg);
	client_detach(cl);
	pkt_error(pb, "FATAL", sqlstate, "%s", msg);
	if (conn_send_pkt(&cl->c, pb))	/* else failing already */
		conn_close_after_send(&cl->c);
}

void client_login_failed(struct client *cl, const char *msg)
{
	client_fail(cl, "08P01", "%s", msg);
}

/* TLS is offered to TCP clients when client_tls_sslmode is not disable */
static bool client_tls_offered(const struct client *cl)
{
	return tls_client_sslmode(cl->c.w) != TLS_DISABLE && cl->c.addr.family != AF_UNIX;
}

void client_accept(struct worker *w, int fd)
{
	const struct config *cfg = w->cfg;
	struct client *cl = calloc(1, sizeof(*cl));
	uint8_t keys[sizeof(cl->cancel_pid) + sizeof(cl->cancel_key)];

	if (!cl) {
		close(fd);
		++*loop_syscalls(w->loop);
		return;
	}
	conn_init(&cl->c, w, &client_ops, false);
	if (conn_attach(&cl->c, fd) < 0) {
		free(cl);
		return;
	}
	w->nclient_socks++;	/* until client_on_free, after the close */
	net_tune(fd, cfg, loop_syscalls(w->loop));
	net_peer(fd, &cl->c.addr, loop_syscalls(w->loop));
	net_local(fd, &cl->c.laddr, loop_syscalls(w->loop));
	list_append(&w->clients, &cl->all);
	w->nclients++;
	(void)limit_take(&w->proc->clients, 0);	/* no maximum: always counted */
	cl->state = CL_LOGIN;
	list_append(&w->login_clients, &cl->node);
	if (auth_random(keys, sizeof(keys)) < 0) {
		client_close(cl, "no random bytes");
		return;
	}
	/* OpenSSL's generator calls getpid() each time, to notice a fork */
	++*loop_syscalls(w->loop);
	memcpy(&cl->cancel_pid, keys, sizeof(cl->cancel_pid));
	memcpy(&cl->cancel_key, keys + sizeof(cl->cancel_pid), sizeof(cl->cancel_key));
	/* a positive pid, as PostgreSQL's: some clients (pg_basebackup) choke on
	 * a negative one */
	cl->cancel_pid &= 0x7fffffffu;
	if (cfg->peer_id) {	/* so that a peer that gets its cancel knows where to send it */
		cl->cancel_pid = CANCEL_PID_WITH_PEER(cl->cancel_pid, cfg->peer_id);
		cl->cancel_key |= CANCEL_HOPS_MASK;
	}
	if (w->proc && w->proc->nworkers > 1)	/* its cancel may land on another worker */
		cl->cancel_pid = CANCEL_PID_WITH_WORKER(cl->cancel_pid, w->index);
	if (!cancel_ix_add(cl)) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	cl->c.sniff = client_tls_offered(cl);	/* direct TLS */
	/* during a shutdown too: the kernel completed this connection while
	 * we still listened (a listener's queue is taken before it closes),
	 * so it is served like the clients already in */
	conn_start_recv(&cl->c);
}

/* ---- login done ---- */

bool client_send_welcome(struct client *cl)
{
	struct pool *pool = cl->pool;
	struct pktbuf *pb = &cl->c.w->tmp;

	for (int i = 0; i < pool->nwelcome; i++) {
		const char *name = pool->welcome_name[i], *val = pool->welcome_val[i];
		int idx = param_lookup(cl->c.w, name);

		if (!val)
			continue;
		/* what the client asked for at startup wins over the server's */
		if (idx >= 0 && cl->params.val[idx])
			val = cl->params.val[idx];
		else if (idx >= 0)
			param_set_put(cl->c.w, &cl->params, idx, val);
		pkt_param_status(pb, name, val);
	}
	pkt_backend_key(pb, cl->cancel_pid, cl->cancel_key);
	pkt_ready(pb, 'I');
	return conn_send_pkt(&cl->c, pb);
}

void client_login_done(struct client *cl)
{
	if (!client_send_welcome(cl))
		return;
	pool_change_client(cl, CL_IDLE);
	conn_process(&cl->c);
}

void client_linked(struct client *cl)
{
	if (cl->authq) {	/* a login's lookup, not the client's own query */
		authq_linked(cl);
		return;
	}
	stats_assigned(cl);
	conn_process(&cl->c);
}

/* the secret lives only while the exchange does */
static void client_free_secret(struct client *cl)
{
	if (!cl->secret)
		return;
	secret_free(cl->secret);
	free(cl->secret);
	cl->secret = NULL;
}

/* A replication client gets a server of its own, launched now with its
 * startup parameters; the client stays in login until that server is in
 * (pool.c links them then).  Under PAUSE, as in PgBouncer, nothing is
 * launched: the client waits, authenticated, in wait_login until RESUME
 * (pool_pair calls this again) or query_wait_timeout. */
void client_repl_launch(struct client *cl)
{
	struct pool *pool = cl->pool;
	struct server *sv;
	const char *limit;

	if (cl->c.w->shutdown) {
		client_fail(cl, "57P01", "pgring is shutting down");
		return;
	}
	if (admin_pool_held(pool)) {
		if (cl->state != CL_WAIT_LOGIN)
			pool_change_client(cl, CL_WAIT_LOGIN);
		return;
	}
	if (cl->state == CL_WAIT_LOGIN)
		pool_change_client(cl, CL_LOGIN);
	if ((limit = pool_repl_limit(pool))) {
		client_fail(cl, "53300", "no more connections allowed (%s)", limit);
		return;
	}
	sv = server_launch(pool);
	if (!sv) {
		client_fail(cl, "08006", "server login failed: %s", pool->last_error);
		return;
	}
	sv->repl_owner = cl;
	cl->repl_server = sv;
}

static void auth_ok(struct client *cl)
{
	struct worker *w = cl->c.w;
	const struct config *cfg = w->cfg;
	const struct db_conf *db = config_find_db(cfg, cl->dbname);
	const char *limit;
	struct pool *pool;

	if (!db)
		db = cfg->fallback_db;
	/* the password is proven: only now may the client learn the database is unknown */
	if (!db && !admin_console_db(cl->dbname)) {
		client_fail(cl, "3D000", "no such database: %s", cl->dbname);
		return;
	}
	pkt_auth(&w->tmp, 0, NULL, 0);
	if (!conn_send_pkt(&cl->c, &w->tmp))
		return;
	if (admin_console_db(cl->dbname)) {
		if (cl->replication) {
			client_fail(cl, "08P01", "replication connections to the admin console are not supported");
			return;
		}
		admin_login(cl);
		return;
	}
	if (admin_db_refused(cl))
		return;
	pool = pool_get_repl(w, cl->dbname, db && db->user ? db->user : cl->user, cl->replication);
	if (!pool) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	cl->pool = pool;
	pool_ref(pool);
	if (pool_client_limit_reached(cl, &limit)) {
		client_fail(cl, "53300", "%s", limit);
		return;
	}
	if (cl->scram && cl->secret->kind == SECRET_SCRAM &&
	    !strcmp(pool->user, cl->user)) {
		/* PgBouncer's trick: with only a verifier, log in to PostgreSQL
		 * with the keys this client just proved it has */
		memcpy(pool->scram_client_key, cl->scram->client_key, SCRAM_KEY_LEN);
		memcpy(pool->scram_server_key, cl->secret->server_key, SCRAM_KEY_LEN);
		pool->have_scram_keys = true;
	}
	if (cl->authq_found)
		authq_remember(cl, pool);
	scram_server_free(cl->scram);
	cl->scram = NULL;
	client_free_secret(cl);
	if (cfg->log_connections) {
		char tls[128];

		tls_info(&cl->c, tls, sizeof(tls));
		client_log(cl, LOG_LVL_LOG, "login attempt: db=%s user=%s tls=%s%s%s", cl->dbname,
			   cl->user, *tls ? tls : "no", cl->replication ? " replication=" : "",
			   cl->replication ? proto_replication_name(cl->replication) : "");
	}
	pool->stats.total.client_login_count++;
	if (cl->replication) {
		client_repl_launch(cl);
		return;
	}
	if (pool_fast_fail(cl))
		return;
	if (pool->have_welcome) {
		client_login_done(cl);
		return;
	}
	pool_change_client(cl, CL_WAIT_LOGIN);
	pool_pair(pool);
}

static void auth_failed(struct client *cl, const char *why)
{
	client_log(cl, LOG_LVL_LOG, "%s", why);
	client_fail(cl, "28P01", "password authentication failed for user \"%s\"", cl->user);
}

static void send_auth_request(struct client *cl, uint32_t code, const void *data, size_t len,
			      enum client_auth next)
{
	pkt_auth(&cl->c.w->tmp, code, data, len);
	if (!conn_send_pkt(&cl->c, &cl->c.w->tmp))
		return;
	cl->auth_state = (uint8_t)next;
}

/* PgBouncer's rule: the user pgbouncer may use the console without a
 * password when it comes over the unix socket from pgring's own uid */
static bool console_by_own_uid(struct client *cl)
{
	struct ucred uc;
	socklen_t ulen = sizeof(uc);

	if (cl->c.addr.family != AF_UNIX || strcmp(cl->user, "pgbouncer") ||
	    !admin_console_db(cl->dbname))
		return false;
	++*loop_syscalls(cl->c.w->loop);
	if (getsockopt(cl->c.sock.fd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) < 0)
		return false;
	++*loop_syscalls(cl->c.w->loop);
	return uc.uid == geteuid();
}

/*
 * md5 mode: what a user that does not exist is offered.  A user with a SCRAM
 * verifier gets SASL, one with a plain or md5 secret gets md5; an unknown
 * one gets what most auth_file users get, as PostgreSQL's mock follows
 * password_encryption, the kind its roles are most likely stored as.
 * (PgBouncer always offers md5 there, which tells the SCRAM users apart.)
 */
static bool unknown_gets_scram(const struct worker *w)
{
	const struct userlist *ul = w->users;

	return !ul || ul->nscram * 2 >= ul->n;
}

/*
 * A user that does not exist: an exchange that fails whatever the client
 * sends, and tells nothing.  For SCRAM, the salt is the one a plain
 * auth_file password gets (HMAC of the name under the server secret: the
 * same on every try), the iteration count is scram_iterations, and the
 * keys are random: no key derivation, so no CPU to buy (PostgreSQL's
 * scram_mock_salt).  Otherwise a random plain password.
 */
static int mock_secret(struct client *cl, bool scram)
{
	struct worker *w = cl->c.w;
	uint8_t rnd[16];
	char hex[33];

	cl->fake_auth = true;
	if (!cl->fake_why)
		cl->fake_why = "no such user";
	secret_free(cl->secret);
	if (scram) {
		kdf_stats(w->kdf)->mocked++;
		client_log(cl, LOG_LVL_DEBUG, "SCRAM mock exchange (%s): no key derivation",
			   cl->fake_why);
		return auth_scram_mock(w->server_secret, cl->user, w->cfg->scram_iterations,
				       cl->secret);
	}
	if (auth_random(rnd, sizeof(rnd)) < 0)
		return -EIO;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return secret_parse(hex, cl->secret);
}

/* Unknown user (or one auth_query did not return): the same exchange runs
 * against a mock secret, so the client cannot tell (it is logged); SCRAM
 * where the method would offer it.  false: cl failed. */
static bool fake_secret(struct client *cl)
{
	int auth = cl->auth_method;
	bool scram = auth != AUTH_TYPE_PLAIN && (auth != AUTH_TYPE_MD5 || unknown_gets_scram(cl->c.w));

	if (mock_secret(cl, scram) < 0) {
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	return true;
}

static void auth_challenge(struct client *cl);

/* Methods that ask no password: trust, any, and peer or cert already proven */
static bool no_password(int auth)
{
	return auth == AUTH_TYPE_TRUST || auth == AUTH_TYPE_ANY || auth == AUTH_TYPE_PEER ||
	       auth == AUTH_TYPE_CERT;
}

/* A passwordless method for a role neither auth_file nor auth_query knows:
 * the method's own failure, in PostgreSQL's words (PgBouncer refuses too) */
static void unknown_user_fail(struct client *cl)
{
	if (cl->auth_method == AUTH_TYPE_TRUST)
		client_fail(cl, "28000", "\"trust\" authentication failed");
	else if (cl->auth_method == AUTH_TYPE_CERT)
		client_fail(cl, "28000", "certificate authentication failed for user \"%s\"", cl->user);
	else
		client_fail(cl, "28000", "Peer authentication failed for user \"%s\"", cl->user);
}

void client_auth_lookup_done(struct client *cl)
{
	if (no_password(cl->auth_method)) {
		/* trust, and peer or cert whose name is already checked, ask
		 * no password but want the user to exist (PgBouncer too); the
		 * secret stays for auth_ok, which keeps it for the server logins */
		if (cl->authq_found) {
			auth_ok(cl);
			return;
		}
		client_log(cl, LOG_LVL_LOG, "%s", cl->fake_why ? cl->fake_why : "no such user");
		unknown_user_fail(cl);
		return;
	}
	if (!cl->secret) {
		cl->secret = calloc(1, sizeof(*cl->secret));
		if (!cl->secret) {
			client_fail(cl, "53200", "out of memory");
			return;
		}
		if (!fake_secret(cl))
			return;
	}
	auth_challenge(cl);
}

static void start_auth(struct client *cl)
{
	struct worker *w = cl->c.w;
	const struct config *cfg = w->cfg;
	const struct db_conf *db = config_find_db(cfg, cl->dbname);
	const struct userlist_entry *ue = w->users ? userlist_find(w->users, cl->user) : NULL;
	bool console = admin_console_db(cl->dbname);
	int auth = cfg->auth_type;

	if (!db)
		db = cfg->fallback_db;
	if (console && console_by_own_uid(cl)) {
		cl->admin = true;
		auth_ok(cl);
		return;
	}
	/* the first hba rule that matches picks the method (or refuses) */
	if (auth == AUTH_TYPE_HBA && !client_hba_method(cl, &auth))
		return;
	if (auth == AUTH_TYPE_CERT && cfg->auth_type == AUTH_TYPE_CERT && !client_cert_login(cl))
		return;
	cl->auth_method = auth;
	if (!ue && authq_wanted(cl)) {	/* client_auth_lookup_done goes on */
		authq_start(cl);
		return;
	}
	if (no_password(auth)) {
		if (!db && !console) {
			client_fail(cl, "08P01", "no such database: %s", cl->dbname);
			return;
		}
		/* trust, peer and cert still want the user in auth_file, a
		 * forced user= or not (PgBouncer's documentation, and its words) */
		if (auth != AUTH_TYPE_ANY && !ue) {
			client_log(cl, LOG_LVL_LOG, "no such user: %s", cl->user);
			unknown_user_fail(cl);
			return;
		}
		auth_ok(cl);
		return;
	}
	/* the secret lives only while the exchange does */
	cl->secret = calloc(1, sizeof(*cl->secret));
	if (!cl->secret) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	if (ue) {
		/* an unknown database is told after the password is proven (auth_ok) */
		if (secret_copy(cl->secret, &ue->secret) < 0) {
			client_fail(cl, "53200", "out of memory");
			return;
		}
	} else if (!fake_secret(cl)) {
		return;
	}
	auth_challenge(cl);
}

/* The request for the client's password, as the method (auth_type, or the
 * hba rule's) and the secret say */
static void auth_challenge(struct client *cl)
{
	static const char sasl_mechs[] = "SCRAM-SHA-256\0";
	/* over TLS, channel binding first: libpq takes the first it supports */
	static const char sasl_mechs_plus[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	int auth = cl->auth_method;

	if (auth == AUTH_TYPE_PLAIN) {
		send_auth_request(cl, 3, NULL, 0, CA_PLAIN);
	} else if (auth == AUTH_TYPE_MD5 && cl->secret->kind != SECRET_SCRAM) {
		auth_random(cl->md5_salt, sizeof(cl->md5_salt));
		send_auth_request(cl, 5, cl->md5_salt, 4, CA_MD5);
	} else {
		/* scram-sha-256, or md5 with a SCRAM secret (as PgBouncer does) */
		if (tls_active(&cl->c))
			send_auth_request(cl, 10, sasl_mechs_plus, sizeof(sasl_mechs_plus),
					  CA_SCRAM_FIRST);
		else
			send_auth_request(cl, 10, sasl_mechs, sizeof(sasl_mechs), CA_SCRAM_FIRST);
	}
}

static const char *auth_fail_reason(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;

	if (!config_find_db(cfg, cl->dbname) && !cfg->fallback_db && !admin_console_db(cl->dbname))
		return "no such database";
	if (cl->fake_auth)
		return cl->fake_why ? cl->fake_why : "no such user";
	return cl->scram ? "SASL authentication failed" : "password authentication failed";
}

/* Channel binding for a TLS client: PLUS offered, and the data it binds to */
static bool scram_bind(struct client *cl, bool plus)
{
	uint8_t cb[64];
	int n = 0;

	if (!tls_active(&cl->c))
		return true;
	if (plus && (n = tls_server_end_point(&cl->c, cb, sizeof(cb))) <= 0) {
		client_fail(cl, "08P01", "could not compute channel binding data");
		return false;
	}
	if (scram_server_set_binding(cl->scram, true, plus, cb, n > 0 ? (size_t)n : 0) < 0) {
		client_fail(cl, "08P01", "invalid channel binding");
		return false;
	}
	return true;
}

static struct client *cl_of_kdf(struct kdf_waiter *wt)
{
	return list_entry(wt, struct client, kdf);
}

/* A login that would need a key derivation the queue has no room for */
static void kdf_refused(struct client *cl, int r)
{
	if (r == -ENOMEM) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	client_log(cl, LOG_LVL_WARNING, "login refused: %u key derivations queued (kdf_threads = %d)",
		   kdf_in_flight(cl->c.w->kdf), cl->c.w->cfg->kdf_threads);
	client_fail(cl, "53300", "too many logins waiting for key derivation");
}

/* After kdf_submit: the client waits for its job, or is refused */
static void kdf_wait(struct client *cl, int r)
{
	if (r < 0)
		kdf_refused(cl, r);
	else
		cl->auth_state = CA_KDF_WAIT;
}

/* server-first-message for the client-first in data, from cl->secret (a SCRAM secret) */
static void scram_first_reply(struct client *cl, const char *data, uint32_t dlen)
{
	const struct config *cfg = cl->c.w->cfg;
	char out[1024];
	int n;

	cl->scram = calloc(1, sizeof(*cl->scram));
	if (!cl->scram) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	if (scram_server_init(cl->scram, cl->secret, cfg->scram_iterations) < 0) {
		client_fail(cl, "08P01", "malformed SCRAM message");
		return;
	}
	if (!scram_bind(cl, cl->scram_plus))
		return;
	n = scram_server_first(cl->scram, data, dlen, out, sizeof(out));
	if (n < 0) {
		client_fail(cl, "08P01", "malformed SCRAM message");
		return;
	}
	send_auth_request(cl, 11, out, (size_t)n, CA_SCRAM_FINAL);
}

/* The auth_file entry whose plain password cl->secret copies, if it is
 * still the one loaded (a reload may have changed it meanwhile) */
static const struct userlist_entry *plain_entry(struct client *cl)
{
	const struct userlist_entry *ue = userlist_find(cl->c.w->users, cl->user);

	if (!ue || ue->secret.kind != SECRET_PLAIN || cl->secret->kind != SECRET_PLAIN ||
	    strcmp(ue->secret.text, cl->secret->text))
		return NULL;
	return ue;
}

/* cl->secret (plain) becomes the verifier v; v's keys are kept with the
 * auth_file entry when it still holds that password and v is of the
 * entry's userlist's scram_iterations (a SET may have come meanwhile) */
static int take_verifier(struct client *cl, struct secret *v)
{
	const struct userlist_entry *ue = plain_entry(cl);

	/* no memory for the copy: the next login derives again */
	if (ue && v->iterations == cl->c.w->cfg->scram_iterations)
		userlist_keep_client_keys(ue, v, NULL);
	secret_free(cl->secret);
	*cl->secret = *v;
	return 0;
}

static void warm_next(struct worker *w);

/* keys derived ahead for a plain auth_file entry: kept if it is still the
 * entry the job was for (a reload may have come in between) */
static void warm_done(struct kdf_waiter *wt, const struct kdf_job *job)
{
	struct worker *w = (struct worker *)((char *)wt - offsetof(struct worker, warm));
	const struct userlist_entry *ue = userlist_find(w->users, job->user);
	struct secret v;

	if (job->rc == 0 && ue && ue->secret.kind == SECRET_PLAIN && !userlist_client_keys(ue) &&
	    !strcmp(ue->secret.text, job->password) &&
	    job->iterations == w->cfg->scram_iterations &&
	    auth_scram_from_keys(job->client_key, job->server_key, job->salt, job->salt_len,
				 job->iterations, &v) == 0) {
		userlist_keep_client_keys(ue, &v, NULL);	/* no memory: derived at login */
		secret_free(&v);
		log_debug(w->log, "SCRAM keys of %s derived ahead in %llu us", job->user,
			  (unsigned long long)job->run_us);
	}
	warm_next(w);
}

/* The next plain entry without keys, on a kdf thread; a full queue ends
 * the warm-up (logins then derive on demand) */
static void warm_next(struct worker *w)
{
	const struct userlist *ul = w->users;
	const struct userlist_entry *ue;
	uint8_t salt[SCRAM_SALT_LEN];
	int r;

	if (ul != w->warm_ul) {
		w->warm_ul = ul;
		w->warm_next = 0;
	}
	while (ul && w->warm_next < ul->n && !w->shutdown) {
		ue = &ul->ents[w->warm_next++];
		/* keys there (of any count: the list keeps one, its snapshots'
		 * scram_iterations), another worker's included: none to derive */
		if (ue->secret.kind != SECRET_PLAIN || userlist_client_keys(ue))
			continue;
		if (auth_mock_salt(w->server_secret, ue->name, salt) < 0)
			continue;
		r = kdf_submit(w->kdf, ue->name, ue->secret.text, salt, sizeof(salt),
			       w->cfg->scram_iterations, true, &w->warm, warm_done);
		if (r == 0 || r == -EAGAIN)
			return;	/* one at a time; a full queue ends it */
	}
}

/* Plain auth_file passwords get SCRAM keys ahead only where SCRAM can run
 * on them: auth_type = scram-sha-256, or an hba file with such a rule */
static bool warm_wanted(const struct config *cfg)
{
	return cfg->auth_type == AUTH_TYPE_SCRAM ||
	       (cfg->auth_type == AUTH_TYPE_HBA && hba_has_method(cfg->hba, HBA_SCRAM));
}

void client_kdf_warm(struct worker *w)
{
	if (!w->kdf || !warm_wanted(w->cfg))
		return;
	kdf_unwait(&w->warm);
	w->warm_ul = NULL;	/* from the first entry again */
	warm_next(w);
}

static void plain_keys_done(struct kdf_waiter *wt, const struct kdf_job *job)
{
	struct client *cl = cl_of_kdf(wt);
	struct secret v;

	if (job->rc < 0 || auth_scram_from_keys(job->client_key, job->server_key, job->salt,
						job->salt_len, job->iterations, &v) < 0) {
		client_log(cl, LOG_LVL_ERROR, "SCRAM key derivation failed");
		client_fail(cl, "XX000", "SCRAM key derivation failed");
		return;
	}
	client_log(cl, LOG_LVL_DEBUG, "SCRAM keys derived off the loop in %llu us",
		   (unsigned long long)job->run_us);
	take_verifier(cl, &v);
	scram_first_reply(cl, cl->kdf_msg, cl->kdf_msg_len);
	free(cl->kdf_msg);
	cl->kdf_msg = NULL;
}

/*
 * SCRAM with a plain auth_file password: keys over the user's salt (the
 * mock salt: unknown users look the same) and scram_iterations, derived
 * once per process on a kdf thread, then kept with the entry.
 */
static void scram_plain_first(struct client *cl, const char *data, uint32_t dlen)
{
	struct worker *w = cl->c.w;
	const struct userlist_entry *ue = plain_entry(cl);
	const struct secret *keys = ue ? userlist_client_keys(ue) : NULL;
	uint8_t salt[SCRAM_SALT_LEN];
	struct secret v;
	int r;

	/* keys of another count are not this snapshot's: derive, uncached */
	if (keys && keys->iterations == w->cfg->scram_iterations) {
		if (secret_copy(&v, keys) < 0) {
			client_fail(cl, "53200", "out of memory");
			return;
		}
		kdf_stats(w->kdf)->cache_hits++;
		client_log(cl, LOG_LVL_DEBUG, "SCRAM keys from the cache");
		take_verifier(cl, &v);
		scram_first_reply(cl, data, dlen);
		return;
	}
	if (!(cl->kdf_msg = malloc(dlen ? dlen : 1))) {
		client_fail(cl, "53200", "out of memory");
		return;
	}
	memcpy(cl->kdf_msg, data, dlen);
	cl->kdf_msg_len = dlen;
	if (auth_mock_salt(w->server_secret, cl->user, salt) < 0) {
		client_fail(cl, "XX000", "SCRAM key derivation failed");
		return;
	}
	r = kdf_submit(w->kdf, cl->user, cl->secret->text, salt, sizeof(salt),
		       w->cfg->scram_iterations, true, &cl->kdf, plain_keys_done);
	kdf_wait(cl, r);
}

static void scram_first(struct client *cl, const uint8_t *body, uint32_t len)
{
	const char *mech;
	uint32_t dlen;
	const uint8_t *data;

	if (proto_read_sasl_initial(body, len, &mech, &data, &dlen) < 0 ||
	    (strcmp(mech, "SCRAM-SHA-256") &&
			       (strcmp(mech, "SCRAM-SHA-256-PLUS") || !tls_active(&cl->c)))) {
		client_fail(cl, "08P01", "invalid SASL initial response");
		return;
	}
	cl->scram_plus = !strcmp(mech, "SCRAM-SHA-256-PLUS");
	if (cl->secret->kind != SECRET_PLAIN && cl->secret->kind != SECRET_SCRAM) {
		/* an md5 secret (or none) cannot do SCRAM: fail like a wrong password */
		cl->fake_why = cl->secret->kind == SECRET_MD5 ? "md5 secret cannot do SCRAM" :
			       "empty password";
		if (mock_secret(cl, true) < 0) {
			client_fail(cl, "53200", "out of memory");
			return;
		}
	}
	if (cl->secret->kind == SECRET_PLAIN) {
		scram_plain_first(cl, (const char *)data, dlen);
		return;
	}
	scram_first_reply(cl, (const char *)data, dlen);
}

static void auth_scram(struct client *cl, const uint8_t *body, uint32_t len)
{
	char out[1024];
	int n;

	if (cl->auth_state == CA_SCRAM_FIRST) {
		scram_first(cl, body, len);
		return;
	}
	n = scram_server_final(cl->scram, (const char *)body, len, out, sizeof(out));
	if (n == -EINVAL) {
		client_fail(cl, "08P01", "malformed SCRAM message");
		return;
	}
	if (n < 0 || cl->fake_auth) {
		auth_failed(cl, auth_fail_reason(cl));
		return;
	}
	send_auth_request(cl, 12, out, (size_t)n, CA_NONE);
	auth_ok(cl);
}

static void plain_check_done(struct kdf_waiter *wt, const struct kdf_job *job)
{
	struct client *cl = cl_of_kdf(wt);

	client_log(cl, LOG_LVL_DEBUG, "SCRAM keys derived off the loop in %llu us",
		   (unsigned long long)job->run_us);
	if (job->rc < 0 || !auth_scram_keys_match(cl->secret, job->client_key, job->server_key)) {
		auth_failed(cl, auth_fail_reason(cl));
		return;
	}
	cl->auth_state = CA_NONE;
	auth_ok(cl);
}

/* auth_type = plain against a SCRAM verifier: PBKDF2 with the verifier's
 * iterations, on a kdf thread */
static void plain_vs_verifier(struct client *cl, const char *pw)
{
	const struct secret *sec = cl->secret;
	int r;

	r = kdf_submit(cl->c.w->kdf, cl->user, pw, sec->salt, sec->salt_len, sec->iterations,
		       false, &cl->kdf, plain_check_done);
	kdf_wait(cl, r);
}

static void auth_response(struct client *cl, const uint8_t *body, uint32_t len)
{
	const char *pw;
	bool ok;

	switch (cl->auth_state) {
	case CA_PLAIN:
	case CA_MD5:
		pw = proto_read_password(body, len);
		if (!pw) {
			client_fail(cl, "08P01", "invalid password packet");
			return;
		}
		if (cl->auth_state == CA_PLAIN && cl->secret->kind == SECRET_SCRAM &&
		    !cl->fake_auth) {
			plain_vs_verifier(cl, pw);
			return;
		}
		if (cl->auth_state == CA_PLAIN)
			ok = auth_plain_check(cl->secret, cl->user, pw);
		else
			ok = auth_md5_check(cl->secret, cl->user, cl->md5_salt, pw);
		if (!ok || cl->fake_auth) {
			auth_failed(cl, auth_fail_reason(cl));
			return;
		}
		cl->auth_state = CA_NONE;
		auth_ok(cl);
		return;
	case CA_SCRAM_FIRST:
	case CA_SCRAM_FINAL:
		auth_scram(cl, body, len);
		return;
	default:
		client_fail(cl, "08P01", "unexpected password packet");
		return;
	}
}

/* ---- startup ---- */

void client_cancel_done(struct client *req)
{
	req->cancel_conn = NULL;
	client_close(req, NULL);
}

static void handle_cancel(struct client *req, uint32_t pid, uint32_t key)
{
	struct client *cl = client_cancel_target(req->c.w, pid, key);

	log_debug(req->c.w->log, "cancel request for key %08x: %s", pid,
		  !cl ? "no such client here" : cl->server && cl->state == CL_ACTIVE ?
		  "its query is canceled" : "its client is idle");
	pool_change_client(req, CL_CANCEL);	/* off the login list, or it outlives req */
	cancel_ix_del(req);	/* a cancel connection is no cancel target */
	if (cl && cl != req && cl->server && cl->state == CL_ACTIVE) {
		server_send_cancel(req, cl);	/* req closes once the cancel is out */
		return;
	}
	/* a key of another process behind the same address: it goes there */
	if (!cl && server_forward_cancel(req, pid, key))
		return;
	/* a key of another worker of this process: it is asked */
	if (!cl && xcancel_route(req, pid, key))
		return;
	/* as PostgreSQL: no answer, the connection just closes */
	client_close(req, NULL);
}

static bool startup_param_allowed(const struct worker *w, const char *name)
{
	const struct config *cfg = w->cfg;

	if (param_lookup(w, name) >= 0 || !strcmp(name, "options") || !strcmp(name, "replication"))
		return true;
	return config_list_has(cfg->ignore_startup_parameters, name);
}

/* The options startup parameter, as PgBouncer takes it: each setting of a
 * tracked parameter becomes the client's (and follows it from server to
 * server); one in ignore_startup_parameters, or any when "options" itself is
 * there, is dropped; any other is refused, since no server would have it. */
static bool apply_options(struct client *cl, const char *opts)
{
	struct worker *w = cl->c.w;
	const char *ignore = w->cfg->ignore_startup_parameters;
	struct startup_opt o[STARTUP_MAX_PARAMS];
	char buf[PROTO_STARTUP_MAX];
	const char *why = NULL;
	int n;

	if (strlen(opts) >= sizeof(buf)) {	/* the startup packet bounds it */
		client_fail(cl, "08P01", "unsupported options startup parameter: parameter too long");
		return false;
	}
	n = proto_parse_options(opts, buf, o, STARTUP_MAX_PARAMS, &why);
	if (n < 0) {
		client_fail(cl, "08P01", "%s", why);
		return false;
	}
	for (int i = 0; i < n; i++) {
		int idx = param_lookup(w, o[i].name);

		if (idx >= 0) {
			param_set_put(w, &cl->params, idx, o[i].value);
			if (!cl->params.val[idx] || strcmp(cl->params.val[idx], o[i].value)) {
				client_fail(cl, "53200", "out of memory");
				return false;
			}
		} else if (!config_list_has(ignore, o[i].name) && !config_list_has(ignore, "options")) {
			client_fail(cl, "08P01", "unsupported startup parameter in options: %s",
				    o[i].name);
			return false;
		}
	}
	return true;
}

/* The client's address as PgBouncer's application_name_add_host shows it:
 * "127.0.0.1:5000", "[::1]:5000", "unix(PID@HOST):PORT" */
static void appname_host(struct client *cl, char *buf, size_t len)
{
	char addr[NET_ADDR_TEXT], host[256];
	struct ucred uc;
	socklen_t ulen = sizeof(uc);

	net_addr_text(&cl->c.addr, addr, sizeof(addr));
	if (cl->c.addr.family == AF_INET6) {
		snprintf(buf, len, "[%s]:%d", addr, cl->c.addr.port);
	} else if (cl->c.addr.family == AF_UNIX &&
		   getsockopt(cl->c.sock.fd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) == 0 && uc.pid) {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "somehost");
		host[sizeof(host) - 1] = '\0';
		snprintf(buf, len, "%s(%ld@%s):%d", addr, (long)uc.pid, host, cl->c.w->cfg->listen_port);
	} else {
		snprintf(buf, len, "%s:%d", addr, cl->c.addr.family == AF_UNIX ?
			 cl->c.w->cfg->listen_port : cl->c.addr.port);
	}
}

/* application_name_add_host: once, at login; a later SET is the client's own */
static bool add_host_to_appname(struct client *cl)
{
	const char *app = cl->params.val[PARAM_APPLICATION_NAME];
	char where[320], val[400];

	appname_host(cl, where, sizeof(where));
	snprintf(val, sizeof(val), "%s - %s", app ? app : "app", where);
	param_set_put(cl->c.w, &cl->params, PARAM_APPLICATION_NAME, val);
	return cl->params.val[PARAM_APPLICATION_NAME] &&
	       !strcmp(cl->params.val[PARAM_APPLICATION_NAME], val);
}

/* A replication client's server is its own: every parameter it sent
 * (options included) goes to PostgreSQL as sent, and PostgreSQL judges them */
static bool keep_repl_params(struct client *cl, const struct startup_params *sp)
{
	struct pktbuf *pb = &cl->repl_params;

	for (int i = 0; i < sp->n; i++) {
		if (!strcmp(sp->names[i], "replication"))
			continue;	/* pgring writes it, from the mode */
		pkt_str(pb, sp->names[i]);
		pkt_str(pb, sp->values[i]);
	}
	if (pb->failed) {
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	return true;
}

static bool handle_startup(struct client *cl, const uint8_t *body, uint32_t len)
{
	const struct config *cfg = cl->c.w->cfg;
	struct startup_params sp;
	const char *why = NULL;
	static const char no = 'N';

	if (proto_parse_startup(body, len, &sp, &why) < 0) {
		client_fail(cl, "08P01", "%s", why);
		return false;
	}
	if (sp.code == PROTO_SSL_CODE || sp.code == PROTO_GSSENC_CODE) {
		/* bytes sent before the handshake were not encrypted, and may come
		 * from a man in the middle (CVE-2021-23214): refused */
		if (conn_unread(&cl->c)) {
			client_fail(cl, "08P01", "received unencrypted data after %s request",
				    sp.code == PROTO_SSL_CODE ? "SSL" : "GSSAPI encryption");
			return false;
		}
		if (sp.code == PROTO_SSL_CODE && cl->c.tls) {
			client_close(cl, "SSL req inside SSL");
			return false;
		}
		if (sp.code == PROTO_SSL_CODE && client_tls_offered(cl)) {
			if (tls_accept(&cl->c, "S", 1, false) < 0) {
				client_close(cl, "failed to accept SSL");
				return false;
			}
			return true;
		}
		/* a single 'N' and the client goes on in clear text */
		pkt_bytes(&cl->c.w->tmp, &no, 1);
		return conn_send_pkt(&cl->c, &cl->c.w->tmp);
	}
	if (sp.code == PROTO_CANCEL_CODE) {
		handle_cancel(cl, sp.cancel_pid, sp.cancel_key);
		return false;
	}
	/* PgBouncer's rule: TCP clients only, the unix socket is trusted */
	if (tls_client_sslmode(cl->c.w) >= TLS_REQUIRE && !cl->c.tls &&
	    cl->c.addr.family != AF_UNIX) {
		client_fail(cl, "08P01", "SSL required");
		return false;
	}
	/* as PostgreSQL: say what 3.0 lacks, then log in with 3.0 */
	if (proto_needs_negotiation(&sp)) {
		pkt_negotiate_version(&cl->c.w->tmp, &sp);
		if (!conn_send_pkt(&cl->c, &cl->c.w->tmp)) {
			client_close(cl, "could not queue NegotiateProtocolVersion");
			return false;
		}
	}
	/* checked here, after SSLRequest has had its 'N' and a CancelRequest
	 * has gone through, so that libpq shows the client this error */
	if (limit_count(&cl->c.w->proc->clients) > (unsigned)cfg->max_client_conn) {
		client_fail(cl, "53300", "no more connections allowed (max_client_conn)");
		return false;
	}
	/* PostgreSQL's NAMEDATALEN: its names have at most 63 bytes */
	if (strlen(sp.user) >= 64 || strlen(sp.database) >= 64) {
		client_fail(cl, "08P01", "user or database name too long");
		return false;
	}
	cl->user = param_intern(cl->c.w, sp.user);
	cl->dbname = param_intern(cl->c.w, sp.database);
	if (!cl->user || !cl->dbname) {
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	if (startup_get(&sp, "replication")) {
		int mode = proto_replication_mode(startup_get(&sp, "replication"));

		if (mode < 0) {
			client_fail(cl, "22023", "invalid value for parameter \"replication\": \"%s\"",
				    startup_get(&sp, "replication"));
			return false;
		}
		cl->replication = (uint8_t)mode;
	}
	if (cl->replication && !keep_repl_params(cl, &sp))
		return false;
	/* before the other parameters, which win over it as in PostgreSQL */
	if (!cl->replication && startup_get(&sp, "options") &&
	    !apply_options(cl, startup_get(&sp, "options")))
		return false;
	for (int i = 0; i < sp.n; i++) {
		int idx = param_lookup(cl->c.w, sp.names[i]);

		if (!cl->replication && !startup_param_allowed(cl->c.w, sp.names[i])) {
			client_fail(cl, "08P01", "unsupported startup parameter: %s", sp.names[i]);
			return false;
		}
		if (idx >= 0)
			param_set_put(cl->c.w, &cl->params, idx, sp.values[i]);
	}
	if (cfg->application_name_add_host && !add_host_to_appname(cl)) {
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	cl->c.fr.untyped = false;
	cl->c.fr.max_len = cfg->max_packet_size > 4 && cfg->max_packet_size < INT32_MAX ?
			   (uint32_t)cfg->max_packet_size - 4 : (uint32_t)INT32_MAX;
	start_auth(cl);
	return cl->state != CL_CLOSING;
}

/* ---- the stream ---- */

/* A message type a logged-in client may send; anything else would make
 * PostgreSQL drop the connection, and the pooled server with it. */
static bool frontend_type_ok(struct client *cl, uint8_t type)
{
	if (type && strchr("QPBDECHSFdcf", type))
		return true;
	client_fail(cl, "08P01", "unsupported message type '%c'",
		    type >= 32 && type < 127 ? type : '?');
	return false;
}

/* disable_pqexec: a simple Query (which may carry several statements, the
 * stuff of SQL injection) ends the session, as in PgBouncer; the console is
 * exempt */
static bool pqexec_refused(struct client *cl, uint8_t type)
{
	if (type != 'Q' || !cl->c.w->cfg->disable_pqexec)
		return false;
	client_log(cl, LOG_LVL_ERROR, "client used \"Query\" packet type");
	client_fail(cl, "08P01", "PQexec disallowed");
	return true;
}

static enum msg_action client_on_header(struct conn *c, uint8_t type, uint32_t len)
{
	struct client *cl = cl_of(c);
	struct server *sv;

	if (cl->console)
		return (enum msg_action)admin_on_header(cl, type, len);
	if (cl->authq)
		return ACT_WAIT;	/* nothing of an unproven client reaches the auth server */
	switch (cl->state) {
	case CL_LOGIN:
		if (c->fr.untyped)
			return ACT_CONSUME;
		if (type != 'p' || cl->auth_state == CA_NONE) {
			client_fail(cl, "08P01", "expected a password response, got message type '%c'",
				    type >= 32 && type < 127 ? type : '?');
			return ACT_CLOSE;
		}
		if (len > AUTH_MSG_MAX) {
			client_fail(cl, "08P01", "password packet too long");
			return ACT_CLOSE;
		}
		return ACT_CONSUME;
	case CL_IDLE:
		if (type == 'X')
			return ACT_CONSUME;
		if (!frontend_type_ok(cl, type) || pqexec_refused(cl, type))
			return ACT_CLOSE;
		pool_want_server(cl);
		if (cl->state != CL_ACTIVE)
			return cl->state == CL_CLOSING ? ACT_CLOSE : ACT_WAIT;
		break;
	case CL_ACTIVE:
		if (type == 'X')
			return ACT_CONSUME;
		if (!frontend_type_ok(cl, type) || pqexec_refused(cl, type))
			return ACT_CLOSE;
		break;
	case CL_WAIT_LOGIN:
	case CL_WAITING:
		return ACT_WAIT;
	default:
		return ACT_CLOSE;
	}
	if (prep_client_must_wait(cl, type))
		return ACT_WAIT;	/* until the pipeline before it is answered */
	sv = cl->server;
	if (sv->outstanding == 0 && !sv->unsynced)
		sv->query_start_us = loop_now_us(c->w->loop);
	switch (type) {
	case 'Q':
	case 'S':
	case 'F':
		sv->outstanding++;
		sv->unsynced = false;
		break;
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'H':
		sv->unsynced = true;
		break;
	default:
		break;	/* CopyData/CopyDone/CopyFail belong to the query before them */
	}
	stats_request(cl, type);
	c->request_time_us = loop_now_us(c->w->loop);
	switch (prep_client_header(cl, type)) {
	case PREP_CONSUME:
		return ACT_CONSUME;	/* rewritten for the server in client_on_message */
	case PREP_DROP:
		return ACT_DROP;	/* answered or replaced already */
	case PREP_REPLACE_HEAD:
		return ACT_REPLACE_HEAD;	/* names rewritten, the rest streams */
	case PREP_CLOSED:
		return ACT_CLOSE;
	default:
		return ACT_FORWARD;
	}
}

static bool client_on_message(struct conn *c, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct client *cl = cl_of(c);

	if (cl->state == CL_LOGIN) {
		if (!type)
			return handle_startup(cl, body, len);
		auth_response(cl, body, len);
		return cl->state != CL_CLOSING;
	}
	if (type == 'X') {
		client_close(cl, "client close request");
		return false;
	}
	if (cl->console)
		return admin_on_message(cl, type, body, len);
	/* consumed only by prep_client_header() */
	if (type == 'P' || type == 'B' || type == 'D' || type == 'C')
		return prep_client_message(cl, type, body, len);
	return true;
}

static void client_on_eof(struct conn *c, int err)
{
	struct client *cl = cl_of(c);

	if (err == -EBADMSG || err == -EMSGSIZE || err == -EFBIG) {
		client_fail(cl, "08P01", "%s", err == -EBADMSG ? "invalid packet length" :
			    err == -EFBIG ? "message too long (max_packet_size)" :
			    "message too long for pgring to inspect");
		return;
	}
	client_close(cl, err ? "client connection error" : "client unexpected eof");
}

static void client_on_drain(struct conn *c)
{
	if (c->peer)
		conn_process(c->peer);
}

static void client_on_free(struct conn *c)
{
	struct client *cl = cl_of(c);
	struct worker *w = c->w;

	cancel_ix_del(cl);
	loop_timer_stop(w->loop, &cl->authq_timer);
	prep_client_free(cl);
	if (cl->pool)
		pool_unref(cl->pool);
	client_free_secret(cl);
	kdf_unwait(&cl->kdf);
	free(cl->kdf_msg);
	pkt_free(&cl->repl_params);
	param_set_free(cl->c.w, &cl->params);
	param_unintern(cl->c.w, cl->user);
	param_unintern(cl->c.w, cl->dbname);
	scram_server_free(cl->scram);
	free(cl);
	w->nclient_socks--;
	if (w->client_sock_gone)
		w->client_sock_gone(w);
}

static const struct conn_ops client_ops = {
	.on_header = client_on_header,
	.on_message = client_on_message,
	.on_eof = client_on_eof,
	.on_drain = client_on_drain,
	.on_free = client_on_free,
};
