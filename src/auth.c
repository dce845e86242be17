/* auth.c - password secrets, md5 and SCRAM-SHA-256 on both sides of the pooler (OpenSSL libcrypto) */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stringprep.h>

#include "auth.h"

#define SCRAM_PREFIX "SCRAM-SHA-256$"
#define MD5_HEX_LEN 32
/* a client-final-message is ~120 bytes; anything far larger is not a client */
#define SCRAM_MAX_FINAL 1024

/* ---- small helpers ---------------------------------------------------- */

bool auth_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int auth_random(void *buf, size_t n)
{
	if (n > INT_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Strict base64: EVP_DecodeBlock skips whitespace and reports padding as
 * zero bytes, so the alphabet and padding are checked here first.  Returns
 * the decoded length, or -EINVAL (also when it would not fit in cap).
 */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	uint8_t tmp[96];
	size_t pad = 0, i, n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(tmp))
		return -EINVAL;
	if (s[len - 1] == '=')
		pad++;
	if (pad && s[len - 2] == '=')
		pad++;
	for (i = 0; i < len - pad; i++)
		if (!is_b64_char(s[i]))
			return -EINVAL;
	n = len / 4 * 3 - pad;
	if (n > cap)
		return -EINVAL;
	if (EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len) != (int)(len / 4 * 3))
		return -EINVAL;
	memcpy(out, tmp, n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return (int)n;
}

/* NUL-terminated base64 of in; its length, or -ENOSPC. */
static int b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4;

	if (n > 256 || need + 1 > cap)
		return -ENOSPC;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Decimal iteration count, digits only, 1..SCRAM_MAX_ITER. */
static int parse_iter(const char *s, size_t len, int *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 8)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > SCRAM_MAX_ITER)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* RFC 5802 printable: 0x21..0x7e except ',' */
static bool nonce_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	return true;
}

static int random_nonce(char *out, size_t cap)
{
	uint8_t raw[SCRAM_NONCE_LEN];
	int r;

	r = auth_random(raw, sizeof(raw));
	if (r < 0)
		return r;
	r = b64_encode(raw, sizeof(raw), out, cap);
	return r < 0 ? r : 0;
}

/* ---- hashes ----------------------------------------------------------- */

static int sha256(const void *data, size_t n, uint8_t out[SCRAM_KEY_LEN])
{
	return EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

static int hmac256(const uint8_t key[SCRAM_KEY_LEN], const void *data, size_t n,
		   uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = 0;

	if (!HMAC(EVP_sha256(), key, SCRAM_KEY_LEN, data, n, out, &olen) || olen != SCRAM_KEY_LEN)
		return -EIO;
	return 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* "md5" + hex(md5(a || b)) */
static void md5_hex2(const void *a, size_t alen, const void *b, size_t blen,
		     char out[MD5_PASSWD_LEN + 1])
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
	     EVP_DigestFinal_ex(ctx, dig, &dlen) == 1 && dlen == 16;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		/* an empty string matches no response */
		out[0] = '\0';
		return;
	}
	memcpy(out, "md5", 3);
	hex_encode(dig, 16, out + 3);
}

void auth_md5_hash(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1])
{
	md5_hex2(password, strlen(password), user, strlen(user), out);
}

static bool md5_hash_valid(const char *s)
{
	size_t i;

	if (strncmp(s, "md5", 3) != 0 || strnlen(s, MD5_PASSWD_LEN + 1) != MD5_PASSWD_LEN)
		return false;
	for (i = 3; i < MD5_PASSWD_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void auth_md5_salted(const char *md5hash, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1])
{
	if (!md5_hash_valid(md5hash)) {
		out[0] = '\0';
		return;
	}
	md5_hex2(md5hash + 3, MD5_HEX_LEN, salt, 4, out);
}

bool auth_md5_check(const struct secret *sec, const char *user, const uint8_t salt[4],
		    const char *response)
{
	char hash[MD5_PASSWD_LEN + 1], want[MD5_PASSWD_LEN + 1];
	bool ok;

	if (!response || strnlen(response, MD5_PASSWD_LEN + 1) != MD5_PASSWD_LEN)
		return false;
	if (sec->kind == SECRET_PLAIN)
		auth_md5_hash(sec->text, user, hash);
	else if (sec->kind == SECRET_MD5)
		memcpy(hash, sec->text, sizeof(hash));
	else
		return false;
	auth_md5_salted(hash, salt, want);
	ok = want[0] != '\0' && auth_equal(want, response, MD5_PASSWD_LEN);
	OPENSSL_cleanse(hash, sizeof(hash));
	return ok;
}

/* ---- SCRAM keys ------------------------------------------------------- */

static bool all_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

int auth_saslprep(const char *password, char **out)
{
	char *prepped = NULL;
	int rc;

	*out = NULL;
	/* as PostgreSQL's pg_saslprep: ASCII needs nothing */
	if (all_ascii(password))
		return 0;
	rc = stringprep_profile(password, &prepped, "SASLprep", STRINGPREP_NO_UNASSIGNED);
	if (rc == STRINGPREP_MALLOC_ERROR)
		return -ENOMEM;
	if (rc != STRINGPREP_OK || !prepped || !*prepped) {
		/* invalid UTF-8, prohibited or unassigned code points, or nothing
		 * left: PostgreSQL then uses the password as it is */
		free(prepped);
		return 0;
	}
	*out = prepped;
	return 0;
}

/*
 * ClientKey and ServerKey from a password, SASLprep'd first as PostgreSQL
 * does on both ends (auth_saslprep).
 */
static int scram_keys(const char *password, const uint8_t *salt, size_t salt_len, int iter,
		      uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	char *prepped;
	size_t plen;
	int r = auth_saslprep(password, &prepped);

	if (r < 0)
		return r;
	if (prepped)
		password = prepped;
	plen = strlen(password);
	r = -EIO;
	if (plen > INT_MAX || salt_len > INT_MAX) {
		r = -EINVAL;
		goto out;
	}
	if (PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, iter, EVP_sha256(),
			      SCRAM_KEY_LEN, salted) != 1)
		goto out;
	r = hmac256(salted, "Client Key", 10, client_key);
	if (r == 0)
		r = hmac256(salted, "Server Key", 10, server_key);
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	if (prepped) {
		OPENSSL_cleanse(prepped, strlen(prepped));
		free(prepped);
	}
	return r;
}

int auth_scram_verifier(const char *password, const uint8_t *salt, size_t salt_len,
			int iterations, struct secret *out)
{
	uint8_t ck[SCRAM_KEY_LEN];
	char bsalt[100], bstored[48], bserver[48], text[256];
	int r, n;

	if (salt_len < 1 || salt_len > SCRAM_MAX_SALT || iterations < 1 ||
	    iterations > SCRAM_MAX_ITER)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	r = scram_keys(password, salt, salt_len, iterations, ck, out->server_key);
	if (r == 0)
		r = sha256(ck, sizeof(ck), out->stored_key);
	OPENSSL_cleanse(ck, sizeof(ck));
	if (r < 0)
		return r;
	if (b64_encode(salt, salt_len, bsalt, sizeof(bsalt)) < 0 ||
	    b64_encode(out->stored_key, SCRAM_KEY_LEN, bstored, sizeof(bstored)) < 0 ||
	    b64_encode(out->server_key, SCRAM_KEY_LEN, bserver, sizeof(bserver)) < 0)
		return -EINVAL;
	n = snprintf(text, sizeof(text), SCRAM_PREFIX "%d:%s$%s:%s", iterations, bsalt,
		     bstored, bserver);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -EINVAL;
	if (!(out->text = strdup(text)))
		return -ENOMEM;
	out->kind = SECRET_SCRAM;
	out->iterations = iterations;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	return 0;
}

int auth_scram_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
		    uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	if (salt_len < 1 || salt_len > SCRAM_MAX_SALT || iterations < 1 ||
	    iterations > SCRAM_MAX_ITER)
		return -EINVAL;
	return scram_keys(password, salt, salt_len, iterations, client_key, server_key);
}

int auth_scram_from_keys(const uint8_t client_key[SCRAM_KEY_LEN],
			 const uint8_t server_key[SCRAM_KEY_LEN], const uint8_t *salt,
			 size_t salt_len, int iterations, struct secret *out)
{
	memset(out, 0, sizeof(*out));
	if (salt_len < 1 || salt_len > SCRAM_MAX_SALT)
		return -EINVAL;
	if (sha256(client_key, SCRAM_KEY_LEN, out->stored_key) < 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		return -EIO;
	}
	memcpy(out->server_key, server_key, SCRAM_KEY_LEN);
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iterations = iterations;
	out->kind = SECRET_SCRAM;
	return 0;
}

bool auth_scram_keys_match(const struct secret *sec, const uint8_t client_key[SCRAM_KEY_LEN],
			   const uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t stored[SCRAM_KEY_LEN];
	bool ok;

	if (sec->kind != SECRET_SCRAM || sha256(client_key, SCRAM_KEY_LEN, stored) < 0)
		return false;
	ok = auth_equal(stored, sec->stored_key, SCRAM_KEY_LEN) &
	     auth_equal(server_key, sec->server_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok;
}

int auth_mock_salt(const uint8_t secret[AUTH_SERVER_SECRET_LEN], const char *user,
		   uint8_t salt[SCRAM_SALT_LEN])
{
	/* a label, so this HMAC is used for nothing else; the name is hashed
	 * first so that any length fits the fixed buffer */
	static const char label[] = "pgring mock salt";
	uint8_t data[sizeof(label) + SCRAM_KEY_LEN], mac[EVP_MAX_MD_SIZE];
	unsigned int olen = 0;
	int r = -EIO;

	memcpy(data, label, sizeof(label));
	if (sha256(user, strlen(user), data + sizeof(label)) == 0 &&
	    HMAC(EVP_sha256(), secret, AUTH_SERVER_SECRET_LEN, data, sizeof(data), mac, &olen) &&
	    olen >= SCRAM_SALT_LEN) {
		memcpy(salt, mac, SCRAM_SALT_LEN);
		r = 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return r;
}

int auth_scram_mock(const uint8_t secret[AUTH_SERVER_SECRET_LEN], const char *user,
		    int iterations, struct secret *out)
{
	memset(out, 0, sizeof(*out));
	if (auth_mock_salt(secret, user, out->salt) < 0 ||
	    auth_random(out->stored_key, SCRAM_KEY_LEN) < 0 ||
	    auth_random(out->server_key, SCRAM_KEY_LEN) < 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		return -EIO;
	}
	out->salt_len = SCRAM_SALT_LEN;
	out->iterations = iterations;
	out->kind = SECRET_SCRAM;
	return 0;
}

bool auth_plain_check(const struct secret *sec, const char *user, const char *password)
{
	char hash[MD5_PASSWD_LEN + 1];
	uint8_t ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	size_t n;
	bool ok = false;

	if (!password)
		return false;
	switch (sec->kind) {
	case SECRET_PLAIN:
		n = strlen(password);
		return n == strlen(sec->text) && auth_equal(password, sec->text, n);
	case SECRET_MD5:
		auth_md5_hash(password, user, hash);
		return hash[0] != '\0' && auth_equal(hash, sec->text, MD5_PASSWD_LEN);
	case SECRET_SCRAM:
		if (scram_keys(password, sec->salt, sec->salt_len, sec->iterations, ck, sk) == 0 &&
		    sha256(ck, sizeof(ck), stored) == 0)
			ok = auth_equal(stored, sec->stored_key, SCRAM_KEY_LEN) &
			     auth_equal(sk, sec->server_key, SCRAM_KEY_LEN);
		OPENSSL_cleanse(ck, sizeof(ck));
		OPENSSL_cleanse(sk, sizeof(sk));
		return ok;
	default:
		return false;
	}
}

/* ---- secrets ---------------------------------------------------------- */

/* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>, all base64 but iter */
static int parse_scram_secret(const char *s, struct secret *out)
{
	const char *p = s + strlen(SCRAM_PREFIX);
	const char *colon1, *dollar, *colon2, *end = p + strlen(p);
	int r;

	colon1 = memchr(p, ':', end - p);
	if (!colon1)
		return -EINVAL;
	dollar = memchr(colon1, '$', end - colon1);
	if (!dollar)
		return -EINVAL;
	colon2 = memchr(dollar, ':', end - dollar);
	if (!colon2)
		return -EINVAL;
	if (parse_iter(p, colon1 - p, &out->iterations) < 0)
		return -EINVAL;
	r = b64_decode(colon1 + 1, dollar - colon1 - 1, out->salt, SCRAM_MAX_SALT);
	if (r < 1)
		return -EINVAL;
	out->salt_len = (size_t)r;
	if (b64_decode(dollar + 1, colon2 - dollar - 1, out->stored_key, SCRAM_KEY_LEN) !=
	    SCRAM_KEY_LEN)
		return -EINVAL;
	if (b64_decode(colon2 + 1, end - colon2 - 1, out->server_key, SCRAM_KEY_LEN) !=
	    SCRAM_KEY_LEN)
		return -EINVAL;
	return 0;
}

/*
 * As PostgreSQL classifies rolpassword, except that a string claiming to be a
 * SCRAM verifier must be one (PostgreSQL would take it as a plain password,
 * which hides a typo in auth_file).  "" is SECRET_NONE: no password.
 */
int secret_parse(const char *s, struct secret *out)
{
	size_t n = strnlen(s, AUTH_SECRET_MAX + 1);

	memset(out, 0, sizeof(*out));
	if (n > AUTH_SECRET_MAX)
		return -EINVAL;
	if (strncmp(s, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0 && parse_scram_secret(s, out) < 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		return -EINVAL;
	}
	if (!(out->text = malloc(n + 1))) {
		OPENSSL_cleanse(out, sizeof(*out));
		return -ENOMEM;
	}
	memcpy(out->text, s, n + 1);
	if (n == 0) {
		out->kind = SECRET_NONE;
		return 0;
	}
	if (strncmp(s, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0) {
		out->kind = SECRET_SCRAM;
		return 0;
	}
	out->kind = md5_hash_valid(s) ? SECRET_MD5 : SECRET_PLAIN;
	return 0;
}

int secret_copy(struct secret *dst, const struct secret *src)
{
	*dst = *src;
	if (!src->text)
		return 0;
	if (!(dst->text = strdup(src->text))) {
		OPENSSL_cleanse(dst, sizeof(*dst));
		return -ENOMEM;
	}
	return 0;
}

void secret_free(struct secret *sec)
{
	if (sec->text) {
		OPENSSL_cleanse(sec->text, strlen(sec->text));
		free(sec->text);
	}
	OPENSSL_cleanse(sec, sizeof(*sec));
	sec->text = NULL;
	sec->kind = SECRET_NONE;
}

/* ---- SCRAM message parsing -------------------------------------------- */

/* A position in an untrusted message; attributes are "x=value" split by ','. */
struct cursor {
	const char *p;
	const char *end;
};

static bool at_attr(const struct cursor *c, char name)
{
	return c->end - c->p >= 2 && c->p[0] == name && c->p[1] == '=';
}

/* Reads "<name>=value" up to the next ',' or the end (the ',' stays). */
static int attr_read(struct cursor *c, char name, const char **val, size_t *vlen)
{
	const char *v, *e;

	if (!at_attr(c, name))
		return -EINVAL;
	v = c->p + 2;
	e = memchr(v, ',', c->end - v);
	if (!e)
		e = c->end;
	*val = v;
	*vlen = e - v;
	c->p = e;
	return 0;
}

static int attr_sep(struct cursor *c)
{
	if (c->p >= c->end || *c->p != ',')
		return -EINVAL;
	c->p++;
	return 0;
}

/* An optional extension attribute: a letter, '=', a value without ','. */
static int attr_skip_ext(struct cursor *c)
{
	const char *v;
	size_t vlen;
	char name;

	if (c->p >= c->end)
		return -EINVAL;
	name = *c->p;
	if (!((name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z')))
		return -EINVAL;
	return attr_read(c, name, &v, &vlen);
}

static int cursor_init(struct cursor *c, const char *msg, size_t len)
{
	if (!msg || len == 0 || memchr(msg, '\0', len))
		return -EINVAL;
	c->p = msg;
	c->end = msg + len;
	return 0;
}

static int copy_out(const char *s, size_t n, char *out, size_t outcap)
{
	if (n >= outcap || n > INT_MAX)
		return -ENOSPC;
	memcpy(out, s, n);
	out[n] = '\0';
	return (int)n;
}

/* ---- SCRAM server side ------------------------------------------------ */

int scram_server_init(struct scram_server *st, const struct secret *sec, int scram_iterations)
{
	uint8_t salt[SCRAM_SALT_LEN];
	int r;

	memset(st, 0, sizeof(*st));
	if (sec->kind == SECRET_SCRAM) {
		st->verifier = *sec;
		st->verifier.text = NULL;	/* the keys are all the exchange needs */
		return 0;
	}
	if (sec->kind != SECRET_PLAIN)
		return -EINVAL;
	r = auth_random(salt, sizeof(salt));
	if (r == 0)
		r = auth_scram_verifier(sec->text, salt, sizeof(salt), scram_iterations,
					&st->verifier);
	if (r == 0) {
		OPENSSL_cleanse(st->verifier.text, strlen(st->verifier.text));
		free(st->verifier.text);
		st->verifier.text = NULL;
	}
	return r;
}

void scram_server_free(struct scram_server *st)
{
	if (!st)
		return;
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

/* A failed exchange is over: wipe the keys so nothing can continue it. */
static void server_fail(struct scram_server *st)
{
	OPENSSL_cleanse(&st->verifier, sizeof(st->verifier));
	st->verifier.kind = SECRET_NONE;
}

int scram_server_set_nonce(struct scram_server *st, const char *nonce)
{
	size_t n = strnlen(nonce, sizeof(st->server_nonce));

	if (n >= sizeof(st->server_nonce) || !nonce_valid(nonce, n) || st->server_first[0])
		return -EINVAL;
	memcpy(st->server_nonce, nonce, n + 1);
	return 0;
}

#define CB_TYPE "p=tls-server-end-point"

int scram_server_set_binding(struct scram_server *st, bool offered, bool plus,
			     const uint8_t *data, size_t len)
{
	if (len > sizeof(st->cb_data) || (plus && (!offered || !len)))
		return -EINVAL;
	st->cb_offered = offered;
	st->plus = plus;
	memcpy(st->cb_data, data, len);
	st->cb_len = (uint8_t)len;
	return 0;
}

/*
 * gs2-header: "n,,", "y,," or "p=tls-server-end-point,,"; an authzid is
 * refused.  'p' only with SCRAM-SHA-256-PLUS, which needs it; 'y' (the
 * client could bind but thinks we cannot) is refused where PLUS was offered.
 */
static int parse_gs2_header(struct cursor *c, struct scram_server *st)
{
	size_t n = sizeof(CB_TYPE) - 1;

	if (c->p >= c->end)
		return -EINVAL;
	st->gs2_flag = *c->p;
	if (*c->p == 'p') {
		if (!st->plus || (size_t)(c->end - c->p) < n || memcmp(c->p, CB_TYPE, n))
			return -EINVAL;
		c->p += n;
	} else if ((*c->p != 'n' && *c->p != 'y') || st->plus ||
		   (*c->p == 'y' && st->cb_offered)) {
		return -EINVAL;
	} else {
		c->p++;
	}
	if (attr_sep(c) < 0 || attr_sep(c) < 0)
		return -EINVAL;	/* an "a=" authzid lands here too */
	return 0;
}

/* client-first-message-bare: n=<ignored>,r=<nonce>[,ext...] */
static int parse_client_first_bare(struct scram_server *st, struct cursor *c)
{
	const char *bare = c->p, *v;
	size_t vlen;

	if (attr_read(c, 'n', &v, &vlen) < 0 || attr_sep(c) < 0)
		return -EINVAL;	/* "m=" mandatory extensions fail here */
	if (attr_read(c, 'r', &v, &vlen) < 0 || vlen >= sizeof(st->client_nonce) ||
	    !nonce_valid(v, vlen))
		return -EINVAL;
	memcpy(st->client_nonce, v, vlen);
	st->client_nonce[vlen] = '\0';
	while (c->p < c->end)
		if (attr_sep(c) < 0 || attr_skip_ext(c) < 0)
			return -EINVAL;
	if ((size_t)(c->end - bare) >= sizeof(st->client_first_bare))
		return -EINVAL;
	memcpy(st->client_first_bare, bare, c->end - bare);
	st->client_first_bare[c->end - bare] = '\0';
	return 0;
}

int scram_server_first(struct scram_server *st, const char *msg, size_t len, char *out, size_t outcap)
{
	struct cursor c;
	char bsalt[100];
	int n;

	if (st->verifier.kind != SECRET_SCRAM || st->server_first[0] || st->done)
		return -EINVAL;
	if (cursor_init(&c, msg, len) < 0 || parse_gs2_header(&c, st) < 0 ||
	    parse_client_first_bare(st, &c) < 0)
		goto bad;
	if (!st->server_nonce[0] && random_nonce(st->server_nonce, sizeof(st->server_nonce)) < 0)
		goto bad;
	if (b64_encode(st->verifier.salt, st->verifier.salt_len, bsalt, sizeof(bsalt)) < 0)
		goto bad;
	n = snprintf(st->server_first, sizeof(st->server_first), "r=%s%s,s=%s,i=%d",
		     st->client_nonce, st->server_nonce, bsalt, st->verifier.iterations);
	if (n < 0 || (size_t)n >= sizeof(st->server_first))
		goto bad;
	n = copy_out(st->server_first, (size_t)n, out, outcap);
	if (n < 0)
		server_fail(st);
	return n;
bad:
	server_fail(st);
	return -EINVAL;
}

/* The c= value must be base64 of the gs2 header the client sent first,
 * followed by the channel's binding data when it asked for binding. */
static int check_cbind(const struct scram_server *st, const char *v, size_t vlen)
{
	uint8_t in[sizeof(CB_TYPE) + 2 + sizeof(st->cb_data)];
	char want[(sizeof(in) + 2) / 3 * 4 + 1];
	size_t len;
	int n;

	if (st->gs2_flag == 'p') {
		memcpy(in, CB_TYPE ",,", sizeof(CB_TYPE) + 1);
		memcpy(in + sizeof(CB_TYPE) + 1, st->cb_data, st->cb_len);
		len = sizeof(CB_TYPE) + 1 + st->cb_len;
	} else {
		in[0] = (uint8_t)st->gs2_flag;
		in[1] = in[2] = ',';
		len = 3;
	}
	n = b64_encode(in, len, want, sizeof(want));
	if (n < 0 || vlen != (size_t)n || memcmp(v, want, vlen) != 0)
		return -EINVAL;
	return 0;
}

static int check_final_nonce(const struct scram_server *st, const char *v, size_t vlen)
{
	size_t cn = strlen(st->client_nonce), sn = strlen(st->server_nonce);

	if (vlen != cn + sn || memcmp(v, st->client_nonce, cn) != 0 ||
	    memcmp(v + cn, st->server_nonce, sn) != 0)
		return -EINVAL;
	return 0;
}

/*
 * client-final-message: c=<cbind>,r=<nonce>[,ext...],p=<proof>.  Sets
 * *without_proof_len to the length of everything before ",p=".
 */
static int parse_client_final(const struct scram_server *st, const char *msg, size_t len,
			      uint8_t proof[SCRAM_KEY_LEN], size_t *without_proof_len)
{
	struct cursor c;
	const char *v;
	size_t vlen;

	if (len > SCRAM_MAX_FINAL || cursor_init(&c, msg, len) < 0)
		return -EINVAL;
	if (attr_read(&c, 'c', &v, &vlen) < 0 || check_cbind(st, v, vlen) < 0 ||
	    attr_sep(&c) < 0 || attr_read(&c, 'r', &v, &vlen) < 0 ||
	    check_final_nonce(st, v, vlen) < 0)
		return -EINVAL;
	for (;;) {
		*without_proof_len = c.p - msg;
		if (attr_sep(&c) < 0)
			return -EINVAL;	/* no proof */
		if (at_attr(&c, 'p'))
			break;
		if (attr_skip_ext(&c) < 0)
			return -EINVAL;
	}
	if (attr_read(&c, 'p', &v, &vlen) < 0 || c.p != c.end)
		return -EINVAL;
	if (b64_decode(v, vlen, proof, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
		return -EINVAL;
	return 0;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static int build_auth_message(char *buf, size_t cap, const char *bare, const char *sfirst,
			      size_t sfirst_len, const char *final, size_t final_len)
{
	int n;

	if (sfirst_len >= cap || final_len >= cap)
		return -EINVAL;
	n = snprintf(buf, cap, "%s,%.*s,%.*s", bare, (int)sfirst_len, sfirst, (int)final_len,
		     final);
	if (n < 0 || (size_t)n >= cap)
		return -EINVAL;
	return n;
}

int scram_server_final(struct scram_server *st, const char *msg, size_t len, char *out, size_t outcap)
{
	char authmsg[sizeof(st->client_first_bare) + sizeof(st->server_first) + SCRAM_MAX_FINAL];
	uint8_t proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN], hk[SCRAM_KEY_LEN];
	char res[64];
	size_t wplen, i;
	int alen, r;

	if (st->verifier.kind != SECRET_SCRAM || !st->server_first[0] || st->done)
		return -EINVAL;
	r = parse_client_final(st, msg, len, proof, &wplen);
	if (r == 0)
		r = build_auth_message(authmsg, sizeof(authmsg), st->client_first_bare,
				       st->server_first, strlen(st->server_first), msg, wplen);
	if (r < 0) {
		server_fail(st);
		return -EINVAL;
	}
	alen = r;
	r = hmac256(st->verifier.stored_key, authmsg, (size_t)alen, sig);
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		ck[i] = proof[i] ^ sig[i];
	if (r == 0)
		r = sha256(ck, sizeof(ck), hk);
	if (r == 0 && !auth_equal(hk, st->verifier.stored_key, SCRAM_KEY_LEN))
		r = -EACCES;
	if (r == 0)
		r = hmac256(st->verifier.server_key, authmsg, (size_t)alen, sig);
	if (r == 0) {
		memcpy(res, "v=", 2);
		r = b64_encode(sig, SCRAM_KEY_LEN, res + 2, sizeof(res) - 2);
	}
	if (r >= 0)
		r = copy_out(res, (size_t)r + 2, out, outcap);
	if (r >= 0) {
		memcpy(st->client_key, ck, SCRAM_KEY_LEN);
		st->done = true;
	} else {
		server_fail(st);
	}
	OPENSSL_cleanse(ck, sizeof(ck));
	return r;
}

/* ---- SCRAM client side ------------------------------------------------ */

void scram_client_init_password(struct scram_client *st, const char *password)
{
	size_t n = strlen(password);

	memset(st, 0, sizeof(*st));
	/* no memory: neither password nor keys, so scram_client_first fails */
	if (!(st->password = malloc(n + 1)))
		return;
	memcpy(st->password, password, n + 1);
	st->have_password = true;
}

void scram_client_clear(struct scram_client *st)
{
	if (st->password) {
		OPENSSL_cleanse(st->password, strlen(st->password));
		free(st->password);
	}
	OPENSSL_cleanse(st, sizeof(*st));
	st->password = NULL;
}

void scram_client_init_keys(struct scram_client *st, const uint8_t client_key[SCRAM_KEY_LEN],
			    const uint8_t server_key[SCRAM_KEY_LEN])
{
	memset(st, 0, sizeof(*st));
	memcpy(st->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(st->server_key, server_key, SCRAM_KEY_LEN);
}

static bool client_has_keys(const struct scram_client *st)
{
	static const uint8_t zero[SCRAM_KEY_LEN];

	return !auth_equal(st->client_key, zero, SCRAM_KEY_LEN);
}

int scram_client_set_nonce(struct scram_client *st, const char *nonce, const char *user)
{
	size_t n = strnlen(nonce, sizeof(st->client_nonce));
	int len;

	if (n >= sizeof(st->client_nonce) || !nonce_valid(nonce, n) || st->auth_message[0])
		return -EINVAL;
	if (!user)
		user = "";
	if (strpbrk(user, ",="))
		return -EINVAL;
	len = snprintf(st->client_first_bare, sizeof(st->client_first_bare), "n=%s,r=%s", user,
		       nonce);
	if (len < 0 || (size_t)len >= sizeof(st->client_first_bare)) {
		st->client_first_bare[0] = '\0';
		return -EINVAL;
	}
	memcpy(st->client_nonce, nonce, n + 1);
	return 0;
}

int scram_client_first(struct scram_client *st, char *out, size_t outcap)
{
	char msg[sizeof(st->client_first_bare) + 4];
	int r;

	if (!st->have_password && !client_has_keys(st))
		return -EINVAL;
	if (!st->client_nonce[0]) {
		r = random_nonce(st->client_nonce, sizeof(st->client_nonce));
		if (r < 0)
			return r;
		r = snprintf(st->client_first_bare, sizeof(st->client_first_bare), "n=,r=%s",
			     st->client_nonce);
		if (r < 0 || (size_t)r >= sizeof(st->client_first_bare))
			return -ENOSPC;
	}
	r = snprintf(msg, sizeof(msg), "n,,%s", st->client_first_bare);
	if (r < 0 || (size_t)r >= sizeof(msg))
		return -ENOSPC;
	return copy_out(msg, (size_t)r, out, outcap);
}

struct server_first {
	const char *nonce;
	size_t nonce_len;
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;
	int iterations;
};

/* server-first-message: r=<nonce>,s=<salt>,i=<iter>[,ext...] */
static int parse_server_first(const struct scram_client *st, const char *msg, size_t len,
			      struct server_first *sf)
{
	struct cursor c;
	const char *v;
	size_t vlen, cn = strlen(st->client_nonce);
	int r;

	if (cursor_init(&c, msg, len) < 0 ||
	    attr_read(&c, 'r', &sf->nonce, &sf->nonce_len) < 0 || attr_sep(&c) < 0)
		return -EINVAL;	/* "m=" lands here */
	if (sf->nonce_len <= cn || memcmp(sf->nonce, st->client_nonce, cn) != 0 ||
	    !nonce_valid(sf->nonce, sf->nonce_len))
		return -EINVAL;
	if (attr_read(&c, 's', &v, &vlen) < 0 || attr_sep(&c) < 0)
		return -EINVAL;
	r = b64_decode(v, vlen, sf->salt, sizeof(sf->salt));
	if (r < 1)
		return -EINVAL;
	sf->salt_len = (size_t)r;
	if (attr_read(&c, 'i', &v, &vlen) < 0 || parse_iter(v, vlen, &sf->iterations) < 0)
		return -EINVAL;
	while (c.p < c.end)
		if (attr_sep(&c) < 0 || attr_skip_ext(&c) < 0)
			return -EINVAL;
	return 0;
}

int scram_client_peek(const struct scram_client *st, const char *msg, size_t len,
		      uint8_t *salt, size_t *salt_len, int *iterations)
{
	struct server_first sf;

	if (!st->client_first_bare[0] || st->auth_message[0] ||
	    parse_server_first(st, msg, len, &sf) < 0)
		return -EINVAL;
	memcpy(salt, sf.salt, sf.salt_len);
	*salt_len = sf.salt_len;
	*iterations = sf.iterations;
	OPENSSL_cleanse(&sf, sizeof(sf));
	return 0;
}

void scram_client_set_keys(struct scram_client *st, const uint8_t client_key[SCRAM_KEY_LEN],
			   const uint8_t server_key[SCRAM_KEY_LEN])
{
	memcpy(st->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(st->server_key, server_key, SCRAM_KEY_LEN);
	if (st->password) {
		OPENSSL_cleanse(st->password, strlen(st->password));
		free(st->password);
		st->password = NULL;
	}
	st->have_password = false;
}

int scram_client_final(struct scram_client *st, const char *msg, size_t len, char *out, size_t outcap)
{
	struct server_first sf;
	uint8_t stored[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	char final[sizeof(st->auth_message)], bproof[48];
	int flen, alen, r;
	size_t i;

	if (!st->client_first_bare[0] || st->auth_message[0] ||
	    parse_server_first(st, msg, len, &sf) < 0)
		return -EINVAL;
	if (st->have_password) {
		r = scram_keys(st->password, sf.salt, sf.salt_len, sf.iterations, st->client_key,
			       st->server_key);
		if (r < 0)
			return r;
	}
	flen = snprintf(final, sizeof(final), "c=biws,r=%.*s", (int)sf.nonce_len, sf.nonce);
	if (flen < 0 || (size_t)flen >= sizeof(final))
		return -EINVAL;
	alen = build_auth_message(st->auth_message, sizeof(st->auth_message),
				  st->client_first_bare, msg, len, final, (size_t)flen);
	if (alen < 0)
		goto bad;
	r = sha256(st->client_key, SCRAM_KEY_LEN, stored);
	if (r == 0)
		r = hmac256(stored, st->auth_message, (size_t)alen, sig);
	if (r == 0)
		r = hmac256(st->server_key, st->auth_message, (size_t)alen,
			    st->expected_server_sig);
	if (r < 0)
		goto bad;
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = st->client_key[i] ^ sig[i];
	if (b64_encode(proof, SCRAM_KEY_LEN, bproof, sizeof(bproof)) < 0)
		goto bad;
	r = snprintf(final + flen, sizeof(final) - flen, ",p=%s", bproof);
	if (r < 0 || (size_t)r >= sizeof(final) - flen)
		goto bad;
	r = copy_out(final, (size_t)flen + r, out, outcap);
	if (r < 0)
		st->auth_message[0] = '\0';
	return r;
bad:
	st->auth_message[0] = '\0';
	return -EINVAL;
}

int scram_client_verify(struct scram_client *st, const char *msg, size_t len)
{
	struct cursor c;
	const char *v;
	size_t vlen;
	uint8_t sig[SCRAM_KEY_LEN];

	if (!st->auth_message[0] || cursor_init(&c, msg, len) < 0)
		return -EINVAL;
	if (at_attr(&c, 'e'))
		return -EACCES;
	if (attr_read(&c, 'v', &v, &vlen) < 0)
		return -EINVAL;
	while (c.p < c.end)
		if (attr_sep(&c) < 0 || attr_skip_ext(&c) < 0)
			return -EINVAL;
	if (b64_decode(v, vlen, sig, sizeof(sig)) != SCRAM_KEY_LEN)
		return -EINVAL;
	return auth_equal(sig, st->expected_server_sig, SCRAM_KEY_LEN) ? 0 : -EACCES;
}
