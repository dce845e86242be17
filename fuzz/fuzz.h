/* fuzz.h - what the pgring fuzz harnesses share: the libFuzzer entry point and
 * a framer loop that feeds a byte stream through frame_step in pieces, the way
 * conn.c does, gathering each message body for a callback. */
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
	bool stop;		/* the "connection" was closed */
	/* chosen for each header: false to close the connection */
	bool (*on_header)(struct fuzz_stream *s, uint8_t type, uint32_t len);
	/* a gathered message is complete: false to close the connection */
	bool (*on_message)(struct fuzz_stream *s, uint8_t type, const uint8_t *body, uint32_t len);
	void *arg;
};

/*
 * Feeds data[0..size) to s in pieces of `piece` bytes (0: all at once), as
 * recv would hand them over.  Stops at FRAME_BAD or when a callback says so.
 */
static inline void fuzz_feed(struct fuzz_stream *s, const uint8_t *data, size_t size, size_t piece)
{
	size_t pos = 0;

	while (pos < size && !s->stop) {
		size_t n = piece && size - pos > piece ? piece : size - pos;
		size_t off = 0;

		while (off < n && !s->stop) {
			size_t used = 0;
			enum frame_ev ev = frame_step(&s->fr, data + pos + off, n - off, &used);

			off += used;
			switch (ev) {
			case FRAME_PARTIAL:
				break;
			case FRAME_HEADER:
				s->gather = false;
				pkt_reset(&s->msg);
				if (!s->on_header(s, s->fr.type, s->fr.len)) {
					s->stop = true;
					break;
				}
				if (s->gather && s->fr.len > MSG_GATHER_MAX) {
					s->stop = true;
					break;
				}
				if (frame_msg_done(&s->fr)) {
					uint8_t type = s->fr.type;

					frame_next(&s->fr);
					if (s->gather && !s->on_message(s, type, s->msg.data, 0))
						s->stop = true;
				}
				break;
			case FRAME_BODY:
				if (s->gather)
					pkt_bytes(&s->msg, data + pos + off - used, used);
				if (frame_msg_done(&s->fr)) {
					uint8_t type = s->fr.type;

					frame_next(&s->fr);
					if (s->gather && (s->msg.failed ||
							  !s->on_message(s, type, s->msg.data,
									 (uint32_t)s->msg.len)))
						s->stop = true;
				}
				break;
			case FRAME_BAD:
			case FRAME_TOO_LONG:
				s->stop = true;
				break;
			}
		}
		pos += n;
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
