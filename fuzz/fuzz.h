/* fuzz.h - what the pgring fuzz harnesses share: the libFuzzer entry point and
 * a driver that cuts a byte stream into messages with proto.h's framer
 * (frame_step, frame_gather_check, frame_end, frame_error: the functions
 * conn.c's receive loop calls, in its order), fed in pieces as recv would
 * hand them over, gathering each message body for a callback. */
#ifndef PGRING_FUZZ_H
#define PGRING_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_stream {
	struct frame fr;
	struct pktbuf msg;
	bool gather;		/* the current message's body is being gathered */
	uint32_t gather_max;	/* as conn->gather_max: 0 for MSG_GATHER_MAX */
	bool stop;		/* the "connection" was closed */
	int err;		/* why the framer closed it (frame_error, -EMSGSIZE, -ENOMEM) */
	/* chosen for each header: false to close the connection */
	bool (*on_header)(struct fuzz_stream *s, uint8_t type, uint32_t len);
	/* a gathered message is complete: false to close the connection */
	bool (*on_message)(struct fuzz_stream *s, uint8_t type, const uint8_t *body, uint32_t len);
	void *arg;
};

/* conn.c's decide(): the owner's verdict on a complete header, then the limit */
static inline bool fuzz_decide(struct fuzz_stream *s)
{
	s->gather = false;
	s->gather_max = 0;
	pkt_reset(&s->msg);
	if (!s->on_header(s, s->fr.type, s->fr.len))
		return false;
	s->err = frame_gather_check(&s->fr, s->gather, s->gather_max);
	return !s->err;
}

/* conn.c's finish(): a complete message goes to the owner if gathered */
static inline bool fuzz_finish(struct fuzz_stream *s, uint8_t type)
{
	if (!s->gather)
		return true;
	if (s->msg.failed) {
		s->err = -ENOMEM;
		return false;
	}
	return s->on_message(s, type, s->msg.data, (uint32_t)s->msg.len);
}

/*
 * Feeds data[0..size) to s in pieces of `piece` bytes (0: all at once), as
 * recv would hand them over.  Stops at a framer error or when a callback
 * says so.
 */
static inline void fuzz_feed(struct fuzz_stream *s, const uint8_t *data, size_t size, size_t piece)
{
	for (size_t pos = 0, n; pos < size && !s->stop; pos += n) {
		n = piece && size - pos > piece ? piece : size - pos;
		for (size_t off = 0, used; off < n && !s->stop; off += used) {
			const uint8_t *p = data + pos + off;
			enum frame_ev ev = frame_step(&s->fr, p, n - off, &used);
			uint8_t type;

			s->err = frame_error(ev);
			if (s->err || (ev == FRAME_HEADER && !fuzz_decide(s))) {
				s->stop = true;
				break;
			}
			if (ev == FRAME_BODY && s->gather)
				pkt_bytes(&s->msg, p, used);
			if (frame_end(&s->fr, &type) && !fuzz_finish(s, type))
				s->stop = true;
		}
	}
}

/* Whether needle occurs in data[0..size) (memmem without _GNU_SOURCE). */
static inline bool fuzz_has(const uint8_t *data, size_t size, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= size; i++)
		if (!memcmp(data + i, needle, n))
			return true;
	return false;
}

#endif
