/* test_loop.c - the event loop contract, run on every backend built in */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "loop.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static const enum loop_backend_kind backends[] = {
	LOOP_BACKEND_EPOLL,
#ifdef HAVE_IO_URING
	LOOP_BACKEND_IO_URING,
#endif
};
#define NBACKENDS ((int)(sizeof(backends) / sizeof(backends[0])))

static struct loop *new_loop(int i, unsigned nbufs, unsigned buf_size)
{
	struct loop_params p = { .backend = backends[i], .nbufs = nbufs, .buf_size = buf_size };
	char err[256] = "";
	const char *why = NULL;
	struct loop *loop = loop_new(&p, &why, err, sizeof(err));

	ck_assert_msg(loop != NULL, "loop_new(%d): %s", (int)backends[i], err);
	ck_assert_int_eq(loop_backend(loop), backends[i]);
	ck_assert_ptr_null(why);
	return loop;
}

static void noop_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;
}

/* Turns until *done or 5 s; a 10 ms timer keeps every wait short. */
static void run_until(struct loop *loop, const bool *done)
{
	uint64_t end = loop_clock_us() + 5000000;
	struct loop_timer tick = { 0 };

	while (!*done && loop_clock_us() < end) {
		loop_timer_set(loop, &tick, 10000, noop_timer);
		ck_assert_int_eq(loop_run_once(loop), 0);
	}
	loop_timer_stop(loop, &tick);
	ck_assert_msg(*done, "timed out");
}

static void run_ms(struct loop *loop, unsigned ms)
{
	uint64_t end = loop_clock_us() + ms * 1000u;
	struct loop_timer tick = { 0 };

	while (loop_clock_us() < end) {
		loop_timer_set(loop, &tick, 5000, noop_timer);
		ck_assert_int_eq(loop_run_once(loop), 0);
	}
	loop_timer_stop(loop, &tick);
}

static void make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* ---- a receiver that records what it got ---- */

struct rx {
	struct loop_sock sock;
	struct loop_op op;
	bool hold;		/* keep the buffers instead of putting them */
	struct loop_buf *held[64];
	int nheld;
	char data[1 << 16];
	size_t len;		/* bytes received (kept up to sizeof(data)) */
	size_t total;
	int deliveries;
	bool final;
	int final_res;
	bool bad_buf;
};

static void rx_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct rx *rx = container_of(op, struct rx, op);

	if (res > 0) {
		struct loop_buf *b = op->buf;

		if (!b || b->len != (uint32_t)res || b->refs != 1 || b->bid == LOOP_BUF_HEAP ||
		    b->len > loop_buf_size(loop))
			rx->bad_buf = true;
		if (b && rx->len + b->len <= sizeof(rx->data)) {
			memcpy(rx->data + rx->len, b->data, b->len);
			rx->len += b->len;
		}
		rx->total += (size_t)res;
		rx->deliveries++;
		if (rx->hold && rx->nheld < 64)
			rx->held[rx->nheld++] = b;
		else
			loop_buf_put(loop, b);
	} else if (more) {
		rx->bad_buf = true;	/* only bytes come with more */
	}
	if (!more) {
		rx->final = true;
		rx->final_res = res;
	}
}

static void rx_start(struct loop *loop, struct rx *rx)
{
	rx->final = false;
	rx->final_res = 1;
	loop_recv(loop, &rx->sock, &rx->op, rx_cb);
	ck_assert(rx->op.armed);
}

/* ---- tests ---- */

START_TEST(test_backend_names)
{
	struct loop *loop = new_loop(_i, 8, 512);

	ck_assert_str_eq(loop_backend_name(loop),
			 backends[_i] == LOOP_BACKEND_EPOLL ? "epoll" : "io_uring");
	ck_assert_uint_eq(loop_bufs_total(loop), 8);
	ck_assert_uint_eq(loop_bufs_free(loop), 8);
	ck_assert_uint_eq(loop_buf_size(loop), 512);
	loop_free(loop);
}
END_TEST

START_TEST(test_bad_params)
{
	struct loop_params p = { .backend = LOOP_BACKEND_EPOLL, .nbufs = 6, .buf_size = 512 };
	char err[128];

	ck_assert_ptr_null(loop_new(&p, NULL, err, sizeof(err)));
	ck_assert_int_eq(errno, EINVAL);
	p.nbufs = 0;
	ck_assert_ptr_null(loop_new(&p, NULL, err, sizeof(err)));
	p.nbufs = 8;
	p.buf_size = 0;
	ck_assert_ptr_null(loop_new(&p, NULL, err, sizeof(err)));
}
END_TEST

START_TEST(test_auto)
{
	struct loop_params p = { .backend = LOOP_BACKEND_AUTO, .nbufs = 8, .buf_size = 512 };
	const char *why = "unset";
	char err[256];
	struct loop *loop = loop_new(&p, &why, err, sizeof(err));

	ck_assert_ptr_nonnull(loop);
#ifdef HAVE_IO_URING
	/* either io_uring, or epoll with the reason */
	if (loop_backend(loop) == LOOP_BACKEND_EPOLL)
		ck_assert_ptr_nonnull(why);
	else
		ck_assert_ptr_null(why);
#else
	ck_assert_int_eq(loop_backend(loop), LOOP_BACKEND_EPOLL);
	ck_assert_str_eq(why, "pgring was built without io_uring");
	p.backend = LOOP_BACKEND_IO_URING;
	ck_assert_ptr_null(loop_new(&p, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "pgring was built without io_uring");
#endif
	loop_free(loop);
}
END_TEST

struct acc {
	struct loop_sock lsock;
	struct loop_op aop;
	int fds[8];
	int nfds;
	bool final;
	int final_res;

	struct loop_sock csock;
	struct loop_op cop;
	struct sockaddr_in addr;
	bool connected;
	int connect_res;

	struct loop_op sop;
	struct iovec iov[1];
	bool sent;
	int send_res;
};

/* A listening socket on a free loopback port, open in the loop as a->lsock;
 * a->addr gets its address */
static void listen_loopback(struct loop *loop, struct acc *a)
{
	socklen_t len = sizeof(a->addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(lfd, 0);
	a->addr.sin_family = AF_INET;
	a->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a->addr, &len), 0);
	ck_assert_int_eq(loop_sock_open(loop, &a->lsock, lfd), 0);
}

static void acc_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct acc *a = container_of(op, struct acc, aop);

	(void)loop;
	if (res >= 0 && a->nfds < 8)
		a->fds[a->nfds++] = res;
	else if (res >= 0)
		close(res);
	if (!more) {
		a->final = true;
		a->final_res = res;
	}
}

static void conn_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct acc *a = container_of(op, struct acc, cop);

	(void)loop;
	ck_assert(!more);
	a->connected = true;
	a->connect_res = res;
}

static void acc_send_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct acc *a = container_of(op, struct acc, sop);

	(void)loop;
	ck_assert(!more);
	a->sent = true;
	a->send_res = res;
}

START_TEST(test_accept_connect)
{
	struct loop *loop = new_loop(_i, 16, 1024);
	struct acc *a = calloc(1, sizeof(*a));
	struct rx *rx = calloc(1, sizeof(*rx));
	struct sockaddr_in peer;
	socklen_t len;
	int cfd;

	listen_loopback(loop, a);
	loop_accept(loop, &a->lsock, &a->aop, acc_cb);

	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(loop_sock_open(loop, &a->csock, cfd), 0);
	loop_connect(loop, &a->csock, &a->cop, conn_cb, (struct sockaddr *)&a->addr,
		     sizeof(a->addr));
	run_until(loop, &a->connected);
	ck_assert_int_eq(a->connect_res, 0);
	while (a->nfds < 1 && !a->final)
		run_ms(loop, 10);
	ck_assert_int_eq(a->nfds, 1);
	ck_assert(a->aop.armed);	/* multishot: still there for the next one */

	/* the accepted socket is the client's peer */
	len = sizeof(peer);
	ck_assert_int_eq(getpeername(a->fds[0], (struct sockaddr *)&peer, &len), 0);
	{
		struct sockaddr_in local;
		socklen_t ll = sizeof(local);

		ck_assert_int_eq(getsockname(cfd, (struct sockaddr *)&local, &ll), 0);
		ck_assert_int_eq(local.sin_port, peer.sin_port);
	}

	/* bytes flow from the connected socket to the accepted one */
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, a->fds[0]), 0);
	rx_start(loop, rx);
	a->iov[0].iov_base = "ping";
	a->iov[0].iov_len = 4;
	loop_send(loop, &a->csock, &a->sop, acc_send_cb, a->iov, 1);
	run_until(loop, &a->sent);
	ck_assert_int_eq(a->send_res, 4);
	while (rx->len < 4 && !rx->final)
		run_ms(loop, 10);
	ck_assert_int_eq(rx->len, 4);
	ck_assert(memcmp(rx->data, "ping", 4) == 0);
	ck_assert(!rx->bad_buf);

	/* a second client is accepted by the same multishot op */
	{
		int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ck_assert_int_eq(connect(c2, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
		while (a->nfds < 2 && !a->final)
			run_ms(loop, 10);
		ck_assert_int_eq(a->nfds, 2);
		close(c2);
		close(a->fds[1]);
	}

	loop_cancel(loop, &a->aop);
	loop_cancel(loop, &rx->op);
	run_until(loop, &a->final);
	run_until(loop, &rx->final);
	ck_assert_int_eq(a->final_res, -ECANCELED);
	ck_assert(!a->aop.armed);
	ck_assert(!rx->op.armed);
	loop_sock_close(loop, &rx->sock);
	loop_sock_close(loop, &a->csock);
	loop_sock_close(loop, &a->lsock);
	ck_assert_int_eq(rx->sock.fd, -1);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));
	ck_assert_uint_gt(loop_get_stats(loop)->enters, 0);
	ck_assert_uint_gt(loop_get_stats(loop)->cqes, 0);
	free(rx);
	free(a);
	loop_free(loop);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct loop *loop = new_loop(_i, 4, 64);
	struct acc *a = calloc(1, sizeof(*a));
	socklen_t len = sizeof(a->addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* a port that was just free and has no listener */
	a->addr.sin_family = AF_INET;
	a->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a->addr, &len), 0);
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(loop_sock_open(loop, &a->csock, fd), 0);
	loop_connect(loop, &a->csock, &a->cop, conn_cb, (struct sockaddr *)&a->addr,
		     sizeof(a->addr));
	run_until(loop, &a->connected);
	ck_assert_int_eq(a->connect_res, -ECONNREFUSED);
	ck_assert(!a->cop.armed);
	loop_sock_close(loop, &a->csock);
	free(a);
	loop_free(loop);
}
END_TEST

START_TEST(test_recv_refs)
{
	struct loop *loop = new_loop(_i, 16, 64);
	struct rx *rx = calloc(1, sizeof(*rx));
	char msg[300];
	int sv[2];

	for (size_t k = 0; k < sizeof(msg); k++)
		msg[k] = (char)('a' + k % 26);
	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, sv[0]), 0);
	rx->hold = true;
	rx_start(loop, rx);
	ck_assert_int_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	while (rx->total < sizeof(msg) && !rx->final)
		run_ms(loop, 10);
	ck_assert_uint_eq(rx->total, sizeof(msg));
	ck_assert(memcmp(rx->data, msg, sizeof(msg)) == 0);
	ck_assert(!rx->bad_buf);
	ck_assert(!rx->final);
	/* 300 bytes in 64-byte buffers: at least 5 of them */
	ck_assert_int_ge(rx->nheld, 5);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop) - (unsigned)rx->nheld);

	/* an extra reference keeps the buffer out of the pool */
	loop_buf_ref(rx->held[0]);
	ck_assert_uint_eq(rx->held[0]->refs, 2);
	for (int k = 0; k < rx->nheld; k++)
		loop_buf_put(loop, rx->held[k]);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop) - 1);
	loop_buf_put(loop, rx->held[0]);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));
	rx->nheld = 0;

	/* the recycled buffers are used again */
	rx->hold = false;
	ck_assert_int_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	while (rx->total < 2 * sizeof(msg) && !rx->final)
		run_ms(loop, 10);
	ck_assert_uint_eq(rx->total, 2 * sizeof(msg));
	ck_assert(memcmp(rx->data + sizeof(msg), msg, sizeof(msg)) == 0);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));

	loop_cancel(loop, &rx->op);
	run_until(loop, &rx->final);
	loop_sock_close(loop, &rx->sock);
	close(sv[1]);
	free(rx);
	loop_free(loop);
}
END_TEST

START_TEST(test_heap_buf)
{
	struct loop *loop = new_loop(_i, 4, 64);
	struct loop_buf *b = loop_buf_heap(1000);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->cap, 1000);
	ck_assert_uint_eq(b->refs, 1);
	ck_assert_uint_eq(b->bid, LOOP_BUF_HEAP);
	memset(b->data, 'x', 1000);
	loop_buf_ref(b);
	loop_buf_put(loop, b);
	ck_assert_uint_eq(b->refs, 1);
	loop_buf_put(loop, b);	/* freed: ASan/valgrind would see a leak otherwise */
	ck_assert_uint_eq(loop_bufs_free(loop), 4);
	loop_free(loop);
}
END_TEST

struct big_send {
	struct loop_sock sock;
	struct loop_op op;
	struct iovec iov[5];
	bool done;
	int res;
};

static void big_send_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct big_send *s = container_of(op, struct big_send, op);

	(void)loop;
	ck_assert(!more);
	s->done = true;
	s->res = res;
}

/* A reader in the same loop that checks every byte against the pattern. */
struct drain {
	struct loop_sock sock;
	struct loop_op op;
	size_t got;
	bool bad;
	bool final;
	int final_res;
};

static char pattern(size_t i)
{
	return (char)((i * 7 + i / 4096) & 0xff);
}

static void drain_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct drain *d = container_of(op, struct drain, op);

	if (res > 0) {
		for (int k = 0; k < res; k++)
			if (op->buf->data[k] != pattern(d->got + (size_t)k))
				d->bad = true;
		d->got += (size_t)res;
		loop_buf_put(loop, op->buf);
	}
	if (!more) {
		d->final = true;
		d->final_res = res;
	}
}

START_TEST(test_send_large)
{
	struct loop *loop = new_loop(_i, 64, 16384);
	struct big_send *s = calloc(1, sizeof(*s));
	struct drain *d = calloc(1, sizeof(*d));
	const size_t sizes[5] = { 1, 3 << 20, 12345, 2 << 20, 777 };
	size_t total = 0, off = 0;
	char *mem;
	int sv[2];

	for (int k = 0; k < 5; k++)
		total += sizes[k];
	mem = malloc(total);
	ck_assert_ptr_nonnull(mem);
	for (size_t k = 0; k < total; k++)
		mem[k] = pattern(k);
	for (int k = 0; k < 5; k++) {
		s->iov[k].iov_base = mem + off;
		s->iov[k].iov_len = sizes[k];
		off += sizes[k];
	}
	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &s->sock, sv[0]), 0);
	ck_assert_int_eq(loop_sock_open(loop, &d->sock, sv[1]), 0);
	loop_recv(loop, &d->sock, &d->op, drain_cb);
	loop_send(loop, &s->sock, &s->op, big_send_cb, s->iov, 5);
	run_until(loop, &s->done);
	ck_assert_int_eq(s->res, (int)total);
	while (d->got < total && !d->final)
		run_ms(loop, 10);
	ck_assert_uint_eq(d->got, total);
	ck_assert(!d->bad);
	ck_assert(!d->final);

	/* the peer goes away: the reader ends with EOF */
	loop_sock_close(loop, &s->sock);
	run_until(loop, &d->final);
	ck_assert_int_eq(d->final_res, 0);
	loop_sock_close(loop, &d->sock);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));
	free(mem);
	free(d);
	free(s);
	loop_free(loop);
}
END_TEST

START_TEST(test_eof)
{
	struct loop *loop = new_loop(_i, 8, 256);
	struct rx *rx = calloc(1, sizeof(*rx));
	int sv[2];

	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, sv[0]), 0);
	rx_start(loop, rx);
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	close(sv[1]);
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, 0);
	ck_assert_uint_eq(rx->len, 3);
	ck_assert(memcmp(rx->data, "abc", 3) == 0);
	ck_assert(!rx->op.armed);
	ck_assert(!rx->bad_buf);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));

	/* a recv armed after EOF ends at once with 0 too */
	rx_start(loop, rx);
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, 0);
	loop_sock_close(loop, &rx->sock);
	free(rx);
	loop_free(loop);
}
END_TEST

START_TEST(test_cancel_recv)
{
	struct loop *loop = new_loop(_i, 8, 256);
	struct rx *rx = calloc(1, sizeof(*rx));
	int sv[2];

	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, sv[0]), 0);

	/* cancelled before it ever ran */
	rx_start(loop, rx);
	loop_cancel(loop, &rx->op);
	ck_assert(!rx->final);
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, -ECANCELED);
	ck_assert(!rx->op.armed);

	/* cancelled while waiting for bytes */
	rx_start(loop, rx);
	run_ms(loop, 30);
	ck_assert(!rx->final);
	ck_assert(rx->op.armed);
	loop_cancel(loop, &rx->op);
	loop_cancel(loop, &rx->op);	/* a second cancel changes nothing */
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, -ECANCELED);
	ck_assert(!rx->op.armed);
	ck_assert_int_eq(rx->deliveries, 0);

	/* nothing more comes for it, even when bytes arrive */
	rx->final = false;
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	run_ms(loop, 30);
	ck_assert(!rx->final);
	ck_assert_int_eq(rx->deliveries, 0);

	/* and a new recv gets the byte that waited */
	rx_start(loop, rx);
	while (rx->total < 1)
		run_ms(loop, 10);
	ck_assert_int_eq(rx->data[0], 'x');
	loop_cancel(loop, &rx->op);
	run_until(loop, &rx->final);
	loop_sock_close(loop, &rx->sock);
	close(sv[1]);
	ck_assert_uint_eq(loop_bufs_free(loop), loop_bufs_total(loop));
	free(rx);
	loop_free(loop);
}
END_TEST

/* ---- no callback inside a loop_* call ---- */

struct reent {
	bool in_call;
	int violations;
	int callbacks;
	struct rx rx;
	struct loop_sock ssock;
	struct loop_op sop;
	struct iovec iov[1];
	bool sent;
	struct loop_timer t;
	bool fired;
};

#define CALL(r, expr) do { (r)->in_call = true; expr; (r)->in_call = false; } while (0)

static void reent_check(struct reent *r)
{
	r->callbacks++;
	if (r->in_call)
		r->violations++;
}

static void reent_rx_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct reent *r = container_of(op, struct reent, rx.op);

	reent_check(r);
	rx_cb(loop, op, res, more);
	/* re-arming from a callback does not call back either */
	if (!more && res == -ECANCELED && !r->sent) {
		CALL(r, loop_recv(loop, &r->rx.sock, &r->rx.op, reent_rx_cb));
		CALL(r, loop_cancel(loop, &r->rx.op));
	}
}

static void reent_send_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct reent *r = container_of(op, struct reent, sop);

	(void)loop;
	reent_check(r);
	ck_assert_int_eq(res, 5);
	r->sent = true;
}

static void reent_timer_cb(struct loop *loop, struct loop_timer *t)
{
	struct reent *r = container_of(t, struct reent, t);

	(void)loop;
	reent_check(r);
	r->fired = true;
}

START_TEST(test_no_reentry)
{
	struct loop *loop = new_loop(_i, 8, 256);
	struct reent *r = calloc(1, sizeof(*r));
	int sv[2];

	make_pair(sv);
	/* the bytes are there before the recv: a backend tempted to read at
	 * once would call back from inside loop_recv */
	ck_assert_int_eq(write(sv[1], "hello", 5), 5);
	ck_assert_int_eq(loop_sock_open(loop, &r->rx.sock, sv[0]), 0);
	ck_assert_int_eq(loop_sock_open(loop, &r->ssock, sv[1]), 0);
	r->rx.final_res = 1;
	CALL(r, loop_recv(loop, &r->rx.sock, &r->rx.op, reent_rx_cb));
	r->iov[0].iov_base = "world";
	r->iov[0].iov_len = 5;
	CALL(r, loop_send(loop, &r->ssock, &r->sop, reent_send_cb, r->iov, 1));
	CALL(r, loop_timer_set(loop, &r->t, 0, reent_timer_cb));
	ck_assert_int_eq(r->callbacks, 0);
	run_until(loop, &r->sent);
	run_until(loop, &r->fired);
	while (r->rx.total < 5)
		run_ms(loop, 10);
	/* the send went to sv[0], which is where our recv reads */
	while (r->rx.total < 10)
		run_ms(loop, 10);
	ck_assert(memcmp(r->rx.data, "helloworld", 10) == 0);
	CALL(r, loop_cancel(loop, &r->rx.op));
	run_until(loop, &r->rx.final);
	ck_assert_int_gt(r->callbacks, 3);
	ck_assert_int_eq(r->violations, 0);
	loop_sock_close(loop, &r->rx.sock);
	loop_sock_close(loop, &r->ssock);
	free(r);
	loop_free(loop);
}
END_TEST

/* ---- timers ---- */

struct tctx;

struct ttimer {
	struct loop_timer t;
	int idx;
	struct tctx *c;
};

struct tctx {
	struct ttimer t[6];
	int order[8];
	int n;
	uint64_t start;
	uint64_t fired_at[6];
};

static void tcb(struct loop *loop, struct loop_timer *t)
{
	struct ttimer *tt = container_of(t, struct ttimer, t);
	struct tctx *c = tt->c;

	ck_assert_int_lt(c->n, 8);
	c->order[c->n++] = tt->idx;
	c->fired_at[tt->idx] = loop_now_us(loop);
	ck_assert(!loop_timer_armed(t));
}

START_TEST(test_timers)
{
	struct loop *loop = new_loop(_i, 4, 64);
	struct tctx *c = calloc(1, sizeof(*c));
	bool done = false;
	const uint64_t delays[6] = { 30000, 10000, 20000, 15000, 5000, 25000 };

	/* deadlines count from the loop's time, cached at the start of a turn */
	c->start = loop_now_us(loop);
	for (int k = 0; k < 6; k++) {
		c->t[k].idx = k;
		c->t[k].c = c;
		loop_timer_set(loop, &c->t[k].t, delays[k], tcb);
	}
	ck_assert(loop_timer_armed(&c->t[3].t));
	loop_timer_stop(loop, &c->t[3].t);	/* 15 ms: never fires */
	ck_assert(!loop_timer_armed(&c->t[3].t));
	loop_timer_stop(loop, &c->t[3].t);	/* twice is fine */
	loop_timer_set(loop, &c->t[4].t, 40000, tcb);	/* moved from 5 to 40 ms */
	ck_assert(loop_timer_armed(&c->t[4].t));
	while (!done) {
		ck_assert_int_eq(loop_run_once(loop), 0);
		done = c->n >= 5 || loop_clock_us() - c->start > 2000000;
	}
	ck_assert_int_eq(c->n, 5);
	ck_assert_int_eq(c->order[0], 1);
	ck_assert_int_eq(c->order[1], 2);
	ck_assert_int_eq(c->order[2], 5);
	ck_assert_int_eq(c->order[3], 0);
	ck_assert_int_eq(c->order[4], 4);
	/* none early; the wait timeout was the nearest deadline */
	for (int k = 0; k < 6; k++)
		if (k != 3)
			ck_assert_uint_ge(c->fired_at[k] - c->start, k == 4 ? 40000 : delays[k]);
	ck_assert_uint_eq(c->fired_at[3], 0);
	/* nothing armed: the loop did not spin while waiting */
	ck_assert_uint_lt(loop_get_stats(loop)->enters, 40);
	free(c);
	loop_free(loop);
}
END_TEST

struct rearm {
	struct loop_timer t;
	int count;
};

static void rearm_cb(struct loop *loop, struct loop_timer *t)
{
	struct rearm *r = container_of(t, struct rearm, t);

	if (++r->count < 3)
		loop_timer_set(loop, t, 0, rearm_cb);
}

START_TEST(test_timer_rearm)
{
	struct loop *loop = new_loop(_i, 4, 64);
	struct rearm r = { .count = 0 };

	memset(&r.t, 0, sizeof(r.t));
	loop_timer_set(loop, &r.t, 0, rearm_cb);
	/* a timer re-armed with no delay fires once per turn, not in a spin */
	ck_assert_int_eq(loop_run_once(loop), 0);
	ck_assert_int_eq(r.count, 1);
	ck_assert_int_eq(loop_run_once(loop), 0);
	ck_assert_int_eq(loop_run_once(loop), 0);
	ck_assert_int_eq(r.count, 3);
	ck_assert(!loop_timer_armed(&r.t));
	loop_free(loop);
}
END_TEST

/* ---- ENOBUFS ---- */

START_TEST(test_enobufs)
{
	struct loop *loop = new_loop(_i, 2, 16);
	struct rx *rx = calloc(1, sizeof(*rx));
	char msg[100];
	int sv[2];

	for (size_t k = 0; k < sizeof(msg); k++)
		msg[k] = (char)('A' + k % 26);
	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, sv[0]), 0);
	rx->hold = true;
	ck_assert_int_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	rx_start(loop, rx);
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, -ENOBUFS);
	ck_assert_int_eq(rx->nheld, 2);
	ck_assert_uint_eq(rx->total, 32);
	ck_assert_uint_eq(loop_bufs_free(loop), 0);
	ck_assert_uint_ge(loop_get_stats(loop)->enobufs, 1);

	/* buffers back: a new recv gets the rest, nothing lost */
	for (int k = 0; k < rx->nheld; k++)
		loop_buf_put(loop, rx->held[k]);
	rx->nheld = 0;
	rx->hold = false;
	ck_assert_uint_eq(loop_bufs_free(loop), 2);
	/* io_uring sees returned buffers only at its next enter, so a pool this
	 * small may run dry again: re-arm after each -ENOBUFS, as the owner would */
	for (int tries = 0; tries < 10 && rx->total < sizeof(msg); tries++) {
		ck_assert(rx->final);
		ck_assert_int_eq(rx->final_res, -ENOBUFS);
		rx_start(loop, rx);
		while (rx->total < sizeof(msg) && !rx->final)
			run_ms(loop, 10);
	}
	ck_assert_uint_eq(rx->total, sizeof(msg));
	ck_assert(memcmp(rx->data, msg, sizeof(msg)) == 0);
	ck_assert(!rx->bad_buf);
	ck_assert(rx->op.armed);
	loop_cancel(loop, &rx->op);
	run_until(loop, &rx->final);
	loop_sock_close(loop, &rx->sock);
	close(sv[1]);
	ck_assert_uint_eq(loop_bufs_free(loop), 2);
	free(rx);
	loop_free(loop);
}
END_TEST

/* ---- poll ---- */

struct pctx {
	struct loop_sock sock;
	struct loop_op op;
	int hits;
	bool final;
	int final_res;
	bool bad;
};

static void poll_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct pctx *p = container_of(op, struct pctx, op);
	uint64_t v;

	(void)loop;
	if (!more) {
		p->final = true;
		p->final_res = res;
		return;
	}
	if (!(res & POLLIN))
		p->bad = true;
	p->hits++;
	/* the owner drains */
	while (read(p->sock.fd, &v, sizeof(v)) == sizeof(v))
		;
}

START_TEST(test_poll_eventfd)
{
	struct loop *loop = new_loop(_i, 4, 64);
	struct pctx *p = calloc(1, sizeof(*p));
	uint64_t one = 1;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(loop_sock_open(loop, &p->sock, fd), 0);
	/* drained with read(2) in the callback: non-blocking whatever the backend */
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	loop_poll(loop, &p->sock, &p->op, poll_cb);
	run_ms(loop, 30);
	ck_assert_int_eq(p->hits, 0);

	ck_assert_int_eq(write(fd, &one, sizeof(one)), 8);
	while (p->hits < 1 && !p->final)
		run_ms(loop, 10);
	ck_assert_int_eq(p->hits, 1);
	run_ms(loop, 30);
	ck_assert_int_eq(p->hits, 1);	/* drained: no more */
	ck_assert(p->op.armed);

	ck_assert_int_eq(write(fd, &one, sizeof(one)), 8);
	while (p->hits < 2 && !p->final)
		run_ms(loop, 10);
	ck_assert_int_eq(p->hits, 2);
	ck_assert(!p->bad);

	loop_cancel(loop, &p->op);
	run_until(loop, &p->final);
	ck_assert_int_eq(p->final_res, -ECANCELED);
	loop_sock_close(loop, &p->sock);
	free(p);
	loop_free(loop);
}
END_TEST

/* ---- accept once ---- */

START_TEST(test_accept_once)
{
	struct loop *loop = new_loop(_i, 16, 1024);
	struct acc *a = calloc(1, sizeof(*a));
	int c1, c2;

	listen_loopback(loop, a);

	/* two in the backlog before the accept is armed: it takes one */
	c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(c1, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	ck_assert_int_eq(connect(c2, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	loop_accept_once(loop, &a->lsock, &a->aop, acc_cb);
	run_until(loop, &a->final);
	ck_assert_int_eq(a->nfds, 1);
	ck_assert_int_ge(a->final_res, 0);
	ck_assert(!a->aop.armed);
	run_ms(loop, 30);
	ck_assert_int_eq(a->nfds, 1);	/* the other one waits for the next arming */

	a->final = false;
	loop_accept_once(loop, &a->lsock, &a->aop, acc_cb);
	run_until(loop, &a->final);
	ck_assert_int_eq(a->nfds, 2);
	ck_assert(!a->aop.armed);

	/* an armed one cancels like any op */
	a->final = false;
	loop_accept_once(loop, &a->lsock, &a->aop, acc_cb);
	loop_cancel(loop, &a->aop);
	run_until(loop, &a->final);
	ck_assert_int_eq(a->final_res, -ECANCELED);
	ck_assert_int_eq(a->nfds, 2);
	close(a->fds[0]);
	close(a->fds[1]);
	close(c1);
	close(c2);
	loop_sock_close(loop, &a->lsock);
	free(a);
	loop_free(loop);
}
END_TEST

#ifdef HAVE_IO_URING
/* ---- io_uring: a full CQ, a refused submit ---- */

#define NSEND 48	/* more than the SQ (32) and the smallest CQ (32) hold */

struct sends {
	int sv[NSEND][2];
	struct loop_sock sock[NSEND];
	struct sendop {
		struct loop_op op;
		struct sends *s;
	} op[NSEND];
	struct iovec iov[NSEND];
	int done, failed, bad;
};

static void send_done(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct sends *s = container_of(op, struct sendop, op)->s;

	(void)loop;
	if (more)
		s->bad++;
	else if (res == 1)
		s->done++;
	else if (res == -EAGAIN)
		s->failed++;
	else
		s->bad++;
}

static struct loop *new_uring(unsigned cq_entries)
{
	struct loop_params p = { .backend = LOOP_BACKEND_IO_URING, .nbufs = 16, .buf_size = 1024,
				 .cq_entries = cq_entries };
	char err[256] = "";
	struct loop *loop = loop_new(&p, NULL, err, sizeof(err));

	ck_assert_msg(loop != NULL, "loop_new: %s", err);
	return loop;
}

static void sends_start(struct loop *loop, struct sends *s)
{
	for (int k = 0; k < NSEND; k++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sv[k]), 0);
		ck_assert_int_eq(loop_sock_open(loop, &s->sock[k], s->sv[k][0]), 0);
	}
	for (int k = 0; k < NSEND; k++) {
		s->iov[k].iov_base = "x";
		s->iov[k].iov_len = 1;
		s->op[k].s = s;
		loop_send(loop, &s->sock[k], &s->op[k].op, send_done, &s->iov[k], 1);
	}
}

static void sends_free(struct loop *loop, struct sends *s)
{
	for (int k = 0; k < NSEND; k++) {
		loop_sock_close(loop, &s->sock[k]);
		close(s->sv[k][1]);
	}
}

/*
 * 48 sends on socketpairs complete inline as they are submitted: 32 at the
 * flush of the full SQ fill the 32-entry CQ before any is reaped, and 16 at
 * the wait overflow it.  The kernel keeps those (NODROP): the first turn
 * reaps 32, the next ones the rest, and no completion is lost, so
 * cq_overflows (completions the kernel dropped) stays 0.
 */
START_TEST(test_cq_overflow)
{
	struct loop *loop = new_uring(32);
	struct sends *s = calloc(1, sizeof(*s));
	uint64_t end = loop_clock_us() + 5000000;

	sends_start(loop, s);
	ck_assert_int_eq(loop_run_once(loop), 0);
	ck_assert_int_le(s->done, 32);		/* the CQ was full: the rest waited */
	while (s->done < NSEND && loop_clock_us() < end)
		ck_assert_int_eq(loop_run_once(loop), 0);
	ck_assert_int_eq(s->done, NSEND);
	ck_assert_int_eq(s->bad, 0);
	ck_assert_uint_eq(loop_get_stats(loop)->cq_overflows, 0);
	sends_free(loop, s);
	free(s);
	loop_free(loop);
}
END_TEST

/* Every io_uring_enter fails with err from now on (this process only). */
static int refuse_enter(int err)
{
#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
	const unsigned arch = AUDIT_ARCH_X86_64;
#else
	const unsigned arch = AUDIT_ARCH_AARCH64;
#endif
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -errno : 0;
#else
	(void)err;
	return -ENOSYS;
#endif
}

/* The child of test_submit_refused: 0 when the loop behaved. */
static int refused_child(void)
{
	struct loop *loop = new_uring(0);
	struct sends *s = calloc(1, sizeof(*s));
	int ret = 0, turns;

	if (refuse_enter(EAGAIN) < 0) {
		fprintf(stderr, "no seccomp filter: %s\n", strerror(errno));
		return 10;
	}
	/* 32 SQEs fill the SQ; the flush for the 33rd is refused */
	sends_start(loop, s);
	if (s->done || s->failed)
		return 11;	/* a callback inside a loop_* call */
	ret = loop_run_once(loop);
	if (ret != 0 || s->failed != NSEND - 32 || s->done || s->bad) {
		fprintf(stderr, "first turn: ret %d, failed %d, done %d\n", ret, s->failed, s->done);
		return 12;
	}
	/* the kernel keeps refusing: the loop gives up, with the error */
	for (turns = 0; turns < 5000 && (ret = loop_run_once(loop)) == 0; turns++)
		;
	if (ret != -EAGAIN) {
		fprintf(stderr, "after %d turns: ret %d\n", turns, ret);
		return 13;
	}
	return 0;
}

/*
 * F12: io_uring_submit failing with EAGAIN while the SQ is full used to be an
 * endless loop in get_sqe.  Now the ops that found no SQE fail with -EAGAIN
 * at the next dispatch, and a wait refused turn after turn ends loop_run.
 * Forked: the seccomp filter must not outlive the test, and a spin is caught
 * by the alarm.
 */
START_TEST(test_submit_refused)
{
	uint64_t end = loop_clock_us() + 10000000;
	pid_t pid = fork(), got;
	int status = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(refused_child());
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && loop_clock_us() < end)
		usleep(10000);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("the loop still ran after 10 s: a spin on the refused submit");
	}
	ck_assert_int_eq(got, pid);
	ck_assert_msg(!WIFSIGNALED(status), "the child died of signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exited %d",
		      WEXITSTATUS(status));
}
END_TEST
#endif

/* ---- defer ---- */

static void defer_fn(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_defer)
{
	struct loop *loop = new_loop(_i, 4, 64);
	int n = 0;

	for (int k = 0; k < 100; k++)
		ck_assert_int_eq(loop_defer(loop, defer_fn, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(loop_run_once(loop), 0);	/* does not block: defers pending */
	ck_assert_int_eq(n, 100);
	loop_free(loop);
}
END_TEST

static void count_call(void *arg)
{
	(*(int *)arg)++;
}

/* The "buffers came back" hook: deferred to the end of a turn, never called
 * from inside loop_buf_put, and once per loop_bufs_notify */
START_TEST(test_bufs_notify)
{
	struct loop *loop = new_loop(_i, 2, 16);
	struct rx *rx = calloc(1, sizeof(*rx));
	char msg[100] = { 0 };
	int sv[2], calls = 0;

	make_pair(sv);
	ck_assert_int_eq(loop_sock_open(loop, &rx->sock, sv[0]), 0);
	rx->hold = true;
	ck_assert_int_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	rx_start(loop, rx);
	run_until(loop, &rx->final);
	ck_assert_int_eq(rx->final_res, -ENOBUFS);
	ck_assert_int_eq(rx->nheld, 2);

	loop_bufs_notify(loop, count_call, &calls);
	run_ms(loop, 10);
	ck_assert_int_eq(calls, 0);		/* nothing came back yet */
	loop_buf_put(loop, rx->held[0]);
	ck_assert_int_eq(calls, 0);		/* not from inside the put */
	run_ms(loop, 10);
	ck_assert_int_eq(calls, 1);
	loop_buf_put(loop, rx->held[1]);
	run_ms(loop, 10);
	ck_assert_int_eq(calls, 1);		/* once per notify */
	rx->nheld = 0;

	loop_sock_close(loop, &rx->sock);
	close(sv[1]);
	free(rx);
	loop_free(loop);
}
END_TEST

/*
 * loop_free() with a multishot accept still armed: the backstop cancels and
 * reaps it, so that once the fd is closed the port is free at once (bound
 * again without SO_REUSEADDR) and a connection attempt is refused.  Before,
 * the ring was torn down after the process, the request holding the
 * listener (issue 15).  loop_armed() counts the op until its final completion.
 */
START_TEST(test_free_armed)
{
	struct loop *loop = new_loop(_i, 16, 1024);
	struct acc *a = calloc(1, sizeof(*a));
	socklen_t len = sizeof(a->addr);
	int lfd, fd;

	ck_assert_ptr_nonnull(a);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	a->addr.sin_family = AF_INET;
	a->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a->addr, &len), 0);
	ck_assert_int_eq(loop_sock_open(loop, &a->lsock, lfd), 0);
	ck_assert_uint_eq(loop_armed(loop), 0);
	loop_accept(loop, &a->lsock, &a->aop, acc_cb);
	ck_assert_uint_eq(loop_armed(loop), 1);
	run_ms(loop, 20);	/* submitted: the kernel holds it now */
	ck_assert_uint_eq(loop_armed(loop), 1);
	ck_assert(!loop_idle(loop));

	loop_free(loop);
	if (backends[_i] != LOOP_BACKEND_EPOLL)	/* reaped; epoll has nothing to reap */
		ck_assert(!a->aop.armed);
	close(lfd);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a->addr, sizeof(a->addr)) < 0 &&
		      errno == ECONNREFUSED, "a connection after loop_free: %s",
		      strerror(errno));
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(bind(fd, (struct sockaddr *)&a->addr, sizeof(a->addr)) == 0,
		      "the port is still bound after loop_free and close: %s", strerror(errno));
	close(fd);
	free(a);
}
END_TEST

/* Cancelled ops leave the count once their final completion is dispatched. */
START_TEST(test_armed_count)
{
	struct loop *loop = new_loop(_i, 16, 1024);
	struct acc *a = calloc(1, sizeof(*a));
	socklen_t len = sizeof(a->addr);
	int lfd;

	ck_assert_ptr_nonnull(a);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	a->addr.sin_family = AF_INET;
	a->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a->addr, sizeof(a->addr)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a->addr, &len), 0);
	ck_assert_int_eq(loop_sock_open(loop, &a->lsock, lfd), 0);
	loop_accept(loop, &a->lsock, &a->aop, acc_cb);
	run_ms(loop, 10);
	loop_cancel(loop, &a->aop);
	ck_assert_uint_eq(loop_armed(loop), 1);	/* until its completion */
	run_until(loop, &a->final);
	ck_assert(a->final);
	ck_assert_uint_eq(loop_armed(loop), 0);
	loop_sock_close(loop, &a->lsock);
	loop_free(loop);
	free(a);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_params);
	tcase_add_test(tc, test_auto);
	tcase_add_loop_test(tc, test_backend_names, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_accept_connect, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_connect_refused, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_recv_refs, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_heap_buf, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_send_large, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_eof, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_cancel_recv, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_no_reentry, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_timers, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_timer_rearm, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_enobufs, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_bufs_notify, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_poll_eventfd, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_defer, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_accept_once, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_free_armed, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_armed_count, 0, NBACKENDS);
#ifdef HAVE_IO_URING
	tcase_add_test(tc, test_cq_overflow);
	tcase_add_test(tc, test_submit_refused);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
