/* net.h - sockets: listeners (TCP v4/v6, unix), server addresses, socket options; never logs */
#ifndef PGRING_NET_H
#define PGRING_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;

struct net_listener {
	int fd;
	int family;		/* AF_INET, AF_INET6, AF_UNIX */
	char name[128];		/* "127.0.0.1:6432", "[::1]:6432", "/tmp/.s.PGSQL.6432" */
};

/*
 * Opens every listener the config asks for: listen_addr (comma list, "*" =
 * all v4 and v6, hostnames resolved) on listen_port, and the unix socket
 * unix_socket_dir/.s.PGSQL.<port> with unix_socket_mode (and a lock file
 * like PostgreSQL's).  Sockets are non-blocking-agnostic: the loop sets
 * flags.  Returns the count (>= 0) with *out malloc'ed, or -errno with err
 * filled ("bind 127.0.0.1:6432: Address already in use").
 */
int net_listen_all(const struct config *cfg, struct net_listener **out, char *err, size_t errlen);
/* The listeners of worker index (0-based) of nworkers: see net.c */
int net_listen_worker(const struct config *cfg, int index, int nworkers,
		      struct net_listener **out, char *err, size_t errlen);
/* Closes l->fd if open and removes its unix socket file (and lock), once. */
void net_close_listener(struct net_listener *l);
void net_close_listeners(struct net_listener *ls, int n, const struct config *cfg);

/*
 * Resolves a [databases] host/port into an address to connect to: host NULL
 * or "" means unix socket in defdir; a host beginning with '/' is a socket
 * directory; otherwise a numeric address (host names are dns.c's: this
 * never queries DNS).  0 or -errno with err filled.
 */
int net_resolve(const char *host, int port, const char *defdir, struct sockaddr_storage *ss,
		socklen_t *len, char *err, size_t errlen);

/*
 * The calls below run per connection on the loop's thread; each adds the
 * system calls it makes to *nsys (the loop's counter, see loop_syscalls();
 * NULL: not counted).
 */

/* Creates a socket for that address family (SOCK_CLOEXEC), 0 flags otherwise; fd or -errno. */
int net_socket_for(const struct sockaddr_storage *ss, uint64_t *nsys);

/* TCP_NODELAY, keepalive settings per config; ignored for unix sockets. 0 or -errno. */
int net_tune(int fd, const struct config *cfg, uint64_t *nsys);

/* Peer address as text: "127.0.0.1", "::1", "unix"; and its port (0 for unix). */
/* A connection's address, kept small (every connection holds two); formatted
 * when shown: an IPv4/IPv6 address, "unix" or "unknown". */
struct net_addr {
	uint16_t family;
	uint16_t port;
	uint8_t ip[16];
};
#define NET_ADDR_TEXT 48	/* room for net_addr_text */

void net_peer(int fd, struct net_addr *a, uint64_t *nsys);
void net_local(int fd, struct net_addr *a, uint64_t *nsys);
const char *net_addr_text(const struct net_addr *a, char *buf, size_t len);	/* returns buf */

#endif
