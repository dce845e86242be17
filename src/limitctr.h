/* limitctr.h - limit counters shared by every worker: reserve before launch (doc/workers.md) */
#ifndef PGRING_LIMITCTR_H
#define PGRING_LIMITCTR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/* What every worker's pools of one name count together. */
enum limit_kind {
	LIMIT_POOL,		/* (database, user): pool_size, reserve_pool_size */
	LIMIT_DB,		/* database: max_db_connections, max_db_client_connections */
	LIMIT_USER,		/* user: max_user_connections, max_user_client_connections */
};

struct limit_slot {
	struct limit_slot *next;	/* in its table bucket */
	struct limit_ctr servers;	/* server connections, open or opening */
	struct limit_ctr clients;	/* logged-in clients */
	/* the workers with a client held back by this limit (pool.c):
	 * wait[i] is worker i's oldest such client's wait start (loop
	 * microseconds, CLOCK_MONOTONIC, so comparable across workers), 0
	 * for none; nwait counts the non-zero ones.  Written by worker i
	 * only, read by whoever frees a unit, to wake the oldest. */
	atomic_uint nwait;
	_Atomic uint64_t *wait;		/* [nworkers] */
	unsigned nworkers;
	enum limit_kind kind;
	size_t keylen;
	char key[];			/* db NUL user NUL, or the one name NUL */
};

/*
 * The slots of a process, by name.  A worker looks its pool's slots up once,
 * when it creates the pool, and keeps the pointers: a slot lives as long as
 * the table, so the mutex is taken only there, never per launch.
 */
struct limit_table {
	pthread_mutex_t lock;
	struct limit_slot **b;
	unsigned nb, n;		/* nb: a power of two */
	unsigned nworkers;	/* each slot's wait[] entries: 1 unless set before any slot_get */
};

int limit_table_init(struct limit_table *t);	/* 0 or -ENOMEM */
void limit_table_free(struct limit_table *t);
/* The slot of kind for db/user (LIMIT_DB ignores user, LIMIT_USER db),
 * made at first use; NULL only when out of memory. */
struct limit_slot *limit_slot_get(struct limit_table *t, enum limit_kind kind, const char *db,
				  const char *user);

/* Worker `worker`'s oldest held-back client waits since `since` (0: none does). */
void limit_wait_set(struct limit_slot *s, unsigned worker, uint64_t since);
/* The worker other than `except` (-1: none excepted) whose held-back client
 * is the oldest, with that client's wait start in *since; -1 if none. */
int limit_wait_oldest(struct limit_slot *s, int except, uint64_t *since);

#endif
