/* conn.c - one socket's byte stream: framing by headers, forwarding by slices, send queue, flow control */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "worker.h"

/*
 * Received buffers queue up on inq and are framed by headers only.  A
 * forwarded message is pushed to the peer's send queue as slices of the
 * received buffers (each slice holds a reference), so bodies are never
 * copied; adjacent slices of one buffer merge into one entry.  When the
 * peer's queue is full, framing stops; when inq grows, recv is cancelled;
 * both resume from the peer's send completion (on_drain).
 */

static void conn_maybe_free(struct conn *c);
static void conn_flush(struct conn *c);
static void flush_at_turn_end(struct conn *c);

static void conn_free_cb(void *arg)
{
	struct conn *c = arg;

	c->ops->on_free(c);
}

void conn_init(struct conn *c, struct worker *w, const struct conn_ops *ops, bool is_server)
{
	c->w = w;
	c->ops = ops;
	c->is_server = is_server;
	c->sock.fd = -1;
	c->id = conn_id_make(w->index, ++w->next_id);
	list_node_init(&c->starved_node);
	pkt_init(&c->msg);
	frame_init(&c->fr, !is_server, is_server ? (uint32_t)INT32_MAX : PROTO_STARTUP_MAX);
	c->connect_time_us = loop_now_us(w->loop);
}

int conn_attach(struct conn *c, int fd)
{
	int ret = loop_sock_open(c->w->loop, &c->sock, fd);

	if (ret < 0) {
		close(fd);
		c->sock.fd = -1;
	}
	return ret;
}

bool conn_out_full(const struct conn *c)
{
	return c->out_n + HOLD_MAX + 2 >= OUTQ_SLOTS || c->out_bytes >= OUTQ_HIGH_BYTES;
}

#define OUT_ENT(c, i) (&(c)->ob->ents[((c)->out_head + (i)) % (c)->ob->cap])

/* A send queue for c, from the worker's free list or the heap */
static bool ob_get(struct conn *c)
{
	struct worker *w = c->w;

	if (c->ob)
		return true;
	if (w->free_obs) {
		c->ob = w->free_obs;
		w->free_obs = c->ob->next_free;
	} else if (!(c->ob = malloc(sizeof(*c->ob)))) {
		return false;
	}
	c->ob->ents = c->ob->inl;
	c->ob->cap = OUTQ_SLOTS;
	c->out_head = 0;
	return true;
}

/* Gives the send queue back once nothing is queued or in flight */
static void ob_put(struct conn *c)
{
	if (!c->ob || c->out_n || c->wop.armed)
		return;
	if (c->ob->ents != c->ob->inl)
		free(c->ob->ents);
	c->ob->next_free = c->w->free_obs;
	c->w->free_obs = c->ob;
	c->ob = NULL;
}

/*
 * A queue outgrows its block only in bursts pgring answers itself (made-up
 * replies to pipelined messages, console answers): framing stops at
 * conn_out_full() of the destination, so the burst is one message's worth.
 * Entries move, the bytes they point to do not, so a send in flight is safe.
 */
static bool ob_grow(struct conn *c)
{
	struct out_block *ob = c->ob;
	unsigned cap = ob->cap * 2;
	struct out_ent *ents;

	if (cap > OUTQ_MAX_SLOTS || !(ents = malloc(cap * sizeof(*ents))))
		return false;
	for (unsigned i = 0; i < c->out_n; i++)
		ents[i] = *OUT_ENT(c, i);
	if (ob->ents != ob->inl)
		free(ob->ents);
	ob->ents = ents;
	ob->cap = cap;
	c->out_head = 0;
	return true;
}

void conn_free_blocks(struct worker *w)
{
	while (w->free_obs) {
		struct out_block *ob = w->free_obs;

		w->free_obs = ob->next_free;
		free(ob);
	}
}

static void fail_deferred(void *arg)
{
	struct conn *c = arg;

	if (!c->closing)
		c->ops->on_eof(c, -ENOMEM);
}

/*
 * Bytes that could not be queued would leave a hole in the stream: c sends
 * nothing more and is failed at the end of the turn (not here: the caller
 * may be deep in the peer's processing, with c's owner on the stack).
 */
static void conn_fail(struct conn *c, const char *what)
{
	if (c->send_failed || c->closing)
		return;
	c->send_failed = true;
	c->want_recv = false;
	log_error(c->w->log, "%s connection %llu: could not queue %s (out of memory or %u slices queued): closing it",
		  c->is_server ? "server" : "client", (unsigned long long)c->id, what, c->out_n);
	if (loop_defer(c->w->loop, fail_deferred, c) < 0)
		fail_deferred(c);
}

static void ent_drop(struct conn *c, struct out_ent *e)
{
	c->out_bytes -= e->len;
	if (e->buf->bid != LOOP_BUF_HEAP)
		c->out_pooled--;
	loop_buf_put(c->w->loop, e->buf);
	e->buf = NULL;
}

static void release_out(struct conn *c, unsigned n)
{
	while (n--) {
		ent_drop(c, OUT_ENT(c, 0));
		c->out_head = (c->out_head + 1) % c->ob->cap;
		c->out_n--;
	}
}

static void conn_send_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct conn *c = list_entry(op, struct conn, wop);
	bool was_full = conn_out_full(c);

	release_out(c, c->out_inflight);
	c->out_inflight = 0;
	if (c->tls)
		tls_sent(c);
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res < 0) {
		c->ops->on_eof(c, res);
		return;
	}
	if (c->out_n || tls_out_pending(c)) {
		conn_flush(c);
	} else if (c->close_after_send) {
		conn_close(c);
		return;
	} else {
		ob_put(c);
	}
	if (!was_full || conn_out_full(c))
		return;
	if (c->ops->on_drain)
		c->ops->on_drain(c);
	/* framing stopped for our own answers: go on (after the peer, which
	 * had waited on the same queue) */
	if (c->self_blocked && !c->closing) {
		c->self_blocked = false;
		conn_process(c);
	}
}

static void conn_flush(struct conn *c)
{
	unsigned i, n;
	struct iovec *iov;

	if (c->wop.armed || c->sock.fd < 0 || c->closing)
		return;
	if (c->tls) {	/* ciphertext of the first slices, in one buffer */
		if ((iov = tls_encrypt(c, &n))) {
			c->out_inflight = n;
			loop_send(c->w->loop, &c->sock, &c->wop, conn_send_cb, iov, 1);
		}
		return;
	}
	if (!c->out_n)
		return;
	n = c->out_n < OUTQ_BATCH ? c->out_n : OUTQ_BATCH;
	for (i = 0; i < n; i++) {
		struct out_ent *e = OUT_ENT(c, i);

		c->ob->iov[i].iov_base = e->buf->data + e->off;
		c->ob->iov[i].iov_len = e->len;
	}
	c->out_inflight = n;
	loop_send(c->w->loop, &c->sock, &c->wop, conn_send_cb, c->ob->iov, (int)n);
}

/* A new entry for the slice; the queue grows rather than refuse it. */
static bool add_ent(struct conn *c, struct loop_buf *buf, uint32_t off, uint32_t len)
{
	struct out_ent *e;

	if (c->out_n == c->ob->cap && !ob_grow(c))
		return false;
	e = OUT_ENT(c, c->out_n);
	loop_buf_ref(buf);
	e->buf = buf;
	e->off = off;
	e->len = len;
	c->out_n++;
	c->out_bytes += len;
	if (buf->bid != LOOP_BUF_HEAP)
		c->out_pooled++;
	return true;
}

/*
 * Appends a copy of the bytes to the last queued heap buffer when only this
 * queue holds it and it has room (pgring's own small answers and slices
 * copied off the pool share buffers), else to a new one.
 */
static bool queue_copy(struct conn *c, const char *p, uint32_t len)
{
	struct loop_buf *h;
	bool ok;

	if (c->out_n > c->out_inflight) {
		struct out_ent *e = OUT_ENT(c, c->out_n - 1);

		h = e->buf;
		if (h->bid == LOOP_BUF_HEAP && h->refs == 1 && e->off + e->len == h->len &&
		    h->cap - h->len >= len) {
			memcpy(h->data + h->len, p, len);
			h->len += len;
			e->len += len;
			c->out_bytes += len;
			return true;
		}
	}
	h = loop_buf_heap(len > OUTQ_COPY_CHUNK ? len : OUTQ_COPY_CHUNK);
	if (!h)
		return false;
	memcpy(h->data, p, len);
	h->len = len;
	ok = add_ent(c, h, 0, len);
	loop_buf_put(c->w->loop, h);
	return ok;
}

static bool pool_low(const struct loop *loop)
{
	return loop_bufs_free(loop) < loop_bufs_total(loop) / 2;
}

/*
 * Queues a slice without starting a send.  A queue pins at most
 * OUTQ_POOL_MAX pool buffers, and none more once half the pool is in use:
 * past that, slices are copied to the heap, so that clients that stop
 * reading cannot take the shared receive pool (and with it every other
 * connection's receives) whatever their number - their queues stay bounded
 * by conn_out_full(), which stops the peer's framing.
 */
static bool queue_slice(struct conn *c, struct loop_buf *buf, uint32_t off, uint32_t len)
{
	bool ok;

	if (!c || c->closing || c->send_failed)
		return false;
	if (!len)
		return true;
	if (!ob_get(c)) {
		conn_fail(c, "a send queue");
		return false;
	}
	if (c->out_n > c->out_inflight) {
		struct out_ent *e = OUT_ENT(c, c->out_n - 1);

		if (e->buf == buf && e->off + e->len == off) {
			e->len += len;
			c->out_bytes += len;
			return true;
		}
	}
	if (buf->bid == LOOP_BUF_HEAP ||
	    (c->out_pooled < OUTQ_POOL_MAX && !pool_low(c->w->loop)))
		ok = add_ent(c, buf, off, len);
	else
		ok = queue_copy(c, buf->data + off, len);
	if (!ok)
		conn_fail(c, "a message");
	return ok;
}

static void flush_deferred(void *arg)
{
	struct conn *c = arg;

	c->flush_queued = false;
	conn_flush(c);
}

void conn_flush_soon(struct conn *c)
{
	flush_at_turn_end(c);
}

const struct out_ent *conn_out_ent(const struct conn *c, unsigned i)
{
	return OUT_ENT(c, i);
}

static void flush_at_turn_end(struct conn *c)
{
	if (!c->flush_queued && !c->wop.armed) {
		if (loop_defer(c->w->loop, flush_deferred, c) == 0)
			c->flush_queued = true;
		else
			conn_flush(c);
	}
}

/*
 * Messages pgring makes itself (errors, rewritten Parse/Bind, made-up
 * answers, login replies) are sent at the end of the loop turn, with
 * whatever else was queued for the socket by then: one send, not one per
 * message.  The deferred call runs before any deferred free of c, which is
 * queued later (a closing conn takes no pushes).
 */
bool conn_push(struct conn *c, struct loop_buf *buf, uint32_t off, uint32_t len)
{
	if (!queue_slice(c, buf, off, len))
		return false;
	flush_at_turn_end(c);
	return true;
}

/*
 * Forwarding from conn_process queues slices and sends once the whole
 * received batch is framed (or the destination changes): sending at every
 * push put each message's 5-byte header on the wire alone, then the rest of
 * the batch after that send completed - two sends, and a wait between them,
 * for every forwarded batch.  A failure has failed dest already.
 */
static void push_batched(struct conn **pending, struct conn *dest, struct loop_buf *buf,
			 uint32_t off, uint32_t len)
{
	if (*pending != dest) {
		if (*pending)
			conn_flush(*pending);
		*pending = dest;
	}
	(void)queue_slice(dest, buf, off, len);
}

bool conn_send_pkt(struct conn *c, struct pktbuf *pb)
{
	bool ok;

	if (!c || c->closing || c->send_failed) {
		pkt_reset(pb);
		return false;
	}
	if (pb->failed) {
		pkt_reset(pb);
		conn_fail(c, "a message (out of memory building it)");
		return false;
	}
	if (!pb->len) {
		pkt_reset(pb);
		return true;
	}
	if (pb->len > UINT32_MAX || !ob_get(c)) {
		ok = false;
	} else {
		ok = queue_copy(c, (const char *)pb->data, (uint32_t)pb->len);
	}
	pkt_reset(pb);
	if (!ok) {
		conn_fail(c, "a message");
		return false;
	}
	flush_at_turn_end(c);
	return true;
}

/* ---- receive side ---- */

static void conn_recv_cb(struct loop *loop, struct loop_op *op, int res, bool more);
static void watch_starved(struct worker *w);

static void update_recv(struct conn *c)
{
	bool want = c->want_recv && !c->frozen && !c->closing && c->inq_n < INQ_HIGH_BUFS &&
		    !tls_in_full(c);

	if (want && !c->rop.armed && !c->recv_starved && c->sock.fd >= 0)
		loop_recv(c->w->loop, &c->sock, &c->rop, conn_recv_cb);
	else if (!want && c->rop.armed && !c->rop.cancel)
		loop_cancel(c->w->loop, &c->rop);
}

void conn_start_recv(struct conn *c)
{
	c->want_recv = true;
	update_recv(c);
}

/*
 * Receives parked on an empty pool (ENOBUFS) are re-armed when buffers come
 * back - once a quarter of the pool is free, so that they do not park again
 * at once - and, as a safety net, from a timer whatever the count: a conn
 * must never wait for an unrelated one to make progress.
 */
static void rearm_starved(struct worker *w, bool force)
{
	struct list_node *pos, *tmp;

	if (list_empty(&w->starved))
		return;
	if (!force && loop_bufs_free(w->loop) < loop_bufs_total(w->loop) / 4) {
		watch_starved(w);
		return;
	}
	list_for_each_safe(pos, tmp, &w->starved) {
		struct conn *c = list_entry(pos, struct conn, starved_node);

		list_remove(&w->starved, pos);
		c->recv_starved = false;
		update_recv(c);
	}
	if (list_empty(&w->starved))
		loop_timer_stop(w->loop, &w->starved_timer);
}

static void bufs_back(void *arg)
{
	rearm_starved(arg, false);
}

static void starved_timer_cb(struct loop *loop, struct loop_timer *t)
{
	struct worker *w = list_entry(t, struct worker, starved_timer);

	(void)loop;
	if (loop_bufs_free(w->loop) > 0)
		rearm_starved(w, true);
	else
		watch_starved(w);
}

static void watch_starved(struct worker *w)
{
	loop_bufs_notify(w->loop, bufs_back, w);
	if (!loop_timer_armed(&w->starved_timer))
		loop_timer_set(w->loop, &w->starved_timer, STARVED_RETRY_US, starved_timer_cb);
}

/* A received buffer at the end of the conn's input queue */
void conn_inq_append(struct conn *c, struct loop_buf *b)
{
	b->next = NULL;
	if (c->inq_tail)
		c->inq_tail->next = b;
	else
		c->inq_head = b;
	c->inq_tail = b;
	c->inq_n++;
}

static void conn_recv_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct conn *c = list_entry(op, struct conn, rop);

	if (res > 0) {
		struct loop_buf *b = op->buf;

		op->buf = NULL;
		if (c->sniff && !c->closing) {
			/* PostgreSQL 17's direct TLS: a ClientHello, not a length */
			c->sniff = false;
			if ((uint8_t)b->data[0] == 0x16 && tls_accept(c, NULL, 0, true) < 0)
				c->ops->on_eof(c, -EPROTO);	/* logged; b goes below */
		}
		if (c->closing) {
			loop_buf_put(loop, b);
		} else if (c->tls) {
			stats_received(c, (uint32_t)res);
			tls_on_recv(c, b);
			conn_process(c);
		} else {
			conn_inq_append(c, b);
			stats_received(c, (uint32_t)res);
			conn_process(c);
		}
		if (!more && !c->closing)
			update_recv(c);
		else if (!more)
			conn_maybe_free(c);
		return;
	}
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res == -ENOBUFS) {
		c->recv_starved = true;
		list_append(&c->w->starved, &c->starved_node);
		watch_starved(c->w);
		return;
	}
	if (res == -ECANCELED) {
		/* paused for flow control; conn_process re-arms when drained */
		update_recv(c);
		return;
	}
	/* EOF (0) or an error */
	c->want_recv = false;
	c->ops->on_eof(c, res);
}

void conn_discard_held(struct conn *c)
{
	for (int i = 0; i < c->nhold; i++)
		loop_buf_put(c->w->loop, c->hold[i].buf);
	c->nhold = 0;
}

static void hold(struct conn *c, struct loop_buf *b, uint32_t off, uint32_t len)
{
	if (!len)
		return;
	if (c->nhold > 0) {
		struct out_ent *h = &c->hold[c->nhold - 1];

		if (h->buf == b && h->off + h->len == off) {
			h->len += len;
			return;
		}
	}
	/* a header is 5 bytes: it cannot come in more than 5 pieces */
	loop_buf_ref(b);
	c->hold[c->nhold].buf = b;
	c->hold[c->nhold].off = off;
	c->hold[c->nhold].len = len;
	c->nhold++;
}

/*
 * A heap copy of n bytes at p in place of a pool buffer, or NULL (then the
 * pool buffer stays: correct, only less frugal).
 */
static struct loop_buf *heap_copy(const char *p, uint32_t n)
{
	struct loop_buf *h = loop_buf_heap(n ? n : 1);

	if (h) {
		memcpy(h->data, p, n);
		h->len = n;
	}
	return h;
}

/*
 * A conn that stopped reading (waiting for a server, or for its peer to
 * drain) must not sit on the shared receive pool: thousands of clients
 * waiting for a few servers would hold every buffer, and the servers they
 * wait for could not receive any more (a deadlock).  When the pool runs low,
 * what such a conn holds moves to the heap: bytes not yet framed and header
 * pieces not yet forwarded.
 */
static void conn_unpool(struct conn *c)
{
	struct loop *loop = c->w->loop;
	struct loop_buf *prev = NULL, *b, *h;

	for (b = c->inq_head; b; prev = h, b = h->next) {
		uint32_t off = b == c->inq_head ? c->inq_off : 0;

		h = b;
		if (b->bid == LOOP_BUF_HEAP || off > b->len ||
		    !(h = heap_copy(b->data + off, b->len - off))) {
			h = b;
			continue;
		}
		h->next = b->next;
		if (prev)
			prev->next = h;
		else
			c->inq_head = h, c->inq_off = 0;
		if (c->inq_tail == b)
			c->inq_tail = h;
		loop_buf_put(loop, b);
	}
	for (int i = 0; i < c->nhold; i++) {
		struct out_ent *e = &c->hold[i];

		if (e->buf->bid == LOOP_BUF_HEAP || !(h = heap_copy(e->buf->data + e->off, e->len)))
			continue;
		loop_buf_put(loop, e->buf);
		e->buf = h;
		e->off = 0;
	}
}

static bool forwards(uint8_t action)
{
	return action == ACT_FORWARD || action == ACT_PEEK || action == ACT_REPLACE_HEAD;
}

static bool gathers(uint8_t action)
{
	return action == ACT_PEEK || action == ACT_CONSUME;
}

/* Body bytes of the current message already received */
static uint32_t body_arrived(const struct conn *c)
{
	uint32_t off = c->inq_off, got = 0;

	for (const struct loop_buf *b = c->inq_head; b && got < c->fr.left; b = b->next, off = 0)
		got += b->len > off ? b->len - off : 0;
	return got < c->fr.left ? got : c->fr.left;
}

/* A client's Parse, Bind, Describe or Close starts with the names that
 * prepared.c rewrites; other messages are decided on their header alone */
static bool wants_peek(const struct conn *c)
{
	return !c->is_server && c->fr.type && strchr("PBDC", c->fr.type);
}

/* Asks the owner what to do with the message whose header is complete. */
static bool decide(struct conn *c, struct conn **pending)
{
	enum msg_action a;
	int err;

	if (c->peer && conn_out_full(c->peer))
		return false;
	/* what pgring answers a client itself goes to the client's own queue:
	 * one that pipelines without reading stops being read, as PostgreSQL
	 * would, instead of making the queue grow.  Not servers: they are
	 * answered only during login, and stopping to read a server whose
	 * queue we fill could deadlock with it. */
	if (!c->is_server && conn_out_full(c)) {
		c->self_blocked = true;
		return false;
	}
	/* the first bytes of the body are on their way: wait for them (more
	 * bytes re-run conn_process), so that on_header can peek at them; not
	 * past what stops recv (a client dribbling bytes gets them gathered) */
	if (wants_peek(c) && c->inq_n < INQ_HIGH_BUFS &&
	    body_arrived(c) < (c->fr.left < CONN_PEEK_MIN ? c->fr.left : CONN_PEEK_MIN))
		return false;
	c->gather_max = 0;
	c->fwd_skip = 0;
	a = c->ops->on_header(c, c->fr.type, c->fr.len);
	if (a == ACT_WAIT || a == ACT_CLOSE || c->closing)
		return false;
	err = frame_gather_check(&c->fr, gathers(a), c->gather_max);
	if (err) {
		c->ops->on_eof(c, err);
		return false;
	}
	c->decided = true;
	c->action = (uint8_t)a;
	/* the owner has sent its own header in place of this one */
	if (forwards(a) && a != ACT_REPLACE_HEAD && c->peer) {
		for (int i = 0; i < c->nhold; i++)
			push_batched(pending, c->peer, c->hold[i].buf, c->hold[i].off, c->hold[i].len);
	}
	conn_discard_held(c);
	pkt_reset(&c->msg);
	return true;
}

size_t conn_unread(const struct conn *c)
{
	size_t n = 0;
	uint32_t off = c->inq_off;

	for (const struct loop_buf *b = c->inq_head; b; b = b->next, off = 0)
		n += b->len > off ? b->len - off : 0;
	return n;
}

size_t conn_peek_body(const struct conn *c, uint8_t *out, size_t n)
{
	const struct loop_buf *b = c->inq_head;
	uint32_t off = c->inq_off;
	size_t got = 0;

	if (!c->fr.in_body || c->decided)
		return 0;
	if (n > c->fr.left)
		n = c->fr.left;
	for (; b && got < n; b = b->next, off = 0) {
		size_t take = b->len > off ? b->len - off : 0;

		if (take > n - got)
			take = n - got;
		memcpy(out + got, b->data + off, take);
		got += take;
	}
	return got;
}

/* The message of this type is complete (frame_end). false if the conn was closed. */
static bool finish(struct conn *c, uint8_t type)
{
	bool ok = true;

	c->decided = false;
	if (gathers(c->action)) {
		if (c->msg.failed) {
			c->ops->on_eof(c, -ENOMEM);
			return false;
		}
		ok = c->ops->on_message(c, type, c->msg.data, (uint32_t)c->msg.len);
		/* a client gathers rarely (login, a named Parse): an idle one
		 * keeps no buffer; servers gather at every ReadyForQuery */
		if (!c->is_server)
			pkt_free(&c->msg);
	}
	return ok && !c->closing;
}

void conn_process(struct conn *c)
{
	struct loop *loop = c->w->loop;
	struct conn *pending = NULL;	/* peer with slices queued and not yet sent */

	if (c->processing || c->closing)
		return;
	c->processing = true;
	while ((c->inq_head || (c->tls && tls_pump(c))) && !c->closing && !c->close_after_send) {
		struct loop_buf *b;
		uint32_t off;
		enum frame_ev ev;
		size_t used;
		uint8_t type;

		/* a complete header waits for its decision before anything else */
		if (c->fr.in_body && !c->decided) {
			if (!decide(c, &pending))
				break;
			if (frame_end(&c->fr, &type)) {
				if (!finish(c, type))
					break;
				continue;
			}
		}
		b = c->inq_head;
		off = c->inq_off;
		if (off >= b->len) {
			c->inq_head = b->next;
			if (!c->inq_head)
				c->inq_tail = NULL;
			c->inq_off = 0;
			c->inq_n--;
			loop_buf_put(loop, b);
			continue;
		}
		if (c->decided && forwards(c->action) && c->peer && conn_out_full(c->peer))
			break;

		ev = frame_step(&c->fr, (const uint8_t *)b->data + off, b->len - off, &used);
		c->inq_off += (uint32_t)used;
		switch (ev) {
		case FRAME_PARTIAL:
			hold(c, b, off, (uint32_t)used);
			break;
		case FRAME_HEADER:
			hold(c, b, off, (uint32_t)used);
			c->decided = false;	/* decided at the top of the loop */
			break;
		case FRAME_BODY:
			if (c->fwd_skip) {	/* ACT_REPLACE_HEAD: the part the owner rewrote */
				uint32_t k = c->fwd_skip < used ? c->fwd_skip : (uint32_t)used;

				c->fwd_skip -= k;
				off += k;
				used -= k;
			}
			if (forwards(c->action) && c->peer && used)
				push_batched(&pending, c->peer, b, off, (uint32_t)used);
			if (gathers(c->action))
				pkt_bytes(&c->msg, b->data + off, used);
			if (frame_end(&c->fr, &type) && !finish(c, type))
				goto out;
			break;
		case FRAME_BAD:
		case FRAME_TOO_LONG:	/* over max_packet_size: never buffered */
			c->ops->on_eof(c, frame_error(ev));
			goto out;
		}
	}
out:
	if (pending)
		conn_flush(pending);
	c->processing = false;
	/* stopped by a full queue (a client that does not read): what we hold
	 * may wait long, so it leaves the pool now, before the pool runs low */
	if (!c->closing && (c->inq_head || c->nhold) &&
	    (pool_low(c->w->loop) || c->self_blocked || (c->peer && conn_out_full(c->peer))))
		conn_unpool(c);
	if (!c->closing)
		update_recv(c);
}

/*
 * SUSPEND, as PgBouncer: a socket stops being read once everything it sent
 * has been passed on - nothing received and not yet forwarded, no message
 * half read (the rest is still in the kernel: it is read first).  Bytes a
 * cancelled receive still brings are processed as usual; if they leave a
 * message half read, reading resumes until it is whole.
 */
bool conn_quiesce(struct conn *c)
{
	bool drained = !c->inq_head && !c->nhold && !c->fr.in_body;

	if (c->closing)
		return true;
	if (!drained) {
		if (c->frozen) {
			c->frozen = false;
			update_recv(c);
		}
		return false;
	}
	if (!c->frozen) {
		c->frozen = true;
		update_recv(c);
	}
	return !c->rop.armed && !c->out_n && !c->wop.armed;
}

void conn_thaw(struct conn *c)
{
	if (!c->frozen)
		return;
	c->frozen = false;
	if (!c->closing)
		update_recv(c);
}

/* ---- connect and close ---- */

static void conn_connect_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct conn *c = list_entry(op, struct conn, wop);

	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	c->ops->on_connect(c, res);
}

void conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	loop_connect(c->w->loop, &c->sock, &c->wop, conn_connect_cb, sa, len);
}

static void conn_maybe_free(struct conn *c)
{
	if (c->rop.armed || c->wop.armed || c->freed)
		return;
	release_out(c, c->out_n);
	ob_put(c);
	if (c->sock.fd >= 0)
		loop_sock_close(c->w->loop, &c->sock);
	c->freed = true;
	pkt_free(&c->msg);
	tls_conn_free(c);
	loop_defer(c->w->loop, conn_free_cb, c);
}

void conn_close(struct conn *c)
{
	struct loop *loop = c->w->loop;

	if (c->closing)
		return;
	c->closing = true;
	c->want_recv = false;
	conn_discard_held(c);
	while (c->inq_head) {
		struct loop_buf *b = c->inq_head;

		c->inq_head = b->next;
		loop_buf_put(loop, b);
	}
	c->inq_tail = NULL;
	c->inq_n = 0;
	if (c->recv_starved) {
		list_remove(&c->w->starved, &c->starved_node);
		c->recv_starved = false;
	}
	c->self_blocked = false;
	/* queued slices not in flight can go now; in-flight ones at completion */
	if (c->out_n > c->out_inflight) {
		unsigned keep = c->out_inflight, drop = c->out_n - keep;

		for (unsigned i = 0; i < drop; i++)
			ent_drop(c, OUT_ENT(c, keep + i));
		c->out_n = keep;
	}
	if (c->rop.armed && !c->rop.cancel)
		loop_cancel(loop, &c->rop);
	if (c->wop.armed && !c->wop.cancel)
		loop_cancel(loop, &c->wop);
	conn_maybe_free(c);
}

/*
 * A last message for a socket about to close (a server's Terminate), sent
 * at once when nothing is queued before it: MSG_DONTWAIT, so that a full
 * socket cannot stall the loop.  false: not sent (the caller closes anyway).
 */
bool conn_send_last(struct conn *c, const void *p, size_t len)
{
	if (c->sock.fd < 0 || c->closing || c->send_failed || c->out_n || c->wop.armed)
		return false;
	(*loop_syscalls(c->w->loop))++;
	if (c->tls)
		return tls_send_last(c, p, len);
	return send(c->sock.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len;
}

void conn_close_after_send(struct conn *c)
{
	if (c->closing)
		return;
	c->want_recv = false;
	tls_close_notify(c);
	if (!c->out_n && !c->wop.armed && !tls_out_pending(c)) {
		conn_close(c);
		return;
	}
	if (c->tls)
		conn_flush(c);
	c->close_after_send = true;
	update_recv(c);
}
