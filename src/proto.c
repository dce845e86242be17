/* proto.c - PostgreSQL v3 wire framing with no I/O: a header framer, message builders and readers */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

void frame_init(struct frame *f, bool untyped, uint32_t max_len)
{
	memset(f, 0, sizeof(*f));
	f->untyped = untyped;
	f->max_len = max_len;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum frame_ev frame_step(struct frame *f, const uint8_t *p, size_t len, size_t *used)
{
	size_t need, take;
	uint32_t wire;

	if (f->in_body) {
		take = len < f->left ? len : f->left;
		f->left -= take;
		*used = take;
		return FRAME_BODY;
	}
	need = (f->untyped ? 4 : PROTO_HDR_LEN) - f->have;
	take = len < need ? len : need;
	memcpy(f->hdr + f->have, p, take);
	f->have += take;
	*used = take;
	if (take < need)
		return FRAME_PARTIAL;

	if (f->untyped) {
		f->type = 0;
		wire = get_u32(f->hdr);
	} else {
		f->type = f->hdr[0];
		wire = get_u32(f->hdr + 1);
	}
	/* the length counts itself; a startup packet also needs its 4-byte code */
	if (wire < (f->untyped ? 8u : 4u))
		return FRAME_BAD;
	if (wire - 4 > f->max_len)
		return FRAME_TOO_LONG;	/* refused before a byte of its body is read */
	f->len = wire - 4;
	f->left = f->len;
	f->in_body = true;
	return FRAME_HEADER;
}

/* ---- builders ---- */

void pkt_init(struct pktbuf *pb)
{
	memset(pb, 0, sizeof(*pb));
}

void pkt_free(struct pktbuf *pb)
{
	free(pb->data);
	pkt_init(pb);
}

void pkt_reset(struct pktbuf *pb)
{
	pb->len = 0;
	pb->start = 0;
	pb->failed = false;
}

static bool pkt_room(struct pktbuf *pb, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (pb->failed)
		return false;
	if (pb->len + n <= pb->cap)
		return true;
	cap = pb->cap ? pb->cap : 256;
	while (cap < pb->len + n)
		cap *= 2;
	p = realloc(pb->data, cap);
	if (!p) {
		pb->failed = true;
		return false;
	}
	pb->data = p;
	pb->cap = cap;
	return true;
}

void pkt_bytes(struct pktbuf *pb, const void *p, size_t n)
{
	if (!n || !pkt_room(pb, n))
		return;
	memcpy(pb->data + pb->len, p, n);
	pb->len += n;
}

void pkt_u8(struct pktbuf *pb, uint8_t v)
{
	pkt_bytes(pb, &v, 1);
}

void pkt_u16(struct pktbuf *pb, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	pkt_bytes(pb, b, 2);
}

void pkt_u32(struct pktbuf *pb, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

	pkt_bytes(pb, b, 4);
}

void pkt_str(struct pktbuf *pb, const char *s)
{
	pkt_bytes(pb, s, strlen(s) + 1);
}

void pkt_begin(struct pktbuf *pb, uint8_t type)
{
	if (type)
		pkt_u8(pb, type);
	pb->start = pb->len;	/* where the length goes */
	pkt_u32(pb, 0);
}

void pkt_end(struct pktbuf *pb)
{
	size_t n;

	if (pb->failed)
		return;
	n = pb->len - pb->start;
	pb->data[pb->start] = n >> 24;
	pb->data[pb->start + 1] = (n >> 16) & 0xff;
	pb->data[pb->start + 2] = (n >> 8) & 0xff;
	pb->data[pb->start + 3] = n & 0xff;
}

void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pkt_begin(pb, 'E');
	pkt_u8(pb, 'S');
	pkt_str(pb, severity);
	pkt_u8(pb, 'V');
	pkt_str(pb, severity);
	pkt_u8(pb, 'C');
	pkt_str(pb, sqlstate);
	pkt_u8(pb, 'M');
	pkt_str(pb, msg);
	pkt_u8(pb, 0);
	pkt_end(pb);
}

void pkt_notice(struct pktbuf *pb, const char *sqlstate, const char *msg)
{
	pkt_begin(pb, 'N');
	pkt_u8(pb, 'S');
	pkt_str(pb, "NOTICE");
	pkt_u8(pb, 'V');
	pkt_str(pb, "NOTICE");
	pkt_u8(pb, 'C');
	pkt_str(pb, sqlstate);
	pkt_u8(pb, 'M');
	pkt_str(pb, msg);
	pkt_u8(pb, 0);
	pkt_end(pb);
}

void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t len)
{
	pkt_begin(pb, 'R');
	pkt_u32(pb, code);
	pkt_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_param_status(struct pktbuf *pb, const char *name, const char *value)
{
	pkt_begin(pb, 'S');
	pkt_str(pb, name);
	pkt_str(pb, value);
	pkt_end(pb);
}

void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 'K');
	pkt_u32(pb, pid);
	pkt_u32(pb, key);
	pkt_end(pb);
}

void pkt_ready(struct pktbuf *pb, char status)
{
	pkt_begin(pb, 'Z');
	pkt_u8(pb, (uint8_t)status);
	pkt_end(pb);
}

void pkt_query(struct pktbuf *pb, const char *sql)
{
	pkt_begin(pb, 'Q');
	pkt_str(pb, sql);
	pkt_end(pb);
}

void pkt_set_query(struct pktbuf *pb, const char *const *names, const char *const *vals, int n)
{
	pkt_begin(pb, 'Q');
	for (int i = 0; i < n; i++) {
		const char *v = vals[i], *run;

		pkt_bytes(pb, "SET ", 4);
		pkt_bytes(pb, names[i], strlen(names[i]));
		pkt_bytes(pb, " = E'", 5);
		/* E'' string: a quote or backslash is doubled, everything else as is */
		for (run = v; *v; v++) {
			if (*v != '\'' && *v != '\\')
				continue;
			pkt_bytes(pb, run, (size_t)(v - run + 1));
			run = v;
		}
		pkt_bytes(pb, run, (size_t)(v - run));
		pkt_bytes(pb, "';", 2);
	}
	pkt_u8(pb, 0);
	pkt_end(pb);
}

void pkt_password(struct pktbuf *pb, const char *pw)
{
	pkt_begin(pb, 'p');
	pkt_str(pb, pw);
	pkt_end(pb);
}

void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const char *data, size_t len)
{
	pkt_begin(pb, 'p');
	pkt_str(pb, mech);
	pkt_u32(pb, (uint32_t)len);
	pkt_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_sasl_response(struct pktbuf *pb, const char *data, size_t len)
{
	pkt_begin(pb, 'p');
	pkt_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_cancel(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 0);
	pkt_u32(pb, PROTO_CANCEL_CODE);
	pkt_u32(pb, pid);
	pkt_u32(pb, key);
	pkt_end(pb);
}

void pkt_terminate(struct pktbuf *pb)
{
	pkt_begin(pb, 'X');
	pkt_end(pb);
}

void pkt_row_desc(struct pktbuf *pb, const char *const *names, const uint32_t *type_oids, int n)
{
	pkt_begin(pb, 'T');
	pkt_u16(pb, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		pkt_str(pb, names[i]);
		pkt_u32(pb, 0);		/* table oid */
		pkt_u16(pb, 0);		/* column */
		pkt_u32(pb, type_oids[i]);
		pkt_u16(pb, type_oids[i] == 20 ? 8 : 0xffff);	/* typlen: int8 or varlena */
		pkt_u32(pb, 0xffffffff);	/* typmod -1 */
		pkt_u16(pb, 0);		/* text format */
	}
	pkt_end(pb);
}

void pkt_data_row(struct pktbuf *pb, const char *const *vals, int n)
{
	pkt_begin(pb, 'D');
	pkt_u16(pb, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (!vals[i]) {
			pkt_u32(pb, 0xffffffff);
			continue;
		}
		size_t l = strlen(vals[i]);
		pkt_u32(pb, (uint32_t)l);
		pkt_bytes(pb, vals[i], l);
	}
	pkt_end(pb);
}

void pkt_command_complete(struct pktbuf *pb, const char *tag)
{
	pkt_begin(pb, 'C');
	pkt_str(pb, tag);
	pkt_end(pb);
}

/* ---- readers ---- */

uint8_t rd_u8(struct msg_rd *r)
{
	if (r->bad || r->pos + 1 > r->len) {
		r->bad = true;
		return 0;
	}
	return r->p[r->pos++];
}

uint16_t rd_u16(struct msg_rd *r)
{
	uint16_t v;

	if (r->bad || r->pos + 2 > r->len) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return v;
}

uint32_t rd_u32(struct msg_rd *r)
{
	uint32_t v;

	if (r->bad || r->pos + 4 > r->len) {
		r->bad = true;
		return 0;
	}
	v = get_u32(r->p + r->pos);
	r->pos += 4;
	return v;
}

const char *rd_str(struct msg_rd *r)
{
	const uint8_t *nul;
	const char *s;

	if (r->bad || r->pos >= r->len) {
		r->bad = true;
		return NULL;
	}
	nul = memchr(r->p + r->pos, 0, r->len - r->pos);
	if (!nul) {
		r->bad = true;
		return NULL;
	}
	s = (const char *)r->p + r->pos;
	r->pos = (size_t)(nul - r->p) + 1;
	return s;
}

const uint8_t *rd_bytes(struct msg_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

int proto_parse_startup(const uint8_t *body, size_t len, struct startup_params *sp, const char **why)
{
	struct msg_rd r;

	memset(sp, 0, sizeof(*sp));
	rd_init(&r, body, len);
	sp->code = rd_u32(&r);
	if (r.bad) {
		*why = "invalid startup packet";
		return -EINVAL;
	}
	if (sp->code == PROTO_CANCEL_CODE) {
		sp->cancel_pid = rd_u32(&r);
		sp->cancel_key = rd_u32(&r);
		if (r.bad) {
			*why = "invalid cancel request";
			return -EINVAL;
		}
		return 0;
	}
	if (sp->code == PROTO_SSL_CODE || sp->code == PROTO_GSSENC_CODE)
		return 0;
	if (sp->code >> 16 != 3) {
		*why = "unsupported frontend protocol";
		return -EINVAL;
	}
	for (;;) {
		const char *k = rd_str(&r), *v;

		if (!k || !*k)
			break;
		v = rd_str(&r);
		if (!v)
			break;
		if (!strcmp(k, "user")) {
			sp->user = v;
		} else if (!strcmp(k, "database")) {
			sp->database = v;
		} else if (!strncmp(k, "_pq_.", 5)) {
			/* protocol extensions: refused by name in NegotiateProtocolVersion */
			if (sp->npq >= STARTUP_MAX_PARAMS) {
				*why = "too many startup parameters";
				return -EINVAL;
			}
			sp->pq_opts[sp->npq++] = k;
		} else {
			if (sp->n >= STARTUP_MAX_PARAMS) {
				*why = "too many startup parameters";
				return -EINVAL;
			}
			sp->names[sp->n] = k;
			sp->values[sp->n] = v;
			sp->n++;
		}
	}
	if (r.bad) {
		*why = "invalid startup packet layout: expected terminator as last byte";
		return -EINVAL;
	}
	if (!sp->user || !*sp->user) {
		*why = "no username supplied";
		return -EINVAL;
	}
	if (!sp->database || !*sp->database)
		sp->database = sp->user;
	return 0;
}

/* The next word of opts into *dst (NUL-terminated), as PostgreSQL's
 * pg_split_opts: NULL when only white space is left */
static char *opts_word(const char **opts, char **dst)
{
	const char *p = *opts;
	char *w = *dst, *start = w;
	bool esc = false;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	for (; *p && (esc || !isspace((unsigned char)*p)); p++) {
		if (!esc && *p == '\\') {
			esc = true;
			continue;
		}
		esc = false;
		*w++ = *p;
	}
	*w++ = '\0';
	*opts = p;
	*dst = w;
	return start;
}

/* "name=value" into o, '-' in the name read as '_' (PostgreSQL's
 * ParseLongOption); false without '=' or with an empty name */
static bool opts_setting(char *word, struct startup_opt *o)
{
	char *eq = strchr(word, '=');

	if (!eq || eq == word)
		return false;
	*eq = '\0';
	for (char *p = word; *p; p++)
		if (*p == '-')
			*p = '_';
	o->name = word;
	o->value = eq + 1;
	return true;
}

int proto_parse_options(const char *opts, char *buf, struct startup_opt *out, int max,
			const char **why)
{
	char *dst = buf;
	char *w;
	int n = 0;

	*why = PROTO_OPTIONS_BAD;
	while ((w = opts_word(&opts, &dst))) {
		char *setting;

		if (!strcmp(w, "-c")) {
			/* the setting is the next word */
			if (!(setting = opts_word(&opts, &dst)))
				return -EINVAL;
		} else if (!strncmp(w, "--", 2) || !strncmp(w, "-c", 2)) {
			setting = w + 2;
		} else {
			return -EINVAL;
		}
		if (n == max) {
			*why = "unsupported options startup parameter: too many settings";
			return -E2BIG;
		}
		if (!opts_setting(setting, &out[n]))
			return -EINVAL;
		n++;
	}
	return n;
}

/* PostgreSQL's parse_bool: the words, or any unique prefix of them
 * (two letters at least for "on"/"off") */
static int bool_word(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t n = strlen(v);

	if (!n)
		return -1;
	for (int i = 0; i < 4; i++) {
		size_t min = i == 2 ? 2 : 1;

		if (n >= min && n <= strlen(yes[i]) && !strncasecmp(v, yes[i], n))
			return 1;
		if (n >= (i == 2 ? 2 : 1) && n <= strlen(no[i]) && !strncasecmp(v, no[i], n))
			return 0;
	}
	return -1;
}

int proto_replication_mode(const char *v)
{
	int b;

	if (!strcmp(v, "database"))
		return REPL_LOGICAL;
	b = bool_word(v);
	if (b < 0)
		return -EINVAL;
	return b ? REPL_PHYSICAL : REPL_NONE;
}

const char *proto_replication_name(int mode)
{
	return mode == REPL_PHYSICAL ? "physical" : mode == REPL_LOGICAL ? "logical" : "none";
}

const char *startup_get(const struct startup_params *sp, const char *name)
{
	for (int i = 0; i < sp->n; i++)
		if (!strcmp(sp->names[i], name))
			return sp->values[i];
	return NULL;
}

bool proto_needs_negotiation(const struct startup_params *sp)
{
	return sp->code >> 16 == 3 && ((sp->code & 0xffff) > 0 || sp->npq > 0);
}

void pkt_negotiate_version(struct pktbuf *pb, const struct startup_params *sp)
{
	pkt_begin(pb, 'v');
	pkt_u32(pb, PROTO_V3);	/* PostgreSQL sends the whole version, not the minor alone */
	pkt_u32(pb, (uint32_t)sp->npq);
	for (int i = 0; i < sp->npq; i++)
		pkt_str(pb, sp->pq_opts[i]);
	pkt_end(pb);
}

int proto_parse_error(const uint8_t *body, size_t len, struct error_fields *ef)
{
	struct msg_rd r;

	memset(ef, 0, sizeof(*ef));
	rd_init(&r, body, len);
	for (;;) {
		uint8_t code = rd_u8(&r);
		const char *v;

		if (r.bad)
			return -EINVAL;
		if (!code)
			return 0;
		v = rd_str(&r);
		if (!v)
			return -EINVAL;
		if (code == 'S' && !ef->severity)
			ef->severity = v;
		else if (code == 'V')
			ef->severity = v;
		else if (code == 'C')
			ef->sqlstate = v;
		else if (code == 'M')
			ef->message = v;
	}
}

int proto_read_auth_request(const uint8_t *body, size_t len, struct auth_request *ar)
{
	struct msg_rd r;
	const char *mech;

	memset(ar, 0, sizeof(*ar));
	rd_init(&r, body, len);
	ar->code = rd_u32(&r);
	if (r.bad)
		return -EINVAL;
	ar->data = (const char *)body + 4;
	ar->data_len = len - 4;
	if (ar->code == 5)		/* md5 */
		ar->salt = rd_bytes(&r, 4);
	if (ar->code == 10)		/* SASL: the mechanisms, up to an empty one */
		while ((mech = rd_str(&r)) && *mech)
			if (!strcmp(mech, "SCRAM-SHA-256"))
				ar->offers_scram_sha_256 = true;
	return 0;
}

bool proto_read_param_status(const uint8_t *body, size_t len, const char **name, const char **val)
{
	struct msg_rd r;

	rd_init(&r, body, len);
	*name = rd_str(&r);
	*val = rd_str(&r);
	return *name && *val;
}

int proto_read_data_row(const uint8_t *body, size_t len, struct row_col *cols, int max)
{
	struct msg_rd r;
	int n;

	rd_init(&r, body, len);
	n = rd_u16(&r);
	for (int i = 0; i < n && !r.bad; i++) {
		uint32_t clen = rd_u32(&r);
		const uint8_t *v = NULL;

		if (clen != 0xffffffffu && !(v = rd_bytes(&r, clen)))
			break;
		if (i < max) {
			cols[i].val = v;
			cols[i].len = clen == 0xffffffffu ? -1 : (int32_t)clen;
		}
	}
	return r.bad || rd_left(&r) ? -1 : n;
}

char proto_read_ready_for_query(const uint8_t *body, size_t len)
{
	if (len != 1 || (body[0] != 'I' && body[0] != 'T' && body[0] != 'E'))
		return 0;
	return (char)body[0];
}

bool proto_read_backend_key(const uint8_t *body, size_t len, uint32_t *pid, uint32_t *key)
{
	struct msg_rd r;

	rd_init(&r, body, len);
	*pid = rd_u32(&r);
	*key = rd_u32(&r);
	return !r.bad;
}

const char *proto_read_password(const uint8_t *body, size_t len)
{
	struct msg_rd r;

	rd_init(&r, body, len);
	return rd_str(&r);
}

int proto_read_sasl_initial(const uint8_t *body, size_t len, const char **mech,
			    const uint8_t **data, uint32_t *dlen)
{
	struct msg_rd r;

	rd_init(&r, body, len);
	*mech = rd_str(&r);
	*dlen = rd_u32(&r);
	*data = rd_bytes(&r, *dlen);
	return *mech && *data ? 0 : -EINVAL;
}

bool proto_read_names(uint8_t type, const uint8_t *body, size_t len, struct proto_names *pn)
{
	struct msg_rd r;

	rd_init(&r, body, len);
	pn->portal = type == 'B' ? rd_str(&r) : NULL;
	pn->kind = type == 'D' || type == 'C' ? rd_u8(&r) : 'S';
	pn->name = rd_str(&r);
	pn->used = r.pos;
	return pn->name != NULL;
}

bool proto_read_bind_counts(const uint8_t *rest, size_t len, uint16_t counts[2])
{
	struct msg_rd r;

	rd_init(&r, rest, len);
	counts[0] = rd_u16(&r);
	rd_bytes(&r, 2 * (size_t)counts[0]);
	counts[1] = rd_u16(&r);
	return !r.bad;
}

bool proto_names_no_statement(uint8_t type, const uint8_t *b, size_t n)
{
	const uint8_t *nul;

	switch (type) {
	case 'P':
		return n >= 1 && b[0] == '\0';
	case 'B':	/* portal name, then statement name */
		nul = memchr(b, '\0', n);
		return nul && nul + 1 < b + n && nul[1] == '\0';
	default:	/* 'S' or 'P', then the name */
		return n >= 2 && (b[0] != 'S' || b[1] == '\0');
	}
}

bool proto_tag_is(const uint8_t *body, size_t len, const char *tag)
{
	size_t n = strlen(tag);

	return len >= n + 1 && !memcmp(body, tag, n) && body[n] == '\0';
}
