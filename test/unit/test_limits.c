/* test_limits.c - unit tests for the shared limit counters, from many threads */
#include "limitctr.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>

START_TEST(take_to_the_limit)
{
	struct limit_ctr c = { 0 };

	ck_assert(limit_take(&c, 2));
	ck_assert(limit_take(&c, 2));
	ck_assert(!limit_take(&c, 2));
	ck_assert_uint_eq(limit_count(&c), 2);
	limit_give(&c);
	ck_assert(limit_take(&c, 2));
	/* 0: no limit */
	for (int i = 0; i < 100; i++)
		ck_assert(limit_take(&c, 0));
	ck_assert_uint_eq(limit_count(&c), 102);
}
END_TEST

/* a refusal by the second or third limit gives back what the first took */
START_TEST(take_all_or_none)
{
	struct limit_ctr pool = { 0 }, db = { 0 }, user = { 0 };
	struct limit_ctr *const c[3] = { &pool, &db, &user };
	struct limit_ctr *const no_user[3] = { &pool, &db, NULL };
	const unsigned max[3] = { 5, 1, 5 };
	int full = -1;

	ck_assert(limit_take_all(c, max, &full));
	ck_assert(!limit_take_all(c, max, &full));
	ck_assert_int_eq(full, 1);
	ck_assert_uint_eq(limit_count(&pool), 1);
	ck_assert_uint_eq(limit_count(&user), 1);
	limit_give_all(c);
	ck_assert_uint_eq(limit_count(&pool) + limit_count(&db) + limit_count(&user), 0);
	ck_assert(limit_take_all(no_user, max, &full));
	ck_assert_uint_eq(limit_count(&user), 0);
	limit_give_all(no_user);
}
END_TEST

/*
 * Eight threads, two pools of size 2 sharing a database limited to 3: no
 * thread ever sees more open than a limit allows, which a check-then-add
 * counter (two threads passing the check for the last unit) breaks.
 */
#define NTHREADS 8
#define ROUNDS 2000000
struct shared {
	struct limit_ctr pool[2], db;
	atomic_int open_pool[2], open_db;
	atomic_int violations, taken;
	pthread_barrier_t start;	/* all at once, or they may run one after another */
};
struct arg {
	struct shared *sh;
	int which;
};

static void *hammer(void *p)
{
	struct arg *a = p;
	struct shared *sh = a->sh;
	struct limit_ctr *const c[3] = { &sh->pool[a->which], &sh->db, NULL };
	const unsigned max[3] = { 2, 3, 0 };

	pthread_barrier_wait(&sh->start);
	for (int i = 0; i < ROUNDS; i++) {
		if (!limit_take_all(c, max, NULL))
			continue;
		if (atomic_fetch_add(&sh->open_pool[a->which], 1) >= 2 ||
		    atomic_fetch_add(&sh->open_db, 1) >= 3)
			atomic_fetch_add(&sh->violations, 1);
		atomic_fetch_add(&sh->taken, 1);
		atomic_fetch_sub(&sh->open_db, 1);
		atomic_fetch_sub(&sh->open_pool[a->which], 1);
		limit_give_all(c);
	}
	return NULL;
}

START_TEST(never_past_a_limit_from_many_threads)
{
	struct shared sh;
	struct arg args[NTHREADS];
	pthread_t t[NTHREADS];

	memset(&sh, 0, sizeof(sh));
	pthread_barrier_init(&sh.start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct arg){ &sh, i % 2 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&sh.start);
	int violations = atomic_load(&sh.violations), taken = atomic_load(&sh.taken);

	ck_assert_int_eq(violations, 0);
	ck_assert_int_gt(taken, 0);
	ck_assert_uint_eq(limit_count(&sh.pool[0]) + limit_count(&sh.pool[1]) +
			  limit_count(&sh.db), 0);
}
END_TEST

START_TEST(slots_by_name)
{
	struct limit_table t;
	struct limit_slot *p, *ptrs[1000];
	char db[32];

	ck_assert_int_eq(limit_table_init(&t), 0);
	p = limit_slot_get(&t, LIMIT_POOL, "a", "bc");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_eq(limit_slot_get(&t, LIMIT_POOL, "a", "bc"), p);
	ck_assert_ptr_ne(limit_slot_get(&t, LIMIT_POOL, "ab", "c"), p);
	/* a database and a user of one name are two limits */
	ck_assert_ptr_ne(limit_slot_get(&t, LIMIT_DB, "x", "ignored"),
			 limit_slot_get(&t, LIMIT_USER, "ignored", "x"));
	ck_assert_ptr_eq(limit_slot_get(&t, LIMIT_DB, "x", "u1"), limit_slot_get(&t, LIMIT_DB, "x", "u2"));
	/* past growth, every slot is still the one first made */
	for (int i = 0; i < 1000; i++) {
		snprintf(db, sizeof(db), "db%d", i);
		ptrs[i] = limit_slot_get(&t, LIMIT_POOL, db, "u");
		ck_assert_ptr_nonnull(ptrs[i]);
	}
	ck_assert_uint_gt(t.nb, 64);
	for (int i = 0; i < 1000; i++) {
		snprintf(db, sizeof(db), "db%d", i);
		ck_assert_ptr_eq(limit_slot_get(&t, LIMIT_POOL, db, "u"), ptrs[i]);
	}
	ck_assert_ptr_eq(limit_slot_get(&t, LIMIT_POOL, "a", "bc"), p);
	limit_table_free(&t);
}
END_TEST

/* workers creating the slots of the same names at once all get one slot each */
#define NNAMES 300
struct race {
	struct limit_table t;
	pthread_barrier_t start;
	struct limit_slot *got[NTHREADS][NNAMES];
};
struct race_arg {
	struct race *r;
	int i;
};

static void *get_all(void *p)
{
	struct race_arg *a = p;
	char db[32];

	pthread_barrier_wait(&a->r->start);
	for (int k = 0; k < NNAMES; k++) {
		int n = a->i % 2 ? k : NNAMES - 1 - k;	/* half of them backwards */

		snprintf(db, sizeof(db), "db%d", n);
		a->r->got[a->i][n] = limit_slot_get(&a->r->t, LIMIT_POOL, db, "u");
	}
	return NULL;
}

START_TEST(slots_made_once_from_many_threads)
{
	static struct race r;
	struct race_arg args[NTHREADS];
	pthread_t th[NTHREADS];

	ck_assert_int_eq(limit_table_init(&r.t), 0);
	pthread_barrier_init(&r.start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct race_arg){ &r, i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, get_all, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r.start);
	ck_assert_uint_eq(r.t.n, NNAMES);
	for (int i = 1; i < NTHREADS; i++)
		for (int k = 0; k < NNAMES; k++)
			ck_assert_ptr_eq(r.got[i][k], r.got[0][k]);
	limit_table_free(&r.t);
}
END_TEST

/* who waits for a unit: the oldest wait start wins, an excepted worker and
 * cleared entries never do */
START_TEST(waiters_oldest_first)
{
	struct limit_table t;
	struct limit_slot *s;
	uint64_t since = 0;

	ck_assert_int_eq(limit_table_init(&t), 0);
	t.nworkers = 4;
	s = limit_slot_get(&t, LIMIT_DB, "d", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(limit_wait_oldest(s, -1, &since), -1);
	limit_wait_set(s, 2, 300);
	limit_wait_set(s, 1, 200);
	limit_wait_set(s, 3, 400);
	ck_assert_uint_eq(atomic_load(&s->nwait), 3);
	ck_assert_int_eq(limit_wait_oldest(s, -1, &since), 1);
	ck_assert_uint_eq(since, 200);
	ck_assert_int_eq(limit_wait_oldest(s, 1, &since), 2);
	ck_assert_uint_eq(since, 300);
	/* a new wait start replaces the old one; 0 clears */
	limit_wait_set(s, 3, 100);
	ck_assert_int_eq(limit_wait_oldest(s, -1, &since), 3);
	limit_wait_set(s, 3, 0);
	limit_wait_set(s, 3, 0);
	limit_wait_set(s, 1, 0);
	ck_assert_uint_eq(atomic_load(&s->nwait), 1);
	ck_assert_int_eq(limit_wait_oldest(s, -1, &since), 2);
	ck_assert_int_eq(limit_wait_oldest(s, 2, &since), -1);
	limit_wait_set(s, 2, 0);
	ck_assert_uint_eq(atomic_load(&s->nwait), 0);
	ck_assert_int_eq(limit_wait_oldest(s, -1, &since), -1);
	limit_table_free(&t);
}
END_TEST

static Suite *limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("counters");

	tcase_add_test(tc, take_to_the_limit);
	tcase_add_test(tc, take_all_or_none);
	tcase_add_test(tc, never_past_a_limit_from_many_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("slots");
	tcase_add_test(tc, slots_by_name);
	tcase_add_test(tc, slots_made_once_from_many_threads);
	tcase_add_test(tc, waiters_oldest_first);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(limits_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
