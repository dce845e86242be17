/* log.h - log levels to stderr, a file or syslog; connection-prefixed lines */
#ifndef PGRING_LOG_H
#define PGRING_LOG_H

#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
	LOG_LVL_FATAL = 0,
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_LOG,		/* the default level: LOG lines as PgBouncer prints them */
	LOG_LVL_DEBUG,		/* verbose = 1 */
	LOG_LVL_NOISE,		/* verbose >= 2 */
};

/* The system calls one thread's lines made (fields atomic) */
struct log_tally {
	pthread_t thread;	/* 0 until it joins */
	uint64_t syscalls;
};

/* One per process, owned by main; workers hold a pointer. Writes are single
 * write(2) calls of whole lines, so threads may share it. */
struct logger {
	int level;		/* lines above this level are dropped */
	bool to_stderr;
	bool quiet;		/* -q: nothing to stderr */
	int fd;			/* logfile, -1 if none */
	char *path;
	bool syslog_on;
	char ident[64];
	int facility;
	int pid;		/* in every line; getpid() once, not per line */
	uint64_t syscalls;	/* write(2)s and syslog sends made; atomic */
	/* with several workers, worker i's thread counts its own in
	 * tally[i] (SHOW IO's row i); other threads' go to syscalls */
	struct log_tally *tally;
	int ntally;
	/* with several workers, lines come from every thread: level, quiet,
	 * fd and syslog_on are loaded atomically, and log_configure and
	 * log_reopen (one thread at a time, under cfg_lock) never close an fd
	 * a writer may hold */
	pthread_mutex_t cfg_lock;
	int old_fd;		/* a logfile turned off, closed at exit */
};

void log_init(struct logger *lg);
/* After a fork (daemonize): the pid the lines show. */
void log_set_pid(struct logger *lg);
/* System calls the logger made so far on threads that did not join a
 * tally slot (SHOW IO adds them to worker 0's row). */
uint64_t log_syscalls(const struct logger *lg);
/* n tally slots, one per worker: 0, or -1 when out of memory.  Called
 * before any thread logs but the caller. */
int log_tally_init(struct logger *lg, int n);
/* The calling thread's lines count in slot i from now on. */
void log_tally_join(struct logger *lg, int i);
/* The system calls made by slot i's thread's lines; 0 without slots. */
uint64_t log_tally_syscalls(const struct logger *lg, int i);
/* (Re)opens logfile and syslog per the arguments; 0 or -errno. */
int log_configure(struct logger *lg, const char *logfile, bool use_syslog, const char *ident,
		  const char *facility, int verbose, bool quiet);
int log_reopen(struct logger *lg);
void log_close(struct logger *lg);

void log_msg(struct logger *lg, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(struct logger *lg, enum log_level lvl, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define log_enabled(lg, lvl) ((lg) != NULL && (int)(lvl) <= __atomic_load_n(&(lg)->level, __ATOMIC_RELAXED))
#define log_error(lg, ...) log_msg(lg, LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(lg, ...) log_msg(lg, LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(lg, ...) log_msg(lg, LOG_LVL_LOG, __VA_ARGS__)
#define log_debug(lg, ...) do { if (log_enabled(lg, LOG_LVL_DEBUG)) log_msg(lg, LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_noise(lg, ...) do { if (log_enabled(lg, LOG_LVL_NOISE)) log_msg(lg, LOG_LVL_NOISE, __VA_ARGS__); } while (0)

#endif
