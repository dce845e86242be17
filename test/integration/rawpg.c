/* rawpg.c - a raw-protocol client for the robustness scenarios: what libpq
 * will not do (malformed packets, a client that never reads) and thousands of
 * concurrent connections from one process.
 *
 * Usage: rawpg HOST PORT COMMAND ARGS...   (HOST a directory: its unix socket)
 *
 *   many N USER DB              N connections log in at once (trust) and stay
 *                               open; then each runs SELECT 1 and quits.  Prints
 *                               "logged_in=N queried=N"; exits 0 when all did
 *   noread USER DB SQL SECONDS  log in, send SQL, never read; hold SECONDS
 *   slow N USER DB SQL SECONDS  N connections (SO_RCVBUF 4096) log in one after
 *                               the other, each sends SQL and never reads;
 *                               prints "slow=N" once all are sent, holds SECONDS
 *   pipe USER DB HEX N          log in, send the bytes HEX in one write, read
 *                               until N ReadyForQuery: prints the message types
 *                               as one line "types=..." (for comparing with
 *                               PostgreSQL's answer); exits 0 if N came in 10 s
 *   raw USER|- DB HEX           log in as USER (or send nothing first with -),
 *                               send the bytes HEX, then read until the server
 *                               closes: prints each ErrorResponse as
 *                               "error SQLSTATE: message" and "closed" or
 *                               "still open"; exits 0 if an ErrorResponse came
 *                               and the connection closed within 10 s
 *   idle N SECONDS              N connections that send nothing: prints
 *                               "connected=N" once every TCP handshake is done
 *                               (the kernel completes them whether the server
 *                               accepts or not), holds them SECONDS, closes
 *                               them and prints "closed"; exits 0 if all
 *                               connected
 *
 * Every wait is bounded (60 s at most); exit 1 on failure, 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#define DEADLINE_S 60

static const char *host;
static int port;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* HOST a directory: its unix socket .s.PGSQL.PORT (whose clients pgring
 * keeps on worker 0, whatever its workers) */
static int dial_unix(bool nonblock)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	int fd, n = snprintf(su.sun_path, sizeof(su.sun_path), "%s/.s.PGSQL.%d", host, port);

	if (n < 0 || (size_t)n >= sizeof(su.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int dial(bool nonblock, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd;

	if (host[0] == '/')
		return dial_unix(nonblock);
	fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		close(fd);
		return -1;
	}
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
	return 4;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A StartupMessage for user/db; returns its length. */
static size_t startup_msg(uint8_t *buf, size_t cap, const char *user, const char *db)
{
	size_t n = 8;
	int w = snprintf((char *)buf + 8, cap - 8, "user%c%s%cdatabase%c%s%c", 0, user, 0, 0, db, 0);

	if (w < 0 || (size_t)w + 9 > cap)
		return 0;
	n += (size_t)w;
	buf[n++] = 0;
	put32(buf, (uint32_t)n);
	put32(buf + 4, 196608);
	return n;
}

static size_t query_msg(uint8_t *buf, size_t cap, const char *sql)
{
	size_t l = strlen(sql) + 1;

	if (l + 5 > cap)
		return 0;
	buf[0] = 'Q';
	put32(buf + 1, (uint32_t)(l + 4));
	memcpy(buf + 5, sql, l);
	return l + 5;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Pulls whole messages out of a connection's input. */
struct inbuf {
	uint8_t data[65536];
	size_t len;
};

/* The next complete message at the start of ib (type, body, total length), or 0. */
static size_t next_msg(const struct inbuf *ib, uint8_t *type, const uint8_t **body, uint32_t *blen)
{
	uint32_t l;

	if (ib->len < 5)
		return 0;
	l = get32(ib->data + 1);
	if (l < 4 || (size_t)l + 1 > sizeof(ib->data))
		return (size_t)-1;
	if (ib->len < (size_t)l + 1)
		return 0;
	*type = ib->data[0];
	*body = ib->data + 5;
	*blen = l - 4;
	return (size_t)l + 1;
}

static void consume(struct inbuf *ib, size_t n)
{
	memmove(ib->data, ib->data + n, ib->len - n);
	ib->len -= n;
}

static void print_error(const uint8_t *body, uint32_t len)
{
	const char *code = "?", *msg = "?";
	uint32_t i = 0;

	while (i < len && body[i]) {
		char f = (char)body[i++];
		const char *v = (const char *)body + i;
		const uint8_t *nul = memchr(body + i, 0, len - i);

		if (!nul)
			break;
		if (f == 'C')
			code = v;
		else if (f == 'M')
			msg = v;
		i = (uint32_t)(nul - body) + 1;
	}
	printf("error %s: %s\n", code, msg);
}

/* ---- many ---- */

enum cstate { C_CONNECTING, C_LOGIN, C_IDLE, C_QUERY, C_DONE, C_FAILED };

struct client {
	int fd;
	enum cstate st;
	struct inbuf in;
};

static int cmd_many(int n, const char *user, const char *db)
{
	struct client *cl = calloc((size_t)n, sizeof(*cl));
	struct epoll_event ev, evs[256];
	struct rlimit rl;
	uint8_t start[512], q[64], term[5] = { 'X', 0, 0, 0, 4 };
	size_t slen = startup_msg(start, sizeof(start), user, db), qlen = query_msg(q, sizeof(q), "SELECT 1");
	int ep = epoll_create1(0), logged = 0, queried = 0, failed = 0, pending;
	bool querying = false;
	double deadline = now_s() + DEADLINE_S;

	if (!cl || ep < 0 || !slen)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < n; i++) {
		cl[i].fd = dial(true, 0);
		if (cl[i].fd < 0) {
			fprintf(stderr, "rawpg: connection %d: %s\n", i, strerror(errno));
			cl[i].st = C_FAILED;
			failed++;
			continue;
		}
		ev.events = EPOLLOUT | EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
	}
	pending = n - failed;
	while (pending > 0 && now_s() < deadline) {
		int k = epoll_wait(ep, evs, 256, 200);

		for (int e = 0; e < k; e++) {
			struct client *c = &cl[evs[e].data.u32];
			uint8_t type;
			const uint8_t *body;
			uint32_t blen;
			size_t m;
			ssize_t r;

			if (c->st == C_CONNECTING && (evs[e].events & EPOLLOUT)) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || !write_all(c->fd, start, slen)) {
					c->st = C_FAILED;
					failed++;
					pending--;
					continue;
				}
				c->st = C_LOGIN;
				ev.events = EPOLLIN;
				ev.data.u32 = evs[e].data.u32;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
			if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->st == C_CONNECTING)
				continue;
			r = read(c->fd, c->in.data + c->in.len, sizeof(c->in.data) - c->in.len);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				fprintf(stderr, "rawpg: connection %u closed in state %d\n",
					evs[e].data.u32, c->st);
				c->st = C_FAILED;
				failed++;
				pending--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->in.len += (size_t)r;
			while ((m = next_msg(&c->in, &type, &body, &blen)) != 0 && m != (size_t)-1) {
				if (type == 'E') {
					print_error(body, blen);
					c->st = C_FAILED;
					failed++;
					pending--;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					break;
				}
				if (type == 'Z' && c->st == C_LOGIN) {
					c->st = C_IDLE;
					logged++;
					pending--;
				} else if (type == 'Z' && c->st == C_QUERY) {
					write_all(c->fd, term, sizeof(term));
					c->st = C_DONE;
					queried++;
					pending--;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->fd = -1;
				}
				consume(&c->in, m);
			}
		}
		if (pending == 0 && !querying) {
			/* every connection is logged in and open at once: now the work */
			printf("logged_in=%d (all open at once)\n", logged);
			fflush(stdout);
			querying = true;
			for (int i = 0; i < n; i++) {
				if (cl[i].st != C_IDLE)
					continue;
				if (!write_all(cl[i].fd, q, qlen)) {
					cl[i].st = C_FAILED;
					failed++;
					continue;
				}
				cl[i].st = C_QUERY;
				pending++;
			}
		}
	}
	printf("logged_in=%d queried=%d failed=%d unfinished=%d\n", logged, queried, failed, pending);
	for (int i = 0; i < n; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	free(cl);
	close(ep);
	return queried == n ? 0 : 1;
}

/* ---- noread, raw ---- */

/* Logs in (trust) on a blocking socket; true once ReadyForQuery came. */
static bool login(int fd, const char *user, const char *db, struct inbuf *in)
{
	uint8_t start[512], type;
	size_t slen = startup_msg(start, sizeof(start), user, db), m;
	const uint8_t *body;
	uint32_t blen;

	if (!slen || !write_all(fd, start, slen))
		return false;
	for (;;) {
		ssize_t r = read(fd, in->data + in->len, sizeof(in->data) - in->len);

		if (r <= 0)
			return false;
		in->len += (size_t)r;
		while ((m = next_msg(in, &type, &body, &blen)) != 0) {
			if (m == (size_t)-1)
				return false;
			if (type == 'E') {
				print_error(body, blen);
				return false;
			}
			consume(in, m);
			if (type == 'Z')
				return true;
		}
	}
}

static int cmd_noread(const char *user, const char *db, const char *sql, int secs)
{
	struct inbuf *in = calloc(1, sizeof(*in));
	size_t ql = strlen(sql) + 64;
	uint8_t *q = malloc(ql);
	int fd = dial(false, 4096);
	struct timeval tv = { .tv_sec = 10 };

	if (fd < 0 || !in || !q) {
		perror("rawpg: connect");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!login(fd, user, db, in)) {
		fputs("rawpg: login failed\n", stderr);
		return 1;
	}
	ql = query_msg(q, ql, sql);
	if (!write_all(fd, q, ql))
		return 1;
	printf("query sent, not reading\n");
	fflush(stdout);
	sleep((unsigned)secs);
	close(fd);
	free(q);
	free(in);
	return 0;
}

static int cmd_slow(int n, const char *user, const char *db, const char *sql, int secs)
{
	struct inbuf *in = calloc(1, sizeof(*in));
	int *fds = calloc((size_t)n, sizeof(*fds));
	size_t ql = strlen(sql) + 64;
	uint8_t *q = malloc(ql);
	struct timeval tv = { .tv_sec = 10 };

	if (!in || !fds || !q || !(ql = query_msg(q, ql, sql)))
		return 1;
	for (int i = 0; i < n; i++) {
		fds[i] = dial(false, 4096);
		if (fds[i] < 0) {
			perror("rawpg: connect");
			return 1;
		}
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		in->len = 0;
		if (!login(fds[i], user, db, in) || !write_all(fds[i], q, ql)) {
			fprintf(stderr, "rawpg: slow connection %d: login or send failed\n", i);
			return 1;
		}
	}
	printf("slow=%d\n", n);
	fflush(stdout);
	sleep((unsigned)secs);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	free(q);
	free(in);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int cmd_raw(const char *user, const char *db, const char *hex)
{
	struct inbuf *in = calloc(1, sizeof(*in));
	size_t hl = strlen(hex), n = 0, m;
	uint8_t *bytes = malloc(hl / 2 + 1), type;
	const uint8_t *body;
	uint32_t blen;
	int fd = dial(false, 0), errors = 0;
	bool closed = false;
	double deadline;

	if (fd < 0 || !in || !bytes || hl % 2) {
		fputs("rawpg: connect failed or odd hex\n", stderr);
		return 2;
	}
	for (size_t i = 0; i < hl; i += 2) {
		int a = hexval(hex[i]), b = hexval(hex[i + 1]);

		if (a < 0 || b < 0)
			return 2;
		bytes[n++] = (uint8_t)(a << 4 | b);
	}
	if (strcmp(user, "-") != 0) {
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!login(fd, user, db, in)) {
			fputs("rawpg: login failed\n", stderr);
			return 1;
		}
		printf("logged in\n");
	}
	if (!write_all(fd, bytes, n))
		printf("send failed: %s\n", strerror(errno));
	deadline = now_s() + 10;
	while (!closed && now_s() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(fd, in->data + in->len, sizeof(in->data) - in->len);
		if (r <= 0) {
			closed = true;
			break;
		}
		in->len += (size_t)r;
		while ((m = next_msg(in, &type, &body, &blen)) != 0 && m != (size_t)-1) {
			if (type == 'E') {
				print_error(body, blen);
				errors++;
			} else {
				printf("message '%c'\n", type >= 32 && type < 127 ? type : '?');
			}
			consume(in, m);
		}
		if (m == (size_t)-1) {
			printf("unparsable reply\n");
			in->len = 0;
		}
	}
	printf("%s\n", closed ? "closed" : "still open");
	close(fd);
	free(bytes);
	free(in);
	return errors > 0 && closed ? 0 : 1;
}

/* ---- idle ---- */

static int cmd_idle(int n, int secs)
{
	int *fds = calloc((size_t)n, sizeof(*fds)), ok = 0;
	double deadline = now_s() + 10;

	if (!fds || n <= 0)
		return 2;
	for (int i = 0; i < n; i++) {
		struct pollfd p = { .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof(err);

		fds[i] = p.fd = dial(true, 0);
		if (p.fd < 0)
			continue;
		if (poll(&p, 1, (int)((deadline - now_s()) * 1000)) == 1 &&
		    getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && !err)
			ok++;
	}
	printf("connected=%d\n", ok);
	fflush(stdout);
	if (secs > 0 && secs <= DEADLINE_S)
		sleep((unsigned)secs);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("closed\n");
	free(fds);
	return ok == n ? 0 : 1;
}

/* Bytes of HEX into a new buffer; *n gets the count.  NULL on bad hex. */
static uint8_t *unhex(const char *hex, size_t *n)
{
	size_t hl = strlen(hex);
	uint8_t *bytes = malloc(hl / 2 + 1);

	*n = 0;
	if (!bytes || hl % 2)
		return NULL;
	for (size_t i = 0; i < hl; i += 2) {
		int a = hexval(hex[i]), b = hexval(hex[i + 1]);

		if (a < 0 || b < 0)
			return NULL;
		bytes[(*n)++] = (uint8_t)(a << 4 | b);
	}
	return bytes;
}

static int cmd_pipe(const char *user, const char *db, const char *hex, int want)
{
	struct inbuf *in = calloc(1, sizeof(*in));
	size_t n, m, ntypes = 0;
	uint8_t *bytes = unhex(hex, &n), type;
	const uint8_t *body;
	uint32_t blen;
	char *types = malloc(1 << 20);
	int fd = dial(false, 0), ready = 0;
	double deadline;
	struct timeval tv = { .tv_sec = 10 };

	if (fd < 0 || !in || !bytes || !types) {
		fputs("rawpg: connect failed or bad hex\n", stderr);
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!login(fd, user, db, in)) {
		fputs("rawpg: login failed\n", stderr);
		return 1;
	}
	if (!write_all(fd, bytes, n))
		printf("send failed: %s\n", strerror(errno));
	deadline = now_s() + 10;
	while (ready < want && now_s() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(fd, in->data + in->len, sizeof(in->data) - in->len);
		if (r <= 0)
			break;
		in->len += (size_t)r;
		while ((m = next_msg(in, &type, &body, &blen)) != 0 && m != (size_t)-1) {
			if (type == 'E')
				print_error(body, blen);
			if (ntypes < (1 << 20) - 1)
				types[ntypes++] = type >= 32 && type < 127 ? (char)type : '?';
			ready += type == 'Z';
			consume(in, m);
		}
		if (m == (size_t)-1)
			break;
	}
	types[ntypes] = 0;
	printf("types=%s\nready=%d\n", types, ready);
	close(fd);
	free(types);
	free(bytes);
	free(in);
	return ready == want ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		goto usage;
	host = argv[1];
	port = atoi(argv[2]);
	if (!strcmp(argv[3], "many") && argc == 7)
		return cmd_many(atoi(argv[4]), argv[5], argv[6]);
	if (!strcmp(argv[3], "noread") && argc == 8)
		return cmd_noread(argv[4], argv[5], argv[6], atoi(argv[7]));
	if (!strcmp(argv[3], "raw") && argc == 7)
		return cmd_raw(argv[4], argv[5], argv[6]);
	if (!strcmp(argv[3], "idle") && argc == 6)
		return cmd_idle(atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(argv[3], "slow") && argc == 9)
		return cmd_slow(atoi(argv[4]), argv[5], argv[6], argv[7], atoi(argv[8]));
	if (!strcmp(argv[3], "pipe") && argc == 8)
		return cmd_pipe(argv[4], argv[5], argv[6], atoi(argv[7]));
usage:
	fputs("usage: rawpg HOST PORT many N USER DB\n"
	      "       rawpg HOST PORT noread USER DB SQL SECONDS\n"
	      "       rawpg HOST PORT raw USER|- DB HEX\n"
	      "       rawpg HOST PORT idle N SECONDS\n"
	      "       rawpg HOST PORT slow N USER DB SQL SECONDS\n"
	      "       rawpg HOST PORT pipe USER DB HEX N\n", stderr);
	return 2;
}
