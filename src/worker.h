/* worker.h - the runtime objects: worker, connections (client and server), pools */
#ifndef PGRING_WORKER_H
#define PGRING_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth.h"
#include "config.h"
#include "hosts.h"
#include "dns.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "prepared.h"
#include "proto.h"
#include "admin.h"
#include "stats.h"
#include "tls.h"
#include "userlist.h"
#include "kdf.h"
#include "limitctr.h"

struct worker;
struct istr_table;
struct pool;
struct client;
struct server;
struct xcancel;

/* ---- the byte stream of one socket (conn.c) ---- */

#define OUTQ_SLOTS	64	/* slices a send queue holds before it grows */
#define OUTQ_MAX_SLOTS	65536	/* a queue past this is a bug: the conn fails, loudly */
#define OUTQ_BATCH	16	/* slices per sendmsg */
#define OUTQ_HIGH_BYTES	(256 * 1024)	/* over this, the peer stops feeding us */
#define OUTQ_POOL_MAX	8	/* pool buffers one send queue may pin; past it, heap copies */
#define OUTQ_COPY_CHUNK	4096	/* heap copies are gathered in buffers of at least this */
#define STARVED_RETRY_US	100000	/* safety net for receives parked on an empty pool */
#define INQ_HIGH_BUFS	8	/* received buffers held before recv pauses */
#define HOLD_MAX	5	/* header pieces held until a message is decided (5 bytes) */

/* What to do with the message whose header was just read. */
enum msg_action {
	ACT_FORWARD,		/* to the peer, untouched */
	ACT_PEEK,		/* to the peer, and gathered for on_message */
	ACT_CONSUME,		/* gathered for on_message, not forwarded */
	ACT_DROP,		/* neither */
	ACT_WAIT,		/* cannot decide yet: stop reading this stream */
	ACT_CLOSE,		/* the handler closed the connection */
	ACT_REPLACE_HEAD,	/* the handler sent the peer a new header and the first
				 * c->fwd_skip body bytes rewritten: the rest of the
				 * body goes to the peer untouched, by slices */
};

/* A client's Parse, Bind, Describe or Close is decided once this many body
 * bytes (or all of a shorter body) have arrived, so that on_header can read
 * the names it starts with (conn_peek_body) without gathering the message. */
#define CONN_PEEK_MIN	160

struct out_ent {
	struct loop_buf *buf;	/* holds a reference */
	uint32_t off, len;
};

/* A socket's send queue, lent from the worker while something is queued:
 * idle connections (most of them) hold none. */
struct out_block {
	struct out_block *next_free;	/* on the worker's free list */
	struct out_ent *ents;	/* inl, or a heap array once the queue grew */
	unsigned cap;
	struct out_ent inl[OUTQ_SLOTS];
	struct iovec iov[OUTQ_BATCH];
};

struct conn;
struct conn_ops {
	/* decide on a message; the conn's framer holds type and len */
	enum msg_action (*on_header)(struct conn *c, uint8_t type, uint32_t len);
	/* a PEEK/CONSUME message is complete in c->msg; false if c was closed */
	bool (*on_message)(struct conn *c, uint8_t type, const uint8_t *body, uint32_t len);
	/* EOF or an I/O error; the conn is to be closed */
	void (*on_eof)(struct conn *c, int err);
	/* the send queue drained below the high-water mark */
	void (*on_drain)(struct conn *c);
	/* every op is final and the fd closed: free the owner */
	void (*on_free)(struct conn *c);
	/* connect finished (server side): 0 or -errno */
	void (*on_connect)(struct conn *c, int res);
	/* server side: TLS is up, or PostgreSQL declined it and plaintext may go on */
	void (*on_tls)(struct conn *c);
};

struct conn {
	struct worker *w;
	const struct conn_ops *ops;
	struct conn *peer;		/* where forwarded messages go */
	struct loop_sock sock;
	struct loop_op rop, wop;
	uint64_t id;
	bool is_server;
	bool sniff;			/* a client's first bytes may be a TLS ClientHello */
	struct tls_conn *tls;		/* NULL: plain TCP (tls.c) */

	/* receive side */
	struct loop_buf *inq_head, *inq_tail;	/* chained by buf->next */
	uint32_t inq_off;		/* bytes of inq_head already used */
	unsigned inq_n;
	struct frame fr;
	bool decided;			/* the current message's action is known */
	uint8_t action;			/* enum msg_action of the current message */
	struct out_ent hold[HOLD_MAX];	/* header bytes not yet forwarded */
	int nhold;
	struct pktbuf msg;		/* gathered body of a PEEK/CONSUME message */
	uint32_t gather_max;		/* set by on_header: this message may be gathered
					 * up to this size (0: the default limit) */
	uint32_t fwd_skip;		/* ACT_REPLACE_HEAD: body bytes still to drop */
	bool want_recv;			/* recv should be armed */
	bool frozen;			/* SUSPEND: not read until RESUME (suspend.c) */
	bool recv_starved;		/* waiting for pool buffers */
	struct list_node starved_node;
	bool processing;

	/* send side */
	struct out_block *ob;		/* NULL while nothing is queued */
	unsigned out_head, out_n, out_inflight;
	unsigned out_pooled;		/* entries holding a pool buffer (<= OUTQ_POOL_MAX) */
	size_t out_bytes;
	bool self_blocked;		/* framing waits for our own queue to drain */
	bool send_failed;		/* a reply could not be queued: failing, sends nothing more */

	bool closing;
	bool close_after_send;
	bool freed;
	bool flush_queued;		/* a send is due at the end of the loop turn */

	/* addresses */
	struct net_addr addr;		/* the peer's */
	struct net_addr laddr;		/* ours */
	uint64_t connect_time_us;
	uint64_t request_time_us;
};

/* ---- tracked parameters (ParameterStatus that follow the client) ---- */
/* PgBouncer's five, then track_extra_parameters' (IntervalStyle by default) */
#define PARAM_BASE 5
#define PARAM_EXTRA_MAX 8
#define PARAM_COUNT (PARAM_BASE + PARAM_EXTRA_MAX)
#define PARAM_NAME_MAX 64
enum param_idx {
	PARAM_CLIENT_ENCODING = 0,
	PARAM_DATESTYLE,
	PARAM_TIMEZONE,
	PARAM_STANDARD_CONFORMING_STRINGS,
	PARAM_APPLICATION_NAME,
};
struct param_set {
	const char *val[PARAM_COUNT];	/* NULL = unknown; interned (pool.c) */
};

/* ---- client ---- */
enum client_state {
	CL_LOGIN = 0,		/* startup and auth */
	CL_WAIT_LOGIN,		/* authenticated, waiting for the pool's first server */
	CL_IDLE,		/* logged in, no server */
	CL_WAITING,		/* wants a server, queued on the pool */
	CL_ACTIVE,		/* linked to a server */
	CL_CANCEL,		/* a cancel request connection */
	CL_CLOSING,
};

struct client {
	struct conn c;
	enum client_state state;
	struct list_node node;		/* in the pool's (or worker's) list for the state */
	struct list_node all;		/* worker->clients */
	struct pool *pool;
	struct server *server;
	const char *user;		/* from the startup packet; interned (pool.c) */
	const char *dbname;
	struct param_set params;
	uint32_t cancel_key;		/* BackendKeyData pgring gave it: (id, key) */
	uint32_t cancel_pid;
	/* auth */
	const struct userlist_entry *ul;	/* may be NULL (fake auth) */
	struct secret *secret;		/* during authentication only */
	bool fake_auth;			/* unknown user/db: fail after the exchange */
	uint8_t auth_state;
	uint8_t md5_salt[4];
	struct scram_server *scram;
	const char *fake_why;		/* fake_auth: what the log says (static) */
	struct kdf_waiter kdf;		/* waiting for keys from kdf.c */
	char *kdf_msg;			/* the SASL first message that waits with it */
	uint32_t kdf_msg_len;
	bool admin;			/* "pgbouncer" by pgring's own uid over the unix
					 * socket: the console without a password */
	uint8_t console;		/* admin.c: 0, or a console client (enum console_role) */
	uint64_t query_start_us;	/* stats.c: the request being answered began */
	uint64_t xact_start_us;		/* stats.c: the transaction began */
	uint64_t wait_start_us;		/* entered CL_WAITING */
	bool wait_notified;		/* told of its wait (query_wait_notify) */
	uint64_t state_since_us;	/* entered its current state */
	/* a CancelRequest connection: the server connection carrying it */
	struct server *cancel_conn;
	struct client *cancel_next;	/* chain in worker->cancel_ix */
	bool cancel_indexed;
	/* a CancelRequest for another worker's client: waiting for its answer */
	struct xcancel *xc;
	/* a cancel for a peer, queued (by node) until the peer's pool_size allows */
	struct peer_pool *peer_wait;
	struct prep_client *prep;	/* named prepared statements (prepared.c) */
	/* a replication connection (enum repl_mode): its own server, launched
	 * for it at login with its startup parameters, closed with it */
	uint8_t replication;
	struct server *repl_server;	/* that server until it is linked */
	struct pktbuf repl_params;	/* its startup parameters, name NUL value NUL ... */
	int auth_method;		/* auth_type, or the method the hba rule gave */
	bool scram_plus;		/* the client chose SCRAM-SHA-256-PLUS (TLS) */
	/* auth_query (authquery.c): a user not in auth_file, looked up on a
	 * server of the auth user's pool, which the client waits in meanwhile */
	uint8_t authq;			/* enum authq_phase; 0: no lookup running */
	uint8_t authq_rows;		/* DataRows of the answer */
	bool authq_null;		/* the password came back NULL */
	bool authq_failed;		/* the query failed (logged) */
	bool authq_found;		/* cl->secret is auth_query's answer */
	struct loop_timer authq_timer;	/* the lookup's deadline: query_wait_timeout */
	/* the client counters of its database and login user it holds a
	 * unit of (max_db/user_client_connections), from login to close */
	struct limit_ctr *counted[3];
};

/* ---- server ---- */
enum server_state {
	SV_LOGIN = 0,		/* connecting, startup, auth */
	SV_IDLE,		/* ready, in the pool */
	SV_ACTIVE,		/* linked to a client */
	SV_USED,		/* running server_reset_query before going idle */
	SV_CANCEL,		/* carries one CancelRequest */
	SV_CLOSING,
};

struct server {
	struct conn c;
	enum server_state state;
	struct list_node node;
	struct pool *pool;
	struct client *client;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t pid, key;		/* PostgreSQL's BackendKeyData */
	struct param_set params;
	/* protocol accounting */
	int outstanding;		/* ReadyForQuery messages still to come for the client */
	int hidden;			/* ReadyForQuery messages of pgring's own queries */
	bool unsynced;			/* client sent messages not yet followed by Sync/Query */
	char txn_status;		/* of the last ReadyForQuery: I, T, E */
	uint64_t query_start_us;	/* outstanding went from 0 to 1 */
	uint64_t ready_at_us;		/* the last ReadyForQuery */
	/* login */
	struct scram_client *scram;
	struct kdf_waiter kdf;		/* its SCRAM keys come from kdf.c */
	char *kdf_msg;			/* the server-first-message that waits with it */
	uint32_t kdf_msg_len;
	bool login_sent;
	uint64_t last_used_us;
	/* the next ReadyForQuery ends a login or a server_check_query: it
	 * proves the server alive, so that pool_pair hands it over unchecked */
	bool proving;
	uint64_t proven_us;		/* when it last proved so */
	struct loop_timer timer;
	/* cancel connection payload: PostgreSQL's key of the target backend */
	uint32_t cancel_pid, cancel_key;
	/* the client whose query it cancels (its key to pgring) and the server it
	 * held; the client that asked, held open until the cancel is out */
	uint32_t cancel_cl_pid, cancel_cl_key;
	uint64_t cancel_target_id;
	unsigned cancel_owner;		/* the worker of that client (xcancel.c) */
	struct xcancel *xc;		/* asking it whether the client still holds the server */
	struct client *cancel_req;
	bool is_cancel;
	/* a cancel forwarded to this [peers] entry, not to PostgreSQL */
	struct peer_pool *peer;
	bool peer_connected;
	/* named prepared statements (prepared.c) */
	struct prep_server *prep;
	bool prep_on;			/* tracked while linked to this client */
	struct client *repl_owner;	/* the replication client it was launched for */
	/* the host of its database's list it went to (hostsel.c), and what
	 * its ParameterStatus says of that node: 0 not reported, 1 off, 2 on */
	struct host_state *host;
	uint8_t hot_standby, default_ro;
	/* a server before PostgreSQL 14 reports neither: HOSTS_PROBE_QUERY
	 * asks it (probed), at login and with each server_check_query; its
	 * answer's rows come in while probing, the first one read in probe_ro */
	bool probed, probing;
	uint8_t probe_rows, probe_ro;
	uint8_t probed_role;		/* enum hosts_role of the last answer */
	/* its host's address: being looked up (dns_waiting(): SV_LOGIN before
	 * any socket), then where it came from, so that a connection to an
	 * address DNS dropped goes at release */
	struct dns_wait dnsw;
	/* holds a unit of each of its pool's limit slots (pool.c), from
	 * launch until it leaves the pool's lists, or with several workers
	 * until PostgreSQL ended the connection (draining, server.c) */
	bool counted;
	bool draining;
	/* a cancel connection (is_cancel or peer) on worker->cancels, by node */
	bool in_cancels;
};

/* The console's hold on sessions, registered by admin_init, so that the
 * session layer (pool.c) asks through it instead of calling into admin.c. */
struct pool_policy {
	bool (*held)(const struct pool *pool);		/* paused: pair no client, launch nothing */
	bool (*drops_waiters)(const struct worker *w);	/* a client asking for a server is dropped */
	bool (*retire)(struct server *sv);		/* closes a released server that must go */
};

/* ---- pool: one (database, user) pair ---- */
struct pool {
	struct list_node node;		/* worker->pools */
	struct worker *w;
	char dbname[64];		/* the client-facing name */
	char user[64];			/* the user pgring logs in as */
	uint8_t replication;		/* enum repl_mode: replication clients have pools of their own */
	/* its [databases] and [users] entries (or NULL) in the worker's config
	 * as of w->cfg_epoch: settings are read on every transaction, the
	 * lookup by name is done once per config (pool_conf_of) */
	bool conf_known;
	unsigned conf_epoch;
	const struct db_conf *conf_db;
	const struct user_conf *conf_user;
	/* client lists */
	struct list wait_login;		/* CL_WAIT_LOGIN */
	struct list idle_clients;	/* CL_IDLE */
	struct list waiting;		/* CL_WAITING, FIFO */
	struct list active_clients;	/* CL_ACTIVE */
	/* server lists */
	struct list login_servers;	/* SV_LOGIN */
	struct list idle_servers;	/* SV_IDLE, LIFO */
	struct list active_servers;	/* SV_ACTIVE */
	struct list used_servers;	/* SV_USED */
	/* what a new client is told at login: the first server's ParameterStatus */
	bool have_welcome;
	int nwelcome;
	char *welcome_name[48];
	char *welcome_val[48];
	struct loop_timer retry_timer;	/* server_login_retry after a failed login */
	struct loop_timer fail_timer;	/* tells the clients of a failed launch, next turn */
	bool launch_failed;		/* a launch failed; its clients not yet told */
	/* SCRAM keys of a client that logged in, for server logins by verifier */
	bool have_scram_keys;
	uint8_t scram_client_key[SCRAM_KEY_LEN];
	uint8_t scram_server_key[SCRAM_KEY_LEN];
	/* auth_query's answer for user, as the last client that proved it: the
	 * password pgring logs in with (authquery.c); NULL if none */
	struct secret *authq_secret;
	uint64_t last_login_fail_us;
	char last_error[256];
	bool reserve_warned;		/* "taking connection from reserve_pool" logged */
	bool pairing, pair_again;	/* pool_pair is running; run it once more */
	unsigned host_cursor;		/* where the next host pick starts (hosts.h) */
	/* clients and servers whose ->pool is this one, until they are freed:
	 * an auto-database pool is freed only at 0 (autodb_idle_timeout) */
	unsigned refs;
	uint64_t unused_since_us;	/* refs fell to 0; 0 while in use */
	/* stats (SHOW STATS) */
	struct pool_stats stats;
	/* the limits every worker's pools of the same names share (pool.c,
	 * doc/workers.md), by enum limit_kind: NULL for one not counted (a
	 * replication pool's pool_size) */
	struct limit_slot *slot[3];
	bool reserved;			/* units taken for the server being launched */
	int8_t blocked;			/* the slot its waiters are held back by, -1 none */
	uint64_t blocked_since;		/* the oldest one's wait start, registered there */
	bool evict_asked;		/* other workers asked to close an idle server */
};

/* ---- worker: everything mutable of one event loop ---- */
struct listen_sock {
	struct worker *w;
	struct loop_sock sock;
	struct loop_op op;
	struct net_listener nl;
	struct loop_timer retry;	/* EMFILE backoff */
	bool failing;			/* accept errors logged; quiet until one succeeds */
	bool multishot;			/* op is a multishot accept, not loop_accept_once */
};

/* CancelRequest lookup: clients by the key pgring gave them (client.c) */
struct cancel_index {
	struct client **b;		/* chained by client->cancel_next */
	unsigned nb, n;			/* nb: a power of two */
};

/*
 * With peer_id set, a cancel key pgring hands out carries it in PgBouncer's
 * layout, so that pgring and PgBouncer processes can be peers: of the eight
 * bytes (pid, then key, as sent), byte 1 holds the peer_id's low byte and
 * byte 2 its high byte; the last byte's two low bits count the hops a
 * forwarded cancel may still make (so that peers with clashing ids cannot
 * pass it round for ever).
 */
#define CANCEL_HOPS_MASK	0x3u
#define CANCEL_KEY_PEER(pid)	((int)((((pid) >> 16) & 0xff) | ((pid) & 0xff00)))
#define CANCEL_PID_WITH_PEER(pid, id) \
	(((pid) & 0xff0000ffu) | ((uint32_t)(id) & 0xff) << 16 | ((uint32_t)(id) & 0xff00))

/* Cancels forwarded to one [peers] id (server.c): at most its pool_size at
 * once, the rest queued in arrival order. */
struct peer_pool {
	struct peer_pool *next;		/* worker->peer_pools */
	int id;
	struct list waiting;		/* CL_CANCEL clients, by client->node */
	unsigned nlogin;		/* connections being opened */
	unsigned nactive;		/* connected, sending the CancelRequest */
};

/* cancel connections open at once (each a socket to PostgreSQL); more are refused */
#define CANCEL_CONNS_MAX	64

/*
 * With more than one worker, the pid's low byte (byte 3 as sent; random
 * with one worker) is the index of the worker whose client the key is, so
 * that a CancelRequest that lands on another worker is passed on to it
 * (xcancel.c); bytes 1 and 2 and the hop bits stay PgBouncer's.
 */
#define CANCEL_PID_WITH_WORKER(pid, index)	(((pid) & ~0xffu) | ((uint32_t)(index) & 0xff))
#define CANCEL_KEY_WORKER(pid)			((unsigned)((pid) & 0xff))

/* What a cancel connection needs of its target: where the server is and
 * PostgreSQL's key, the client's key to pgring and the server it held, so
 * that the cancel goes only if that client still holds that server. */
struct cancel_target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t pid, key;		/* PostgreSQL's BackendKeyData */
	uint32_t cl_pid, cl_key;	/* the client's, as pgring gave it */
	uint64_t server_id;
	unsigned owner;			/* the client's worker */
};

/*
 * A connection's id (SHOW's id and ptr columns) carries its worker's index
 * in the top bits, so that ids stay unique across workers without a shared
 * counter (doc/workers.md); worker 0's ids are the plain sequence.
 */
#define CONN_ID_WORKER_SHIFT	56
static inline uint64_t conn_id_make(unsigned index, uint64_t seq)
{
	return (uint64_t)index << CONN_ID_WORKER_SHIFT | (seq & ((1ull << CONN_ID_WORKER_SHIFT) - 1));
}
static inline unsigned conn_id_worker(uint64_t id)
{
	return (unsigned)(id >> CONN_ID_WORKER_SHIFT);
}

struct process;
struct snapshot;

struct worker {
	struct process *proc;		/* what the workers share (process.h) */
	unsigned index;			/* 0..proc->nworkers-1 */
	struct loop *loop;
	struct logger *log;
	const struct config *cfg;
	unsigned cfg_epoch;		/* bumped with each change of cfg (pool.c's cache) */
	struct userlist *users;
	/* random at start: mock SCRAM salts (auth_mock_salt); never changes */
	uint8_t server_secret[AUTH_SERVER_SECRET_LEN];
	struct kdf_pool *kdf;		/* key derivation threads (kdf.c) */
	/* deriving the keys of plain auth_file passwords ahead of logins, one
	 * entry at a time (client.c): the next index in warm_ul */
	struct kdf_waiter warm;
	const struct userlist *warm_ul;
	size_t warm_next;
	struct listen_sock *listeners;
	int nlisteners;
	struct list pools;
	struct list clients;		/* every client */
	struct list login_clients;	/* CL_LOGIN */
	struct list starved;		/* conns waiting for receive buffers */
	struct list draining;		/* closed servers waiting for PostgreSQL's EOF (server.c) */
	struct list cancels;		/* open cancel connections, closed at exit (server.c) */
	struct loop_timer starved_timer;	/* re-arms them if no buffer came back (conn.c) */
	struct loop_timer janitor;	/* periodic timeouts and pool upkeep (maint.c) */
	struct out_block *free_obs;	/* send queues no socket holds (conn.c) */
	struct istr_table *istr;	/* interned parameter values (pool.c) */
	struct prep_registry *prep;	/* distinct prepared statements (prepared.c) */
	uint64_t unnamed_seq;		/* prepared.c: versions of clients' unnamed statements */
	struct cancel_index cancel_ix;
	struct xcancel *xcancels;	/* waiting for another worker's answer (xcancel.c) */
	unsigned ncancel_conns;		/* open cancel connections, at most CANCEL_CONNS_MAX */
	struct peer_pool *peer_pools;	/* created as peers are first used */
	struct hosts_table hosts;	/* every listed host's health and role (hostsel.c) */
	struct dns *dns;		/* host names of [databases] and [peers] (dns.c) */
	/* track_extra_parameters as at start (a startup-time key): the names
	 * of param_set slots PARAM_BASE.. (pool.c) */
	char param_extra[PARAM_EXTRA_MAX][PARAM_NAME_MAX];
	int nparam_extra;
	unsigned nclients;
	unsigned nservers;
	/* Client sockets accepted and not yet closed, logged in or not: the
	 * listeners stop accepting at max_client_conn plus a margin of them
	 * (main.c), so that sockets that never log in cannot pile up. */
	unsigned nclient_socks;
	uint64_t accept_full_logged_us;	/* the limit's last log line */
	void (*client_sock_gone)(struct worker *w);	/* main.c: accept again */
	uint64_t next_id;
	/* signals */
	int sigfd;
	struct loop_sock sigsock;
	struct loop_op sigop;
	bool shutdown;
	bool suspended;			/* SUSPEND: accepts nothing, reads only the console */
	bool exiting;			/* the loop ended: main.c closes everything */
	unsigned nlisteners_open;	/* a shutdown ends only once they are closed */
	int exit_code;
	struct pktbuf tmp;		/* scratch for building messages */
	char *cfg_path;
	char *pidfile;			/* the one this process wrote and locked */
	int pidfd;			/* held open: the lock lasts as long as we run */
	/* the config and userlist while main loads them; from the end of
	 * prepare() on they belong to snap (owned_cfg NULL), cfg and users
	 * being snap's */
	struct config *owned_cfg;
	struct snapshot *snap;		/* the snapshot this worker holds (snapshot.h) */
	struct admin *admin;		/* console state: pause, disable, stats timer (admin.c) */
	const struct pool_policy *pool_policy;	/* admin.c's, NULL before admin_init */
	struct metrics *metrics;	/* GET /metrics, when metrics_listen is set (metrics.c) */
	struct tls_worker *tls;		/* TLS contexts new handshakes use (tls.c) */
	void (*stop_accepting)(struct worker *w);	/* main.c: close the listeners */
	/* what other threads post to this worker (process.h): its inbox's
	 * eventfd, polled by the loop */
	struct loop_sock inbox_sock;
	struct loop_op inbox_op;
	bool inbox_on;
};

/* conn.c */
void conn_init(struct conn *c, struct worker *w, const struct conn_ops *ops, bool is_server);
int conn_attach(struct conn *c, int fd);
void conn_start_recv(struct conn *c);
void conn_process(struct conn *c);
/*
 * Both queue bytes for c and never drop them: false only when c is closing
 * or failing, and a failure to queue (out of memory) fails c, with a log
 * line.  A caller that gets false must stop working on c's behalf.
 */
bool conn_push(struct conn *c, struct loop_buf *buf, uint32_t off, uint32_t len)
	__attribute__((warn_unused_result));
/* copies pb's bytes; pkt_reset(pb) after */
bool conn_send_pkt(struct conn *c, struct pktbuf *pb) __attribute__((warn_unused_result));
void conn_close(struct conn *c);
void conn_close_after_send(struct conn *c);
bool conn_send_last(struct conn *c, const void *p, size_t len);
bool conn_out_full(const struct conn *c);
void conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len);
void conn_discard_held(struct conn *c);
void conn_free_blocks(struct worker *w);	/* at exit: the free send queues */
/* for tls.c: slice i of the send queue; queue a send at the end of the turn */
const struct out_ent *conn_out_ent(const struct conn *c, unsigned i);
void conn_flush_soon(struct conn *c);
/* received bytes not yet framed: what a client sent after its SSLRequest */
size_t conn_unread(const struct conn *c);
/* In on_header: copies up to n bytes of the body that have already arrived */
size_t conn_peek_body(const struct conn *c, uint8_t *out, size_t n);
void conn_inq_append(struct conn *c, struct loop_buf *b);
/* SUSPEND: stops reading c once all it received is passed on; true once it
 * is frozen, its receive reaped and its send queue empty */
bool conn_quiesce(struct conn *c);
void conn_thaw(struct conn *c);		/* RESUME: read again */

/* suspend.c */
/* freezes every socket it can; the number not yet quiet (force: closes
 * those instead, for suspend_timeout) */
unsigned suspend_step(struct worker *w, bool force);
void suspend_thaw_all(struct worker *w);

/* client.c */
void client_accept(struct worker *w, int fd);
void client_linked(struct client *cl);			/* a server was assigned */
void client_fail(struct client *cl, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void client_login_done(struct client *cl);
bool client_send_welcome(struct client *cl);	/* ParameterStatus, BackendKeyData, ReadyForQuery */
void client_login_failed(struct client *cl, const char *msg);
void client_log(struct client *cl, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct client *client_by_cancel_key(struct worker *w, uint32_t pid, uint32_t key);
void client_cancel_done(struct client *req);	/* its cancel is out, or given up */
void client_cancel_index_free(struct worker *w);
void client_close_all(struct worker *w, const char *why);	/* at exit */
void client_repl_launch(struct client *cl);	/* its own server, unless PAUSE holds it */

/* client.c: a lookup ended; cl->secret is the user's, or NULL for none */
void client_auth_lookup_done(struct client *cl);

/* authquery.c */
bool authq_wanted(struct client *cl);		/* a user auth_query should look up */
void authq_start(struct client *cl);		/* queue cl on the auth pool */
void authq_linked(struct client *cl);		/* it has a server: send the query */
void authq_abandon(struct client *cl);		/* it goes before the answer came */
/* a server of the auth pool linked to a lookup: its answer is consumed */
static inline bool authq_serving(const struct server *sv)
{
	return sv->client && sv->client->authq;
}
enum msg_action authq_server_header(struct server *sv, uint8_t type, uint32_t len);
bool authq_server_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len);
void authq_remember(struct client *cl, struct pool *pool);	/* at login: keep the secret */
const struct secret *authq_pool_secret(const struct pool *pool);
void authq_pool_free(struct pool *pool);

/* Derives the SCRAM keys of plain auth_file passwords ahead of the first
 * login (once at start and after a reload that read the file again) */
void client_kdf_warm(struct worker *w);

/* server.c */
struct server *server_launch(struct pool *pool);
void server_release(struct server *sv);		/* the client is done with it */
void server_close(struct server *sv, const char *why);
/* at exit: the servers still draining close at once */
void server_close_draining(struct worker *w);
/* at exit: cancel connections still under way close at once (nothing is
 * left to hear them, and their timeout outlasts the exit's) */
void server_close_cancels(struct worker *w);
/* a ReadyForQuery's status into sv->txn_status; false: malformed, sv closed */
bool server_ready_status(struct server *sv, const uint8_t *body, uint32_t len);
bool server_send_params(struct server *sv, const struct param_set *want);
void server_log(struct server *sv, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void server_send_cancel(struct client *req, struct client *target);
/* the same for a target found on another worker (xcancel.c); req may be gone (NULL) */
void server_send_cancel_to(struct worker *w, struct client *req, const struct cancel_target *t);
/* its owner said whether the target still holds its server: send, or drop */
void server_cancel_go(struct server *sv, bool holds);
/* pid/key name another process of the [peers] group: forward the CancelRequest
 * there; false when the key is not another peer's (look it up here) */
bool server_forward_cancel(struct client *req, uint32_t pid, uint32_t key);
void server_peer_unwait(struct client *req);	/* a queued req is closing */
struct peer_pool *server_peer_pool(struct worker *w, int id);	/* NULL: none yet */
void server_peer_pools_free(struct worker *w);
/* its host's name no longer gives its address (DNS changed): close at release */
bool server_addr_stale(struct server *sv);

/* xcancel.c: cancels whose client lives on another worker */
/* pid names another worker: ask it; false when the key is for no worker */
bool xcancel_route(struct client *req, uint32_t pid, uint32_t key);
void xcancel_confirm(struct server *sv);	/* connected: does the target still hold it? */
void xcancel_req_gone(struct client *req);
void xcancel_sv_gone(struct server *sv);
void xcancel_free_all(struct worker *w);	/* at exit, once the loop is gone */
/* the target client of (pid, key) on w, as a cancel names it; NULL: none */
struct client *client_cancel_target(struct worker *w, uint32_t pid, uint32_t key);
/* the client of (pid, key) on w still holds the server of that id */
bool cancel_target_holds(struct worker *w, uint32_t pid, uint32_t key, uint64_t server_id);

/* pool.c */
struct pool *pool_get(struct worker *w, const char *dbname, const char *user);
struct pool *pool_get_repl(struct worker *w, const char *dbname, const char *user, int repl);
const struct db_conf *pool_db_conf(const struct pool *pool);
int pool_mode_of(const struct pool *pool);
int pool_size_of(const struct pool *pool);
void pool_change_client(struct client *cl, enum client_state st);
void pool_change_server(struct server *sv, enum server_state st);
void pool_want_server(struct client *cl);		/* queue cl and pair when possible */
void pool_server_ready(struct server *sv);		/* login done or reset done */
/* sqlstate NULL: a failure that may pass; the clients wait for the retry */
void pool_login_failed(struct pool *pool, const char *sqlstate, const char *msg);
bool pool_fast_fail(struct client *cl);	/* true: refused, logins keep failing */
void pool_launch_failed(struct pool *pool, const char *why);	/* no socket: DNS, fds, ... */
void pool_report_launch_failure(struct pool *pool);	/* janitor: if the timer could not */
void pool_server_gone(struct pool *pool);
void pool_server_freed(struct server *sv);	/* its units, if it still holds them */
void pool_pair(struct pool *pool);
void pool_free_all(struct worker *w);	/* at exit, once no conn refers to a pool */
void pool_close_servers(struct worker *w, const char *why);	/* at exit */
void pool_ref(struct pool *pool);			/* a client or server points at it */
void pool_unref(struct pool *pool);			/* ...and is being freed */
bool pool_free_if_unused(struct pool *pool, uint64_t now);	/* autodb_idle_timeout */
/* another server, within every limit: takes its units (the launch's server
 * carries them; pool_unreserve if there is none) */
bool pool_may_launch(struct pool *pool);
bool pool_may_prefill(struct pool *pool, unsigned min);	/* ...up to min over every worker */
void pool_unreserve(struct pool *pool);
/* the servers of the pool's (db, user) over every worker */
unsigned pool_shared_servers(const struct pool *pool);
/* the limit a replication server would break; NULL: none, its units taken */
const char *pool_repl_limit(struct pool *pool);
int64_t pool_lifetime_of(const struct pool *pool);

/* hostsel.c */
/* The host and port of the pool's list sv goes to (host NULL: the unix
 * socket); -1 with err when none may be tried now */
int hostsel_next(struct pool *pool, struct server *sv, const char **host, int *port, char *err,
		 size_t errlen);
/* sv's connection or login failed as a failure that may pass: true when
 * another host of the list may be tried at once (the clients wait for it) */
bool hostsel_login_lost(struct server *sv, const char *why);
/* At sv's login's end: true when HOSTS_PROBE_QUERY went out (or sending it
 * failed and sv is closing), and the login waits for its ReadyForQuery */
bool hostsel_probe_login(struct server *sv);
/* With server_check_query: the probe again, last, for a server that needed it */
void hostsel_probe_check(struct server *sv);
/* Whether sv's next message comes from the probe (its rows are read) */
bool hostsel_probe_current(const struct server *sv);
/* A DataRow of the probe; false when it is malformed */
bool hostsel_probe_row(struct server *sv, const uint8_t *body, uint32_t len);
/* The probe's ReadyForQuery: its answer becomes sv's role (and its host's) */
void hostsel_probe_end(struct server *sv);
/* sv logged in: false when its node does not suit target_session_attrs (sv is closed) */
bool hostsel_login_ok(struct server *sv);
/* A ParameterStatus from sv */
void hostsel_param(struct server *sv, const char *name, const char *val);
/* Whether sv still suits its pool's target_session_attrs */
bool hostsel_still_matches(const struct server *sv);
/* Whether what any connection last said of sv's node suits sv's pool: after
 * a switchover an idle server is not handed out on its own stale word */
bool hostsel_host_suits(const struct server *sv);

/* maint.c */
void maint_start(struct worker *w);
int pool_min_size_of(const struct pool *pool);
int pool_reserve_size_of(const struct pool *pool);
int pool_max_db_connections_of(const struct pool *pool);
int pool_max_user_connections_of(const struct pool *pool);
unsigned pool_server_count(const struct pool *pool);
unsigned pool_client_count(const struct pool *pool);
bool pool_client_limit_reached(struct client *cl, const char **which);
/* clients logged in as user, whatever user their pools log in as */
unsigned pool_login_user_clients(struct worker *w, const char *user);

/* params */
/* track_extra_parameters into w: 0, or -1 with the reason in err */
int param_setup(struct worker *w, const char *extra, char *err, size_t errlen);
const char *param_name(const struct worker *w, int idx);	/* NULL: a slot not in use */
int param_lookup(const struct worker *w, const char *name);
void param_set_free(struct worker *w, struct param_set *ps);
const char *param_intern(struct worker *w, const char *s);	/* NULL: out of memory */
void param_unintern(struct worker *w, const char *s);
void param_set_put(struct worker *w, struct param_set *ps, int idx, const char *val);

#endif
