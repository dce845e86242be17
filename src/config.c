/* config.c - PgBouncer's ini format read into an immutable struct config */
#include "config.h"
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "hba.h"
#include "hosts.h"

#define CONFIG_MAX_INCLUDE_DEPTH 10
#define CONFIG_MAX_FILE_SIZE (64L << 20)
/* µs must fit an int64_t; a century is more than any timeout needs */
#define CONFIG_MAX_SECONDS 3155760000.0

enum key_type {
	KT_STR,
	KT_CHECK_QUERY,		/* string where the file's "<empty>" and "" differ */
	KT_INT,
	KT_UINT,		/* int64_t field holding PgBouncer's unsigned int */
	KT_BOOL,
	KT_TIME,		/* seconds, fractions allowed; int64_t µs */
	KT_MODE,		/* octal file mode */
	KT_POOL_MODE,
	KT_AUTH_TYPE,
	KT_BACKEND,
	KT_SSLMODE,
	KT_TLS_NEGOTIATION,
	KT_CONFFILE,		/* shows config.path; cannot be set */
	KT_WORKERS,		/* a count, or "auto" (stored as 0) */
};

#define KF_NO_RELOAD	0x1	/* PgBouncer's CF_NO_RELOAD */
#define KF_NOT_YET	0x2	/* PgBouncer has it, pgring does not act on it yet */

#define NOFIELD (-1)

/* PgBouncer's limit: the id shares the cancel key's first two bytes with a
 * two-bit hop count */
#define PEER_ID_MAX 16383

/* One key of [pgbouncer], or of a [databases] / [users] connection string. */
struct key_def {
	const char *name;
	enum key_type type;
	int off;		/* into struct config / db_conf / user_conf, or NOFIELD */
	const char *def;	/* PgBouncer's default, as SHOW CONFIG prints it; NULL: unset */
	unsigned flags;
	long long min, max;	/* KT_INT, KT_UINT */
};

#define CF(f) ((int)offsetof(struct config, f))
#define DF(f) ((int)offsetof(struct db_conf, f))
#define UF(f) ((int)offsetof(struct user_conf, f))
#define KEY(n, t, o, d, fl) { n, t, o, d, fl, 0, INT_MAX }
#define KEYR(n, t, o, d, fl, lo, hi) { n, t, o, d, fl, lo, hi }
#define NY KF_NOT_YET
#define NR KF_NO_RELOAD

/*
 * PgBouncer 1.25's [pgbouncer] keys in its order (alphabetical; SHOW CONFIG
 * prints them so), plus pgring's own event_backend, kdf_threads,
 * max_client_prepared_bytes, metrics_listen and workers in their alphabetical
 * places.
 * Where PgBouncer's default is NULL the SHOW CONFIG default is "", except
 * verbose, which shows the 0 it means.
 */
static const struct key_def bouncer_keys[] = {
	KEY("admin_users", KT_STR, CF(admin_users), "", 0),
	KEY("application_name_add_host", KT_BOOL, CF(application_name_add_host), "0", 0),
	KEY("auth_dbname", KT_STR, CF(auth_dbname), NULL, 0),
	KEY("auth_file", KT_STR, CF(auth_file), NULL, 0),
	KEY("auth_hba_file", KT_STR, CF(auth_hba_file), "", 0),
	KEY("auth_ident_file", KT_STR, CF(auth_ident_file), NULL, 0),
	KEY("auth_ldap_options", KT_STR, NOFIELD, NULL, NY),
	KEY("auth_query", KT_STR, CF(auth_query),
	    "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
	    "FROM pg_authid WHERE rolname=$1 AND rolcanlogin", 0),
	KEY("auth_type", KT_AUTH_TYPE, CF(auth_type), "md5", 0),
	KEY("auth_user", KT_STR, CF(auth_user), NULL, 0),
	KEY("autodb_idle_timeout", KT_TIME, CF(autodb_idle_timeout_us), "3600", 0),
	KEY("cancel_wait_timeout", KT_TIME, CF(cancel_wait_timeout_us), "10", 0),
	KEY("client_idle_timeout", KT_TIME, CF(client_idle_timeout_us), "0", 0),
	KEY("client_login_timeout", KT_TIME, CF(client_login_timeout_us), "60", 0),
	KEY("client_tls13_ciphers", KT_STR, CF(client_tls13_ciphers), NULL, 0),
	KEY("client_tls_ca_file", KT_STR, CF(client_tls_ca_file), "", 0),
	KEY("client_tls_cert_file", KT_STR, CF(client_tls_cert_file), "", 0),
	KEY("client_tls_ciphers", KT_STR, CF(client_tls_ciphers), "default", 0),
	KEY("client_tls_dheparams", KT_STR, CF(client_tls_dheparams), "auto", 0),
	KEY("client_tls_ecdhcurve", KT_STR, CF(client_tls_ecdhcurve), "auto", 0),
	KEY("client_tls_key_file", KT_STR, CF(client_tls_key_file), "", 0),
	KEY("client_tls_protocols", KT_STR, CF(client_tls_protocols), "secure", 0),
	KEY("client_tls_sslmode", KT_SSLMODE, CF(client_tls_sslmode), "disable", 0),
	KEY("conffile", KT_CONFFILE, NOFIELD, NULL, NY),
	KEY("default_pool_size", KT_INT, CF(default_pool_size), "20", 0),
	KEY("disable_pqexec", KT_BOOL, CF(disable_pqexec), "0", NR),
	KEY("dns_max_ttl", KT_TIME, CF(dns_max_ttl_us), "15", 0),
	KEY("dns_nxdomain_ttl", KT_TIME, CF(dns_nxdomain_ttl_us), "15", 0),
	KEY("dns_zone_check_period", KT_TIME, CF(dns_zone_check_period_us), "0", 0),
	KEY("event_backend", KT_BACKEND, CF(event_backend), "auto", NR),
	KEY("idle_transaction_timeout", KT_TIME, CF(idle_transaction_timeout_us), "0", 0),
	KEY("ignore_startup_parameters", KT_STR, CF(ignore_startup_parameters), "", 0),
	KEY("job_name", KT_STR, NOFIELD, "pgbouncer", NR | NY),
	/* pgring's own: SCRAM key derivation threads (kdf.c) */
	KEYR("kdf_threads", KT_INT, CF(kdf_threads), "2", NR, 1, 64),
	KEY("listen_addr", KT_STR, CF(listen_addr), "", NR),
	KEY("listen_backlog", KT_INT, CF(listen_backlog), "128", NR),
	KEYR("listen_port", KT_INT, CF(listen_port), "6432", NR, 1, 65535),
	KEY("log_connections", KT_BOOL, CF(log_connections), "1", 0),
	KEY("log_disconnections", KT_BOOL, CF(log_disconnections), "1", 0),
	KEY("log_pooler_errors", KT_BOOL, CF(log_pooler_errors), "1", 0),
	KEY("log_stats", KT_BOOL, CF(log_stats), "1", 0),
	KEY("logfile", KT_STR, CF(logfile), "", 0),
	KEY("max_client_conn", KT_INT, CF(max_client_conn), "100", 0),
	KEY("max_client_prepared_bytes", KT_INT, CF(max_client_prepared_bytes), "16777216", 0),
	KEY("max_db_client_connections", KT_INT, CF(max_db_client_connections), "0", 0),
	KEY("max_db_connections", KT_INT, CF(max_db_connections), "0", 0),
	KEYR("max_packet_size", KT_UINT, CF(max_packet_size), "2147483647", 0, 0, UINT_MAX),
	KEY("max_prepared_statements", KT_INT, CF(max_prepared_statements), "200", 0),
	KEY("max_user_client_connections", KT_INT, CF(max_user_client_connections), "0", 0),
	KEY("max_user_connections", KT_INT, CF(max_user_connections), "0", 0),
	KEY("metrics_listen", KT_STR, CF(metrics_listen), "", NR),
	KEY("min_pool_size", KT_INT, CF(min_pool_size), "0", 0),
	KEYR("peer_id", KT_INT, CF(peer_id), "0", 0, 0, PEER_ID_MAX),
	KEY("pidfile", KT_STR, CF(pidfile), "", NR),
	KEYR("pkt_buf", KT_INT, CF(pkt_buf), "4096", NR, 1, INT_MAX),
	KEY("pool_mode", KT_POOL_MODE, CF(pool_mode), "session", 0),
	KEY("query_timeout", KT_TIME, CF(query_timeout_us), "0", 0),
	KEY("query_wait_notify", KT_TIME, CF(query_wait_notify_us), "5", 0),
	KEY("query_wait_timeout", KT_TIME, CF(query_wait_timeout_us), "120", 0),
	KEY("reserve_pool_size", KT_INT, CF(reserve_pool_size), "0", 0),
	KEY("reserve_pool_timeout", KT_TIME, CF(reserve_pool_timeout_us), "5", 0),
	KEY("resolv_conf", KT_STR, CF(resolv_conf), "", NR),
	KEYR("sbuf_loopcnt", KT_INT, CF(sbuf_loopcnt), "5", NY, 0, INT_MAX),
	/* auth.h's SCRAM_MAX_ITER: beyond it a login against a plain secret could
	 * never work (F7), so the config is refused instead */
	KEYR("scram_iterations", KT_INT, CF(scram_iterations), "4096", 0, 1, SCRAM_MAX_ITER),
	KEY("server_check_delay", KT_TIME, CF(server_check_delay_us), "30", 0),
	KEY("server_check_query", KT_CHECK_QUERY, CF(server_check_query), "<empty>", 0),
	KEY("server_connect_timeout", KT_TIME, CF(server_connect_timeout_us), "15", 0),
	KEY("server_fast_close", KT_BOOL, CF(server_fast_close), "0", 0),
	KEY("server_idle_timeout", KT_TIME, CF(server_idle_timeout_us), "600", 0),
	KEY("server_lifetime", KT_TIME, CF(server_lifetime_us), "3600", 0),
	KEY("server_login_retry", KT_TIME, CF(server_login_retry_us), "15", 0),
	KEY("server_reset_query", KT_STR, CF(server_reset_query), "DISCARD ALL", 0),
	KEY("server_reset_query_always", KT_BOOL, CF(server_reset_query_always), "0", 0),
	KEY("server_round_robin", KT_BOOL, CF(server_round_robin), "0", 0),
	KEY("server_tls13_ciphers", KT_STR, CF(server_tls13_ciphers), NULL, 0),
	KEY("server_tls_ca_file", KT_STR, CF(server_tls_ca_file), "", 0),
	KEY("server_tls_cert_file", KT_STR, CF(server_tls_cert_file), "", 0),
	KEY("server_tls_ciphers", KT_STR, CF(server_tls_ciphers), "default", 0),
	KEY("server_tls_key_file", KT_STR, CF(server_tls_key_file), "", 0),
	/* pgring's own: direct TLS toward PostgreSQL 17+ (tls.c) */
	KEY("server_tls_negotiation", KT_TLS_NEGOTIATION, CF(server_tls_negotiation), "postgres", 0),
	KEY("server_tls_protocols", KT_STR, CF(server_tls_protocols), "secure", 0),
	KEY("server_tls_sslmode", KT_SSLMODE, CF(server_tls_sslmode), "prefer", 0),
	KEY("so_reuseport", KT_BOOL, CF(so_reuseport), "0", NR),
	KEY("stats_period", KT_TIME, CF(stats_period_us), "60", 0),
	KEY("stats_users", KT_STR, CF(stats_users), "", 0),
	KEY("suspend_timeout", KT_TIME, CF(suspend_timeout_us), "10", 0),
	KEY("syslog", KT_BOOL, CF(syslog), "0", 0),
	KEY("syslog_facility", KT_STR, CF(syslog_facility), "daemon", 0),
	KEY("syslog_ident", KT_STR, CF(syslog_ident), "pgbouncer", 0),
	KEY("tcp_defer_accept", KT_INT, CF(tcp_defer_accept), "1", 0),
	KEY("tcp_keepalive", KT_BOOL, CF(tcp_keepalive), "1", 0),
	KEY("tcp_keepcnt", KT_INT, CF(tcp_keepcnt), "0", 0),
	KEY("tcp_keepidle", KT_INT, CF(tcp_keepidle), "0", 0),
	KEY("tcp_keepintvl", KT_INT, CF(tcp_keepintvl), "0", 0),
	KEY("tcp_socket_buffer", KT_INT, CF(tcp_socket_buffer), "0", 0),
	KEY("tcp_user_timeout", KT_INT, CF(tcp_user_timeout), "0", 0),
	KEY("track_extra_parameters", KT_STR, CF(track_extra_parameters), "IntervalStyle", NR),
	KEY("transaction_timeout", KT_TIME, CF(transaction_timeout_us), "0", 0),
	KEY("unix_socket_dir", KT_STR, CF(unix_socket_dir), "/tmp", NR),
	KEY("unix_socket_group", KT_STR, CF(unix_socket_group), "", NR),
	KEY("unix_socket_mode", KT_MODE, CF(unix_socket_mode), "0777", NR),
	KEY("user", KT_STR, CF(user), NULL, NR),
	KEY("verbose", KT_INT, CF(verbose), "0", 0),
	KEYR("workers", KT_WORKERS, CF(workers), "1", NR, 1, CONFIG_WORKERS_MAX),
};
#define NBOUNCER_KEYS (sizeof(bouncer_keys) / sizeof(bouncer_keys[0]))

/* [databases] connection string keys (PgBouncer's parse_database) */
static const struct key_def db_keys[] = {
	KEY("host", KT_STR, DF(host), NULL, 0),
	KEY("port", KT_STR, DF(ports), NULL, 0),	/* one, or one per host: hosts.c */
	KEY("dbname", KT_STR, DF(dbname), NULL, 0),
	KEY("user", KT_STR, DF(user), NULL, 0),
	KEY("password", KT_STR, DF(password), NULL, 0),
	KEY("auth_user", KT_STR, DF(auth_user), NULL, 0),
	KEY("pool_size", KT_INT, DF(pool_size), NULL, 0),
	KEY("min_pool_size", KT_INT, DF(min_pool_size), NULL, 0),
	KEY("reserve_pool_size", KT_INT, DF(reserve_pool_size), NULL, 0),
	KEY("reserve_pool", KT_INT, DF(reserve_pool_size), NULL, 0),	/* old name */
	KEY("max_db_connections", KT_INT, DF(max_db_connections), NULL, 0),
	KEY("max_db_client_connections", KT_INT, DF(max_db_client_connections), NULL, 0),
	KEY("server_lifetime", KT_TIME, DF(server_lifetime_us), NULL, 0),
	KEY("pool_mode", KT_POOL_MODE, DF(pool_mode), NULL, 0),
	KEY("connect_query", KT_STR, DF(connect_query), NULL, 0),
	KEY("application_name", KT_STR, DF(application_name), NULL, 0),
	KEY("client_encoding", KT_STR, DF(client_encoding), NULL, 0),
	KEY("datestyle", KT_STR, DF(datestyle), NULL, 0),
	KEY("timezone", KT_STR, DF(timezone), NULL, 0),
	KEY("load_balance_hosts", KT_STR, DF(load_balance_hosts), NULL, 0),
	KEY("target_session_attrs", KT_STR, DF(target_session_attrs), NULL, 0),
	KEY("auth_query", KT_STR, DF(auth_query), NULL, 0),
	KEY("auth_dbname", KT_STR, DF(auth_dbname), NULL, 0),
	KEY("query_wait_timeout", KT_TIME, DF(query_wait_timeout_us), NULL, 0),
};
#define NDB_KEYS (sizeof(db_keys) / sizeof(db_keys[0]))

/* [users] keys (PgBouncer's parse_user) */
static const struct key_def user_keys[] = {
	KEY("pool_mode", KT_POOL_MODE, UF(pool_mode), NULL, 0),
	KEY("pool_size", KT_INT, UF(pool_size), NULL, 0),
	KEY("reserve_pool_size", KT_INT, UF(reserve_pool_size), NULL, 0),
	KEY("max_user_connections", KT_INT, UF(max_user_connections), NULL, 0),
	KEY("max_user_client_connections", KT_INT, UF(max_user_client_connections), NULL, 0),
	KEY("query_timeout", KT_TIME, UF(query_timeout_us), NULL, 0),
	KEY("idle_transaction_timeout", KT_TIME, UF(idle_transaction_timeout_us), NULL, 0),
	KEY("client_idle_timeout", KT_TIME, UF(client_idle_timeout_us), NULL, 0),
	KEY("transaction_timeout", KT_TIME, UF(transaction_timeout_us), NULL, 0),
	KEY("query_wait_timeout", KT_TIME, UF(query_wait_timeout_us), NULL, 0),
};
#define NUSER_KEYS (sizeof(user_keys) / sizeof(user_keys[0]))

/* [peers] keys (PgBouncer's parse_peer) */
#define PF(f) ((int)offsetof(struct peer_conf, f))
static const struct key_def peer_keys[] = {
	KEY("host", KT_STR, PF(host), NULL, 0),
	KEYR("port", KT_INT, PF(port), NULL, 0, 1, 65535),
	KEYR("pool_size", KT_INT, PF(pool_size), NULL, 0, 1, INT_MAX),
};
#define NPEER_KEYS (sizeof(peer_keys) / sizeof(peer_keys[0]))

struct name_val {
	const char *name;
	int val;
};

static const struct name_val pool_modes[] = {
	{ "session", POOL_SESSION },
	{ "transaction", POOL_TRANSACTION },
	{ "statement", POOL_STATEMENT },
	{ NULL, 0 },
};

static const struct name_val auth_types[] = {
	{ "trust", AUTH_TYPE_TRUST },
	{ "any", AUTH_TYPE_ANY },
	{ "plain", AUTH_TYPE_PLAIN },
	{ "md5", AUTH_TYPE_MD5 },
	{ "scram-sha-256", AUTH_TYPE_SCRAM },
	{ "cert", AUTH_TYPE_CERT },
	{ "hba", AUTH_TYPE_HBA },
	{ NULL, 0 },
};

/* PgBouncer's auth types that pgring refuses at load */
static const char *const auth_types_not_yet[] = { "pam", "ldap", NULL };

static const struct name_val backends[] = {
	{ "auto", EVENT_BACKEND_AUTO },
	{ "io_uring", EVENT_BACKEND_IO_URING },
	{ "epoll", EVENT_BACKEND_EPOLL },
	{ NULL, 0 },
};

static const struct name_val sslmodes[] = {
	{ "disable", 0 }, { "allow", 1 }, { "prefer", 2 },
	{ "require", 3 }, { "verify-ca", 4 }, { "verify-full", 5 },
	{ NULL, 0 },
};

static const struct name_val tls_negotiations[] = {
	{ "postgres", TLS_NEG_POSTGRES }, { "direct", TLS_NEG_DIRECT },
	{ NULL, 0 },
};

static const struct name_val *enum_table(enum key_type t)
{
	switch (t) {
	case KT_POOL_MODE: return pool_modes;
	case KT_AUTH_TYPE: return auth_types;
	case KT_BACKEND: return backends;
	case KT_SSLMODE: return sslmodes;
	case KT_TLS_NEGOTIATION: return tls_negotiations;
	default: return NULL;
	}
}

static const char *enum_name(const struct name_val *tab, int val)
{
	for (; tab && tab->name; tab++)
		if (tab->val == val)
			return tab->name;
	return NULL;
}

const char *pool_mode_name(int mode)
{
	const char *n = enum_name(pool_modes, mode);

	return n ? n : "";
}

const char *auth_type_name(int type)
{
	const char *n = enum_name(auth_types, type);

	return n ? n : "";
}

/* ---- values ------------------------------------------------------------ */

union kval {
	char *s;
	int i;
	int64_t l;
};

static bool is_string_type(enum key_type t)
{
	return t == KT_STR || t == KT_CHECK_QUERY || t == KT_CONFFILE;
}

static int parse_ll(const char *s, int base, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno || *end || end == s || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "on", "true", "yes", NULL };
	static const char *const no[] = { "0", "off", "false", "no", NULL };

	for (size_t i = 0; yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* Seconds as PgBouncer reads them (strtod, no unit), rounded to µs. */
static int parse_time(const char *s, int64_t *out)
{
	char *end;
	double v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v < 0 || v > CONFIG_MAX_SECONDS)
		return -EINVAL;
	*out = (int64_t)(v * 1e6 + 0.5);
	return 0;
}

static int parse_enum(const struct name_val *tab, const char *s, int *out)
{
	for (; tab->name; tab++) {
		if (strcasecmp(tab->name, s) == 0) {
			*out = tab->val;
			return 0;
		}
	}
	return -EINVAL;
}

/* 0, -EINVAL (bad value), -ENOTSUP (an auth_type pgring refuses) or -ENOMEM.
 * A string result is allocated (or NULL for KT_CHECK_QUERY's ""). */
static int parse_value(const struct key_def *k, const char *s, union kval *out)
{
	long long ll;
	int ret;

	memset(out, 0, sizeof(*out));
	switch (k->type) {
	case KT_STR:
	case KT_CONFFILE:
		out->s = strdup(s);
		return out->s ? 0 : -ENOMEM;
	case KT_CHECK_QUERY:
		if (!*s)
			return 0;
		out->s = strdup(strcmp(s, "<empty>") == 0 ? "" : s);
		return out->s ? 0 : -ENOMEM;
	case KT_INT:
	case KT_UINT:
		ret = parse_ll(s, 10, k->min, k->max, &ll);
		if (ret == 0 && k->type == KT_INT)
			out->i = (int)ll;
		else if (ret == 0)
			out->l = ll;
		return ret;
	case KT_MODE:
		ret = parse_ll(s, 8, 0, 07777, &ll);
		if (ret == 0)
			out->i = (int)ll;
		return ret;
	case KT_BOOL:
		return parse_bool(s, &out->i);
	case KT_TIME:
		return parse_time(s, &out->l);
	case KT_WORKERS:
		if (strcasecmp(s, "auto") == 0)
			return 0;	/* out->i = CONFIG_WORKERS_AUTO */
		ret = parse_ll(s, 10, k->min, k->max, &ll);
		if (ret == 0)
			out->i = (int)ll;
		return ret;
	case KT_AUTH_TYPE:
		for (size_t i = 0; auth_types_not_yet[i]; i++)
			if (strcasecmp(s, auth_types_not_yet[i]) == 0)
				return -ENOTSUP;
		return parse_enum(auth_types, s, &out->i);
	case KT_POOL_MODE:
	case KT_BACKEND:
	case KT_SSLMODE:
	case KT_TLS_NEGOTIATION:
		return parse_enum(enum_table(k->type), s, &out->i);
	}
	return -EINVAL;
}

static void *field(void *base, const struct key_def *k)
{
	return (char *)base + k->off;
}

static const void *cfield(const void *base, const struct key_def *k)
{
	return (const char *)base + k->off;
}

/* Moves v into the field, freeing what a string field held. */
static void store_value(void *base, const struct key_def *k, union kval *v)
{
	void *p = field(base, k);

	switch (k->type) {
	case KT_STR:
	case KT_CHECK_QUERY:
	case KT_CONFFILE:
		free(*(char **)p);
		*(char **)p = v->s;
		v->s = NULL;
		break;
	case KT_BOOL:
		*(bool *)p = v->i != 0;
		break;
	case KT_TIME:
	case KT_UINT:
		*(int64_t *)p = v->l;
		break;
	default:
		*(int *)p = v->i;
		break;
	}
}

static void load_value(const void *base, const struct key_def *k, union kval *v)
{
	const void *p = cfield(base, k);

	memset(v, 0, sizeof(*v));
	switch (k->type) {
	case KT_STR:
	case KT_CHECK_QUERY:
	case KT_CONFFILE:
		v->s = *(char *const *)p;
		break;
	case KT_BOOL:
		v->i = *(const bool *)p;
		break;
	case KT_TIME:
	case KT_UINT:
		v->l = *(const int64_t *)p;
		break;
	default:
		v->i = *(const int *)p;
		break;
	}
}

static void format_time(int64_t us, char *buf, size_t len)
{
	long long sec = us / 1000000, frac = us % 1000000;
	size_t n;

	if (us < 0 || frac == 0) {
		snprintf(buf, len, "%lld", us < 0 ? (long long)us : sec);
		return;
	}
	snprintf(buf, len, "%lld.%06lld", sec, frac);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
}

/* As SHOW CONFIG prints it: times in seconds, bools 0/1, modes in octal. */
static void format_value(const struct key_def *k, const union kval *v, char *buf, size_t len)
{
	const char *name;

	switch (k->type) {
	case KT_STR:
	case KT_CONFFILE:
		snprintf(buf, len, "%s", v->s ? v->s : "");
		break;
	case KT_CHECK_QUERY:
		snprintf(buf, len, "%s", !v->s ? "" : *v->s ? v->s : "<empty>");
		break;
	case KT_INT:
	case KT_BOOL:
		snprintf(buf, len, "%d", v->i);
		break;
	case KT_UINT:
		snprintf(buf, len, "%lld", (long long)v->l);
		break;
	case KT_MODE:
		snprintf(buf, len, "%#o", (unsigned)v->i);
		break;
	case KT_WORKERS:
		if (v->i == CONFIG_WORKERS_AUTO)
			snprintf(buf, len, "auto");
		else
			snprintf(buf, len, "%d", v->i);
		break;
	case KT_TIME:
		format_time(v->l, buf, len);
		break;
	default:
		name = enum_name(enum_table(k->type), v->i);
		snprintf(buf, len, "%s", name ? name : "");
		break;
	}
}

static const struct key_def *key_find(const struct key_def *tab, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

/* ---- struct lifetimes ----------------------------------------------------- */

static void free_strings(void *base, const struct key_def *tab, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (tab[i].off == NOFIELD || !is_string_type(tab[i].type))
			continue;
		free(*(char **)field(base, &tab[i]));
		*(char **)field(base, &tab[i]) = NULL;
	}
}

/* Replaces every string pointer with its own copy; -ENOMEM leaves the ones
 * not yet copied NULL, so the copy can still be freed. */
static int dup_strings(void *base, const struct key_def *tab, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		char **p;

		if (tab[i].off == NOFIELD || !is_string_type(tab[i].type))
			continue;
		p = field(base, &tab[i]);
		if (*p && ret == 0) {
			*p = strdup(*p);
			if (!*p)
				ret = -ENOMEM;
		} else {
			*p = NULL;
		}
	}
	return ret;
}

static void db_conf_init(struct db_conf *db)
{
	memset(db, 0, sizeof(*db));
	db->port = 5432;
	db->pool_size = CONF_UNSET;
	db->min_pool_size = CONF_UNSET;
	db->reserve_pool_size = CONF_UNSET;
	db->max_db_connections = CONF_UNSET;
	db->max_db_client_connections = CONF_UNSET;
	db->pool_mode = POOL_MODE_UNSET;
	db->server_lifetime_us = CONF_UNSET;
	db->query_wait_timeout_us = CONF_UNSET;
}

static void db_conf_clear(struct db_conf *db)
{
	free(db->name);
	db->name = NULL;
	free_strings(db, db_keys, NDB_KEYS);
}

static void user_conf_init(struct user_conf *u)
{
	memset(u, 0, sizeof(*u));
	u->pool_mode = POOL_MODE_UNSET;
	u->pool_size = CONF_UNSET;
	u->reserve_pool_size = CONF_UNSET;
	u->max_user_connections = CONF_UNSET;
	u->max_user_client_connections = CONF_UNSET;
	u->query_timeout_us = CONF_UNSET;
	u->idle_transaction_timeout_us = CONF_UNSET;
	u->transaction_timeout_us = CONF_UNSET;
	u->client_idle_timeout_us = CONF_UNSET;
	u->query_wait_timeout_us = CONF_UNSET;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free_strings(cfg, bouncer_keys, NBOUNCER_KEYS);
	free(cfg->path);
	for (size_t i = 0; i < cfg->ndbs; i++)
		db_conf_clear(&cfg->dbs[i]);
	free(cfg->dbs);
	if (cfg->fallback_db)
		db_conf_clear(cfg->fallback_db);
	free(cfg->fallback_db);
	for (size_t i = 0; i < cfg->nusers; i++)
		free(cfg->users[i].name);
	free(cfg->users);
	for (size_t i = 0; i < cfg->npeers; i++)
		free(cfg->peers[i].host);
	free(cfg->peers);
	for (size_t i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	for (size_t i = 0; i < cfg->nignored; i++) {
		free(cfg->ignored[i].key);
		free(cfg->ignored[i].value);
	}
	free(cfg->ignored);
	hba_unref(cfg->hba);
	free(cfg);
}

/* A config holding every default, as PgBouncer's fill_defaults does. */
static struct config *config_new(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	for (size_t i = 0; i < NBOUNCER_KEYS; i++) {
		const struct key_def *k = &bouncer_keys[i];
		union kval v;

		if (k->off == NOFIELD || !k->def)
			continue;
		if (parse_value(k, k->def, &v) < 0) {
			config_free(cfg);
			return NULL;
		}
		store_value(cfg, k, &v);
	}
	return cfg;
}

static const char *remap_file(const struct config *from, struct config *to, const char *file)
{
	for (size_t i = 0; i < from->nfiles && i < to->nfiles; i++)
		if (from->files[i] == file)
			return to->files[i];
	return NULL;
}

static int db_conf_copy(const struct config *from, struct config *to, struct db_conf *dst,
			const struct db_conf *src)
{
	*dst = *src;
	dst->file = remap_file(from, to, src->file);
	dst->name = src->name ? strdup(src->name) : NULL;
	if (dup_strings(dst, db_keys, NDB_KEYS) < 0 || (src->name && !dst->name))
		return -ENOMEM;
	return 0;
}

static int clone_lists(const struct config *cfg, struct config *n)
{
	if (cfg->nfiles && !(n->files = calloc(cfg->nfiles, sizeof(*n->files))))
		return -ENOMEM;
	for (; n->nfiles < cfg->nfiles; n->nfiles++)
		if (!(n->files[n->nfiles] = strdup(cfg->files[n->nfiles])))
			return -ENOMEM;
	if (cfg->ndbs && !(n->dbs = calloc(cfg->ndbs, sizeof(*n->dbs))))
		return -ENOMEM;
	for (; n->ndbs < cfg->ndbs; n->ndbs++)
		if (db_conf_copy(cfg, n, &n->dbs[n->ndbs], &cfg->dbs[n->ndbs]) < 0) {
			n->ndbs++;
			return -ENOMEM;
		}
	if (cfg->fallback_db) {
		if (!(n->fallback_db = calloc(1, sizeof(*n->fallback_db))))
			return -ENOMEM;
		if (db_conf_copy(cfg, n, n->fallback_db, cfg->fallback_db) < 0)
			return -ENOMEM;
	}
	if (cfg->nusers && !(n->users = calloc(cfg->nusers, sizeof(*n->users))))
		return -ENOMEM;
	for (; n->nusers < cfg->nusers; n->nusers++) {
		n->users[n->nusers] = cfg->users[n->nusers];
		n->users[n->nusers].name = NULL;
		if (!(n->users[n->nusers].name = strdup(cfg->users[n->nusers].name))) {
			n->nusers++;
			return -ENOMEM;
		}
	}
	if (cfg->npeers && !(n->peers = calloc(cfg->npeers, sizeof(*n->peers))))
		return -ENOMEM;
	for (; n->npeers < cfg->npeers; n->npeers++) {
		const struct peer_conf *src = &cfg->peers[n->npeers];

		n->peers[n->npeers] = *src;
		n->peers[n->npeers].host = NULL;
		if (src->host && !(n->peers[n->npeers].host = strdup(src->host))) {
			n->npeers++;
			return -ENOMEM;
		}
	}
	if (cfg->nignored && !(n->ignored = calloc(cfg->nignored, sizeof(*n->ignored))))
		return -ENOMEM;
	for (; n->nignored < cfg->nignored; n->nignored++) {
		struct config_kv *kv = &n->ignored[n->nignored];

		kv->key = strdup(cfg->ignored[n->nignored].key);
		kv->value = strdup(cfg->ignored[n->nignored].value);
		if (!kv->key || !kv->value) {
			n->nignored++;
			return -ENOMEM;
		}
	}
	return 0;
}

struct config *config_clone(const struct config *cfg)
{
	struct config *n;
	int ret;

	if (!cfg || !(n = malloc(sizeof(*n))))
		return NULL;
	*n = *cfg;
	n->dbs = NULL;
	n->ndbs = 0;
	n->fallback_db = NULL;
	n->users = NULL;
	n->nusers = 0;
	n->peers = NULL;
	n->npeers = 0;
	n->files = NULL;
	n->nfiles = 0;
	n->ignored = NULL;
	n->nignored = 0;
	n->path = NULL;
	hba_ref(n->hba);
	ret = dup_strings(n, bouncer_keys, NBOUNCER_KEYS);
	if (ret == 0 && cfg->path && !(n->path = strdup(cfg->path)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = clone_lists(cfg, n);
	if (ret < 0) {
		config_free(n);
		return NULL;
	}
	return n;
}

static int kv_set(struct config *cfg, const char *key, const char *value)
{
	struct config_kv *kv;
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nignored; i++) {
		if (strcmp(cfg->ignored[i].key, key) == 0) {
			free(cfg->ignored[i].value);
			cfg->ignored[i].value = v;
			return 0;
		}
	}
	kv = realloc(cfg->ignored, (cfg->nignored + 1) * sizeof(*kv));
	if (!kv) {
		free(v);
		return -ENOMEM;
	}
	cfg->ignored = kv;
	kv[cfg->nignored].key = strdup(key);
	if (!kv[cfg->nignored].key) {
		free(v);
		return -ENOMEM;
	}
	kv[cfg->nignored++].value = v;
	return 0;
}

/* Sets one [pgbouncer] key; keys without a field keep their checked text. */
static int config_apply(struct config *cfg, const struct key_def *k, const char *s)
{
	union kval v;
	char buf[512];
	int ret = parse_value(k, s, &v);

	if (ret < 0)
		return ret;
	if (k->off != NOFIELD) {
		store_value(cfg, k, &v);
		return 0;
	}
	if (is_string_type(k->type)) {
		/* conffile only shows config.path: nothing to keep */
		ret = k->type == KT_CONFFILE ? 0 : kv_set(cfg, k->name, v.s);
		free(v.s);
		return ret;
	}
	format_value(k, &v, buf, sizeof(buf));
	return kv_set(cfg, k->name, buf);
}

/* ---- the reader ----------------------------------------------------------- */

enum section {
	SECT_NONE = 0,
	SECT_DATABASES,
	SECT_USERS,
	SECT_PEERS,
	SECT_PGBOUNCER,
};

struct parser {
	struct config *cfg;
	char *err;
	size_t errlen;
	config_warn_fn warn;
	void *warn_arg;
	/* config_check_load: each fatal problem goes here, and the reading
	 * goes on past it, so that one run shows them all */
	config_warn_fn fatal;
	int nfatal;
	/* kept across %include both ways, as PgBouncer does: an included file
	 * continues the including file's section and may change it */
	enum section section;
	bool failed;
	char scratch[256];	/* err when the caller passed none */
};

/* One file being fed to inih, line by line. */
struct src {
	struct parser *p;
	const char *name;	/* owned by cfg->files */
	char *buf;		/* the text, NUL-terminated, lexed in place */
	size_t len, pos;
	int line;
	int depth;		/* 0 for the main file */
	char *key, *val;	/* the entry just read, for the handler */
};

static int src_error(struct src *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int src_error(struct src *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (f->p->fatal) {
		char msg[1024];

		n = snprintf(msg, sizeof(msg), "%s:%d: ", f->name, f->line);
		if (n < 0 || (size_t)n >= sizeof(msg))
			n = 0;
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
		va_end(ap);
		f->p->nfatal++;
		f->p->fatal(f->p->warn_arg, msg);
		return -1;
	}
	f->p->failed = true;
	if (!f->p->err || !f->p->errlen)
		return -1;
	n = snprintf(f->p->err, f->p->errlen, "%s:%d: ", f->name, f->line);
	if (n < 0 || (size_t)n >= f->p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(f->p->err + n, f->p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void src_warn(struct src *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void src_warn(struct src *f, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (!f->p->warn)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%d: ", f->name, f->line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	f->p->warn(f->p->warn_arg, msg);
}

static int apply_error(struct src *f, int ret, const char *key, const char *val)
{
	if (ret == -ENOMEM)
		return src_error(f, "out of memory");
	if (ret == -ENOTSUP)
		return src_error(f, "%s \"%s\" is not supported by pgring yet", key, val);
	return src_error(f, "invalid value \"%s\" for parameter %s", val, key);
}

static int set_bouncer_key(struct src *f, const char *key, const char *val)
{
	const struct key_def *k = key_find(bouncer_keys, NBOUNCER_KEYS, key);
	int ret;

	if (!k) {
		src_warn(f, "unknown parameter pgbouncer/%s", key);
		return 0;
	}
	ret = config_apply(f->p->cfg, k, val);
	if (ret < 0)
		return apply_error(f, ret, key, val);
	if (k->flags & KF_NOT_YET)
		src_warn(f, "parameter %s is not supported by pgring yet, ignored", key);
	return 0;
}

static int set_connstr_key(struct src *f, void *base, const struct key_def *tab, size_t n,
			   const char *what, const char *key, const char *val)
{
	const struct key_def *k = key_find(tab, n, key);
	union kval v;
	int ret;

	if (!k)
		return src_error(f, "unknown parameter \"%s\" in %s", key, what);
	ret = parse_value(k, val, &v);
	if (ret < 0)
		return apply_error(f, ret, key, val);
	if (k->off != NOFIELD) {
		store_value(base, k, &v);
		return 0;
	}
	if (is_string_type(k->type))
		free(v.s);
	src_warn(f, "parameter %s is not supported by pgring yet, ignored", key);
	return 0;
}

static void skip_space(char **p)
{
	while (**p && isspace((unsigned char)**p))
		(*p)++;
}

/* Reads one value: 'quoted' with '' for a quote, or bare up to a space.
 * Unquotes in place; *p is left after it. */
static int connstr_value(struct src *f, char **p, char **val, const char *what)
{
	char *s = *p, *out;

	if (*s != '\'') {
		*val = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
		*p = s;
		return 0;
	}
	*val = out = ++s;
	for (;;) {
		if (!*s)
			return src_error(f, "unterminated quoted value in %s", what);
		if (*s == '\'' && s[1] == '\'') {
			*out++ = '\'';
			s += 2;
		} else if (*s == '\'') {
			s++;
			break;
		} else {
			*out++ = *s++;
		}
	}
	if (*s && !isspace((unsigned char)*s))
		return src_error(f, "syntax error after quoted value in %s", what);
	*out = '\0';
	*p = s;
	return 0;
}

/* "key=value key='quoted value' ..." as PgBouncer's parse_database reads it */
static int parse_connstr(struct src *f, char *s, void *base, const struct key_def *tab, size_t n,
			 const char *what)
{
	char *p = s;

	for (;;) {
		char *key, *kend, *val;

		skip_space(&p);
		if (!*p)
			return 0;
		key = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		kend = p;
		skip_space(&p);
		/* where, never what: the text there may be (part of) a password (F16) */
		if (kend == key || *p != '=')
			return src_error(f, "syntax error in %s at offset %zu: expected key=value",
					 what, (size_t)(key - s));
		p++;
		*kend = '\0';
		skip_space(&p);
		if (connstr_value(f, &p, &val, what) < 0)
			return -1;
		if (!*val)
			return src_error(f, "empty value for parameter %s in %s", key, what);
		if (set_connstr_key(f, base, tab, n, what, key, val) < 0)
			return -1;
	}
}

/* host, port, load_balance_hosts and target_session_attrs, read as a whole */
static int db_hosts_check(struct src *f, struct db_conf *d)
{
	struct host_addr *addrs = calloc(HOSTS_MAX, sizeof(*addrs));
	char err[200];
	int n;

	if (!addrs)
		return src_error(f, "out of memory");
	n = hosts_parse(d->host, d->ports, addrs, HOSTS_MAX, err, sizeof(err));
	if (n > 0)
		d->port = addrs[0].port;
	free(addrs);
	if (n < 0)
		return src_error(f, "%s", err);
	d->lb_hosts = d->load_balance_hosts ? hosts_lb_parse(d->load_balance_hosts) : HOSTS_LB_ROUND_ROBIN;
	if (d->lb_hosts < 0)
		return src_error(f, "invalid load_balance_hosts \"%s\" (round-robin or disable)",
				 d->load_balance_hosts);
	d->tsa = d->target_session_attrs ? hosts_tsa_parse(d->target_session_attrs) : HOSTS_TSA_ANY;
	if (d->tsa < 0)
		return src_error(f, "invalid target_session_attrs \"%s\" (any, read-write, read-only, "
				 "primary, standby or prefer-standby)", d->target_session_attrs);
	return 0;
}

/*
 * A later entry for the same database replaces the earlier one, as PgBouncer
 * does (its loader updates the existing database), so an %include'd file can
 * override the main one.
 */
static int add_database(struct src *f, const char *name, char *connstr)
{
	struct config *cfg = f->p->cfg;
	struct db_conf d, *slot;
	char what[300];

	if (strcmp(name, "pgbouncer") == 0 || strcmp(name, "pgring") == 0)
		return src_error(f, "database name \"%s\" is reserved for the admin console", name);
	snprintf(what, sizeof(what), "[databases] entry \"%s\"", name);
	db_conf_init(&d);
	d.file = f->name;
	d.line = f->line;
	if (!(d.name = strdup(name)))
		return src_error(f, "out of memory");
	if (parse_connstr(f, connstr, &d, db_keys, NDB_KEYS, what) < 0 || db_hosts_check(f, &d) < 0)
		goto fail;
	if (strcmp(name, "*") == 0) {
		if (!cfg->fallback_db && !(cfg->fallback_db = calloc(1, sizeof(d))))
			goto nomem;
		slot = cfg->fallback_db;
	} else {
		slot = (struct db_conf *)config_find_db(cfg, name);
		if (!slot) {
			slot = realloc(cfg->dbs, (cfg->ndbs + 1) * sizeof(*slot));
			if (!slot)
				goto nomem;
			cfg->dbs = slot;
			slot = &cfg->dbs[cfg->ndbs++];
			memset(slot, 0, sizeof(*slot));
		}
	}
	db_conf_clear(slot);
	*slot = d;
	return 0;
nomem:
	src_error(f, "out of memory");
fail:
	db_conf_clear(&d);
	return -1;
}

/* Same rule as for databases: a later entry for a user replaces it. */
static int add_user(struct src *f, const char *name, char *connstr)
{
	struct config *cfg = f->p->cfg;
	struct user_conf u, *slot;
	char what[300];

	snprintf(what, sizeof(what), "[users] entry \"%s\"", name);
	user_conf_init(&u);
	if (parse_connstr(f, connstr, &u, user_keys, NUSER_KEYS, what) < 0)
		return -1;
	if (!(u.name = strdup(name)))
		return src_error(f, "out of memory");
	slot = (struct user_conf *)config_find_user(cfg, name);
	if (!slot) {
		slot = realloc(cfg->users, (cfg->nusers + 1) * sizeof(*slot));
		if (!slot) {
			free(u.name);
			return src_error(f, "out of memory");
		}
		cfg->users = slot;
		slot = &cfg->users[cfg->nusers++];
		slot->name = NULL;
	}
	free(slot->name);
	*slot = u;
	return 0;
}

/*
 * "id = host=... port=... pool_size=...": where cancel requests whose key
 * carries that peer_id are forwarded.  A later entry for an id replaces it.
 */
static int add_peer(struct src *f, const char *name, char *connstr)
{
	struct config *cfg = f->p->cfg;
	struct peer_conf pc = { .port = 6432, .pool_size = CONF_UNSET }, *slot;
	long long id;
	char what[300];

	if (parse_ll(name, 10, 1, PEER_ID_MAX, &id) < 0)
		return src_error(f, "invalid peer id \"%s\" in [peers]: 1 to %d", name, PEER_ID_MAX);
	snprintf(what, sizeof(what), "[peers] entry \"%s\"", name);
	pc.id = (int)id;
	if (parse_connstr(f, connstr, &pc, peer_keys, NPEER_KEYS, what) < 0) {
		free(pc.host);
		return -1;
	}
	slot = (struct peer_conf *)config_find_peer(cfg, pc.id);
	if (!slot) {
		size_t i = cfg->npeers;

		slot = realloc(cfg->peers, (cfg->npeers + 1) * sizeof(*slot));
		if (!slot) {
			free(pc.host);
			return src_error(f, "out of memory");
		}
		cfg->peers = slot;
		/* kept sorted by id: SHOW PEERS lists them so */
		while (i > 0 && cfg->peers[i - 1].id > pc.id) {
			cfg->peers[i] = cfg->peers[i - 1];
			i--;
		}
		slot = &cfg->peers[i];
		slot->host = NULL;
		cfg->npeers++;
	}
	free(slot->host);
	*slot = pc;
	return 0;
}

static int handle_entry(struct src *f)
{
	switch (f->p->section) {
	case SECT_PGBOUNCER:
		return set_bouncer_key(f, f->key, f->val);
	case SECT_DATABASES:
		return add_database(f, f->key, f->val);
	case SECT_USERS:
		return add_user(f, f->key, f->val);
	case SECT_PEERS:
		return add_peer(f, f->key, f->val);
	case SECT_NONE:
		break;
	}
	return src_error(f, "parameter %s outside of any section", f->key);
}

/* inih calls this once per line the reader hands it, i.e. once per entry. */
static int ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct src *f = user;

	(void)section;
	(void)name;
	(void)value;
	/* checking, an entry in error is reported and the reading goes on */
	return handle_entry(f) == 0 || f->p->fatal;
}

/*
 * PgBouncer resets every [pgbouncer] key to its default each time a
 * [pgbouncer] header is read; pgring does not, so keys set before a second
 * [pgbouncer] header (say, in an %include'd file) keep their values.
 */
static int lex_section(struct src *f, char *s)
{
	static const struct {
		const char *name;
		enum section sect;
	} sects[] = {
		{ "databases", SECT_DATABASES },
		{ "users", SECT_USERS },
		{ "peers", SECT_PEERS },
		{ "pgbouncer", SECT_PGBOUNCER },
	};
	char *end = strchr(s, ']');

	if (!end || end[1])
		return src_error(f, "syntax error in section header");
	*end = '\0';
	for (size_t i = 0; i < sizeof(sects) / sizeof(sects[0]); i++) {
		if (strcasecmp(s + 1, sects[i].name) == 0) {
			f->p->section = sects[i].sect;
			return 0;
		}
	}
	return src_error(f, "unknown section [%s]", s + 1);
}

/* A bare key is PgBouncer's [A-Za-z0-9_.*-]; bytes >= 0x80 are let through
 * so that UTF-8 database names work without quotes. */
static bool key_char(char c)
{
	return isalnum((unsigned char)c) || strchr("_.-*", c) || (unsigned char)c >= 0x80;
}

static int lex_key(struct src *f, char *s)
{
	char *p = s, *kend;

	if (*p == '\'') {
		char *out = ++p;

		f->key = out;
		for (;;) {
			if (!*p)
				return src_error(f, "unterminated quoted key");
			if (*p == '\'' && p[1] == '\'') {
				*out++ = '\'';
				p += 2;
			} else if (*p == '\'') {
				p++;
				break;
			} else {
				*out++ = *p++;
			}
		}
		kend = out;
	} else {
		f->key = p;
		while (*p && key_char(*p))
			p++;
		kend = p;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (kend == f->key || *p != '=')
		return src_error(f, "syntax error, expected \"key = value\"");
	p++;
	*kend = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	f->val = p;
	return 1;
}

static int parse_file(struct parser *p, const char *path, struct src *from);

static int lex_include(struct src *f, char *s)
{
	char *path = s + 8;

	while (*path && isspace((unsigned char)*path))
		path++;
	if (!*path)
		return src_error(f, "%%include needs a file name");
	if (f->depth >= CONFIG_MAX_INCLUDE_DEPTH)
		return src_error(f, "%%include nested too deeply (more than %d levels)",
				 CONFIG_MAX_INCLUDE_DEPTH);
	return parse_file(f->p, path, f);
}

/* 1: an entry is in f->key / f->val; 0: nothing for inih; -1: error */
static int lex_line(struct src *f, char *s)
{
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return lex_section(f, s);
	if (strncmp(s, "%include", 8) == 0 && (!s[8] || isspace((unsigned char)s[8])))
		return lex_include(f, s);
	return lex_key(f, s);
}

/*
 * inih's reader.  PgBouncer's syntax is not inih's (no inline comments, no
 * continuation lines, no "key: value", %include, quoted keys, lines of any
 * length), so this reader lexes each line itself and hands inih one short
 * canonical line per entry; the handler then takes the key and value from
 * the src, and line numbers are the reader's own, right in every file.
 */
static char *ini_read(char *str, int num, void *stream)
{
	struct src *f = stream;

	while (!f->p->failed && f->pos < f->len) {
		char *line = f->buf + f->pos;
		char *nl = memchr(line, '\n', f->len - f->pos);
		size_t n = nl ? (size_t)(nl - line) : f->len - f->pos;
		int ret;

		f->pos += n + (nl ? 1 : 0);
		f->line++;
		line[n] = '\0';
		if (strlen(line) != n) {
			src_error(f, "NUL byte in line");
			return NULL;
		}
		ret = lex_line(f, line);
		if (ret < 0 && f->p->fatal && !f->p->failed)
			continue;	/* checking: reported; the next line */
		if (ret < 0)
			return NULL;
		if (ret == 0)
			continue;
		if (num < 4) {
			src_error(f, "internal error: inih line buffer too small");
			return NULL;
		}
		memcpy(str, "e=\n", 4);
		return str;
	}
	return NULL;
}

static int parse_text(struct parser *p, const char *name, char *buf, size_t len, int depth)
{
	struct src f = { .p = p, .name = name, .buf = buf, .len = len, .depth = depth };
	int ret;

	/* a UTF-8 byte order mark is not part of the first key */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		f.pos = 3;
	ret = ini_parse_stream(ini_read, &f, ini_entry, &f);
	if (p->failed)
		return -1;
	if (ret != 0)
		return src_error(&f, "could not parse (inih error %d)", ret);
	return 0;
}

static int add_file_name(struct config *cfg, const char *name, const char **stored)
{
	char **files = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*files));

	if (!files)
		return -ENOMEM;
	cfg->files = files;
	if (!(files[cfg->nfiles] = strdup(name)))
		return -ENOMEM;
	*stored = files[cfg->nfiles++];
	return 0;
}

int config_read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret = 0;

	if (!fp)
		return -errno;
	errno = 0;
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			char *nb;

			if (cap >= max) {
				ret = -EFBIG;
				break;
			}
			nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		got = fread(buf + len, 1, cap - len - 1, fp);
		len += got;
		if (got == 0) {
			if (ferror(fp))
				ret = errno ? -errno : -EIO;
			break;
		}
	}
	fclose(fp);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Reads path, relative to the current directory as PgBouncer does; from is
 * the file whose %include names it, NULL for the main file. */
static int parse_file(struct parser *p, const char *path, struct src *from)
{
	const char *name;
	char *buf = NULL;
	size_t len = 0;
	int ret = config_read_file(path, CONFIG_MAX_FILE_SIZE, &buf, &len);

	if (ret < 0) {
		if (from)
			return src_error(from, "could not read \"%s\": %s", path, strerror(-ret));
		p->failed = true;
		snprintf(p->err, p->errlen, "%s: could not read: %s", path, strerror(-ret));
		return -1;
	}
	if (add_file_name(p->cfg, path, &name) < 0) {
		free(buf);
		if (from)
			return src_error(from, "out of memory");
		p->failed = true;
		snprintf(p->err, p->errlen, "%s: out of memory", path);
		return -1;
	}
	ret = parse_text(p, name, buf, len, from ? from->depth + 1 : 0);
	free(buf);
	return ret;
}

static int parse_start(struct parser *p, const char *name, struct config **out, char *err,
		       size_t errlen, config_warn_fn warn, void *warn_arg)
{
	memset(p, 0, sizeof(*p));
	p->err = err && errlen ? err : p->scratch;
	p->errlen = err && errlen ? errlen : sizeof(p->scratch);
	p->err[0] = '\0';
	p->warn = warn;
	p->warn_arg = warn_arg;
	if (out)
		*out = NULL;
	if (!out || !name) {
		snprintf(p->err, p->errlen, "config: no file name");
		return -1;
	}
	p->cfg = config_new();
	if (!p->cfg || !(p->cfg->path = strdup(name))) {
		config_free(p->cfg);
		snprintf(p->err, p->errlen, "%s: out of memory", name);
		return -1;
	}
	return 0;
}

static int parse_finish(struct parser *p, int ret, struct config **out)
{
	if (ret < 0 || p->failed) {
		config_free(p->cfg);
		return -1;
	}
	*out = p->cfg;
	return 0;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen,
		config_warn_fn warn, void *warn_arg)
{
	struct parser p;

	if (parse_start(&p, path, out, err, errlen, warn, warn_arg) < 0)
		return -1;
	return parse_finish(&p, parse_file(&p, path, NULL), out);
}

int config_check_load(const char *path, struct config **out, int *nfatal, char *err,
		      size_t errlen, config_warn_fn warn, config_warn_fn fatal, void *arg)
{
	struct parser p;
	int ret;

	*nfatal = 0;
	if (parse_start(&p, path, out, err, errlen, warn, arg) < 0)
		return -1;
	p.fatal = fatal;
	ret = parse_finish(&p, parse_file(&p, path, NULL), out);
	*nfatal = p.nfatal;
	return ret;
}

int config_parse_string(const char *name, const char *text, struct config **out, char *err,
			size_t errlen, config_warn_fn warn, void *warn_arg)
{
	struct parser p;
	const char *stored;
	char *buf;
	int ret;

	if (parse_start(&p, name, out, err, errlen, warn, warn_arg) < 0)
		return -1;
	if (!text || !(buf = strdup(text))) {
		snprintf(p.err, p.errlen, "%s: %s", name, text ? "out of memory" : "no text");
		return parse_finish(&p, -1, out);
	}
	if (add_file_name(p.cfg, name, &stored) < 0) {
		free(buf);
		snprintf(p.err, p.errlen, "%s: out of memory", name);
		return parse_finish(&p, -1, out);
	}
	ret = parse_text(&p, stored, buf, strlen(buf), 0);
	free(buf);
	return parse_finish(&p, ret, out);
}

int config_attach_hba(struct config *next, const struct config *running, char *err, size_t errlen)
{
	struct hba *h = NULL;

	if (next->auth_type != AUTH_TYPE_HBA)
		return 0;
	if (hba_load(next->auth_hba_file, next->auth_ident_file, &h, err, errlen) == 0) {
		hba_unref(next->hba);
		next->hba = h;
		return 0;
	}
	/* as PostgreSQL: a bad file at reload leaves the rules in force as they were */
	if (!running || !running->hba)
		return -1;
	hba_unref(next->hba);
	next->hba = hba_ref(running->hba);
	return 1;
}

/* ---- lookups, SHOW CONFIG, SET ---------------------------------------------- */

const struct db_conf *config_find_db(const struct config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	return NULL;
}

const struct peer_conf *config_find_peer(const struct config *cfg, int id)
{
	for (size_t i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
}

const struct user_conf *config_find_user(const struct config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

unsigned config_recv_buf_size(const struct config *cfg)
{
	return cfg->pkt_buf < CONFIG_RECV_BUF_MIN ? CONFIG_RECV_BUF_MIN : (unsigned)cfg->pkt_buf;
}

bool config_list_has(const char *list, const char *name)
{
	size_t nlen;

	if (!list || !name || !*name)
		return false;
	nlen = strlen(name);
	while (*list) {
		size_t n;

		while (*list == ',' || isspace((unsigned char)*list))
			list++;
		n = strcspn(list, ", \t\r\n\f\v");
		if (n == nlen && memcmp(list, name, n) == 0)
			return true;
		list += n;
	}
	return false;
}

static void key_show(const struct config *cfg, const struct key_def *k, char *buf, size_t len)
{
	union kval v;

	if (k->type == KT_CONFFILE) {
		snprintf(buf, len, "%s", cfg->path ? cfg->path : "");
		return;
	}
	if (k->off == NOFIELD) {
		for (size_t i = 0; i < cfg->nignored; i++) {
			if (strcmp(cfg->ignored[i].key, k->name) == 0) {
				snprintf(buf, len, "%s", cfg->ignored[i].value);
				return;
			}
		}
		snprintf(buf, len, "%s", k->def ? k->def : "");
		return;
	}
	load_value(cfg, k, &v);
	format_value(k, &v, buf, len);
}

bool config_key_at(const struct config *cfg, size_t idx, struct config_key_info *info)
{
	const struct key_def *k;

	if (!cfg || !info || idx >= NBOUNCER_KEYS)
		return false;
	k = &bouncer_keys[idx];
	info->name = k->name;
	snprintf(info->default_value, sizeof(info->default_value), "%s", k->def ? k->def : "");
	info->reloadable = !(k->flags & KF_NO_RELOAD);
	key_show(cfg, k, info->value, sizeof(info->value));
	return true;
}

/*
 * PgBouncer's reload: a key it marks as not reloadable keeps its running
 * value, with a warning naming the key, and SHOW CONFIG shows what runs.
 * -1 only when out of memory (next is then unusable).
 */
int config_keep_no_reload(struct config *next, const struct config *running,
			  void (*warn)(void *arg, const char *msg), void *arg)
{
	char was[512], now[512], msg[1200];

	for (size_t i = 0; i < NBOUNCER_KEYS; i++) {
		const struct key_def *k = &bouncer_keys[i];
		union kval v;

		if (!(k->flags & KF_NO_RELOAD) || k->off == NOFIELD)
			continue;
		key_show(running, k, was, sizeof(was));
		key_show(next, k, now, sizeof(now));
		if (!strcmp(was, now))
			continue;
		load_value(running, k, &v);
		if (is_string_type(k->type) && v.s && !(v.s = strdup(v.s)))
			return -1;
		store_value(next, k, &v);
		if (warn) {
			snprintf(msg, sizeof(msg), "config file: %s = %s is not reloadable, "
				 "keeping %s = %s until a restart", k->name, now, k->name, was);
			warn(arg, msg);
		}
	}
	return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* value, formatted as SHOW CONFIG prints it, into buf; false if invalid */
static bool format_given(const struct key_def *k, const char *value, char *buf, size_t len)
{
	union kval v;

	if (!value || parse_value(k, value, &v) < 0)
		return false;
	format_value(k, &v, buf, len);
	if (is_string_type(k->type))
		free(v.s);
	return true;
}

/* Setting a key pgring does not act on yet to what pgring does anyway is a
 * no-op PgBouncer's scripts may issue: its default, or "disable" for a TLS
 * mode (pgring has no TLS). */
static bool not_yet_noop(const struct key_def *k, const char *value)
{
	char a[512], b[512];

	if (!format_given(k, value, a, sizeof(a)))
		return false;
	if (k->type == KT_SSLMODE && !strcmp(a, "disable"))
		return true;
	return format_given(k, k->def, b, sizeof(b)) && !strcmp(a, b);
}

int config_set(const struct config *cfg, const char *key, const char *value, struct config **out,
	       char *err, size_t errlen)
{
	const struct key_def *k;
	struct config *n;
	int ret;

	if (out)
		*out = NULL;
	if (!cfg || !key || !value || !out) {
		set_err(err, errlen, "SET: missing argument");
		return -1;
	}
	k = key_find(bouncer_keys, NBOUNCER_KEYS, key);
	if (!k) {
		set_err(err, errlen, "unknown parameter: %s", key);
		return -1;
	}
	if (k->flags & KF_NO_RELOAD) {
		set_err(err, errlen, "SET of %s is not allowed online", key);
		return -1;
	}
	if ((k->flags & KF_NOT_YET) && !not_yet_noop(k, value)) {
		set_err(err, errlen, "parameter %s is not supported by pgring yet", key);
		return -1;
	}
	if (!(n = config_clone(cfg))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	ret = config_apply(n, k, value);
	if (ret < 0) {
		if (ret == -ENOMEM)
			set_err(err, errlen, "out of memory");
		else if (ret == -ENOTSUP)
			set_err(err, errlen, "%s \"%s\" is not supported by pgring yet", key, value);
		else
			set_err(err, errlen, "invalid value \"%s\" for parameter %s", value, key);
		config_free(n);
		return -1;
	}
	/* SET auth_type = hba (or another file) reads the rules now, so a bad
	 * file is refused here rather than lock every login out */
	if ((!strcmp(key, "auth_type") || !strcmp(key, "auth_hba_file") ||
	     !strcmp(key, "auth_ident_file")) && config_attach_hba(n, NULL, err, errlen) < 0) {
		config_free(n);
		return -1;
	}
	*out = n;
	return 0;
}
