/* loop_epoll.c - the epoll backend: completions emulated over edge-triggered readiness */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop_int.h"

/*
 * How the emulation keeps the io_uring contract:
 * - Every fd is registered once, edge-triggered, for both directions; the
 *   edges seen are kept in sock->ready and cleared only when a syscall says
 *   EAGAIN (or a short read/write proves the socket drained), so a new op
 *   never waits for an edge that already went by.
 * - loop_* calls only queue the op.  Syscalls and callbacks happen in the
 *   dispatch phase of wait(), after the whole epoll_wait batch has been turned
 *   into queued ops, so a callback that closes another socket cannot leave a
 *   stale event pointing at it.
 * - An op waiting for readiness sits in sock->rd / sock->wr ("parked"); an op
 *   to be tried is on the run queue (op->queued).  A cancel unlinks it from
 *   the socket and queues it; when it runs it completes with -ECANCELED.
 */
#define EPOLL_EVENTS	64
#define READS_PER_TURN	8	/* recv/accept calls per op per turn: fairness */
#define RUNS_PER_TURN	4096	/* bounds a callback that re-arms at once forever */

#ifndef IOV_MAX
#define IOV_MAX		1024	/* Linux's UIO_MAXIOV */
#endif

#define RD_EVENTS	(EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)
#define WR_EVENTS	(EPOLLOUT | EPOLLHUP | EPOLLERR)

struct epoll_be {
	int epfd;
	struct opq runq;	/* to run in this dispatch phase */
	struct opq nextq;	/* stopped by the per-turn quota: run next turn */
	struct epoll_event events[EPOLL_EVENTS];
};

static struct epoll_be *be_of(struct loop *loop)
{
	return loop->be;
}

static void opq_splice(struct opq *dst, struct opq *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	src->head = src->tail = NULL;
}

static void queue_op(struct loop *loop, struct loop_op *op)
{
	if (op->queued)
		return;
	op->queued = true;
	opq_push(&be_of(loop)->runq, op);
}

/* ---- setup ---- */

static int epoll_init(struct loop *loop, char *err, size_t errlen)
{
	struct epoll_be *be = calloc(1, sizeof(*be));
	int ret;

	if (!be) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stats.syscalls++;
	if (be->epfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		free(be);
		return ret;
	}
	loop->be = be;
	return 0;
}

static void epoll_done(struct loop *loop)
{
	struct epoll_be *be = be_of(loop);

	if (!be)
		return;
	close(be->epfd);
	free(be);
	loop->be = NULL;
}

static int epoll_sock_open(struct loop *loop, struct loop_sock *sock, int fd)
{
	struct epoll_event ev;
	int fl;

	fl = fcntl(fd, F_GETFL);
	loop->stats.syscalls++;
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK)) {
		loop->stats.syscalls++;
		if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = sock;
	loop->stats.syscalls++;
	if (epoll_ctl(be_of(loop)->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	sock->fd = fd;
	/* the ADD reports what is ready now, at the next epoll_wait */
	sock->ready = 0;
	sock->registered = true;
	return 0;
}

static void epoll_sock_close(struct loop *loop, struct loop_sock *sock)
{
	if (sock->registered) {
		/* explicit: a dup'ed fd would keep the registration and its stale pointer */
		epoll_ctl(be_of(loop)->epfd, EPOLL_CTL_DEL, sock->fd, NULL);
		loop->stats.syscalls++;
		sock->registered = false;
	}
	close(sock->fd);
	loop->stats.syscalls++;
	sock->fd = -1;
}

/* ---- starting ops: park in the socket's slot and queue a first try ---- */

static void start_rd(struct loop *loop, struct loop_op *op)
{
	loop->stats.sqes++;
	op->sock->rd = op;
	queue_op(loop, op);
}

static void start_wr(struct loop *loop, struct loop_op *op)
{
	loop->stats.sqes++;
	op->sock->wr = op;
	queue_op(loop, op);
}

static void epoll_send(struct loop *loop, struct loop_op *op)
{
	start_wr(loop, op);
}

static void epoll_connect(struct loop *loop, struct loop_op *op)
{
	op->res = 0;	/* 0: connect() not called yet; -EINPROGRESS: waiting */
	start_wr(loop, op);
}

static void epoll_cancel(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;

	loop->stats.cancels++;
	if (sock && sock->rd == op)
		sock->rd = NULL;
	if (sock && sock->wr == op)
		sock->wr = NULL;
	queue_op(loop, op);
}

static void epoll_buf_recycle(struct loop *loop, struct loop_buf *buf)
{
	buf->next = loop->free_list;
	loop->free_list = buf;
}

/* ---- running ops in the dispatch phase ---- */

static void deliver(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct loop_sock *sock = op->sock;

	if (!more) {
		if (sock->rd == op)
			sock->rd = NULL;
		if (sock->wr == op)
			sock->wr = NULL;
	}
	loop->stats.cqes++;
	loop_complete(loop, op, res, more);
}

/* After a more == true callback: may the op go on? */
static bool still_mine(const struct loop_op *op, const struct loop_op *slot)
{
	return op->armed && !op->cancel && !op->queued && slot == op;
}

static void defer_to_next_turn(struct loop *loop, struct loop_op *op)
{
	op->queued = true;
	opq_push(&be_of(loop)->nextq, op);
}

static void run_accept(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;

	for (int n = 0; n < READS_PER_TURN;) {
		int fd;

		if (!(sock->ready & RD_EVENTS))
			return;
		fd = accept4(sock->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		loop->stats.syscalls++;
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				sock->ready &= ~(uint32_t)RD_EVENTS;
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				/* this connection failed, not the listener */
				n++;
				continue;
			default:
				deliver(loop, op, -errno, false);
				return;
			}
		}
		n++;
		if (op->type == LOOP_OP_ACCEPT_ONE) {
			deliver(loop, op, fd, false);
			return;
		}
		deliver(loop, op, fd, true);
		if (!still_mine(op, sock->rd))
			return;
	}
	defer_to_next_turn(loop, op);
}

static void run_recv(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;

	for (int n = 0; n < READS_PER_TURN; n++) {
		struct loop_buf *b;
		ssize_t r;

		if (!(sock->ready & RD_EVENTS))
			return;
		b = loop_pool_take(loop);
		if (!b) {
			loop->stats.enobufs++;
			op->buf = NULL;
			deliver(loop, op, -ENOBUFS, false);
			return;
		}
		do {
			r = recv(sock->fd, b->data, loop->buf_size, 0);
			loop->stats.syscalls++;
			loop->stats.recv_calls++;
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			int res = r == 0 ? 0 : -errno;

			loop_buf_put(loop, b);
			op->buf = NULL;
			if (res == -EAGAIN) {
				sock->ready &= ~(uint32_t)RD_EVENTS;
				return;
			}
			deliver(loop, op, res, false);
			return;
		}
		/* a short read drained the socket; the next bytes bring a new edge */
		if ((size_t)r < loop->buf_size)
			sock->ready &= ~(uint32_t)EPOLLIN;
		b->len = (uint32_t)r;
		op->buf = b;
		deliver(loop, op, (int)r, true);
		if (!still_mine(op, sock->rd))
			return;
	}
	if (sock->ready & RD_EVENTS)
		defer_to_next_turn(loop, op);
}

/* Drops iovec bytes already sent, so the rest can go out. */
static void iov_advance(struct loop_op *op, size_t n)
{
	while (n && op->iovcnt) {
		if (n < op->iov->iov_len) {
			op->iov->iov_base = (char *)op->iov->iov_base + n;
			op->iov->iov_len -= n;
			return;
		}
		n -= op->iov->iov_len;
		op->iov++;
		op->iovcnt--;
	}
	/* skip empty entries so that iovcnt == 0 means done */
	while (op->iovcnt && !op->iov->iov_len) {
		op->iov++;
		op->iovcnt--;
	}
}

static void run_send(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;

	if (op->total > INT_MAX) {
		deliver(loop, op, -EMSGSIZE, false);
		return;
	}
	while (op->sent < op->total) {
		struct msghdr msg;
		ssize_t r;

		if (!(sock->ready & WR_EVENTS))
			return;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = op->iov;
		msg.msg_iovlen = (size_t)(op->iovcnt > IOV_MAX ? IOV_MAX : op->iovcnt);
		r = sendmsg(sock->fd, &msg, MSG_NOSIGNAL);
		loop->stats.syscalls++;
		loop->stats.send_calls++;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				sock->ready &= ~(uint32_t)EPOLLOUT;
				return;
			}
			deliver(loop, op, -errno, false);
			return;
		}
		op->sent += (size_t)r;
		iov_advance(op, (size_t)r);
		if (op->sent < op->total && !op->iovcnt) {
			/* the iovec changed under us: cannot finish */
			deliver(loop, op, -EINVAL, false);
			return;
		}
	}
	deliver(loop, op, (int)op->sent, false);
}

static void run_connect(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;
	socklen_t len;
	int err = 0;

	if (op->res == 0) {
		int r = connect(sock->fd, op->addr, op->addrlen);

		loop->stats.syscalls++;
		if (r == 0) {
			deliver(loop, op, 0, false);
			return;
		}
		if (errno != EINPROGRESS && errno != EINTR) {
			deliver(loop, op, -errno, false);
			return;
		}
		/* edges from before the connect say nothing about it */
		sock->ready &= ~(uint32_t)WR_EVENTS;
		op->res = -EINPROGRESS;
		return;
	}
	if (!(sock->ready & WR_EVENTS))
		return;
	len = sizeof(err);
	loop->stats.syscalls++;
	if (getsockopt(sock->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err && !(sock->ready & EPOLLOUT))
		return;		/* a hangup edge without an error: wait for more */
	deliver(loop, op, -err, false);
}

static void run_poll(struct loop *loop, struct loop_op *op)
{
	struct loop_sock *sock = op->sock;

	/* once per edge: the owner drains the fd */
	if (!(sock->ready & RD_EVENTS))
		return;
	sock->ready &= ~(uint32_t)RD_EVENTS;
	deliver(loop, op, POLLIN, true);
}

static void run_op(struct loop *loop, struct loop_op *op)
{
	op->queued = false;
	if (!op->armed)
		return;
	if (op->cancel) {
		op->buf = NULL;
		deliver(loop, op, -ECANCELED, false);
		return;
	}
	switch (op->type) {
	case LOOP_OP_ACCEPT:
	case LOOP_OP_ACCEPT_ONE:
		run_accept(loop, op);
		break;
	case LOOP_OP_RECV:
		run_recv(loop, op);
		break;
	case LOOP_OP_SEND:
		run_send(loop, op);
		break;
	case LOOP_OP_CONNECT:
		run_connect(loop, op);
		break;
	case LOOP_OP_POLL:
		run_poll(loop, op);
		break;
	default:
		deliver(loop, op, -EINVAL, false);
		break;
	}
}

/* Turns the whole batch into queued ops before any callback runs. */
static void events_queue(struct loop *loop, int n)
{
	struct epoll_be *be = be_of(loop);

	for (int i = 0; i < n; i++) {
		struct loop_sock *sock = be->events[i].data.ptr;
		uint32_t ev = be->events[i].events;

		sock->ready |= ev;
		if ((ev & RD_EVENTS) && sock->rd)
			queue_op(loop, sock->rd);
		if ((ev & WR_EVENTS) && sock->wr)
			queue_op(loop, sock->wr);
	}
}

static int epoll_wait_fn(struct loop *loop, int64_t timeout_us)
{
	struct epoll_be *be = be_of(loop);
	struct loop_op *op;
	int timeout_ms, n, runs = 0;

	if (be->runq.head || be->nextq.head || timeout_us == 0)
		timeout_ms = 0;
	else if (timeout_us < 0)
		timeout_ms = -1;
	else if (timeout_us >= (int64_t)INT_MAX * 1000)
		timeout_ms = INT_MAX;
	else
		timeout_ms = (int)((timeout_us + 999) / 1000);	/* never wake before the timer */

	n = epoll_wait(be->epfd, be->events, EPOLL_EVENTS, timeout_ms);
	loop->stats.enters++;
	loop->stats.syscalls++;
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	opq_splice(&be->runq, &be->nextq);
	events_queue(loop, n);
	while (runs++ < RUNS_PER_TURN && (op = opq_pop(&be->runq)))
		run_op(loop, op);
	return 0;
}

const struct loop_backend_ops loop_epoll_ops = {
	.name = "epoll",
	.kind = LOOP_BACKEND_EPOLL,
	.init = epoll_init,
	.done = epoll_done,
	.sock_open = epoll_sock_open,
	.sock_close = epoll_sock_close,
	.accept = start_rd,
	.recv = start_rd,
	.send = epoll_send,
	.connect = epoll_connect,
	.poll = start_rd,
	.cancel = epoll_cancel,
	.wait = epoll_wait_fn,
	.buf_recycle = epoll_buf_recycle,
};
