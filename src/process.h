/* process.h - what every worker of one pgring process shares (doc/workers.md) */
#ifndef PGRING_PROCESS_H
#define PGRING_PROCESS_H

#include "limitctr.h"
#include "log.h"

struct worker;

/*
 * Owned by the main thread.  Today it names the workers and the logger;
 * the shared limit counters, the snapshot pointer and the inboxes join it
 * as they are wired (doc/workers.md, "Status in this build").  Nothing in
 * it changes after process_init but what its own functions change.
 */
struct process {
	struct logger *log;
	int nworkers;
	struct worker **workers;	/* [nworkers]; worker i at index i */
	/* every worker's clients, logged in or not, counted from accept to
	 * free: what max_client_conn is checked against at the startup
	 * packet, whichever worker the client landed on */
	struct limit_ctr clients;
};

/* 0, or -1 when out of memory; the workers themselves are the caller's,
 * placed with process_add. */
int process_init(struct process *p, struct logger *log, int nworkers);
/* w becomes worker index of p: w->proc and w->index are set */
void process_add(struct process *p, struct worker *w, int index);
void process_free(struct process *p);

#endif
