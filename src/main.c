/* main.c - command line, config load, pidfile, daemonize, signals, run */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include <openssl/crypto.h>

#include "notify.h"
#include "worker.h"
#include "process.h"
#include "snapshot.h"
#include "workers.h"

struct opts {
	bool daemon;
	int verbose;
	bool quiet;
	bool check;		/* --check: load every file, report, exit */
	const char *user;
	const char *config;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"%s is a PostgreSQL connection pooler, a drop-in replacement for PgBouncer.\n\n"
		"Usage:\n  %s [OPTION]... CONFIG_FILE\n\n"
		"Options:\n"
		"  -C, --check          check the config and the files it names, then exit\n"
		"  -d, --daemon         run in background (as a daemon)\n"
		"  -q, --quiet          run quietly\n"
		"  -R, --reboot         online restart (not supported; refused)\n"
		"  -u, --user=USERNAME  assume identity of USERNAME\n"
		"  -v, --verbose        increase verbosity\n"
		"  -V, --version        show version, then exit\n"
		"  -h, --help           show this help, then exit\n\n"
		"%s is released under the ISC licence (see LICENSE).\n",
		PACKAGE_NAME, prog, PACKAGE_NAME);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reboot", no_argument, NULL, 'R' },
		{ "user", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "CdqRu:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			o->check = true;
			break;
		case 'd':
			o->daemon = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'R':
			fprintf(stderr, "%s: online restart (-R) is not supported\n", argv[0]);
			return 1;
		case 'u':
			o->user = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			printf("%s %s\nReleased under the ISC licence.\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return 1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: need a config file\n", argv[0]);
		usage(stderr, argv[0]);
		return 1;
	}
	o->config = argv[optind];
	return 0;
}

static void warn_cb(void *arg, const char *msg)
{
	log_warning((struct logger *)arg, "%s", msg);
}

static void fatal_cb(void *arg, const char *msg)
{
	log_msg((struct logger *)arg, LOG_LVL_FATAL, "%s", msg);
}

/* The config file; --check reports every fatal problem in it, counted in
 * *nfatal, where a start stops at the first. */
static int load_config(struct worker *w, const struct opts *o, int *nfatal)
{
	char err[512];
	int ret;

	*nfatal = 0;
	if (o->check)
		ret = config_check_load(o->config, &w->owned_cfg, nfatal, err, sizeof(err),
					warn_cb, fatal_cb, w->log);
	else
		ret = config_load(o->config, &w->owned_cfg, err, sizeof(err), warn_cb, w->log);
	if (ret < 0)
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
	return ret;
}

static int change_user(const char *name, struct logger *lg)
{
	struct passwd *pw = getpwnam(name);

	if (!pw) {
		log_msg(lg, LOG_LVL_FATAL, "could not find user '%s'", name);
		return -1;
	}
	if (setgid(pw->pw_gid) < 0 || initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_msg(lg, LOG_LVL_FATAL, "could not switch to user '%s': %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int daemonize(struct logger *lg)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	/* no directory kept busy (an unmount would fail), and files created
	 * with a known mode whatever the shell's umask.  The config file and
	 * the pidfile were made absolute before; other relative paths in the
	 * config are read from / at a reload (the docs say to avoid them) */
	if (chdir("/") < 0)
		return -1;
	umask(022);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	lg->to_stderr = false;
	log_set_pid(lg);
	return 0;
}

/* The pid in an existing pidfile, 0 if none can be read. */
static pid_t read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = 0;
	return (pid_t)atoi(buf);
}

/* kill(pid, 0) failing with EPERM: a live process of another user. */
static bool pid_running(pid_t pid)
{
	return pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM);
}

/*
 * The pidfile is held with a lock for the process's life: two starts cannot
 * both pass a check and both write it.  The lock is retaken if the file was
 * unlinked under us (its previous holder exiting).  A pid in an unlocked
 * file that still runs (an instance without the lock: PgBouncer, an older
 * pgring) refuses the start as well.
 */
static int write_pidfile(struct worker *w, const char *path)
{
	struct stat st_fd, st_path;
	char buf[32];
	pid_t old;
	int fd, n;

	if (!path || !*path)
		return 0;
	for (int tries = 0;; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			log_msg(w->log, LOG_LVL_FATAL, "could not create pidfile %s: %s", path,
				strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			old = read_pid(fd);
			close(fd);
			log_msg(w->log, LOG_LVL_FATAL, "pidfile %s is locked: process %d is running",
				path, (int)old);
			return -1;
		}
		if (fstat(fd, &st_fd) == 0 && stat(path, &st_path) == 0 &&
		    st_fd.st_ino == st_path.st_ino && st_fd.st_dev == st_path.st_dev)
			break;
		close(fd);
		if (tries == 10) {
			log_msg(w->log, LOG_LVL_FATAL, "pidfile %s keeps changing under us", path);
			return -1;
		}
	}
	old = read_pid(fd);
	if (pid_running(old)) {
		close(fd);
		log_msg(w->log, LOG_LVL_FATAL, "pidfile %s exists and process %d is running", path,
			(int)old);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		log_msg(w->log, LOG_LVL_FATAL, "could not write pidfile %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	w->pidfile = strdup(path);
	if (!w->pidfile) {
		close(fd);
		unlink(path);
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	w->pidfd = fd;
	return 0;
}

/* Unlinked before the lock goes with the close: a start that takes the lock
 * after that finds a fresh file. */
static void remove_pidfile(struct worker *w)
{
	if (!w->pidfile)
		return;
	unlink(w->pidfile);
	close(w->pidfd);
	free(w->pidfile);
	w->pidfile = NULL;
	w->pidfd = -1;
}

/* ---- listeners ---- */

/*
 * Client sockets beyond max_client_conn still get accepted, up to this many,
 * so that they read "no more connections allowed (max_client_conn)" (sent
 * after the startup packet) instead of waiting in the kernel's backlog.
 */
#define ACCEPT_MARGIN	16u
#define ACCEPT_RECHECK_US	100000	/* at the limit with several workers */

static void accept_cb(struct loop *loop, struct loop_op *op, int res, bool more);
static void accept_retry(struct loop *loop, struct loop_timer *t);

/* Client sockets open: every worker's clients (from accept to close) and
 * this worker's closing ones; with one worker, its own sockets. */
static unsigned client_socks(const struct worker *w)
{
	return limit_count(&w->proc->clients) + (w->nclient_socks - w->nclients);
}

/* How many more client sockets may be accepted now: max_client_conn over
 * the process, with a margin for each worker (doc/workers.md). */
static unsigned accept_room(const struct worker *w)
{
	unsigned limit = (w->cfg->max_client_conn > 0 ? (unsigned)w->cfg->max_client_conn : 0) +
			 ACCEPT_MARGIN * (unsigned)w->proc->nworkers, used = client_socks(w);

	if (w->suspended)
		return 0;	/* SUSPEND: newcomers wait in the listen backlog */
	return used >= limit ? 0 : limit - used;
}

/* The most one multishot accept can hand over before its cancel lands: the
 * kernel takes a listener's whole backlog in one go. */
static unsigned accept_burst(const struct worker *w)
{
	unsigned backlog = w->cfg->listen_backlog > 0 ? (unsigned)w->cfg->listen_backlog : 128;

	return (unsigned)w->nlisteners * (backlog + 1);
}

/* At the limit: a log line, at most one a minute however often it is hit. */
static void log_full(struct worker *w)
{
	uint64_t now = loop_now_us(w->loop);

	if (w->accept_full_logged_us && now - w->accept_full_logged_us < 60000000u)
		return;
	w->accept_full_logged_us = now;
	log_warning(w->log, "max_client_conn (%d) reached with %u client sockets open: "
		    "new connections wait in the listen backlog until clients leave",
		    w->cfg->max_client_conn, client_socks(w));
}

/*
 * Arms and cancels the listeners' accepts so that the client sockets stay
 * within max_client_conn + ACCEPT_MARGIN: every armed accept may bring one
 * more, so no more are armed than there is room for.  Far from the limit a
 * multishot accept per listener takes connections in batches; near it each
 * armed accept takes one; at the limit none is armed, and the kernel's
 * backlog holds the newcomers.
 */
static void accept_update(struct worker *w)
{
	unsigned room = accept_room(w), armed = 0;
	bool multi = room > 2 * accept_burst(w), full = false;

	if (w->shutdown)
		return;
	for (int i = 0; i < w->nlisteners; i++) {
		struct listen_sock *ls = &w->listeners[i];

		if (!ls->op.armed)
			continue;
		/* one whose cancel is on the way may still bring a connection */
		if (!ls->op.cancel && (ls->multishot ? !multi : armed >= room))
			loop_cancel(w->loop, &ls->op);
		else if (!ls->op.cancel || !ls->multishot)
			armed++;
	}
	for (int i = 0; i < w->nlisteners; i++) {
		struct listen_sock *ls = &w->listeners[i];

		if (ls->op.armed || loop_timer_armed(&ls->retry))
			continue;
		if (!multi && armed >= room) {
			full = true;
			/* room made by another worker's clients is seen here
			 * only by looking again */
			if (w->proc->nworkers > 1 && !room)
				loop_timer_set(w->loop, &ls->retry, ACCEPT_RECHECK_US, accept_retry);
			continue;
		}
		ls->multishot = multi;
		if (multi)
			loop_accept(w->loop, &ls->sock, &ls->op, accept_cb);
		else
			loop_accept_once(w->loop, &ls->sock, &ls->op, accept_cb);
		armed++;
	}
	if (full && !w->suspended)
		log_full(w);
}

static void accept_retry(struct loop *loop, struct loop_timer *t)
{
	struct listen_sock *ls = list_entry(t, struct listen_sock, retry);

	(void)loop;
	accept_update(ls->w);
}

/* An accept error that is about one connection, not the listener. */
static bool conn_failed_only(int res)
{
	return res == -ECANCELED || res == -ECONNABORTED || res == -EPROTO || res == -EPERM ||
	       res == -EINTR;
}

static void close_listener(struct worker *w, struct listen_sock *ls);

static void accept_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct listen_sock *ls = list_entry(op, struct listen_sock, op);
	struct worker *w = ls->w;

	if (w->shutdown) {
		if (res >= 0 && w->exiting) {
			close(res);
			++*loop_syscalls(loop);
		} else if (res >= 0) {
			client_accept(w, res);	/* won the race with the cancel */
		}
		if (!more)
			close_listener(w, ls);
		return;
	}
	if (res >= 0) {
		client_accept(w, res);
		ls->failing = false;
	} else if (!conn_failed_only(res) && !ls->failing) {
		/* once per run of failures, not at every retry */
		log_warning(w->log, "accept on %s: %s", ls->nl.name, strerror(-res));
		ls->failing = true;
	}
	/* the op ended: re-arm, after a pause unless only that one connection
	 * failed (a full fd table would fail again at once: no tight loop) */
	if (!more && res < 0 && !conn_failed_only(res))
		loop_timer_set(loop, &ls->retry, 100000, accept_retry);
	accept_update(w);
}

static int start_listeners(struct worker *w)
{
	struct net_listener *nls = NULL;
	char err[256];
	int n = net_listen_worker(w->cfg, (int)w->index, w->proc->nworkers, &nls, err, sizeof(err));

	if (n < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		return -1;
	}
	if (n == 0) {
		log_msg(w->log, LOG_LVL_FATAL, "nothing to listen on: set listen_addr or unix_socket_dir");
		return -1;
	}
	w->listeners = calloc((size_t)n, sizeof(*w->listeners));
	if (!w->listeners) {
		net_close_listeners(nls, n, w->cfg);
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	w->nlisteners = n;
	for (int i = 0; i < n; i++) {	/* all of them first: free_listeners closes them */
		w->listeners[i].nl = nls[i];
		w->listeners[i].sock.fd = -1;
	}
	free(nls);
	for (int i = 0; i < n; i++) {
		struct listen_sock *ls = &w->listeners[i];

		ls->w = w;
		if (loop_sock_open(w->loop, &ls->sock, ls->nl.fd) < 0) {
			log_msg(w->log, LOG_LVL_FATAL, "could not set up listener %s", ls->nl.name);
			return -1;
		}
		log_info(w->log, "listening on %s", ls->nl.name);
		w->nlisteners_open++;
	}
	w->client_sock_gone = accept_update;
	accept_update(w);
	return 0;
}

/*
 * Takes what the kernel has already accepted on our behalf (the listen
 * queue), so that closing the listener resets nobody: with so_reuseport a
 * new instance takes the connections that come after, and these few are
 * served here like the clients already in.  Bounded by the backlog.
 */
static void drain_queue(struct worker *w, struct listen_sock *ls)
{
	unsigned max = accept_burst(w);
	int fd;

	++*loop_syscalls(w->loop);
	if (fcntl(ls->sock.fd, F_SETFL, O_NONBLOCK) < 0)
		return;
	while (max-- && (fd = accept4(ls->sock.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		++*loop_syscalls(w->loop);
		client_accept(w, fd);
	}
	++*loop_syscalls(w->loop);
}

/* Once its accept's final completion is in: nothing listens any more, and
 * a connection attempt is refused by the kernel. */
static void close_listener(struct worker *w, struct listen_sock *ls)
{
	if (ls->sock.fd < 0)
		return;
	if (!w->exiting)
		drain_queue(w, ls);
	loop_sock_close(w->loop, &ls->sock);
	ls->nl.fd = -1;
	net_close_listener(&ls->nl);
	if (w->nlisteners_open && !--w->nlisteners_open && !w->exiting)
		admin_maybe_exit(w);
}

/*
 * With tcp_defer_accept a handshake that is complete waits outside the
 * listen queue until the client's first bytes come, where no accept can
 * take it, and closing the listener resets it: a so_reuseport hand-over
 * lost such connections.  Off from now on, they join the queue that
 * close_listener() takes.
 */
static void undefer(struct worker *w, struct listen_sock *ls)
{
	int zero = 0;

	if (ls->nl.family == AF_UNIX || ls->sock.fd < 0 || w->cfg->tcp_defer_accept <= 0)
		return;
	++*loop_syscalls(w->loop);
	(void)setsockopt(ls->sock.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &zero, sizeof(zero));
}

/* How long a TCP listener sharing its port (so_reuseport) still accepts
 * once a shutdown begins. */
#define HANDOVER_GRACE_US	50000

/* The listener closes as soon as its accept has ended (a cancel's
 * completion, next turn). */
static void stop_listener(struct loop *loop, struct loop_timer *t)
{
	struct listen_sock *ls = list_entry(t, struct listen_sock, retry);

	if (ls->op.armed)
		loop_cancel(loop, &ls->op);
	else
		close_listener(ls->w, ls);
}

/*
 * Shutdown begins: accepting stops now.  With so_reuseport another instance
 * takes the port over, and a TCP listener accepts for HANDOVER_GRACE_US
 * more: handshakes the kernel has begun on it (a SYN answered, or complete
 * but held back for tcp_defer_accept until the client's first bytes) end in
 * its queue and are served, instead of being reset at the close (the
 * kernel does not move them to the other listener unless the sysctl
 * net.ipv4.tcp_migrate_req is 1).  Closing at once lost one connection
 * once in a full suite run (exit_reuseport_handover under pgbench -C).
 */
static void stop_listeners(struct worker *w)
{
	for (int i = 0; i < w->nlisteners; i++) {
		struct listen_sock *ls = &w->listeners[i];

		loop_timer_stop(w->loop, &ls->retry);
		if (ls->sock.fd < 0)
			continue;
		undefer(w, ls);
		if (w->cfg->so_reuseport && ls->nl.family != AF_UNIX && !w->exiting)
			loop_timer_set(w->loop, &ls->retry, HANDOVER_GRACE_US, stop_listener);
		else
			stop_listener(w->loop, &ls->retry);
	}
}

/* At exit, after the loop is gone: what is still open (an accept the
 * kernel never ended), and the unix socket files. */
static void free_listeners(struct worker *w)
{
	for (int i = 0; i < w->nlisteners; i++) {
		net_close_listener(&w->listeners[i].nl);	/* its fd is sock.fd */
		w->listeners[i].sock.fd = -1;
	}
	free(w->listeners);
	w->listeners = NULL;
	w->nlisteners = 0;
}

/* ---- signals and reload ---- */

static void reload(struct worker *w)
{
	admin_reload(w, "got SIGHUP");
	accept_update(w);	/* max_client_conn may have changed */
}

/* SIGTERM waits for clients, SIGINT for servers (as PAUSE), a second one
 * exits at once: PgBouncer's signal semantics */
static void begin_shutdown(struct worker *w, enum shutdown_mode mode, const char *why)
{
	if (!w->shutdown)
		notify_stopping(why);
	admin_shutdown(w, mode, why);
}

/* What a signal does to one worker; with several workers the main thread
 * posts each signal to every worker (SIGHUP to worker 0 only: it loads the
 * new snapshot once and publishes it to the others). */
static void act_on_signal(struct worker *w, int signo)
{
	switch (signo) {
	case SIGHUP:
		reload(w);
		break;
	case SIGTERM:
		begin_shutdown(w, SHUTDOWN_WAIT_FOR_CLIENTS, "got SIGTERM");
		break;
	case SIGINT:
		begin_shutdown(w, SHUTDOWN_WAIT_FOR_SERVERS, "got SIGINT");
		break;
	case SIGQUIT:
		begin_shutdown(w, SHUTDOWN_IMMEDIATE, "got SIGQUIT");
		break;
	case SIGUSR1:
		admin_pause_all(w, "got SIGUSR1");
		break;
	case SIGUSR2:
		admin_resume_all(w, "got SIGUSR2");
		break;
	default:
		break;
	}
}

/* Drained until EAGAIN: every read, the last one too, is a system call. */
static bool next_signal(struct worker *w, struct signalfd_siginfo *si)
{
	++*loop_syscalls(w->loop);
	return read(w->sigfd, si, sizeof(*si)) == (ssize_t)sizeof(*si);
}

static void signal_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct worker *w = list_entry(op, struct worker, sigop);
	struct signalfd_siginfo si;

	while (next_signal(w, &si))
		act_on_signal(w, (int)si.ssi_signo);
	/* a second signal during a shutdown still counts; at exit nothing does */
	if (!more && !w->exiting)
		loop_poll(loop, &w->sigsock, &w->sigop, signal_cb);
}

/*
 * The signals pgring acts on, blocked and read from a signalfd.  Blocked
 * before any worker thread exists: threads inherit the mask, so that no
 * thread ever runs a handler and the signalfd gets every one of them.
 */
static int block_signals(sigset_t *set)
{
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return -1;
	return signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int setup_signals(struct worker *w)
{
	sigset_t set;
	int fd;

	fd = block_signals(&set);
	if (fd < 0)
		return -1;
	w->sigfd = fd;
	if (loop_sock_open(w->loop, &w->sigsock, fd) < 0)
		return -1;
	/* read(2) drains it here, so it stays non-blocking whatever the backend */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -1;
	loop_poll(w->loop, &w->sigsock, &w->sigop, signal_cb);
	return 0;
}

static enum loop_backend_kind backend_kind(int conf)
{
	switch (conf) {
	case EVENT_BACKEND_IO_URING:
		return LOOP_BACKEND_IO_URING;
	case EVENT_BACKEND_EPOLL:
		return LOOP_BACKEND_EPOLL;
	default:
		return LOOP_BACKEND_AUTO;
	}
}

static uint64_t db_servers(const struct config *cfg, const struct db_conf *db)
{
	int size = db->pool_size != CONF_UNSET ? db->pool_size : cfg->default_pool_size;
	int reserve = db->reserve_pool_size != CONF_UNSET ? db->reserve_pool_size :
		cfg->reserve_pool_size;

	return (uint64_t)(size > 0 ? size : 0) + (uint64_t)(reserve > 0 ? reserve : 0);
}

/*
 * Receive buffers in the shared pool, from the config (fixed at start: a
 * RELOAD does not resize it).  What may pin pool buffers: a server's input
 * while its client does not read (INQ_HIGH_BUFS, plus a header in pieces),
 * and a send queue (OUTQ_POOL_MAX; past that conn.c copies to the heap).
 * Servers come from the [databases] pool sizes (one user per database
 * assumed); of max_client_conn clients a quarter is assumed to be sending at
 * once.  The result is rounded up to a power of two, never below 2048 (what
 * pgring always had), never above 64 MiB of buffers (but 16 buffers at
 * least, whatever pkt_buf) nor 32768 (io_uring's limit).  A pool that still runs dry only slows receives down: conns park
 * on ENOBUFS and are re-armed when buffers come back (conn.c).  Each worker
 * has a pool of its own, for its share of the connections: the figures
 * and the bounds are divided among the workers (512 buffers at least).
 */
static unsigned pool_bufs(const struct config *cfg, unsigned nworkers)
{
	/* each worker serves about its share of the clients and servers */
	uint64_t servers = 0, want, ceiling, n = nworkers > 4 ? 512 : 2048 / nworkers;
	unsigned buf = config_recv_buf_size(cfg);

	for (size_t i = 0; i < cfg->ndbs; i++)
		servers += db_servers(cfg, &cfg->dbs[i]);
	if (cfg->fallback_db)
		servers += db_servers(cfg, cfg->fallback_db);
	want = servers * (INQ_HIGH_BUFS + HOLD_MAX + OUTQ_POOL_MAX) +
		(uint64_t)(cfg->max_client_conn > 0 ? cfg->max_client_conn : 0) * OUTQ_POOL_MAX / 4;
	want = (want + nworkers - 1) / nworkers;
	ceiling = (64u << 20) / nworkers / buf;
	if (ceiling > 32768)
		ceiling = 32768;
	if (ceiling < 16)
		ceiling = 16;
	while (n < want && n * 2 <= ceiling)
		n *= 2;
	while (n > ceiling && n > 1)
		n /= 2;
	return (unsigned)n;
}

/* ---- exit ---- */

/* Every op cancelled, every conn closed: the kernel holds nothing of ours. */
static void close_all(struct worker *w)
{
	w->shutdown = true;
	w->exiting = true;
	loop_timer_stop(w->loop, &w->janitor);
	loop_timer_stop(w->loop, &w->starved_timer);
	stop_listeners(w);
	if (w->sigop.armed)
		loop_cancel(w->loop, &w->sigop);
	worker_inbox_stop(w);
	metrics_stop(w);
	kdf_unwait(&w->warm);
	kdf_cancel(w->kdf);
	client_close_all(w, "pgring is shutting down");
	pool_close_servers(w, "pgring is shutting down");
	server_close_draining(w);	/* at exit nothing waits for PostgreSQL's EOF */
	server_close_cancels(w);
}

/*
 * Turns until the cancels' completions are in and the conns freed (cancel
 * connections still connecting were closed by close_all).  2 s at most:
 * what is left then, loop_free() cancels and reaps without callbacks.
 */
static void drain_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;	/* only ends the wait: drain() checks the clock */
}

static void drain(struct worker *w)
{
	uint64_t deadline = loop_clock_us() + 2000000;
	struct loop_timer t = { 0 };

	/* a turn waits no longer than the deadline, whatever timers are left */
	loop_timer_set(w->loop, &t, 2000000, drain_deadline);
	while (!loop_idle(w->loop) && loop_clock_us() < deadline)
		if (loop_run_once(w->loop) < 0)
			break;
	loop_timer_stop(w->loop, &t);
	if (!loop_idle(w->loop))
		log_warning(w->log, "exit: %u operations did not end in time", loop_armed(w->loop));
}

/* A client or server not freed: each holds its pool until then, and every
 * accepted client socket is counted until its free. */
static bool conns_left(struct worker *w)
{
	struct list_node *pos;

	list_for_each(pos, &w->pools)
		if (list_entry(pos, struct pool, node)->refs)
			return true;
	return w->nclient_socks > 0;
}

/* The order matters: conns before their pools, the loop before the fds
 * its ops may still name (after a failed drain), the config last.  Conns
 * a failed drain left (a loop the kernel refuses) keep their memory, which
 * the kernel may still use, and the pools they point to. */
static void teardown(struct worker *w)
{
	if (w->loop) {
		close_all(w);
		dns_stop(w->dns);	/* its sockets' polls end in the drain */
		drain(w);
		metrics_free(w);
		dns_free(w->dns);
		w->dns = NULL;
		admin_free(w);
		if (conns_left(w))
			log_warning(w->log, "exit: connections left open, their memory kept");
		else
			pool_free_all(w);
		loop_free(w->loop);
		w->loop = NULL;
		/* posted since: run without a loop, they only let go */
		if (w->proc)
			worker_inbox_drain(w);
	}
	/* after the loop: no waiter is left to call back */
	kdf_stop(w->kdf);
	w->kdf = NULL;
	OPENSSL_cleanse(w->server_secret, sizeof(w->server_secret));
	conn_free_blocks(w);
	client_cancel_index_free(w);
	xcancel_free_all(w);	/* after the inbox's last drain */
	server_peer_pools_free(w);
	hosts_table_free(&w->hosts);
	free_listeners(w);
	if (w->sigfd >= 0)
		close(w->sigfd);
	w->sigfd = -1;
	remove_pidfile(w);
	if (w->snap) {
		snapshot_unref(w->snap);	/* the config and the userlist */
		w->snap = NULL;
		w->cfg = NULL;
		w->cfg_epoch++;
	} else {
		userlist_free(w->users);
	}
	w->users = NULL;
	tls_worker_free(w);
	pkt_free(&w->tmp);
	free(w->cfg_path);
	w->cfg_path = NULL;
}

/* -u (or user =) as root switches to it; without root it cannot, and a
 * name other than our own is an error rather than ignored. */
static int check_user(const struct opts *o, const struct config *cfg, struct logger *lg)
{
	const char *user = o->user ? o->user : (cfg->user && *cfg->user ? cfg->user : NULL);
	struct passwd *pw;

	if (getuid() == 0) {
		if (user)
			return change_user(user, lg);
		log_msg(lg, LOG_LVL_FATAL, "pgring should not run as root: set user = or use -u");
		return -1;
	}
	if (!o->user)
		return 0;	/* user = is for starts as root, as in PgBouncer */
	pw = getpwnam(o->user);
	if (pw && pw->pw_uid == getuid())
		return 0;
	log_msg(lg, LOG_LVL_FATAL, "-u %s: only root can switch users, and pgring runs as uid %d",
		o->user, (int)getuid());
	return -1;
}

/* What prepare() loaded becomes the worker's snapshot: its one reference. */
static int hold_snapshot(struct worker *w)
{
	w->snap = snapshot_new(w->owned_cfg, w->users, 1);
	if (!w->snap) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	w->owned_cfg = NULL;
	return 0;
}

/*
 * Config, user, logfile, auth_file: what comes before the loop.  --check
 * runs this too, all of it but the user switch and the logfile: a file
 * loaded here is checked by --check, so load new files here.
 */
static int prepare(struct worker *w, const struct opts *o)
{
	char err[512];
	int nfatal;

	if (load_config(w, o, &nfatal) < 0)
		return -1;
	w->cfg = w->owned_cfg;
	w->cfg_epoch++;
	if (metrics_check_config(w->cfg, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		nfatal++;
	}
	if (workers_check(w->cfg, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		nfatal++;
	}
	if (nfatal && !o->check)
		return -1;
	if (o->check)
		goto files;
	/* the service user opens the logfile, so that it owns one it creates */
	if (check_user(o, w->cfg, w->log) < 0)
		return -1;
	if (log_configure(w->log, w->cfg->logfile, w->cfg->syslog, w->cfg->syslog_ident,
			  w->cfg->syslog_facility,
			  o->verbose > w->cfg->verbose ? o->verbose : w->cfg->verbose, o->quiet) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "could not open logfile %s: %s", w->cfg->logfile,
			strerror(errno));
		return -1;
	}
files:
	w->cfg_path = realpath(o->config, NULL);
	if (!w->cfg_path)
		w->cfg_path = strdup(o->config);
	if (!w->cfg_path) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	if (auth_random(w->server_secret, sizeof(w->server_secret)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "no random bytes for the server secret");
		return -1;
	}
	if (param_setup(w, w->cfg->track_extra_parameters, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		return -1;
	}
	/* read as the service user, as every reload will */
	if (config_attach_hba(w->owned_cfg, NULL, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		if (!o->check)
			return -1;
		nfatal++;	/* --check goes on to the auth_file */
	}
	if (w->cfg->auth_file && *w->cfg->auth_file &&
	    userlist_load(w->cfg->auth_file, &w->users, err, sizeof(err), warn_cb, w->log) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "auth_file: %s", err);
		return -1;
	}
	if (tls_worker_init(w, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "TLS setup failed: %s", err);
		return -1;
	}
	if (nfatal)
		return -1;
	return hold_snapshot(w);
}

/* Loop, signals, listeners, console: up and serving, or -1. */
static int start(struct worker *w)
{
	struct loop_params lp;
	const char *why = NULL;
	char err[512];

	/* the ring is built after the user switch, in the thread that runs it:
	 * the service user's locked-memory limit is what counts */
	memset(&lp, 0, sizeof(lp));
	lp.backend = backend_kind(w->cfg->event_backend);
	lp.buf_size = config_recv_buf_size(w->cfg);
	lp.nbufs = pool_bufs(w->cfg, (unsigned)w->proc->nworkers);
	w->loop = loop_new(&lp, &why, err, sizeof(err));
	if (!w->loop) {
		log_msg(w->log, LOG_LVL_FATAL, "could not start the event loop: %s", err);
		return -1;
	}
	if (why)
		log_info(w->log, "event backend: %s (io_uring unavailable: %s)",
			 loop_backend_name(w->loop), why);
	else
		log_info(w->log, "event backend: %s", loop_backend_name(w->loop));
	log_info(w->log, "receive pool: %u buffers of %u bytes", lp.nbufs, lp.buf_size);
	if (w->index == 0) {
		log_info(w->log, "workers: %d", w->proc->nworkers);
		if ((unsigned)w->cfg->pkt_buf < lp.buf_size)
			log_info(w->log, "pkt_buf %d is below pgring's smallest receive buffer: "
				 "%u bytes used", w->cfg->pkt_buf, lp.buf_size);
	}
	/* with several workers the main thread reads the signals */
	if (w->proc->nworkers == 1 && setup_signals(w) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "could not set up signals: %s", strerror(errno));
		return -1;
	}
	if (worker_inbox_start(w) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "could not watch the worker's inbox: %s",
			strerror(errno));
		return -1;
	}
	w->dns = dns_new(w->loop, w->log, &w->cfg, err, sizeof(err));
	if (!w->dns) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		return -1;
	}
	/* kdf_threads is the process's: each worker's pool gets its share */
	w->kdf = kdf_start(w->loop, w->cfg->kdf_threads / w->proc->nworkers > 0 ?
			   w->cfg->kdf_threads / w->proc->nworkers : 1, err, sizeof(err));
	if (!w->kdf) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		return -1;
	}
	if (start_listeners(w) < 0)
		return -1;
	w->stop_accepting = stop_listeners;
	if (admin_init(w) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return -1;
	}
	if (w->index == 0 && metrics_start(w) < 0)
		return -1;
	maint_start(w);
	if (w->index == 0)
		client_kdf_warm(w);	/* the keys it caches serve every worker */
	return 0;
}

/* The pidfile's path as given, or made absolute before -d leaves the
 * directory a relative one names a file in; NULL when out of memory. */
static char *pidfile_path(const char *p)
{
	char cwd[4096], *abs;

	if (!p || !*p || p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(p ? p : "");
	abs = malloc(strlen(cwd) + strlen(p) + 2);
	if (abs)
		sprintf(abs, "%s/%s", cwd, p);
	return abs;
}

static void worker_fields_init(struct worker *w, struct logger *lg)
{
	w->log = lg;
	w->sigfd = -1;
	w->pidfd = -1;
	list_init(&w->pools);
	list_init(&w->clients);
	list_init(&w->login_clients);
	list_init(&w->starved);
	list_init(&w->draining);
	list_init(&w->cancels);
	pkt_init(&w->tmp);
}

/* ---- several workers: one thread each, the main thread reads signals ---- */

struct runner {
	struct process *proc;
	pthread_t *threads;
	bool *joinable;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started, failed;	/* workers whose start() returned */
	int done_efd;		/* written by each worker whose loop ended */
};

struct worker_arg {
	struct runner *r;
	struct worker *w;
};

/* Worker i (> 0) shares worker 0's config snapshot, its secrets and the
 * logger; what it opens itself (loop, listeners, TLS contexts) start()
 * and tls_worker_init make in its thread or here. */
static struct worker *worker_clone(struct worker *w0, int index)
{
	struct worker *w = calloc(1, sizeof(*w));
	char err[512];

	if (!w) {
		log_msg(w0->log, LOG_LVL_FATAL, "out of memory");
		return NULL;
	}
	worker_fields_init(w, w0->log);
	process_add(w0->proc, w, index);
	memcpy(w->server_secret, w0->server_secret, sizeof(w->server_secret));
	memcpy(w->param_extra, w0->param_extra, sizeof(w->param_extra));
	w->nparam_extra = w0->nparam_extra;
	snapshot_ref(w0->snap);
	w->snap = w0->snap;
	w->cfg = w->snap->cfg;
	w->cfg_epoch++;
	w->users = w->snap->users;
	w->cfg_path = strdup(w0->cfg_path);
	if (!w->cfg_path) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return w;	/* teardown frees what it has */
	}
	if (tls_worker_init(w, err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "TLS setup failed: %s", err);
		free(w->cfg_path);
		w->cfg_path = NULL;
	}
	return w;
}

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct runner *r = wa->r;
	struct worker *w = wa->w;
	uint64_t one = 1;
	bool ok;
	int ret;

	log_tally_join(w->log, (int)w->index);	/* before start() logs */
	ok = w->cfg_path && start(w) == 0;
	free(wa);
	pthread_mutex_lock(&r->lock);
	r->started++;
	if (!ok)
		r->failed++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (ok) {
		ret = loop_run(w->loop);
		if (ret < 0) {
			log_msg(w->log, LOG_LVL_FATAL, "worker %u: event loop failed: %s", w->index,
				strerror(-ret));
			w->exit_code = 1;
		}
	} else {
		w->exit_code = 1;
	}
	teardown(w);		/* in its own thread: the ring is this thread's */
	if (w->exit_code > atomic_load(&w->proc->exit_code))
		atomic_store(&w->proc->exit_code, w->exit_code);
	while (write(r->done_efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

struct sigmsg {
	struct wmsg m;
	int signo;
};

static void sig_run(struct worker *w, struct wmsg *m)
{
	int signo = ((struct sigmsg *)m)->signo;

	free(m);
	if (w->loop && !w->exiting)
		act_on_signal(w, signo);
}

static void post_signal(struct worker *w, int signo)
{
	struct sigmsg *sm = calloc(1, sizeof(*sm));

	if (!sm) {
		log_error(w->log, "out of memory: signal %d not passed to worker %u", signo,
			  w->index);
		return;
	}
	sm->m.run = sig_run;
	sm->signo = signo;
	worker_post(w, &sm->m);
}

static void broadcast_signal(struct process *p, int signo)
{
	/* a reload is loaded once, by worker 0, and published by it */
	if (signo == SIGHUP) {
		post_signal(p->workers[0], signo);
		return;
	}
	for (int i = 0; i < p->nworkers; i++)
		post_signal(p->workers[i], signo);
}

/* A read(2) of the main thread's, counted for SHOW IO: whether it read len */
static bool main_read(struct process *p, int fd, void *buf, size_t len)
{
	atomic_fetch_add(&p->main_syscalls, 1);
	return read(fd, buf, len) == (ssize_t)len;
}

/* The main thread's loop: signals in, until every worker's loop ended.  A
 * worker that ends on an error takes the others down with it. */
static void control(struct runner *r, int sigfd)
{
	struct process *p = r->proc;
	int ndone = 0, nrun = r->started;	/* a failed start ends too */
	bool stopping = false;

	while (ndone < nrun) {
		struct pollfd pf[2] = { { .fd = sigfd, .events = POLLIN },
					{ .fd = r->done_efd, .events = POLLIN } };
		struct signalfd_siginfo si;
		uint64_t n;

		atomic_fetch_add(&p->main_syscalls, 1);
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error(p->log, "poll: %s", strerror(errno));
			atomic_fetch_add(&p->main_syscalls, 1);
			sleep(1);
			continue;
		}
		while (main_read(p, sigfd, &si, sizeof(si)))
			broadcast_signal(p, (int)si.ssi_signo);
		/* the eventfd blocks: read only when it is readable, or the
		 * first signal would leave this thread stuck here */
		if ((pf[1].revents & POLLIN) && main_read(p, r->done_efd, &n, sizeof(n)))
			ndone += (int)n;
		if (ndone && ndone < nrun && !stopping && atomic_load(&p->exit_code)) {
			stopping = true;
			for (int i = 0; i < p->nworkers; i++)
				post_signal(p->workers[i], SIGQUIT);
		}
	}
}

/* Workers 1..N-1 are made here; worker 0 (w0, prepared) too runs in a
 * thread of its own.  The exit code is the highest any worker ended with. */
static int run_workers(struct worker *w0)
{
	struct process *p = w0->proc;
	struct runner r = { .proc = p, .done_efd = -1 };
	sigset_t set;
	int sigfd, nthreads = 0, ret = 1;

	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.cond, NULL);
	sigfd = block_signals(&set);
	r.done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);	/* read after every poll */
	r.threads = calloc((size_t)p->nworkers, sizeof(*r.threads));
	if (sigfd < 0 || r.done_efd < 0 || !r.threads || log_tally_init(w0->log, p->nworkers) < 0) {
		log_msg(w0->log, LOG_LVL_FATAL, "could not start the workers: %s",
			strerror(errno));
		goto out;
	}
	for (int i = 1; i < p->nworkers; i++)
		if (!worker_clone(w0, i))
			goto out;
	for (; nthreads < p->nworkers; nthreads++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		int err;

		if (!wa) {
			log_msg(w0->log, LOG_LVL_FATAL, "out of memory");
			break;
		}
		wa->r = &r;
		wa->w = p->workers[nthreads];
		err = pthread_create(&r.threads[nthreads], NULL, worker_main, wa);
		if (err) {
			free(wa);
			log_msg(w0->log, LOG_LVL_FATAL, "could not start worker %d: %s", nthreads,
				strerror(err));
			break;
		}
	}
	pthread_mutex_lock(&r.lock);
	while (r.started < nthreads)
		pthread_cond_wait(&r.cond, &r.lock);
	pthread_mutex_unlock(&r.lock);
	if (r.failed || nthreads < p->nworkers) {
		for (int i = 0; i < nthreads; i++)
			post_signal(p->workers[i], SIGQUIT);
	} else {
		log_info(w0->log, "process up: %s %s, pid %d, %d workers", PACKAGE_NAME,
			 PACKAGE_VERSION, (int)getpid(), p->nworkers);
		notify_ready();
	}
	control(&r, sigfd);
	for (int i = 0; i < nthreads; i++)
		pthread_join(r.threads[i], NULL);
	log_info(w0->log, "shutting down");
	ret = r.failed || nthreads < p->nworkers ? 1 : atomic_load(&p->exit_code);
out:
	p->torn_down = true;	/* every worker, worker 0 too: main() does not */
	/* workers that never ran a thread: their part of the teardown */
	for (int i = nthreads > 0 ? nthreads : 0; i < p->nworkers; i++)
		if (p->workers[i])
			teardown(p->workers[i]);
	for (int i = 1; i < p->nworkers; i++)
		free(p->workers[i]);
	if (sigfd >= 0)
		close(sigfd);
	if (r.done_efd >= 0)
		close(r.done_efd);
	free(r.threads);
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
	return ret;
}

static int run(struct worker *w, struct process *proc, const struct opts *o)
{
	char *pidfile;
	char err[256];
	int ret;

	if (o->check) {
		if (prepare(w, o) < 0) {
			fprintf(stderr, "%s: %s: check failed\n", PACKAGE_NAME, o->config);
			return 1;
		}
		printf("%s: %s: configuration OK\n", PACKAGE_NAME, o->config);
		return 0;
	}
	if (prepare(w, o) < 0)
		return 1;
	if (process_init(proc, w->log, workers_count(w->cfg)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return 1;
	}
	process_add(proc, w, 0);
	if (!(pidfile = pidfile_path(w->cfg->pidfile))) {
		log_msg(w->log, LOG_LVL_FATAL, "out of memory");
		return 1;
	}
	if (o->daemon && daemonize(w->log) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "could not daemonize: %s", strerror(errno));
		free(pidfile);
		return 1;
	}
	ret = write_pidfile(w, pidfile);
	free(pidfile);
	if (ret < 0)
		return 1;
	if (dns_library_init(err, sizeof(err)) < 0) {
		log_msg(w->log, LOG_LVL_FATAL, "%s", err);
		return 1;
	}
	proc->dns_inited = true;
	if (proc->nworkers > 1)
		return run_workers(w);
	if (start(w) < 0)
		return 1;
	log_info(w->log, "process up: %s %s, pid %d", PACKAGE_NAME, PACKAGE_VERSION,
		 (int)getpid());
	notify_ready();
	ret = loop_run(w->loop);
	if (ret < 0) {
		/* not 0: Restart=on-failure must see it */
		log_msg(w->log, LOG_LVL_FATAL, "event loop failed: %s", strerror(-ret));
		w->exit_code = 1;
	}
	log_info(w->log, "shutting down");
	return w->exit_code;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct logger lg;
	struct process proc;
	struct worker w;
	int ret;

	if (parse_args(argc, argv, &o))
		return 1;
	log_init(&lg);
	lg.quiet = o.quiet;
	memset(&w, 0, sizeof(w));
	memset(&proc, 0, sizeof(proc));
	worker_fields_init(&w, &lg);
	ret = run(&w, &proc, &o);
	/* every exit, an error at start-up too: nothing of ours outlives us;
	 * with several workers each tore itself down in its thread */
	if (!proc.torn_down)
		teardown(&w);
	config_free(w.owned_cfg);
	if (proc.dns_inited)
		dns_library_cleanup();
	process_free(&proc);
	log_close(&lg);
	return ret;
}
