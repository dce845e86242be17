/* test_admin.c - console command parsing, the stats averages, the tracked parameters */

#include <check.h>
#include <errno.h>
#include <string.h>

#include "admin.h"
#include "stats.h"
#include "worker.h"

static void parse_ok(const char *q, const char *verb, const char *arg, const char *value)
{
	struct admin_cmd cmd;
	int ret = admin_parse(q, &cmd);

	ck_assert_msg(ret == 0, "admin_parse(\"%s\") = %d", q, ret);
	ck_assert_str_eq(cmd.verb, verb);
	ck_assert_str_eq(cmd.arg, arg);
	ck_assert_str_eq(cmd.value, value);
}

static void parse_bad(const char *q, int want)
{
	struct admin_cmd cmd;
	int ret = admin_parse(q, &cmd);

	ck_assert_msg(ret == want, "admin_parse(\"%s\") = %d, want %d", q, ret, want);
}

START_TEST(test_parse_words)
{
	parse_ok("SHOW POOLS", "show", "POOLS", "");
	parse_ok("show pools;", "show", "pools", "");
	parse_ok("  \tShOw\n stats_totals ; ;  ", "show", "stats_totals", "");
	parse_ok("PAUSE", "pause", "", "");
	parse_ok("pause;", "pause", "", "");
	parse_ok("RESUME testdb", "resume", "testdb", "");
	parse_ok("kill \"Odd DB\"", "kill", "Odd DB", "");
	parse_ok("kill \"a\"\"b\"", "kill", "a\"b", "");
	parse_ok("SHUTDOWN WAIT_FOR_CLIENTS;", "shutdown", "WAIT_FOR_CLIENTS", "");
	parse_ok("", "", "", "");
	parse_ok("  ; ", "", "", "");
}
END_TEST

START_TEST(test_parse_set)
{
	parse_ok("SET default_pool_size = 7", "set", "default_pool_size", "7");
	parse_ok("set default_pool_size=7;", "set", "default_pool_size", "7");
	parse_ok("SET server_reset_query TO 'DISCARD ALL'", "set", "server_reset_query",
		 "DISCARD ALL");
	parse_ok("set x = 'it''s'", "set", "x", "it's");
	parse_ok("set x to 1.5", "set", "x", "1.5");
	parse_ok("set x = ''", "set", "x", "");
}
END_TEST

START_TEST(test_parse_bad)
{
	parse_bad("SHOW POOLS EXTRA", -EINVAL);
	parse_bad("SHOW;POOLS", -EINVAL);
	parse_bad("show-pools", -EINVAL);
	parse_bad("kill \"unterminated", -EINVAL);
	parse_bad("kill \"\"", -EINVAL);
	parse_bad("set x", -EINVAL);
	parse_bad("set x 5", -EINVAL);
	parse_bad("set = 5", -EINVAL);
	parse_bad("set x = 'open", -EINVAL);
	parse_bad("set x = 5 6", -EINVAL);
	parse_bad("'show'", -EINVAL);
	parse_bad("pause aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -E2BIG);
}
END_TEST

START_TEST(test_average)
{
	struct stats old = { 0 }, cur = { 0 }, avg;

	old.query_count = 100;
	old.query_time = 1000;
	old.xact_count = 10;
	old.bytes_received = 5000;
	cur.query_count = 300;		/* 200 queries in 2 s */
	cur.query_time = 1000 + 200 * 50;	/* 50 us each */
	cur.xact_count = 50;		/* 40 xacts */
	cur.xact_time = 40 * 300;
	cur.bytes_received = 5000 + 2 * 4096;
	cur.server_assignment_count = 4;
	cur.wait_time = 4 * 25;
	stats_average(&avg, &cur, &old, 2000000);
	ck_assert_uint_eq(avg.query_count, 100);
	ck_assert_uint_eq(avg.query_time, 50);
	ck_assert_uint_eq(avg.xact_count, 20);
	ck_assert_uint_eq(avg.xact_time, 300);
	ck_assert_uint_eq(avg.bytes_received, 4096);
	ck_assert_uint_eq(avg.server_assignment_count, 2);
	ck_assert_uint_eq(avg.wait_time, 25);
	/* no period: all zero rather than a division by zero */
	stats_average(&avg, &cur, &old, 0);
	ck_assert_uint_eq(avg.query_count, 0);
	/* counters that went back (never, but) give 0, not a huge rate */
	stats_average(&avg, &old, &cur, 1000000);
	ck_assert_uint_eq(avg.query_count, 0);
	ck_assert_uint_eq(avg.query_time, 0);
}
END_TEST

START_TEST(test_roll)
{
	struct pool_stats ps;

	memset(&ps, 0, sizeof(ps));
	ps.total.query_count = 60;
	stats_roll(&ps, 60000000);
	ck_assert_uint_eq(ps.avg.query_count, 1);
	ck_assert_uint_eq(ps.mark.query_count, 60);
	ps.total.query_count = 60;	/* nothing in the next period */
	stats_roll(&ps, 60000000);
	ck_assert_uint_eq(ps.avg.query_count, 0);
}
END_TEST

/* track_extra_parameters: PgBouncer's five always, then the listed names */
START_TEST(test_param_setup)
{
	static struct worker w;
	char err[128];

	ck_assert_int_eq(param_setup(&w, "IntervalStyle", err, sizeof(err)), 0);
	ck_assert_int_eq(param_lookup(&w, "intervalstyle"), PARAM_BASE);
	ck_assert_int_eq(param_lookup(&w, "TimeZone"), PARAM_TIMEZONE);
	ck_assert_ptr_null(param_name(&w, PARAM_BASE + 1));
	ck_assert_int_eq(param_setup(&w, " search_path,,IntervalStyle , application_name,"
				 "SEARCH_PATH\tmy.guc", err, sizeof(err)), 0);
	ck_assert_int_eq(w.nparam_extra, 3);
	ck_assert_str_eq(param_name(&w, PARAM_BASE), "search_path");
	ck_assert_str_eq(param_name(&w, PARAM_BASE + 2), "my.guc");
	ck_assert_int_eq(param_setup(&w, "", err, sizeof(err)), 0);
	ck_assert_int_eq(param_lookup(&w, "IntervalStyle"), -1);
	ck_assert_int_eq(param_lookup(&w, "application_name"), PARAM_APPLICATION_NAME);
	ck_assert_int_eq(param_setup(&w, "a,b,c,d,e,f,g,h", err, sizeof(err)), 0);
	ck_assert_int_eq(param_setup(&w, "a,b,c,d,e,f,g,h,i", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "track_extra_parameters: more than 8 names");
	ck_assert_int_eq(param_setup(&w, "x;drop", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "track_extra_parameters: invalid name: x;drop");
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_words);
	tcase_add_test(tc, test_parse_set);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_average);
	tcase_add_test(tc, test_roll);
	tcase_add_test(tc, test_param_setup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
