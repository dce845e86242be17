/* net.c - sockets: listeners (TCP v4/v6, unix), server addresses, socket options; never logs */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "net.h"

struct lsn_set {
	struct net_listener *v;
	int n, cap;
	bool reuseport;		/* SO_REUSEPORT on the TCP sockets */
};

static int lsn_add(struct lsn_set *s, int fd, int family, const char *name)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 4;
		struct net_listener *v = realloc(s->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].fd = fd;
	s->v[s->n].family = family;
	snprintf(s->v[s->n].name, sizeof(s->v[s->n].name), "%s", name);
	s->n++;
	return 0;
}

/* "127.0.0.1:6432", "[::1]:6432", "unix" */
static void addr_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "unix");
		break;
	}
}

static int setopt_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

/* ---- TCP listeners ---- */

static int tcp_listen_one(const struct config *cfg, const struct sockaddr *sa, socklen_t salen,
			  struct lsn_set *s, char *err, size_t errlen)
{
	char name[128];
	int fd, ret;

	addr_name(sa, name, sizeof(name));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket %s: %s", name, strerror(-ret));
		return ret;
	}
	ret = setopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!ret && s->reuseport)
		ret = setopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	/* "*" binds :: next to 0.0.0.0: the v6 socket must not claim v4 too */
	if (!ret && sa->sa_family == AF_INET6)
		ret = setopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (ret) {
		snprintf(err, errlen, "setsockopt %s: %s", name, strerror(-ret));
		goto fail;
	}
	if (bind(fd, sa, salen) < 0) {
		ret = -errno;
		snprintf(err, errlen, "bind %s: %s", name, strerror(-ret));
		goto fail;
	}
	if (listen(fd, cfg->listen_backlog > 0 ? cfg->listen_backlog : 128) < 0) {
		ret = -errno;
		snprintf(err, errlen, "listen %s: %s", name, strerror(-ret));
		goto fail;
	}
	/* a client speaks first: wake up only when its startup packet is in */
	if (cfg->tcp_defer_accept > 0)
		(void)setopt_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, cfg->tcp_defer_accept);
	ret = lsn_add(s, fd, sa->sa_family, name);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	close(fd);
	return ret;
}

static int tcp_listen_wildcard(const struct config *cfg, struct lsn_set *s, char *err,
			       size_t errlen)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	int ret;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons((uint16_t)cfg->listen_port);
	in.sin_addr.s_addr = htonl(INADDR_ANY);
	ret = tcp_listen_one(cfg, (struct sockaddr *)&in, sizeof(in), s, err, errlen);
	if (ret)
		return ret;
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons((uint16_t)cfg->listen_port);
	in6.sin6_addr = in6addr_any;
	ret = tcp_listen_one(cfg, (struct sockaddr *)&in6, sizeof(in6), s, err, errlen);
	/* a host without IPv6 still serves IPv4 */
	if (ret == -EAFNOSUPPORT || ret == -EADDRNOTAVAIL)
		ret = 0;
	return ret;
}

static int tcp_listen_host(const struct config *cfg, const char *host, struct lsn_set *s,
			   char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "could not resolve listen_addr %s: %s", host, gai_strerror(ret));
		return ret == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		ret = tcp_listen_one(cfg, ai->ai_addr, ai->ai_addrlen, s, err, errlen);
		if (ret)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

/* listen_addr is a comma (or space) separated list */
static int tcp_listen_all(const struct config *cfg, struct lsn_set *s, char *err, size_t errlen)
{
	const char *p = cfg->listen_addr;
	char host[256];

	if (!p)
		return 0;
	while (*p) {
		size_t n;
		int ret;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "listen_addr entry too long");
			return -EINVAL;
		}
		memcpy(host, p, n);
		host[n] = '\0';
		p += n;
		if (!strcmp(host, "*"))
			ret = tcp_listen_wildcard(cfg, s, err, errlen);
		else
			ret = tcp_listen_host(cfg, host, s, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- unix socket ---- */

static int unix_path(const struct config *cfg, struct sockaddr_un *un, char *lock, size_t locklen)
{
	int n;

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", cfg->unix_socket_dir,
		     cfg->listen_port);
	if (n < 0 || (size_t)n >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	n = snprintf(lock, locklen, "%s.lock", un->sun_path);
	if (n < 0 || (size_t)n >= locklen)
		return -ENAMETOOLONG;
	return 0;
}

static pid_t lock_owner(const char *lock)
{
	char buf[32];
	ssize_t n;
	int fd = open(lock, O_RDONLY | O_CLOEXEC);
	long pid;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && pid < 1L << 30 ? (pid_t)pid : 0;
}

/*
 * The lock file keeps two poolers off one socket path, as PostgreSQL's does;
 * a lock left by a dead process (or by ourselves, a restart in a container
 * often gets the same PID) is taken over.
 */
static int unix_lock(const char *lock, char *err, size_t errlen)
{
	char buf[32];
	int fd, len;

	for (int tries = 0; tries < 2; tries++) {
		pid_t pid;

		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST) {
			int ret = -errno;

			snprintf(err, errlen, "could not create lock file %s: %s", lock, strerror(-ret));
			return ret;
		}
		pid = lock_owner(lock);
		if (pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)) {
			snprintf(err, errlen, "lock file %s is held by PID %d: is another pooler running?",
				 lock, (int)pid);
			return -EADDRINUSE;
		}
		unlink(lock);
	}
	if (fd < 0) {
		snprintf(err, errlen, "could not create lock file %s", lock);
		return -EEXIST;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		int ret = errno ? -errno : -EIO;

		close(fd);
		unlink(lock);
		snprintf(err, errlen, "could not write lock file %s", lock);
		return ret;
	}
	close(fd);
	return 0;
}

/* A socket file nobody answers on is left over from a crash. */
static int unix_clear_stale(const struct sockaddr_un *un, char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)un, sizeof(*un));
	close(fd);
	if (ret == 0) {
		snprintf(err, errlen, "bind %s: Address already in use (a server answers there)",
			 un->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(un->sun_path) < 0 && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "could not remove stale socket %s: %s", un->sun_path,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

static int unix_group(const char *path, const char *group, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int ret;

	ret = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (ret || !res) {
		snprintf(err, errlen, "unix_socket_group %s: no such group", group);
		return ret ? -ret : -ENOENT;
	}
	if (chown(path, (uid_t)-1, res->gr_gid) < 0) {
		ret = -errno;
		snprintf(err, errlen, "chown %s: %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

static int unix_listen(const struct config *cfg, struct lsn_set *s, char *err, size_t errlen)
{
	struct sockaddr_un un;
	char lock[sizeof(un.sun_path) + 8];
	int fd, ret;

	ret = unix_path(cfg, &un, lock, sizeof(lock));
	if (ret) {
		snprintf(err, errlen, "unix_socket_dir %s: path too long", cfg->unix_socket_dir);
		return ret;
	}
	ret = unix_lock(lock, err, errlen);
	if (ret)
		return ret;
	ret = unix_clear_stale(&un, err, errlen);
	if (ret)
		goto fail_lock;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket %s: %s", un.sun_path, strerror(-ret));
		goto fail_lock;
	}
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "bind %s: %s", un.sun_path, strerror(-ret));
		goto fail_fd;
	}
	if (chmod(un.sun_path, (mode_t)(cfg->unix_socket_mode & 07777)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "chmod %s: %s", un.sun_path, strerror(-ret));
		goto fail_file;
	}
	if (cfg->unix_socket_group && *cfg->unix_socket_group) {
		ret = unix_group(un.sun_path, cfg->unix_socket_group, err, errlen);
		if (ret)
			goto fail_file;
	}
	if (listen(fd, cfg->listen_backlog > 0 ? cfg->listen_backlog : 128) < 0) {
		ret = -errno;
		snprintf(err, errlen, "listen %s: %s", un.sun_path, strerror(-ret));
		goto fail_file;
	}
	ret = lsn_add(s, fd, AF_UNIX, un.sun_path);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto fail_file;
	}
	return 0;
fail_file:
	unlink(un.sun_path);
fail_fd:
	close(fd);
fail_lock:
	unlink(lock);
	return ret;
}

static void unix_remove(const char *path)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock))
		return;
	/* only our own: another instance may have taken the path over */
	if (lock_owner(lock) != getpid())
		return;
	unlink(path);
	unlink(lock);
}

/*
 * Worker index of nworkers: with several workers each opens its own TCP
 * sockets on the same addresses, SO_REUSEPORT whatever so_reuseport says,
 * so that the kernel spreads connections over them; the unix socket cannot
 * be spread (SO_REUSEPORT is TCP/UDP only) and is worker 0's alone
 * (doc/workers.md, "Listeners").
 */
int net_listen_worker(const struct config *cfg, int index, int nworkers,
		      struct net_listener **out, char *err, size_t errlen)
{
	struct lsn_set s = { .reuseport = cfg->so_reuseport || nworkers > 1 };
	int ret;

	*out = NULL;
	if (cfg->listen_port <= 0 || cfg->listen_port > 65535) {
		snprintf(err, errlen, "listen_port %d out of range", cfg->listen_port);
		return -EINVAL;
	}
	ret = tcp_listen_all(cfg, &s, err, errlen);
	if (!ret && index == 0 && cfg->unix_socket_dir && *cfg->unix_socket_dir)
		ret = unix_listen(cfg, &s, err, errlen);
	if (ret) {
		net_close_listeners(s.v, s.n, cfg);
		return ret;
	}
	*out = s.v;
	return s.n;
}

int net_listen_all(const struct config *cfg, struct net_listener **out, char *err, size_t errlen)
{
	return net_listen_worker(cfg, 0, 1, out, err, errlen);
}

void net_close_listener(struct net_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->family == AF_UNIX && l->name[0])
		unix_remove(l->name);
	l->name[0] = '\0';	/* removed once: a later start may own the name */
}

/* Closes what is still open (fd >= 0) and removes our unix socket files. */
void net_close_listeners(struct net_listener *ls, int n, const struct config *cfg)
{
	(void)cfg;
	if (!ls)
		return;
	for (int i = 0; i < n; i++)
		net_close_listener(&ls[i]);
	free(ls);
}

/* ---- server addresses ---- */

int net_resolve(const char *host, int port, const char *defdir, struct sockaddr_storage *ss,
		socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int ret;

	if (port <= 0 || port > 65535) {
		snprintf(err, errlen, "port %d out of range", port);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (!host || !*host || host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *dir = host && *host ? host : defdir && *defdir ? defdir : "/tmp";
		int n;

		un->sun_family = AF_UNIX;
		n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", dir, port);
		if (n < 0 || (size_t)n >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "socket directory %s: path too long", dir);
			return -ENAMETOOLONG;
		}
		*len = sizeof(*un);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* never a DNS query on the loop: host names go through dns.c */
	hints.ai_flags = AI_NUMERICHOST;
	snprintf(portstr, sizeof(portstr), "%d", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "could not resolve %s: %s", host, gai_strerror(ret));
		return ret == EAI_SYSTEM && errno ? -errno : -EHOSTUNREACH;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		snprintf(err, errlen, "could not resolve %s: address too long", host);
		return -EAFNOSUPPORT;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void count(uint64_t *nsys)
{
	if (nsys)
		(*nsys)++;
}

int net_socket_for(const struct sockaddr_storage *ss, uint64_t *nsys)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	count(nsys);
	return fd < 0 ? -errno : fd;
}

/* ---- socket options ---- */

static int tune_opt(int fd, int level, int name, int val, uint64_t *nsys)
{
	count(nsys);
	return setopt_int(fd, level, name, val);
}

int net_tune(int fd, const struct config *cfg, uint64_t *nsys)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	count(nsys);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return 0;
	ret = tune_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1, nsys);
	if (!ret)
		ret = tune_opt(fd, SOL_SOCKET, SO_KEEPALIVE, cfg->tcp_keepalive ? 1 : 0, nsys);
	if (!ret && cfg->tcp_keepalive && cfg->tcp_keepcnt > 0)
		ret = tune_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->tcp_keepcnt, nsys);
	if (!ret && cfg->tcp_keepalive && cfg->tcp_keepidle > 0)
		ret = tune_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->tcp_keepidle, nsys);
	if (!ret && cfg->tcp_keepalive && cfg->tcp_keepintvl > 0)
		ret = tune_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->tcp_keepintvl, nsys);
	if (!ret && cfg->tcp_user_timeout > 0)
		ret = tune_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, cfg->tcp_user_timeout, nsys);
	if (!ret && cfg->tcp_socket_buffer > 0) {
		ret = tune_opt(fd, SOL_SOCKET, SO_SNDBUF, cfg->tcp_socket_buffer, nsys);
		if (!ret)
			ret = tune_opt(fd, SOL_SOCKET, SO_RCVBUF, cfg->tcp_socket_buffer, nsys);
	}
	return ret;
}

static void sa_keep(const struct sockaddr_storage *ss, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memcpy(a->ip, &in->sin_addr, 4);
		a->port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(a->ip, &in6->sin6_addr, 16);
		a->port = ntohs(in6->sin6_port);
	}
}

const char *net_addr_text(const struct net_addr *a, char *buf, size_t len)
{
	if (!len)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->ip, buf, (socklen_t)len))
		snprintf(buf, len, "%s", a->family == AF_UNIX ? "unix" : "unknown");
	return buf;
}

void net_peer(int fd, struct net_addr *a, uint64_t *nsys)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	count(nsys);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	sa_keep(&ss, a);
}

void net_local(int fd, struct net_addr *a, uint64_t *nsys)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	count(nsys);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	sa_keep(&ss, a);
}
