/* metrics_text.c - the exposition's text and the request's route: pure, no
 * I/O and no libmicrohttpd, so the unit tests and fuzz_metrics call them */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define METRICS_TEXT_MAX	(64u << 20)	/* an exposition larger than this is refused */

unsigned metrics_route(const char *method, const char *url)
{
	if (strcmp(method, "GET"))
		return 405;
	if (strcmp(url, "/metrics"))
		return 404;
	return 200;
}

/* ---- text ---- */

static bool mtext_grow(struct mtext *t, size_t more)
{
	size_t max = t->max ? t->max : METRICS_TEXT_MAX, cap;
	char *p;

	if (t->failed)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	if (t->len + more + 1 > max) {
		t->failed = true;
		return false;
	}
	cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	if (cap > max)
		cap = max;
	p = realloc(t->buf, cap);
	if (!p) {
		t->failed = true;
		return false;
	}
	t->buf = p;
	t->cap = cap;
	return true;
}

void mtext_put(struct mtext *t, const char *s, size_t n)
{
	if (!mtext_grow(t, n))
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = 0;
}

void mtext_puts(struct mtext *t, const char *s)
{
	mtext_put(t, s, strlen(s));
}

void mtext_free(struct mtext *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

/* Bytes of the well-formed UTF-8 sequence at s (Go's utf8.ValidString, which
 * Prometheus applies to label values), 0 when there is none. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void metrics_label_value(struct mtext *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		size_t n = utf8_len(p);
		char hex[8];

		if (!n) {
			snprintf(hex, sizeof(hex), "\\\\x%02x", *p);
			mtext_puts(t, hex);
			p++;
			continue;
		}
		if (*p == '\\')
			mtext_puts(t, "\\\\");
		else if (*p == '"')
			mtext_puts(t, "\\\"");
		else if (*p == '\n')
			mtext_puts(t, "\\n");
		else
			mtext_put(t, (const char *)p, n);
		p += n;
	}
}

/* [-]digits[.digits]: what the console prints for a number */
static bool is_number(const char *s)
{
	bool digits = false, dot = false;

	if (*s == '-')
		s++;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digits = true;
		else if (*s == '.' && !dot && digits)
			dot = true;
		else
			return false;
	}
	return digits;
}

void metrics_sample_value(struct mtext *t, const char *cell, bool micro)
{
	char buf[48];
	uint64_t us;
	char *end;
	int n;

	if (!cell || !is_number(cell)) {
		mtext_puts(t, "NaN");
		return;
	}
	if (!micro) {
		mtext_puts(t, cell);
		return;
	}
	errno = 0;
	us = strtoull(cell, &end, 10);
	if (errno || *end || *cell == '-') {
		mtext_puts(t, "NaN");
		return;
	}
	/* exact: seconds and the microseconds after the point, zeros trimmed */
	n = snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = 0;
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = 0;
	mtext_puts(t, buf);
}
