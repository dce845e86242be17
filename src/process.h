/* process.h - what every worker of one pgring process shares (doc/workers.md) */
#ifndef PGRING_PROCESS_H
#define PGRING_PROCESS_H

#include <stdatomic.h>

#include "inbox.h"
#include "limitctr.h"
#include "log.h"

struct worker;

/*
 * Owned by the main thread.  It names the workers, the logger, the
 * counters every worker's limits share and each worker's inbox.  Nothing in
 * it changes after process_init but what its own functions change, and
 * those are atomics, the limit table (its mutex) and the inboxes (theirs).
 */
struct process {
	struct logger *log;
	int nworkers;
	struct worker **workers;	/* [nworkers]; worker i at index i */
	/* every worker's clients, logged in or not, counted from accept to
	 * free: what max_client_conn is checked against at the startup
	 * packet, whichever worker the client landed on */
	struct limit_ctr clients;
	/* the servers and clients of each pool, database and user, counted
	 * over every worker (limitctr.h) */
	struct limit_table limits;
	struct inbox *inboxes;		/* [nworkers]: worker i reads inboxes[i] */
	bool have_limits;
	int ninboxes;			/* initialised so far */
	atomic_int exit_code;		/* the highest a worker ended with */
	/* the main thread's own system calls while workers run (main.c's
	 * control); SHOW IO counts them on worker 0's row */
	atomic_ullong main_syscalls;
	atomic_ullong snap_gen;		/* the last snapshot published (admin.c) */
	bool dns_inited;		/* dns_library_init done (main.c) */
	bool torn_down;			/* run_workers tore every worker down (main.c) */
};

/*
 * A closure run on one worker's thread: what workers tell each other
 * (doc/workers.md, "Messages").  The sender allocates it (embedding it in
 * whatever carries the payload); the receiver's run() owns it and frees it.
 */
struct wmsg {
	struct inbox_msg im;
	void (*run)(struct worker *w, struct wmsg *m);
};

/* 0, or -1 when out of memory or out of fds; the workers themselves are
 * the caller's, placed with process_add. */
int process_init(struct process *p, struct logger *log, int nworkers);
/* w becomes worker index of p: w->proc and w->index are set */
void process_add(struct process *p, struct worker *w, int index);
void process_free(struct process *p);

/*
 * Queues m for worker `to`; m->run is called on to's thread, from its loop,
 * at its next turn (never inline, not even when `to` is the caller's own
 * worker).  Never fails: when the wake-up cannot be written (which only a
 * broken eventfd does) it is logged and m still runs at the next one.
 */
void worker_post(struct worker *to, struct wmsg *m);
/* The worker's loop starts (and stops) reading its inbox. */
int worker_inbox_start(struct worker *w);
void worker_inbox_stop(struct worker *w);
/*
 * The system calls made for w that its loop's counter does not hold: the
 * wake-ups written into its inbox (by the senders' threads), its thread's
 * log lines, and on worker 0, which is the main thread when there is one
 * worker, the main thread's own and the lines of threads that are no
 * worker's (main, KDF).  SHOW IO adds them to the row's syscalls, so that
 * the rows add up to what the process makes.
 */
uint64_t worker_syscalls_off_loop(const struct worker *w);
/* Runs what is queued for w now, without its loop (at exit). */
void worker_inbox_drain(struct worker *w);

#endif
