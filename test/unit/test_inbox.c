/* test_inbox.c - unit tests for a worker's mailbox, from many threads */
#include "inbox.h"

#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

struct tmsg {
	struct inbox_msg m;	/* first: the list holds &tmsg.m */
	int from, seq;
};

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

START_TEST(in_order_and_woken_once)
{
	struct inbox in;
	struct tmsg m[3];
	struct inbox_msg *l;

	ck_assert_int_eq(inbox_init(&in), 0);
	ck_assert(!readable(in.efd, 0));
	ck_assert_ptr_null(inbox_take(&in));
	for (int i = 0; i < 3; i++) {
		m[i].seq = i;
		ck_assert_int_eq(inbox_post(&in, &m[i].m), 0);
	}
	ck_assert(readable(in.efd, 0));
	/* one write(2) for the three: what SHOW IO counts on the receiver */
	ck_assert_uint_eq(inbox_writes(&in), 1);
	l = inbox_take(&in);
	for (int i = 0; i < 3; i++, l = l->next)
		ck_assert_int_eq(((struct tmsg *)l)->seq, i);
	ck_assert_ptr_null(l);
	/* taken: nothing wakes the loop for nothing */
	ck_assert(!readable(in.efd, 0));
	ck_assert_int_eq(inbox_post(&in, &m[0].m), 0);
	ck_assert_uint_eq(inbox_writes(&in), 2);
	ck_assert_ptr_nonnull(inbox_take(&in));
	inbox_free(&in);
}
END_TEST

/*
 * Four senders against one receiver that takes only when the eventfd says
 * so: every message arrives, in each sender's order, and a message posted
 * without a wake-up (a lost one) would leave the receiver waiting: failed.
 */
#define NSENDERS 4
#define NMSGS 100000
struct sender {
	struct inbox *in;
	int from;
	pthread_barrier_t *start;
};

static void *send_all(void *p)
{
	struct sender *s = p;

	pthread_barrier_wait(s->start);
	for (int i = 0; i < NMSGS; i++) {
		struct tmsg *m = malloc(sizeof(*m));

		if (!m)
			abort();
		m->from = s->from;
		m->seq = i;
		if (inbox_post(s->in, &m->m) < 0)
			abort();
	}
	return NULL;
}

START_TEST(no_loss_from_many_threads)
{
	struct inbox in;
	struct sender s[NSENDERS];
	pthread_t t[NSENDERS];
	pthread_barrier_t start;
	int next[NSENDERS] = { 0 }, got = 0, bad = 0;

	ck_assert_int_eq(inbox_init(&in), 0);
	pthread_barrier_init(&start, NULL, NSENDERS);
	for (int i = 0; i < NSENDERS; i++) {
		s[i] = (struct sender){ &in, i, &start };
		ck_assert_int_eq(pthread_create(&t[i], NULL, send_all, &s[i]), 0);
	}
	while (got < NSENDERS * NMSGS) {
		struct inbox_msg *l, *next_m;

		if (!readable(in.efd, 10000))
			break;	/* messages left with no wake-up */
		for (l = inbox_take(&in); l; l = next_m) {
			struct tmsg *m = (struct tmsg *)l;

			next_m = l->next;
			bad += m->seq != next[m->from]++;
			got++;
			free(m);
		}
	}
	for (int i = 0; i < NSENDERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	ck_assert_int_eq(got, NSENDERS * NMSGS);
	ck_assert_int_eq(bad, 0);
	inbox_free(&in);
}
END_TEST

static Suite *inbox_suite(void)
{
	Suite *s = suite_create("inbox");
	TCase *tc = tcase_create("inbox");

	tcase_add_test(tc, in_order_and_woken_once);
	tcase_add_test(tc, no_loss_from_many_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(inbox_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
