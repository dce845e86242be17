/* proto.h - PostgreSQL v3 wire framing with no I/O: a header framer, message builders and readers */
#ifndef PGRING_PROTO_H
#define PGRING_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_V3		196608
#define PROTO_CANCEL_CODE	80877102
#define PROTO_SSL_CODE		80877103
#define PROTO_GSSENC_CODE	80877104
#define PROTO_STARTUP_MAX	10000	/* PostgreSQL's MAX_STARTUP_PACKET_LENGTH */
#define PROTO_HDR_LEN		5

/*
 * Framer: a pull parser over a byte stream that arrives in arbitrary pieces.
 * It looks at headers only; bodies pass by length.  A startup-phase framer
 * reads untyped packets (4-byte length first).
 */
struct frame {
	uint8_t hdr[PROTO_HDR_LEN];
	uint8_t have;		/* header bytes gathered so far */
	uint8_t type;		/* message type; 0 for untyped (startup) packets */
	bool untyped;		/* the next header has no type byte */
	uint32_t len;		/* body length, header excluded */
	uint32_t left;		/* body bytes still to come */
	bool in_body;
	uint32_t max_len;	/* larger bodies are refused */
};

enum frame_ev {
	FRAME_PARTIAL = 0,	/* all bytes used as part of a header, need more */
	FRAME_HEADER,		/* a header is complete: type/len set */
	FRAME_BODY,		/* *used body bytes; the message ends when left == 0 */
	FRAME_BAD,		/* impossible length: close the connection */
	FRAME_TOO_LONG,		/* longer than max_len (max_packet_size): refuse, close */
};

void frame_init(struct frame *f, bool untyped, uint32_t max_len);
/* Consumes from p[0..len) and says what the *used bytes were (len > 0). */
enum frame_ev frame_step(struct frame *f, const uint8_t *p, size_t len, size_t *used);
static inline bool frame_msg_done(const struct frame *f) { return f->in_body && f->left == 0; }
/* Called after a complete message to expect the next header. */
static inline void frame_next(struct frame *f) { f->have = 0; f->in_body = false; }

/* Growable byte buffer for building messages. */
struct pktbuf {
	uint8_t *data;
	size_t len, cap;
	size_t start;		/* offset of the length field of the message being built */
	bool failed;		/* an allocation failed: the contents are not usable */
};

void pkt_init(struct pktbuf *pb);
void pkt_free(struct pktbuf *pb);
void pkt_reset(struct pktbuf *pb);
void pkt_begin(struct pktbuf *pb, uint8_t type);	/* type 0: untyped (startup) */
void pkt_u8(struct pktbuf *pb, uint8_t v);
void pkt_u16(struct pktbuf *pb, uint16_t v);
void pkt_u32(struct pktbuf *pb, uint32_t v);
void pkt_bytes(struct pktbuf *pb, const void *p, size_t n);
void pkt_str(struct pktbuf *pb, const char *s);	/* with its NUL */
void pkt_end(struct pktbuf *pb);			/* fills in the length */

/* Whole messages */
void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void pkt_notice(struct pktbuf *pb, const char *sqlstate, const char *msg);
void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t len);
void pkt_param_status(struct pktbuf *pb, const char *name, const char *value);
void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_ready(struct pktbuf *pb, char status);
void pkt_query(struct pktbuf *pb, const char *sql);
/* One Query of "SET name = E'value';" for each pair, values of any length; pb->failed
 * says whether it could be built */
void pkt_set_query(struct pktbuf *pb, const char *const *names, const char *const *vals, int n);
void pkt_password(struct pktbuf *pb, const char *pw);	/* PasswordMessage 'p' */
void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const char *data, size_t len);
void pkt_sasl_response(struct pktbuf *pb, const char *data, size_t len);
void pkt_cancel(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_terminate(struct pktbuf *pb);
/* Admin console result sets */
void pkt_row_desc(struct pktbuf *pb, const char *const *names, const uint32_t *type_oids, int n);
void pkt_data_row(struct pktbuf *pb, const char *const *vals, int n);	/* NULL = SQL NULL */
void pkt_command_complete(struct pktbuf *pb, const char *tag);

/* Reader over one gathered message body. */
struct msg_rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;		/* read past the end, or a string without NUL */
};

static inline void rd_init(struct msg_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->bad = false;
}
uint8_t rd_u8(struct msg_rd *r);
uint16_t rd_u16(struct msg_rd *r);
uint32_t rd_u32(struct msg_rd *r);
const char *rd_str(struct msg_rd *r);		/* NULL if bad */
const uint8_t *rd_bytes(struct msg_rd *r, size_t n);	/* NULL if bad */
static inline size_t rd_left(const struct msg_rd *r) { return r->len - r->pos; }

/* The parameters of a StartupMessage body (after the length). */
#define STARTUP_MAX_PARAMS 64
struct startup_params {
	uint32_t code;		/* PROTO_V3, or a request code */
	const char *user;
	const char *database;
	const char *names[STARTUP_MAX_PARAMS];	/* other parameters, in order */
	const char *values[STARTUP_MAX_PARAMS];
	int n;
	/* "_pq_." protocol options pgring does not know (all of them), in order */
	const char *pq_opts[STARTUP_MAX_PARAMS];
	int npq;
	/* CancelRequest */
	uint32_t cancel_pid, cancel_key;
};

/* 0, or -EINVAL with *why set to a message for the client. Pointers point into body. */
int proto_parse_startup(const uint8_t *body, size_t len, struct startup_params *sp, const char **why);
const char *startup_get(const struct startup_params *sp, const char *name);
/* Whether the client asked for more than 3.0 speaks (a newer minor, or _pq_. options):
 * PostgreSQL then answers NegotiateProtocolVersion and carries on with 3.0. */
bool proto_needs_negotiation(const struct startup_params *sp);
/* NegotiateProtocolVersion 'v' as PostgreSQL 15 sends it: 3.0, then the unknown options */
void pkt_negotiate_version(struct pktbuf *pb, const struct startup_params *sp);

/* The settings of the "options" startup parameter (PGOPTIONS), as PostgreSQL
 * reads them: words split at unescaped white space, a backslash taking the
 * next byte literally (libpq escapes spaces and backslashes so), then
 * "-c name=value", "-cname=value" or "--name=value"; '-' in a name reads '_'. */
#define PROTO_OPTIONS_BAD "unsupported options startup parameter: " \
	"only '-c config=val' and '--config=val' are allowed"
struct startup_opt {
	const char *name;	/* point into the caller's buffer */
	const char *value;
};
/* Parses opts into buf (at least strlen(opts) + 1 bytes) and out[0..max).
 * Returns the number of settings, or -EINVAL (a form other than the three,
 * a name without "=value", an empty name) or -E2BIG (more than max), with
 * *why set to the message for the client. */
int proto_parse_options(const char *opts, char *buf, struct startup_opt *out, int max,
			const char **why);

/* The replication startup parameter, as PostgreSQL reads it: a boolean
 * (physical replication) or "database" (logical) */
enum repl_mode {
	REPL_NONE = 0,
	REPL_PHYSICAL,
	REPL_LOGICAL,
};
/* The mode, or -EINVAL for a value PostgreSQL refuses */
int proto_replication_mode(const char *v);
/* "none", "physical", "logical": as SHOW CLIENTS / SERVERS print it */
const char *proto_replication_name(int mode);

/* ErrorResponse / NoticeResponse fields; NULL for absent ones. */
struct error_fields {
	const char *severity;
	const char *sqlstate;
	const char *message;
};
int proto_parse_error(const uint8_t *body, size_t len, struct error_fields *ef);

/* the longest message conn.c gathers whole for inspection (conn->gather_max unset) */
#define MSG_GATHER_MAX (1024 * 1024)

/*
 * How received bytes are cut into messages, beyond frame_step: conn.c's
 * receive loop and the fuzzers' (fuzz/fuzz.h) call these same functions in
 * the same order, so what is fuzzed is what runs.  Per piece of bytes:
 * frame_step; on FRAME_HEADER the owner's verdict, frame_gather_check; body
 * bytes; then frame_end, which may also follow the verdict directly (an
 * empty body).  Inline: they run for every message pgring forwards.
 */

/* The connection ends with this on a framer event: -EBADMSG for a length
 * the protocol cannot have, -EFBIG past max_len; 0 for the other events. */
static inline int frame_error(enum frame_ev ev)
{
	return ev == FRAME_BAD ? -EBADMSG : ev == FRAME_TOO_LONG ? -EFBIG : 0;
}

/* The owner's verdict on a complete header: whether it gathers the body
 * whole, at most gather_max bytes (0: MSG_GATHER_MAX).  0, or -EMSGSIZE when
 * the body is longer: refused before a byte of it is read. */
static inline int frame_gather_check(const struct frame *f, bool gather, uint32_t gather_max)
{
	return gather && f->len > (gather_max ? gather_max : MSG_GATHER_MAX) ? -EMSGSIZE : 0;
}

/* When the current message is complete: its type in *type, and the framer
 * then expects the next header.  false (nothing changes) before that. */
static inline bool frame_end(struct frame *f, uint8_t *type)
{
	if (!frame_msg_done(f))
		return false;
	*type = f->type;
	frame_next(f);
	return true;
}

/* the longest message a server may send while pgring logs in to it */
#define LOGIN_MSG_MAX (64 * 1024)

/*
 * Authentication request ('R') from a server: the code, and for md5 its
 * salt (NULL when the message is too short for one), for SASL whether
 * SCRAM-SHA-256 is among the mechanisms, for SASLContinue/SASLFinal the
 * SCRAM message after the code (not NUL-terminated).  0, or -EINVAL when
 * not even the code is there.
 */
struct auth_request {
	uint32_t code;
	const uint8_t *salt;
	bool offers_scram_sha_256;
	const char *data;
	size_t data_len;
};
int proto_read_auth_request(const uint8_t *body, size_t len, struct auth_request *ar);
/* ParameterStatus ('S'): false when either string is unterminated. */
bool proto_read_param_status(const uint8_t *body, size_t len, const char **name, const char **val);
/* ReadyForQuery ('Z'): the transaction status, 'I' (idle), 'T' (in a
 * transaction block) or 'E' (in a failed one); 0 when the body is anything
 * but one of those bytes (a server in a state pgring cannot know). */
char proto_read_ready_for_query(const uint8_t *body, size_t len);
/* BackendKeyData ('K'): false when short (what was missing reads as 0). */
/* A DataRow's columns: the count it states (-1 if the message is cut
 * short or has bytes left over), and the first max of them in cols (len -1
 * for NULL); every column is checked to fit the message. */
struct row_col {
	const uint8_t *val;
	int32_t len;
};
int proto_read_data_row(const uint8_t *body, size_t len, struct row_col *cols, int max);
bool proto_read_backend_key(const uint8_t *body, size_t len, uint32_t *pid, uint32_t *key);

/* PasswordMessage ('p') of cleartext or md5: the password, NULL when unterminated. */
const char *proto_read_password(const uint8_t *body, size_t len);
/* SASLInitialResponse ('p'): the mechanism and the client-first-message.
 * 0, or -EINVAL when either is cut short. */
int proto_read_sasl_initial(const uint8_t *body, size_t len, const char **mech,
			    const uint8_t **data, uint32_t *dlen);

/*
 * The names a Parse, Bind, Describe or Close starts with (all that the
 * prepared-statement rewrite reads of them): Bind's portal (NULL for the
 * others); the kind, 'S' or 'P' for Describe and Close, 'S' for Parse and
 * Bind; the statement's name (a portal's for kind 'P'); and the bytes these
 * take.  false when the body is cut short of them.
 */
struct proto_names {
	const char *portal;
	uint8_t kind;
	const char *name;
	size_t used;
};
bool proto_read_names(uint8_t type, const uint8_t *body, size_t len, struct proto_names *pn);
/* Bind after its names: the parameter format count and the parameter count.
 * false when not all of it is in rest. */
bool proto_read_bind_counts(const uint8_t *rest, size_t len, uint16_t counts[2]);
/* Whether a Parse/Bind/Describe/Close names no statement, judged from the
 * first n bytes of its body: false when it cannot tell. */
bool proto_names_no_statement(uint8_t type, const uint8_t *b, size_t n);
/* Whether a CommandComplete body is exactly tag */
bool proto_tag_is(const uint8_t *body, size_t len, const char *tag);

#endif
