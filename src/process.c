/* process.c - what every worker of one pgring process shares (doc/workers.md) */

#include <stdlib.h>

#include "process.h"
#include "worker.h"

int process_init(struct process *p, struct logger *log, int nworkers)
{
	p->log = log;
	atomic_init(&p->clients.n, 0);
	p->nworkers = nworkers < 1 ? 1 : nworkers;
	p->workers = calloc((size_t)p->nworkers, sizeof(*p->workers));
	return p->workers ? 0 : -1;
}

void process_add(struct process *p, struct worker *w, int index)
{
	w->proc = p;
	w->index = (unsigned)index;
	p->workers[index] = w;
}

void process_free(struct process *p)
{
	free(p->workers);
	p->workers = NULL;
	p->nworkers = 0;
}
