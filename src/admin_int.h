/* admin_int.h - what admin.c (commands that change state) and admin_show.c
 * (the SHOW tables) share: the console's state and its answers */
#ifndef PGRING_ADMIN_INT_H
#define PGRING_ADMIN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "worker.h"

#define MAX_PENDING	64

/* Per-database flags set from the console; databases are config entries,
 * which are immutable, so these live here by name. */
struct admin_db {
	char name[64];
	bool paused;
	bool disabled;
	uint64_t reconnect_us;	/* servers connected before this must close */
};

enum wait_kind {
	WAIT_PAUSE = 1,
	WAIT_CLOSE,
	WAIT_SUSPEND,
};

/* A console client owed an answer (PAUSE, WAIT_CLOSE), found again by id. */
struct pending {
	uint64_t client_id;
	uint8_t kind;
	char db[64];		/* "" = every database */
};

struct admin {
	struct worker *w;
	admin_row_fn sink;		/* admin_show_rows: rows go here, not to a client */
	void *sink_arg;
	struct pool pool;		/* the console's pool, outside w->pools */
	bool paused;			/* global PAUSE */
	uint64_t suspend_start_us;	/* SUSPEND began (suspend_timeout) */
	int shutdown_mode;
	struct admin_db *dbs;
	size_t ndbs;
	uint64_t reconnect_all_us;	/* RECONNECT with no database */
	struct pending pending[MAX_PENDING];
	int npending;
	struct loop_timer tick;
	struct loop_timer stats_timer;
	uint64_t stats_stamp_us;
	struct pktbuf out;
};

/* admin.c */
struct admin_db *db_state(struct admin *a, const char *name, bool create);
struct pool *next_pool(struct admin *a, struct pool *p);
struct pool *next_db_pool(struct admin *a, struct pool *p);	/* the pooled ones only */
unsigned servers_of(const struct pool *p);
bool must_reconnect(struct admin *a, const struct server *sv);
void reply_ok(struct client *cl, const char *tag);
void reply_error(struct client *cl, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* admin_show.c */
void stats_of_db(struct admin *a, const char *db, struct stats *total, struct stats *avg);
bool first_of_db(struct admin *a, struct pool *p);
int fake_param(const char *name);
void cmd_show(struct client *cl, struct admin *a, const struct admin_cmd *cmd, const char *q);

#endif
