/* fuzz_metrics.c - pgring's own part of GET /metrics on bytes it does not
 * control: the route taken for libmicrohttpd's method and path
 * (metrics_route), and the text that carries names clients chose (user and
 * database names, application_name) into the exposition
 * (metrics_label_value, metrics_sample_value, in metrics_text.c).
 * libmicrohttpd parses the HTTP itself and bounds the head's size.
 *
 * Input: method NUL path NUL the rest, a label value and a cell. */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "metrics.h"

/* The label value as the exposition format reads it: no raw newline or
 * quote, every backslash escaping \, " or n. */
static void check_label(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || s[i] == '"' || s[i] == 0)
			abort();
		if (s[i] == '\\') {
			if (i + 1 == n || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n'))
				abort();
			i++;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 3);
	const char *method, *url, *rest;
	struct mtext t = { 0 };
	unsigned code;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = in[size + 1] = in[size + 2] = 0;
	method = in;
	url = method + strlen(method) + 1;
	rest = url + strlen(url) + 1;
	code = metrics_route(method, url);
	if (code != 200 && code != 404 && code != 405)
		abort();
	if ((code == 200) != (!strcmp(method, "GET") && !strcmp(url, "/metrics")))
		abort();
	metrics_label_value(&t, rest);
	if (t.failed || (t.len && strlen(t.buf) != t.len))
		abort();
	check_label(t.buf ? t.buf : "", t.len);
	mtext_free(&t);
	metrics_sample_value(&t, rest, rest[0] & 1);
	metrics_sample_value(&t, url, true);
	if (t.failed)
		abort();
	mtext_free(&t);
	free(in);
	return 0;
}
