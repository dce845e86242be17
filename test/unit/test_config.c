/* test_config.c - unit tests for the ini reader, key table, SHOW CONFIG rows and SET */
#include "config.h"
#include "hosts.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

#define MAX_WARN 64
#define NOT_YET " is not supported by pgring yet, ignored"

struct warns {
	int n;
	char msg[MAX_WARN][512];
};

static void collect_warn(void *arg, const char *msg)
{
	struct warns *w = arg;

	if (w->n < MAX_WARN)
		snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
	w->n++;
}

static bool has_warn(const struct warns *w, const char *msg)
{
	for (int i = 0; i < w->n && i < MAX_WARN; i++)
		if (strcmp(w->msg[i], msg) == 0)
			return true;
	return false;
}

static struct config *parse_ok(const char *text, struct warns *w)
{
	struct config *cfg = NULL;
	char err[512] = "";

	ck_assert_msg(config_parse_string("t.ini", text, &cfg, err, sizeof(err),
					  w ? collect_warn : NULL, w) == 0, "refused: %s", err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Parses text that must fail and checks the exact message. */
static void parse_fails(const char *text, const char *want)
{
	struct config *cfg = (struct config *)1;
	char err[512] = "";

	ck_assert_int_eq(config_parse_string("t.ini", text, &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, want);
}

static void show(const struct config *cfg, const char *key, char *value, size_t len)
{
	struct config_key_info info;

	for (size_t i = 0; config_key_at(cfg, i, &info); i++) {
		if (strcmp(info.name, key) == 0) {
			snprintf(value, len, "%s", info.value);
			return;
		}
	}
	ck_abort_msg("no SHOW CONFIG row for %s", key);
}

static void assert_show(const struct config *cfg, const char *key, const char *want)
{
	char v[512];

	show(cfg, key, v, sizeof(v));
	ck_assert_msg(strcmp(v, want) == 0, "%s = \"%s\", want \"%s\"", key, v, want);
}

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/test_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->path));
}

/* Writes dir/name; the full path goes to out. */
static void write_file(const struct tmpdir *t, const char *name, const char *text, char *out,
		       size_t outlen)
{
	FILE *fp;

	snprintf(out, outlen, "%s/%s", t->path, name);
	fp = fopen(out, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fputs(text, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
}

static void tmpdir_remove(const struct tmpdir *t, const char *const *names)
{
	char p[256];

	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", t->path, names[i]);
		unlink(p);
	}
	rmdir(t->path);
}

/* ---- defaults ---------------------------------------------------------------- */

/* PgBouncer 1.25's documented defaults, in its SHOW CONFIG order, written out
 * independently of config.c's table. */
static const struct {
	const char *key, *def;
	bool reloadable;
} want_keys[] = {
	{ "admin_users", "", true },
	{ "application_name_add_host", "0", true },
	{ "auth_dbname", "", true },
	{ "auth_file", "", true },
	{ "auth_hba_file", "", true },
	{ "auth_ident_file", "", true },
	{ "auth_ldap_options", "", true },
	{ "auth_query", "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword "
	  "END FROM pg_authid WHERE rolname=$1 AND rolcanlogin", true },
	{ "auth_type", "md5", true },
	{ "auth_user", "", true },
	{ "autodb_idle_timeout", "3600", true },
	{ "cancel_wait_timeout", "10", true },
	{ "client_idle_timeout", "0", true },
	{ "client_login_timeout", "60", true },
	{ "client_tls13_ciphers", "", true },
	{ "client_tls_ca_file", "", true },
	{ "client_tls_cert_file", "", true },
	{ "client_tls_ciphers", "default", true },
	{ "client_tls_dheparams", "auto", true },
	{ "client_tls_ecdhcurve", "auto", true },
	{ "client_tls_key_file", "", true },
	{ "client_tls_protocols", "secure", true },
	{ "client_tls_sslmode", "disable", true },
	{ "conffile", "", true },
	{ "default_pool_size", "20", true },
	{ "disable_pqexec", "0", false },
	{ "dns_max_ttl", "15", true },
	{ "dns_nxdomain_ttl", "15", true },
	{ "dns_zone_check_period", "0", true },
	{ "event_backend", "auto", false },
	{ "idle_transaction_timeout", "0", true },
	{ "ignore_startup_parameters", "", true },
	{ "job_name", "pgbouncer", false },
	{ "kdf_threads", "2", false },
	{ "listen_addr", "", false },
	{ "listen_backlog", "128", false },
	{ "listen_port", "6432", false },
	{ "log_connections", "1", true },
	{ "log_disconnections", "1", true },
	{ "log_pooler_errors", "1", true },
	{ "log_stats", "1", true },
	{ "logfile", "", true },
	{ "max_client_conn", "100", true },
	{ "max_client_prepared_bytes", "16777216", true },
	{ "max_db_client_connections", "0", true },
	{ "max_db_connections", "0", true },
	{ "max_packet_size", "2147483647", true },
	{ "max_prepared_statements", "200", true },
	{ "max_user_client_connections", "0", true },
	{ "max_user_connections", "0", true },
	{ "metrics_listen", "", false },
	{ "min_pool_size", "0", true },
	{ "peer_id", "0", true },
	{ "pidfile", "", false },
	{ "pkt_buf", "4096", false },
	{ "pool_mode", "session", true },
	{ "query_timeout", "0", true },
	{ "query_wait_notify", "5", true },
	{ "query_wait_timeout", "120", true },
	{ "reserve_pool_size", "0", true },
	{ "reserve_pool_timeout", "5", true },
	{ "resolv_conf", "", false },
	{ "sbuf_loopcnt", "5", true },
	{ "scram_iterations", "4096", true },
	{ "server_check_delay", "30", true },
	{ "server_check_query", "<empty>", true },
	{ "server_connect_timeout", "15", true },
	{ "server_fast_close", "0", true },
	{ "server_idle_timeout", "600", true },
	{ "server_lifetime", "3600", true },
	{ "server_login_retry", "15", true },
	{ "server_reset_query", "DISCARD ALL", true },
	{ "server_reset_query_always", "0", true },
	{ "server_round_robin", "0", true },
	{ "server_tls13_ciphers", "", true },
	{ "server_tls_ca_file", "", true },
	{ "server_tls_cert_file", "", true },
	{ "server_tls_ciphers", "default", true },
	{ "server_tls_key_file", "", true },
	{ "server_tls_negotiation", "postgres", true },
	{ "server_tls_protocols", "secure", true },
	{ "server_tls_sslmode", "prefer", true },
	{ "so_reuseport", "0", false },
	{ "stats_period", "60", true },
	{ "stats_users", "", true },
	{ "suspend_timeout", "10", true },
	{ "syslog", "0", true },
	{ "syslog_facility", "daemon", true },
	{ "syslog_ident", "pgbouncer", true },
	{ "tcp_defer_accept", "1", true },
	{ "tcp_keepalive", "1", true },
	{ "tcp_keepcnt", "0", true },
	{ "tcp_keepidle", "0", true },
	{ "tcp_keepintvl", "0", true },
	{ "tcp_socket_buffer", "0", true },
	{ "tcp_user_timeout", "0", true },
	{ "track_extra_parameters", "IntervalStyle", false },
	{ "transaction_timeout", "0", true },
	{ "unix_socket_dir", "/tmp", false },
	{ "unix_socket_group", "", false },
	{ "unix_socket_mode", "0777", false },
	{ "user", "", false },
	{ "verbose", "0", true },
	{ "workers", "1", false },
};
#define NWANT (sizeof(want_keys) / sizeof(want_keys[0]))

START_TEST(defaults_show_config)
{
	struct config *cfg = parse_ok("", NULL);
	struct config_key_info info;
	size_t i;

	for (i = 0; config_key_at(cfg, i, &info); i++) {
		ck_assert_msg(i < NWANT, "extra key %s", info.name);
		ck_assert_str_eq(info.name, want_keys[i].key);
		ck_assert_msg(strcmp(info.default_value, want_keys[i].def) == 0,
			      "%s: default \"%s\", want \"%s\"", info.name, info.default_value,
			      want_keys[i].def);
		/* conffile shows the file being read */
		ck_assert_str_eq(info.value, i == 23 ? "t.ini" : want_keys[i].def);
		ck_assert_msg(info.reloadable == want_keys[i].reloadable, "%s reloadable", info.name);
	}
	ck_assert_uint_eq(i, NWANT);
	ck_assert_int_eq(config_key_at(cfg, NWANT, &info), false);
	ck_assert_int_eq(config_key_at(NULL, 0, &info), false);
	config_free(cfg);
}
END_TEST

START_TEST(defaults_fields)
{
	struct config *cfg = parse_ok("", NULL);

	ck_assert_str_eq(cfg->listen_addr, "");
	ck_assert_int_eq(cfg->listen_port, 6432);
	ck_assert_int_eq(cfg->listen_backlog, 128);
	ck_assert_str_eq(cfg->unix_socket_dir, "/tmp");
	ck_assert_int_eq(cfg->unix_socket_mode, 0777);
	ck_assert_int_eq(cfg->auth_type, AUTH_TYPE_MD5);
	ck_assert_ptr_null(cfg->auth_file);
	ck_assert_ptr_null(cfg->user);
	ck_assert_int_eq(cfg->pool_mode, POOL_SESSION);
	ck_assert_int_eq(cfg->max_client_conn, 100);
	ck_assert_int_eq(cfg->default_pool_size, 20);
	ck_assert_int_eq(cfg->min_pool_size, 0);
	ck_assert_int_eq(cfg->reserve_pool_size, 0);
	ck_assert_int_eq(cfg->reserve_pool_timeout_us, 5000000);
	ck_assert_str_eq(cfg->server_reset_query, "DISCARD ALL");
	/* PgBouncer's "<empty>": send an empty query */
	ck_assert_str_eq(cfg->server_check_query, "");
	ck_assert_int_eq(cfg->server_check_delay_us, 30000000);
	ck_assert_int_eq(cfg->server_lifetime_us, 3600000000LL);
	ck_assert_int_eq(cfg->server_idle_timeout_us, 600000000LL);
	ck_assert_int_eq(cfg->server_connect_timeout_us, 15000000);
	ck_assert_int_eq(cfg->server_login_retry_us, 15000000);
	ck_assert_int_eq(cfg->client_login_timeout_us, 60000000);
	ck_assert_int_eq(cfg->query_timeout_us, 0);
	ck_assert_int_eq(cfg->query_wait_timeout_us, 120000000);
	ck_assert_int_eq(cfg->cancel_wait_timeout_us, 10000000);
	ck_assert_int_eq(cfg->suspend_timeout_us, 10000000);
	ck_assert_int_eq(cfg->autodb_idle_timeout_us, 3600000000LL);
	ck_assert_int_eq(cfg->stats_period_us, 60000000);
	ck_assert_str_eq(cfg->syslog_ident, "pgbouncer");
	ck_assert_str_eq(cfg->syslog_facility, "daemon");
	ck_assert(cfg->log_connections && cfg->log_disconnections && cfg->log_pooler_errors &&
		  cfg->log_stats);
	ck_assert(!cfg->syslog && !cfg->so_reuseport && !cfg->server_reset_query_always);
	ck_assert_int_eq(cfg->pkt_buf, 4096);
	ck_assert_int_eq(cfg->max_packet_size, 2147483647);
	ck_assert_int_eq(cfg->sbuf_loopcnt, 5);
	ck_assert(cfg->tcp_keepalive);
	ck_assert_int_eq(cfg->tcp_defer_accept, 1);
	ck_assert_int_eq(cfg->max_prepared_statements, 200);
	ck_assert_int_eq(cfg->scram_iterations, 4096);
	ck_assert_str_eq(cfg->track_extra_parameters, "IntervalStyle");
	ck_assert_int_eq(cfg->event_backend, EVENT_BACKEND_AUTO);
	ck_assert_int_eq(cfg->verbose, 0);
	ck_assert_uint_eq(cfg->ndbs, 0);
	ck_assert_ptr_null(cfg->fallback_db);
	ck_assert_uint_eq(cfg->nfiles, 1);
	ck_assert_str_eq(cfg->files[0], "t.ini");
	ck_assert_str_eq(cfg->path, "t.ini");
	config_free(cfg);
}
END_TEST

/* Every key written out with its own default must read back the same. */
START_TEST(every_key_round_trips)
{
	struct config *def = parse_ok("", NULL), *cfg;
	struct config_key_info info;
	struct warns w = { 0 };
	char *text = malloc(65536);
	size_t len = 0;
	int not_yet = 0;

	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text + len, 65536 - len, "[pgbouncer]\n");
	for (size_t i = 0; config_key_at(def, i, &info); i++) {
		if (strcmp(info.name, "conffile") == 0)
			continue;
		len += (size_t)snprintf(text + len, 65536 - len, "%s = %s\n", info.name,
					info.default_value);
	}
	cfg = parse_ok(text, &w);
	for (size_t i = 0; config_key_at(cfg, i, &info); i++) {
		if (i == 23)
			continue;
		ck_assert_msg(strcmp(info.value, info.default_value) == 0, "%s = \"%s\" after reading \"%s\"",
			      info.name, info.value, info.default_value);
		if (!strcmp(info.name, "auth_ldap_options") || !strcmp(info.name, "job_name"))
			not_yet++;
	}
	/* TLS, DNS and auth keys are pgring's too now: what still warns is one
	 * of the few not yet acted on, and nothing is unknown */
	ck_assert_int_ge(w.n, not_yet);
	for (int i = 0; i < w.n && i < MAX_WARN; i++)
		ck_assert_msg(strstr(w.msg[i], "is not supported by pgring yet, ignored"), "%s",
			      w.msg[i]);
	ck_assert(!has_warn(&w, "t.ini:24: parameter client_tls_sslmode" NOT_YET));
	config_free(cfg);
	config_free(def);
	free(text);
}
END_TEST

/* ---- real files ------------------------------------------------------------- */

static void load_file_ok(const char *path, struct warns *w)
{
	struct config *cfg = NULL;
	char err[512] = "";

	ck_assert_msg(config_load(path, &cfg, err, sizeof(err), collect_warn, w) == 0,
		      "%s refused: %s", path, err);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_str_eq(cfg->files[0], path);
	config_free(cfg);
}

/* The example PgBouncer ships (Debian's package): no errors, warnings allowed. */
START_TEST(pgbouncer_shipped_example)
{
	static const char *const paths[] = {
		"/usr/share/doc/pgbouncer/examples/pgbouncer.ini",
		"/etc/pgbouncer/pgbouncer.ini",
	};
	int loaded = 0;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct warns w = { 0 };

		if (access(paths[i], R_OK) != 0)
			continue;
		load_file_ok(paths[i], &w);
		loaded++;
	}
	if (!loaded)
		fprintf(stderr, "pgbouncer's example ini not installed, skipped\n");
}
END_TEST

/* PgBouncer 1.25's etc/pgbouncer.ini with its active lines, plus the commented
 * examples switched on (those that are valid settings). */
START_TEST(pgbouncer_style_file)
{
	static const char text[] =
		";;;\n;;; PgBouncer configuration file\n;;;\n\n"
		";; database name = connect string\n"
		"[databases]\n"
		"foodb =\n"
		"bardb = host=localhost dbname=bazdb\n"
		"forcedb = host=localhost port=300 user=baz password=foo client_encoding=UNICODE "
		"datestyle=ISO connect_query='SELECT 1'\n"
		"nondefaultdb = pool_size=50 reserve_pool_size=10\n"
		"authdb = auth_user=bar\n"
		"qdb = auth_dbname=foo max_db_client_connections=10\n"
		"* = host=testserver\n"
		"\n;; User-specific configuration\n[users]\n\n"
		"user1 = pool_size=5 reserve_pool_size=2 pool_mode=transaction max_user_connections=10 "
		"max_user_client_connections=20\n"
		"\n[pgbouncer]\n"
		"logfile = /var/log/pgbouncer/pgbouncer.log\n"
		"pidfile = /var/run/pgbouncer/pgbouncer.pid\n"
		"listen_addr = localhost\n"
		"listen_port = 6432\n"
		";unix_socket_dir = /tmp\n"
		"unix_socket_mode = 0777\n"
		"unix_socket_group =\n"
		"auth_type = md5\n"
		"auth_file = /etc/pgbouncer/userlist.txt\n"
		"admin_users = user2, someadmin, otheradmin\n"
		"stats_users = stats, root\n"
		"pool_mode = session\n"
		"max_prepared_statements = 0\n"
		"server_reset_query = DISCARD ALL\n"
		"ignore_startup_parameters = extra_float_digits\n"
		"server_check_query = select 1\n"
		"server_check_delay = 30\n"
		"max_client_conn = 100\n"
		"default_pool_size = 20\n"
		"syslog = 0\n"
		"log_connections = 1\n"
		"server_lifetime = 3600\n"
		"query_wait_timeout = 120\n"
		"pkt_buf = 4096\n"
		"tcp_defer_accept = 0\n"
		"tcp_keepalive = 1\n"
		"disable_pqexec = 0\n";
	struct warns w = { 0 };
	struct config *cfg = parse_ok(text, &w);
	const struct db_conf *db;
	const struct user_conf *u;

	ck_assert_uint_eq(cfg->ndbs, 6);
	db = config_find_db(cfg, "forcedb");
	ck_assert_ptr_nonnull(db);
	ck_assert_str_eq(db->host, "localhost");
	ck_assert_int_eq(db->port, 300);
	ck_assert_str_eq(db->user, "baz");
	ck_assert_str_eq(db->password, "foo");
	ck_assert_str_eq(db->client_encoding, "UNICODE");
	ck_assert_str_eq(db->datestyle, "ISO");
	ck_assert_str_eq(db->connect_query, "SELECT 1");
	ck_assert_str_eq(db->file, "t.ini");
	ck_assert_int_eq(db->line, 9);
	db = config_find_db(cfg, "nondefaultdb");
	ck_assert_int_eq(db->pool_size, 50);
	ck_assert_int_eq(db->reserve_pool_size, 10);
	ck_assert_str_eq(config_find_db(cfg, "authdb")->auth_user, "bar");
	ck_assert_int_eq(config_find_db(cfg, "qdb")->max_db_client_connections, 10);
	ck_assert_str_eq(config_find_db(cfg, "qdb")->auth_dbname, "foo");
	ck_assert(!has_warn(&w, "t.ini:12: parameter auth_dbname" NOT_YET));
	ck_assert_ptr_nonnull(cfg->fallback_db);
	ck_assert_str_eq(cfg->fallback_db->host, "testserver");
	ck_assert_ptr_null(config_find_db(cfg, "*"));
	u = config_find_user(cfg, "user1");
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->pool_size, 5);
	ck_assert_int_eq(u->reserve_pool_size, 2);
	ck_assert_int_eq(u->pool_mode, POOL_TRANSACTION);
	ck_assert_int_eq(u->max_user_connections, 10);
	ck_assert_int_eq(u->max_user_client_connections, 20);
	ck_assert_int_eq(u->query_timeout_us, CONF_UNSET);
	ck_assert_str_eq(cfg->listen_addr, "localhost");
	ck_assert_str_eq(cfg->unix_socket_group, "");
	ck_assert_str_eq(cfg->auth_file, "/etc/pgbouncer/userlist.txt");
	ck_assert_str_eq(cfg->server_check_query, "select 1");
	ck_assert_int_eq(cfg->max_prepared_statements, 0);
	ck_assert_int_eq(cfg->tcp_defer_accept, 0);
	ck_assert(config_list_has(cfg->admin_users, "someadmin"));
	ck_assert(config_list_has(cfg->stats_users, "root"));
	ck_assert_int_eq(w.n, 0);	/* auth_dbname is in force now */
	config_free(cfg);
}
END_TEST

static void load_tree_file(const char *name, struct config **out)
{
	const char *top = getenv("top_srcdir");
	char path[512], err[512] = "";
	struct warns w = { 0 };

	*out = NULL;
	if (!top) {
		fprintf(stderr, "top_srcdir not set, %s not checked\n", name);
		return;
	}
	snprintf(path, sizeof(path), "%s/etc/%s", top, name);
	ck_assert_msg(config_load(path, out, err, sizeof(err), collect_warn, &w) == 0,
		      "%s refused: %s", path, err);
	ck_assert_msg(w.n == 0, "%s warns: %s", path, w.msg[0]);
}

/* Every key of the table is in etc/pgring.ini as ";key = <its default>". */
static void check_documented(const char *path, const struct config *def)
{
	struct config_key_info info;
	char *text = malloc(1 << 20), line[700];
	FILE *fp = fopen(path, "r");
	size_t len;

	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(text);
	len = fread(text, 1, (1 << 20) - 1, fp);
	fclose(fp);
	text[len] = '\0';
	for (size_t i = 0; config_key_at(def, i, &info); i++) {
		snprintf(line, sizeof(line), "\n;%s =%s%s\n", info.name,
			 *info.default_value ? " " : "", info.default_value);
		ck_assert_msg(strstr(text, line), "%s: no line \"%s\"", path, line + 1);
	}
	free(text);
}

/* The shipped examples load; the full one changes nothing from the defaults. */
START_TEST(shipped_examples)
{
	struct config *cfg, *def = parse_ok("", NULL);
	struct config_key_info a, b;

	load_tree_file("pgring.ini", &cfg);
	if (cfg) {
		for (size_t i = 0; config_key_at(cfg, i, &a); i++) {
			ck_assert(config_key_at(def, i, &b));
			if (i != 23)
				ck_assert_msg(strcmp(a.value, b.value) == 0, "%s = %s", a.name, a.value);
		}
		ck_assert_uint_eq(cfg->ndbs, 0);
		check_documented(cfg->path, def);
		config_free(cfg);
	}
	load_tree_file("pgring-minimal.ini", &cfg);
	if (cfg) {
		ck_assert_uint_eq(cfg->ndbs, 1);
		ck_assert_str_eq(cfg->listen_addr, "127.0.0.1");
		ck_assert_int_eq(cfg->listen_port, 6432);
		ck_assert_int_eq(cfg->auth_type, AUTH_TYPE_SCRAM);
		ck_assert_str_eq(cfg->auth_file, "/etc/pgring/userlist.txt");
		config_free(cfg);
	}
	config_free(def);
}
END_TEST

/* ---- syntax ---------------------------------------------------------------- */

START_TEST(lexing)
{
	static const char text[] =
		"\xef\xbb\xbf# hash comment\r\n"
		"; semicolon comment\n"
		"   [pgbouncer]   \n"
		"\tlisten_addr   =   *   \r\n"
		"server_reset_query = DISCARD ALL ; not a comment\n"
		"  ;indented comment\n"
		"logfile=/var/log/x.log\n"
		"unix_socket_dir =\n"
		"[databases]\n"
		"'my db' = dbname=x\n"
		"'it''s' = dbname=y\n"
		"a.b-c = dbname=z\n"
		"[PgBouncer]\n"
		"admin_users = a,b\n";
	struct config *cfg = parse_ok(text, NULL);

	ck_assert_str_eq(cfg->listen_addr, "*");
	ck_assert_str_eq(cfg->server_reset_query, "DISCARD ALL ; not a comment");
	ck_assert_str_eq(cfg->logfile, "/var/log/x.log");
	ck_assert_str_eq(cfg->unix_socket_dir, "");
	ck_assert_str_eq(config_find_db(cfg, "my db")->dbname, "x");
	ck_assert_int_eq(config_find_db(cfg, "my db")->line, 10);
	ck_assert_str_eq(config_find_db(cfg, "it's")->dbname, "y");
	ck_assert_str_eq(config_find_db(cfg, "a.b-c")->dbname, "z");
	ck_assert_str_eq(cfg->admin_users, "a,b");
	config_free(cfg);
}
END_TEST

START_TEST(long_lines)
{
	char *text = malloc(20000), q[9001];
	struct config *cfg;

	ck_assert_ptr_nonnull(text);
	memset(q, 'x', sizeof(q) - 1);
	q[sizeof(q) - 1] = '\0';
	memcpy(q, "SELECT ", 7);
	snprintf(text, 20000, "[databases]\nd = connect_query='%s' port=7\n[pgbouncer]\nauth_query = %s\n",
		 q, q);
	cfg = parse_ok(text, NULL);
	ck_assert_str_eq(config_find_db(cfg, "d")->connect_query, q);
	ck_assert_int_eq(config_find_db(cfg, "d")->port, 7);
	ck_assert_str_eq(cfg->auth_query, q);
	config_free(cfg);
	free(text);
}
END_TEST

START_TEST(types)
{
	struct config *cfg = parse_ok("[pgbouncer]\n"
				      "query_timeout = 0.5\n"
				      "query_wait_timeout = 1.25\n"
				      "client_idle_timeout = 2.0000001\n"
				      "server_lifetime = 0\n"
				      "log_connections = off\n"
				      "log_disconnections = No\n"
				      "syslog = yes\n"
				      "so_reuseport = TRUE\n"
				      "server_round_robin = on\n"
				      "unix_socket_mode = 0700\n"
				      "pool_mode = Transaction\n"
				      "auth_type = scram-sha-256\n"
				      "event_backend = epoll\n"
				      "server_tls_negotiation = Direct\n"
				      "max_packet_size = 4294967295\n"
				      "server_check_query =\n"
				      "listen_port = 65535\n", NULL);

	ck_assert_int_eq(cfg->query_timeout_us, 500000);
	ck_assert_int_eq(cfg->query_wait_timeout_us, 1250000);
	ck_assert_int_eq(cfg->client_idle_timeout_us, 2000000);
	ck_assert_int_eq(cfg->server_lifetime_us, 0);
	ck_assert(!cfg->log_connections && !cfg->log_disconnections);
	ck_assert(cfg->syslog && cfg->so_reuseport && cfg->server_round_robin);
	ck_assert_int_eq(cfg->unix_socket_mode, 0700);
	ck_assert_int_eq(cfg->pool_mode, POOL_TRANSACTION);
	ck_assert_int_eq(cfg->auth_type, AUTH_TYPE_SCRAM);
	ck_assert_int_eq(cfg->event_backend, EVENT_BACKEND_EPOLL);
	ck_assert_int_eq(cfg->server_tls_negotiation, TLS_NEG_DIRECT);
	ck_assert_int_eq(cfg->max_packet_size, 4294967295LL);
	ck_assert_ptr_null(cfg->server_check_query);
	ck_assert_int_eq(cfg->listen_port, 65535);

	assert_show(cfg, "query_timeout", "0.5");
	assert_show(cfg, "query_wait_timeout", "1.25");
	assert_show(cfg, "server_lifetime", "0");
	assert_show(cfg, "log_connections", "0");
	assert_show(cfg, "syslog", "1");
	assert_show(cfg, "unix_socket_mode", "0700");
	assert_show(cfg, "pool_mode", "transaction");
	assert_show(cfg, "auth_type", "scram-sha-256");
	assert_show(cfg, "event_backend", "epoll");
	assert_show(cfg, "server_tls_negotiation", "direct");
	assert_show(cfg, "server_check_query", "");
	config_free(cfg);

	for (int i = 0; i < 4; i++) {
		static const char *const modes[] = { "trust", "any", "plain", "md5" };
		static const int want[] = { AUTH_TYPE_TRUST, AUTH_TYPE_ANY, AUTH_TYPE_PLAIN,
					    AUTH_TYPE_MD5 };
		char text[64];

		snprintf(text, sizeof(text), "[pgbouncer]\nauth_type = %s\n", modes[i]);
		cfg = parse_ok(text, NULL);
		ck_assert_int_eq(cfg->auth_type, want[i]);
		ck_assert_str_eq(auth_type_name(cfg->auth_type), modes[i]);
		config_free(cfg);
	}
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(pool_mode_name(POOL_SESSION), "session");
	ck_assert_str_eq(pool_mode_name(POOL_TRANSACTION), "transaction");
	ck_assert_str_eq(pool_mode_name(POOL_STATEMENT), "statement");
	ck_assert_str_eq(pool_mode_name(POOL_MODE_UNSET), "");
	ck_assert_str_eq(pool_mode_name(42), "");
	ck_assert_str_eq(auth_type_name(AUTH_TYPE_SCRAM), "scram-sha-256");
	ck_assert_str_eq(auth_type_name(AUTH_TYPE_CERT), "cert");
	ck_assert_str_eq(auth_type_name(AUTH_TYPE_HBA), "hba");
	ck_assert_str_eq(auth_type_name(-3), "");
}
END_TEST

START_TEST(list_has)
{
	ck_assert(config_list_has("a, b,c  d\tee", "a"));
	ck_assert(config_list_has("a, b,c  d\tee", "b"));
	ck_assert(config_list_has("a, b,c  d\tee", "c"));
	ck_assert(config_list_has("a, b,c  d\tee", "d"));
	ck_assert(config_list_has("a, b,c  d\tee", "ee"));
	ck_assert(!config_list_has("a, b,c  d\tee", "e"));
	ck_assert(!config_list_has("a, b,c  d\tee", "a,"));
	ck_assert(!config_list_has("ab", "a"));
	ck_assert(!config_list_has("", "a"));
	ck_assert(!config_list_has(",,,", ""));
	ck_assert(!config_list_has(NULL, "a"));
	ck_assert(!config_list_has("a", NULL));
	/* "*" has no special meaning */
	ck_assert(!config_list_has("*", "alice"));
	ck_assert(config_list_has("*", "*"));
}
END_TEST

/* ---- [databases] and [users] ---------------------------------------------- */

START_TEST(databases)
{
	struct warns w = { 0 };
	struct config *cfg = parse_ok(
		"[databases]\n"
		"plain =\n"
		"q = host=/var/run/postgresql password='it''s a secret' application_name='my app' "
		"   pool_mode=statement server_lifetime=1.5 min_pool_size=2 max_db_connections=7 "
		"timezone=UTC dbname = spaced\n"
		"dup = dbname=first\n"
		"* = host=fallback port=5433\n"
		"dup = dbname=second\n"
		"lb = load_balance_hosts=round-robin auth_query='SELECT 1' reserve_pool=3\n", &w);
	const struct db_conf *db;

	ck_assert_uint_eq(cfg->ndbs, 4);
	db = config_find_db(cfg, "plain");
	ck_assert_ptr_null(db->host);
	ck_assert_ptr_null(db->dbname);
	ck_assert_int_eq(db->port, 5432);
	ck_assert_int_eq(db->pool_size, CONF_UNSET);
	ck_assert_int_eq(db->reserve_pool_size, CONF_UNSET);
	ck_assert_int_eq(db->pool_mode, POOL_MODE_UNSET);
	ck_assert_int_eq(db->server_lifetime_us, CONF_UNSET);

	db = config_find_db(cfg, "q");
	ck_assert_str_eq(db->host, "/var/run/postgresql");
	ck_assert_str_eq(db->password, "it's a secret");
	ck_assert_str_eq(db->application_name, "my app");
	ck_assert_int_eq(db->pool_mode, POOL_STATEMENT);
	ck_assert_int_eq(db->server_lifetime_us, 1500000);
	ck_assert_int_eq(db->min_pool_size, 2);
	ck_assert_int_eq(db->max_db_connections, 7);
	ck_assert_str_eq(db->timezone, "UTC");
	ck_assert_str_eq(db->dbname, "spaced");

	/* the later entry wins, in the earlier one's place */
	ck_assert_str_eq(cfg->dbs[2].name, "dup");
	ck_assert_str_eq(cfg->dbs[2].dbname, "second");
	ck_assert_int_eq(cfg->dbs[2].line, 6);

	ck_assert_str_eq(cfg->fallback_db->name, "*");
	ck_assert_str_eq(cfg->fallback_db->host, "fallback");
	ck_assert_int_eq(cfg->fallback_db->port, 5433);

	db = config_find_db(cfg, "lb");
	ck_assert_int_eq(db->reserve_pool_size, 3);
	ck_assert_str_eq(db->auth_query, "SELECT 1");
	ck_assert_int_eq(db->lb_hosts, HOSTS_LB_ROUND_ROBIN);
	ck_assert_int_eq(w.n, 0);
	ck_assert_ptr_null(config_find_db(cfg, "nope"));
	ck_assert_ptr_null(config_find_db(cfg, NULL));
	ck_assert_ptr_null(config_find_db(NULL, "q"));
	config_free(cfg);
}
END_TEST

START_TEST(users)
{
	struct warns w = { 0 };
	struct config *cfg = parse_ok(
		"[users]\n"
		"u1 = pool_mode=statement pool_size=3 reserve_pool_size=1 max_user_connections=4 "
		"max_user_client_connections=5 query_timeout=2.5 idle_transaction_timeout=6 "
		"client_idle_timeout=0.25\n"
		"u2 =\n"
		"u3 = transaction_timeout=5\n"
		"u2 = pool_size=9\n", &w);
	const struct user_conf *u = config_find_user(cfg, "u1");

	ck_assert_uint_eq(cfg->nusers, 3);
	ck_assert_int_eq(u->pool_mode, POOL_STATEMENT);
	ck_assert_int_eq(u->pool_size, 3);
	ck_assert_int_eq(u->reserve_pool_size, 1);
	ck_assert_int_eq(u->max_user_connections, 4);
	ck_assert_int_eq(u->max_user_client_connections, 5);
	ck_assert_int_eq(u->query_timeout_us, 2500000);
	ck_assert_int_eq(u->idle_transaction_timeout_us, 6000000);
	ck_assert_int_eq(u->client_idle_timeout_us, 250000);
	u = config_find_user(cfg, "u2");
	ck_assert_int_eq(u->pool_size, 9);
	ck_assert_int_eq(u->pool_mode, POOL_MODE_UNSET);
	ck_assert_int_eq(u->client_idle_timeout_us, CONF_UNSET);
	ck_assert_int_eq(u->transaction_timeout_us, CONF_UNSET);
	ck_assert_int_eq(config_find_user(cfg, "u3")->transaction_timeout_us, 5000000);
	ck_assert(!has_warn(&w, "t.ini:4: parameter transaction_timeout" NOT_YET));
	ck_assert_ptr_null(config_find_user(cfg, "u4"));
	config_free(cfg);
}
END_TEST

/* ---- warnings ---------------------------------------------------------------- */

START_TEST(warnings_not_errors)
{
	struct warns w = { 0 };
	struct config *cfg = parse_ok("[pgbouncer]\n"
				      "no_such_key = 1\n"
				      "client_tls_sslmode = require\n"
				      "dns_max_ttl = 2.5\n"
				      "peer_id = 7\n"
				      "auth_user = pgbouncer\n"
				      "Listen_Port = 1\n"
				      "[peers]\n"
				      "1 = host=/tmp/pgbouncer1 port=6432\n", &w);

	ck_assert_int_eq(w.n, 2);
	ck_assert_str_eq(w.msg[0], "t.ini:2: unknown parameter pgbouncer/no_such_key");
	/* client_tls_sslmode (line 3), dns_max_ttl (line 4) and auth_user
	 * (line 6) are acted on: no warning */
	ck_assert(!has_warn(&w, "t.ini:3: parameter client_tls_sslmode" NOT_YET));
	ck_assert_str_eq(w.msg[1], "t.ini:7: unknown parameter pgbouncer/Listen_Port");
	ck_assert(!has_warn(&w, "t.ini:6: parameter auth_user" NOT_YET));
	ck_assert_int_eq(cfg->dns_max_ttl_us, 2500000);
	ck_assert(!has_warn(&w, "t.ini:5: parameter peer_id" NOT_YET));
	ck_assert_int_eq(cfg->peer_id, 7);
	ck_assert_uint_eq(cfg->npeers, 1);
	/* accepted values still show in SHOW CONFIG */
	assert_show(cfg, "client_tls_sslmode", "require");
	assert_show(cfg, "dns_max_ttl", "2.5");
	assert_show(cfg, "peer_id", "7");
	assert_show(cfg, "auth_user", "pgbouncer");
	assert_show(cfg, "server_tls_sslmode", "prefer");
	ck_assert_int_eq(cfg->listen_port, 6432);
	config_free(cfg);

	/* no callback: still loads */
	cfg = parse_ok("[pgbouncer]\nno_such_key = 1\n", NULL);
	config_free(cfg);
}
END_TEST

/* [peers]: id = host= port= pool_size=, sorted by id, a later entry replacing */
START_TEST(peers_section)
{
	struct config *cfg = parse_ok("[pgbouncer]\n"
				      "peer_id = 2\n"
				      "[peers]\n"
				      "16383 = host=10.0.0.9\n"
				      "2 = host=/tmp/p2 port=7002\n"
				      "1 = host=127.0.0.1 port=7001 pool_size=3\n"
				      "2 = host=/tmp/p2b port=7003\n", NULL);
	struct config *copy;

	ck_assert_int_eq(cfg->peer_id, 2);
	ck_assert_uint_eq(cfg->npeers, 3);
	ck_assert_int_eq(cfg->peers[0].id, 1);
	ck_assert_str_eq(cfg->peers[0].host, "127.0.0.1");
	ck_assert_int_eq(cfg->peers[0].port, 7001);
	ck_assert_int_eq(cfg->peers[0].pool_size, 3);
	ck_assert_int_eq(cfg->peers[1].id, 2);
	ck_assert_str_eq(cfg->peers[1].host, "/tmp/p2b");
	ck_assert_int_eq(cfg->peers[1].port, 7003);
	ck_assert_int_eq(cfg->peers[1].pool_size, CONF_UNSET);
	ck_assert_int_eq(cfg->peers[2].id, 16383);
	ck_assert_int_eq(cfg->peers[2].port, 6432);
	ck_assert_ptr_nonnull(config_find_peer(cfg, 16383));
	ck_assert_ptr_null(config_find_peer(cfg, 3));
	copy = config_clone(cfg);
	ck_assert_ptr_nonnull(copy);
	config_free(cfg);
	ck_assert_uint_eq(copy->npeers, 3);
	ck_assert_str_eq(copy->peers[1].host, "/tmp/p2b");
	config_free(copy);

	parse_fails("[peers]\n0 = host=x\n", "t.ini:2: invalid peer id \"0\" in [peers]: 1 to 16383");
	parse_fails("[peers]\n16384 = host=x\n", "t.ini:2: invalid peer id \"16384\" in [peers]: 1 to 16383");
	parse_fails("[peers]\n1 = host=x dbname=y\n", "t.ini:2: unknown parameter \"dbname\" in [peers] entry \"1\"");
	parse_fails("[pgbouncer]\npeer_id = 16384\n",
		    "t.ini:2: invalid value \"16384\" for parameter peer_id");
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(errors_pgbouncer_values)
{
	parse_fails("[pgbouncer]\nlisten_port = 6432\nmax_client_conn = abc\n",
		    "t.ini:3: invalid value \"abc\" for parameter max_client_conn");
	parse_fails("[pgbouncer]\nmax_client_conn = 10x\n",
		    "t.ini:2: invalid value \"10x\" for parameter max_client_conn");
	parse_fails("[pgbouncer]\nmax_client_conn =\n",
		    "t.ini:2: invalid value \"\" for parameter max_client_conn");
	parse_fails("[pgbouncer]\nmax_client_conn = 99999999999\n",
		    "t.ini:2: invalid value \"99999999999\" for parameter max_client_conn");
	parse_fails("[pgbouncer]\nlog_stats = maybe\n",
		    "t.ini:2: invalid value \"maybe\" for parameter log_stats");
	parse_fails("[pgbouncer]\nlog_stats = 2\n",
		    "t.ini:2: invalid value \"2\" for parameter log_stats");
	parse_fails("[pgbouncer]\nquery_timeout = 5s\n",
		    "t.ini:2: invalid value \"5s\" for parameter query_timeout");
	parse_fails("[pgbouncer]\nquery_timeout = -1\n",
		    "t.ini:2: invalid value \"-1\" for parameter query_timeout");
	parse_fails("[pgbouncer]\nquery_timeout = nan\n",
		    "t.ini:2: invalid value \"nan\" for parameter query_timeout");
	parse_fails("[pgbouncer]\nquery_timeout = 1e300\n",
		    "t.ini:2: invalid value \"1e300\" for parameter query_timeout");
	parse_fails("[pgbouncer]\npool_mode = sessions\n",
		    "t.ini:2: invalid value \"sessions\" for parameter pool_mode");
	parse_fails("[pgbouncer]\nauth_type = kerberos\n",
		    "t.ini:2: invalid value \"kerberos\" for parameter auth_type");
	parse_fails("[pgbouncer]\nevent_backend = kqueue\n",
		    "t.ini:2: invalid value \"kqueue\" for parameter event_backend");
	parse_fails("[pgbouncer]\nunix_socket_mode = 0999\n",
		    "t.ini:2: invalid value \"0999\" for parameter unix_socket_mode");
	parse_fails("[pgbouncer]\nclient_tls_sslmode = sometimes\n",
		    "t.ini:2: invalid value \"sometimes\" for parameter client_tls_sslmode");
	parse_fails("[pgbouncer]\nserver_tls_negotiation = gssapi\n",
		    "t.ini:2: invalid value \"gssapi\" for parameter server_tls_negotiation");
	parse_fails("[pgbouncer]\nlisten_port = 0\n",
		    "t.ini:2: invalid value \"0\" for parameter listen_port");
	parse_fails("[pgbouncer]\nlisten_port = 65536\n",
		    "t.ini:2: invalid value \"65536\" for parameter listen_port");
	parse_fails("[pgbouncer]\ndefault_pool_size = -1\n",
		    "t.ini:2: invalid value \"-1\" for parameter default_pool_size");
	parse_fails("[pgbouncer]\nreserve_pool_size = -5\n",
		    "t.ini:2: invalid value \"-5\" for parameter reserve_pool_size");
	parse_fails("[pgbouncer]\npkt_buf = 0\n",
		    "t.ini:2: invalid value \"0\" for parameter pkt_buf");
	parse_fails("[pgbouncer]\nmax_packet_size = 4294967296\n",
		    "t.ini:2: invalid value \"4294967296\" for parameter max_packet_size");
}
END_TEST

START_TEST(errors_auth_type_not_yet)
{
	static const char *const refused[] = { "pam", "ldap" };
	struct config *cfg;

	for (size_t i = 0; i < 2; i++) {
		char text[64], want[128];

		snprintf(text, sizeof(text), "; x\n[pgbouncer]\nauth_type = %s\n", refused[i]);
		snprintf(want, sizeof(want), "t.ini:3: auth_type \"%s\" is not supported by pgring yet",
			 refused[i]);
		parse_fails(text, want);
	}
	/* cert works since client TLS came */
	cfg = parse_ok("[pgbouncer]\nauth_type = cert\n", NULL);
	ck_assert_int_eq(cfg->auth_type, AUTH_TYPE_CERT);
	config_free(cfg);
}
END_TEST

START_TEST(errors_databases)
{
	parse_fails("[databases]\npgbouncer = host=x\n",
		    "t.ini:2: database name \"pgbouncer\" is reserved for the admin console");
	parse_fails("[databases]\n\npgring =\n",
		    "t.ini:3: database name \"pgring\" is reserved for the admin console");
	parse_fails("[databases]\nd = host=x colour=blue\n",
		    "t.ini:2: unknown parameter \"colour\" in [databases] entry \"d\"");
	parse_fails("[databases]\nd = host='x port=1\n",
		    "t.ini:2: unterminated quoted value in [databases] entry \"d\"");
	parse_fails("[databases]\nd = host=\n",
		    "t.ini:2: empty value for parameter host in [databases] entry \"d\"");
	parse_fails("[databases]\nd = host='' port=1\n",
		    "t.ini:2: empty value for parameter host in [databases] entry \"d\"");
	parse_fails("[databases]\nd = host\n",
		    "t.ini:2: syntax error in [databases] entry \"d\" at offset 0: expected key=value");
	/* F16: the text after a bad token may be a password; it is not echoed */
	parse_fails("[databases]\nd = port 5432 password=hunter2\n",
		    "t.ini:2: syntax error in [databases] entry \"d\" at offset 0: expected key=value");
	parse_fails("[databases]\nd = port=5432 password=hunter 2\n",
		    "t.ini:2: syntax error in [databases] entry \"d\" at offset 26: expected key=value");
	parse_fails("[databases]\nd = host='a'b\n",
		    "t.ini:2: syntax error after quoted value in [databases] entry \"d\"");
	parse_fails("[databases]\nd = port=x\n", "t.ini:2: invalid value \"x\" for parameter port");
	parse_fails("[databases]\nd = port=70000\n",
		    "t.ini:2: invalid value \"70000\" for parameter port");
	parse_fails("[databases]\nd = pool_size=-1\n",
		    "t.ini:2: invalid value \"-1\" for parameter pool_size");
	parse_fails("[databases]\nd = pool_mode=x\n",
		    "t.ini:2: invalid value \"x\" for parameter pool_mode");
	parse_fails("[databases]\nd = server_lifetime=soon\n",
		    "t.ini:2: invalid value \"soon\" for parameter server_lifetime");
	parse_fails("[users]\nu = pool_size=1 colour=red\n",
		    "t.ini:2: unknown parameter \"colour\" in [users] entry \"u\"");
	parse_fails("[users]\nu = query_timeout=-2\n",
		    "t.ini:2: invalid value \"-2\" for parameter query_timeout");
}
END_TEST

START_TEST(errors_syntax)
{
	parse_fails("listen_port = 1\n", "t.ini:1: parameter listen_port outside of any section");
	parse_fails("[pgbouncer]\n[nosuch]\n", "t.ini:2: unknown section [nosuch]");
	parse_fails("[pgbouncer\n", "t.ini:1: syntax error in section header");
	parse_fails("[pgbouncer] x\n", "t.ini:1: syntax error in section header");
	parse_fails("[pgbouncer]\nlisten_port 6432\n",
		    "t.ini:2: syntax error, expected \"key = value\"");
	parse_fails("[pgbouncer]\n= 6432\n", "t.ini:2: syntax error, expected \"key = value\"");
	parse_fails("[databases]\nfoo bar = x\n", "t.ini:2: syntax error, expected \"key = value\"");
	parse_fails("[databases]\n'foo = x\n", "t.ini:2: unterminated quoted key");
	parse_fails("[pgbouncer]\n%include\n", "t.ini:2: %include needs a file name");
	parse_fails("[pgbouncer]\n%includes x\n", "t.ini:2: syntax error, expected \"key = value\"");
}
END_TEST

START_TEST(errors_bytes_and_args)
{
	static const char nul[] = "[pgbouncer]\nlisten_port = 1\0 junk\n";
	struct config *cfg = (struct config *)1;
	struct tmpdir t;
	char path[256], err[16];
	FILE *fp;

	/* a NUL byte inside a file */
	tmpdir_make(&t);
	snprintf(path, sizeof(path), "%s/nul.ini", t.path);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(nul, 1, sizeof(nul) - 1, fp), sizeof(nul) - 1);
	fclose(fp);
	{
		char big[512];
		char want[512];

		ck_assert_int_eq(config_load(path, &cfg, big, sizeof(big), NULL, NULL), -1);
		snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
		ck_assert_str_eq(big, want);
	}
	tmpdir_remove(&t, (const char *const[]){ "nul.ini", NULL });

	/* a short or absent error buffer truncates, never overflows */
	ck_assert_int_eq(config_parse_string("t.ini", "[x]\n", &cfg, err, sizeof(err), NULL, NULL),
			 -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(config_parse_string("t.ini", "[x]\n", &cfg, NULL, 0, NULL, NULL), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(config_parse_string("t.ini", NULL, &cfg, NULL, 0, NULL, NULL), -1);
	ck_assert_int_eq(config_parse_string(NULL, "", &cfg, NULL, 0, NULL, NULL), -1);
	config_free(NULL);
}
END_TEST

/* ---- files and %include ------------------------------------------------------- */

START_TEST(include_files)
{
	struct tmpdir t;
	char main_p[256], a[256], b[256], text[1024], err[512] = "";
	struct config *cfg = NULL;
	struct warns w = { 0 };
	const struct db_conf *db;

	tmpdir_make(&t);
	write_file(&t, "b.ini", "; b\nlisten_port = 7000\n[databases]\nfromb = dbname=bb\n",
		   b, sizeof(b));
	snprintf(text, sizeof(text), "; a\n[databases]\nfroma = dbname=aa\n[pgbouncer]\nnosuch = 1\n"
		 "%%include %s\n", b);
	write_file(&t, "a.ini", text, a, sizeof(a));
	snprintf(text, sizeof(text), "[pgbouncer]\nlisten_port = 6000\n%%include %s\n"
		 "froma = host=over\n", a);
	write_file(&t, "main.ini", text, main_p, sizeof(main_p));

	ck_assert_msg(config_load(main_p, &cfg, err, sizeof(err), collect_warn, &w) == 0, "%s", err);
	/* b.ini was read last, and its [databases] stays current after the includes */
	ck_assert_int_eq(cfg->listen_port, 7000);
	ck_assert_uint_eq(cfg->nfiles, 3);
	ck_assert_str_eq(cfg->files[0], main_p);
	ck_assert_str_eq(cfg->files[1], a);
	ck_assert_str_eq(cfg->files[2], b);
	db = config_find_db(cfg, "froma");
	ck_assert_str_eq(db->host, "over");
	ck_assert_str_eq(db->file, main_p);
	ck_assert_int_eq(db->line, 4);
	db = config_find_db(cfg, "fromb");
	ck_assert_str_eq(db->dbname, "bb");
	ck_assert_str_eq(db->file, b);
	ck_assert_int_eq(db->line, 4);
	/* warnings name the included file and its own line */
	snprintf(text, sizeof(text), "%s:5: unknown parameter pgbouncer/nosuch", a);
	ck_assert_int_eq(w.n, 1);
	ck_assert_str_eq(w.msg[0], text);
	config_free(cfg);

	/* an error inside an included file names that file and line */
	write_file(&t, "b.ini", "; b\n\nlisten_port = none\n", b, sizeof(b));
	ck_assert_int_eq(config_load(main_p, &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_null(cfg);
	snprintf(text, sizeof(text), "%s:3: invalid value \"none\" for parameter listen_port", b);
	ck_assert_str_eq(err, text);

	tmpdir_remove(&t, (const char *const[]){ "a.ini", "b.ini", "main.ini", NULL });
}
END_TEST

START_TEST(include_relative_to_cwd)
{
	struct tmpdir t;
	char p[256], cwd[512], err[512] = "";
	struct config *cfg = NULL;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	tmpdir_make(&t);
	write_file(&t, "inc.ini", "pool_mode = statement\n", p, sizeof(p));
	write_file(&t, "main.ini", "[pgbouncer]\n%include inc.ini\n", p, sizeof(p));
	ck_assert_int_eq(chdir(t.path), 0);
	ck_assert_msg(config_load("main.ini", &cfg, err, sizeof(err), NULL, NULL) == 0, "%s", err);
	ck_assert_int_eq(cfg->pool_mode, POOL_STATEMENT);
	ck_assert_str_eq(cfg->files[1], "inc.ini");
	config_free(cfg);
	ck_assert_int_eq(chdir(cwd), 0);
	tmpdir_remove(&t, (const char *const[]){ "inc.ini", "main.ini", NULL });
}
END_TEST

/* f0 includes f1 ... includes fN: ten levels below the main file are fine. */
static int include_chain(struct tmpdir *t, int levels, char *err, size_t errlen)
{
	char p[256], next[256], text[512];
	struct config *cfg = NULL;
	int ret;

	for (int i = levels; i >= 0; i--) {
		char name[16];

		snprintf(name, sizeof(name), "f%d.ini", i);
		if (i == levels)
			snprintf(text, sizeof(text), "; last\nlisten_port = 1234\n");
		else
			snprintf(text, sizeof(text), "; %d\n%%include %s\n", i, next);
		write_file(t, name, text, p, sizeof(p));
		snprintf(next, sizeof(next), "%s", p);
	}
	snprintf(text, sizeof(text), "[pgbouncer]\n%%include %s\n", p);
	ret = config_parse_string("main.ini", text, &cfg, err, errlen, NULL, NULL);
	if (ret == 0) {
		ck_assert_int_eq(cfg->listen_port, 1234);
		ck_assert_uint_eq(cfg->nfiles, (size_t)levels + 2);
	}
	config_free(cfg);
	return ret;
}

START_TEST(include_depth)
{
	static const char *const files[] = { "f0.ini", "f1.ini", "f2.ini", "f3.ini", "f4.ini",
					     "f5.ini", "f6.ini", "f7.ini", "f8.ini", "f9.ini",
					     "f10.ini", "loop.ini", NULL };
	struct tmpdir t;
	char err[512] = "", want[512], p[256], text[512];
	struct config *cfg = NULL;

	tmpdir_make(&t);
	/* main.ini -> f0 ... f9: ten levels */
	ck_assert_msg(include_chain(&t, 9, err, sizeof(err)) == 0, "%s", err);
	/* main.ini -> f0 ... f10: eleven */
	ck_assert_int_eq(include_chain(&t, 10, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/f9.ini:2: %%include nested too deeply (more than 10 levels)",
		 t.path);
	ck_assert_str_eq(err, want);

	/* a file that includes itself ends the same way */
	snprintf(p, sizeof(p), "%s/loop.ini", t.path);
	snprintf(text, sizeof(text), "%%include %s\n", p);
	write_file(&t, "loop.ini", text, p, sizeof(p));
	ck_assert_int_eq(config_load(p, &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err, "nested too deeply"));
	tmpdir_remove(&t, files);
}
END_TEST

START_TEST(missing_files)
{
	struct config *cfg = (struct config *)1;
	char err[512] = "";

	ck_assert_int_eq(config_load("/nonexistent/pgring.ini", &cfg, err, sizeof(err), NULL, NULL),
			 -1);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, "/nonexistent/pgring.ini: could not read: No such file or directory");
	parse_fails("[pgbouncer]\n\n%include /nonexistent/x.ini\n",
		    "t.ini:3: could not read \"/nonexistent/x.ini\": No such file or directory");
}
END_TEST

/* ---- SET and clone -------------------------------------------------------------- */

static struct config *sample(void)
{
	return parse_ok("[databases]\nd1 = host=h1 port=5433 password='p w'\n* = host=fb\n"
			"[users]\nu1 = pool_size=3\n"
			"[pgbouncer]\ndefault_pool_size = 10\nclient_tls_sslmode = allow\n", NULL);
}

START_TEST(set_reloadable)
{
	struct config *cfg = sample(), *n = NULL;
	char err[256] = "";

	ck_assert_msg(config_set(cfg, "default_pool_size", "50", &n, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(n->default_pool_size, 50);
	ck_assert_int_eq(cfg->default_pool_size, 10);
	assert_show(n, "default_pool_size", "50");
	config_free(cfg);
	cfg = n;

	ck_assert_int_eq(config_set(cfg, "query_timeout", "0.5", &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n->query_timeout_us, 500000);
	config_free(n);
	ck_assert_int_eq(config_set(cfg, "pool_mode", "transaction", &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n->pool_mode, POOL_TRANSACTION);
	config_free(n);
	ck_assert_int_eq(config_set(cfg, "server_reset_query", "RESET ALL", &n, err, sizeof(err)), 0);
	ck_assert_str_eq(n->server_reset_query, "RESET ALL");
	ck_assert_str_eq(cfg->server_reset_query, "DISCARD ALL");
	/* the copy keeps everything else */
	ck_assert_str_eq(config_find_db(n, "d1")->password, "p w");
	ck_assert_str_eq(n->fallback_db->host, "fb");
	ck_assert_int_eq(config_find_user(n, "u1")->pool_size, 3);
	assert_show(n, "client_tls_sslmode", "allow");
	ck_assert_uint_eq(n->nfiles, 1);
	config_free(n);
	config_free(cfg);
}
END_TEST

/* PgBouncer takes any positive pkt_buf; pgring's receive buffers have a floor */
START_TEST(pkt_buf_small)
{
	struct config *cfg = parse_ok("[pgbouncer]\npkt_buf = 512\n", NULL);

	ck_assert_int_eq(cfg->pkt_buf, 512);
	ck_assert_uint_eq(config_recv_buf_size(cfg), 512);
	config_free(cfg);
	cfg = parse_ok("[pgbouncer]\npkt_buf = 64\n", NULL);
	ck_assert_uint_eq(config_recv_buf_size(cfg), CONFIG_RECV_BUF_MIN);
	config_free(cfg);
}
END_TEST

/* SET of a key pgring does not act on yet, to what pgring does anyway: a
 * no-op, answered as PgBouncer answers a SET, not refused */
START_TEST(set_not_yet_noop)
{
	static const char *const ok[][2] = {
		{ "server_tls_sslmode", "disable" }, { "server_tls_sslmode", "prefer" },
		{ "client_tls_sslmode", "disable" }, { "dns_max_ttl", "15" },
		{ "server_tls_protocols", "secure" },
	};
	struct config *cfg = sample(), *n = NULL;
	char err[256] = "";

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(config_set(cfg, ok[i][0], ok[i][1], &n, err, sizeof(err)) == 0,
			      "%s = %s: %s", ok[i][0], ok[i][1], err);
		ck_assert_ptr_nonnull(n);
		config_free(n);
		n = NULL;
	}
	ck_assert_int_eq(config_set(cfg, "client_tls_sslmode", "prefer", &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n->client_tls_sslmode, TLS_PREFER);
	config_free(n);
	/* dns_max_ttl and auth_user are in force now: SET takes them */
	ck_assert_int_eq(config_set(cfg, "dns_max_ttl", "5", &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n->dns_max_ttl_us, 5000000);
	config_free(n);
	ck_assert_int_eq(config_set(cfg, "auth_user", "x", &n, err, sizeof(err)), 0);
	ck_assert_str_eq(n->auth_user, "x");
	config_free(n);
	config_free(cfg);
}
END_TEST

START_TEST(set_refused)
{
	struct config *cfg = sample(), *n = (struct config *)1;
	char err[256] = "";

	ck_assert_int_eq(config_set(cfg, "listen_port", "7000", &n, err, sizeof(err)), -1);
	ck_assert_ptr_null(n);
	ck_assert_str_eq(err, "SET of listen_port is not allowed online");
	ck_assert_int_eq(config_set(cfg, "pkt_buf", "8192", &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "SET of pkt_buf is not allowed online");
	ck_assert_int_eq(config_set(cfg, "track_extra_parameters", "x", &n, err, sizeof(err)), -1);
	ck_assert_int_eq(config_set(cfg, "no_such", "1", &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown parameter: no_such");
	ck_assert_int_eq(config_set(cfg, "default_pool_size", "many", &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "invalid value \"many\" for parameter default_pool_size");
	ck_assert_int_eq(config_set(cfg, "auth_type", "pam", &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "auth_type \"pam\" is not supported by pgring yet");
	ck_assert_int_eq(config_set(cfg, "auth_ldap_options", "x", &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "parameter auth_ldap_options is not supported by pgring yet");
	ck_assert_int_eq(config_set(cfg, "default_pool_size", "5", NULL, NULL, 0), -1);
	ck_assert_int_eq(config_set(NULL, "default_pool_size", "5", &n, NULL, 0), -1);
	ck_assert_int_eq(cfg->default_pool_size, 10);
	config_free(cfg);
}
END_TEST

START_TEST(clone_is_deep)
{
	struct config *cfg = sample(), *n = config_clone(cfg);
	const struct db_conf *db;

	ck_assert_ptr_nonnull(n);
	ck_assert_ptr_ne(n->dbs, cfg->dbs);
	ck_assert_ptr_ne(n->server_reset_query, cfg->server_reset_query);
	ck_assert_ptr_ne(n->files[0], cfg->files[0]);
	config_free(cfg);
	/* everything still readable once the original is gone */
	db = config_find_db(n, "d1");
	ck_assert_str_eq(db->host, "h1");
	ck_assert_int_eq(db->port, 5433);
	ck_assert_ptr_eq(db->file, n->files[0]);
	ck_assert_str_eq(db->file, "t.ini");
	ck_assert_ptr_eq(n->fallback_db->file, n->files[0]);
	ck_assert_str_eq(n->fallback_db->host, "fb");
	ck_assert_str_eq(n->users[0].name, "u1");
	ck_assert_str_eq(n->path, "t.ini");
	ck_assert_str_eq(n->unix_socket_dir, "/tmp");
	ck_assert_ptr_null(n->auth_file);
	assert_show(n, "client_tls_sslmode", "allow");
	config_free(n);
	ck_assert_ptr_null(config_clone(NULL));
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("defaults");

	tcase_add_test(tc, defaults_show_config);
	tcase_add_test(tc, defaults_fields);
	tcase_add_test(tc, every_key_round_trips);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, pgbouncer_shipped_example);
	tcase_add_test(tc, pgbouncer_style_file);
	tcase_add_test(tc, shipped_examples);
	tcase_add_test(tc, include_files);
	tcase_add_test(tc, include_relative_to_cwd);
	tcase_add_test(tc, include_depth);
	tcase_add_test(tc, missing_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_add_test(tc, lexing);
	tcase_add_test(tc, long_lines);
	tcase_add_test(tc, types);
	tcase_add_test(tc, names);
	tcase_add_test(tc, list_has);
	tcase_add_test(tc, databases);
	tcase_add_test(tc, users);
	tcase_add_test(tc, warnings_not_errors);
	tcase_add_test(tc, peers_section);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, errors_pgbouncer_values);
	tcase_add_test(tc, errors_auth_type_not_yet);
	tcase_add_test(tc, errors_databases);
	tcase_add_test(tc, errors_syntax);
	tcase_add_test(tc, errors_bytes_and_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("set");
	tcase_add_test(tc, set_reloadable);
	tcase_add_test(tc, set_refused);
	tcase_add_test(tc, set_not_yet_noop);
	tcase_add_test(tc, pkt_buf_small);
	tcase_add_test(tc, clone_is_deep);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
