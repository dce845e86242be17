/* limits.h - limit counters shared by every worker: reserve before launch (doc/workers.md) */
#ifndef PGRING_LIMITS_H
#define PGRING_LIMITS_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * One counter of a limit that every worker's pools share (the servers of a
 * (db, user), of a database, of a user; the process's clients).  A worker
 * reserves a unit before it opens what the limit counts and releases it when
 * that is gone, so the count never passes the limit, not even for a moment,
 * whatever the number of workers.  Touched at launch and close only, never
 * per message.
 */
struct limit_ctr {
	atomic_uint n;
};

/* Takes a unit if n < max (max 0: no limit, always taken); false: full. */
bool limit_take(struct limit_ctr *c, unsigned max);
void limit_give(struct limit_ctr *c);
unsigned limit_count(struct limit_ctr *c);

/* A server counts against up to three limits at once: its pool's size, its
 * database's max_db_connections, its user's max_user_connections.  Takes all
 * of them or none (a NULL counter is skipped); on false, *full says which
 * one was full (its index, 0..2). */
bool limit_take_all(struct limit_ctr *const c[3], const unsigned max[3], int *full);
void limit_give_all(struct limit_ctr *const c[3]);

#endif
