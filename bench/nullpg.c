/* nullpg.c - a null PostgreSQL backend for benchmarking poolers without PostgreSQL's CPU
 *
 * usage: nullpg PORT [ADDR [PROCS]]
 *
 * Speaks just enough of protocol 3.0: refuses SSL/GSS encryption, logs any
 * user in with AuthenticationOk (trust), a few ParameterStatus, BackendKeyData
 * and ReadyForQuery; answers every simple Query with a one-row, one-column
 * result ("1"), and Parse/Bind/Describe/Execute/Close/Sync/Flush at once.
 * That covers pgbench -n -S in simple, extended and prepared modes (its
 * start-up "select count(*) from pgbench_branches" gets 1 too).
 * Single-threaded, level-triggered epoll; all replies to one read go out in
 * one write.  PROCS > 1 forks that many processes sharing the listening
 * socket, each with its own epoll set, so that the null backend is not the
 * bottleneck when a many-core pooler drives it; they end with the first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP	(64 * 1024)
#define OUT_CAP	(256 * 1024)

struct cl {
	int fd;
	int started;		/* startup packet seen */
	size_t in_len;
	size_t out_len, out_off;
	char in[IN_CAP];
	char out[OUT_CAP];
};

static void put32(char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* out: a message TYPE with BODY of LEN bytes; 0, or -1 when the buffer is full */
static int emit(struct cl *c, char type, const void *body, size_t len)
{
	if (c->out_len + 5 + len > OUT_CAP)
		return -1;
	c->out[c->out_len] = type;
	put32(c->out + c->out_len + 1, (uint32_t)(len + 4));
	if (len)
		memcpy(c->out + c->out_len + 5, body, len);
	c->out_len += 5 + len;
	return 0;
}

static int emit_param(struct cl *c, const char *k, const char *v)
{
	char b[256];
	size_t kl = strlen(k) + 1, vl = strlen(v) + 1;

	memcpy(b, k, kl);
	memcpy(b + kl, v, vl);
	return emit(c, 'S', b, kl + vl);
}

/* RowDescription: one int4 column named "c" */
static const char rowdesc[] = {
	0, 1, 'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, -1, -1, -1, -1, 0, 0,
};
static const char datarow[] = { 0, 1, 0, 0, 0, 1, '1' };
static const char paramdesc[] = { 0, 0 };

/* pgbench's start-up look at pgbench_accounts' partitions: three columns,
 * "1" (found on the search_path), NULL (not partitioned), "0" partitions */
static const char rowdesc3[] = {
	0, 3,
	'n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, -1, -1, -1, -1, 0, 0,
	's', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 18, 0, 1, -1, -1, -1, -1, 0, 0,
	'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 8, -1, -1, -1, -1, 0, 0,
};
static const char datarow3[] = { 0, 3, 0, 0, 0, 1, '1', -1, -1, -1, -1, 0, 0, 0, 1, '0' };

static int emit_partinfo(struct cl *c)
{
	static const char tag[] = "SELECT 1";

	if (emit(c, 'T', rowdesc3, sizeof(rowdesc3)) < 0 ||
	    emit(c, 'D', datarow3, sizeof(datarow3)) < 0)
		return -1;
	return emit(c, 'C', tag, sizeof(tag));
}

static int emit_result(struct cl *c, int with_desc)
{
	static const char tag[] = "SELECT 1";

	if (with_desc && emit(c, 'T', rowdesc, sizeof(rowdesc)) < 0)
		return -1;
	if (emit(c, 'D', datarow, sizeof(datarow)) < 0)
		return -1;
	return emit(c, 'C', tag, sizeof(tag));
}

static int emit_ready(struct cl *c)
{
	return emit(c, 'Z', "I", 1);
}

static int login(struct cl *c)
{
	char key[8];
	uint32_t zero = 0;

	put32(key, (uint32_t)getpid());
	put32(key + 4, (uint32_t)c->fd);
	if (emit(c, 'R', &zero, 4) < 0 ||
	    emit_param(c, "server_version", "15.0 (nullpg)") < 0 ||
	    emit_param(c, "server_encoding", "UTF8") < 0 ||
	    emit_param(c, "client_encoding", "UTF8") < 0 ||
	    emit_param(c, "DateStyle", "ISO, MDY") < 0 ||
	    emit_param(c, "TimeZone", "UTC") < 0 ||
	    emit_param(c, "integer_datetimes", "on") < 0 ||
	    emit_param(c, "standard_conforming_strings", "on") < 0 ||
	    emit(c, 'K', key, 8) < 0)
		return -1;
	return emit_ready(c);
}

/* handles complete messages in c->in; -1 closes the client */
static int handle(struct cl *c)
{
	size_t off = 0;
	int rc = 0;

	while (rc == 0) {
		size_t avail = c->in_len - off;
		const char *m = c->in + off;

		if (!c->started) {
			uint32_t len, code;

			if (avail < 8)
				break;
			len = get32(m);
			code = get32(m + 4);
			if (len < 8 || len > IN_CAP)
				return -1;
			if (avail < len)
				break;
			off += len;
			if (code == 80877103 || code == 80877104) {	/* SSLRequest, GSSENCRequest */
				if (c->out_len + 1 > OUT_CAP)
					return -1;
				c->out[c->out_len++] = 'N';
			} else if (code == 80877102) {			/* CancelRequest */
				return -1;
			} else {
				c->started = 1;
				rc = login(c);
			}
			continue;
		}
		if (avail < 5)
			break;
		uint32_t len = get32(m + 1);

		if (len < 4 || len + 1 > IN_CAP)
			return -1;
		if (avail < len + 1)
			break;
		off += len + 1;
		switch (m[0]) {
		case 'Q':
			if (memmem(m + 5, len - 4, "partstrat", 9))
				rc = emit_partinfo(c);
			else
				rc = emit_result(c, 1);
			if (!rc)
				rc = emit_ready(c);
			break;
		case 'P':
			rc = emit(c, '1', NULL, 0);
			break;
		case 'B':
			rc = emit(c, '2', NULL, 0);
			break;
		case 'D':
			if (len > 4 && m[5] == 'S')
				rc = emit(c, 't', paramdesc, sizeof(paramdesc));
			if (!rc)
				rc = emit(c, 'T', rowdesc, sizeof(rowdesc));
			break;
		case 'E':
			rc = emit_result(c, 0);
			break;
		case 'C':
			rc = emit(c, '3', NULL, 0);
			break;
		case 'S':
			rc = emit_ready(c);
			break;
		case 'H':
			break;
		case 'X':
			return -1;
		default: {
			static const char err[] = "SERROR\0C0A000\0Mnullpg: unsupported message\0";

			rc = emit(c, 'E', err, sizeof(err));
			if (!rc)
				rc = emit_ready(c);
			break;
		}
		}
	}
	if (rc < 0)
		return -1;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static int flush_out(struct cl *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static void drop(int ep, struct cl *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[256];
	struct rlimit rl;
	int lfd, ep, one = 1;

	if (argc < 2) {
		fputs("usage: nullpg PORT [ADDR [PROCS]]\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	if (inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &sa.sin_addr) != 1) {
		fputs("nullpg: bad address\n", stderr);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("nullpg: listen");
		return 1;
	}
	for (int i = 1; i < (argc > 3 ? atoi(argv[3]) : 1); i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("nullpg: fork");
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			break;
		}
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("nullpg: epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("nullpg: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct cl *c = evs[i].data.ptr;

			if (!c) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = malloc(sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->started = 0;
					c->in_len = c->out_len = c->out_off = 0;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				int r = flush_out(c);

				if (r < 0) {
					drop(ep, c);
					continue;
				}
				if (r == 0) {
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
				continue;
			}
			if (c->out_len)		/* still writing: read later */
				continue;
			ssize_t r = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				drop(ep, c);
				continue;
			}
			if (r < 0)
				continue;
			c->in_len += (size_t)r;
			if (handle(c) < 0) {
				flush_out(c);
				drop(ep, c);
				continue;
			}
			int f = flush_out(c);

			if (f < 0) {
				drop(ep, c);
			} else if (f > 0) {
				ev.events = EPOLLOUT;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
	}
}
