/* admin.h - the admin console (database "pgbouncer" or "pgring"), pause/resume, reload, shutdown */
#ifndef PGRING_ADMIN_H
#define PGRING_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct client;
struct pool;
struct server;

enum console_role {
	CONSOLE_NONE = 0,
	CONSOLE_STATS,		/* stats_users: SHOW only */
	CONSOLE_ADMIN,		/* admin_users: everything */
};

enum shutdown_mode {
	SHUTDOWN_IMMEDIATE = 0,
	SHUTDOWN_WAIT_FOR_SERVERS,	/* pause, then exit once no server is left */
	SHUTDOWN_WAIT_FOR_CLIENTS,	/* refuse new clients, exit once none is left */
};

/* One console command, as parsed from a simple Query. */
struct admin_cmd {
	char verb[32];		/* lower case: "show", "pause", "set", ... */
	char arg[64];		/* the word after it (case kept, unquoted), or "" */
	char value[512];	/* SET: the value (unquoted) */
};

/*
 * Parses "VERB [ARG] [;]" and "SET key = value" / "SET key TO 'value'".
 * Case, whitespace and trailing semicolons are forgiven; words are
 * identifiers or "double quoted".  0, -EINVAL (syntax) or -E2BIG (a word
 * too long).  Empty input gives 0 with an empty verb.
 */
int admin_parse(const char *q, struct admin_cmd *cmd);

/*
 * metrics.c: runs SHOW <what> as the console does, handing each row to fn
 * instead of sending it to a client, so that both show the same figures.
 * Cells are text, NULL for SQL NULL, valid during the call.  0, or -ENOENT
 * for a name that is no SHOW table.
 */
typedef void (*admin_row_fn)(void *arg, int ncols, const char *const *names,
			     const char *const *vals);
int admin_show_rows(struct worker *w, const char *what, admin_row_fn fn, void *arg);

/*
 * workers > 1 (admin_job.c): SHOW what[0..n) on every worker, merged as the
 * console answers them (lists concatenated, counts summed per key); fn runs
 * later on w's thread with the n merged tables (ok false: some could not be
 * built).  0, -ENOENT with one worker (admin_show_rows is the whole
 * process), -ENOMEM.  n at most 8.
 */
struct mtable;
typedef void (*admin_gather_fn)(struct worker *w, uint64_t token, struct mtable *t, int n,
				bool ok);
int admin_gather(struct worker *w, const char *const *what, int n, admin_gather_fn fn,
		 uint64_t token);

/* Console state hangs off w->admin; admin_init starts the stats timer. */
int admin_init(struct worker *w);
void admin_free(struct worker *w);

/* Whether a database name is the console's. */
bool admin_console_db(const char *dbname);

/* Hooks from client.c */
void admin_login(struct client *cl);		/* authenticated, for the console db */
bool admin_db_refused(struct client *cl);	/* DISABLEd: cl failed, true */
int admin_on_header(struct client *cl, uint8_t type, uint32_t len);	/* enum msg_action */
bool admin_on_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len);

/* pool.c reaches these through w->pool_policy (worker.h), set by admin_init */
bool admin_pool_held(const struct pool *pool);	/* paused: pair no client, launch nothing */
bool admin_server_retire(struct server *sv);	/* closes a released server that must go */
/* maint.c: RECONNECT or a reload marked it, to close once released (server_fast_close) */
bool admin_server_close_needed(const struct server *sv);

/* main.c: signals */
int admin_reload(struct worker *w, const char *why);	/* 0, or -1 with the old config kept */
void admin_pause_all(struct worker *w, const char *why);
void admin_resume_all(struct worker *w, const char *why);
void admin_shutdown(struct worker *w, enum shutdown_mode mode, const char *why);
/* SHUTDOWN WAIT_FOR_SERVERS runs: a client asking for a server is dropped (pool_policy). */
bool admin_drops_waiters(const struct worker *w);
/*
 * A shutdown ends once the listeners are closed (their queues taken: those
 * clients are served too) and what it waits for is gone: the clients
 * (WAIT_FOR_CLIENTS) or the servers (WAIT_FOR_SERVERS, checked by its tick).
 */
void admin_maybe_exit(struct worker *w);

#endif
