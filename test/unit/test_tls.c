/* test_tls.c - unit tests for TLS settings: sslmode and protocol parsing, context errors */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "config.h"
#include "tls.h"

START_TEST(test_sslmode_parse)
{
	ck_assert_int_eq(tls_sslmode_parse("disable"), TLS_DISABLE);
	ck_assert_int_eq(tls_sslmode_parse("allow"), TLS_ALLOW);
	ck_assert_int_eq(tls_sslmode_parse("prefer"), TLS_PREFER);
	ck_assert_int_eq(tls_sslmode_parse("require"), TLS_REQUIRE);
	ck_assert_int_eq(tls_sslmode_parse("verify-ca"), TLS_VERIFY_CA);
	ck_assert_int_eq(tls_sslmode_parse("Verify-Full"), TLS_VERIFY_FULL);
	ck_assert_int_eq(tls_sslmode_parse("sometimes"), -1);
	ck_assert_int_eq(tls_sslmode_parse(""), -1);
	ck_assert_int_eq(tls_sslmode_parse(NULL), -1);
}
END_TEST

START_TEST(test_protocols_parse)
{
	int lo = 0, hi = 0;

	ck_assert_int_eq(tls_protocols_parse("secure", &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_2_VERSION);
	ck_assert_int_eq(hi, TLS1_3_VERSION);
	ck_assert_int_eq(tls_protocols_parse("all", &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_VERSION);
	ck_assert_int_eq(hi, TLS1_3_VERSION);
	ck_assert_int_eq(tls_protocols_parse("tlsv1.3", &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_3_VERSION);
	ck_assert_int_eq(hi, TLS1_3_VERSION);
	/* PgBouncer separates with commas or spaces (and libtls with colons) */
	ck_assert_int_eq(tls_protocols_parse("tlsv1.1, TLSv1.2", &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_1_VERSION);
	ck_assert_int_eq(hi, TLS1_2_VERSION);
	ck_assert_int_eq(tls_protocols_parse("tlsv1.2:tlsv1.3", &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_2_VERSION);
	ck_assert_int_eq(hi, TLS1_3_VERSION);
	ck_assert_int_eq(tls_protocols_parse(NULL, &lo, &hi), 0);
	ck_assert_int_eq(lo, TLS1_2_VERSION);
	ck_assert_int_eq(tls_protocols_parse("sslv3", &lo, &hi), -1);
	ck_assert_int_eq(tls_protocols_parse("tlsv1.2,bogus", &lo, &hi), -1);
	ck_assert_int_eq(tls_protocols_parse("", &lo, &hi), -1);
	ck_assert_int_eq(tls_protocols_parse(" , ", &lo, &hi), -1);
}
END_TEST

static void defaults(struct config *c)
{
	static char secure[] = "secure", def[] = "default", aut[] = "auto", empty[] = "";

	memset(c, 0, sizeof(*c));
	c->client_tls_protocols = c->server_tls_protocols = secure;
	c->client_tls_ciphers = c->server_tls_ciphers = def;
	c->client_tls_ecdhcurve = c->client_tls_dheparams = aut;
	c->client_tls_key_file = c->client_tls_cert_file = c->client_tls_ca_file = empty;
	c->server_tls_key_file = c->server_tls_cert_file = c->server_tls_ca_file = empty;
}

static void build_fails(const struct config *c, const char *want)
{
	char err[512] = "";
	struct tls_ctxs *t = tls_ctxs_build(c, err, sizeof(err));

	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
}

/* What each setting error says: the key, and the file or value */
START_TEST(test_ctx_errors)
{
	struct config c;
	char err[512] = "";
	struct tls_ctxs *t;
	static char missing[] = "/nonexistent/pgring.crt", missing_key[] = "/nonexistent/pgring.key";
	static char bad[] = "tlsv9", badc[] = "NO-SUCH-CIPHER";

	/* the defaults: client TLS off, server TLS prefer with nothing to load */
	defaults(&c);
	c.server_tls_sslmode = TLS_PREFER;
	t = tls_ctxs_build(&c, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	tls_ctxs_free(t);

	defaults(&c);
	c.client_tls_sslmode = TLS_REQUIRE;
	build_fails(&c, "client_tls_sslmode needs client_tls_key_file and client_tls_cert_file");
	c.client_tls_cert_file = missing;
	build_fails(&c, "go together");
	c.client_tls_key_file = missing_key;
	build_fails(&c, "client_tls_cert_file /nonexistent/pgring.crt");

	defaults(&c);
	c.server_tls_sslmode = TLS_REQUIRE;
	c.server_tls_protocols = bad;
	build_fails(&c, "server_tls_protocols: invalid value \"tlsv9\"");
	defaults(&c);
	c.server_tls_sslmode = TLS_REQUIRE;
	c.server_tls_ciphers = badc;
	build_fails(&c, "server_tls_ciphers \"NO-SUCH-CIPHER\"");
	defaults(&c);
	c.server_tls_sslmode = TLS_VERIFY_FULL;
	c.server_tls_ca_file = missing;
	build_fails(&c, "server_tls_ca_file /nonexistent/pgring.crt");
}
END_TEST

/* direct needs an sslmode with no plaintext fallback, as libpq's
 * sslnegotiation=direct: disable, allow and prefer are refused */
START_TEST(test_direct_needs_require)
{
	static const char *const names[] = { "disable", "allow", "prefer" };
	struct config c;
	char want[160], err[512] = "";
	struct tls_ctxs *t;

	for (int mode = TLS_DISABLE; mode <= TLS_PREFER; mode++) {
		defaults(&c);
		c.server_tls_sslmode = mode;
		c.server_tls_negotiation = TLS_NEG_DIRECT;
		snprintf(want, sizeof(want), "server_tls_negotiation = direct needs server_tls_sslmode "
			 "require, verify-ca or verify-full (it is %s)", names[mode]);
		build_fails(&c, want);
	}
	for (int mode = TLS_REQUIRE; mode <= TLS_VERIFY_FULL; mode++) {
		defaults(&c);
		c.server_tls_sslmode = mode;
		c.server_tls_negotiation = TLS_NEG_DIRECT;
		t = tls_ctxs_build(&c, err, sizeof(err));
		ck_assert_msg(t != NULL, "mode %d: %s", mode, err);
		tls_ctxs_free(t);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_sslmode_parse);
	tcase_add_test(tc, test_protocols_parse);
	tcase_add_test(tc, test_ctx_errors);
	tcase_add_test(tc, test_direct_needs_require);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
