/* pgload.c - a light raw-protocol load generator and idle-client holder for the benchmarks
 *
 * usage: pgload run  HOST PORT USER DB CLIENTS WARMUP SECONDS simple|extended
 *        pgload idle HOST PORT USER DB CLIENTS
 *
 * run:  CLIENTS connections (trust login) each send pgbench -S's query in a
 *       closed loop, simple Query or Parse/Bind/Describe/Execute/Sync as
 *       pgbench's extended mode does.  Prints "go" once all are logged in,
 *       runs WARMUP seconds uncounted, then SECONDS counted, and prints one
 *       line: "tx=N tps=X p50_us=A p99_us=B errors=E".  One thread and one
 *       epoll set, so the generator costs far less CPU than pgbench on a
 *       small machine and the pooler's own ceiling shows.
 * idle: opens CLIENTS connections, logs them in, prints "ready N", then holds
 *       them until a signal ends it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF	(16 * 1024)
#define HIST_US	200000		/* 1 µs buckets up to 200 ms; beyond goes in the last */

struct cl {
	int fd;
	int logged_in;
	uint64_t t0;		/* start of the transaction in flight */
	size_t len;
	char buf[RBUF];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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

static size_t startup_packet(char *out, const char *user, const char *db)
{
	size_t n = 8;

	put32(out + 4, 196608);
	n += (size_t)sprintf(out + n, "user%c%s%cdatabase%c%s%c", 0, user, 0, 0, db, 0);
	out[n++] = 0;
	put32(out, (uint32_t)n);
	return n;
}

/* one message: TYPE, then BODY of LEN bytes */
static size_t msg(char *out, char type, const void *body, size_t len)
{
	out[0] = type;
	put32(out + 1, (uint32_t)(len + 4));
	if (len)
		memcpy(out + 5, body, len);
	return 5 + len;
}

/* the bytes of one transaction in MODE, as pgbench -S sends them */
static size_t tx_bytes(char *out, const char *mode)
{
	static const char simple[] = "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;";
	static const char sql[] = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
	char b[256];
	size_t n = 0, k;

	if (strcmp(mode, "simple") == 0)
		return msg(out, 'Q', simple, sizeof(simple));
	/* Parse: unnamed statement, no declared parameter types */
	k = 0;
	b[k++] = 0;
	memcpy(b + k, sql, sizeof(sql));
	k += sizeof(sql);
	b[k++] = 0;
	b[k++] = 0;
	n += msg(out + n, 'P', b, k);
	/* Bind: unnamed portal and statement, one text parameter "4711", text results */
	k = 0;
	b[k++] = 0;
	b[k++] = 0;
	b[k++] = 0; b[k++] = 0;			/* parameter format codes */
	b[k++] = 0; b[k++] = 1;			/* one parameter */
	put32(b + k, 4);
	k += 4;
	memcpy(b + k, "4711", 4);
	k += 4;
	b[k++] = 0; b[k++] = 0;			/* result format codes */
	n += msg(out + n, 'B', b, k);
	n += msg(out + n, 'D', "P", 2);		/* Describe the unnamed portal */
	memset(b, 0, 5);			/* Execute: unnamed portal, no row limit */
	n += msg(out + n, 'E', b, 5);
	n += msg(out + n, 'S', NULL, 0);
	return n;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *ai;
	int fd, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Consumes complete messages in c->buf; returns the number of
 * ReadyForQuery seen, or -1 on ErrorResponse before login or a bad frame.
 * *err counts ErrorResponses after login.
 */
static int consume(struct cl *c, unsigned *err)
{
	size_t off = 0;
	int ready = 0;

	for (;;) {
		if (c->len - off < 5)
			break;
		uint32_t len = get32(c->buf + off + 1);

		if (len < 4 || len + 1 > RBUF)
			return -1;
		if (c->len - off < len + 1)
			break;
		if (c->buf[off] == 'E') {
			if (!c->logged_in)
				return -1;
			(*err)++;
		} else if (c->buf[off] == 'Z') {
			ready++;
		}
		off += len + 1;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return ready;
}

/* connects and logs in N clients, one after another; -1 on failure */
static int open_clients(struct cl *cls, int n, const char *host, const char *port,
			const char *user, const char *db)
{
	char sp[512];
	size_t spn = startup_packet(sp, user, db);
	unsigned err = 0;

	for (int i = 0; i < n; i++) {
		struct cl *c = &cls[i];

		c->fd = connect_to(host, port);
		c->len = 0;
		c->logged_in = 0;
		if (c->fd < 0 || send_all(c->fd, sp, spn) < 0) {
			fprintf(stderr, "pgload: connect %d: %s\n", i, strerror(errno));
			return -1;
		}
		for (;;) {
			ssize_t r = recv(c->fd, c->buf + c->len, RBUF - c->len, 0);
			int z;

			if (r <= 0) {
				fprintf(stderr, "pgload: login %d: connection closed\n", i);
				return -1;
			}
			c->len += (size_t)r;
			z = consume(c, &err);
			if (z < 0) {
				fprintf(stderr, "pgload: login %d: refused\n", i);
				return -1;
			}
			if (z > 0)
				break;
		}
		c->logged_in = 1;
	}
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static _Noreturn void do_idle(int n)
{
	printf("ready %d\n", n);
	fflush(stdout);
	for (;;)
		pause();
}

static int do_run(struct cl *cls, int n, int warmup, int seconds, const char *mode)
{
	uint32_t *hist = calloc(HIST_US + 1, sizeof(*hist));
	char tx[1024];
	size_t txn = tx_bytes(tx, mode);
	struct epoll_event ev, evs[512];
	uint64_t counting, end, ntx = 0;
	unsigned err = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || !hist)
		return 1;
	printf("go\n");
	fflush(stdout);
	counting = now_us() + (uint64_t)warmup * 1000000u;
	end = counting + (uint64_t)seconds * 1000000u;
	for (int i = 0; i < n; i++) {
		ev.events = EPOLLIN;
		ev.data.ptr = &cls[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cls[i].fd, &ev) < 0)
			return 1;
		cls[i].t0 = now_us();
		if (send_all(cls[i].fd, tx, txn) < 0)
			return 1;
	}
	for (;;) {
		uint64_t t = now_us();
		int k;

		if (t >= end)
			break;
		k = epoll_wait(ep, evs, 512, (int)((end - t) / 1000) + 1);
		if (k < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < k; i++) {
			struct cl *c = evs[i].data.ptr;
			ssize_t r = recv(c->fd, c->buf + c->len, RBUF - c->len, MSG_DONTWAIT);
			int z;

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				fprintf(stderr, "pgload: a client's connection closed\n");
				return 1;
			}
			if (r < 0)
				continue;
			c->len += (size_t)r;
			z = consume(c, &err);
			if (z < 0)
				return 1;
			if (z > 0) {
				uint64_t now = now_us(), lat = now - c->t0;

				if (now >= counting) {
					hist[lat > HIST_US ? HIST_US : lat]++;
					ntx++;
				}
				c->t0 = now;
				if (send_all(c->fd, tx, txn) < 0)
					return 1;
			}
		}
	}
	{
		double secs = (double)(now_us() - counting) / 1e6;
		uint64_t acc = 0, p50 = 0, p99 = 0;

		for (uint32_t i = 0; i <= HIST_US; i++) {
			acc += hist[i];
			if (!p50 && acc * 2 >= ntx)
				p50 = i;
			if (acc * 100 >= ntx * 99) {
				p99 = i;
				break;
			}
		}
		printf("tx=%llu tps=%.1f p50_us=%llu p99_us=%llu errors=%u\n", (unsigned long long)ntx,
		       (double)ntx / secs, (unsigned long long)p50, (unsigned long long)p99, err);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cl *cls;
	int n, rc;

	if (argc < 7 || (strcmp(argv[1], "run") == 0 && argc < 10)) {
		fputs("usage: pgload run HOST PORT USER DB CLIENTS WARMUP SECONDS simple|extended\n"
		      "       pgload idle HOST PORT USER DB CLIENTS\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	n = atoi(argv[6]);
	if (n <= 0)
		return 2;
	cls = calloc((size_t)n, sizeof(*cls));
	if (!cls)
		return 1;
	if (open_clients(cls, n, argv[2], argv[3], argv[4], argv[5]) < 0)
		return 1;
	if (strcmp(argv[1], "idle") == 0)
		do_idle(n);
	else
		rc = do_run(cls, n, atoi(argv[7]), atoi(argv[8]), argv[9]);
	for (int i = 0; i < n; i++)
		close(cls[i].fd);
	free(cls);
	return rc;
}
