/* loop_uring.c - the io_uring backend: batched submits, multishot accept/recv, a provided buffer ring */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "loop_int.h"

/*
 * Why these choices (see the io_uring notes in the design docs):
 * - SINGLE_ISSUER | DEFER_TASKRUN: completions are run when we enter the
 *   kernel to wait, in this thread, instead of by task-work interrupts.
 * - SQ of 32 entries: a full SQ is flushed, so no submit carries more than 32.
 * - CQ of 4096: multishot ops post many CQEs per SQE; overflow is a slow path.
 * - Sockets stay blocking: an O_NONBLOCK socket punted to io-wq can complete
 *   with a spurious -EAGAIN.
 */
#define URING_SQ	32
#define URING_CQ	4096
#define URING_BGID	1
#define URING_REAP	256
#define UD_IGNORE	0	/* user_data of cancel SQEs: their CQEs carry nothing */
/* A full SQ is flushed at once; when the kernel refuses the flush (-EAGAIN,
 * -ENOMEM: no memory for requests), this many tries, then the op fails. */
#define SUBMIT_TRIES	8
/* The wait refused this many turns in a row (1 ms apart): the loop is dead. */
#define ENTER_FAILS_MAX	1000

struct uring_be {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	unsigned br_mask;
	unsigned br_pending;	/* buffers added since the last advance */
	bool br_registered;
	unsigned koverflow;	/* the kernel's dropped-CQE count at the last look */
	int submit_err;		/* the last refused flush, for the ops it fails */
	unsigned enter_fails;	/* turns in a row whose wait the kernel refused */
	int fatal;		/* -errno: a cancel could not reach the kernel */
	struct opq failed;	/* ops never submitted: complete with op->res */
	/*
	 * sendmsg headers, one per SQ slot.  The kernel reads a header when it
	 * issues the request, inside the submit (it copies it if the send has
	 * to wait), so a header is needed only until the SQE is submitted, and
	 * an SQ slot is reused only after that.  Ops need not carry one each.
	 */
	struct msghdr msgs[URING_SQ];
};

static struct uring_be *be_of(struct loop *loop)
{
	return loop->be;
}

/*
 * liburing maps and unmaps the rings with raw mmap(2)/munmap(2) calls that
 * ThreadSanitizer does not see: a ring mapped where another worker's ring
 * was (one that ended, as on a failed start) would carry that thread's
 * accesses, a race report on pages no two threads ever share.  Under TSan an
 * unmap is a release and a map an acquire of one sync object (an address,
 * no state), so that the old ring's accesses happen before the new one's.
 */
#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
static const char ring_maps;
static void ring_mapped(void)
{
	__tsan_acquire((void *)&ring_maps);
}
static void ring_exit(struct io_uring *r)
{
	io_uring_queue_exit(r);
	__tsan_release((void *)&ring_maps);
}
#else
static void ring_mapped(void)
{
}
static void ring_exit(struct io_uring *r)
{
	io_uring_queue_exit(r);
}
#endif

static int uring_init(struct loop *loop, char *err, size_t errlen)
{
	struct io_uring_params p;
	struct io_uring_buf_reg reg;
	struct uring_be *be;
	unsigned i;
	int ret;

	be = calloc(1, sizeof(*be));
	if (!be) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = loop->cq_entries ? loop->cq_entries : URING_CQ;
	ret = io_uring_queue_init_params(URING_SQ, &be->ring, &p);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring_setup: %s", strerror(-ret));
		free(be);
		return ret;
	}
	ring_mapped();
	if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP) ||
	    !(p.features & IORING_FEAT_FAST_POLL)) {
		snprintf(err, errlen, "io_uring lacks EXT_ARG/NODROP/FAST_POLL (kernel older than 6.1)");
		ring_exit(&be->ring);
		free(be);
		return -EINVAL;
	}

	/* liburing 2.3 has no io_uring_setup_buf_ring(): register the ring by hand */
	ret = posix_memalign((void **)&be->br, (size_t)sysconf(_SC_PAGESIZE),
			     loop->nbufs * sizeof(struct io_uring_buf));
	if (ret) {
		snprintf(err, errlen, "out of memory for the buffer ring");
		ring_exit(&be->ring);
		free(be);
		return -ENOMEM;
	}
	io_uring_buf_ring_init(be->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)be->br;
	reg.ring_entries = loop->nbufs;
	reg.bgid = URING_BGID;
	ret = io_uring_register_buf_ring(&be->ring, &reg, 0);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring_register_buf_ring: %s", strerror(-ret));
		free(be->br);
		ring_exit(&be->ring);
		free(be);
		return ret;
	}
	be->br_registered = true;
	be->br_mask = io_uring_buf_ring_mask(loop->nbufs);
	for (i = 0; i < loop->nbufs; i++)
		io_uring_buf_ring_add(be->br, loop->bufs[i].data, loop->buf_size, (unsigned short)i,
				      be->br_mask, (int)i);
	io_uring_buf_ring_advance(be->br, (int)loop->nbufs);
	/* skips the fd table lookup on every enter; optional */
	(void)io_uring_register_ring_fd(&be->ring);
	be->koverflow = *be->ring.cq.koverflow;
	loop->be = be;
	return 0;
}

/* Final completions of a teardown's cancels, counted off, not dispatched:
 * nobody is left to call back. */
static void reap_silently(struct loop *loop)
{
	struct uring_be *be = be_of(loop);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&be->ring, head, cqe) {
		struct loop_op *op = (struct loop_op *)(uintptr_t)cqe->user_data;

		n++;
		if (cqe->user_data != UD_IGNORE && !(cqe->flags & IORING_CQE_F_MORE) && op->armed) {
			op->armed = false;
			loop->narmed--;
		}
	}
	io_uring_cq_advance(&be->ring, n);
}

/*
 * Ops still armed at loop_free(): one cancel for all of them, then their
 * completions are reaped, for a second at most.  A request left in the ring
 * holds its socket: the kernel tears a ring down after the process is gone,
 * and until then a listener would still accept (issue 15).  An orderly exit
 * has cancelled everything already; this is the backstop.
 */
static void uring_cancel_all(struct loop *loop)
{
	struct uring_be *be = be_of(loop);
	struct io_uring_sqe *sqe;
	struct loop_op *op;
	uint64_t deadline = loop_clock_us() + 1000000;

	while ((op = be->failed.head)) {	/* never reached the kernel */
		be->failed.head = op->next;
		op->queued = false;
		op->armed = false;
		loop->narmed--;
	}
	be->failed.tail = NULL;
	if (!loop->narmed)
		return;
	if (!(sqe = io_uring_get_sqe(&be->ring))) {
		io_uring_submit(&be->ring);
		sqe = io_uring_get_sqe(&be->ring);
	}
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
	}
	while (loop->narmed && loop_clock_us() < deadline) {
		struct __kernel_timespec ts = { 0, 10000000 };
		struct io_uring_cqe *cqe;
		int ret = io_uring_submit_and_wait_timeout(&be->ring, &cqe, 1, &ts, NULL);

		reap_silently(loop);
		/* a kernel that refuses the wait (what may have ended the loop)
		 * will not hand the completions over: no spinning on it */
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
	}
}

static void uring_done(struct loop *loop)
{
	struct uring_be *be = be_of(loop);

	if (!be)
		return;
	uring_cancel_all(loop);
	if (be->br_registered)
		io_uring_unregister_buf_ring(&be->ring, URING_BGID);
	ring_exit(&be->ring);
	free(be->br);
	free(be);
	loop->be = NULL;
}

/*
 * An SQE, flushing the SQ when it is full: the 32-per-submit cap.  NULL when
 * the kernel keeps refusing the flush; be->submit_err then says why.  No
 * completions are reaped here: callbacks never run inside a loop_* call.
 */
static struct io_uring_sqe *get_sqe(struct loop *loop)
{
	struct uring_be *be = be_of(loop);
	struct io_uring_sqe *sqe;

	for (int tries = 0; !(sqe = io_uring_get_sqe(&be->ring)); tries++) {
		int ret;

		if (tries == SUBMIT_TRIES)
			return NULL;
		ret = io_uring_submit(&be->ring);
		loop->stats.enters++;
		loop->stats.syscalls++;
		if (ret < 0)
			be->submit_err = ret;
		else if (ret == 0)
			be->submit_err = -EAGAIN;
	}
	loop->stats.sqes++;
	return sqe;
}

/* The op never reached the kernel: it ends with the error at the next
 * dispatch.  op->queued marks it, so that a cancel knows it has nothing to
 * cancel. */
static void op_fail(struct loop *loop, struct loop_op *op)
{
	struct uring_be *be = be_of(loop);

	op->res = be->submit_err < 0 ? be->submit_err : -EAGAIN;
	op->queued = true;
	opq_push(&be->failed, op);
}

/* Runs in the dispatch phase; a callback may fail more ops, which join the
 * queue and run in this same pass. */
static void failed_run(struct loop *loop)
{
	struct uring_be *be = be_of(loop);
	struct loop_op *op;

	while ((op = opq_pop(&be->failed))) {
		op->queued = false;
		loop_complete(loop, op, op->res, false);
	}
}

static int uring_sock_open(struct loop *loop, struct loop_sock *sock, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	loop->stats.syscalls++;
	if (fl < 0)
		return -errno;
	if (fl & O_NONBLOCK) {
		loop->stats.syscalls++;
		if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
			return -errno;
	}
	sock->fd = fd;
	return 0;
}

static void uring_sock_close(struct loop *loop, struct loop_sock *sock)
{
	if (sock->fd >= 0) {
		close(sock->fd);
		loop->stats.syscalls++;
	}
	sock->fd = -1;
}

static void uring_accept(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);

	if (!sqe) {
		op_fail(loop, op);
		return;
	}
	/* no addr: a multishot accept would overwrite it under the next one */
	if (op->type == LOOP_OP_ACCEPT_ONE)
		io_uring_prep_accept(sqe, op->sock->fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_multishot_accept(sqe, op->sock->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, op);
}

static void uring_recv(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);

	if (!sqe) {
		op_fail(loop, op);
		return;
	}
	io_uring_prep_recv_multishot(sqe, op->sock->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data(sqe, op);
	loop->stats.recv_calls++;
}

static void uring_send_rest(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);
	struct msghdr *msg;

	if (!sqe) {
		op_fail(loop, op);
		return;
	}
	/* one slice (the usual case: adjacent slices merge): a plain send skips
	 * the kernel's msghdr and iovec import */
	if (op->iovcnt == 1) {
		io_uring_prep_send(sqe, op->sock->fd, op->iov->iov_base, op->iov->iov_len,
				   MSG_NOSIGNAL | MSG_WAITALL);
		io_uring_sqe_set_data(sqe, op);
		loop->stats.send_calls++;
		return;
	}
	msg = &be_of(loop)->msgs[(unsigned)(sqe - be_of(loop)->ring.sq.sqes) % URING_SQ];
	memset(msg, 0, sizeof(*msg));
	msg->msg_iov = op->iov;
	msg->msg_iovlen = (size_t)op->iovcnt;
	io_uring_prep_sendmsg(sqe, op->sock->fd, msg, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data(sqe, op);
	loop->stats.send_calls++;
}

static void uring_send(struct loop *loop, struct loop_op *op)
{
	uring_send_rest(loop, op);
}

static void uring_connect(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);

	if (!sqe) {
		op_fail(loop, op);
		return;
	}
	io_uring_prep_connect(sqe, op->sock->fd, op->addr, op->addrlen);
	io_uring_sqe_set_data(sqe, op);
}

static void uring_poll(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);

	if (!sqe) {
		op_fail(loop, op);
		return;
	}
	io_uring_prep_poll_multishot(sqe, op->sock->fd, POLLIN);
	io_uring_sqe_set_data(sqe, op);
}

/* No SQE for a cancel: cancel with a register call, which needs none, and
 * whose -ECANCELED completion comes through the CQ like any other. */
static void cancel_sync(struct loop *loop, struct loop_op *op)
{
	struct uring_be *be = be_of(loop);
	struct io_uring_sync_cancel_reg reg;
	int ret;

	memset(&reg, 0, sizeof(reg));
	reg.addr = (uint64_t)(uintptr_t)op;
	reg.timeout.tv_sec = -1;
	reg.timeout.tv_nsec = -1;
	ret = io_uring_register_sync_cancel(&be->ring, &reg);
	loop->stats.syscalls++;
	/* the op may have ended meanwhile (-ENOENT): its completion is queued */
	if (ret < 0 && ret != -ENOENT && ret != -EALREADY)
		be->fatal = ret;	/* the owner would wait forever: stop the loop */
}

static void uring_cancel(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe;

	loop->stats.cancels++;
	if (op->queued)
		return;		/* never submitted: it fails at the next dispatch */
	sqe = get_sqe(loop);
	if (!sqe) {
		cancel_sync(loop, op);
		return;
	}
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
}

static void uring_buf_recycle(struct loop *loop, struct loop_buf *buf)
{
	struct uring_be *be = be_of(loop);

	io_uring_buf_ring_add(be->br, buf->data, loop->buf_size, buf->bid, be->br_mask,
			      (int)be->br_pending);
	be->br_pending++;
}

/* Drops iovec bytes already sent, so the rest can be resubmitted. */
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
}

static void uring_dispatch(struct loop *loop, struct loop_op *op, int res, unsigned flags)
{
	bool more = flags & IORING_CQE_F_MORE;

	switch (op->type) {
	case LOOP_OP_RECV:
		op->buf = NULL;
		if (flags & IORING_CQE_F_BUFFER) {
			struct loop_buf *b = &loop->bufs[flags >> IORING_CQE_BUFFER_SHIFT];

			b->refs = 1;
			b->len = res > 0 ? (uint32_t)res : 0;
			b->next = NULL;
			loop->nfree--;
			if (res <= 0) {
				loop_buf_put(loop, b);
			} else {
				op->buf = b;
			}
		}
		if (res == -ENOBUFS)
			loop->stats.enobufs++;
		loop_complete(loop, op, res, more);
		return;
	case LOOP_OP_SEND:
		if (res == -EAGAIN || res == -EINTR) {
			uring_send_rest(loop, op);
			return;
		}
		if (res >= 0) {
			op->sent += (size_t)res;
			if (op->sent < op->total && res > 0) {
				/* short send: queue the rest, the op stays armed */
				iov_advance(op, (size_t)res);
				uring_send_rest(loop, op);
				return;
			}
			res = op->sent < op->total ? -EPIPE : (int)op->sent;
		}
		loop_complete(loop, op, res, false);
		return;
	case LOOP_OP_ACCEPT:
	case LOOP_OP_POLL:
	case LOOP_OP_CONNECT:
	default:
		loop_complete(loop, op, res, more);
		return;
	}
}

/* The kernel's count of CQEs it dropped, as a delta: it only grows (mod 2^32). */
static void count_overflows(struct loop *loop)
{
	struct uring_be *be = be_of(loop);
	unsigned now = io_uring_smp_load_acquire(be->ring.cq.koverflow);

	loop->stats.cq_overflows += (unsigned)(now - be->koverflow);
	be->koverflow = now;
}

/*
 * A refused wait: -ETIME is a normal timeout; -EINTR, -EAGAIN, -EBUSY and
 * -ENOMEM may pass (memory pressure), so the turn is retried after 1 ms, but
 * not forever: a loop the kernel keeps refusing is dead, and saying so lets
 * the service manager restart pgring instead of it spinning.
 */
static int wait_failed(struct loop *loop, int ret)
{
	struct uring_be *be = be_of(loop);
	struct timespec ms = { 0, 1000000 };

	if (ret >= 0 || ret == -ETIME) {
		be->enter_fails = 0;
		return 0;
	}
	if (ret == -EINTR)
		return 0;
	if (ret != -EAGAIN && ret != -EBUSY && ret != -ENOMEM)
		return ret;
	if (++be->enter_fails >= ENTER_FAILS_MAX)
		return ret;
	nanosleep(&ms, NULL);
	loop->stats.syscalls++;
	return 0;
}

static int uring_wait(struct loop *loop, int64_t timeout_us)
{
	struct uring_be *be = be_of(loop);
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	struct {
		uint64_t ud;
		int res;
		unsigned flags;
	} done[URING_REAP];
	unsigned head, n;
	int ret;

	if (be->fatal)
		return be->fatal;
	if (be->br_pending) {
		io_uring_buf_ring_advance(be->br, (int)be->br_pending);
		be->br_pending = 0;
	}
	if (be->failed.head)
		timeout_us = 0;		/* their completions are due now */
	if (timeout_us >= 0) {
		ts.tv_sec = timeout_us / 1000000;
		ts.tv_nsec = (timeout_us % 1000000) * 1000;
		tsp = &ts;
	}
	/* liburing enters only to submit, or to wait when no CQE is ready */
	if (io_uring_sq_ready(&be->ring) || !io_uring_cq_ready(&be->ring)) {
		loop->stats.enters++;
		loop->stats.syscalls++;
	}
	ret = io_uring_submit_and_wait_timeout(&be->ring, &cqe, 1, tsp, NULL);
	ret = wait_failed(loop, ret);
	if (ret < 0)
		return ret;
	count_overflows(loop);

	/* Copy a batch out and advance before dispatching: callbacks prepare new
	 * SQEs and may flush, and the CQ space is freed in one store. */
	for (;;) {
		n = 0;
		io_uring_for_each_cqe(&be->ring, head, cqe) {
			done[n].ud = cqe->user_data;
			done[n].res = cqe->res;
			done[n].flags = cqe->flags;
			if (++n == URING_REAP)
				break;
		}
		if (!n)
			break;
		io_uring_cq_advance(&be->ring, n);
		loop->stats.cqes += n;
		for (unsigned i = 0; i < n; i++) {
			if (done[i].ud == UD_IGNORE)
				continue;
			uring_dispatch(loop, (struct loop_op *)(uintptr_t)done[i].ud, done[i].res,
				       done[i].flags);
		}
		if (n < URING_REAP)
			break;
	}
	failed_run(loop);
	return be->fatal;
}

const struct loop_backend_ops loop_uring_ops = {
	.name = "io_uring",
	.kind = LOOP_BACKEND_IO_URING,
	.init = uring_init,
	.done = uring_done,
	.sock_open = uring_sock_open,
	.sock_close = uring_sock_close,
	.accept = uring_accept,
	.recv = uring_recv,
	.send = uring_send,
	.connect = uring_connect,
	.poll = uring_poll,
	.cancel = uring_cancel,
	.wait = uring_wait,
	.buf_recycle = uring_buf_recycle,
};
