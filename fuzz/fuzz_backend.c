/* fuzz_backend.c - what PostgreSQL sends, parsed as server.c parses it:
 * during login the authentication requests (md5 salt, SASL mechanism list,
 * server-first and server-final SCRAM messages), ParameterStatus,
 * BackendKeyData, ErrorResponse, NoticeResponse, ReadyForQuery; after login
 * the CommandComplete tags the prepared-statement rewrite matches.
 *
 * The login parsers are proto.c's (proto_read_auth_request,
 * proto_read_param_status, proto_read_backend_key, proto_read_data_row,
 * proto_read_ready_for_query), as server.c, authquery.c and hostsel.c call
 * them; the stream is cut into messages by fuzz.h's driver over conn.c's
 * framing functions.
 *
 * Input: byte 0 picks the recv piece size; the rest is the server's stream. */

#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "fuzz.h"

struct be {
	bool login;
	struct scram_client scram;
	bool have_scram;
	char txn_status;
	uint32_t pid, key;
};

static bool be_header(struct fuzz_stream *s, uint8_t type, uint32_t len)
{
	struct be *be = s->arg;

	(void)type;
	if (be->login && len > LOGIN_MSG_MAX)
		return false;
	s->gather = be->login || len <= 4096;
	return true;
}

/* What server.c's login_auth does with proto_read_auth_request's answer,
 * with fixed keys instead of a pool's. */
static bool login_auth(struct be *be, const uint8_t *body, uint32_t len)
{
	static const uint8_t ck[SCRAM_KEY_LEN] = "client-key-client-key-client-ke";
	static const uint8_t sk[SCRAM_KEY_LEN] = "server-key-server-key-server-ke";
	char out[1024], hash[MD5_PASSWD_LEN + 1], resp[MD5_PASSWD_LEN + 1];
	struct auth_request ar;
	int n;

	if (proto_read_auth_request(body, len, &ar) < 0)
		return false;
	if (ar.data + ar.data_len != (const char *)body + len)
		abort();
	switch (ar.code) {
	case 0:		/* AuthenticationOk */
	case 3:		/* cleartext */
		return true;
	case 5:		/* md5 */
		if (!ar.salt)
			return false;
		auth_md5_hash("pw", "u", hash);
		auth_md5_salted(hash, ar.salt, resp);
		return true;
	case 10:	/* SASL: a list of mechanisms */
		if (!ar.offers_scram_sha_256)
			return false;
		scram_client_init_keys(&be->scram, ck, sk);
		if (scram_client_set_nonce(&be->scram, "fyko+d2lbbFgONRv9qkxdawL", NULL) < 0)
			abort();
		n = scram_client_first(&be->scram, out, sizeof(out));
		if (n < 0)
			abort();
		be->have_scram = true;
		return true;
	case 11:	/* SASLContinue: server-first-message */
		if (!be->have_scram)
			return false;
		n = scram_client_final(&be->scram, ar.data, ar.data_len, out, sizeof(out));
		if (n >= 0 && ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n))
			abort();
		return n >= 0;
	case 12:	/* SASLFinal: server-final-message */
		return be->have_scram && scram_client_verify(&be->scram, ar.data, ar.data_len) == 0;
	default:
		return false;
	}
}

/* CommandComplete tags prepared.c matches (proto_tag_is) */
static void backend_message(uint8_t type, const uint8_t *body, uint32_t len)
{
	static const char *const tags[] = { "DISCARD ALL", "DEALLOCATE ALL", "DEALLOCATE" };
	int hits = 0;

	if (type != 'C')
		return;		/* pgring forwards the others by length, unread */
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		hits += proto_tag_is(body, len, tags[i]);
	if (hits > 1)
		abort();	/* a tag is one of them at most */
}

static bool be_message(struct fuzz_stream *s, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct be *be = s->arg;
	struct error_fields ef;
	const char *name, *val;

	switch (type) {
	case 'R':
		return be->login && login_auth(be, body, len);
	case 'S':
		return proto_read_param_status(body, len, &name, &val) || !be->login;
	case 'K':
		if (proto_read_backend_key(body, len, &be->pid, &be->key) != (len >= 8))
			abort();
		return true;
	case 'E':
	case 'N':
		if (proto_parse_error(body, len, &ef) == 0 && ef.message)
			(void)strlen(ef.message);
		return type == 'N' || !be->login;
	case 'Z':
		/* server.c closes a server whose status is none of I, T and E */
		be->txn_status = proto_read_ready_for_query(body, len);
		if (be->txn_status && (len != 1 || !memchr("ITE", body[0], 3) ||
				       be->txn_status != (char)body[0]))
			abort();
		be->login = false;
		return be->txn_status != 0;
	case 'D': {
		/* as authquery.c and hostsel.c read a row: every column inside it */
		struct row_col cols[4];
		int n = proto_read_data_row(body, len, cols, 4);

		for (int i = 0; i < n && i < 4; i++)
			if (cols[i].len > 0 && (cols[i].val < body ||
						cols[i].val + cols[i].len > body + len))
				abort();
		backend_message(type, body, len);
		return !be->login;
	}
	default:
		backend_message(type, body, len);
		return !be->login;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_stream s;
	struct be be;

	if (size < 1)
		return 0;
	memset(&be, 0, sizeof(be));
	be.login = true;
	memset(&s, 0, sizeof(s));
	frame_init(&s.fr, false, (uint32_t)INT32_MAX);
	pkt_init(&s.msg);
	s.on_header = be_header;
	s.on_message = be_message;
	s.arg = &be;
	fuzz_feed(&s, data + 1, size - 1, data[0] & 0x80 ? 0 : (size_t)data[0] % 16 + 1);
	pkt_free(&s.msg);
	return 0;
}
