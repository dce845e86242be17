/* test_metrics.c - the Prometheus text pgring writes: escaping, values, families, addresses */

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "metrics.h"

static char *label_of(const char *in)
{
	static struct mtext t;

	mtext_free(&t);
	metrics_label_value(&t, in);
	ck_assert(!t.failed);
	return t.buf ? t.buf : "";
}

static char *value_of(const char *cell, bool micro)
{
	static struct mtext t;

	mtext_free(&t);
	metrics_sample_value(&t, cell, micro);
	ck_assert(!t.failed);
	return t.buf;
}

START_TEST(test_label_escape)
{
	ck_assert_str_eq(label_of("plain"), "plain");
	ck_assert_str_eq(label_of(NULL), "");
	ck_assert_str_eq(label_of("a\"b"), "a\\\"b");
	ck_assert_str_eq(label_of("a\\b"), "a\\\\b");
	ck_assert_str_eq(label_of("a\nb"), "a\\nb");
	/* UTF-8 passes; a byte that is not UTF-8 becomes the text \x.. */
	ck_assert_str_eq(label_of("d\xc3\xa9j\xc3\xa0"), "d\xc3\xa9j\xc3\xa0");
	ck_assert_str_eq(label_of("a\x80z"), "a\\\\x80z");
	ck_assert_str_eq(label_of("\xc3"), "\\\\xc3");		/* cut short */
	ck_assert_str_eq(label_of("\xc0\xaf"), "\\\\xc0\\\\xaf");	/* overlong */
	ck_assert_str_eq(label_of("\xed\xa0\x80"), "\\\\xed\\\\xa0\\\\x80");	/* surrogate */
	ck_assert_str_eq(label_of("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(test_values)
{
	ck_assert_str_eq(value_of("42", false), "42");
	ck_assert_str_eq(value_of("-1", false), "-1");
	ck_assert_str_eq(value_of("0.43", false), "0.43");
	ck_assert_str_eq(value_of(NULL, false), "NaN");
	ck_assert_str_eq(value_of("", false), "NaN");
	ck_assert_str_eq(value_of("round-robin", false), "NaN");
	ck_assert_str_eq(value_of("18446744073709551615", false), "18446744073709551615");
	/* microseconds to exact seconds */
	ck_assert_str_eq(value_of("0", true), "0");
	ck_assert_str_eq(value_of("1500000", true), "1.5");
	ck_assert_str_eq(value_of("1", true), "0.000001");
	ck_assert_str_eq(value_of("123456789", true), "123.456789");
	ck_assert_str_eq(value_of("18446744073709551615", true), "18446744073709.551615");
	ck_assert_str_eq(value_of("-5", true), "NaN");
}
END_TEST

static void add_row(struct mtable *t, int n, const char *const *names, const char *const *vals)
{
	mtable_add(t, n, names, vals);
	ck_assert(!t->failed);
}

static char *render(const char *what, const struct mtable *t)
{
	static struct mtext out;

	mtext_free(&out);
	ck_assert(metrics_render_table(&out, what, t));
	ck_assert(!out.failed);
	return out.buf ? out.buf : "";
}

START_TEST(test_pools_family)
{
	static const char *const names[] = { "database", "user", "cl_active", "cl_waiting",
					     "maxwait", "pool_mode" };
	static const char *const r1[] = { "db1", "u1", "3", "1", "7", "transaction" };
	static const char *const r2[] = { "db\"2", "u2", "0", "0", "0", NULL };
	struct mtable t;
	char *out;

	memset(&t, 0, sizeof(t));
	add_row(&t, 6, names, r1);
	add_row(&t, 6, names, r2);
	out = render("pools", &t);
	ck_assert_ptr_nonnull(strstr(out,
		"# HELP pgbouncer_pools_client_active_connections "));
	ck_assert_ptr_nonnull(strstr(out,
		"# TYPE pgbouncer_pools_client_active_connections gauge\n"
		"pgbouncer_pools_client_active_connections{database=\"db1\",user=\"u1\"} 3\n"
		"pgbouncer_pools_client_active_connections{database=\"db\\\"2\",user=\"u2\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"pgbouncer_pools_client_waiting_connections{database=\"db1\",user=\"u1\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"pgbouncer_pools_client_maxwait_seconds{database=\"db1\",user=\"u1\"} 7\n"));
	/* columns the table lacks give no family */
	ck_assert_ptr_null(strstr(out, "server_idle_connections"));
	mtable_free(&t);
}
END_TEST

START_TEST(test_stats_family)
{
	static const char *const names[] = { "database", "total_query_count", "total_query_time",
					     "total_wait_time" };
	static const char *const r1[] = { "db1", "10", "2500000", "1" };
	struct mtable t;
	char *out;

	memset(&t, 0, sizeof(t));
	add_row(&t, 4, names, r1);
	out = render("stats", &t);
	ck_assert_ptr_nonnull(strstr(out,
		"# TYPE pgbouncer_stats_queries_pooled_total counter\n"
		"pgbouncer_stats_queries_pooled_total{database=\"db1\"} 10\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"pgbouncer_stats_queries_duration_seconds_total{database=\"db1\"} 2.5\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"pgbouncer_stats_client_wait_seconds_total{database=\"db1\"} 0.000001\n"));
	mtable_free(&t);
}
END_TEST

START_TEST(test_lists_and_config)
{
	static const char *const ln[] = { "list", "items" };
	static const char *const l1[] = { "pools", "4" }, *const l2[] = { "nonsense", "9" };
	static const char *const cn[] = { "key", "value", "default", "changeable" };
	static const char *const c1[] = { "max_client_conn", "100", "100", "yes" };
	static const char *const c2[] = { "pool_mode", "session", "session", "yes" };
	struct mtable t;
	char *out;

	memset(&t, 0, sizeof(t));
	add_row(&t, 2, ln, l1);
	add_row(&t, 2, ln, l2);
	out = render("lists", &t);
	ck_assert_str_eq(out, "# HELP pgbouncer_pools Pools\n# TYPE pgbouncer_pools gauge\n"
			 "pgbouncer_pools 4\n");
	mtable_free(&t);
	add_row(&t, 4, cn, c1);
	add_row(&t, 4, cn, c2);
	out = render("config", &t);
	ck_assert_ptr_nonnull(strstr(out, "\npgbouncer_config_max_client_connections 100\n"));
	ck_assert_ptr_null(strstr(out, "pool_mode"));
	mtable_free(&t);
}
END_TEST

START_TEST(test_servers_counted)
{
	static const char *const n[] = { "type", "user", "database", "state", "addr", "port",
					 "close_needed" };
	static const char *const a[] = { "S", "u", "db", "idle", "127.0.0.1", "5432", "0" };
	static const char *const b[] = { "S", "u", "db", "active", "127.0.0.1", "5432", "0" };
	struct mtable t;
	char *out;

	memset(&t, 0, sizeof(t));
	add_row(&t, 7, n, a);
	add_row(&t, 7, n, b);
	add_row(&t, 7, n, a);
	out = render("servers", &t);
	ck_assert_ptr_nonnull(strstr(out, "pgbouncer_server_connections{user=\"u\",database=\"db\","
				     "state=\"idle\",addr=\"127.0.0.1_5432\",close_needed=\"false\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "state=\"active\",addr=\"127.0.0.1_5432\","
				     "close_needed=\"false\"} 1\n"));
	mtable_free(&t);
}
END_TEST

START_TEST(test_version_and_up)
{
	static const char *const n[] = { "version" };
	static const char *const v[] = { "pgring 1.2.3" };
	struct mtable t;
	struct mtext out;

	memset(&t, 0, sizeof(t));
	add_row(&t, 1, n, v);
	ck_assert_ptr_nonnull(strstr(render("version", &t),
				     "\npgbouncer_version_info{version=\"pgring 1.2.3\"} 1\n"));
	ck_assert(!metrics_render_table(&(struct mtext){ 0 }, "help", &t));
	mtable_free(&t);
	memset(&out, 0, sizeof(out));
	metrics_render_up(&out, false);
	ck_assert_ptr_nonnull(strstr(out.buf, "# TYPE pgbouncer_up gauge\npgbouncer_up 0\n"));
	mtext_free(&out);
}
END_TEST

START_TEST(test_text_cap)
{
	struct mtext t = { .max = 16 };

	mtext_puts(&t, "0123456789");
	ck_assert(!t.failed);
	mtext_puts(&t, "0123456789");
	ck_assert(t.failed);
	mtext_free(&t);
}
END_TEST

static int port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

START_TEST(test_parse_addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:9127", &ss, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(port_of(&ss), 9127);
	ck_assert_int_eq(metrics_parse_addr("[::1]:9127", &ss, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_int_eq(metrics_parse_addr("*:80", &ss, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1", &ss, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(metrics_parse_addr(":9127", &ss, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:0", &ss, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:65536", &ss, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:91x", &ss, &len, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "1 to 65535"));
}
END_TEST

START_TEST(test_check_config)
{
	struct config *cfg = NULL;
	char err[512];

	ck_assert_int_eq(config_parse_string("t.ini", "[pgbouncer]\nlisten_port = 6432\n"
					     "metrics_listen = 127.0.0.1:6432\n", &cfg, err,
					     sizeof(err), NULL, NULL), 0);
	ck_assert_int_eq(metrics_check_config(cfg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "listen_port"));
	config_free(cfg);
	ck_assert_int_eq(config_parse_string("t.ini", "[pgbouncer]\nlisten_port = 6432\n"
					     "metrics_listen = 127.0.0.1:9127\n", &cfg, err,
					     sizeof(err), NULL, NULL), 0);
	ck_assert_int_eq(metrics_check_config(cfg, err, sizeof(err)), 0);
	config_free(cfg);
	ck_assert_int_eq(config_parse_string("t.ini", "[pgbouncer]\n", &cfg, err, sizeof(err),
					     NULL, NULL), 0);
	ck_assert_int_eq(metrics_check_config(cfg, err, sizeof(err)), 0);
	config_free(cfg);
}
END_TEST

static char fatal_seen[2048];

static void on_fatal(void *arg, const char *msg)
{
	(void)arg;
	strncat(fatal_seen, msg, sizeof(fatal_seen) - strlen(fatal_seen) - 2);
	strcat(fatal_seen, "\n");
}

/* --check's loader: every fatal problem reported, the reading going on */
START_TEST(test_check_load)
{
	char path[] = "/tmp/pgring-test-check.XXXXXX", err[256];
	const char *text =
		"[databases]\n"
		"a = host=h port=x\n"			/* 2: bad port */
		"b = host=h\n"
		"[pgbouncer]\n"
		"no equals sign here\n"		/* 5: syntax */
		"pool_mode = sometimes\n"		/* 6 */
		"listen_port = 7000\n"
		"[nosuch]\n"				/* 8: unknown section */
		"max_client_conn = many\n";		/* 9: still read, still [pgbouncer] */
	struct config *cfg = NULL;
	int fd = mkstemp(path), n = -1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	fatal_seen[0] = 0;
	ck_assert_int_eq(config_check_load(path, &cfg, &n, err, sizeof(err), NULL, on_fatal, NULL), 0);
	unlink(path);
	ck_assert_int_eq(n, 5);
	ck_assert_ptr_nonnull(strstr(fatal_seen, ":2: "));
	ck_assert_ptr_nonnull(strstr(fatal_seen, ":5: syntax error"));
	ck_assert_ptr_nonnull(strstr(fatal_seen, ":6: invalid value \"sometimes\" for parameter pool_mode"));
	ck_assert_ptr_nonnull(strstr(fatal_seen, ":8: unknown section [nosuch]"));
	ck_assert_ptr_nonnull(strstr(fatal_seen, ":9: invalid value \"many\" for parameter max_client_conn"));
	/* what was right is in place, what was wrong left out or at its default */
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->listen_port, 7000);
	ck_assert_ptr_null(config_find_db(cfg, "a"));
	ck_assert_ptr_nonnull(config_find_db(cfg, "b"));
	config_free(cfg);
	/* a file that cannot be read is the one thing that stops it */
	ck_assert_int_eq(config_check_load("/nonexistent/pgring.ini", &cfg, &n, err, sizeof(err),
					   NULL, on_fatal, NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, "could not read"));
}
END_TEST

/* read-only: GET /metrics and nothing else, exactly */
START_TEST(test_route)
{
	ck_assert_uint_eq(metrics_route("GET", "/metrics"), 200);
	ck_assert_uint_eq(metrics_route("POST", "/metrics"), 405);
	ck_assert_uint_eq(metrics_route("get", "/metrics"), 405);
	ck_assert_uint_eq(metrics_route("HEAD", "/"), 405);
	ck_assert_uint_eq(metrics_route("GET", "/"), 404);
	ck_assert_uint_eq(metrics_route("GET", "/metrics/"), 404);
	ck_assert_uint_eq(metrics_route("GET", "/metricsx"), 404);
	ck_assert_uint_eq(metrics_route("GET", ""), 404);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_label_escape);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_pools_family);
	tcase_add_test(tc, test_stats_family);
	tcase_add_test(tc, test_lists_and_config);
	tcase_add_test(tc, test_servers_counted);
	tcase_add_test(tc, test_version_and_up);
	tcase_add_test(tc, test_text_cap);
	tcase_add_test(tc, test_parse_addr);
	tcase_add_test(tc, test_check_config);
	tcase_add_test(tc, test_check_load);
	tcase_add_test(tc, test_route);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
