/* tls.c - TLS over a memory BIO fed by the loop's recv completions and drained into its sends */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "worker.h"

#define TLS_PLAIN_MAX	16384		/* one record's plaintext: the largest inq buffer */
#define TLS_SEND_MAX	(64 * 1024)	/* plaintext encrypted into one send */
#define TLS_KEEP_HIGH	(64 * 1024)	/* ciphertext held undecrypted before recv pauses */
#define TLS_OUT_MIN	4096

/* PostgreSQL's ALPN protocol name, in wire form */
static const unsigned char alpn_pg[] = "\x0apostgresql";

struct tls_ctxs {
	SSL_CTX *accept;	/* toward clients; NULL: client_tls_sslmode = disable */
	SSL_CTX *connect;	/* toward servers; NULL: server_tls_sslmode = disable */
	int client_mode, server_mode;
	int server_neg;		/* enum tls_negotiation */
};

struct tls_worker {
	BIO_METHOD *meth;	/* the conn BIO: outlives every context */
	struct tls_ctxs *cur;	/* what new handshakes use */
};

enum tls_state {
	TS_ANSWER,		/* SSLRequest sent to PostgreSQL, its 'S' or 'N' awaited */
	TS_HANDSHAKE,
	TS_OPEN,
};

struct tls_conn {
	SSL *ssl;
	uint8_t state;
	bool direct;		/* the ClientHello came first, no SSLRequest: ALPN required */
	bool heard;		/* the peer sent something (connect side: direct refused?) */
	bool eof;		/* close_notify received: EOF once inq is used up */
	bool failed;
	bool shut_wanted, shut_sent;	/* close_notify after the last queued bytes */
	int mode;		/* server_tls_sslmode when it was started (connect side) */
	/* ciphertext in: the BIO reads from the view (in, in_len), which points
	 * into the recv buffer being handled or, between receives, into keep */
	const char *in;
	uint32_t in_len;
	char *keep;
	uint32_t keep_cap;
	/* ciphertext out: written by the BIO, handed whole to the next send */
	char *out;
	uint32_t out_len, out_cap;
	char *sending;
	uint32_t sending_cap;
	bool keep_out;		/* reuses out after a send: server conns, few and busy */
	struct iovec iov;
	const char *why;	/* the failure, for the owner's messages */
};

/* ---- the BIO: no socket, only the views above ---- */

static int bio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *t = BIO_get_data(b);
	uint32_t n;

	BIO_clear_retry_flags(b);
	if (!t->in_len) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = (uint32_t)len < t->in_len ? (uint32_t)len : t->in_len;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (int)n;
}

static bool out_add(struct tls_conn *t, const void *p, size_t len)
{
	if (len > UINT32_MAX - t->out_len)
		return false;
	if (t->out_len + len > t->out_cap) {
		size_t cap = t->out_cap ? t->out_cap : TLS_OUT_MIN;
		char *n;

		while (cap < t->out_len + len)
			cap *= 2;
		if (cap > UINT32_MAX || !(n = realloc(t->out, cap)))
			return false;
		t->out = n;
		t->out_cap = (uint32_t)cap;
	}
	memcpy(t->out + t->out_len, p, len);
	t->out_len += (uint32_t)len;
	return true;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len < 0 || !out_add(t, buf, (size_t)len))
		return -1;	/* out of memory: OpenSSL fails the call, we fail the conn */
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return t ? (long)t->in_len : 0;
	case BIO_CTRL_WPENDING:
		return t ? (long)t->out_len : 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgring conn");

	if (!m)
		return NULL;
	if (!BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* ---- parsing PgBouncer's values ---- */

int tls_sslmode_parse(const char *s)
{
	static const char *const names[] = {
		"disable", "allow", "prefer", "require", "verify-ca", "verify-full",
	};

	for (int i = 0; s && i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcasecmp(s, names[i]))
			return i;
	return -1;
}

static int proto_word(const char *w, size_t n, int *lo, int *hi)
{
	static const struct { const char *name; int lo, hi; } words[] = {
		{ "tlsv1.0", TLS1_VERSION, TLS1_VERSION },
		{ "tlsv1.1", TLS1_1_VERSION, TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
		{ "tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
		{ "all", TLS1_VERSION, TLS1_3_VERSION },
		{ "legacy", TLS1_VERSION, TLS1_3_VERSION },
		{ "secure", TLS1_2_VERSION, TLS1_3_VERSION },
		{ "default", TLS1_2_VERSION, TLS1_3_VERSION },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].name) == n && !strncasecmp(w, words[i].name, n)) {
			*lo = words[i].lo;
			*hi = words[i].hi;
			return 0;
		}
	}
	return -1;
}

int tls_protocols_parse(const char *s, int *min, int *max)
{
	int lo = 0, hi = 0;

	if (!s)
		s = "secure";
	while (*s) {
		size_t n;
		int a, b;

		s += strspn(s, " \t,:");
		n = strcspn(s, " \t,:");
		if (!n)
			break;
		if (proto_word(s, n, &a, &b) < 0)
			return -1;
		if (!lo || a < lo)
			lo = a;
		if (b > hi)
			hi = b;
		s += n;
	}
	if (!lo)
		return -1;
	*min = lo;
	*max = hi;
	return 0;
}

/* PgBouncer's cipher list keywords (libtls's), else OpenSSL's syntax */
static const char *cipher_list(const char *s)
{
	if (!s || !*s || !strcasecmp(s, "default") || !strcasecmp(s, "secure"))
		return "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20";
	if (!strcasecmp(s, "fast"))
		return "ECDHE+AESGCM";
	if (!strcasecmp(s, "normal"))
		return "HIGH:!aNULL:!MD5";
	if (!strcasecmp(s, "compat") || !strcasecmp(s, "legacy") || !strcasecmp(s, "insecure") ||
	    !strcasecmp(s, "all"))
		return "ALL:!aNULL:!eNULL";
	return s;
}

/* ---- contexts ---- */

static void ssl_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* err gets what failed, then OpenSSL's reason */
static void ssl_err(char *err, size_t errlen, const char *fmt, ...)
{
	char what[256], e[256];
	unsigned long code = ERR_get_error();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "unknown error");
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, e);
}

struct side_keys {
	const char *side;	/* "client" or "server" */
	int mode;
	const char *key, *cert, *ca, *protocols, *ciphers, *ciphers13;
	const char *ecdhcurve, *dheparams;	/* client side only */
};

static bool set_protocols(SSL_CTX *ctx, const struct side_keys *k, char *err, size_t errlen)
{
	int lo, hi;

	if (tls_protocols_parse(k->protocols, &lo, &hi) < 0) {
		snprintf(err, errlen, "%s_tls_protocols: invalid value \"%s\"", k->side, k->protocols);
		return false;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
		ssl_err(err, errlen, "%s_tls_protocols \"%s\"", k->side, k->protocols);
		return false;
	}
	return true;
}

static bool set_ciphers(SSL_CTX *ctx, const struct side_keys *k, char *err, size_t errlen)
{
	if (!SSL_CTX_set_cipher_list(ctx, cipher_list(k->ciphers))) {
		ssl_err(err, errlen, "%s_tls_ciphers \"%s\"", k->side, k->ciphers);
		return false;
	}
	if (k->ciphers13 && *k->ciphers13 && !SSL_CTX_set_ciphersuites(ctx, k->ciphers13)) {
		ssl_err(err, errlen, "%s_tls13_ciphers \"%s\"", k->side, k->ciphers13);
		return false;
	}
	return true;
}

static bool set_files(SSL_CTX *ctx, const struct side_keys *k, char *err, size_t errlen)
{
	bool have_key = k->key && *k->key, have_cert = k->cert && *k->cert;

	if (have_key != have_cert) {
		snprintf(err, errlen, "%s_tls_key_file and %s_tls_cert_file go together: only %s is set",
			 k->side, k->side, have_key ? k->key : k->cert);
		return false;
	}
	if (have_cert && SSL_CTX_use_certificate_chain_file(ctx, k->cert) != 1) {
		ssl_err(err, errlen, "%s_tls_cert_file %s", k->side, k->cert);
		return false;
	}
	if (have_key && SSL_CTX_use_PrivateKey_file(ctx, k->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		ssl_err(err, errlen, "%s_tls_key_file %s", k->side, k->key);
		return false;
	}
	if (have_key && SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s_tls_key_file %s does not match %s_tls_cert_file %s",
			 k->side, k->key, k->side, k->cert);
		return false;
	}
	if (k->ca && *k->ca && SSL_CTX_load_verify_locations(ctx, k->ca, NULL) != 1) {
		ssl_err(err, errlen, "%s_tls_ca_file %s", k->side, k->ca);
		return false;
	}
	return true;
}

static bool set_groups(SSL_CTX *ctx, const struct side_keys *k, char *err, size_t errlen)
{
	const char *c = k->ecdhcurve, *d = k->dheparams;

	if (c && *c && strcasecmp(c, "auto") && strcasecmp(c, "none") &&
	    SSL_CTX_set1_groups_list(ctx, !strcasecmp(c, "secure") ? "P-256:P-384" : c) != 1) {
		ssl_err(err, errlen, "client_tls_ecdhcurve \"%s\"", c);
		return false;
	}
	if (!d || !*d || !strcasecmp(d, "auto") || !strcasecmp(d, "legacy")) {
		if (SSL_CTX_set_dh_auto(ctx, 1) != 1) {
			ssl_err(err, errlen, "client_tls_dheparams \"%s\"", d ? d : "");
			return false;
		}
	} else if (strcasecmp(d, "none")) {
		snprintf(err, errlen, "client_tls_dheparams: invalid value \"%s\"", d);
		return false;
	}
	return true;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* as PostgreSQL: a client that offers ALPN must offer "postgresql" */
	if (SSL_select_next_proto((unsigned char **)out, outlen, alpn_pg, sizeof(alpn_pg) - 1,
				  in, inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *ctx_new(bool accept, const struct side_keys *k, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(accept ? TLS_server_method() : TLS_client_method());

	if (!ctx) {
		ssl_err(err, errlen, "%s TLS context", k->side);
		return NULL;
	}
	/* idle clients keep no record buffers: 46 -> 13.5 KiB each (notes/tls.md).
	 * Server conns are few (the pools) and busy: releasing costs them a
	 * malloc and free of ~17 KiB per record, each way. */
	if (accept)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (!set_protocols(ctx, k, err, errlen) || !set_ciphers(ctx, k, err, errlen) ||
	    !set_files(ctx, k, err, errlen))
		goto fail;
	if (accept) {
		/* libpq never resumes: tickets would only cost bytes and memory */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		if (SSL_CTX_set_num_tickets(ctx, 0) != 1) {
			ssl_err(err, errlen, "client TLS context: session tickets");
			goto fail;
		}
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
		if (!set_groups(ctx, k, err, errlen))
			goto fail;
		if (!k->key || !*k->key) {
			snprintf(err, errlen, "client_tls_sslmode needs client_tls_key_file and client_tls_cert_file");
			goto fail;
		}
		if (k->mode >= TLS_VERIFY_CA && (!k->ca || !*k->ca)) {
			snprintf(err, errlen, "client_tls_sslmode %s needs client_tls_ca_file",
				 k->mode == TLS_VERIFY_CA ? "verify-ca" : "verify-full");
			goto fail;
		}
		if (k->mode >= TLS_VERIFY_CA)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		else if (k->ca && *k->ca)	/* a certificate is asked for, for auth_type=cert */
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		if (SSL_CTX_set_alpn_protos(ctx, alpn_pg, sizeof(alpn_pg) - 1) != 0) {
			ssl_err(err, errlen, "server ALPN");
			goto fail;
		}
		if (k->mode >= TLS_VERIFY_CA) {
			if ((!k->ca || !*k->ca) && SSL_CTX_set_default_verify_paths(ctx) != 1) {
				ssl_err(err, errlen, "server_tls_ca_file: the system's CA store");
				goto fail;
			}
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_ctxs *tls_ctxs_build(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctxs *t = calloc(1, sizeof(*t));
	struct side_keys ck = {
		"client", cfg->client_tls_sslmode, cfg->client_tls_key_file,
		cfg->client_tls_cert_file, cfg->client_tls_ca_file, cfg->client_tls_protocols,
		cfg->client_tls_ciphers, cfg->client_tls13_ciphers, cfg->client_tls_ecdhcurve,
		cfg->client_tls_dheparams,
	};
	struct side_keys sk = {
		"server", cfg->server_tls_sslmode, cfg->server_tls_key_file,
		cfg->server_tls_cert_file, cfg->server_tls_ca_file, cfg->server_tls_protocols,
		cfg->server_tls_ciphers, cfg->server_tls13_ciphers, NULL, NULL,
	};

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->client_mode = cfg->client_tls_sslmode;
	t->server_mode = cfg->server_tls_sslmode;
	t->server_neg = cfg->server_tls_negotiation;
	/* as libpq refuses sslnegotiation=direct with a weaker sslmode: with
	 * no SSLRequest there is no 'N' to fall back to plaintext on */
	if (t->server_neg == TLS_NEG_DIRECT && t->server_mode < TLS_REQUIRE) {
		snprintf(err, errlen, "server_tls_negotiation = direct needs server_tls_sslmode "
			 "require, verify-ca or verify-full (it is %s)",
			 t->server_mode == TLS_DISABLE ? "disable" :
			 t->server_mode == TLS_ALLOW ? "allow" : "prefer");
		tls_ctxs_free(t);
		return NULL;
	}
	if ((t->client_mode != TLS_DISABLE && !(t->accept = ctx_new(true, &ck, err, errlen))) ||
	    (t->server_mode != TLS_DISABLE && !(t->connect = ctx_new(false, &sk, err, errlen)))) {
		tls_ctxs_free(t);
		return NULL;
	}
	return t;
}

void tls_ctxs_free(struct tls_ctxs *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->accept);	/* live SSLs hold references of their own */
	SSL_CTX_free(t->connect);
	free(t);
}

int tls_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct tls_worker *tw = calloc(1, sizeof(*tw));

	if (!tw || !(tw->meth = bio_method())) {
		free(tw);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->tls = tw;
	if (!(tw->cur = tls_ctxs_build(w->cfg, err, errlen)))
		return -1;
	return 0;
}

int tls_worker_reload(struct worker *w, const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctxs *n = tls_ctxs_build(cfg, err, errlen);

	if (!n)
		return -1;
	tls_ctxs_free(w->tls->cur);
	w->tls->cur = n;
	return 0;
}

void tls_worker_free(struct worker *w)
{
	if (!w->tls)
		return;
	tls_ctxs_free(w->tls->cur);
	BIO_meth_free(w->tls->meth);
	free(w->tls);
	w->tls = NULL;
}

int tls_client_sslmode(const struct worker *w)
{
	return w->tls && w->tls->cur ? w->tls->cur->client_mode : TLS_DISABLE;
}

int tls_server_sslmode(const struct worker *w)
{
	return w->tls && w->tls->cur ? w->tls->cur->server_mode : TLS_DISABLE;
}

/* ---- per conn ---- */

static const char *side_name(const struct conn *c)
{
	return c->is_server ? "server" : "client";
}

static void fail_deferred(void *arg)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	if (c->close_after_send)	/* its owner is done with it already */
		conn_close(c);
	else
		c->ops->on_eof(c, -EPROTO);
}

/*
 * The conn goes, with a log line saying why; from the end of the turn, as
 * the caller may be deep in the peer's processing.  What OpenSSL wrote
 * (an alert) is dropped with the conn: the close tells the peer enough.
 */
static void tls_fail(struct conn *c, const char *what)
{
	struct tls_conn *t = c->tls;
	unsigned long code = ERR_get_error();
	char e[256] = "";
	long vr = t && t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;

	if (!t || t->failed || c->closing)
		return;
	t->failed = true;
	t->why = what;
	c->send_failed = true;
	c->want_recv = false;
	if (vr != X509_V_OK)
		snprintf(e, sizeof(e), ": certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
	else if (code)
		ERR_error_string_n(code, e + 2, sizeof(e) - 2), e[0] = ':', e[1] = ' ';
	ERR_clear_error();
	log_warning(c->w->log, "%s connection %llu: TLS: %s%s", side_name(c),
		    (unsigned long long)c->id, what, e);
	if (loop_defer(c->w->loop, fail_deferred, c) < 0)
		fail_deferred(c);
}

static struct tls_conn *tls_new(struct conn *c, SSL_CTX *ctx)
{
	struct tls_conn *t = calloc(1, sizeof(*t));
	BIO *bio;

	if (!t)
		return NULL;
	if (!(t->ssl = SSL_new(ctx)) || !(bio = BIO_new(c->w->tls->meth))) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	return t;
}

static void tls_free_t(struct tls_conn *t)
{
	SSL_free(t->ssl);
	free(t->keep);
	free(t->out);
	free(t->sending);
	free(t);
}

int tls_accept(struct conn *c, const char *prefix, size_t n, bool direct)
{
	struct tls_ctxs *x = c->w->tls ? c->w->tls->cur : NULL;
	struct tls_conn *t;

	if (!x || !x->accept || c->tls)
		return -1;
	if (!(t = tls_new(c, x->accept)) || (n && !out_add(t, prefix, n))) {
		if (t)
			tls_free_t(t);
		log_error(c->w->log, "client connection %llu: TLS: out of memory", (unsigned long long)c->id);
		return -1;
	}
	SSL_set_accept_state(t->ssl);
	t->state = TS_HANDSHAKE;
	t->direct = direct;
	c->tls = t;
	conn_flush_soon(c);
	return 0;
}

static bool is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static bool set_peer_name(struct tls_conn *t, const char *host)
{
	if (!host || !*host || host[0] == '/')
		return t->mode < TLS_VERIFY_FULL;
	if (is_ip(host)) {
		return t->mode < TLS_VERIFY_FULL ||
		       X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1;
	}
	if (SSL_set_tlsext_host_name(t->ssl, host) != 1)
		return false;
	return t->mode < TLS_VERIFY_FULL || SSL_set1_host(t->ssl, host) == 1;
}

/* server_tls_negotiation = direct: the ClientHello is the first thing
 * PostgreSQL 17+ gets, with ALPN postgresql (set on the context) */
static int start_direct(struct conn *c, struct tls_conn *t)
{
	int r = SSL_do_handshake(t->ssl);
	char e[512];

	t->direct = true;
	t->state = TS_HANDSHAKE;
	if (r <= 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ && t->out_len)
		return 0;
	ssl_err(e, sizeof(e), "could not start the direct handshake");
	log_error(c->w->log, "server connection %llu: TLS: %s", (unsigned long long)c->id, e);
	return -1;
}

int tls_connect(struct conn *c, const char *host)
{
	struct tls_ctxs *x = c->w->tls ? c->w->tls->cur : NULL;
	static const uint8_t sslreq[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	struct tls_conn *t;

	if (!x || !x->connect || c->tls)
		return -1;
	if (!(t = tls_new(c, x->connect)))
		goto oom;
	t->mode = x->server_mode;
	t->keep_out = true;
	SSL_set_connect_state(t->ssl);
	if (!set_peer_name(t, host)) {
		ERR_clear_error();
		log_error(c->w->log, "server connection %llu: TLS: cannot check host name \"%s\"",
			  (unsigned long long)c->id, host ? host : "");
		tls_free_t(t);
		return -1;
	}
	if (x->server_neg == TLS_NEG_DIRECT) {
		if (start_direct(c, t) < 0) {
			tls_free_t(t);
			return -1;
		}
	} else if (!out_add(t, sslreq, sizeof(sslreq))) {
		goto oom;
	} else {
		t->state = TS_ANSWER;
	}
	c->tls = t;
	conn_flush_soon(c);
	return 0;
oom:
	if (t)
		tls_free_t(t);
	log_error(c->w->log, "server connection %llu: TLS: out of memory", (unsigned long long)c->id);
	return -1;
}

/* PostgreSQL's one-byte answer to our SSLRequest */
static bool answer(struct conn *c)
{
	struct tls_conn *t = c->tls;
	char ch;

	if (!t->in_len)
		return false;
	ch = *t->in++;
	t->in_len--;
	/* a byte after it was not encrypted, and may come from a man in the
	 * middle (CVE-2021-23222): refused */
	if (t->in_len && (ch == 'S' || ch == 'N')) {
		tls_fail(c, "server sent unencrypted data after its SSL response");
		return false;
	}
	if (ch == 'S') {
		t->state = TS_HANDSHAKE;
		return true;
	}
	if (ch == 'N' && t->mode < TLS_REQUIRE) {
		tls_free_t(t);
		c->tls = NULL;
		if (c->ops->on_tls)
			c->ops->on_tls(c);
		return false;
	}
	tls_fail(c, ch == 'N' ? "server refused SSL (server_tls_sslmode requires it)" :
		 "server answered the SSLRequest with neither S nor N");
	return false;
}

static bool handshake_done(struct conn *c)
{
	struct tls_conn *t = c->tls;
	const unsigned char *alpn = NULL;
	unsigned alen = 0;

	t->state = TS_OPEN;
	SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
	if (t->direct && !alen) {	/* libpq's and PostgreSQL's words */
		tls_fail(c, c->is_server ?
			 "direct SSL connection was established without ALPN protocol negotiation extension" :
			 "received direct SSL connection request without ALPN protocol negotiation extension");
		return false;
	}
	if (c->is_server && c->ops->on_tls)
		c->ops->on_tls(c);
	return !c->closing && c->tls && !t->failed;
}

static bool handshake(struct conn *c)
{
	struct tls_conn *t = c->tls;
	int r = SSL_do_handshake(t->ssl);

	if (r == 1)
		return handshake_done(c);
	if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
		tls_fail(c, "handshake failed");
	return false;
}

/* Plaintext into heap buffers on inq, up to what stops recv */
static void decrypt(struct conn *c)
{
	struct tls_conn *t = c->tls;

	while (c->inq_n < INQ_HIGH_BUFS && !t->eof && !t->failed) {
		size_t avail = t->in_len + (size_t)SSL_pending(t->ssl);
		size_t cap = avail < TLS_PLAIN_MAX ? avail : TLS_PLAIN_MAX;
		struct loop_buf *b;
		int r = 1, e = SSL_ERROR_NONE;

		if (!avail)
			return;
		if (!(b = loop_buf_heap(cap))) {
			tls_fail(c, "out of memory for plaintext");
			return;
		}
		/* no call past the last record: it would only answer WANT_READ,
		 * through the whole record layer */
		while (b->len < cap && (r = SSL_read(t->ssl, b->data + b->len,
						      (int)(cap - b->len))) > 0) {
			b->len += (uint32_t)r;
			if (!t->in_len && !SSL_has_pending(t->ssl))
				break;
		}
		if (r <= 0)
			e = SSL_get_error(t->ssl, r);
		if (b->len)
			conn_inq_append(c, b);
		else
			loop_buf_put(c->w->loop, b);
		if (e == SSL_ERROR_ZERO_RETURN)
			t->eof = true;
		else if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
			tls_fail(c, "could not decrypt");
		if (r <= 0)
			return;
	}
}

static void pump(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t->failed)
		return;
	if (t->state == TS_ANSWER && !answer(c))
		return;
	if (t->state == TS_HANDSHAKE && !handshake(c)) {
		if (c->tls && c->tls->out_len && !c->tls->failed)
			conn_flush_soon(c);
		return;
	}
	decrypt(c);
	if (t->out_len && !t->failed)
		conn_flush_soon(c);	/* post-handshake messages, KeyUpdate answers */
}

/* Keeps what is left of the view (in the recv buffer) in keep, so that the
 * buffer can go back to the pool */
static bool stash(struct tls_conn *t)
{
	if (!t->in_len)
		return true;
	if (t->in_len > t->keep_cap) {
		char *n = malloc(t->in_len);

		if (!n)
			return false;
		free(t->keep);
		t->keep = n;
		t->keep_cap = t->in_len;
	}
	memcpy(t->keep, t->in, t->in_len);
	t->in = t->keep;
	return true;
}

/* New ciphertext after what keep holds, in one piece the BIO can read */
static bool keep_append(struct tls_conn *t, const char *p, uint32_t n)
{
	uint32_t have = t->in_len;

	if (have + (uint64_t)n > UINT32_MAX)
		return false;
	if (have + n > t->keep_cap) {
		size_t cap = (size_t)(have + n) * 2;
		char *k = malloc(cap);

		if (!k)
			return false;
		memcpy(k, t->in, have);
		free(t->keep);
		t->keep = k;
		t->keep_cap = (uint32_t)cap;
	} else if (t->in != t->keep) {
		memmove(t->keep, t->in, have);
	}
	memcpy(t->keep + have, p, n);
	t->in = t->keep;
	t->in_len = have + n;
	return true;
}

/* An idle conn keeps no ciphertext buffer */
static void keep_trim(struct tls_conn *t)
{
	if (!t->in_len && t->keep) {
		free(t->keep);
		t->keep = NULL;
		t->keep_cap = 0;
		t->in = NULL;
	}
}

void tls_on_recv(struct conn *c, struct loop_buf *b)
{
	struct tls_conn *t = c->tls;
	bool ok = true;

	if (t->failed) {
		loop_buf_put(c->w->loop, b);
		return;
	}
	t->heard = true;
	if (t->in_len) {
		ok = keep_append(t, b->data, b->len);
		loop_buf_put(c->w->loop, b);
		if (!ok) {
			tls_fail(c, "out of memory for ciphertext");
			return;
		}
		pump(c);
	} else {
		t->in = b->data;
		t->in_len = b->len;
		pump(c);
		if (c->tls == t)	/* not dropped after PostgreSQL's 'N' */
			ok = stash(t);
		loop_buf_put(c->w->loop, b);
		if (!ok) {
			t->in_len = 0;
			tls_fail(c, "out of memory for ciphertext");
			return;
		}
	}
	if (c->tls == t)
		keep_trim(t);
}

bool tls_pump(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (!c->inq_head && !t->failed && t->state == TS_OPEN) {
		if (t->in_len || SSL_has_pending(t->ssl))
			pump(c);
		keep_trim(t);
		if (!c->inq_head && t->eof && !c->closing) {
			c->ops->on_eof(c, 0);
			return false;
		}
	}
	return c->inq_head != NULL && !c->closing;
}

struct iovec *tls_encrypt(struct conn *c, unsigned *nents)
{
	struct tls_conn *t = c->tls;
	unsigned n = 0;
	size_t bytes = 0;

	*nents = 0;
	if (t->failed || t->sending)
		return NULL;
	while (t->state == TS_OPEN && n < c->out_n && bytes < TLS_SEND_MAX) {
		const struct out_ent *e = conn_out_ent(c, n);

		if (SSL_write(t->ssl, e->buf->data + e->off, (int)e->len) != (int)e->len) {
			tls_fail(c, "could not encrypt");
			return NULL;
		}
		bytes += e->len;
		n++;
	}
	if (t->shut_wanted && !t->shut_sent && n == c->out_n && t->state == TS_OPEN) {
		t->shut_sent = true;
		if (SSL_shutdown(t->ssl) < 0)
			ERR_clear_error();	/* the TCP close follows anyway */
	}
	if (!t->out_len)
		return NULL;
	t->sending = t->out;
	t->sending_cap = t->out_cap;
	t->iov.iov_base = t->out;
	t->iov.iov_len = t->out_len;
	t->out = NULL;
	t->out_len = t->out_cap = 0;
	*nents = n;
	return &t->iov;
}

void tls_sent(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t->keep_out && !t->out && t->sending_cap <= TLS_KEEP_HIGH) {
		t->out = t->sending;
		t->out_cap = t->sending_cap;
	} else {
		free(t->sending);
	}
	t->sending = NULL;
}

bool tls_out_pending(const struct conn *c)
{
	const struct tls_conn *t = c->tls;

	return t && !t->failed && (t->out_len || (t->state == TS_OPEN && (c->out_n > c->out_inflight ||
							       (t->shut_wanted && !t->shut_sent))));
}

bool tls_in_full(const struct conn *c)
{
	return c->tls && c->tls->in_len >= TLS_KEEP_HIGH;
}

/*
 * The last bytes of a conn about to close (a server's Terminate), with the
 * close_notify after them, encrypted and handed to the socket at once:
 * only when nothing else is on its way out, as conn_send_last does in
 * clear text.  Raw bytes in a TLS stream would be a bad record to the peer.
 */
bool tls_send_last(struct conn *c, const void *p, size_t len)
{
	struct tls_conn *t = c->tls;
	ssize_t n;

	if (t->failed || t->state != TS_OPEN || t->sending || t->out_len || t->shut_sent ||
	    len > INT32_MAX)
		return false;
	if (SSL_write(t->ssl, p, (int)len) != (int)len) {
		ERR_clear_error();
		t->out_len = 0;
		return false;
	}
	t->shut_wanted = t->shut_sent = true;
	if (SSL_shutdown(t->ssl) < 0)
		ERR_clear_error();	/* the Terminate is what matters */
	n = send(c->sock.fd, t->out, t->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n != (ssize_t)t->out_len) {
		t->failed = true;	/* a record cut short: nothing more can follow */
		t->out_len = 0;
		return false;
	}
	t->out_len = 0;
	return true;
}

void tls_close_notify(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t && !t->failed && t->state == TS_OPEN)
		t->shut_wanted = true;
}

void tls_conn_free(struct conn *c)
{
	if (!c->tls)
		return;
	tls_free_t(c->tls);
	c->tls = NULL;
}

const char *tls_error(const struct conn *c)
{
	return c->tls ? c->tls->why : NULL;
}

/*
 * A server before PostgreSQL 17 reads a ClientHello as a startup packet of
 * absurd length and hangs up without a word (PostgreSQL 17 without ssl on
 * hangs up too): that, not a network fault, is what a direct handshake
 * closed before any answer means.
 */
const char *tls_direct_refused(const struct conn *c)
{
	const struct tls_conn *t = c->tls;

	if (!t || !c->is_server || !t->direct || t->heard || t->state != TS_HANDSHAKE)
		return NULL;
	return "server closed the connection on the direct TLS handshake: "
	       "server_tls_negotiation = direct needs PostgreSQL 17 or later, with ssl = on";
}

/* ---- what others may ask ---- */

bool tls_active(const struct conn *c)
{
	return c->tls && c->tls->state == TS_OPEN && !c->tls->failed;
}

void tls_info(const struct conn *c, char *buf, size_t len)
{
	const struct tls_conn *t = c->tls;
	int nid;

	if (!len)
		return;
	buf[0] = '\0';
	if (!tls_active(c))
		return;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	nid = SSL_get_negotiated_group(t->ssl);
#else
	nid = 0;
#endif
	if (nid > 0 && OBJ_nid2sn(nid & ~TLSEXT_nid_unknown))
		snprintf(buf, len, "%s/%s/ECDH=%s", SSL_get_version(t->ssl),
			 SSL_get_cipher_name(t->ssl), OBJ_nid2sn(nid & ~TLSEXT_nid_unknown));
	else
		snprintf(buf, len, "%s/%s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
}

bool tls_peer_cn(const struct conn *c, char *buf, size_t len)
{
	X509 *cert;
	int n = -1;

	if (!tls_active(c) || !len || SSL_get_verify_result(c->tls->ssl) != X509_V_OK)
		return false;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(c->tls->ssl);
#else
	cert = SSL_get_peer_certificate(c->tls->ssl);
#endif
	if (!cert)
		return false;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len);
	X509_free(cert);
	return n > 0 && (size_t)n < len;
}

/*
 * RFC 5929's tls-server-end-point: the hash of the certificate this side
 * presented, with its signature's hash (SHA-256 for MD5 and SHA-1).  The
 * length, or -1 (no TLS, no certificate, or an unknown signature).
 */
int tls_server_end_point(const struct conn *c, uint8_t *out, size_t cap)
{
	X509 *cert;
	const EVP_MD *md;
	int nid = NID_undef;
	unsigned len = 0;

	if (!tls_active(c) || !(cert = SSL_get_certificate(c->tls->ssl)))
		return -1;
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &nid, NULL))
		return -1;
	if (nid == NID_md5 || nid == NID_sha1)
		nid = NID_sha256;
	md = EVP_get_digestbynid(nid);
	if (!md || (size_t)EVP_MD_size(md) > cap || X509_digest(cert, md, out, &len) != 1) {
		ERR_clear_error();
		return -1;
	}
	return (int)len;
}
