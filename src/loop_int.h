/* loop_int.h - what loop.c shares with the backends; not for the rest of pgring */
#ifndef PGRING_LOOP_INT_H
#define PGRING_LOOP_INT_H

#include "loop.h"

struct loop_backend_ops {
	const char *name;
	enum loop_backend_kind kind;
	/* 0, or -errno with err filled; on failure loop.c may try another backend */
	int (*init)(struct loop *loop, char *err, size_t errlen);
	void (*done)(struct loop *loop);
	int (*sock_open)(struct loop *loop, struct loop_sock *sock, int fd);
	void (*sock_close)(struct loop *loop, struct loop_sock *sock);
	void (*accept)(struct loop *loop, struct loop_op *op);
	void (*recv)(struct loop *loop, struct loop_op *op);
	void (*send)(struct loop *loop, struct loop_op *op);
	void (*connect)(struct loop *loop, struct loop_op *op);
	void (*poll)(struct loop *loop, struct loop_op *op);
	void (*cancel)(struct loop *loop, struct loop_op *op);
	/* Submits what is queued, waits up to timeout_us (-1: no limit, 0: do not
	 * block) for completions and dispatches them. */
	int (*wait)(struct loop *loop, int64_t timeout_us);
	/* A pool buffer came back (refs reached 0). */
	void (*buf_recycle)(struct loop *loop, struct loop_buf *buf);
};

struct loop_defer_ent {
	loop_defer_fn fn;
	void *arg;
};

struct loop {
	const struct loop_backend_ops *ops;
	void *be;			/* backend state */
	struct loop_stats stats;
	uint64_t now_us;
	bool stop;
	unsigned narmed;		/* ops armed: loop_armed() */

	/* timer min-heap */
	struct loop_timer **heap;
	uint32_t nheap, capheap;

	/* receive buffer pool, shared by every socket of this loop */
	struct loop_buf *bufs;
	char *bufmem;
	unsigned nbufs, buf_size, nfree;
	unsigned cq_entries;		/* io_uring: loop_params.cq_entries */
	struct loop_buf *free_list;	/* epoll: LIFO of free buffers */
	loop_defer_fn bufs_fn;		/* loop_bufs_notify(): NULL when nobody waits */
	void *bufs_arg;

	struct loop_defer_ent *defer;
	uint32_t ndefer, capdefer;
};

/* Backends call this with a final or intermediate result. */
static inline void loop_complete(struct loop *loop, struct loop_op *op, int res, bool more)
{
	if (!more && op->armed) {
		op->armed = false;
		loop->narmed--;
	}
	op->cb(loop, op, res, more);
}

/* A FIFO of ops through op->next: the backends' run and failure queues. */
struct opq {
	struct loop_op *head, *tail;
};

static inline void opq_push(struct opq *q, struct loop_op *op)
{
	op->next = NULL;
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
}

static inline struct loop_op *opq_pop(struct opq *q)
{
	struct loop_op *op = q->head;

	if (op) {
		q->head = op->next;
		if (!q->head)
			q->tail = NULL;
		op->next = NULL;
	}
	return op;
}

/* epoll: takes a free pool buffer (refs = 1), or NULL when the pool is empty. */
struct loop_buf *loop_pool_take(struct loop *loop);

extern const struct loop_backend_ops loop_epoll_ops;
#ifdef HAVE_IO_URING
extern const struct loop_backend_ops loop_uring_ops;
#endif

#endif
