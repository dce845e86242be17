/* loop.c - the backend-independent part of the event loop: backend choice, buffer pool, timers, defers */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop_int.h"

/* bid is 16 bits with 0xffff kept for heap buffers; io_uring buffer rings
 * hold at most 32768 entries */
#define LOOP_MAX_BUFS		32768u
#define LOOP_MAX_BUF_SIZE	(16u << 20)

/* ---- backend choice ---- */

#ifdef HAVE_IO_URING
/* The log line of a fallback names the cause an operator can act on. */
static const char *uring_reason(int err)
{
	switch (err) {
	case -ENOSYS:
		return "kernel without io_uring";
	case -EPERM:
	case -EACCES:
		return "io_uring refused (kernel.io_uring_disabled or seccomp)";
	case -ENOMEM:
		return "locked-memory limit too low (raise LimitMEMLOCK / ulimit -l)";
	case -EINVAL:
	case -EOPNOTSUPP:
		return "kernel older than 6.1";
	default:
		return "io_uring setup failed";
	}
}
#endif

static void set_err(char *errmsg, size_t errlen, const char *msg)
{
	if (errmsg && errlen)
		snprintf(errmsg, errlen, "%s", msg);
}

static int pool_alloc(struct loop *loop, unsigned nbufs, unsigned buf_size)
{
	unsigned i;

	loop->bufs = calloc(nbufs, sizeof(*loop->bufs));
	loop->bufmem = malloc((size_t)nbufs * buf_size);
	if (!loop->bufs || !loop->bufmem)
		return -ENOMEM;
	loop->nbufs = nbufs;
	loop->buf_size = buf_size;
	/* pushed in reverse so that bid 0 comes out first */
	for (i = nbufs; i-- > 0;) {
		struct loop_buf *b = &loop->bufs[i];

		b->data = loop->bufmem + (size_t)i * buf_size;
		b->cap = buf_size;
		b->bid = (uint16_t)i;
		b->next = loop->free_list;
		loop->free_list = b;
	}
	loop->nfree = nbufs;
	return 0;
}

static void loop_release(struct loop *loop)
{
	free(loop->bufs);
	free(loop->bufmem);
	free(loop->heap);
	free(loop->defer);
	free(loop);
}

/* Picks and starts the backend; *why names the cause of a fallback. */
static int backend_start(struct loop *loop, enum loop_backend_kind kind, const char **why,
			 char *errmsg, size_t errlen)
{
	char err[256] = "";
	int ret;

	switch (kind) {
	case LOOP_BACKEND_EPOLL:
		break;
	case LOOP_BACKEND_IO_URING:
#ifdef HAVE_IO_URING
		loop->ops = &loop_uring_ops;
		ret = loop->ops->init(loop, err, sizeof(err));
		if (ret < 0 && errmsg && errlen)
			/* the same cause an operator reads on an auto fallback */
			snprintf(errmsg, errlen, "event_backend = io_uring: %s (%s)",
				 uring_reason(ret), err);
		return ret;
#else
		set_err(errmsg, errlen, "pgring was built without io_uring");
		return -ENOTSUP;
#endif
	case LOOP_BACKEND_AUTO:
	default:
#ifdef HAVE_IO_URING
		loop->ops = &loop_uring_ops;
		ret = loop->ops->init(loop, err, sizeof(err));
		if (ret == 0)
			return 0;
		*why = uring_reason(ret);
		/* the details of the fallback, for whoever wants more than *why */
		set_err(errmsg, errlen, err);
#else
		*why = "pgring was built without io_uring";
#endif
		break;
	}
	loop->ops = &loop_epoll_ops;
	ret = loop->ops->init(loop, err, sizeof(err));
	if (ret < 0)
		set_err(errmsg, errlen, err);
	return ret;
}

struct loop *loop_new(const struct loop_params *p, const char **why, char *errmsg, size_t errlen)
{
	const char *dummy = NULL;
	struct loop *loop;
	int ret;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (!p || p->nbufs == 0 || p->nbufs > LOOP_MAX_BUFS || (p->nbufs & (p->nbufs - 1)) ||
	    p->buf_size == 0 || p->buf_size > LOOP_MAX_BUF_SIZE) {
		set_err(errmsg, errlen, "bad loop parameters (nbufs a power of two up to 32768)");
		errno = EINVAL;
		return NULL;
	}
	loop = calloc(1, sizeof(*loop));
	if (!loop) {
		set_err(errmsg, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	/* before the backend: io_uring registers the pool in its init */
	if (pool_alloc(loop, p->nbufs, p->buf_size) < 0) {
		loop_release(loop);
		set_err(errmsg, errlen, "out of memory for the receive buffers");
		errno = ENOMEM;
		return NULL;
	}
	loop->cq_entries = p->cq_entries;
	loop->now_us = loop_clock_us();
	ret = backend_start(loop, p->backend, why, errmsg, errlen);
	if (ret < 0) {
		loop_release(loop);
		errno = -ret;
		return NULL;
	}
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	loop->ops->done(loop);
	loop_release(loop);
}

enum loop_backend_kind loop_backend(const struct loop *loop)
{
	return loop->ops->kind;
}

const char *loop_backend_name(const struct loop *loop)
{
	return loop->ops->name;
}

const struct loop_stats *loop_get_stats(const struct loop *loop)
{
	return &loop->stats;
}

uint64_t *loop_syscalls(struct loop *loop)
{
	return &loop->stats.syscalls;
}

/* ---- time and timers ---- */

uint64_t loop_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * now_us == 0 means stale: the backends dispatch right after they return
 * from a wait that may have slept, so the first reader after it reads the
 * clock again, and the rest of the turn shares that value.
 */
uint64_t loop_now_us(struct loop *loop)
{
	if (!loop->now_us)
		loop->now_us = loop_clock_us();
	return loop->now_us;
}

static void heap_set(struct loop *loop, uint32_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->idx = i + 1;
}

static void heap_up(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (loop->heap[parent]->when_us <= t->when_us)
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap && loop->heap[c + 1]->when_us < loop->heap[c]->when_us)
			c++;
		if (t->when_us <= loop->heap[c]->when_us)
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct loop *loop, struct loop_timer *t)
{
	uint32_t i = t->idx - 1;
	struct loop_timer *last;

	t->idx = 0;
	last = loop->heap[--loop->nheap];
	if (i == loop->nheap)
		return;
	loop->heap[i] = last;
	last->idx = i + 1;
	if (i > 0 && loop->heap[(i - 1) / 2]->when_us > last->when_us)
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

static bool timer_in_heap(const struct loop *loop, const struct loop_timer *t)
{
	return t->idx && t->idx <= loop->nheap && loop->heap[t->idx - 1] == t;
}

void loop_timer_set(struct loop *loop, struct loop_timer *t, uint64_t delay_us, loop_timer_cb_t cb)
{
	uint64_t now = loop_now_us(loop);

	if (timer_in_heap(loop, t))
		heap_remove(loop, t);
	t->idx = 0;
	t->cb = cb;
	t->when_us = delay_us > UINT64_MAX - now ? UINT64_MAX : now + delay_us;
	if (loop->nheap == loop->capheap) {
		uint32_t cap = loop->capheap ? loop->capheap * 2 : 64;
		struct loop_timer **h = realloc(loop->heap, cap * sizeof(*h));

		/* no memory: the timer stays unarmed, which loop_timer_armed() shows */
		if (!h)
			return;
		loop->heap = h;
		loop->capheap = cap;
	}
	loop->heap[loop->nheap++] = t;
	heap_up(loop, loop->nheap - 1);
}

void loop_timer_stop(struct loop *loop, struct loop_timer *t)
{
	if (timer_in_heap(loop, t))
		heap_remove(loop, t);
	t->idx = 0;
}

/* Microseconds until the nearest timer, -1 without one. */
static int64_t timer_timeout(struct loop *loop)
{
	uint64_t now, when;

	if (!loop->nheap)
		return -1;
	when = loop->heap[0]->when_us;
	now = loop_now_us(loop);
	if (when <= now)
		return 0;
	return when - now > INT64_MAX ? INT64_MAX : (int64_t)(when - now);
}

static void timers_run(struct loop *loop)
{
	uint64_t now = loop_now_us(loop);
	/* a timer re-armed with no delay waits for the next turn */
	uint32_t budget = loop->nheap;

	while (budget-- && loop->nheap && loop->heap[0]->when_us <= now) {
		struct loop_timer *t = loop->heap[0];

		heap_remove(loop, t);
		if (t->cb)
			t->cb(loop, t);
	}
}

/* ---- deferred calls ---- */

int loop_defer(struct loop *loop, loop_defer_fn fn, void *arg)
{
	if (loop->ndefer == loop->capdefer) {
		uint32_t cap = loop->capdefer ? loop->capdefer * 2 : 64;
		struct loop_defer_ent *d = realloc(loop->defer, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		loop->defer = d;
		loop->capdefer = cap;
	}
	loop->defer[loop->ndefer].fn = fn;
	loop->defer[loop->ndefer].arg = arg;
	loop->ndefer++;
	return 0;
}

static void defers_run(struct loop *loop)
{
	/* a deferred call may defer more: index, since the array can move */
	for (uint32_t i = 0; i < loop->ndefer; i++)
		loop->defer[i].fn(loop->defer[i].arg);
	loop->ndefer = 0;
}

/* ---- turns ---- */

int loop_run_once(struct loop *loop)
{
	int64_t timeout;
	int ret;

	loop->stats.turns++;
	loop->now_us = loop_clock_us();
	timeout = loop->ndefer ? 0 : timer_timeout(loop);
	loop->now_us = 0;
	ret = loop->ops->wait(loop, timeout);
	loop_now_us(loop);
	timers_run(loop);
	defers_run(loop);
	return ret < 0 ? ret : 0;
}

int loop_run(struct loop *loop)
{
	int ret = 0;

	while (!loop->stop) {
		ret = loop_run_once(loop);
		if (ret < 0)
			break;
	}
	loop->stop = false;
	return ret;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}

unsigned loop_armed(const struct loop *loop)
{
	return loop->narmed;
}

bool loop_idle(const struct loop *loop)
{
	return !loop->narmed && !loop->ndefer;
}

/* ---- sockets and ops ---- */

int loop_sock_open(struct loop *loop, struct loop_sock *sock, int fd)
{
	int ret;

	sock->ready = 0;
	sock->rd = NULL;
	sock->wr = NULL;
	sock->registered = false;
	if (fd < 0) {
		sock->fd = -1;
		return -EBADF;
	}
	sock->fd = fd;
	ret = loop->ops->sock_open(loop, sock, fd);
	if (ret < 0)
		sock->fd = fd;	/* still the caller's to close */
	return ret;
}

void loop_sock_close(struct loop *loop, struct loop_sock *sock)
{
	if (sock->fd < 0)
		return;
	loop->ops->sock_close(loop, sock);
	sock->fd = -1;
	sock->rd = NULL;
	sock->wr = NULL;
	sock->registered = false;
	sock->ready = 0;
}

static void op_arm(struct loop *loop, struct loop_op *op, struct loop_sock *sock, loop_cb_t cb,
		   enum loop_op_type type)
{
	if (!op->armed)
		loop->narmed++;
	op->cb = cb;
	op->sock = sock;
	op->type = (uint8_t)type;
	op->armed = true;
	op->cancel = false;
	op->queued = false;
	op->res = 0;
	op->buf = NULL;
	op->next = NULL;
}

void loop_accept(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb)
{
	op_arm(loop, op, sock, cb, LOOP_OP_ACCEPT);
	loop->ops->accept(loop, op);
}

void loop_accept_once(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb)
{
	op_arm(loop, op, sock, cb, LOOP_OP_ACCEPT_ONE);
	loop->ops->accept(loop, op);
}

void loop_recv(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb)
{
	op_arm(loop, op, sock, cb, LOOP_OP_RECV);
	loop->ops->recv(loop, op);
}

void loop_send(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb,
	       struct iovec *iov, int iovcnt)
{
	op_arm(loop, op, sock, cb, LOOP_OP_SEND);
	op->iov = iov;
	op->iovcnt = iovcnt > 0 && iov ? iovcnt : 0;
	op->sent = 0;
	op->total = 0;
	for (int i = 0; i < op->iovcnt; i++)
		op->total += iov[i].iov_len;
	loop->ops->send(loop, op);
}

void loop_connect(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb,
		  const struct sockaddr *addr, socklen_t addrlen)
{
	op_arm(loop, op, sock, cb, LOOP_OP_CONNECT);
	op->addr = addr;
	op->addrlen = addrlen;
	loop->ops->connect(loop, op);
}

void loop_poll(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb)
{
	op_arm(loop, op, sock, cb, LOOP_OP_POLL);
	loop->ops->poll(loop, op);
}

void loop_cancel(struct loop *loop, struct loop_op *op)
{
	/* one cancel per arming: its final completion is already on the way */
	if (!op->armed || op->cancel)
		return;
	op->cancel = true;
	loop->ops->cancel(loop, op);
}

/* ---- buffers ---- */

struct loop_buf *loop_pool_take(struct loop *loop)
{
	struct loop_buf *b = loop->free_list;

	if (!b)
		return NULL;
	loop->free_list = b->next;
	loop->nfree--;
	b->next = NULL;
	b->refs = 1;
	b->len = 0;
	return b;
}

void loop_buf_put(struct loop *loop, struct loop_buf *buf)
{
	if (!buf || buf->refs == 0)
		return;
	if (--buf->refs)
		return;
	if (buf->bid == LOOP_BUF_HEAP) {
		free(buf);
		return;
	}
	if (buf->bid >= loop->nbufs || buf != &loop->bufs[buf->bid])
		return;
	buf->len = 0;
	loop->nfree++;
	loop->ops->buf_recycle(loop, buf);
	/* deferred, never called from here: a put happens deep inside callbacks */
	if (loop->bufs_fn && loop_defer(loop, loop->bufs_fn, loop->bufs_arg) == 0)
		loop->bufs_fn = NULL;
}

void loop_bufs_notify(struct loop *loop, loop_defer_fn fn, void *arg)
{
	loop->bufs_fn = fn;
	loop->bufs_arg = arg;
}

struct loop_buf *loop_buf_heap(size_t cap)
{
	struct loop_buf *b;

	if (cap > UINT32_MAX || cap > SIZE_MAX - sizeof(*b)) {
		errno = ENOMEM;
		return NULL;
	}
	b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	b->data = (char *)(b + 1);
	b->len = 0;
	b->cap = (uint32_t)cap;
	b->refs = 1;
	b->bid = LOOP_BUF_HEAP;
	b->next = NULL;
	return b;
}

unsigned loop_bufs_free(const struct loop *loop)
{
	return loop->nfree;
}

unsigned loop_bufs_total(const struct loop *loop)
{
	return loop->nbufs;
}

unsigned loop_buf_size(const struct loop *loop)
{
	return loop->buf_size;
}
