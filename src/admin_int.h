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
	/* workers > 1: owed to the console's worker, not to a client here
	 * (admin_job.c): job id and that worker's index; reply_to -1 if not */
	int reply_to;
	uint64_t job;
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
	/* the columns of the last table begun (admin_job.c answers a gathered
	 * SHOW with them): names are string literals */
	const char *col_names[32];
	uint32_t col_oids[32];
	int col_n;
	/* workers > 1 (admin_job.c): SHOWs and commands waiting for other
	 * workers, and the workers whose loop has ended */
	struct list jobs;
	uint64_t next_job;
	bool *gone;
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

bool admin_multi(const struct admin *a);	/* workers > 1 */
struct client *console_client(struct admin *a, uint64_t id);
bool add_pending_for(struct admin *a, uint64_t client_id, uint8_t kind, const char *db,
		     int reply_to, uint64_t job);
/*
 * What one worker does for a console command broadcast to every worker
 * (admin_job.c): the command's effect on this worker's state, the checks
 * having been made by the console's worker.  0: done; 1: an answer is owed
 * later (a pending entry posts it); -1: refused, the reason in err.
 */
int admin_apply(struct worker *w, const struct admin_cmd *cmd, int reply_to, uint64_t job,
		char *sqlstate, char *err, size_t errlen);
/* RELOAD / SET on worker 0 with snapshot acknowledgements to reply_to:
 * the number of workers that will acknowledge, or -1 (err set) */
int admin_apply_config(struct worker *w, const struct admin_cmd *cmd, int reply_to,
		       uint64_t job, char *sqlstate, char *err, size_t errlen);

/* admin_job.c */
void admin_jobs_init(struct admin *a);
void admin_jobs_free(struct admin *a);
bool admin_job_waiting(struct admin *a, uint64_t client_id);
/* SHOW what across every worker; false if it is a table answered locally */
bool admin_job_show(struct client *cl, struct admin *a, const char *what);
/* a checked command, run by every worker (or by worker 0, or the owner of
 * a KILL_CLIENT id) before the console is answered with tag */
void admin_job_command(struct client *cl, struct admin *a, const struct admin_cmd *cmd,
		       const char *tag);
/* a pending entry or a snapshot acknowledgement of a job settled here */
void admin_job_reply(struct worker *w, int to, uint64_t job, const char *sqlstate,
		     const char *err);
/* this worker's loop ends: the others stop waiting for it */
void admin_job_gone(struct worker *w);

/* admin_show.c */
void stats_of_db(struct admin *a, const char *db, struct stats *total, struct stats *avg);
bool first_of_db(struct admin *a, struct pool *p);
int fake_param(const char *name);
void cmd_show(struct client *cl, struct admin *a, const struct admin_cmd *cmd, const char *q);

#endif
