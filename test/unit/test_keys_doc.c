/* test_keys_doc.c - every [pgbouncer] key pgring knows is in etc/pgring.ini and pgring(5) */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The key table in src/config.c is the truth; the example file and the man
 * page are written by hand, so this test is what keeps them from drifting:
 * a key added to the table without a line in both fails here, and so does a
 * documented key the table no longer has.
 */

static char *slurp(const char *rel)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", top && *top ? top : ".", rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (is top_srcdir set?)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq((long)fread(buf, 1, (size_t)n, f), n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static struct config *defaults(void)
{
	struct config *cfg = NULL;
	char err[256];

	ck_assert_msg(config_parse_string("empty.ini", "", &cfg, err, sizeof(err), NULL, NULL) == 0,
		      "%s", err);
	return cfg;
}

static bool known_key(const struct config *cfg, const char *name, size_t len)
{
	struct config_key_info info;

	for (size_t i = 0; config_key_at(cfg, i, &info); i++)
		if (strlen(info.name) == len && strncmp(info.name, name, len) == 0)
			return true;
	return false;
}

/* the text of the line that starts at p, without its newline or trailing blanks */
static size_t line_len(const char *p)
{
	size_t n = strcspn(p, "\n");

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	return n;
}

/* Whether text holds a line that is exactly want (trailing blanks aside). */
static bool has_line(const char *text, const char *want)
{
	size_t wlen = strlen(want);

	for (const char *p = text; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		if (line_len(p) == wlen && strncmp(p, want, wlen) == 0)
			return true;
	return false;
}

/* The part of text from the line starting with head up to the next line
 * starting with stop (or the end); NULL when head is not there. */
static char *section(const char *text, const char *head, const char *stop)
{
	const char *start = NULL, *end;
	size_t hlen = strlen(head), slen = strlen(stop);

	for (const char *p = text; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0)) {
		if (!start && strncmp(p, head, hlen) == 0) {
			start = p;
		} else if (start && strncmp(p, stop, slen) == 0) {
			end = p;
			return strndup(start, (size_t)(end - start));
		}
	}
	return start ? strdup(start) : NULL;
}

/* ---- etc/pgring.ini ------------------------------------------------------ */

/* Each key is there once commented out, showing its default: ";key = default". */
START_TEST(test_ini_has_every_key_with_default)
{
	struct config *cfg = defaults();
	char *ini = slurp("etc/pgring.ini");
	struct config_key_info info;
	char want[1024];
	int missing = 0;

	for (size_t i = 0; config_key_at(cfg, i, &info); i++) {
		if (info.default_value[0])
			snprintf(want, sizeof(want), ";%s = %s", info.name, info.default_value);
		else
			snprintf(want, sizeof(want), ";%s =", info.name);
		if (!has_line(ini, want)) {
			fprintf(stderr, "etc/pgring.ini lacks the line \"%s\"\n", want);
			missing++;
		}
	}
	ck_assert_msg(missing == 0, "%d keys missing from etc/pgring.ini (see above)", missing);
	free(ini);
	config_free(cfg);
}
END_TEST

/* No commented key line in [pgbouncer] names a key pgring does not know. */
START_TEST(test_ini_has_no_stale_key)
{
	struct config *cfg = defaults();
	char *ini = slurp("etc/pgring.ini");
	char *sec = section(ini, "[pgbouncer]", "[");
	int stale = 0;

	ck_assert_msg(sec != NULL, "etc/pgring.ini has no [pgbouncer] section");
	for (const char *p = sec; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0)) {
		size_t n;

		if (p[0] != ';' || p[1] < 'a' || p[1] > 'z')
			continue;
		n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (strncmp(p + 1 + n, " =", 2) != 0)
			continue;
		if (!known_key(cfg, p + 1, n)) {
			fprintf(stderr, "etc/pgring.ini documents unknown key \"%.*s\"\n", (int)n, p + 1);
			stale++;
		}
	}
	ck_assert_msg(stale == 0, "%d unknown keys in etc/pgring.ini", stale);
	free(sec);
	free(ini);
	config_free(cfg);
}
END_TEST

static void count_warn(void *arg, const char *msg)
{
	fprintf(stderr, "warning: %s\n", msg);
	(*(int *)arg)++;
}

/* The example loads as it is, without a single warning. */
START_TEST(test_ini_loads_cleanly)
{
	const char *top = getenv("top_srcdir");
	char path[4096], err[512];
	struct config *cfg = NULL;
	int warnings = 0;

	snprintf(path, sizeof(path), "%s/etc/pgring.ini", top && *top ? top : ".");
	ck_assert_msg(config_load(path, &cfg, err, sizeof(err), count_warn, &warnings) == 0, "%s",
		      err);
	ck_assert_int_eq(warnings, 0);
	config_free(cfg);
}
END_TEST

/* ---- doc/pgring.5 -------------------------------------------------------- */

#define MAN_SECTION ".SH \"SECTION [pgbouncer]\""

/* Each key has its own ".SS key" entry in the [pgbouncer] section, with a default. */
START_TEST(test_man_has_every_key)
{
	struct config *cfg = defaults();
	char *man = slurp("doc/pgring.5");
	char *sec = section(man, MAN_SECTION, ".SH ");
	struct config_key_info info;
	char head[256];
	int missing = 0;

	ck_assert_msg(sec != NULL, "doc/pgring.5 has no line %s", MAN_SECTION);
	for (size_t i = 0; config_key_at(cfg, i, &info); i++) {
		char *entry;

		snprintf(head, sizeof(head), ".SS %s\n", info.name);
		entry = section(sec, head, ".SS ");
		if (!entry) {
			fprintf(stderr, "doc/pgring.5 lacks \".SS %s\" under %s\n", info.name, MAN_SECTION);
			missing++;
			continue;
		}
		if (!strstr(entry, "Default:")) {
			fprintf(stderr, "doc/pgring.5: the entry of %s gives no \"Default:\"\n", info.name);
			missing++;
		}
		free(entry);
	}
	ck_assert_msg(missing == 0, "%d keys missing or incomplete in doc/pgring.5", missing);
	free(sec);
	free(man);
	config_free(cfg);
}
END_TEST

/* Every ".SS" entry of the [pgbouncer] section is a key pgring knows. */
START_TEST(test_man_has_no_stale_key)
{
	struct config *cfg = defaults();
	char *man = slurp("doc/pgring.5");
	char *sec = section(man, MAN_SECTION, ".SH ");
	int stale = 0, entries = 0;

	ck_assert_msg(sec != NULL, "doc/pgring.5 has no line %s", MAN_SECTION);
	for (const char *p = sec; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0)) {
		size_t n;

		if (strncmp(p, ".SS ", 4) != 0)
			continue;
		n = line_len(p) - 4;
		entries++;
		if (!known_key(cfg, p + 4, n)) {
			fprintf(stderr, "doc/pgring.5 documents unknown key \"%.*s\"\n", (int)n, p + 4);
			stale++;
		}
	}
	ck_assert_int_gt(entries, 0);
	ck_assert_msg(stale == 0, "%d unknown keys in doc/pgring.5", stale);
	free(sec);
	free(man);
	config_free(cfg);
}
END_TEST

static Suite *keys_doc_suite(void)
{
	Suite *s = suite_create("keys_doc");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, test_ini_has_every_key_with_default);
	tcase_add_test(tc, test_ini_has_no_stale_key);
	tcase_add_test(tc, test_ini_loads_cleanly);
	tcase_add_test(tc, test_man_has_every_key);
	tcase_add_test(tc, test_man_has_no_stale_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keys_doc_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
