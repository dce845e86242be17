/* log.c - log lines to stderr, a file and syslog, in PgBouncer's format */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static const char *const level_names[] = {
	[LOG_LVL_FATAL] = "FATAL",
	[LOG_LVL_ERROR] = "ERROR",
	[LOG_LVL_WARNING] = "WARNING",
	[LOG_LVL_LOG] = "LOG",
	[LOG_LVL_DEBUG] = "DEBUG",
	[LOG_LVL_NOISE] = "NOISE",
};

static const int level_prio[] = {
	[LOG_LVL_FATAL] = LOG_CRIT,
	[LOG_LVL_ERROR] = LOG_ERR,
	[LOG_LVL_WARNING] = LOG_WARNING,
	[LOG_LVL_LOG] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
	[LOG_LVL_NOISE] = LOG_DEBUG,
};

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON },
	{ "user", LOG_USER }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static int facility_of(const char *name)
{
	if (!name)
		return LOG_DAEMON;
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (!strcasecmp(name, facilities[i].name))
			return facilities[i].facility;
	return LOG_DAEMON;
}

void log_init(struct logger *lg)
{
	memset(lg, 0, sizeof(*lg));
	lg->level = LOG_LVL_LOG;
	lg->to_stderr = true;
	lg->fd = -1;
	lg->old_fd = -1;
	pthread_mutex_init(&lg->cfg_lock, NULL);
	strcpy(lg->ident, "pgbouncer");
	lg->facility = LOG_DAEMON;
	log_set_pid(lg);
}

void log_set_pid(struct logger *lg)
{
	lg->pid = (int)getpid();
}

uint64_t log_syscalls(const struct logger *lg)
{
	return __atomic_load_n(&lg->syscalls, __ATOMIC_RELAXED);
}

int log_tally_init(struct logger *lg, int n)
{
	lg->tally = calloc((size_t)n, sizeof(*lg->tally));
	if (!lg->tally)
		return -1;
	lg->ntally = n;
	return 0;
}

void log_tally_join(struct logger *lg, int i)
{
	if (i >= 0 && i < lg->ntally)
		__atomic_store_n(&lg->tally[i].thread, pthread_self(), __ATOMIC_RELEASE);
}

uint64_t log_tally_syscalls(const struct logger *lg, int i)
{
	if (i < 0 || i >= lg->ntally)
		return 0;
	return __atomic_load_n(&lg->tally[i].syscalls, __ATOMIC_RELAXED);
}

/* One system call made by the calling thread's line: in its slot, or in
 * the logger's own count (a scan of N slots, beside a write(2)). */
static void count_syscall(struct logger *lg)
{
	uint64_t *n = &lg->syscalls;
	pthread_t self = pthread_self();

	for (int i = 0; i < lg->ntally; i++)
		if (pthread_equal(__atomic_load_n(&lg->tally[i].thread, __ATOMIC_ACQUIRE), self)) {
			n = &lg->tally[i].syscalls;
			break;
		}
	__atomic_fetch_add(n, 1, __ATOMIC_RELAXED);
}

static int open_logfile(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/*
 * Other threads may be writing lines while this runs (workers = N): the fd
 * they load is never closed under them.  A new file goes in under the same
 * number with dup2; a logfile turned off leaves its fd open (closed at exit)
 * and the writers stop using it.
 */
static int set_logfile(struct logger *lg, const char *logfile)
{
	char *path;
	int fd, cur = __atomic_load_n(&lg->fd, __ATOMIC_RELAXED);

	if (!logfile || !*logfile) {
		if (cur >= 0) {
			__atomic_store_n(&lg->fd, -1, __ATOMIC_RELEASE);
			if (lg->old_fd >= 0)
				close(lg->old_fd);
			lg->old_fd = cur;
		}
		free(lg->path);
		lg->path = NULL;
		return 0;
	}
	if (cur >= 0 && lg->path && !strcmp(lg->path, logfile))
		return 0;
	path = strdup(logfile);
	if (!path)
		return -ENOMEM;
	fd = open_logfile(logfile);
	if (fd < 0) {
		int ret = -errno;

		free(path);
		return ret;
	}
	if (cur >= 0) {
		if (dup2(fd, cur) < 0) {
			int ret = -errno;

			close(fd);
			free(path);
			return ret;
		}
		close(fd);
	} else {
		__atomic_store_n(&lg->fd, fd, __ATOMIC_RELEASE);
	}
	free(lg->path);
	lg->path = path;
	return 0;
}

int log_configure(struct logger *lg, const char *logfile, bool use_syslog, const char *ident,
		  const char *facility, int verbose, bool quiet)
{
	int ret;

	if (verbose < 0)
		verbose = 0;
	pthread_mutex_lock(&lg->cfg_lock);
	__atomic_store_n(&lg->level, LOG_LVL_LOG + (verbose > LOG_LVL_NOISE - LOG_LVL_LOG ?
						   LOG_LVL_NOISE - LOG_LVL_LOG : verbose),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&lg->quiet, quiet, __ATOMIC_RELAXED);
	if (lg->syslog_on)
		closelog();
	__atomic_store_n(&lg->syslog_on, use_syslog, __ATOMIC_RELAXED);
	if (use_syslog) {
		/* openlog keeps the pointer: it must be ours and outlive the call */
		snprintf(lg->ident, sizeof(lg->ident), "%s", ident && *ident ? ident : "pgbouncer");
		lg->facility = facility_of(facility);
		openlog(lg->ident, LOG_PID | LOG_NDELAY, lg->facility);
	}
	ret = set_logfile(lg, logfile);
	pthread_mutex_unlock(&lg->cfg_lock);
	if (ret < 0)
		errno = -ret;
	return ret;
}

int log_reopen(struct logger *lg)
{
	int fd, ret = 0;

	pthread_mutex_lock(&lg->cfg_lock);
	if (!lg->path)
		goto out;
	fd = open_logfile(lg->path);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (lg->fd < 0) {
		__atomic_store_n(&lg->fd, fd, __ATOMIC_RELEASE);
		goto out;
	}
	/* dup2 swaps the file under the same number: a writer in another thread
	 * never sees a closed fd */
	if (dup2(fd, lg->fd) < 0)
		ret = -errno;
	close(fd);
out:
	pthread_mutex_unlock(&lg->cfg_lock);
	return ret;
}

void log_close(struct logger *lg)
{
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
	if (lg->old_fd >= 0)
		close(lg->old_fd);
	lg->old_fd = -1;
	free(lg->path);
	lg->path = NULL;
	free(lg->tally);
	lg->tally = NULL;
	lg->ntally = 0;
	if (lg->syslog_on)
		closelog();
	lg->syslog_on = false;
}

/* Bytes from clients end up in messages: no line breaks or escapes. */
static void scrub(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			s[i] = '?';
}

static size_t stamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, len - n, ".%03d", (int)(tv.tv_usec / 1000));
	if (n < len)
		n += strftime(buf + n, len - n, " %Z", &tm);
	return n < len ? n : len - 1;
}

static void write_all(struct logger *lg, int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (lg)
			count_syscall(lg);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		buf += r;
		len -= (size_t)r;
	}
}

void log_vmsg(struct logger *lg, enum log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t head, body, n;
	int saved = errno;
	int r, fd;

	if (lvl < LOG_LVL_FATAL || lvl > LOG_LVL_NOISE)
		lvl = LOG_LVL_LOG;
	if (lg && (int)lvl > __atomic_load_n(&lg->level, __ATOMIC_RELAXED))
		return;
	n = stamp(line, sizeof(line));
	r = snprintf(line + n, sizeof(line) - n, " [%d] %s ", lg ? lg->pid : (int)getpid(),
		     level_names[lvl]);
	n += r > 0 ? (size_t)r : 0;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	head = n;
	if (prefix && *prefix) {
		r = snprintf(line + n, sizeof(line) - n, "%s ", prefix);
		n += r > 0 ? (size_t)r : 0;
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
	}
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n += r > 0 ? (size_t)r : 0;
	/* a cut line still ends in a newline */
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	body = n - head;
	scrub(line + head, body);
	line[n++] = '\n';
	line[n] = '\0';

	fd = lg ? __atomic_load_n(&lg->fd, __ATOMIC_ACQUIRE) : -1;
	if (!lg || (lg->to_stderr && !__atomic_load_n(&lg->quiet, __ATOMIC_RELAXED)))
		write_all(lg, STDERR_FILENO, line, n);
	if (fd >= 0)
		write_all(lg, fd, line, n);
	if (lg && __atomic_load_n(&lg->syslog_on, __ATOMIC_RELAXED)) {
		/* syslog stamps time and PID itself */
		line[n - 1] = '\0';
		syslog(level_prio[lvl], "%s", line + head);
		/* one send(2) to the log socket, as a rule */
		count_syscall(lg);
	}
	errno = saved;
}

void log_msg(struct logger *lg, enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lg, lvl, NULL, fmt, ap);
	va_end(ap);
}
