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

/* Every part of doc/workers.md is built: any count the key allows runs. */
int workers_check(const struct config *cfg, char *err, size_t len)
{
	(void)cfg;
	(void)err;
	(void)len;
	return 0;
}
