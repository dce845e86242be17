/* fuzz_frontend.c - what a client sends, parsed as client.c parses it:
 * the startup packet (and SSL/GSS/cancel requests), then password, md5 and
 * SASL responses, then the names of Parse/Bind/Describe/Close after login.  The
 * readers are proto.c's (proto_parse_startup, proto_read_password,
 * proto_read_sasl_initial), as client.c calls them.
 *
 * Input: byte 0 picks the recv piece size, byte 1 the auth method and the
 * max_packet_size; the rest is the client's byte stream. */

#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "fuzz.h"

enum phase { PH_STARTUP, PH_AUTH, PH_READY };
enum method { M_PLAIN, M_MD5, M_SCRAM_FIRST, M_SCRAM_FINAL, M_COUNT };

struct fe {
	enum phase phase;
	enum method method;
	uint32_t max_len;
	struct secret secret;
	struct scram_server scram;
	uint8_t md5_salt[4];
	char user[64], dbname[64];
};

static const struct secret *secrets(int kind)
{
	static struct secret sec[3];
	static bool ready;

	if (!ready) {
		static const uint8_t salt[16] = "pgring-fuzzsalt";
		char md5[MD5_PASSWD_LEN + 1];

		secret_parse("pw_secret", &sec[0]);
		auth_md5_hash("pw_secret", "u", md5);
		secret_parse(md5, &sec[1]);
		if (auth_scram_verifier("pw_secret", salt, sizeof(salt), 1, &sec[2]) < 0)
			abort();
		ready = true;
	}
	return &sec[kind % 3];
}

static bool fe_header(struct fuzz_stream *s, uint8_t type, uint32_t len)
{
	struct fe *fe = s->arg;

	switch (fe->phase) {
	case PH_STARTUP:
		s->gather = true;
		return true;
	case PH_AUTH:
		if (type != 'p' || len > AUTH_MSG_MAX)
			return false;
		s->gather = true;
		return true;
	case PH_READY:
		/* after login client.c forwards by length; gather the small ones
		 * to exercise the readers over every message layout */
		s->gather = len <= 4096;
		return type != 'X';
	}
	return false;
}

static bool startup(struct fuzz_stream *s, struct fe *fe, const uint8_t *body, uint32_t len)
{
	struct startup_params sp;
	const char *why = NULL;

	if (proto_parse_startup(body, len, &sp, &why) < 0) {
		if (!why)
			abort();	/* the client must be told why */
		return false;
	}
	if (sp.code == PROTO_SSL_CODE || sp.code == PROTO_GSSENC_CODE)
		return true;	/* 'N', and another startup packet follows */
	if (sp.code == PROTO_CANCEL_CODE)
		return false;
	if (!sp.user || !sp.database)
		abort();
	if (strlen(sp.user) >= sizeof(fe->user) || strlen(sp.database) >= sizeof(fe->dbname))
		return false;
	strcpy(fe->user, sp.user);
	strcpy(fe->dbname, sp.database);
	for (int i = 0; i < sp.n; i++)
		if (startup_get(&sp, sp.names[i]) == NULL)
			abort();
	startup_get(&sp, "application_name");
	s->fr.untyped = false;
	s->fr.max_len = fe->max_len;
	fe->phase = PH_AUTH;
	if (fe->method == M_MD5)
		memcpy(fe->md5_salt, "salt", 4);
	if (fe->method == M_SCRAM_FIRST) {
		if (scram_server_init(&fe->scram, &fe->secret, 4096) < 0 ||
		    scram_server_set_nonce(&fe->scram, "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF") < 0)
			abort();
	}
	return true;
}

static bool auth_response(struct fe *fe, const uint8_t *body, uint32_t len)
{
	char out[1024];
	const char *pw;
	int n;

	switch (fe->method) {
	case M_PLAIN:
	case M_MD5:
		pw = proto_read_password(body, len);
		if (!pw)
			return false;
		if (fe->method == M_PLAIN)
			auth_plain_check(&fe->secret, fe->user, pw);
		else
			auth_md5_check(&fe->secret, fe->user, fe->md5_salt, pw);
		fe->phase = PH_READY;
		return true;
	case M_SCRAM_FIRST: {
		const char *mech;
		const uint8_t *data;
		uint32_t dlen;

		if (proto_read_sasl_initial(body, len, &mech, &data, &dlen) < 0)
			return false;
		if (data + dlen > body + len)
			abort();
		if (strcmp(mech, "SCRAM-SHA-256"))
			return false;
		n = scram_server_first(&fe->scram, (const char *)data, dlen, out, sizeof(out));
		if (n < 0)
			return false;
		if ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n)
			abort();
		fe->method = M_SCRAM_FINAL;
		return true;
	}
	case M_SCRAM_FINAL:
		n = scram_server_final(&fe->scram, (const char *)body, len, out, sizeof(out));
		if (n < 0)
			return false;
		if ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n)
			abort();
		fe->phase = PH_READY;
		return true;
	default:
		return false;
	}
}

/* What prepared.c reads of Parse, Bind, Describe and Close, from the whole
 * body and from every prefix its peek may see: proto.c's readers. */
static void frontend_message(uint8_t type, const uint8_t *body, uint32_t len)
{
	struct proto_names pn, whole;
	uint16_t counts[2];

	if (type != 'P' && type != 'B' && type != 'D' && type != 'C')
		return;		/* pgring forwards the others by length, unread */
	if (!proto_read_names(type, body, len, &whole))
		return;
	if (whole.used > len || (type == 'B') != (whole.portal != NULL))
		abort();
	if (type == 'B')
		proto_read_bind_counts(body + whole.used, len - whole.used, counts);
	/* a verdict from a prefix holds for the whole message */
	for (size_t n = 0; n <= len && n <= 2 * 64; n++) {
		if (proto_names_no_statement(type, body, n) &&
		    whole.kind == 'S' && whole.name[0])
			abort();
		if (proto_read_names(type, body, n, &pn) &&
		    (pn.used != whole.used || strcmp(pn.name, whole.name)))
			abort();
	}
}

static bool fe_message(struct fuzz_stream *s, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct fe *fe = s->arg;

	switch (fe->phase) {
	case PH_STARTUP:
		return startup(s, fe, body, len);
	case PH_AUTH:
		return auth_response(fe, body, len);
	case PH_READY:
		frontend_message(type, body, len);
		return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t max_lens[4] = { INT32_MAX - 4, 8192 - 4, 100, 0 };
	struct fuzz_stream s;
	struct fe fe;

	if (size < 2)
		return 0;
	memset(&fe, 0, sizeof(fe));
	fe.method = (enum method)(data[1] % 3 == 2 ? M_SCRAM_FIRST : data[1] % 3);
	fe.secret = *secrets(fe.method == M_SCRAM_FIRST ? 2 : data[1] >> 4);
	fe.max_len = max_lens[(data[1] >> 2) & 3];
	memset(&s, 0, sizeof(s));
	frame_init(&s.fr, true, PROTO_STARTUP_MAX);
	pkt_init(&s.msg);
	s.on_header = fe_header;
	s.on_message = fe_message;
	s.arg = &fe;
	fuzz_feed(&s, data + 2, size - 2, data[0] & 0x80 ? 0 : (size_t)data[0] % 16 + 1);
	pkt_free(&s.msg);
	return 0;
}
