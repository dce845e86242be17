/* config.h - the immutable configuration snapshot read from a PgBouncer ini file
 *
 * A struct config is built once by config_load() and never changed after:
 * a reload builds a new one and swaps the pointer, SET builds a modified
 * copy.  Times are int64_t microseconds; a key PgBouncer reads as unsigned
 * is an int64_t; booleans are bool; enums and modes are int.
 */
#ifndef PGRING_CONFIG_H
#define PGRING_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hba;

/* a [databases] / [users] value that was not given: the [pgbouncer] one applies */
#define CONF_UNSET (-1)

/* workers = auto; and the most workers: a cancel key carries the worker's
 * index in one byte (doc/workers.md) */
#define CONFIG_WORKERS_AUTO 0
#define CONFIG_WORKERS_MAX 256

enum pool_mode {
	POOL_MODE_UNSET = -1,
	POOL_SESSION = 0,
	POOL_TRANSACTION,
	POOL_STATEMENT,
};

enum auth_type {
	AUTH_TYPE_TRUST = 0,
	AUTH_TYPE_ANY,
	AUTH_TYPE_PLAIN,
	AUTH_TYPE_MD5,
	AUTH_TYPE_SCRAM,
	AUTH_TYPE_CERT,
	AUTH_TYPE_HBA,
	/* not an auth_type value: an hba peer rule, settled (client_hba.c) */
	AUTH_TYPE_PEER,
};

/* PgBouncer's sslmode values, in order of strictness */
enum tls_sslmode {
	TLS_DISABLE = 0,
	TLS_ALLOW,
	TLS_PREFER,
	TLS_REQUIRE,
	TLS_VERIFY_CA,
	TLS_VERIFY_FULL,
};

/* server_tls_negotiation (pgring's own): how a server login starts TLS */
enum tls_negotiation {
	TLS_NEG_POSTGRES = 0,	/* an SSLRequest first, as every PostgreSQL takes */
	TLS_NEG_DIRECT,		/* a ClientHello first (PostgreSQL 17+): one round trip less */
};

enum event_backend {
	EVENT_BACKEND_AUTO = 0,
	EVENT_BACKEND_IO_URING,
	EVENT_BACKEND_EPOLL,
};

/* One [databases] entry: "name = host=... port=... dbname=..." */
struct db_conf {
	char *name;
	const char *file;	/* where it was read (owned by config.files) */
	int line;

	char *host;		/* NULL: unix socket in unix_socket_dir; "a,b,c": a list (hosts.h) */
	char *ports;		/* port as given: one, or one per host; NULL: 5432 */
	int port;		/* the first host's */
	char *load_balance_hosts;	/* as given; lb_hosts holds its enum hosts_lb */
	char *target_session_attrs;	/* as given; tsa holds its enum hosts_tsa */
	int lb_hosts;
	int tsa;
	char *dbname;		/* NULL: the client's database name */
	char *user;		/* NULL: the client's user name */
	char *password;
	char *auth_user;
	char *auth_query;	/* NULL: the [pgbouncer] one */
	char *auth_dbname;	/* NULL: the [pgbouncer] one, else this database */
	int pool_size;		/* CONF_UNSET where not given */
	int min_pool_size;
	int reserve_pool_size;
	int max_db_connections;
	int max_db_client_connections;
	int64_t server_lifetime_us;
	int64_t query_wait_timeout_us;
	int pool_mode;		/* enum pool_mode, POOL_MODE_UNSET where not given */
	char *connect_query;
	char *application_name;
	char *client_encoding;
	char *datestyle;
	char *timezone;
};

/* One [users] entry */
struct user_conf {
	char *name;
	int pool_mode;
	int pool_size;
	int reserve_pool_size;
	int max_user_connections;
	int max_user_client_connections;
	int64_t query_timeout_us;
	int64_t idle_transaction_timeout_us;
	int64_t transaction_timeout_us;
	int64_t client_idle_timeout_us;
	int64_t query_wait_timeout_us;
};

/* One [peers] entry: "peer_id = host=... port=... pool_size=..." */
struct peer_conf {
	int id;			/* 1..16383, the peer_id of that process */
	char *host;		/* NULL: unix socket in unix_socket_dir */
	int port;
	int pool_size;		/* cancels forwarded at once; CONF_UNSET: default_pool_size */
};

/* A [pgbouncer] key pgring accepts but does not act on yet, kept for SHOW CONFIG */
struct config_kv {
	char *key;
	char *value;
};

struct config {
	char *path;		/* the main file, as given */

	/* [pgbouncer] */
	char *admin_users;
	bool application_name_add_host;
	char *auth_dbname;
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_query;
	int auth_type;		/* enum auth_type */
	char *auth_user;
	int64_t autodb_idle_timeout_us;
	int64_t cancel_wait_timeout_us;
	int64_t client_idle_timeout_us;
	int64_t client_login_timeout_us;
	int default_pool_size;
	int64_t dns_max_ttl_us;
	int64_t dns_nxdomain_ttl_us;
	int64_t dns_zone_check_period_us;
	bool disable_pqexec;
	int event_backend;	/* enum event_backend */
	int64_t idle_transaction_timeout_us;
	char *ignore_startup_parameters;
	char *listen_addr;
	char *metrics_listen;	/* pgring's own: ADDR:PORT of GET /metrics, "" = off */
	int listen_backlog;
	int listen_port;
	bool log_connections;
	bool log_disconnections;
	bool log_pooler_errors;
	bool log_stats;
	char *logfile;
	int max_client_conn;
	int max_client_prepared_bytes;	/* pgring's own: a client's named statements */
	int max_db_client_connections;
	int max_db_connections;
	int64_t max_packet_size;
	int max_prepared_statements;
	int max_user_client_connections;
	int max_user_connections;
	int min_pool_size;
	int peer_id;		/* 0: not peered; else encoded in every cancel key */
	char *pidfile;
	int pkt_buf;
	int pool_mode;		/* enum pool_mode */
	int64_t query_timeout_us;
	int64_t query_wait_notify_us;
	int64_t query_wait_timeout_us;
	int reserve_pool_size;
	char *resolv_conf;		/* "": the system's */
	int64_t reserve_pool_timeout_us;
	int sbuf_loopcnt;
	int scram_iterations;
	int kdf_threads;		/* SCRAM key derivation threads (kdf.c) */
	int64_t server_check_delay_us;
	char *server_check_query;	/* NULL: the file's "", no check; "": "<empty>" */
	int64_t server_connect_timeout_us;
	bool server_fast_close;
	int64_t server_idle_timeout_us;
	int64_t server_lifetime_us;
	int64_t server_login_retry_us;
	char *server_reset_query;
	bool server_reset_query_always;
	bool server_round_robin;
	bool so_reuseport;
	int64_t stats_period_us;
	char *stats_users;
	int64_t suspend_timeout_us;
	bool syslog;
	char *syslog_facility;
	char *syslog_ident;
	int tcp_defer_accept;
	bool tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_socket_buffer;
	int tcp_user_timeout;
	char *track_extra_parameters;
	int64_t transaction_timeout_us;
	char *unix_socket_dir;
	char *unix_socket_group;
	int unix_socket_mode;
	char *user;
	int verbose;
	int workers;		/* pgring's own: event loops; CONFIG_WORKERS_AUTO: one per CPU */

	/* client_tls_* and server_tls_* (tls.c): sslmodes are enum tls_sslmode */
	int client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	char *client_tls13_ciphers;
	char *client_tls_ecdhcurve;
	char *client_tls_dheparams;
	int server_tls_sslmode;
	char *server_tls_ca_file;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;
	int server_tls_negotiation;	/* enum tls_negotiation */

	/* [databases] */
	struct db_conf *dbs;
	size_t ndbs;
	struct db_conf *fallback_db;	/* the "*" entry, or NULL */

	/* [users] */
	struct user_conf *users;
	size_t nusers;

	/* [peers], sorted by id */
	struct peer_conf *peers;
	size_t npeers;

	/* every file read, main first; db_conf.file points into these */
	char **files;
	size_t nfiles;

	/* auth_type = hba: the rules and ident maps (config_attach_hba), shared
	 * by reference with clones; NULL otherwise */
	struct hba *hba;

	/* keys without a field, by name */
	struct config_kv *ignored;
	size_t nignored;
};

/* One row of SHOW CONFIG */
struct config_key_info {
	const char *name;
	char value[512];
	char default_value[256];
	bool reloadable;
};

/* Gets each warning (unknown key, key not acted on yet) as "file:line: text". */
typedef void (*config_warn_fn)(void *arg, const char *msg);

/* The whole of a text file, NUL-terminated, up to max bytes (-EFBIG past
 * it): 0, or -errno.  *out is the caller's to free. */
int config_read_file(const char *path, size_t max, char **out, size_t *outlen);

/*
 * Reads path (and what it %includes).  0 and *out set, or -1 with
 * "file:line: what" in err and nothing allocated.
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen,
		config_warn_fn warn, void *warn_arg);
/*
 * pgring --check: as config_load, but each fatal problem goes to fatal
 * ("file:line: what"), counted in *nfatal, and the reading goes on past it
 * (the key keeps its default, the entry is left out), so that one run
 * reports them all.  -1 only when the file cannot be read at all (err).
 */
int config_check_load(const char *path, struct config **out, int *nfatal, char *err,
		      size_t errlen, config_warn_fn warn, config_warn_fn fatal, void *arg);
/* The same from text in memory; name stands for the file in messages. */
int config_parse_string(const char *name, const char *text, struct config **out, char *err,
			size_t errlen, config_warn_fn warn, void *warn_arg);
void config_free(struct config *cfg);
/* A deep copy, or NULL when out of memory. */
struct config *config_clone(const struct config *cfg);

const struct db_conf *config_find_db(const struct config *cfg, const char *name);
const struct user_conf *config_find_user(const struct config *cfg, const char *name);
const struct peer_conf *config_find_peer(const struct config *cfg, int id);
/* Whether a comma/space separated list (admin_users, ...) holds name. */
/* The size of pgring's receive buffers: pkt_buf, but never below
 * CONFIG_RECV_BUF_MIN.  PgBouncer takes any pkt_buf; pgring's buffers must
 * hold enough of a message's head in the few a connection may pin
 * (INQ_HIGH_BUFS) for prepared.c to read a Parse's names. */
#define CONFIG_RECV_BUF_MIN 256
unsigned config_recv_buf_size(const struct config *cfg);
bool config_list_has(const char *list, const char *name);

/* The idx'th [pgbouncer] key, in SHOW CONFIG order; false past the last. */
bool config_key_at(const struct config *cfg, size_t idx, struct config_key_info *info);
/* Keys PgBouncer does not reload keep running's values in next, each change
 * warned about; -1 when out of memory. */
int config_keep_no_reload(struct config *next, const struct config *running,
			  void (*warn)(void *arg, const char *msg), void *arg);
/* A copy of cfg with key set to value, as the console's SET does; the
 * original is untouched.  0 or -1 with the reason in err. */
int config_set(const struct config *cfg, const char *key, const char *value, struct config **out,
	       char *err, size_t errlen);

/* Loads next's hba and ident files when its auth_type is hba.  0 (loaded,
 * or not wanted); 1 when they could not be read but running's rules were
 * kept (err says why); -1 with "file:line: what" in err otherwise. */
int config_attach_hba(struct config *next, const struct config *running, char *err, size_t errlen);

const char *pool_mode_name(int mode);
const char *auth_type_name(int type);

#endif
