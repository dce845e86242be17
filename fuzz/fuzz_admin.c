/* fuzz_admin.c - the admin console's command parser (admin_parse.c) over any
 * query text, as admin.c hands it a simple Query's NUL-terminated body. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fuzz.h"

static void check_word(const char *w, size_t cap)
{
	if (strnlen(w, cap) >= cap)
		abort();	/* every field is terminated inside its buffer */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_cmd cmd;
	char *q = malloc(size + 1);
	int rc;

	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = 0;
	rc = admin_parse(q, &cmd);
	if (rc != 0 && rc != -EINVAL && rc != -E2BIG)
		abort();
	check_word(cmd.verb, sizeof(cmd.verb));
	check_word(cmd.arg, sizeof(cmd.arg));
	check_word(cmd.value, sizeof(cmd.value));
	if (rc == 0 && !cmd.verb[0] && (cmd.arg[0] || cmd.value[0]))
		abort();	/* empty input has nothing after the verb */
	for (const char *v = cmd.verb; rc == 0 && *v; v++)
		if (*v >= 'A' && *v <= 'Z')
			abort();	/* verbs come back in lower case */
	free(q);
	return 0;
}
