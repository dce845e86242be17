/* auth.h - password secrets, md5 and SCRAM-SHA-256 on both sides of the pooler (OpenSSL libcrypto) */
#ifndef PGRING_AUTH_H
#define PGRING_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32		/* SHA-256 */
#define SCRAM_MAX_SALT 64
#define SCRAM_NONCE_LEN 24		/* raw bytes before base64 */
#define MD5_PASSWD_LEN 35		/* "md5" + 32 hex digits */
#define SCRAM_SALT_LEN 16		/* what PostgreSQL generates */
/* PostgreSQL allows more; beyond this one login is seconds of CPU.  The
 * same bound for scram_iterations, auth_file verifiers and the i= a server
 * sends, so that what loads also logs in. */
#define SCRAM_MAX_ITER 10000000
#define AUTH_SERVER_SECRET_LEN 32	/* per process: mock salts (auth_mock_salt) */

enum secret_kind {
	SECRET_NONE = 0,
	SECRET_PLAIN,
	SECRET_MD5,
	SECRET_SCRAM,
};

/* The longest secret, as PgBouncer takes it: a plain password as long as a
 * PasswordMessage can carry (cloud IAM tokens run to kilobytes). */
#define AUTH_SECRET_MAX 65531
/* the longest PasswordMessage a client may send: the password, NUL */
#define AUTH_MSG_MAX (AUTH_SECRET_MAX + 1)

/* A secret as it stands in auth_file or a [databases] password. */
struct secret {
	enum secret_kind kind;
	char *text;			/* as written (plain password, md5..., SCRAM-SHA-256$...);
					 * owned: secret_free; NULL in a SCRAM exchange's copy */
	/* SCRAM only */
	int iterations;
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/* Classifies and, for SCRAM verifiers, decodes s into *out (overwritten,
 * not freed).  0, -EINVAL for a malformed verifier or a secret longer than
 * AUTH_SECRET_MAX, -ENOMEM.  "" gives SECRET_NONE (no password: every check
 * fails). */
int secret_parse(const char *s, struct secret *out);
/* A deep copy into *dst (overwritten): 0 or -ENOMEM */
int secret_copy(struct secret *dst, const struct secret *src);
/* Wipes and frees the text; the secret is SECRET_NONE after */
void secret_free(struct secret *sec);

/* Constant-time comparison of n bytes. */
bool auth_equal(const void *a, const void *b, size_t n);

/* "md5" + hex(md5(password || user)), NUL-terminated (36 bytes). */
void auth_md5_hash(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1]);
/* What a client sends for an AuthenticationMD5Password with this salt, given
 * the stored "md5..." hash: "md5" + hex(md5(hex_part || salt)). */
void auth_md5_salted(const char *md5hash, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1]);
/* Checks a client's md5 response against a plain or md5 secret. SCRAM secrets
 * cannot answer md5: false. */
bool auth_md5_check(const struct secret *sec, const char *user, const uint8_t salt[4],
		    const char *response);
/* Checks a cleartext password against any secret kind (plain, md5, SCRAM). */
bool auth_plain_check(const struct secret *sec, const char *user, const char *password);

/*
 * SASLprep (RFC 4013) of a password, as PostgreSQL applies it before SCRAM:
 * *out is the prepared copy (free it), or NULL when the password is to be
 * used as it is (ASCII, not valid UTF-8, or prohibited or unassigned code
 * points, as PostgreSQL decides).  0, or -ENOMEM.
 */
int auth_saslprep(const char *password, char **out);

/* Fills n random bytes (RAND_bytes).  0 or -EIO. */
int auth_random(void *buf, size_t n);

/* Builds a SCRAM-SHA-256 verifier (kind SECRET_SCRAM, text as PostgreSQL
 * writes it; secret_free it) from a password.  0, or -EINVAL for a bad salt
 * length or iteration count, -EIO if libcrypto fails, -ENOMEM. */
int auth_scram_verifier(const char *password, const uint8_t *salt, size_t salt_len,
			int iterations, struct secret *out);

/*
 * The salt a user without a stored verifier is offered: HMAC-SHA-256 of the
 * user name under the process's secret, cut to SCRAM_SALT_LEN, as
 * PostgreSQL's scram_mock_salt.  Unknown users and plain auth_file
 * passwords get it alike, so the salt tells nothing, and stays the same
 * from one try to the next.  0 or -EIO.
 */
int auth_mock_salt(const uint8_t secret[AUTH_SERVER_SECRET_LEN], const char *user,
		   uint8_t salt[SCRAM_SALT_LEN]);
/* A SCRAM secret for a user that does not exist: the mock salt, iterations,
 * random keys that no proof matches.  No key derivation.  0 or -EIO. */
int auth_scram_mock(const uint8_t secret[AUTH_SERVER_SECRET_LEN], const char *user,
		    int iterations, struct secret *out);
/* PBKDF2 and the two HMACs: ClientKey and ServerKey of a password (the
 * expensive part of SCRAM; kdf.c runs it off the loop).  0, -EINVAL, -EIO. */
int auth_scram_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
		    uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN]);
/* The verifier (no text) from keys auth_scram_keys made.  0 or -EIO. */
int auth_scram_from_keys(const uint8_t client_key[SCRAM_KEY_LEN],
			 const uint8_t server_key[SCRAM_KEY_LEN], const uint8_t *salt,
			 size_t salt_len, int iterations, struct secret *out);
/* Whether keys from auth_scram_keys over a cleartext password match the
 * verifier sec (auth_type = plain against a SCRAM secret), constant time. */
bool auth_scram_keys_match(const struct secret *sec, const uint8_t client_key[SCRAM_KEY_LEN],
			   const uint8_t server_key[SCRAM_KEY_LEN]);

/*
 * SCRAM-SHA-256, server side: a client logs in to pgring.
 * Messages are those of RFC 5802/7677 as PostgreSQL frames them (the
 * SASLInitialResponse data is client-first-message; SASLResponse data is
 * client-final-message).  Channel binding: "p=tls-server-end-point" only
 * with SCRAM-SHA-256-PLUS (scram_server_set_binding); "y,," is refused
 * where PLUS was offered (a downgrade), as PostgreSQL does.
 */
struct scram_server {
	struct secret verifier;		/* derived from a plain secret if needed */
	char client_nonce[128];
	char server_nonce[64];		/* base64 of SCRAM_NONCE_LEN random bytes */
	char client_first_bare[512];
	char server_first[512];
	char gs2_flag;			/* 'n', 'y' or 'p' as the client sent it: c= must echo it */
	/* channel binding (tls-server-end-point), set by scram_server_set_binding */
	bool cb_offered;		/* SCRAM-SHA-256-PLUS was offered: 'y' is a downgrade */
	bool plus;			/* the client chose SCRAM-SHA-256-PLUS */
	uint8_t cb_len;
	uint8_t cb_data[64];		/* the hash of pgring's certificate */
	/* after a successful final: the client's ClientKey, recovered from its proof,
	 * so pgring can log in to PostgreSQL on its behalf with only a verifier */
	uint8_t client_key[SCRAM_KEY_LEN];
	bool done;
};

/* Starts from a secret (plain or SCRAM; md5 secrets cannot do SCRAM: -EINVAL).
 * A plain password is turned into a verifier with a random salt and
 * scram_iterations rounds.  Only the keys are kept: st holds no memory. */
int scram_server_init(struct scram_server *st, const struct secret *sec, int scram_iterations);
/* Wipes the keys and frees st (NULL is fine) */
void scram_server_free(struct scram_server *st);
/* Between init and first: PLUS was offered (the client is on TLS), and whether
 * the client chose it, with the tls-server-end-point data it must bind to.
 * 0, or -EINVAL if the data does not fit. */
int scram_server_set_binding(struct scram_server *st, bool offered, bool plus,
			     const uint8_t *data, size_t len);
/* Parses client-first-message, writes server-first-message (NUL-terminated).
 * Returns its length, or -EINVAL for a malformed message / -ENOSPC. */
int scram_server_first(struct scram_server *st, const char *msg, size_t len, char *out, size_t outcap);
/* Parses client-final-message and checks the proof.  On success writes
 * server-final-message ("v=...") and returns its length; a wrong proof gives
 * -EACCES, a malformed message -EINVAL. */
int scram_server_final(struct scram_server *st, const char *msg, size_t len, char *out, size_t outcap);

/*
 * SCRAM-SHA-256, client side: pgring logs in to PostgreSQL.  Either from a
 * plain password, or from ClientKey + ServerKey (what PgBouncer does when the
 * auth_file holds only a verifier and the client logged in with SCRAM).
 */
struct scram_client {
	bool have_password;
	char *password;			/* owned: scram_client_clear */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	char client_nonce[64];
	char client_first_bare[256];
	char auth_message[1536];
	uint8_t expected_server_sig[SCRAM_KEY_LEN];
};

/* A copy of password is kept until scram_client_clear; without memory the
 * exchange fails at scram_client_first */
void scram_client_init_password(struct scram_client *st, const char *password);
void scram_client_clear(struct scram_client *st);
void scram_client_init_keys(struct scram_client *st, const uint8_t client_key[SCRAM_KEY_LEN],
			    const uint8_t server_key[SCRAM_KEY_LEN]);
/* Writes client-first-message ("n,,n=,r=<nonce>"); length or -errno. */
int scram_client_first(struct scram_client *st, char *out, size_t outcap);
/* The salt and iteration count of a server-first-message, for a caller that
 * derives the keys elsewhere (kdf.c): 0 or -EINVAL.  salt holds SCRAM_MAX_SALT. */
int scram_client_peek(const struct scram_client *st, const char *msg, size_t len,
		      uint8_t *salt, size_t *salt_len, int *iterations);
/* Keys derived elsewhere for this exchange's salt: the password is wiped,
 * and scram_client_final derives nothing. */
void scram_client_set_keys(struct scram_client *st, const uint8_t client_key[SCRAM_KEY_LEN],
			   const uint8_t server_key[SCRAM_KEY_LEN]);
/* Takes server-first-message, writes client-final-message; length or -EINVAL
 * (malformed, nonce mismatch, too few iterations) / -ENOSPC. */
int scram_client_final(struct scram_client *st, const char *msg, size_t len, char *out, size_t outcap);
/* Checks server-final-message: 0 if the server proved it knows the password,
 * -EACCES otherwise (also for an "e=" error), -EINVAL if malformed. */
int scram_client_verify(struct scram_client *st, const char *msg, size_t len);

/*
 * For tests (RFC 7677 vectors): fixed nonces instead of random ones.  Call
 * after init and before the first message.  The client's user may be NULL
 * (PostgreSQL's empty n=); it must not hold ',' or '='.  0 or -EINVAL.
 */
int scram_server_set_nonce(struct scram_server *st, const char *nonce);
int scram_client_set_nonce(struct scram_client *st, const char *nonce, const char *user);

#endif
