/* test_hosts.c - unit tests for host lists, host health and the choice of the next host */
#include "hosts.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define S(x) ((uint64_t)(x) * 1000000u)

static int parse(const char *host, const char *port, struct host_addr *out, char *err)
{
	return hosts_parse(host, port, out, HOSTS_MAX, err, 200);
}

START_TEST(parse_lists)
{
	struct host_addr a[HOSTS_MAX];
	char err[200] = "";

	ck_assert_int_eq(parse("a,b, c ", NULL, a, err), 3);
	ck_assert_str_eq(a[0].name, "a");
	ck_assert_str_eq(a[2].name, "c");
	ck_assert_int_eq(a[1].port, 5432);
	ck_assert_int_eq(parse("a,b,c", "6000", a, err), 3);
	ck_assert_int_eq(a[0].port, 6000);
	ck_assert_int_eq(a[2].port, 6000);
	ck_assert_int_eq(parse("a,b", "6000,6001", a, err), 2);
	ck_assert_int_eq(a[0].port, 6000);
	ck_assert_int_eq(a[1].port, 6001);
	ck_assert_int_eq(parse("/tmp", "6000", a, err), 1);
	ck_assert_str_eq(a[0].name, "/tmp");
	/* no host: the unix socket, named "" */
	ck_assert_int_eq(parse(NULL, NULL, a, err), 1);
	ck_assert_str_eq(a[0].name, "");
	ck_assert_int_eq(a[0].port, 5432);
}
END_TEST

START_TEST(parse_errors)
{
	struct host_addr a[HOSTS_MAX];
	char err[200] = "", many[200] = "h";

	ck_assert_int_eq(parse("a,b,c", "1,2", a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "2 ports for 3 hosts"));
	ck_assert_int_eq(parse("a,,b", NULL, a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty host name"));
	ck_assert_int_eq(parse("a", "0", a, err), -1);
	ck_assert_int_eq(parse("a", "65536", a, err), -1);
	ck_assert_int_eq(parse("a", "12x", a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid value \"12x\" for parameter port"));
	for (int i = 0; i < HOSTS_MAX; i++)
		strcat(many, ",h");
	ck_assert_int_eq(parse(many, NULL, a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than 16 hosts"));
}
END_TEST

START_TEST(names)
{
	ck_assert_int_eq(hosts_lb_parse("round-robin"), HOSTS_LB_ROUND_ROBIN);
	ck_assert_int_eq(hosts_lb_parse("disable"), HOSTS_LB_DISABLE);
	ck_assert_int_eq(hosts_lb_parse("random"), -1);
	ck_assert_int_eq(hosts_tsa_parse("prefer-standby"), HOSTS_TSA_PREFER_STANDBY);
	ck_assert_int_eq(hosts_tsa_parse("read-write"), HOSTS_TSA_READ_WRITE);
	ck_assert_int_eq(hosts_tsa_parse("readwrite"), -1);
	ck_assert_str_eq(hosts_tsa_name(HOSTS_TSA_READ_ONLY), "read-only");
}
END_TEST

/* libpq 14+: read-write needs both off; read-only either on */
START_TEST(roles_and_matches)
{
	int p = hosts_role_of("off", "off"), pro = hosts_role_of("off", "on");
	int sb = hosts_role_of("on", "off"), unk = hosts_role_of(NULL, NULL);

	ck_assert_int_eq(p, HOSTS_ROLE_PRIMARY);
	ck_assert_int_eq(pro, HOSTS_ROLE_PRIMARY_RO);
	ck_assert_int_eq(sb, HOSTS_ROLE_STANDBY);
	ck_assert_int_eq(unk, HOSTS_ROLE_UNKNOWN);
	ck_assert_int_eq(hosts_role_of("off", NULL), HOSTS_ROLE_UNKNOWN);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_WRITE, p), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_WRITE, pro), HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_WRITE, sb), HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_ONLY, p), HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_ONLY, pro), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_ONLY, sb), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PRIMARY, pro), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PRIMARY, sb), HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_STANDBY, sb), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_STANDBY, p), HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PREFER_STANDBY, sb), HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PREFER_STANDBY, p), HOSTS_MATCH_FALLBACK);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_ANY, unk), HOSTS_MATCH_YES);
	/* not reported (before PostgreSQL 14) and not asked: refused */
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PRIMARY, unk), HOSTS_MATCH_NO);
}
END_TEST

/* Before PostgreSQL 14 the two questions libpq asks stand in for the
 * ParameterStatus; each role they find gets the same verdicts as libpq's */
START_TEST(roles_probed)
{
	ck_assert(!hosts_probe_needed(HOSTS_TSA_ANY, HOSTS_ROLE_UNKNOWN));
	ck_assert(!hosts_probe_needed(HOSTS_TSA_READ_WRITE, HOSTS_ROLE_PRIMARY));
	for (int tsa = HOSTS_TSA_READ_WRITE; tsa <= HOSTS_TSA_PREFER_STANDBY; tsa++)
		ck_assert(hosts_probe_needed(tsa, HOSTS_ROLE_UNKNOWN));
	ck_assert_int_eq(hosts_role_probed("off", "f"), HOSTS_ROLE_PRIMARY);
	ck_assert_int_eq(hosts_role_probed("on", "f"), HOSTS_ROLE_PRIMARY_RO);
	ck_assert_int_eq(hosts_role_probed("on", "t"), HOSTS_ROLE_STANDBY);
	/* a standby's transaction_read_only is on; it is a standby whatever it says */
	ck_assert_int_eq(hosts_role_probed(NULL, "t"), HOSTS_ROLE_STANDBY);
	ck_assert_int_eq(hosts_role_probed(NULL, "f"), HOSTS_ROLE_UNKNOWN);
	ck_assert_int_eq(hosts_role_probed("off", NULL), HOSTS_ROLE_UNKNOWN);
	ck_assert_int_eq(hosts_role_probed("off", "x"), HOSTS_ROLE_UNKNOWN);
	ck_assert_int_eq(hosts_role_probed("maybe", "f"), HOSTS_ROLE_UNKNOWN);
	/* libpq: read-write iff transaction_read_only is off; primary iff not in recovery */
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_WRITE, hosts_role_probed("off", "f")),
			 HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_WRITE, hosts_role_probed("on", "f")),
			 HOSTS_MATCH_NO);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_ONLY, hosts_role_probed("on", "f")),
			 HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_READ_ONLY, hosts_role_probed("on", "t")),
			 HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_PRIMARY, hosts_role_probed("on", "f")),
			 HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_STANDBY, hosts_role_probed("on", "t")),
			 HOSTS_MATCH_YES);
	ck_assert_int_eq(hosts_match(HOSTS_TSA_STANDBY, hosts_role_probed("off", "f")),
			 HOSTS_MATCH_NO);
}
END_TEST

struct fixture {
	struct hosts_table t;
	struct host_state *st[3];
	unsigned cursor;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->st[0] = hosts_state(&f->t, "a", 1);
	f->st[1] = hosts_state(&f->t, "b", 1);
	f->st[2] = hosts_state(&f->t, "c", 1);
	ck_assert_ptr_eq(hosts_state(&f->t, "b", 1), f->st[1]);	/* shared */
	ck_assert_ptr_ne(hosts_state(&f->t, "b", 2), f->st[1]);
}

static int pick(struct fixture *f, int lb, int tsa, uint64_t now, uint64_t *wait)
{
	uint64_t w;

	return hosts_pick(f->st, 3, &f->cursor, lb, tsa, now, wait ? wait : &w);
}

START_TEST(round_robin_skips_down)
{
	struct fixture f;
	uint64_t wait;

	fixture_init(&f);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 0);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 1);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 2);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 0);
	/* b down: logged once (the first failure), skipped for its back-off */
	ck_assert(hosts_mark_down(&f.t, f.st[1], S(1), S(10)));
	ck_assert(!hosts_mark_down(&f.t, f.st[1], S(1), S(10)));
	ck_assert_int_eq(f.st[1]->fails, 2);
	ck_assert_uint_eq(f.st[1]->retry_at_us, S(1) + 1000000);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 2);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 0);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(1), NULL), 2);
	/* back-off over: b is tried again (and comes back) */
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(3), NULL), 0);
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(3), NULL), 1);
	ck_assert(hosts_mark_up(&f.t, f.st[1]));
	ck_assert(!hosts_mark_up(&f.t, f.st[1]));
	ck_assert_int_eq(f.st[1]->fails, 0);
	/* every host down: none, and how long until one may be tried */
	for (int i = 0; i < 3; i++)
		hosts_mark_down(&f.t, f.st[i], S(10), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_ANY, S(10), &wait), -1);
	ck_assert_uint_eq(wait, HOSTS_BACKOFF_MIN_US);
	ck_assert(!hosts_any_eligible(f.st, 3, HOSTS_TSA_ANY, S(10), NULL, false));
	hosts_table_free(&f.t);
}
END_TEST

/* disable: the same host until it fails, then the next, and it stays there */
START_TEST(disable_sticks)
{
	struct fixture f;

	fixture_init(&f);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pick(&f, HOSTS_LB_DISABLE, HOSTS_TSA_ANY, S(1), NULL), 0);
	hosts_mark_down(&f.t, f.st[0], S(1), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_DISABLE, HOSTS_TSA_ANY, S(1), NULL), 1);
	hosts_mark_up(&f.t, f.st[0]);
	ck_assert_int_eq(pick(&f, HOSTS_LB_DISABLE, HOSTS_TSA_ANY, S(5), NULL), 1);
	ck_assert_int_eq(pick(&f, HOSTS_LB_DISABLE, HOSTS_TSA_ANY, S(5), NULL), 1);
	hosts_table_free(&f.t);
}
END_TEST

START_TEST(backoff_doubles_to_cap)
{
	ck_assert_uint_eq(hosts_backoff_us(1, S(15)), 500000);
	ck_assert_uint_eq(hosts_backoff_us(2, S(15)), 1000000);
	ck_assert_uint_eq(hosts_backoff_us(4, S(15)), 4000000);
	ck_assert_uint_eq(hosts_backoff_us(6, S(15)), S(15));
	ck_assert_uint_eq(hosts_backoff_us(100, S(15)), S(15));
	ck_assert_uint_eq(hosts_backoff_us(3, 0), 500000);	/* never below the minimum */
}
END_TEST

/* read-write over a primary and two standbys; then a switchover */
START_TEST(target_session_attrs_switchover)
{
	struct fixture f;
	uint64_t wait;

	fixture_init(&f);
	/* unknown roles are probed; a standby's login does not suit */
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(1), NULL), 0);
	hosts_set_role(f.st[0], HOSTS_ROLE_PRIMARY, S(1), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(1), NULL), 1);
	hosts_set_role(f.st[1], HOSTS_ROLE_STANDBY, S(1), S(10));
	hosts_mark_mismatch(f.st[1], S(1), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(1), NULL), 2);
	hosts_set_role(f.st[2], HOSTS_ROLE_STANDBY, S(1), S(10));
	hosts_mark_mismatch(f.st[2], S(1), S(10));
	/* now only the primary, whatever the cursor */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(1), NULL), 0);
	/* read-only never takes the primary */
	for (int i = 0; i < 4; i++)
		ck_assert_int_ne(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_ONLY, S(1), NULL), 0);
	/* a role is trusted for a back-off, then probed less and less often */
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_ONLY, S(1) + 500000, NULL), 0);
	hosts_mark_mismatch(f.st[0], S(1) + 500000, S(10));
	ck_assert_uint_eq(f.st[0]->probe_at_us, S(1) + 500000 + 500000);
	hosts_mark_mismatch(f.st[0], S(1) + 500000, S(10));
	ck_assert_uint_eq(f.st[0]->probe_at_us, S(1) + 500000 + 1000000);
	/* prefer-standby takes a standby while one is there */
	for (int i = 0; i < 4; i++)
		ck_assert_int_ne(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_PREFER_STANDBY, S(1), NULL), 0);
	/* the primary goes down: every role may be probed again at once */
	ck_assert(hosts_mark_down(&f.t, f.st[0], S(2), S(10)));
	ck_assert_int_eq(f.st[1]->probe_at_us, 0);
	ck_assert_int_ne(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(2), NULL), 0);
	/* b, promoted, reports it; c is probed, still a standby, and waits */
	ck_assert(hosts_set_role(f.st[1], HOSTS_ROLE_PRIMARY, S(2), S(10)));
	hosts_mark_mismatch(f.st[2], S(2), S(10));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_READ_WRITE, S(2), NULL), 1);
	/* no standby left up: prefer-standby falls back to the primary */
	hosts_mark_down(&f.t, f.st[2], S(2), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_PREFER_STANDBY, S(2), NULL), 1);
	ck_assert(hosts_any_eligible(f.st, 3, HOSTS_TSA_PREFER_STANDBY, S(2), NULL, false));
	ck_assert(!hosts_any_eligible(f.st, 3, HOSTS_TSA_PREFER_STANDBY, S(2), NULL, true));
	/* standby: c going down made b's role worth a probe; once refused,
	 * nothing now, and a wait for the soonest back-off */
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_STANDBY, S(2), NULL), 1);
	hosts_mark_mismatch(f.st[1], S(2), S(10));
	ck_assert_int_eq(pick(&f, HOSTS_LB_ROUND_ROBIN, HOSTS_TSA_STANDBY, S(2), &wait), -1);
	ck_assert_uint_gt(wait, 0);
	ck_assert(!hosts_any_eligible(f.st, 3, HOSTS_TSA_STANDBY, S(2), NULL, false));
	hosts_table_free(&f.t);
}
END_TEST

/* the config reads the keys and refuses bad values with file and line */
START_TEST(config_keys)
{
	struct config *cfg = NULL;
	const struct db_conf *db;
	char err[256] = "";

	ck_assert_int_eq(config_parse_string("t.ini", "[databases]\n"
		"rw = host=a,b port=6000,6001 load_balance_hosts=disable target_session_attrs=read-write\n"
		"one = host=x\n[pgbouncer]\n", &cfg, err, sizeof(err), NULL, NULL), 0);
	db = config_find_db(cfg, "rw");
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(db->port, 6000);
	ck_assert_str_eq(db->ports, "6000,6001");
	ck_assert_int_eq(db->lb_hosts, HOSTS_LB_DISABLE);
	ck_assert_int_eq(db->tsa, HOSTS_TSA_READ_WRITE);
	db = config_find_db(cfg, "one");
	ck_assert_int_eq(db->port, 5432);
	ck_assert_int_eq(db->lb_hosts, HOSTS_LB_ROUND_ROBIN);
	ck_assert_int_eq(db->tsa, HOSTS_TSA_ANY);
	config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(config_parse_string("t.ini", "[databases]\nx = host=a,b,c port=1,2\n",
					     &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.ini:2"));
	ck_assert_ptr_nonnull(strstr(err, "2 ports for 3 hosts"));
	ck_assert_int_eq(config_parse_string("t.ini", "[databases]\nx = host=a target_session_attrs=rw\n",
					     &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid target_session_attrs"));
	ck_assert_int_eq(config_parse_string("t.ini", "[databases]\nx = host=a load_balance_hosts=x\n",
					     &cfg, err, sizeof(err), NULL, NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid load_balance_hosts"));
}
END_TEST

static Suite *hosts_suite(void)
{
	Suite *s = suite_create("hosts");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, parse_lists);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, names);
	tcase_add_test(tc, config_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("select");
	tcase_add_test(tc, roles_and_matches);
	tcase_add_test(tc, roles_probed);
	tcase_add_test(tc, round_robin_skips_down);
	tcase_add_test(tc, disable_sticks);
	tcase_add_test(tc, backoff_doubles_to_cap);
	tcase_add_test(tc, target_session_attrs_switchover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hosts_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
