/* gen_corpus.c - writes the fuzzers' seed corpora from real protocol messages,
 * built with proto.c's builders and auth.c's SCRAM (the same code pgring
 * speaks with), so the seeds reach deep into each parser.
 *
 * Usage: gen_corpus DIR   (writes DIR/frontend, DIR/backend, DIR/scram,
 * DIR/config and DIR/userlist; fuzz/run.sh --seeds regenerates fuzz/corpus) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "auth.h"
#include "proto.h"

static const char *out_dir;

static void put(const char *corpus, const char *name, const void *data, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, corpus);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, corpus, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A seed of the frontend/backend harnesses: control bytes, then the stream. */
static void put_stream(const char *corpus, const char *name, const uint8_t *ctl, size_t nctl,
		       const struct pktbuf *pb)
{
	uint8_t buf[65536];

	if (pb->failed || nctl + pb->len > sizeof(buf))
		exit(1);
	memcpy(buf, ctl, nctl);
	memcpy(buf + nctl, pb->data, pb->len);
	put(corpus, name, buf, nctl + pb->len);
}

static void must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "gen_corpus: %s failed (%d)\n", what, r);
		exit(1);
	}
}

static const uint8_t ck[SCRAM_KEY_LEN] = "client-key-client-key-client-ke";
static const uint8_t sk[SCRAM_KEY_LEN] = "server-key-server-key-server-ke";

/* A verifier whose keys are ck/sk: a client holding only the keys can log in. */
static void keys_secret(struct secret *sec)
{
	memset(sec, 0, sizeof(*sec));
	sec->kind = SECRET_SCRAM;
	sec->iterations = 4096;
	memcpy(sec->salt, "pgring-fuzzsalt", 16);
	sec->salt_len = 16;
	EVP_Digest(ck, SCRAM_KEY_LEN, sec->stored_key, NULL, EVP_sha256(), NULL);
	memcpy(sec->server_key, sk, SCRAM_KEY_LEN);
}

struct exchange {
	char cfirst[512], sfirst[512], cfinal[512], sfinal[512];
	int ncf, nsf, ncfin, nsfin;
};

/* One whole SCRAM exchange between auth.c's client and server. */
static void scram_run(struct scram_client *cl, const struct secret *sec, const char *snonce,
		      struct exchange *x)
{
	struct scram_server sv;

	must(scram_server_init(&sv, sec, 4096), "server init");
	must(scram_server_set_nonce(&sv, snonce), "server nonce");
	must(x->ncf = scram_client_first(cl, x->cfirst, sizeof(x->cfirst)), "client first");
	must(x->nsf = scram_server_first(&sv, x->cfirst, (size_t)x->ncf, x->sfirst,
					 sizeof(x->sfirst)), "server first");
	must(x->ncfin = scram_client_final(cl, x->sfirst, (size_t)x->nsf, x->cfinal,
					   sizeof(x->cfinal)), "client final");
	must(x->nsfin = scram_server_final(&sv, x->cfinal, (size_t)x->ncfin, x->sfinal,
					   sizeof(x->sfinal)), "server final");
	must(scram_client_verify(cl, x->sfinal, (size_t)x->nsfin), "client verify");
}

static void startup(struct pktbuf *pb, const char *user, const char *db)
{
	pkt_begin(pb, 0);
	pkt_u32(pb, PROTO_V3);
	pkt_str(pb, "user");
	pkt_str(pb, user);
	if (db) {
		pkt_str(pb, "database");
		pkt_str(pb, db);
	}
	pkt_str(pb, "application_name");
	pkt_str(pb, "psql");
	pkt_str(pb, "client_encoding");
	pkt_str(pb, "UTF8");
	pkt_u8(pb, 0);
	pkt_end(pb);
}

/* The extended protocol as libpq's PQexecParams sends it, then a simple query. */
static void queries(struct pktbuf *pb)
{
	pkt_begin(pb, 'P');
	pkt_str(pb, "s1");
	pkt_str(pb, "SELECT $1::int");
	pkt_u16(pb, 1);
	pkt_u32(pb, 23);
	pkt_end(pb);
	pkt_begin(pb, 'B');
	pkt_str(pb, "");
	pkt_str(pb, "s1");
	pkt_u16(pb, 1);
	pkt_u16(pb, 0);
	pkt_u16(pb, 1);
	pkt_u32(pb, 2);
	pkt_bytes(pb, "42", 2);
	pkt_u16(pb, 1);
	pkt_u16(pb, 0);
	pkt_end(pb);
	pkt_begin(pb, 'D');
	pkt_u8(pb, 'P');
	pkt_str(pb, "");
	pkt_end(pb);
	pkt_begin(pb, 'E');
	pkt_str(pb, "");
	pkt_u32(pb, 0);
	pkt_end(pb);
	pkt_begin(pb, 'C');
	pkt_u8(pb, 'S');
	pkt_str(pb, "s1");
	pkt_end(pb);
	pkt_begin(pb, 'S');
	pkt_end(pb);
	pkt_query(pb, "SELECT 1");
	pkt_begin(pb, 'd');
	pkt_bytes(pb, "1\t2\n", 4);
	pkt_end(pb);
	pkt_begin(pb, 'c');
	pkt_end(pb);
	pkt_terminate(pb);
}

static void frontend(void)
{
	static const uint8_t plain[2] = { 0x80, 0x00 }, md5[2] = { 0x80, 0x11 },
		scram[2] = { 0x80, 0x02 }, pieces[2] = { 0x02, 0x02 },
		small_max[2] = { 0x80, 0x08 };
	struct scram_client cl;
	struct exchange x;
	struct secret ver;
	struct pktbuf pb;
	char hash[MD5_PASSWD_LEN + 1], resp[MD5_PASSWD_LEN + 1];

	pkt_init(&pb);
	startup(&pb, "u", "db");
	pkt_password(&pb, "pw_secret");
	queries(&pb);
	put_stream("frontend", "plain-login-queries", plain, 2, &pb);
	put_stream("frontend", "plain-login-small-max", small_max, 2, &pb);

	pkt_reset(&pb);
	startup(&pb, "u", NULL);
	auth_md5_hash("pw_secret", "u", hash);
	auth_md5_salted(hash, (const uint8_t *)"salt", resp);
	pkt_password(&pb, resp);
	pkt_query(&pb, "BEGIN; SELECT 1; COMMIT");
	pkt_terminate(&pb);
	put_stream("frontend", "md5-login", md5, 2, &pb);

	/* SCRAM with the harness's verifier and server nonce */
	must(auth_scram_verifier("pw_secret", (const uint8_t *)"pgring-fuzzsalt", 16, 1, &ver),
	     "verifier");
	scram_client_init_password(&cl, "pw_secret");
	must(scram_client_set_nonce(&cl, "rOprNGfwEbeRWgbNEkqO", NULL), "client nonce");
	scram_run(&cl, &ver, "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF", &x);
	pkt_reset(&pb);
	startup(&pb, "u", "db");
	pkt_sasl_initial(&pb, "SCRAM-SHA-256", x.cfirst, (size_t)x.ncf);
	pkt_sasl_response(&pb, x.cfinal, (size_t)x.ncfin);
	queries(&pb);
	put_stream("frontend", "scram-login-queries", scram, 2, &pb);
	put_stream("frontend", "scram-login-pieces", pieces, 2, &pb);

	/* SSLRequest, then a startup packet; a CancelRequest; a GSSENCRequest */
	pkt_reset(&pb);
	pkt_begin(&pb, 0);
	pkt_u32(&pb, PROTO_SSL_CODE);
	pkt_end(&pb);
	startup(&pb, "u", "db");
	pkt_password(&pb, "pw_secret");
	pkt_terminate(&pb);
	put_stream("frontend", "ssl-request", plain, 2, &pb);
	pkt_reset(&pb);
	pkt_cancel(&pb, 1234, 0xdeadbeef);
	put_stream("frontend", "cancel-request", plain, 2, &pb);
	pkt_reset(&pb);
	pkt_begin(&pb, 0);
	pkt_u32(&pb, PROTO_GSSENC_CODE);
	pkt_end(&pb);
	put_stream("frontend", "gssenc-request", plain, 2, &pb);
	pkt_free(&pb);
}

static void backend(void)
{
	static const uint8_t whole[1] = { 0x80 }, pieces[1] = { 0x03 };
	static const char mechs[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	static const char *names[2] = { "id", "name" };
	static const uint32_t oids[2] = { 20, 25 };
	const char *row[2] = { "1", NULL };
	struct scram_client cl;
	struct exchange x;
	struct secret sec;
	struct pktbuf pb;

	keys_secret(&sec);
	scram_client_init_keys(&cl, ck, sk);
	must(scram_client_set_nonce(&cl, "fyko+d2lbbFgONRv9qkxdawL", NULL), "client nonce");
	scram_run(&cl, &sec, "3rfcNHYJY1ZVvWVs7j", &x);

	pkt_init(&pb);
	pkt_auth(&pb, 10, mechs, sizeof(mechs));
	pkt_auth(&pb, 11, x.sfirst, (size_t)x.nsf);
	pkt_auth(&pb, 12, x.sfinal, (size_t)x.nsfin);
	pkt_auth(&pb, 0, NULL, 0);
	pkt_param_status(&pb, "server_version", "15.8");
	pkt_param_status(&pb, "client_encoding", "UTF8");
	pkt_param_status(&pb, "DateStyle", "ISO, MDY");
	pkt_backend_key(&pb, 4242, 0x01020304);
	pkt_ready(&pb, 'I');
	pkt_row_desc(&pb, names, oids, 2);
	pkt_data_row(&pb, row, 2);
	pkt_command_complete(&pb, "SELECT 1");
	pkt_notice(&pb, "00000", "there is no transaction in progress");
	pkt_ready(&pb, 'T');
	pkt_begin(&pb, 'H');	/* CopyOutResponse, 2 text columns */
	pkt_u8(&pb, 0);
	pkt_u16(&pb, 2);
	pkt_u16(&pb, 0);
	pkt_u16(&pb, 0);
	pkt_end(&pb);
	pkt_begin(&pb, 'd');
	pkt_bytes(&pb, "1\tx\n", 4);
	pkt_end(&pb);
	pkt_begin(&pb, 'c');
	pkt_end(&pb);
	pkt_begin(&pb, 'A');
	pkt_u32(&pb, 4242);
	pkt_str(&pb, "chan");
	pkt_str(&pb, "payload");
	pkt_end(&pb);
	pkt_error(&pb, "ERROR", "42P01", "relation \"nope\" does not exist");
	pkt_ready(&pb, 'E');
	put_stream("backend", "scram-login-results", whole, 1, &pb);
	put_stream("backend", "scram-login-pieces", pieces, 1, &pb);

	pkt_reset(&pb);
	pkt_auth(&pb, 5, "abcd", 4);
	pkt_auth(&pb, 0, NULL, 0);
	pkt_param_status(&pb, "TimeZone", "UTC");
	pkt_backend_key(&pb, 1, 2);
	pkt_ready(&pb, 'I');
	pkt_begin(&pb, 't');
	pkt_u16(&pb, 1);
	pkt_u32(&pb, 23);
	pkt_end(&pb);
	pkt_begin(&pb, '1');
	pkt_end(&pb);
	pkt_begin(&pb, '2');
	pkt_end(&pb);
	pkt_begin(&pb, 'n');
	pkt_end(&pb);
	pkt_error(&pb, "FATAL", "57P01", "terminating connection due to administrator command");
	put_stream("backend", "md5-login-terminated", whole, 1, &pb);

	pkt_reset(&pb);
	pkt_error(&pb, "FATAL", "28P01", "password authentication failed for user \"u\"");
	put_stream("backend", "login-error", whole, 1, &pb);
	pkt_free(&pb);
}

static void scram(void)
{
	struct scram_client a, b;
	struct exchange xa, xb;
	struct secret ver, sec;
	char buf[4096];
	size_t n = 0;

	/* as the harness: the server side holds "pencil" (1 round), the
	 * client side the keys ck/sk */
	must(auth_scram_verifier("pencil", (const uint8_t *)"pgring-fuzzsalt", 16, 1, &ver),
	     "verifier");
	scram_client_init_password(&a, "pencil");
	must(scram_client_set_nonce(&a, "rOprNGfwEbeRWgbNEkqO", NULL), "nonce");
	scram_run(&a, &ver, "3rfcNHYJY1ZVvWVs7j", &xa);
	keys_secret(&sec);
	scram_client_init_keys(&b, ck, sk);
	must(scram_client_set_nonce(&b, "rOprNGfwEbeRWgbNEkqO", NULL), "nonce");
	scram_run(&b, &sec, "3rfcNHYJY1ZVvWVs7j", &xb);
#define ADD(s, l) do { memcpy(buf + n, (s), (size_t)(l)); n += (size_t)(l); } while (0)
	ADD(xa.cfirst, xa.ncf);
	ADD("", 1);
	ADD(xa.cfinal, xa.ncfin);
	ADD("", 1);
	ADD(xb.sfirst, xb.nsf);
	ADD("", 1);
	ADD(xb.sfinal, xb.nsfin);
	put("scram", "full-exchange", buf, n);
	n = 0;
	ADD("y,,n=user,r=abc,ext=1", 21);
	ADD("", 1);
	ADD("c=eSws,r=abc3rfcNHYJY1ZVvWVs7j,p=AAAA", 37);
	ADD("", 1);
	ADD("e=invalid-proof", 15);
	put("scram", "odd-attributes", buf, n);
#undef ADD
}

static void text_seeds(void)
{
	static const char ini[] =
		";; a config as PgBouncer's documentation writes one\n"
		"[databases]\n"
		"testdb = host=127.0.0.1 port=5432 dbname=testdb pool_size=10 pool_mode=transaction\n"
		"quoted = host=/tmp dbname='my db' user=u password='p''w' client_encoding=UTF8\n"
		"* = host=127.0.0.1 auth_user=pgb\n"
		"\n"
		"[users]\n"
		"u = pool_mode=session max_user_connections=5\n"
		"\n"
		"[pgbouncer]\n"
		"listen_addr = 127.0.0.1, ::1\n"
		"listen_port = 6432\n"
		"auth_type = scram-sha-256\n"
		"auth_file = /etc/pgring/userlist.txt\n"
		"pool_mode = transaction\n"
		"max_client_conn = 1000\n"
		"default_pool_size = 20\n"
		"max_packet_size = 1048576\n"
		"server_connect_timeout = 15\n"
		"query_wait_timeout = 1.5\n"
		"ignore_startup_parameters = extra_float_digits, options\n"
		"admin_users = admin\n"
		"event_backend = auto\n"
		"unknown_key = 1\n";
	static const char bad_ini[] =
		"[pgbouncer]\nlisten_port = 99999999\nauth_type = nope\n[databases]\nx = host=\n";
	static const char users[] =
		"\"u\" \"pw\"\n"
		"; comment\n"
		"# comment\n"
		"\"md5user\" \"md5a8cce5e1a0d1ea3c0b6f9f1d8e9f1d00\"\n"
		"\"say \"\"hi\"\"\" \"SCRAM-SHA-256$4096:cGdyaW5nLWZ1enpzYWx0AA==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n"
		"\"empty\" \"\"  trailing words\n";

	put("config", "full.ini", ini, sizeof(ini) - 1);
	put("config", "bad-values.ini", bad_ini, sizeof(bad_ini) - 1);
	put("userlist", "mixed.txt", users, sizeof(users) - 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: gen_corpus DIR\n", stderr);
		return 2;
	}
	out_dir = argv[1];
	frontend();
	backend();
	scram();
	text_seeds();
	return 0;
}
