/* tls.h - the TLS transport: OpenSSL over a conn's own recv completions and send queue */
#ifndef PGRING_TLS_H
#define PGRING_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct conn;
struct worker;
struct loop_buf;
struct iovec;

/*
 * A conn is plain TCP (c->tls == NULL: today's zero-copy slices) or carries
 * a struct tls_conn.  Then recv completions hand ciphertext to OpenSSL
 * through a memory BIO of pgring's own (no copy unless a record straddles
 * two receives), plaintext comes out in heap buffers on the conn's inq, and
 * conn_flush encrypts queued slices into one buffer per send.  No extra
 * system call: OpenSSL never touches the socket.
 */

/* The contexts built from a config snapshot (immutable once built; shared
 * by every conn started while it is the worker's current one). */
struct tls_ctxs;

/* Builds what cfg's client_tls_* / server_tls_* keys ask for: NULL with err
 * naming the key and file on any error (a missing, unreadable or bad file,
 * a key not matching its certificate, an unknown protocol or cipher). */
struct tls_ctxs *tls_ctxs_build(const struct config *cfg, char *err, size_t errlen);
void tls_ctxs_free(struct tls_ctxs *t);

/* The worker's TLS state: start-up (fatal on error) and reload (the old
 * contexts stay on error; live conns keep theirs either way).  0 or -1. */
int tls_worker_init(struct worker *w, char *err, size_t errlen);
int tls_worker_reload(struct worker *w, const struct config *cfg, char *err, size_t errlen);
void tls_worker_free(struct worker *w);

/* client_tls_sslmode / server_tls_sslmode in force (enum tls_sslmode) */
int tls_client_sslmode(const struct worker *w);
int tls_server_sslmode(const struct worker *w);

/* Parses an sslmode name as PgBouncer does; -1 if unknown (tests) */
int tls_sslmode_parse(const char *s);
/* PgBouncer's tls_protocols: a list of tlsv1.0..tlsv1.3, all, secure,
 * legacy; *min and *max get TLS1_x_VERSION.  -1 if a word is unknown. */
int tls_protocols_parse(const char *s, int *min, int *max);

/* ---- per conn ---- */

/* Answers the client's SSLRequest with prefix (the 'S') and starts the
 * handshake; direct: the client sent a ClientHello first (ALPN required).
 * -1 (logged) when no conn can be made: the caller closes c. */
int tls_accept(struct conn *c, const char *prefix, size_t n, bool direct);
/* Sends PostgreSQL an SSLRequest (server_tls_negotiation = direct: the
 * ClientHello at once); its answer decides: c->ops->on_tls is called once
 * TLS is up, or once PostgreSQL said 'N' and sslmode let plaintext go on
 * (c->tls is then NULL).  host: for verify-full and SNI. */
int tls_connect(struct conn *c, const char *host);

/* conn.c's hooks */
void tls_on_recv(struct conn *c, struct loop_buf *b);	/* takes b's reference */
bool tls_pump(struct conn *c);		/* decrypts into inq; true if inq has bytes */
/* Encrypts queued slices (at most a send's worth) with what OpenSSL has
 * to say: the iovec to send and, in *nents, the slices it covers; NULL if
 * nothing is to be sent (or c failed) */
struct iovec *tls_encrypt(struct conn *c, unsigned *nents);
void tls_sent(struct conn *c);		/* the send completed */
bool tls_out_pending(const struct conn *c);	/* ciphertext waiting to be sent */
bool tls_in_full(const struct conn *c);	/* enough ciphertext held: pause recv */
void tls_close_notify(struct conn *c);	/* queues close_notify before a close */
/* conn_send_last over TLS: len bytes and close_notify, sent now or not at all */
bool tls_send_last(struct conn *c, const void *p, size_t len);
void tls_conn_free(struct conn *c);
/* why c failed in TLS, for the owner's message; NULL if it did not */
const char *tls_error(const struct conn *c);
/* the server hung up on a direct ClientHello without a byte (it predates
 * PostgreSQL 17): why, for the owner's message; NULL otherwise */
const char *tls_direct_refused(const struct conn *c);

/* ---- what the rest of pgring may ask ---- */

/* TLS is up on c (the handshake finished) */
bool tls_active(const struct conn *c);
/* PgBouncer's `tls` column and log text: "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519";
 * "" without TLS */
void tls_info(const struct conn *c, char *buf, size_t len);
/* RFC 5929 tls-server-end-point data of the certificate c presented (client
 * side: pgring's), for SCRAM-SHA-256-PLUS: its length, or -1 */
int tls_server_end_point(const struct conn *c, uint8_t *out, size_t cap);
/* The client certificate's CN, verified: false if none */
bool tls_peer_cn(const struct conn *c, char *buf, size_t len);

#endif
