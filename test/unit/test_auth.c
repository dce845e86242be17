/* test_auth.c - unit tests for secrets, md5 and SCRAM-SHA-256 (RFC 7677, malformed input) */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "kdf.h"
#include "loop.h"

/* RFC 7677 section 3 (the proof checked against an independent computation) */
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_CNONCE RFC_SNONCE \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Made by PostgreSQL 15 (password_encryption = scram-sha-256) */
#define PG_PENCIL "SCRAM-SHA-256$4096:NOd2PzWIpxgj5x3SzjFs0Q==$" \
	"LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=:cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaU="
#define PG_ODD_PW "p\"w,=x y"
#define PG_ODD "SCRAM-SHA-256$4096:dqJ/LOIwUGrLYK+9ieqj3g==$" \
	"bEilzizlubA+WRqCOLQsC2kPGyYnZDDeCKh83vlpf6Y=:r7yCqybfLbIBBoy1RbUofWTC+m1QCDWLqLAITsJ2OFo="

static size_t b64dec(const char *s, uint8_t *out)
{
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)strlen(s));
	size_t len = strlen(s);

	ck_assert_int_gt(n, 0);
	while (len && s[len - 1] == '=') {
		len--;
		n--;
	}
	return (size_t)n;
}

static struct secret mksecret(const char *s)
{
	struct secret sec;

	ck_assert_int_eq(secret_parse(s, &sec), 0);
	return sec;
}

static void rfc_verifier(struct secret *sec)
{
	uint8_t salt[32];
	size_t n = b64dec(RFC_SALT, salt);

	ck_assert_uint_eq(n, 16);
	ck_assert_int_eq(auth_scram_verifier("pencil", salt, n, 4096, sec), 0);
}

/* ---- md5 and secrets ------------------------------------------------- */

START_TEST(md5_hash_vector)
{
	char out[MD5_PASSWD_LEN + 1];

	auth_md5_hash("1234", "admin", out);
	ck_assert_str_eq(out, "md545f2603610af569b6155c45067268c6b");
}
END_TEST

START_TEST(md5_salted_round_trip)
{
	const uint8_t salt[4] = { 0x01, 0xff, 0x00, 0x7f };
	const uint8_t other[4] = { 0x01, 0xff, 0x00, 0x7e };
	struct secret plain = mksecret("1234");
	struct secret md5 = mksecret("md545f2603610af569b6155c45067268c6b");
	struct secret scram = mksecret(PG_PENCIL);
	char hash[MD5_PASSWD_LEN + 1], resp[MD5_PASSWD_LEN + 1];

	ck_assert_int_eq(md5.kind, SECRET_MD5);
	auth_md5_hash("1234", "admin", hash);
	auth_md5_salted(hash, salt, resp);
	ck_assert_uint_eq(strlen(resp), MD5_PASSWD_LEN);
	ck_assert(strncmp(resp, "md5", 3) == 0);
	ck_assert(auth_md5_check(&plain, "admin", salt, resp));
	ck_assert(auth_md5_check(&md5, "admin", salt, resp));
	ck_assert(!auth_md5_check(&md5, "admin", other, resp));
	ck_assert(!auth_md5_check(&plain, "admin2", salt, resp));
	ck_assert(!auth_md5_check(&scram, "admin", salt, resp));
	/* a response of the wrong length, or none */
	resp[MD5_PASSWD_LEN - 1] = '\0';
	ck_assert(!auth_md5_check(&md5, "admin", salt, resp));
	ck_assert(!auth_md5_check(&md5, "admin", salt, ""));
	ck_assert(!auth_md5_check(&md5, "admin", salt, NULL));
	/* not an md5 hash: nothing to salt */
	auth_md5_salted("md5xyz", salt, resp);
	ck_assert_str_eq(resp, "");
	secret_free(&plain);
	secret_free(&md5);
	secret_free(&scram);
}
END_TEST

START_TEST(secret_kinds)
{
	struct secret sec, copy;
	char *big = malloc(AUTH_SECRET_MAX + 2);

	ck_assert_int_eq(secret_parse("hunter2", &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_PLAIN);
	ck_assert_str_eq(sec.text, "hunter2");
	secret_free(&sec);
	ck_assert_int_eq(secret_parse("", &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_NONE);
	secret_free(&sec);
	/* PostgreSQL's rule: md5 + exactly 32 lower-case hex digits, else plain */
	ck_assert_int_eq(secret_parse("md545F2603610AF569B6155C45067268C6B", &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_PLAIN);
	secret_free(&sec);
	ck_assert_int_eq(secret_parse("md545f2603610af569b6155c45067268c6", &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_PLAIN);
	secret_free(&sec);
	ck_assert_int_eq(secret_parse("md545f2603610af569b6155c45067268c6b", &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_MD5);
	secret_free(&sec);

	ck_assert_int_eq(secret_parse(PG_PENCIL, &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_SCRAM);
	ck_assert_int_eq(sec.iterations, 4096);
	ck_assert_uint_eq(sec.salt_len, 16);
	ck_assert_str_eq(sec.text, PG_PENCIL);

	secret_free(&sec);

	/* as long as PgBouncer takes: 65,531 bytes (it was 255) */
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', AUTH_SECRET_MAX + 1);
	big[AUTH_SECRET_MAX + 1] = '\0';
	ck_assert_int_eq(secret_parse(big, &sec), -EINVAL);
	big[AUTH_SECRET_MAX] = '\0';
	ck_assert_int_eq(secret_parse(big, &sec), 0);
	ck_assert_int_eq(sec.kind, SECRET_PLAIN);
	ck_assert(auth_plain_check(&sec, "u", big));
	ck_assert_int_eq(secret_copy(&copy, &sec), 0);
	ck_assert_ptr_ne(copy.text, sec.text);
	ck_assert_str_eq(copy.text, big);
	secret_free(&sec);
	ck_assert_ptr_null(sec.text);
	ck_assert_int_eq(sec.kind, SECRET_NONE);
	ck_assert(auth_plain_check(&copy, "u", big));
	secret_free(&copy);
	free(big);
}
END_TEST

#define KEYS "$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=:cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaU="
#define PFX "SCRAM-SHA-256$4096:NOd2PzWIpxgj5x3SzjFs0Q=="

START_TEST(secret_bad_scram)
{
	static const char *const bad[] = {
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$4096:NOd2PzWIpxgj5x3SzjFs0Q==",
		"SCRAM-SHA-256$4096:NOd2PzWIpxgj5x3SzjFs0Q==$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=",
		/* iterations: zero, absurd, signed, not a number, empty */
		"SCRAM-SHA-256$0:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$10000001:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$99999999999999999999:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$-4096:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$40x6:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$:NOd2PzWIpxgj5x3SzjFs0Q==" KEYS,
		/* salt: empty, bad base64, bad padding, too long */
		"SCRAM-SHA-256$4096:" KEYS,
		"SCRAM-SHA-256$4096:NOd2Pz*IpxgJ5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$4096:NOd2PzWIpxgj5x3SzjFs0Q=" KEYS,
		"SCRAM-SHA-256$4096:NOd2PzWIpx=j5x3SzjFs0Q==" KEYS,
		"SCRAM-SHA-256$4096:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
		KEYS,
		/* keys: 31 bytes, 33 bytes, whitespace */
		PFX
		"$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMkw==:cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaU=",
		PFX
		"$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=:cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaUAAA==",
		PFX
		"$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=: cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaU=",
		PFX
		"$LPOimWPyvcwnhq7Y8C2/yP665c1iSUoCX41IquuMk5E=:cBngobk/ycyHKJUSc13D3steCZTi2xt7S7L1cgONCaU=:x",
	};
	struct secret sec;
	size_t i;

	ck_assert_int_eq(secret_parse(PFX KEYS, &sec), 0);
	secret_free(&sec);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(secret_parse(bad[i], &sec) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_int_eq(sec.kind, SECRET_NONE);
		secret_free(&sec);
	}
}
END_TEST

START_TEST(plain_check_all_kinds)
{
	struct secret plain = mksecret("pencil");
	struct secret md5, scram = mksecret(PG_PENCIL), odd = mksecret(PG_ODD);
	struct secret none = mksecret("");
	char hash[MD5_PASSWD_LEN + 1];

	auth_md5_hash("pencil", "bob", hash);
	md5 = mksecret(hash);
	ck_assert(auth_plain_check(&plain, "bob", "pencil"));
	ck_assert(!auth_plain_check(&plain, "bob", "pencil "));
	ck_assert(!auth_plain_check(&plain, "bob", "penci"));
	ck_assert(!auth_plain_check(&plain, "bob", ""));
	ck_assert(auth_plain_check(&md5, "bob", "pencil"));
	ck_assert(!auth_plain_check(&md5, "alice", "pencil"));
	ck_assert(!auth_plain_check(&md5, "bob", "Pencil"));
	ck_assert(auth_plain_check(&scram, "bob", "pencil"));
	ck_assert(!auth_plain_check(&scram, "bob", "pencils"));
	ck_assert(auth_plain_check(&odd, "x", PG_ODD_PW));
	ck_assert(!auth_plain_check(&odd, "x", "pencil"));
	ck_assert(!auth_plain_check(&none, "bob", ""));
	ck_assert(!auth_plain_check(&plain, "bob", NULL));
	secret_free(&plain);
	secret_free(&md5);
	secret_free(&scram);
	secret_free(&odd);
	secret_free(&none);
}
END_TEST

START_TEST(verifier_matches_postgres)
{
	struct secret pg = mksecret(PG_PENCIL), mine;

	ck_assert_int_eq(auth_scram_verifier("pencil", pg.salt, pg.salt_len, 4096, &mine), 0);
	ck_assert_str_eq(mine.text, PG_PENCIL);
	ck_assert_int_eq(mine.kind, SECRET_SCRAM);
	ck_assert(memcmp(mine.stored_key, pg.stored_key, SCRAM_KEY_LEN) == 0);
	ck_assert_int_eq(auth_scram_verifier("pencil", pg.salt, 0, 4096, &mine), -EINVAL);
	ck_assert_int_eq(auth_scram_verifier("pencil", pg.salt, SCRAM_MAX_SALT + 1, 4096, &mine),
			 -EINVAL);
	ck_assert_int_eq(auth_scram_verifier("pencil", pg.salt, 16, 0, &mine), -EINVAL);
	ck_assert_int_eq(auth_scram_verifier("pencil", pg.salt, 16, 10000001, &mine), -EINVAL);
	secret_free(&mine);
	secret_free(&pg);
}
END_TEST

START_TEST(random_bytes)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	ck_assert_int_eq(auth_random(a, sizeof(a)), 0);
	ck_assert_int_eq(auth_random(b, sizeof(b)), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_int_eq(auth_random(a, 0), 0);
}
END_TEST

/* ---- SCRAM: RFC 7677 vectors ----------------------------------------- */

START_TEST(rfc7677_server)
{
	struct scram_server st;
	struct secret sec;
	char out[512];
	int n;

	rfc_verifier(&sec);
	ck_assert_int_eq(scram_server_init(&st, &sec, 4096), 0);
	ck_assert_int_eq(scram_server_set_nonce(&st, RFC_SNONCE), 0);
	n = scram_server_first(&st, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(RFC_SERVER_FIRST));
	ck_assert_str_eq(out, RFC_SERVER_FIRST);
	n = scram_server_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(RFC_SERVER_FINAL));
	ck_assert_str_eq(out, RFC_SERVER_FINAL);
	ck_assert(st.done);
	/* the recovered ClientKey hashes to StoredKey */
	{
		uint8_t h[SCRAM_KEY_LEN];
		unsigned int hl = 0;

		ck_assert(EVP_Digest(st.client_key, SCRAM_KEY_LEN, h, &hl, EVP_sha256(), NULL));
		ck_assert(memcmp(h, sec.stored_key, SCRAM_KEY_LEN) == 0);
	}
	/* no second final once done */
	n = scram_server_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out, sizeof(out));
	ck_assert_int_eq(n, -EINVAL);
	secret_free(&sec);
}
END_TEST

START_TEST(rfc7677_client)
{
	struct scram_client cl;
	char out[512];
	int n;

	scram_client_init_password(&cl, "pencil");
	ck_assert_int_eq(scram_client_set_nonce(&cl, RFC_CNONCE, "user"), 0);
	n = scram_client_first(&cl, out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(RFC_CLIENT_FIRST));
	ck_assert_str_eq(out, RFC_CLIENT_FIRST);
	n = scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(RFC_CLIENT_FINAL));
	ck_assert_str_eq(out, RFC_CLIENT_FINAL);
	ck_assert_int_eq(scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)), 0);
	ck_assert_int_eq(scram_client_verify(&cl, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
					     46), -EACCES);
	ck_assert_int_eq(scram_client_verify(&cl, "e=invalid-proof", 15), -EACCES);
	scram_client_clear(&cl);
}
END_TEST

START_TEST(rfc7677_client_keys)
{
	struct secret sec;
	struct scram_server sv;
	struct scram_client cl;
	char out[512];

	/* recover ClientKey as a pooler would, then log in with keys only */
	rfc_verifier(&sec);
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	ck_assert_int_eq(scram_server_set_nonce(&sv, RFC_SNONCE), 0);
	ck_assert_int_gt(scram_server_first(&sv, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out,
					    sizeof(out)), 0);
	ck_assert_int_gt(scram_server_final(&sv, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
					    sizeof(out)), 0);
	scram_client_init_keys(&cl, sv.client_key, sec.server_key);
	ck_assert_int_eq(scram_client_set_nonce(&cl, RFC_CNONCE, "user"), 0);
	ck_assert_int_gt(scram_client_first(&cl, out, sizeof(out)), 0);
	ck_assert_str_eq(out, RFC_CLIENT_FIRST);
	ck_assert_int_gt(scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out,
					    sizeof(out)), 0);
	ck_assert_str_eq(out, RFC_CLIENT_FINAL);
	ck_assert_int_eq(scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)), 0);
	scram_client_clear(&cl);
	secret_free(&sec);
}
END_TEST

/* ---- SCRAM: round trips ---------------------------------------------- */

/* Runs a whole exchange; the result of the server's final step. */
static int exchange(struct scram_server *sv, struct scram_client *cl)
{
	char a[512], b[512];
	int n;

	n = scram_client_first(cl, a, sizeof(a));
	ck_assert_int_gt(n, 0);
	ck_assert(strncmp(a, "n,,n=,r=", 8) == 0);
	n = scram_server_first(sv, a, (size_t)n, b, sizeof(b));
	ck_assert_int_gt(n, 0);
	n = scram_client_final(cl, b, (size_t)n, a, sizeof(a));
	ck_assert_int_gt(n, 0);
	ck_assert(strncmp(a, "c=biws,r=", 9) == 0);
	n = scram_server_final(sv, a, (size_t)n, b, sizeof(b));
	if (n < 0)
		return n;
	ck_assert(strncmp(b, "v=", 2) == 0);
	ck_assert_int_eq(scram_client_verify(cl, b, (size_t)n), 0);
	ck_assert(sv->done);
	ck_assert(memcmp(sv->client_key, cl->client_key, SCRAM_KEY_LEN) == 0);
	return 0;
}

START_TEST(round_trip_plain)
{
	struct secret sec = mksecret("s3cret pass");
	struct scram_server sv;
	struct scram_client cl;

	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	ck_assert_int_eq(sv.verifier.kind, SECRET_SCRAM);
	ck_assert_int_eq(sv.verifier.iterations, 4096);
	scram_client_init_password(&cl, "s3cret pass");
	ck_assert_int_eq(exchange(&sv, &cl), 0);
	scram_client_clear(&cl);
	secret_free(&sec);
}
END_TEST

/* a 60 KB password (cloud IAM tokens are kilobytes) through both sides */
START_TEST(round_trip_long)
{
	char *pw = malloc(60001);
	struct secret sec;
	struct scram_server sv;
	struct scram_client cl;

	ck_assert_ptr_nonnull(pw);
	for (int i = 0; i < 60000; i++)
		pw[i] = (char)('a' + i % 26);
	pw[60000] = '\0';
	ck_assert_int_eq(secret_parse(pw, &sec), 0);
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	ck_assert_ptr_null(sv.verifier.text);	/* the exchange keeps keys only */
	scram_client_init_password(&cl, pw);
	ck_assert_int_eq(exchange(&sv, &cl), 0);
	scram_client_clear(&cl);
	secret_free(&sec);
	free(pw);
}
END_TEST

START_TEST(round_trip_verifier)
{
	struct secret sec = mksecret(PG_ODD);
	struct scram_server sv;
	struct scram_client cl;

	ck_assert_int_eq(scram_server_init(&sv, &sec, 1), 0);
	ck_assert_int_eq(sv.verifier.iterations, 4096);
	scram_client_init_password(&cl, PG_ODD_PW);
	ck_assert_int_eq(exchange(&sv, &cl), 0);
	scram_client_clear(&cl);
	secret_free(&sec);
}
END_TEST

START_TEST(round_trip_keys)
{
	struct secret sec = mksecret(PG_PENCIL);
	struct scram_server sv;
	struct scram_client cl;
	uint8_t ck[SCRAM_KEY_LEN];

	/* a client logs in to the pooler with its password... */
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	scram_client_init_password(&cl, "pencil");
	ck_assert_int_eq(exchange(&sv, &cl), 0);
	memcpy(ck, sv.client_key, sizeof(ck));
	scram_client_clear(&cl);
	/* ...and the pooler logs in to the server with the recovered key */
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	scram_client_init_keys(&cl, ck, sec.server_key);
	ck_assert(!cl.have_password);
	ck_assert_int_eq(exchange(&sv, &cl), 0);
	scram_client_clear(&cl);
	secret_free(&sec);
}
END_TEST

START_TEST(wrong_password)
{
	struct secret sec = mksecret(PG_PENCIL), plain = mksecret("pencil");
	struct scram_server sv;
	struct scram_client cl;
	uint8_t bogus[SCRAM_KEY_LEN];
	char out[128];

	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	scram_client_init_password(&cl, "pencil2");
	ck_assert_int_eq(exchange(&sv, &cl), -EACCES);
	ck_assert(!sv.done);
	/* the exchange is dead: no retry, no key left behind */
	ck_assert_int_eq(scram_server_final(&sv, "c=biws,r=x,p=AAAA", 17, out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(sv.verifier.kind, SECRET_NONE);
	scram_client_clear(&cl);

	ck_assert_int_eq(scram_server_init(&sv, &plain, 4096), 0);
	scram_client_init_password(&cl, "Pencil");
	ck_assert_int_eq(exchange(&sv, &cl), -EACCES);
	scram_client_clear(&cl);

	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	memset(bogus, 7, sizeof(bogus));
	scram_client_init_keys(&cl, bogus, sec.server_key);
	ck_assert_int_eq(exchange(&sv, &cl), -EACCES);
	scram_client_clear(&cl);
	secret_free(&sec);
	secret_free(&plain);
}
END_TEST

START_TEST(server_init_refuses)
{
	struct scram_server sv;
	struct secret md5 = mksecret("md545f2603610af569b6155c45067268c6b");
	struct secret none = mksecret(""), plain = mksecret("x");
	char out[256];

	ck_assert_int_eq(scram_server_init(&sv, &md5, 4096), -EINVAL);
	ck_assert_int_eq(scram_server_first(&sv, "n,,n=,r=abc", 11, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(scram_server_init(&sv, &none, 4096), -EINVAL);
	ck_assert_int_eq(scram_server_init(&sv, &plain, 0), -EINVAL);
	ck_assert_int_eq(scram_server_init(&sv, &plain, 10000001), -EINVAL);
	ck_assert_int_eq(scram_server_init(&sv, &plain, 1), 0);
	ck_assert_int_eq(scram_server_set_nonce(&sv, "a,b"), -EINVAL);
	ck_assert_int_eq(scram_server_set_nonce(&sv, ""), -EINVAL);
	/* final before first */
	ck_assert_int_eq(scram_server_final(&sv, "c=biws,r=x,p=AAAA", 17, out, sizeof(out)),
			 -EINVAL);
	secret_free(&md5);
	secret_free(&none);
	secret_free(&plain);
}
END_TEST

START_TEST(client_refuses)
{
	struct scram_client cl;
	char big[300], out[256];

	/* a long password is kept whole (it was refused past 255 bytes) */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	scram_client_init_password(&cl, big);
	ck_assert_int_gt(scram_client_first(&cl, out, sizeof(out)), 0);
	ck_assert_str_eq(cl.password, big);
	scram_client_clear(&cl);
	ck_assert_ptr_null(cl.password);
	scram_client_init_password(&cl, "pw");
	ck_assert_int_eq(scram_client_set_nonce(&cl, "abc", "a,b"), -EINVAL);
	ck_assert_int_eq(scram_client_set_nonce(&cl, "abc", "a=b"), -EINVAL);
	ck_assert_int_eq(scram_client_set_nonce(&cl, "a c", NULL), -EINVAL);
	/* final and verify before first */
	ck_assert_int_eq(scram_client_final(&cl, "r=abcdef,s=QUJD,i=1", 19, out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
			 -EINVAL);
	/* output buffers too small */
	ck_assert_int_eq(scram_client_first(&cl, out, 10), -ENOSPC);
	scram_client_clear(&cl);
}
END_TEST

START_TEST(server_out_too_small)
{
	struct secret sec;
	struct scram_server sv;
	char out[512];

	rfc_verifier(&sec);
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	ck_assert_int_eq(scram_server_first(&sv, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out,
					    strlen(RFC_SERVER_FIRST)), -ENOSPC);
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	ck_assert_int_eq(scram_server_set_nonce(&sv, RFC_SNONCE), 0);
	ck_assert_int_gt(scram_server_first(&sv, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out,
					    sizeof(out)), 0);
	ck_assert_int_eq(scram_server_final(&sv, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
					    10), -ENOSPC);
	ck_assert(!sv.done);
	secret_free(&sec);
}
END_TEST

/* ---- SCRAM: malformed input ------------------------------------------ */

static int server_first_of(const char *msg, size_t len)
{
	struct secret sec = mksecret(PG_PENCIL);
	struct scram_server sv;
	char out[512];

	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	secret_free(&sec);	/* the exchange keeps only the keys */
	return scram_server_first(&sv, msg, len, out, sizeof(out));
}

START_TEST(server_first_malformed)
{
	static const char *const bad[] = {
		"", "n", "n,", "n,,", "n,,n", "n,,n=", "n,,n=,", "n,,n=,r", "n,,n=,r=",
		"p=tls-server-end-point,,n=,r=abc", "p,,n=,r=abc",
		"n,a=someone,n=,r=abc", "x,,n=,r=abc", "N,,n=,r=abc", "nn,,n=,r=abc",
		"n,,r=abc", "n,,m=ext,n=,r=abc", "n,,n=,m=ext,r=abc",
		"n,,n=,r=a b", "n,,n=,r=ab\x7f", "n,,n=,r=ab\x01", "n,,n=,r=abc,", "n,,n=,r=abc,1=x",
		"n,,n=,r=abc,x", "n,,n=,r=abc,,x=1", " n,,n=,r=abc", "n,,n=,s=abc",
	};
	char nonce[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(server_first_of(bad[i], strlen(bad[i])) == -EINVAL, "accepted '%s'",
			      bad[i]);
	/* NUL inside the message */
	ck_assert_int_eq(server_first_of("n,,n=,r=ab\0c", 12), -EINVAL);
	/* a nonce too long to keep */
	memcpy(nonce, "n,,n=,r=", 8);
	memset(nonce + 8, 'k', 200);
	ck_assert_int_eq(server_first_of(nonce, 208), -EINVAL);
	ck_assert_int_eq(server_first_of(NULL, 0), -EINVAL);
	/* what is allowed: "y,,", an extension, a user name */
	ck_assert_int_gt(server_first_of("y,,n=,r=abc", 11), 0);
	ck_assert_int_gt(server_first_of("n,,n=bob,r=abc,x=ext", 20), 0);
}
END_TEST

/* Channel binding: what a TLS client may and may not say in its gs2 header */
static int bound_first_of(bool offered, bool plus, const char *msg)
{
	struct secret sec = mksecret(PG_PENCIL);
	struct scram_server sv;
	static const uint8_t cb[32] = { 1, 2, 3 };
	char out[512];

	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	secret_free(&sec);
	ck_assert_int_eq(scram_server_set_binding(&sv, offered, plus, cb, sizeof(cb)), 0);
	return scram_server_first(&sv, msg, strlen(msg), out, sizeof(out));
}

START_TEST(server_first_channel_binding)
{
	struct scram_server sv;

	/* PLUS chosen: p=tls-server-end-point only */
	ck_assert_int_gt(bound_first_of(true, true, "p=tls-server-end-point,,n=,r=abc"), 0);
	ck_assert_int_eq(bound_first_of(true, true, "n,,n=,r=abc"), -EINVAL);
	ck_assert_int_eq(bound_first_of(true, true, "y,,n=,r=abc"), -EINVAL);
	ck_assert_int_eq(bound_first_of(true, true, "p=tls-unique,,n=,r=abc"), -EINVAL);
	ck_assert_int_eq(bound_first_of(true, true, "p=tls-server-end-pointx,,n=,r=abc"), -EINVAL);
	/* plain SCRAM where PLUS was offered: 'y' is a downgrade, as PostgreSQL says */
	ck_assert_int_gt(bound_first_of(true, false, "n,,n=,r=abc"), 0);
	ck_assert_int_eq(bound_first_of(true, false, "y,,n=,r=abc"), -EINVAL);
	ck_assert_int_eq(bound_first_of(true, false, "p=tls-server-end-point,,n=,r=abc"), -EINVAL);
	/* not offered (no TLS): 'y' is fine, 'p' is not */
	ck_assert_int_gt(bound_first_of(false, false, "y,,n=,r=abc"), 0);
	ck_assert_int_eq(bound_first_of(false, false, "p=tls-server-end-point,,n=,r=abc"), -EINVAL);
	/* PLUS cannot be chosen where it was not offered */
	memset(&sv, 0, sizeof(sv));
	ck_assert_int_eq(scram_server_set_binding(&sv, false, true, (const uint8_t *)"x", 1), -EINVAL);
}
END_TEST

/* A server after the RFC client-first; client_final then decides. */
static int server_final_of(const char *first, const char *msg, size_t len)
{
	struct secret sec;
	struct scram_server sv;
	char out[512];

	rfc_verifier(&sec);
	ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
	secret_free(&sec);	/* the exchange keeps only the keys */
	ck_assert_int_eq(scram_server_set_nonce(&sv, RFC_SNONCE), 0);
	ck_assert_int_gt(scram_server_first(&sv, first, strlen(first), out, sizeof(out)), 0);
	return scram_server_final(&sv, msg, len, out, sizeof(out));
}

#define RFC_R "r=" RFC_CNONCE RFC_SNONCE
#define RFC_P "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

START_TEST(server_final_malformed)
{
	static const char *const bad[] = {
		"", "c=biws", "c=biws,", RFC_R "," RFC_P,			/* missing c= */
		"c=biws," RFC_P,						/* missing r= */
		"c=biws," RFC_R,						/* missing p= */
		"c=biws," RFC_R ",",
		"c=eSws," RFC_R "," RFC_P,					/* y vs n */
		"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws," RFC_R "," RFC_P,	/* p= binding */
		"c=biws=," RFC_R "," RFC_P,
		"c=biws,r=" RFC_CNONCE "," RFC_P,				/* no server nonce */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE "x," RFC_P,			/* wrong nonce */
		"c=biws,r=X" RFC_CNONCE RFC_SNONCE "," RFC_P,
		"c=biws," RFC_R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndQ==",	/* 31 bytes */
		"c=biws," RFC_R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVR4",	/* 33 bytes */
		"c=biws," RFC_R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV=",
		"c=biws," RFC_R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",	/* no pad */
		"c=biws," RFC_R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7A*dVQ=",
		"c=biws," RFC_R ",p=",
		"c=biws," RFC_R "," RFC_P ",x=1",				/* after proof */
		"c=biws," RFC_R "," RFC_P ",",
		"c=biws," RFC_R ",1=x," RFC_P,
		"c=biws,x=1," RFC_R "," RFC_P,
	};
	char big[2048];
	size_t i, full = strlen(RFC_CLIENT_FINAL);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(server_final_of(RFC_CLIENT_FIRST, bad[i], strlen(bad[i])) == -EINVAL,
			      "accepted '%s'", bad[i]);
	/* every truncation of a good message */
	for (i = 0; i < full; i++)
		ck_assert_msg(server_final_of(RFC_CLIENT_FIRST, RFC_CLIENT_FINAL, i) == -EINVAL,
			      "accepted prefix %zu", i);
	/* the client said "y,,": c= must say so too */
	ck_assert_int_eq(server_final_of("y,,n=user,r=" RFC_CNONCE, RFC_CLIENT_FINAL, full),
			 -EINVAL);
	/* an unknown extension before the proof is fine, but the proof covers it */
	ck_assert_int_eq(server_final_of(RFC_CLIENT_FIRST,
					 "c=biws," RFC_R ",x=1," RFC_P,
					 strlen("c=biws," RFC_R ",x=1," RFC_P)), -EACCES);
	/* a flipped proof bit */
	ck_assert_int_eq(server_final_of(RFC_CLIENT_FIRST,
					 "c=biws," RFC_R ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
					 full), -EACCES);
	/* oversized */
	memset(big, 'x', sizeof(big));
	memcpy(big, "c=biws," RFC_R ",x=", strlen("c=biws," RFC_R ",x="));
	ck_assert_int_eq(server_final_of(RFC_CLIENT_FIRST, big, sizeof(big)), -EINVAL);
	ck_assert_int_eq(server_final_of(RFC_CLIENT_FIRST, RFC_CLIENT_FINAL, full), 46);
}
END_TEST

/* A client after "n,,n=user,r=<rfc nonce>"; server-first then decides. */
static int client_final_of(const char *msg, size_t len)
{
	struct scram_client cl;
	char out[512];
	int r;

	scram_client_init_password(&cl, "pencil");
	ck_assert_int_eq(scram_client_set_nonce(&cl, RFC_CNONCE, "user"), 0);
	ck_assert_int_gt(scram_client_first(&cl, out, sizeof(out)), 0);
	r = scram_client_final(&cl, msg, len, out, sizeof(out));
	scram_client_clear(&cl);
	return r;
}

#define NUL_FIRST "r=" RFC_CNONCE "a\0b,s=" RFC_SALT ",i=1"

START_TEST(client_final_malformed)
{
	static const char *const bad[] = {
		"", "r=", "r=" RFC_CNONCE ",s=" RFC_SALT ",i=4096",		/* no server part */
		"r=x" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096",	/* not our nonce */
		"r=" RFC_CNONCE "a b,s=" RFC_SALT ",i=4096",
		"m=x," RFC_SERVER_FIRST,
		"r=" RFC_CNONCE RFC_SNONCE ",i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT,
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",",
		"r=" RFC_CNONCE RFC_SNONCE ",s=,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7so!sUEjb6gQ==,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=0",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=-1",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=10000001",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4294971392",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=99999999999999999999999",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096x",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096,",
		"r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096,5=x",
		"s=" RFC_SALT ",r=" RFC_CNONCE RFC_SNONCE ",i=4096",
	};
	size_t i, full = strlen(RFC_SERVER_FIRST);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(client_final_of(bad[i], strlen(bad[i])) == -EINVAL, "accepted '%s'",
			      bad[i]);
	for (i = 0; i < full - 1; i++)	/* "i=409" is a valid, different count */
		if (i != full - 1 && i != full - 2 && i != full - 3)
			ck_assert_msg(client_final_of(RFC_SERVER_FIRST, i) == -EINVAL,
				      "accepted prefix %zu", i);
	ck_assert_int_eq(client_final_of(NUL_FIRST, sizeof(NUL_FIRST) - 1), -EINVAL);
	ck_assert_int_gt(client_final_of(RFC_SERVER_FIRST ",x=ext", full + 6), 0);
	ck_assert_int_eq(client_final_of(RFC_SERVER_FIRST, full), (int)strlen(RFC_CLIENT_FINAL));
}
END_TEST

START_TEST(client_verify_malformed)
{
	static const char *const bad[] = {
		"", "v", "v=", "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,9",
		" v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	};
	struct scram_client cl;
	char out[512];
	size_t i;

	scram_client_init_password(&cl, "pencil");
	ck_assert_int_eq(scram_client_set_nonce(&cl, RFC_CNONCE, "user"), 0);
	ck_assert_int_gt(scram_client_first(&cl, out, sizeof(out)), 0);
	ck_assert_int_gt(scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out,
					    sizeof(out)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(scram_client_verify(&cl, bad[i], strlen(bad[i])) == -EINVAL,
			      "accepted '%s'", bad[i]);
	ck_assert_int_eq(scram_client_verify(&cl, RFC_SERVER_FINAL ",x=1",
					     strlen(RFC_SERVER_FINAL) + 4), 0);
	ck_assert_int_eq(scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)), 0);
	scram_client_clear(&cl);
}
END_TEST

/* xorshift: reproducible mutations */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void mutate(char *buf, size_t *len, size_t cap, uint32_t *seed)
{
	uint32_t r = next_rand(seed);
	size_t pos = *len ? next_rand(seed) % *len : 0;

	switch (r % 4) {
	case 0:	/* flip a byte */
		if (*len)
			buf[pos] = (char)next_rand(seed);
		break;
	case 1:	/* cut */
		*len = pos;
		break;
	case 2:	/* duplicate a tail */
		if (*len && *len * 2 <= cap) {
			memcpy(buf + *len, buf + pos, *len - pos);
			*len += *len - pos;
		}
		break;
	default:	/* insert a separator */
		if (*len < cap) {
			memmove(buf + pos + 1, buf + pos, *len - pos);
			buf[pos] = ",=\0"[r % 3];
			(*len)++;
		}
		break;
	}
}

/* A mutated iteration count may be valid and slow: such cases are skipped. */
static bool cheap_iterations(const char *buf, size_t len)
{
	const char *i = memmem(buf, len, ",i=", 3);
	size_t digits = 0;

	if (!i)
		return true;
	for (i += 3; i < buf + len && *i >= '0' && *i <= '9'; i++)
		digits++;
	return digits <= 5;
}

/* Nothing decides on a mutated message except -EINVAL, -EACCES or a success. */
START_TEST(mutation_fuzz)
{
	struct secret sec;
	uint32_t seed = 0x2545f491u + (uint32_t)_i;
	char buf[600], out[512];
	size_t len;
	int i, r;

	rfc_verifier(&sec);
	for (i = 0; i < 300; i++) {
		struct scram_server sv;
		struct scram_client cl;

		ck_assert_int_eq(scram_server_init(&sv, &sec, 4096), 0);
		ck_assert_int_eq(scram_server_set_nonce(&sv, RFC_SNONCE), 0);
		len = strlen(RFC_CLIENT_FIRST);
		memcpy(buf, RFC_CLIENT_FIRST, len);
		if (i % 3 == 0)
			mutate(buf, &len, sizeof(buf), &seed);
		r = scram_server_first(&sv, buf, len, out, sizeof(out));
		ck_assert(r > 0 || r == -EINVAL);
		if (r > 0) {
			len = strlen(RFC_CLIENT_FINAL);
			memcpy(buf, RFC_CLIENT_FINAL, len);
			mutate(buf, &len, sizeof(buf), &seed);
			r = scram_server_final(&sv, buf, len, out, sizeof(out));
			ck_assert(r == 46 || r == -EINVAL || r == -EACCES);
		}

		scram_client_init_password(&cl, "pencil");
		ck_assert_int_eq(scram_client_set_nonce(&cl, RFC_CNONCE, "user"), 0);
		ck_assert_int_gt(scram_client_first(&cl, out, sizeof(out)), 0);
		len = strlen(RFC_SERVER_FIRST);
		memcpy(buf, RFC_SERVER_FIRST, len);
		if (i % 2 == 0)
			mutate(buf, &len, sizeof(buf), &seed);
		if (!cheap_iterations(buf, len)) {
			scram_client_clear(&cl);
			continue;
		}
		r = scram_client_final(&cl, buf, len, out, sizeof(out));
		ck_assert(r > 0 || r == -EINVAL);
		if (r > 0) {
			len = strlen(RFC_SERVER_FINAL);
			memcpy(buf, RFC_SERVER_FINAL, len);
			mutate(buf, &len, sizeof(buf), &seed);
			r = scram_client_verify(&cl, buf, len);
			ck_assert(r == 0 || r == -EINVAL || r == -EACCES);
		}
		scram_client_clear(&cl);
	}
	secret_free(&sec);
}
END_TEST

/* ---- mock SCRAM (F6) and key derivation (F7) ---- */

START_TEST(mock_salt_stable)
{
	uint8_t k1[AUTH_SERVER_SECRET_LEN], k2[AUTH_SERVER_SECRET_LEN];
	uint8_t a[SCRAM_SALT_LEN], b[SCRAM_SALT_LEN], c[SCRAM_SALT_LEN], d[SCRAM_SALT_LEN];

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	ck_assert_int_eq(auth_mock_salt(k1, "nosuchuser", a), 0);
	ck_assert_int_eq(auth_mock_salt(k1, "nosuchuser", b), 0);
	ck_assert_mem_eq(a, b, SCRAM_SALT_LEN);		/* the same on every try */
	ck_assert_int_eq(auth_mock_salt(k1, "otheruser", c), 0);
	ck_assert_mem_ne(a, c, SCRAM_SALT_LEN);		/* another name, another salt */
	ck_assert_int_eq(auth_mock_salt(k2, "nosuchuser", d), 0);
	ck_assert_mem_ne(a, d, SCRAM_SALT_LEN);		/* another process, another salt */
	/* the name is not a prefix of anything: "" and long names work */
	ck_assert_int_eq(auth_mock_salt(k1, "", c), 0);
	ck_assert_mem_ne(a, c, SCRAM_SALT_LEN);
}
END_TEST

START_TEST(mock_secret_fails_every_proof)
{
	uint8_t key[AUTH_SERVER_SECRET_LEN], salt[SCRAM_SALT_LEN];
	struct secret mock;
	struct scram_server sv;
	struct scram_client cl;

	memset(key, 7, sizeof(key));
	ck_assert_int_eq(auth_scram_mock(key, "ghost", 4096, &mock), 0);
	ck_assert_int_eq(mock.kind, SECRET_SCRAM);
	ck_assert_int_eq(mock.iterations, 4096);
	ck_assert_uint_eq(mock.salt_len, SCRAM_SALT_LEN);	/* as PostgreSQL's verifiers */
	ck_assert_int_eq(auth_mock_salt(key, "ghost", salt), 0);
	ck_assert_mem_eq(mock.salt, salt, SCRAM_SALT_LEN);
	ck_assert_ptr_null(mock.text);
	/* a client with any password gets through the first message and fails */
	ck_assert_int_eq(scram_server_init(&sv, &mock, 4096), 0);
	scram_client_init_password(&cl, "guess");
	ck_assert_int_eq(exchange(&sv, &cl), -EACCES);
	scram_client_clear(&cl);
	secret_free(&mock);
}
END_TEST

START_TEST(keys_match_verifier)
{
	struct secret pg = mksecret(PG_PENCIL), mine;
	uint8_t ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN];

	ck_assert_int_eq(auth_scram_keys("pencil", pg.salt, pg.salt_len, pg.iterations, ck, sk), 0);
	ck_assert(auth_scram_keys_match(&pg, ck, sk));
	ck_assert_int_eq(auth_scram_from_keys(ck, sk, pg.salt, pg.salt_len, pg.iterations, &mine), 0);
	ck_assert_mem_eq(mine.stored_key, pg.stored_key, SCRAM_KEY_LEN);
	ck_assert_mem_eq(mine.server_key, pg.server_key, SCRAM_KEY_LEN);
	ck_assert_int_eq(auth_scram_keys("pencil!", pg.salt, pg.salt_len, pg.iterations, ck, sk), 0);
	ck_assert(!auth_scram_keys_match(&pg, ck, sk));
	/* F7: one bound at load and at login */
	ck_assert_int_eq(auth_scram_keys("p", pg.salt, pg.salt_len, SCRAM_MAX_ITER + 1, ck, sk),
			 -EINVAL);
	secret_free(&pg);
	secret_free(&mine);
}
END_TEST

struct kdf_wait_test {
	struct kdf_waiter w;
	int calls;
	int rc;
	uint8_t ck[SCRAM_KEY_LEN];
};

static void kdf_test_done(struct kdf_waiter *w, const struct kdf_job *job)
{
	struct kdf_wait_test *t = (struct kdf_wait_test *)w;

	ck_assert_ptr_null(w->job);
	t->calls++;
	t->rc = job->rc;
	memcpy(t->ck, job->client_key, SCRAM_KEY_LEN);
}

static void tick_cb(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;
}

/* Threads derive, the loop hands the result back; a waiter that left is not called */
START_TEST(kdf_pool_round_trip)
{
	struct loop_params lp = { .backend = _i ? LOOP_BACKEND_AUTO : LOOP_BACKEND_EPOLL,
				  .nbufs = 16, .buf_size = 4096 };
	struct secret pg = mksecret(PG_PENCIL);
	struct kdf_wait_test a = { 0 }, b = { 0 }, gone = { 0 };
	uint8_t ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN];
	char err[256] = "";
	struct loop *loop = loop_new(&lp, NULL, err, sizeof(err));
	struct kdf_pool *p;
	uint64_t end;

	ck_assert_msg(loop != NULL, "%s", err);
	p = kdf_start(loop, 2, err, sizeof(err));
	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(kdf_submit(p, "u", "pencil", pg.salt, pg.salt_len, pg.iterations, true,
				    &a.w, kdf_test_done), 0);
	/* the same plain password: joins the job in flight */
	ck_assert_int_eq(kdf_submit(p, "u", "pencil", pg.salt, pg.salt_len, pg.iterations, true,
				    &b.w, kdf_test_done), 0);
	ck_assert_uint_eq(kdf_stats(p)->joined, 1);
	ck_assert_int_eq(kdf_submit(p, "v", "x", pg.salt, pg.salt_len, 100000, false,
				    &gone.w, kdf_test_done), 0);
	kdf_unwait(&gone.w);
	ck_assert_uint_eq(kdf_in_flight(p), 2);
	end = loop_clock_us() + 20000000;
	while (kdf_in_flight(p) && loop_clock_us() < end) {
		struct loop_timer tick = { 0 };

		loop_timer_set(loop, &tick, 10000, tick_cb);
		loop_run_once(loop);
		loop_timer_stop(loop, &tick);
	}
	ck_assert_uint_eq(kdf_in_flight(p), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(gone.calls, 0);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(auth_scram_keys("pencil", pg.salt, pg.salt_len, pg.iterations, ck, sk), 0);
	ck_assert_mem_eq(a.ck, ck, SCRAM_KEY_LEN);
	ck_assert_mem_eq(b.ck, ck, SCRAM_KEY_LEN);
	ck_assert_uint_eq(kdf_stats(p)->done, 2);
	kdf_cancel(p);
	for (int i = 0; i < 100 && !loop_idle(loop); i++)
		loop_run_once(loop);
	loop_free(loop);
	kdf_stop(p);
	secret_free(&pg);
}
END_TEST

/* Capped: half the queue per user, the whole queue in all */
START_TEST(kdf_pool_caps)
{
	struct loop_params lp = { .backend = LOOP_BACKEND_EPOLL, .nbufs = 16, .buf_size = 4096 };
	static struct kdf_wait_test w[KDF_QUEUE_PER_THREAD + 1];
	uint8_t salt[4] = { 1, 2, 3, 4 };
	char err[256] = "", user[8];
	struct loop *loop = loop_new(&lp, NULL, err, sizeof(err));
	struct kdf_pool *p = kdf_start(loop, 1, err, sizeof(err));
	int i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < KDF_QUEUE_PER_THREAD / 2; i++)
		ck_assert_int_eq(kdf_submit(p, "u", "pw", salt, 4, 1000, false, &w[i].w,
					    kdf_test_done), 0);
	ck_assert_int_eq(kdf_submit(p, "u", "pw", salt, 4, 1000, false, &w[i].w, kdf_test_done),
			 -EAGAIN);
	for (; i < KDF_QUEUE_PER_THREAD; i++) {
		snprintf(user, sizeof(user), "v%d", i);
		ck_assert_int_eq(kdf_submit(p, user, "pw", salt, 4, 1000, false, &w[i].w,
					    kdf_test_done), 0);
	}
	ck_assert_int_eq(kdf_submit(p, "w", "pw", salt, 4, 1000, false, &w[i].w, kdf_test_done),
			 -EAGAIN);
	ck_assert_uint_eq(kdf_stats(p)->refused, 2);
	for (i = 0; i < KDF_QUEUE_PER_THREAD; i++)
		kdf_unwait(&w[i].w);
	kdf_cancel(p);
	for (i = 0; i < 100 && !loop_idle(loop); i++)
		loop_run_once(loop);
	loop_free(loop);
	kdf_stop(p);	/* frees the jobs still queued or running */
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("md5");

	tcase_add_test(tc, md5_hash_vector);
	tcase_add_test(tc, md5_salted_round_trip);
	tcase_add_test(tc, secret_kinds);
	tcase_add_test(tc, secret_bad_scram);
	tcase_add_test(tc, plain_check_all_kinds);
	tcase_add_test(tc, verifier_matches_postgres);
	tcase_add_test(tc, random_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("scram");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rfc7677_server);
	tcase_add_test(tc, rfc7677_client);
	tcase_add_test(tc, rfc7677_client_keys);
	tcase_add_test(tc, round_trip_plain);
	tcase_add_test(tc, round_trip_long);
	tcase_add_test(tc, round_trip_verifier);
	tcase_add_test(tc, round_trip_keys);
	tcase_add_test(tc, wrong_password);
	tcase_add_test(tc, server_init_refuses);
	tcase_add_test(tc, client_refuses);
	tcase_add_test(tc, server_out_too_small);
	tcase_add_test(tc, mock_salt_stable);
	tcase_add_test(tc, mock_secret_fails_every_proof);
	tcase_add_test(tc, keys_match_verifier);
	tcase_add_loop_test(tc, kdf_pool_round_trip, 0, 2);
	tcase_add_test(tc, kdf_pool_caps);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, server_first_malformed);
	tcase_add_test(tc, server_first_channel_binding);
	tcase_add_test(tc, server_final_malformed);
	tcase_add_test(tc, client_final_malformed);
	tcase_add_test(tc, client_verify_malformed);
	tcase_add_loop_test(tc, mutation_fuzz, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
