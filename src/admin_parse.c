/* admin_parse.c - the console's command parser: pure, no I/O, so the fuzzer calls it directly */

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "admin.h"

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Copies the run of characters for which take() holds; NULL (with *err) when
 * it is empty or too long. */
static const char *read_run(const char *p, bool (*take)(char), char *dst, size_t cap, int *err)
{
	size_t n = 0;

	while (take(*p)) {
		if (n + 1 >= cap) {
			*err = -E2BIG;
			return NULL;
		}
		dst[n++] = *p++;
	}
	dst[n] = 0;
	if (!n) {
		*err = -EINVAL;
		return NULL;
	}
	return p;
}

/* p at an opening quote: the text up to the closing one, a doubled quote
 * standing for itself; returns the end, or NULL with *err. */
static const char *read_quoted(const char *p, char *dst, size_t cap, size_t *len, int *err)
{
	char q = *p;
	size_t n = 0;

	for (p++;; p++) {
		if (!*p) {
			*err = -EINVAL;
			return NULL;
		}
		if (*p == q) {
			if (p[1] != q)
				break;
			p++;
		}
		if (n + 1 >= cap) {
			*err = -E2BIG;
			return NULL;
		}
		dst[n++] = *p;
	}
	dst[n] = 0;
	*len = n;
	return p + 1;
}

/* A word: identifier characters, or "double quoted" with "" for a quote.
 * Returns the end, or NULL (with *err) on a bad or too long word. */
static const char *read_word(const char *p, char *dst, size_t cap, int *err)
{
	size_t n;

	if (*p != '"')
		return read_run(p, is_word_char, dst, cap, err);
	p = read_quoted(p, dst, cap, &n, err);
	if (p && !n) {
		*err = -EINVAL;
		return NULL;
	}
	return p;
}

static bool is_bare_value_char(char c)
{
	return c && c != ';' && c != ' ' && c != '\t' && c != '\n' && c != '\r';
}

/* 'single quoted' with '' for a quote, or a bare run up to space or ';' */
static const char *read_value(const char *p, char *dst, size_t cap, int *err)
{
	size_t n;

	if (*p == '\'')
		return read_quoted(p, dst, cap, &n, err);
	if (*p == '"')
		return read_word(p, dst, cap, err);
	return read_run(p, is_bare_value_char, dst, cap, err);
}

/* whitespace and semicolons to the end, and nothing else */
static bool at_end(const char *p)
{
	for (p = skip_ws(p); *p == ';'; p = skip_ws(p + 1))
		;
	return *p == 0;
}

int admin_parse(const char *q, struct admin_cmd *cmd)
{
	const char *p = skip_ws(q);
	int err = 0;

	memset(cmd, 0, sizeof(*cmd));
	if (at_end(p))
		return 0;
	p = read_word(p, cmd->verb, sizeof(cmd->verb), &err);
	if (!p)
		return err;
	for (char *v = cmd->verb; *v; v++)
		*v = (char)tolower((unsigned char)*v);
	if (!strcmp(cmd->verb, "set")) {
		const char *k = skip_ws(p);

		if (k == p)
			return -EINVAL;
		p = read_word(k, cmd->arg, sizeof(cmd->arg), &err);
		if (!p)
			return err;
		p = skip_ws(p);
		if (*p == '=') {
			p++;
		} else if (!strncasecmp(p, "to", 2) && !is_word_char(p[2])) {
			p += 2;
		} else {
			return -EINVAL;
		}
		p = read_value(skip_ws(p), cmd->value, sizeof(cmd->value), &err);
		if (!p)
			return err;
		return at_end(p) ? 0 : -EINVAL;
	}
	if (at_end(p))
		return 0;
	if (skip_ws(p) == p)
		return -EINVAL;		/* "show;pools" or "show-x" */
	p = read_word(skip_ws(p), cmd->arg, sizeof(cmd->arg), &err);
	if (!p)
		return err;
	return at_end(p) ? 0 : -EINVAL;
}
