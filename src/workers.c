/* workers.c - workers = N: how many event loops, and whether this build runs them */

#include <sched.h>
#include <stdio.h>

#include "workers.h"

static int cpus_allowed(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;	/* cannot tell: the safe count */
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n;
}

int workers_count(const struct config *cfg)
{
	int n = cfg->workers;

	if (n == CONFIG_WORKERS_AUTO)
		n = cpus_allowed();
	if (n < 1)
		n = 1;
	if (n > CONFIG_WORKERS_MAX)
		n = CONFIG_WORKERS_MAX;
	return n;
}

/*
 * Several loops on today's single-worker state would multiply every limit
 * (max_client_conn, pool sizes, max_db/user_connections), lose cancels that
 * land on another worker and split the console: rather than run that, say
 * so and refuse, until the shared parts of doc/workers.md are built.
 */
int workers_check(const struct config *cfg, char *err, size_t len)
{
	int n = workers_count(cfg);
	char what[64];

	if (n == 1)
		return 0;
	if (cfg->workers == CONFIG_WORKERS_AUTO)
		snprintf(what, sizeof(what), "workers = auto (%d CPUs)", n);
	else
		snprintf(what, sizeof(what), "workers = %d", n);
	snprintf(err, len,
		 "%s: more than one worker is not supported by this build yet: limits "
		 "shared across workers (max_client_conn, pool sizes, max_db/user_connections), "
		 "cancel routing between workers and the console's gather and broadcast are "
		 "not built (doc/workers.md); set workers = 1", what);
	return -1;
}
