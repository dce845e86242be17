/* fuzz_userlist.c - the auth_file loader (userlist.c's userlist_parse) over any
 * text, with secret_parse on each secret it accepts, then lookups. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "userlist.h"

/* a skipped line is named: "fuzz.txt:N: why, line skipped" */
static void skipped(void *arg, const char *msg)
{
	(void)arg;
	if (strncmp(msg, "fuzz.txt:", 9) || !strstr(msg, ", line skipped"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userlist *ul = NULL;
	char err[512] = "";

	if (userlist_parse("fuzz.txt", (const char *)data, size, &ul, err, sizeof(err), skipped,
			   NULL) == 0) {
		if (!ul)
			abort();
		for (size_t i = 0; i < ul->n; i++) {
			if (userlist_find(ul, ul->ents[i].name) == NULL)
				abort();	/* every entry can be found by its name */
			if (i && strcmp(ul->ents[i - 1].name, ul->ents[i].name) > 0)
				abort();	/* sorted */
		}
		userlist_find(ul, "u");
		userlist_free(ul);
	} else if (!err[0]) {
		abort();
	}
	return 0;
}
