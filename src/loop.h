/* loop.h - completion (proactor) event loop over io_uring or epoll, chosen at run time */
#ifndef PGRING_LOOP_H
#define PGRING_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/*
 * Contract, identical on both backends:
 *
 * - An op (struct loop_op) is embedded in its owner; nothing is allocated per
 *   I/O.  An op is "armed" from the loop_* call that starts it until its final
 *   completion (the one with more == false).  The owner must not free an op,
 *   nor the loop_sock it runs on, while the op is armed.
 * - Callbacks run only from loop_run()'s dispatch phase, never from inside a
 *   loop_* call.  res is bytes, an fd, 0, or -errno.
 * - Multishot ops (accept, recv, poll) call back with more == true for every
 *   result and stay armed; they end with more == false (error, EOF, cancel).
 * - recv delivers bytes in op->buf, a struct loop_buf from the loop's shared
 *   pool.  The callback takes ownership of one reference and must release it
 *   with loop_buf_put() (it may hold it, e.g. until a send of it completes).
 *   An empty pool ends the recv with -ENOBUFS; re-arm from a timer or when
 *   buffers came back (loop_bufs_free()), never at once.
 * - At most one send per socket is in flight; the iovec array and the bytes it
 *   points to must stay valid until the completion; the backend may rewrite
 *   the iovec array (to resume after a short send).  A completion reports
 *   every byte sent, or -errno (short sends are finished inside the backend).
 * - loop_cancel() ends an armed op: its final completion follows, usually
 *   with -ECANCELED, possibly with a normal result if it won the race.
 * - An op the kernel will not take (its submission keeps failing, e.g.
 *   -EAGAIN under memory pressure) ends with that -errno, from the next
 *   dispatch phase like any completion.
 * - Closing a socket: loop_cancel() its armed ops, wait for their final
 *   completions, then loop_sock_close().  Never close() an fd with armed ops.
 */

struct loop;
struct loop_op;

enum loop_backend_kind {
	LOOP_BACKEND_AUTO = 0,
	LOOP_BACKEND_IO_URING,
	LOOP_BACKEND_EPOLL,
};

enum loop_op_type {
	LOOP_OP_NONE = 0,
	LOOP_OP_ACCEPT,		/* multishot; res = new fd, set up for this backend */
	LOOP_OP_ACCEPT_ONE,	/* one connection: the final completion carries it */
	LOOP_OP_RECV,		/* multishot; res = bytes in op->buf, 0 = EOF */
	LOOP_OP_SEND,		/* res = bytes sent (all of them) */
	LOOP_OP_CONNECT,	/* res = 0 when connected */
	LOOP_OP_POLL,		/* multishot POLLIN; res = revents */
	LOOP_OP_TIMER,		/* internal */
};

typedef void (*loop_cb_t)(struct loop *loop, struct loop_op *op, int res, bool more);

/* A receive buffer, or a heap buffer of bytes pgring generated itself. */
struct loop_buf {
	char *data;
	uint32_t len;		/* bytes valid from data */
	uint32_t cap;
	uint16_t refs;
	uint16_t bid;		/* index in the pool; LOOP_BUF_HEAP for heap buffers */
	struct loop_buf *next;	/* free list; free for the holder's use otherwise */
};
#define LOOP_BUF_HEAP 0xffff

/* One socket as the loop sees it (epoll registers it once). */
struct loop_sock {
	int fd;
	uint32_t ready;		/* epoll: readiness seen and not yet used up */
	struct loop_op *rd;	/* epoll: armed accept/recv/poll/connect op */
	struct loop_op *wr;	/* epoll: armed send/connect op */
	bool registered;
};

struct loop_op {
	loop_cb_t cb;
	struct loop_sock *sock;
	uint8_t type;
	bool armed;
	bool cancel;		/* a cancel was asked for */
	bool queued;		/* epoll: on the run queue */
	int res;		/* epoll: pending result */
	union {			/* by type: an op is one kind at a time */
		struct loop_buf *buf;	/* recv: buffer of this completion */
		struct {		/* send: iov advances in place over short sends */
			struct iovec *iov;
			int iovcnt;
			size_t sent;	/* bytes already sent of the iovec total */
			size_t total;
		};
		struct {		/* connect */
			const struct sockaddr *addr;
			socklen_t addrlen;
		};
	};
	struct loop_op *next;	/* backend run/park queues */
};

/* Timers live in a min-heap per loop; no syscall per timer. */
struct loop_timer;
typedef void (*loop_timer_cb_t)(struct loop *loop, struct loop_timer *t);
struct loop_timer {
	uint64_t when_us;	/* monotonic deadline */
	loop_timer_cb_t cb;
	uint32_t idx;		/* heap index + 1, 0 when not armed */
};

/* Counters for SHOW IO: every backend keeps them the same way. */
struct loop_stats {
	uint64_t enters;	/* io_uring_enter / epoll_wait calls */
	uint64_t sqes;		/* operations handed to the kernel */
	uint64_t cqes;		/* completions reaped */
	/* system calls made on the loop's thread after start-up, as strace
	 * counts them: the loop's own, and those the code around it reports
	 * through loop_syscalls() (socket set-up, signalfd reads) */
	uint64_t syscalls;
	uint64_t recv_calls;
	uint64_t send_calls;
	/* completions the kernel dropped because the CQ ring was full and it
	 * could not keep them either (io_uring's cq overflow counter).  A full
	 * ring alone loses nothing: the kernel holds the excess until the next
	 * enter.  Not 0 means lost completions; always 0 on epoll. */
	uint64_t cq_overflows;
	uint64_t enobufs;
	uint64_t cancels;
	uint64_t turns;
};

struct loop_params {
	enum loop_backend_kind backend;
	unsigned nbufs;		/* receive buffers in the pool, power of two */
	unsigned buf_size;	/* bytes per receive buffer (pkt_buf) */
	unsigned cq_entries;	/* io_uring CQ ring size; 0: the default (tests make it small) */
};

/*
 * Creates the loop.  With LOOP_BACKEND_AUTO, tries io_uring and falls back to
 * epoll; *why gets a static string naming the reason of a fallback (or NULL).
 * Returns NULL with errno set when the asked-for backend cannot run; errmsg
 * (if non-NULL, errlen bytes) then says why.
 */
struct loop *loop_new(const struct loop_params *p, const char **why, char *errmsg, size_t errlen);
/* Ops still armed are cancelled in the kernel and their completions reaped
 * (not dispatched) first: an armed op holds its socket open, and a ring torn
 * down with one in it keeps a listener accepting after the process is gone. */
void loop_free(struct loop *loop);
enum loop_backend_kind loop_backend(const struct loop *loop);
const char *loop_backend_name(const struct loop *loop);
const struct loop_stats *loop_get_stats(const struct loop *loop);
/* The syscalls counter, for code that makes system calls on the loop's
 * thread outside the loop (socket options, signalfd reads): SHOW IO counts
 * them with the loop's own. */
uint64_t *loop_syscalls(struct loop *loop);

/* Runs one turn: submit and wait (until a completion or the nearest timer),
 * dispatch.  0, or -errno when the kernel refuses the loop's wait or its
 * submissions for good: the loop cannot go on. */
int loop_run_once(struct loop *loop);
/* Turns until loop_stop() (0) or a fatal error (-errno). */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
/* Ops armed now (their final completion not yet dispatched). */
unsigned loop_armed(const struct loop *loop);
/* No op armed and no deferred call pending: what an orderly exit waits for
 * before loop_free(), so that no socket outlives the process in the kernel. */
bool loop_idle(const struct loop *loop);

/* Sockets: sets the flags the backend wants (blocking for io_uring,
 * O_NONBLOCK for epoll) and registers it where needed. */
int loop_sock_open(struct loop *loop, struct loop_sock *sock, int fd);
/* Closes the fd; no op may be armed on it. */
void loop_sock_close(struct loop *loop, struct loop_sock *sock);

void loop_accept(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb);
/* Accepts one connection, not a stream of them: for a caller that must bound
 * how many it takes (a multishot accept can hand over a whole backlog before
 * a cancel lands). */
void loop_accept_once(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb);
void loop_recv(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb);
void loop_send(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb,
	       struct iovec *iov, int iovcnt);
void loop_connect(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb,
		  const struct sockaddr *addr, socklen_t addrlen);
void loop_poll(struct loop *loop, struct loop_sock *sock, struct loop_op *op, loop_cb_t cb);
void loop_cancel(struct loop *loop, struct loop_op *op);

/* Buffers */
void loop_buf_put(struct loop *loop, struct loop_buf *buf);
static inline void loop_buf_ref(struct loop_buf *buf) { buf->refs++; }
struct loop_buf *loop_buf_heap(size_t cap);	/* NULL on ENOMEM */
unsigned loop_bufs_free(const struct loop *loop);

unsigned loop_bufs_total(const struct loop *loop);
unsigned loop_buf_size(const struct loop *loop);

/* Time and timers */
uint64_t loop_now_us(struct loop *loop);	/* cached at the start of each turn */
uint64_t loop_clock_us(void);			/* reads the clock */
void loop_timer_set(struct loop *loop, struct loop_timer *t, uint64_t delay_us, loop_timer_cb_t cb);
void loop_timer_stop(struct loop *loop, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->idx != 0; }

/* Runs fn(arg) at the end of this turn, after all callbacks (deferred frees). */
typedef void (*loop_defer_fn)(void *arg);
int loop_defer(struct loop *loop, loop_defer_fn fn, void *arg);

/* Calls fn(arg) once, at the end of the turn in which a pool buffer next comes
 * back: the "buffers came back" hook for receives parked on ENOBUFS.  A later
 * call replaces an earlier one not yet run. */
void loop_bufs_notify(struct loop *loop, loop_defer_fn fn, void *arg);

#endif
