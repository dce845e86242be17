/* test_workers.c - unit tests for the per-worker parts of workers = N:
 * listeners (one SO_REUSEPORT socket per worker, the unix socket on worker
 * 0 only) and connection ids that carry the worker index */
#include "config.h"
#include "net.h"
#include "snapshot.h"
#include "userlist.h"
#include "worker.h"

#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port nobody listens on now (below 32768, as the suite's). */
static int free_port(void)
{
	for (int port = 20000 + (int)(getpid() % 10000); port < 32768; port += 7) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		ck_assert_int_ge(fd, 0);
		ok = bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	ck_abort_msg("no free port");
	return -1;
}

static void test_config(struct config *cfg, char *dir)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_addr = "127.0.0.1";
	cfg->listen_port = free_port();
	cfg->listen_backlog = 16;
	cfg->unix_socket_mode = 0777;
	cfg->unix_socket_dir = dir;
}

static int count_family(const struct net_listener *l, int n, int family)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += l[i].family == family;
	return k;
}

/* Four workers bind one port, so_reuseport unset: each gets a TCP socket of
 * its own, and only worker 0 the unix socket (which cannot be shared). */
START_TEST(four_workers_share_the_port)
{
	char dir[] = "/tmp/pgring-workers-XXXXXX";
	struct config cfg;
	struct net_listener *l[4];
	int n[4];
	char err[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	test_config(&cfg, dir);
	for (int i = 0; i < 4; i++) {
		n[i] = net_listen_worker(&cfg, i, 4, &l[i], err, sizeof(err));
		ck_assert_msg(n[i] > 0, "worker %d: %s", i, err);
		ck_assert_int_eq(count_family(l[i], n[i], AF_INET), 1);
		ck_assert_int_eq(count_family(l[i], n[i], AF_UNIX), i == 0 ? 1 : 0);
	}
	for (int i = 3; i >= 0; i--)
		net_close_listeners(l[i], n[i], &cfg);
	ck_assert_int_eq(rmdir(dir), 0);	/* the socket file went with worker 0 */
}
END_TEST

/* One worker keeps today's rule: without so_reuseport a second process on
 * the port is refused (the so_reuseport hand-over is opt-in). */
START_TEST(one_worker_keeps_so_reuseport_opt_in)
{
	struct config cfg;
	struct net_listener *a, *b;
	char err[256];
	int na, nb;

	test_config(&cfg, NULL);
	na = net_listen_worker(&cfg, 0, 1, &a, err, sizeof(err));
	ck_assert_msg(na == 1, "%s", err);
	nb = net_listen_worker(&cfg, 0, 1, &b, err, sizeof(err));
	ck_assert_int_lt(nb, 0);
	ck_assert_msg(strstr(err, "bind"), "%s", err);
	net_close_listeners(a, na, &cfg);
}
END_TEST

START_TEST(conn_ids_carry_the_worker)
{
	ck_assert_uint_eq(conn_id_make(0, 41), 41);	/* worker 0: ids as before */
	ck_assert_uint_eq(conn_id_worker(conn_id_make(0, 41)), 0);
	ck_assert_uint_eq(conn_id_worker(conn_id_make(3, 41)), 3);
	ck_assert_uint_eq(conn_id_worker(conn_id_make(255, 1)), 255);
	ck_assert(conn_id_make(1, 7) != conn_id_make(2, 7));
	/* a sequence that ran into the index bits does not change the worker */
	ck_assert_uint_eq(conn_id_worker(conn_id_make(2, ~0ull)), 2);
}
END_TEST

/* A config from a file, as a reload makes one (config_free frees it all). */
static struct config *load_test_config(void)
{
	char path[] = "/tmp/pgring-snap-XXXXXX";
	int fd = mkstemp(path);
	struct config *cfg = NULL;
	char err[256];
	const char *ini = "[databases]\ndb = host=127.0.0.1\n[pgbouncer]\nlisten_port = 6543\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	ck_assert_msg(config_load(path, &cfg, err, sizeof(err), NULL, NULL) == 0, "%s", err);
	unlink(path);
	return cfg;
}

#define SNAP_THREADS 8

static void *snap_reader(void *arg)
{
	struct snapshot *s = arg;	/* one reference, handed over */
	long port = 0;

	for (int i = 0; i < 1000; i++)
		port += s->cfg->listen_port;
	snapshot_unref(s);
	return (void *)(port / 1000);
}

/* Main hands one reference to each worker with the snapshot, keeps its own,
 * and drops it while the workers still read: the last one to let go frees
 * it, whichever thread that is (TSan: no race on the free; ASan/valgrind:
 * no leak and no use after free). */
/* the worker index goes in the pid's low byte (byte 3 as sent), beside
 * PgBouncer's peer_id bytes, whichever is set first */
START_TEST(cancel_keys_carry_the_worker)
{
	uint32_t pid = 0x7a5b3c1du;
	uint32_t both = CANCEL_PID_WITH_WORKER(CANCEL_PID_WITH_PEER(pid, 0x0102), 3);

	ck_assert_uint_eq(CANCEL_KEY_WORKER(CANCEL_PID_WITH_WORKER(pid, 0)), 0);
	ck_assert_uint_eq(CANCEL_KEY_WORKER(CANCEL_PID_WITH_WORKER(pid, 255)), 255);
	ck_assert_uint_eq(CANCEL_PID_WITH_WORKER(pid, 2) & ~0xffu, pid & ~0xffu);
	ck_assert_uint_eq(CANCEL_KEY_WORKER(both), 3);
	ck_assert_int_eq(CANCEL_KEY_PEER(both), 0x0102);
	ck_assert_uint_eq(CANCEL_PID_WITH_PEER(CANCEL_PID_WITH_WORKER(pid, 3), 0x0102), both);
	ck_assert_uint_eq(both >> 24, pid >> 24);	/* byte 0 stays random */
}
END_TEST

START_TEST(snapshot_freed_by_the_last_holder)
{
	struct snapshot *s = snapshot_new(load_test_config(), NULL, 1 + SNAP_THREADS);
	pthread_t th[SNAP_THREADS];

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(atomic_load(&s->refs), 1 + SNAP_THREADS);
	for (int i = 0; i < SNAP_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, snap_reader, s), 0);
	snapshot_unref(s);	/* main publishes the next one: its own goes */
	for (int i = 0; i < SNAP_THREADS; i++) {
		void *port;

		ck_assert_int_eq(pthread_join(th[i], &port), 0);
		ck_assert_int_eq((long)port, 6543);
	}
}
END_TEST

/* A reference taken by a holder keeps it alive past the others' drops. */
START_TEST(snapshot_ref_keeps_it)
{
	struct snapshot *s = snapshot_new(load_test_config(), NULL, 1);

	ck_assert_ptr_nonnull(s);
	snapshot_ref(s);
	snapshot_unref(s);
	ck_assert_uint_eq(atomic_load(&s->refs), 1);
	ck_assert_int_eq(s->cfg->listen_port, 6543);
	snapshot_unref(s);
	snapshot_unref(NULL);	/* a worker that never had one */
}
END_TEST

/* A fresh snapshot is older than any published one (gen 0), whatever its
 * memory held before: a worker drops a published snapshot whose gen is below
 * its own, so garbage there kept every RELOAD from workers 1..N-1.  Under
 * ASan (scripts/test-sanitizers.sh) malloc's blocks come filled with 0xbe,
 * which this sees; glibc's often happen to be zero. */
/* SET: a new config, the same userlist, shared by both snapshots until the
 * last of them goes (the old one may go first or last). */
START_TEST(snapshot_set_shares_the_userlist)
{
	char path[] = "/tmp/pgring-users-XXXXXX";
	int fd = mkstemp(path);
	const char *txt = "\"alice\" \"pw\"\n";
	struct userlist *ul = NULL;
	struct snapshot *a, *b;
	char err[256];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
	close(fd);
	ck_assert_msg(userlist_load(path, &ul, err, sizeof(err), NULL, NULL) == 0, "%s", err);
	unlink(path);
	a = snapshot_new(load_test_config(), ul, 1);
	ck_assert_ptr_nonnull(a);
	b = snapshot_with_config(a, load_test_config(), 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(b->users, a->users);
	ck_assert_ptr_ne(b->cfg, a->cfg);
	snapshot_unref(a);
	ck_assert_ptr_nonnull(userlist_find(b->users, "alice"));
	snapshot_unref(b);
}
END_TEST

/* A new snapshot is of generation 0, whatever its memory held before: at
 * eee511f gen was left as malloc gave it, and a worker started with a high
 * one refused every snapshot published after (SET and RELOAD never reached
 * workers 1..N-1 where the allocator did not hand out zeroes, as under
 * ThreadSanitizer).  Junk is freed first so that a reusing allocator hands
 * it out again; valgrind reports the uninitialised read in any case. */
START_TEST(snapshot_new_is_generation_zero)
{
	struct config *cfg = load_test_config();
	struct snapshot *s, *b;

	for (int i = 0; i < 64; i++) {
		void *junk = malloc(sizeof(*s));

		ck_assert_ptr_nonnull(junk);
		memset(junk, 0xa5, sizeof(*s));
		free(junk);
	}
	s = snapshot_new(cfg, NULL, 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->gen, 0);
	/* SET's snapshot too: unpublished until publish() numbers it */
	b = snapshot_with_config(s, load_test_config(), 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->gen, 0);
	snapshot_unref(s);
	snapshot_unref(b);
}
END_TEST

/* SET scram_iterations: the new snapshot gets a copy of the userlist, since
 * a list caches its clients' keys once, for one count; the old snapshot's
 * list and keys stay for the workers still on it.  Another key: shared. */
START_TEST(snapshot_set_iterations_copies_the_userlist)
{
	struct userlist *ul = NULL;
	struct snapshot *a, *b, *c;
	struct config *cfg;
	struct secret k = { .kind = SECRET_SCRAM, .iterations = 4096, .salt_len = 16 };
	const struct secret *ka;
	char err[256];

	ck_assert_msg(userlist_parse("mem", "\"alice\" \"pw\"\n", 13, &ul, err, sizeof(err),
				     NULL, NULL) == 0, "%s", err);
	a = snapshot_new(load_test_config(), ul, 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->cfg->scram_iterations, 4096);
	ck_assert_int_eq(userlist_keep_client_keys(&a->users->ents[0], &k, &ka), 1);
	cfg = load_test_config();
	cfg->scram_iterations = 8192;	/* what config_set makes of SET scram_iterations */
	b = snapshot_with_config(a, cfg, 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(b->users, a->users);
	ck_assert_ptr_nonnull(userlist_find(b->users, "alice"));
	ck_assert_ptr_null(userlist_client_keys(userlist_find(b->users, "alice")));
	ck_assert_ptr_eq(userlist_client_keys(&a->users->ents[0]), ka);
	c = snapshot_with_config(b, load_test_config(), 1);	/* back to 4096 */
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c->users, b->users);
	cfg = load_test_config();
	cfg->scram_iterations = 4096;
	snapshot_unref(b);
	b = snapshot_with_config(c, cfg, 1);	/* the same count: shared */
	ck_assert_ptr_eq(b->users, c->users);
	snapshot_unref(a);
	snapshot_unref(c);
	ck_assert_ptr_nonnull(userlist_find(b->users, "alice"));
	snapshot_unref(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, four_workers_share_the_port);
	tcase_add_test(tc, one_worker_keeps_so_reuseport_opt_in);
	tcase_add_test(tc, conn_ids_carry_the_worker);
	tcase_add_test(tc, cancel_keys_carry_the_worker);
	tcase_add_test(tc, snapshot_freed_by_the_last_holder);
	tcase_add_test(tc, snapshot_ref_keeps_it);
	tcase_add_test(tc, snapshot_new_is_generation_zero);
	tcase_add_test(tc, snapshot_set_shares_the_userlist);
	tcase_add_test(tc, snapshot_set_iterations_copies_the_userlist);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
