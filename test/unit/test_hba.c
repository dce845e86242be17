/* test_hba.c - unit tests for the hba and ident parser, the matchers, and SASLprep */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "hba.h"

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_hba.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* dir/name with text in it; the path in a static buffer of 4 */
static const char *put(const char *name, const char *text)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return p;
}

static struct hba *load_ok(const char *hba_text, const char *ident_text)
{
	const char *hp = put("hba.conf", hba_text);
	const char *ip = ident_text ? put("ident.conf", ident_text) : NULL;
	struct hba *h = NULL;
	char err[512] = "";

	ck_assert_msg(hba_load(hp, ip, &h, err, sizeof(err)) == 0, "refused: %s", err);
	ck_assert_ptr_nonnull(h);
	return h;
}

/* The error for a file that must be refused, without the directory */
static const char *load_err(const char *hba_text, const char *ident_text)
{
	static char err[512];
	const char *hp = put("hba.conf", hba_text);
	const char *ip = ident_text ? put("ident.conf", ident_text) : NULL;
	struct hba *h = (struct hba *)1;
	size_t dl = strlen(dir) + 1;

	err[0] = '\0';
	ck_assert_int_eq(hba_load(hp, ip, &h, err, sizeof(err)), -1);
	ck_assert_ptr_null(h);
	ck_assert_msg(strncmp(err, dir, strlen(dir)) == 0, "no path in \"%s\"", err);
	return err + dl;
}

static uint8_t ipbuf[16];

static struct hba_client who(const char *addr, const char *db, const char *user)
{
	struct hba_client c = { .db = db, .user = user };

	memset(ipbuf, 0, sizeof(ipbuf));
	if (!addr)
		c.family = AF_UNIX;
	else if (inet_pton(AF_INET, addr, ipbuf) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, ipbuf) == 1)
		c.family = AF_INET6;
	else
		ck_abort_msg("bad address %s", addr);
	c.ip = ipbuf;
	return c;
}

/* The line of the rule that matches, 0 for none */
static int line_of(const struct hba *h, const char *addr, const char *db, const char *user)
{
	struct hba_client c = who(addr, db, user);
	const struct hba_rule *r = hba_match(h, &c);

	return r ? r->line : 0;
}

START_TEST(addresses)
{
	struct hba *h = load_ok(
		"# comment\n"
		"local all all peer\n"				/* 2 */
		"host all all 10.1.0.0/16 md5\n"		/* 3 */
		"host all all 192.168.1.0 255.255.255.0 trust\n"	/* 4 */
		"host all all ::1/128 scram-sha-256\n"		/* 5 */
		"host all all 172.16.5.5/32 password  # a comment after\n"	/* 6 */
		"host all all 10.2.3.4/8 reject\n"		/* 7: host bits dropped */
		"host all all fe80::/10 md5\n"			/* 8 */
		"hostnossl all all all md5\n", NULL);		/* 9 */

	ck_assert_int_eq(h->nrules, 8);
	ck_assert_int_eq(line_of(h, NULL, "d", "u"), 2);
	ck_assert_int_eq(line_of(h, "10.1.200.3", "d", "u"), 3);
	ck_assert_int_eq(line_of(h, "10.9.0.1", "d", "u"), 7);
	ck_assert_int_eq(line_of(h, "192.168.1.77", "d", "u"), 4);
	ck_assert_int_eq(line_of(h, "192.168.2.77", "d", "u"), 9);
	ck_assert_int_eq(line_of(h, "::1", "d", "u"), 5);
	ck_assert_int_eq(line_of(h, "172.16.5.5", "d", "u"), 6);
	ck_assert_int_eq(line_of(h, "172.16.5.6", "d", "u"), 9);
	ck_assert_int_eq(line_of(h, "fe80::1234", "d", "u"), 8);
	/* an IPv4-mapped client matches IPv4 rules, as in PostgreSQL */
	ck_assert_int_eq(line_of(h, "::ffff:10.1.2.3", "d", "u"), 3);
	ck_assert_int_eq(h->rules[0].method, HBA_PEER);
	ck_assert_int_eq(h->rules[2].method, HBA_TRUST);
	ck_assert_int_eq(h->rules[3].method, HBA_SCRAM);
	ck_assert_int_eq(h->rules[4].method, HBA_PASSWORD);
	ck_assert_int_eq(h->rules[5].method, HBA_REJECT);
	ck_assert_str_eq(hba_method_name(h->rules[3].method), "scram-sha-256");
	hba_unref(h);
}
END_TEST

START_TEST(ipv6_rule_matches_ipv4_client)
{
	struct hba *h = load_ok("host all all ::ffff:10.0.0.0/104 md5\n", NULL);

	ck_assert_int_eq(line_of(h, "10.20.30.40", "d", "u"), 1);
	ck_assert_int_eq(line_of(h, "11.20.30.40", "d", "u"), 0);
	hba_unref(h);
}
END_TEST

START_TEST(ssl_types)
{
	struct hba *h = load_ok("hostssl all all all cert\n"
				"hostnossl all all 127.0.0.1/32 md5\n"
				"host all all all trust\n", NULL);
	struct hba_client c = who("127.0.0.1", "d", "u");

	/* a plaintext client never matches hostssl, always hostnossl */
	ck_assert_int_eq(hba_match(h, &c)->line, 2);
	c.tls = true;
	ck_assert_int_eq(hba_match(h, &c)->line, 1);
	c = who("127.0.0.2", "d", "u");
	ck_assert_int_eq(hba_match(h, &c)->line, 3);
	/* the unix socket matches local lines only */
	ck_assert_int_eq(line_of(h, NULL, "d", "u"), 0);
	hba_unref(h);
}
END_TEST

START_TEST(names)
{
	struct hba *h = load_ok(
		"host db1,db2 alice 0.0.0.0/0 md5\n"		/* 1 */
		"host db3, db4 bob,carol 0.0.0.0/0 md5\n"	/* 2: a space after the comma */
		"host sameuser all 0.0.0.0/0 trust\n"		/* 3 */
		"host \"all\" \"sameuser\" 0.0.0.0/0 password\n"	/* 4: quoted: plain names */
		"host \"my db\" \"x\"\"y\" 0.0.0.0/0 md5\n"	/* 5 */
		"host replication all 0.0.0.0/0 trust\n"	/* 6 */
		"host all all 0.0.0.0/0 reject\n", NULL);	/* 7 */
	struct hba_client c;

	ck_assert_int_eq(line_of(h, "1.2.3.4", "db2", "alice"), 1);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "db2", "bob"), 7);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "db4", "carol"), 2);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "zed", "zed"), 3);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "all", "sameuser"), 4);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "other", "sameuser"), 7);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "my db", "x\"y"), 5);
	/* physical replication: the keyword only; logical goes by name */
	c = who("1.2.3.4", "db1", "alice");
	c.physical_repl = true;
	ck_assert_int_eq(hba_match(h, &c)->line, 6);
	ck_assert_int_eq(line_of(h, "1.2.3.4", "replication", "q"), 7);
	hba_unref(h);
}
END_TEST

START_TEST(first_match_wins)
{
	struct hba *h = load_ok("host all alice 127.0.0.1/32 reject\n"
				"host all all 127.0.0.0/8 trust\n"
				"host all alice 127.0.0.1/32 trust\n", NULL);

	ck_assert_int_eq(line_of(h, "127.0.0.1", "d", "alice"), 1);
	ck_assert_int_eq(line_of(h, "127.0.0.1", "d", "bob"), 2);
	ck_assert_int_eq(line_of(h, "127.0.0.2", "d", "alice"), 2);
	hba_unref(h);
}
END_TEST

/* what client_kdf_warm asks: does any rule name scram-sha-256 */
START_TEST(has_method)
{
	struct hba *h = load_ok("host all alice 127.0.0.1/32 md5\n"
				"hostssl all all all scram-sha-256\n", NULL);

	ck_assert(hba_has_method(h, HBA_SCRAM));
	ck_assert(hba_has_method(h, HBA_MD5));
	ck_assert(!hba_has_method(h, HBA_CERT));
	ck_assert(!hba_has_method(NULL, HBA_SCRAM));
	hba_unref(h);
}
END_TEST

START_TEST(at_files)
{
	struct hba *h;
	char sub[128];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put("users.txt", "alice, bob\n# a comment\ncarol @sub/more.txt\n");
	put("sub/more.txt", "dave @deeper.txt\n");
	put("sub/deeper.txt", "erin\n");
	put("dbs.txt", "sales\n");
	h = load_ok("host @dbs.txt @users.txt 0.0.0.0/0 md5\n", NULL);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "sales", "alice"), 1);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "sales", "carol"), 1);
	/* nested @files are relative to the file that names them */
	ck_assert_int_eq(line_of(h, "1.1.1.1", "sales", "dave"), 1);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "sales", "erin"), 1);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "sales", "frank"), 0);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "hr", "alice"), 0);
	hba_unref(h);
	ck_assert_pstr_eq(strstr(load_err("\nhost all @nope.txt all md5\n", NULL), "nope.txt\": No such"),
			  "nope.txt\": No such file or directory");
	ck_assert_int_eq(strncmp(load_err("\nhost all @nope.txt all md5\n", NULL),
				 "hba.conf:2: could not read \"", 28), 0);
}
END_TEST

/* a long @file: every name found, in any order, and no other */
START_TEST(long_at_file)
{
	char *text = malloc(5000 * 16), name[32];
	size_t len = 0;
	struct hba *h;

	ck_assert_ptr_nonnull(text);
	for (int i = 4999; i >= 0; i--)
		len += (size_t)sprintf(text + len, "user%d%c", i, i % 7 ? ',' : '\n');
	text[len - 1] = '\n';
	put("many.txt", text);
	free(text);
	h = load_ok("host all @many.txt,zed 0.0.0.0/0 md5\n", NULL);
	ck_assert_uint_eq(h->rules[0].user.n, 5001);
	for (int i = 0; i < 5000; i += 7) {
		snprintf(name, sizeof(name), "user%d", i);
		ck_assert_int_eq(line_of(h, "1.1.1.1", "d", name), 1);
	}
	ck_assert_int_eq(line_of(h, "1.1.1.1", "d", "user4999"), 1);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "d", "zed"), 1);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "d", "user5000"), 0);
	ck_assert_int_eq(line_of(h, "1.1.1.1", "d", "user"), 0);
	hba_unref(h);
}
END_TEST

START_TEST(continuation_and_map)
{
	struct hba *h = load_ok("local all all \\\n  peer map=ops\n"
				"hostssl all all all cert map=certs\n", NULL);

	ck_assert_int_eq(h->nrules, 2);
	ck_assert_int_eq(h->rules[0].line, 1);
	ck_assert_str_eq(h->rules[0].map, "ops");
	ck_assert_str_eq(h->rules[1].map, "certs");
	ck_assert_int_eq(h->rules[1].line, 3);
	hba_unref(h);
}
END_TEST

START_TEST(errors_name_file_and_line)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "local all all trust\nhosts all all all md5\n", "hba.conf:2: invalid connection type \"hosts\"" },
		{ "hostgssenc all all all md5\n", "hba.conf:1: invalid connection type \"hostgssenc\" (GSSAPI is not supported)" },
		{ "host all all 10.0.0.0/33 md5\n", "hba.conf:1: invalid CIDR mask in address \"10.0.0.0/33\"" },
		{ "host all all db.example.com md5\n", "hba.conf:1: invalid IP address \"db.example.com\" (host names are not supported)" },
		{ "host all all 10.0.0.0 md5\n", "hba.conf:1: invalid IP mask \"md5\"" },
		{ "host all all 10.0.0.0\n", "hba.conf:1: end-of-line before netmask specification" },
		{ "host all all samenet md5\n", "hba.conf:1: \"samenet\" is not supported (PgBouncer does not support it either)" },
		{ "host all all all ident\n", "hba.conf:1: authentication method \"ident\" is not supported by pgring" },
		{ "host all all all ldap ldapserver=x\n", "hba.conf:1: authentication method \"ldap\" is not supported by pgring" },
		{ "host all all all frob\n", "hba.conf:1: invalid authentication method \"frob\"" },
		{ "host all all all md5 map=x\n", "hba.conf:1: authentication option \"map\" is only valid for authentication methods peer and cert" },
		{ "local all all peer clientcert=verify-ca\n", "hba.conf:1: authentication option \"clientcert\" is not supported" },
		{ "local all all peer nonsense\n", "hba.conf:1: authentication option not in name=value format: nonsense" },
		{ "local samerole all trust\n", "hba.conf:1: \"samerole\" is not supported (PgBouncer does not support it either)" },
		{ "local all +admins trust\n", "hba.conf:1: group membership (\"+admins\") is not supported" },
		{ "local all \"alice trust\n", "hba.conf:1: unterminated quoted string" },
		{ "local all alice,\n", "hba.conf:1: a list ends with a comma" },
		{ "local all alice,,bob trust\n", "hba.conf:1: an empty value in a list" },
		{ "local all\n", "hba.conf:1: end-of-line before role specification" },
		{ "local all all\n", "hba.conf:1: end-of-line before authentication method" },
		{ "host all all\n", "hba.conf:1: end-of-line before IP address" },
		{ "# x\n\nlocal all all \\\ntrust extra\n", "hba.conf:3: authentication option not in name=value format: extra" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = load_err(cases[i].text, NULL);

		ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0,
			      "case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
}
END_TEST

START_TEST(missing_files)
{
	struct hba *h = (struct hba *)1;
	char err[256];

	ck_assert_int_eq(hba_load("", NULL, &h, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "auth_type = hba needs auth_hba_file");
	ck_assert_int_eq(hba_load("/nonexistent/hba.conf", NULL, &h, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/hba.conf: could not read: No such file or directory");
	put("hba.conf", "local all all trust\n");
	ck_assert_str_eq(load_err("local all all peer map=m\n", "m a b c\n"),
			 "ident.conf:1: an ident line is MAPNAME SYSTEM-USERNAME DATABASE-USERNAME, one value each");
}
END_TEST

START_TEST(ident_maps)
{
	struct hba *h = load_ok("local all all peer map=m\n",
				"# MAP SYSTEM PG\n"
				"m alice alice\n"
				"m alice app\n"
				"m root all\n"
				"m /^(.*)@example\\.com$ \\1\n"
				"m /^svc-([a-z]+)$ \\1_ro\n"
				"m /^nogroup$ \\1\n"
				"m /^x[0-9]+$ xuser\n"
				"other bob bob\n");

	ck_assert_int_eq(h->nidents, 8);
	ck_assert(hba_ident_match(h, "m", "alice", "alice"));
	ck_assert(hba_ident_match(h, "m", "alice", "app"));
	ck_assert(!hba_ident_match(h, "m", "alice", "bob"));
	ck_assert(hba_ident_match(h, "m", "root", "anyone"));
	ck_assert(hba_ident_match(h, "m", "carol@example.com", "carol"));
	ck_assert(!hba_ident_match(h, "m", "carol@example.com", "dave"));
	ck_assert(!hba_ident_match(h, "m", "carol@example.org", "carol"));
	ck_assert(hba_ident_match(h, "m", "svc-billing", "billing_ro"));
	ck_assert(!hba_ident_match(h, "m", "svc-billing", "billing"));
	ck_assert(!hba_ident_match(h, "m", "nogroup", "\\1"));
	ck_assert(hba_ident_match(h, "m", "x42", "xuser"));
	ck_assert(!hba_ident_match(h, "m", "bob", "bob"));
	ck_assert(hba_ident_match(h, "other", "bob", "bob"));
	ck_assert(!hba_ident_match(h, "nomap", "alice", "alice"));
	hba_unref(h);
}
END_TEST

START_TEST(ident_errors)
{
	const char *err = load_err("local all all peer\n", "m /^(a$ b\n");
	const char *want = "ident.conf:1: invalid regular expression \"^(a$\": ";

	ck_assert_msg(strncmp(err, want, strlen(want)) == 0 && strlen(err) > strlen(want), "%s", err);
	ck_assert_str_eq(load_err("local all all peer\n", "\nm a +grp\n"),
			 "ident.conf:2: \"+grp\": groups and regular expressions are not supported in "
			 "the database user column");
	ck_assert_str_eq(load_err("local all all peer\n", "include other.conf\n"),
			 "ident.conf:1: \"include\" is not supported in the ident file");
}
END_TEST

START_TEST(refs_shared)
{
	struct hba *h = load_ok("local all all trust\n", NULL);

	ck_assert_ptr_eq(hba_ref(h), h);
	hba_unref(h);
	ck_assert_int_eq(line_of(h, NULL, "d", "u"), 1);
	hba_unref(h);
	ck_assert_ptr_null(hba_match(NULL, &(struct hba_client){ .db = "d", .user = "u" }));
}
END_TEST

/* ---- in the config snapshot ---- */

static int warned;

static void count_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
	warned++;
}

static struct config *cfg_with(const char *hba_path, const char *ident_path)
{
	char text[1024], err[256] = "";
	struct config *cfg = NULL;

	snprintf(text, sizeof(text), "[pgbouncer]\nauth_type = hba\nauth_hba_file = %s\n"
		 "auth_ident_file = %s\n", hba_path, ident_path);
	warned = 0;
	ck_assert_msg(config_parse_string("t.ini", text, &cfg, err, sizeof(err), count_warn, NULL) == 0,
		      "%s", err);
	ck_assert_int_eq(warned, 0);	/* neither key is "not supported yet" any more */
	ck_assert_int_eq(cfg->auth_type, AUTH_TYPE_HBA);
	ck_assert_ptr_null(cfg->hba);
	return cfg;
}

START_TEST(config_snapshot)
{
	const char *hp = put("hba.conf", "local all all peer map=m\n");
	const char *ip = put("ident.conf", "m root postgres\n");
	struct config *run = cfg_with(hp, ip), *next, *clone;
	struct config_key_info info;
	char err[512] = "";
	bool shown = false;

	ck_assert_int_eq(config_attach_hba(run, NULL, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(run->hba);
	ck_assert(hba_ident_match(run->hba, "m", "root", "postgres"));
	/* SHOW CONFIG shows both keys */
	for (size_t i = 0; config_key_at(run, i, &info); i++)
		if (!strcmp(info.name, "auth_ident_file"))
			shown = !strcmp(info.value, ip);
	ck_assert(shown);
	/* a clone (SET) shares the rules */
	clone = config_clone(run);
	ck_assert_ptr_eq(clone->hba, run->hba);
	ck_assert_int_eq(run->hba->refs, 2);
	config_free(clone);
	/* a bad line at start: refused, file:line */
	put("hba.conf", "local all all peer map=m\nlocal all all frob\n");
	next = cfg_with(hp, ip);
	ck_assert_int_eq(config_attach_hba(next, NULL, err, sizeof(err)), -1);
	ck_assert_pstr_eq(strstr(err, "hba.conf:2: invalid authentication method \"frob\""),
			  "hba.conf:2: invalid authentication method \"frob\"");
	/* ... at reload: the running rules stay, and err says why */
	ck_assert_int_eq(config_attach_hba(next, run, err, sizeof(err)), 1);
	ck_assert_ptr_eq(next->hba, run->hba);
	ck_assert(strstr(err, "hba.conf:2: invalid authentication method"));
	config_free(next);
	ck_assert_int_eq(run->hba->refs, 1);
	/* SET reads the file it names at once, and refuses a bad one */
	ck_assert_int_eq(config_set(run, "auth_hba_file", hp, &next, err, sizeof(err)), -1);
	ck_assert(strstr(err, "hba.conf:2: invalid authentication method"));
	ck_assert_int_eq(config_set(run, "auth_hba_file", put("ok.conf", "host all all all md5\n"),
				    &next, err, sizeof(err)), 0);
	ck_assert_ptr_ne(next->hba, run->hba);
	ck_assert_int_eq(next->hba->rules[0].method, HBA_MD5);
	config_free(next);
	ck_assert_int_eq(config_set(run, "default_pool_size", "7", &next, err, sizeof(err)), 0);
	ck_assert_ptr_eq(next->hba, run->hba);
	config_free(next);
	config_free(run);
}
END_TEST

/* ---- SASLprep: RFC 4013's examples and PostgreSQL's rules ---- */

static void prep_is(const char *in, const char *want)
{
	char *out = (char *)1;

	ck_assert_int_eq(auth_saslprep(in, &out), 0);
	if (!want) {
		ck_assert_msg(out == NULL, "\"%s\" should stay raw, got \"%s\"", in, out);
		return;
	}
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, want);
	free(out);
}

START_TEST(saslprep_vectors)
{
	prep_is("user", NULL);				/* ASCII: as it is */
	prep_is("I\xc2\xadX", "IX");			/* SOFT HYPHEN mapped to nothing */
	prep_is("\xc2\xaa", "a");			/* FEMININE ORDINAL INDICATOR: NFKC */
	prep_is("\xe2\x85\xa8", "IX");			/* ROMAN NUMERAL NINE: NFKC */
	prep_is("a\xc2\xa0" "b", "a b");		/* NO-BREAK SPACE: a space */
	prep_is("a\xe3\x80\x80" "b", "a b");		/* IDEOGRAPHIC SPACE: a space */
	prep_is("e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9");	/* e + COMBINING ACUTE: composed */
	prep_is("\x07", NULL);				/* BELL: prohibited (ASCII: raw anyway) */
	prep_is("\xd8\xa7" "1", NULL);			/* RandALCat then L: prohibited, raw */
	prep_is("a\xe2\x80\x8f", NULL);			/* RIGHT-TO-LEFT MARK: prohibited */
	prep_is("\xff\xfe" "abc", NULL);		/* not UTF-8: raw */
	prep_is("\xc2\xad", NULL);			/* nothing left: raw */
	prep_is("a\xf3\xa0\x80\x81" "b", NULL);		/* LANGUAGE TAG (prohibited) */
	prep_is("\xc8\xa1", NULL);			/* U+0221, unassigned in Unicode 3.2 */
}
END_TEST

/* The SCRAM keys of a password are those of its SASLprep'd form */
START_TEST(saslprep_in_scram)
{
	static const uint8_t salt[16] = "0123456789abcdef";
	struct secret a, b, c;

	ck_assert_int_eq(auth_scram_verifier("p\xc2\xa0w\xe2\x85\xa8", salt, 16, 4096, &a), 0);
	ck_assert_int_eq(auth_scram_verifier("p wIX", salt, 16, 4096, &b), 0);
	ck_assert_int_eq(auth_scram_verifier("\xff\xfe", salt, 16, 4096, &c), 0);
	ck_assert_mem_eq(a.stored_key, b.stored_key, SCRAM_KEY_LEN);
	ck_assert_mem_eq(a.server_key, b.server_key, SCRAM_KEY_LEN);
	ck_assert_str_eq(a.text, b.text);
	/* a cleartext password checks against the verifier of its prepared form */
	ck_assert(auth_plain_check(&b, "u", "p\xc2\xa0w\xe2\x85\xa8"));
	ck_assert(!auth_plain_check(&b, "u", "p\xc2\xa0wIX9"));
	ck_assert(auth_plain_check(&c, "u", "\xff\xfe"));
	secret_free(&a);
	secret_free(&b);
	secret_free(&c);
}
END_TEST

static Suite *hba_suite(void)
{
	Suite *s = suite_create("hba");
	TCase *tc = tcase_create("hba");

	tcase_add_checked_fixture(tc, mkdir_tmp, rm_tmp);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, ipv6_rule_matches_ipv4_client);
	tcase_add_test(tc, ssl_types);
	tcase_add_test(tc, names);
	tcase_add_test(tc, first_match_wins);
	tcase_add_test(tc, has_method);
	tcase_add_test(tc, at_files);
	tcase_add_test(tc, long_at_file);
	tcase_add_test(tc, continuation_and_map);
	tcase_add_test(tc, errors_name_file_and_line);
	tcase_add_test(tc, missing_files);
	tcase_add_test(tc, ident_maps);
	tcase_add_test(tc, ident_errors);
	tcase_add_test(tc, refs_shared);
	tcase_add_test(tc, config_snapshot);
	suite_add_tcase(s, tc);

	tc = tcase_create("saslprep");
	tcase_add_test(tc, saslprep_vectors);
	tcase_add_test(tc, saslprep_in_scram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hba_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
