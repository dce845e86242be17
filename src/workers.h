/* workers.h - workers = N: how many event loops, and whether this build runs them */
#ifndef PGRING_WORKERS_H
#define PGRING_WORKERS_H

#include <stddef.h>

#include "config.h"

/* The number of event loops cfg asks for: workers = N, or with auto the
 * CPUs this process may run on (its affinity mask), in 1..CONFIG_WORKERS_MAX. */
int workers_count(const struct config *cfg);

/* 0 when this build can run what cfg asks for; -1 with err naming what is
 * missing otherwise (more than one worker is refused: doc/workers.md). */
int workers_check(const struct config *cfg, char *err, size_t len);

#endif
