/* fuzz_config.c - the ini loader (config.c's config_parse_string) over any text,
 * then the lookups and the SHOW CONFIG walk over whatever it accepted. */

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

static void warn(void *arg, const char *msg)
{
	(void)arg;
	if (!msg || !*msg)
		abort();	/* a warning says something */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL, *copy;
	struct config_key_info info;
	char err[512] = "";
	char *text;

	/* %include would read whatever file the input names */
	if (size > 65536 || fuzz_has(data, size, "%include"))
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse_string("fuzz.ini", text, &cfg, err, sizeof(err), warn, NULL) == 0) {
		if (!cfg)
			abort();
		config_find_db(cfg, "testdb");
		config_find_db(cfg, "pgbouncer");
		config_find_user(cfg, "u");
		for (size_t i = 0; config_key_at(cfg, i, &info); i++)
			;
		copy = config_clone(cfg);
		config_free(copy);
		config_free(cfg);
	} else if (!err[0]) {
		abort();	/* an error names its reason */
	}
	free(text);
	return 0;
}
