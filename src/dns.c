/* dns.c - host names resolved without blocking: c-ares driven by the event loop, and a cache */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ares.h>

#include "config.h"
#include "log.h"

#define DNS_T_SOA	6
#define DNS_C_IN	1
/* c-ares sockets that want to write (DNS over TCP, rare) are tried this often:
 * the loop's poll op watches for input only */
#define WRITE_TICK_US	10000
/* a TCP socket's replies read per readiness, at most (edge-triggered epoll
 * reports data once; c-ares reads one chunk per call) */
#define STREAM_READS_MAX 16
#define REFRESH_MIN_US	1000000

/* One socket of c-ares's, as the loop sees it: a dup of it, so that the
 * loop's registration and the fd its ops name live until their final
 * completion, whenever c-ares closes its own. */
struct dns_sock {
	struct dns_sock *next;
	struct dns *d;
	int fd;				/* c-ares's */
	struct loop_sock ls;		/* the dup the loop polls */
	struct loop_op op;
	bool stream;
	bool want_write;
	bool unwatched;			/* the poll ended by an error: read on the tick */
	bool gone;			/* c-ares closed fd: free at the final completion */
	bool in_cb;
};

struct dns {
	struct loop *loop;
	struct logger *log;
	const struct config *const *cfgp;
	ares_channel chan;
	bool have_chan;
	bool stopping;
	struct dns_host *hosts;
	struct dns_zone *zones;
	struct dns_sock *socks;
	struct loop_timer timeout;	/* c-ares's next timeout */
	struct loop_timer tick;		/* sockets that want to write */
	struct loop_timer zone_timer;	/* dns_zone_check_period */
	struct dns_zone *zone_cur;	/* the SOA query in flight is for it */
};

static void dns_kick(struct dns *d);
static void host_query(struct dns_host *h);

/* ---- the cache's rules ---- */

uint64_t dns_expiry(uint64_t now_us, int64_t ttl_s, int64_t max_ttl_us)
{
	int64_t us = max_ttl_us > 0 ? max_ttl_us : 0;

	/* 0 (hosts files) or none: dns_max_ttl, as PgBouncer keeps every answer */
	if (ttl_s > 0 && ttl_s < us / 1000000)
		us = ttl_s * 1000000;
	return now_us + (uint64_t)us;
}

bool dns_host_has(const struct dns_host *h, const struct dns_addr *a)
{
	for (unsigned i = 0; i < h->naddr; i++)
		if (h->addrs[i].family == a->family &&
		    !memcmp(h->addrs[i].ip, a->ip, a->family == AF_INET ? 4 : 16))
			return true;
	return false;
}

void dns_host_set_answer(struct dns_host *h, const struct dns_addr *a, unsigned n, int64_t ttl_s,
			 uint64_t now_us, int64_t max_ttl_us)
{
	struct dns_host fresh;
	bool lost = false;

	if (n > DNS_ADDRS_MAX)
		n = DNS_ADDRS_MAX;
	fresh.naddr = n;
	memcpy(fresh.addrs, a, n * sizeof(*a));
	for (unsigned i = 0; i < h->naddr; i++)
		if (!dns_host_has(&fresh, &h->addrs[i]))
			lost = true;
	if (lost)
		h->gen++;
	h->naddr = n;
	memcpy(h->addrs, a, n * sizeof(*a));
	if (h->rr >= n)
		h->rr = 0;
	h->state = DNS_OK;
	h->err[0] = '\0';
	h->expires_us = dns_expiry(now_us, ttl_s, max_ttl_us);
}

void dns_host_set_failure(struct dns_host *h, bool gone, const char *why, uint64_t now_us,
			  int64_t nx_ttl_us)
{
	h->expires_us = now_us + (uint64_t)(nx_ttl_us > 0 ? nx_ttl_us : 0);
	snprintf(h->err, sizeof(h->err), "%s", why);
	if (!gone && h->state == DNS_OK && h->naddr)
		return;		/* the last answer serves until the name answers again */
	if (h->naddr)
		h->gen++;
	h->naddr = 0;
	h->rr = 0;
	h->state = DNS_FAILED;
}

bool dns_host_fresh(const struct dns_host *h, uint64_t now_us)
{
	return h->state != DNS_NEW && now_us < h->expires_us;
}

bool dns_host_pick(struct dns_host *h, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	const struct dns_addr *a;

	if (h->state != DNS_OK || !h->naddr)
		return false;
	a = &h->addrs[h->rr % h->naddr];
	h->rr = (h->rr + 1) % h->naddr;
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a->ip, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, a->ip, 16);
		*len = sizeof(*in6);
	}
	return true;
}

void dns_addr_of(const struct sockaddr_storage *ss, struct dns_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET)
		memcpy(a->ip, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(a->ip, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
}

void dns_host_addrs_text(const struct dns_host *h, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < h->naddr && used + 1 < len; i++) {
		char ip[INET6_ADDRSTRLEN];

		if (!inet_ntop(h->addrs[i].family, h->addrs[i].ip, ip, sizeof(ip)))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", ip);
	}
}

uint64_t dns_host_ttl_left(const struct dns_host *h, uint64_t now_us)
{
	return h->expires_us > now_us ? (h->expires_us - now_us) / 1000000 : 0;
}

bool dns_is_name(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!host || !*host || host[0] == '/')
		return false;
	return inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1;
}

/* ---- c-ares's sockets on the loop ---- */

static struct dns_sock *sock_find(struct dns *d, int fd)
{
	for (struct dns_sock *ds = d->socks; ds; ds = ds->next)
		if (ds->fd == fd && !ds->gone)
			return ds;
	return NULL;
}

static void sock_free(struct dns_sock *ds)
{
	struct dns_sock **pp = &ds->d->socks;

	while (*pp && *pp != ds)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ds->next;
	if (ds->ls.fd >= 0)
		loop_sock_close(ds->d->loop, &ds->ls);
	free(ds);
}

static void sock_read(struct dns_sock *ds)
{
	struct dns *d = ds->d;
	char b;

	ares_process_fd(d->chan, ds->fd, ARES_SOCKET_BAD);
	for (int n = 1; ds->stream && !ds->gone && n < STREAM_READS_MAX; n++) {
		if (recv(ds->ls.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			break;
		ares_process_fd(d->chan, ds->fd, ARES_SOCKET_BAD);
	}
}

static void tick_cb(struct loop *loop, struct loop_timer *t);

static void tick_arm(struct dns *d)
{
	if (!loop_timer_armed(&d->tick))
		loop_timer_set(d->loop, &d->tick, WRITE_TICK_US, tick_cb);
}

static void sock_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct dns_sock *ds = list_entry(op, struct dns_sock, op);
	struct dns *d = ds->d;

	(void)loop;
	if (!ds->gone && res > 0 && d->have_chan) {
		ds->in_cb = true;
		sock_read(ds);
		ds->in_cb = false;
	}
	if (ds->gone) {
		if (!ds->op.armed)
			sock_free(ds);
		dns_kick(d);
		return;
	}
	if (!more && res >= 0) {
		loop_poll(d->loop, &ds->ls, &ds->op, sock_cb);	/* the kernel ended it: again */
	} else if (!more) {	/* the poll failed: the tick reads the socket instead */
		log_warning(d->log, "DNS: polling a resolver socket failed: %s", strerror(-res));
		ds->unwatched = true;
		tick_arm(d);
	}
	dns_kick(d);
}

static struct dns_sock *sock_new(struct dns *d, int fd)
{
	struct dns_sock *ds = calloc(1, sizeof(*ds));
	int dupfd, type = 0, fl;
	socklen_t tl = sizeof(type);

	if (!ds)
		return NULL;
	ds->d = d;
	ds->fd = fd;
	ds->ls.fd = -1;
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0 || loop_sock_open(d->loop, &ds->ls, dupfd) < 0) {
		if (dupfd >= 0)
			close(dupfd);
		free(ds);
		return NULL;
	}
	/* one open file with c-ares's fd: it must stay non-blocking for c-ares,
	 * whatever the backend wants of the sockets it reads itself */
	fl = fcntl(dupfd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(dupfd, F_SETFL, fl | O_NONBLOCK);
	if (getsockopt(dupfd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0)
		ds->stream = type == SOCK_STREAM;
	ds->next = d->socks;
	d->socks = ds;
	loop_poll(d->loop, &ds->ls, &ds->op, sock_cb);
	return ds;
}

static void sock_gone(struct dns_sock *ds)
{
	ds->gone = true;
	if (ds->op.armed) {
		if (!ds->op.cancel)
			loop_cancel(ds->d->loop, &ds->op);
		return;
	}
	if (!ds->in_cb)
		sock_free(ds);
}

/* c-ares opens, watches or closes a socket (r = w = 0: it is closing it) */
static void sock_state_cb(void *arg, ares_socket_t fd, int r, int w)
{
	struct dns *d = arg;
	struct dns_sock *ds = sock_find(d, fd);

	if (!r && !w) {
		if (ds)
			sock_gone(ds);
		return;
	}
	if (!ds && !(ds = sock_new(d, fd))) {
		/* its query times out: c-ares's timer still runs */
		log_warning(d->log, "DNS: could not watch a resolver socket: %s", strerror(errno));
		return;
	}
	ds->want_write = w;
	if (w)
		tick_arm(d);
}

static void tick_cb(struct loop *loop, struct loop_timer *t)
{
	struct dns *d = list_entry(t, struct dns, tick);
	int fds[32], rd[32], n = 0;
	bool again = false;

	(void)loop;
	/* by fd, not by pointer: processing may close and free any of them */
	for (struct dns_sock *ds = d->socks; ds && n < 32; ds = ds->next) {
		if (ds->gone || !(ds->want_write || ds->unwatched))
			continue;
		fds[n] = ds->fd;
		rd[n++] = ds->unwatched;
	}
	for (int i = 0; i < n && d->have_chan; i++)
		ares_process_fd(d->chan, rd[i] ? fds[i] : ARES_SOCKET_BAD, fds[i]);
	for (struct dns_sock *ds = d->socks; ds; ds = ds->next)
		again |= !ds->gone && (ds->want_write || ds->unwatched);
	if (again)
		loop_timer_set(d->loop, &d->tick, WRITE_TICK_US, tick_cb);
	dns_kick(d);
}

static void timeout_cb(struct loop *loop, struct loop_timer *t)
{
	struct dns *d = list_entry(t, struct dns, timeout);

	(void)loop;
	if (d->have_chan)
		ares_process_fd(d->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_kick(d);
}

/* c-ares's next timeout, after anything that may have changed it */
static void dns_kick(struct dns *d)
{
	struct timeval tv, *tvp;

	if (!d->have_chan)
		return;
	tvp = ares_timeout(d->chan, NULL, &tv);
	if (!tvp) {
		loop_timer_stop(d->loop, &d->timeout);
		return;
	}
	loop_timer_set(d->loop, &d->timeout,
		       (uint64_t)tvp->tv_sec * 1000000 + (uint64_t)tvp->tv_usec + 1, timeout_cb);
}

/* ---- names ---- */

static const struct config *cfg_of(const struct dns *d)
{
	return *d->cfgp;
}

/* wt's address comes from h: h is kept fresh while wt holds it */
static void wait_from(struct dns_wait *wt, struct dns_host *h)
{
	dns_forget(wt);
	wt->from = h;
	wt->gen = h->gen;
	h->refs++;
}

void dns_forget(struct dns_wait *wt)
{
	dns_cancel(wt);
	if (wt->from)
		wt->from->refs--;
	wt->from = NULL;
}

static void wake_cb(struct loop *loop, struct loop_timer *t)
{
	struct dns_host *h = list_entry(t, struct dns_host, wake);

	(void)loop;
	/* a waiter's callback may queue it again on a host still querying */
	while (!h->querying && !list_empty(&h->waiters)) {
		struct dns_wait *wt = list_entry(list_first(&h->waiters), struct dns_wait, node);
		struct sockaddr_storage ss;
		socklen_t len;

		list_remove(&h->waiters, &wt->node);
		wt->host = NULL;
		if (dns_host_pick(h, wt->port, &ss, &len)) {
			wait_from(wt, h);
			wt->cb(wt, &ss, len, NULL);
		} else {
			wt->cb(wt, NULL, 0, h->err[0] ? h->err : "no address");
		}
	}
}

static void refresh_cb(struct loop *loop, struct loop_timer *t)
{
	struct dns_host *h = list_entry(t, struct dns_host, refresh);

	(void)loop;
	/* a name nobody used since its answer, and no connection is on,
	 * waits for its next use */
	if ((h->used || h->refs) && !h->querying && h->d->have_chan)
		host_query(h);
}

/* at expiry, but not more than once a second: with dns_max_ttl = 0 a name
 * in use would be queried without pause */
static void refresh_arm(struct dns_host *h, uint64_t now)
{
	uint64_t delay = h->expires_us > now ? h->expires_us - now : 0;

	loop_timer_set(h->d->loop, &h->refresh, delay < REFRESH_MIN_US ? REFRESH_MIN_US : delay,
		       refresh_cb);
}

static void log_answer(struct dns_host *h, bool changed)
{
	char addrs[256];

	if (h->state != DNS_OK) {
		log_warning(h->d->log, "DNS: could not resolve %s: %s", h->name, h->err);
		return;
	}
	dns_host_addrs_text(h, addrs, sizeof(addrs));
	if (changed)
		log_info(h->d->log, "DNS: %s is now %s", h->name, addrs);
	else
		log_debug(h->d->log, "DNS: %s is %s", h->name, addrs);
}

static unsigned collect(const struct ares_addrinfo *res, struct dns_addr *a, int64_t *ttl)
{
	unsigned n = 0;

	*ttl = -1;
	for (const struct ares_addrinfo_node *ai = res ? res->nodes : NULL; ai; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		struct dns_host tmp;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(ss) || n >= DNS_ADDRS_MAX)
			continue;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		dns_addr_of(&ss, &a[n]);
		tmp.naddr = n;
		memcpy(tmp.addrs, a, n * sizeof(*a));
		if (dns_host_has(&tmp, &a[n]))
			continue;	/* one per address, whatever the socket types */
		n++;
		if (*ttl < 0 || ai->ai_ttl < *ttl)
			*ttl = ai->ai_ttl;
	}
	return n;
}

static void gai_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_host *h = arg;
	struct dns *d = h->d;
	const struct config *cfg = cfg_of(d);
	uint64_t now = loop_clock_us();
	struct dns_addr a[DNS_ADDRS_MAX];
	uint32_t gen = h->gen;
	unsigned n;
	int64_t ttl;
	bool was_ok = h->state == DNS_OK, changed;
	char why[160];

	(void)timeouts;
	h->querying = false;
	if (status == ARES_EDESTRUCTION || d->stopping) {
		ares_freeaddrinfo(res);
		return;
	}
	n = status == ARES_SUCCESS ? collect(res, a, &ttl) : 0;
	ares_freeaddrinfo(res);
	if (n) {
		changed = !was_ok || n != h->naddr;
		for (unsigned i = 0; i < n && !changed; i++)
			changed = !dns_host_has(h, &a[i]);
		dns_host_set_answer(h, a, n, ttl, now, cfg->dns_max_ttl_us);
		refresh_arm(h, now);
	} else {
		snprintf(why, sizeof(why), "could not resolve %s: %s", h->name,
			 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
		changed = was_ok || h->state == DNS_NEW;
		dns_host_set_failure(h, status == ARES_SUCCESS || status == ARES_ENOTFOUND ||
				     status == ARES_ENODATA, why, now, cfg->dns_nxdomain_ttl_us);
		if (h->state == DNS_OK)	/* kept: tried again once the failure expires */
			refresh_arm(h, now);
	}
	h->used = false;
	log_answer(h, changed || gen != h->gen);
	if (!list_empty(&h->waiters))
		loop_timer_set(d->loop, &h->wake, 0, wake_cb);
}

static void host_query(struct dns_host *h)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;	/* sorting connects a UDP socket per address */
	h->querying = true;
	log_debug(h->d->log, "DNS: looking up %s", h->name);
	/* may answer at once (/etc/hosts): gai_cb then defers the waiters */
	ares_getaddrinfo(h->d->chan, h->name, NULL, &hints, gai_cb, h);
	dns_kick(h->d);
}

static struct dns_zone *zone_get(struct dns *d, const char *hostname)
{
	const char *dot = strchr(hostname, '.');
	struct dns_zone *z;

	if (!dot || !dot[1])
		return NULL;
	for (z = d->zones; z; z = z->next)
		if (!strcasecmp(z->name, dot + 1))
			return z;
	z = calloc(1, sizeof(*z));
	if (!z || !(z->name = strdup(dot + 1))) {
		free(z);
		return NULL;	/* no zone check for it: the TTL still holds */
	}
	z->next = d->zones;
	d->zones = z;
	return z;
}

static struct dns_host *host_get(struct dns *d, const char *name)
{
	struct dns_host *h;

	for (h = d->hosts; h; h = h->next)
		if (!strcasecmp(h->name, name))
			return h;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->name = strdup(name))) {
		free(h);
		return NULL;
	}
	h->d = d;
	list_init(&h->waiters);
	h->zone = zone_get(d, name);
	if (h->zone)
		h->zone->nhosts++;
	h->next = d->hosts;
	d->hosts = h;
	return h;
}

static void zone_arm(struct dns *d);

int dns_lookup(struct dns *d, const char *name, int port, struct dns_wait *wt, dns_cb_t cb,
	       struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
	struct dns_host *h = host_get(d, name);
	uint64_t now = loop_now_us(d->loop);

	if (!h) {
		snprintf(err, errlen, "could not resolve %s: out of memory", name);
		return -ENOMEM;
	}
	zone_arm(d);
	h->used = true;
	/* an answer being refreshed still serves: the refresh takes a moment */
	if (h->state == DNS_OK && (dns_host_fresh(h, now) || h->querying) &&
	    dns_host_pick(h, port, ss, len)) {
		wait_from(wt, h);
		return 0;
	}
	if (h->state == DNS_FAILED && dns_host_fresh(h, now)) {
		snprintf(err, errlen, "%s", h->err);
		return -EHOSTUNREACH;
	}
	if (!d->have_chan) {
		snprintf(err, errlen, "could not resolve %s: the resolver is shut down", name);
		return -ESHUTDOWN;
	}
	wt->cb = cb;
	wt->port = port;
	wt->host = h;
	list_append(&h->waiters, &wt->node);
	if (!h->querying)
		host_query(h);
	return DNS_WAIT;
}

void dns_cancel(struct dns_wait *wt)
{
	if (!wt->host)
		return;
	list_remove(&wt->host->waiters, &wt->node);
	wt->host = NULL;
}

bool dns_addr_stale(struct dns_wait *wt, const struct sockaddr_storage *ss)
{
	struct dns_addr a;

	if (!wt->from || wt->gen == wt->from->gen)
		return false;
	dns_addr_of(ss, &a);
	if (wt->from->state == DNS_OK && dns_host_has(wt->from, &a)) {
		wt->gen = wt->from->gen;	/* still one of its addresses */
		return false;
	}
	return true;
}

const struct dns_host *dns_hosts(const struct dns *d)
{
	return d ? d->hosts : NULL;
}

const struct dns_zone *dns_zones(const struct dns *d)
{
	return d ? d->zones : NULL;
}

/* ---- zone serials (dns_zone_check_period) ---- */

static void zone_next(struct dns *d);

/* the zone's names are looked up again at once, their old answers serving meanwhile */
static void zone_changed(struct dns *d, struct dns_zone *z)
{
	for (struct dns_host *h = d->hosts; h && d->have_chan; h = h->next)
		if (h->zone == z && h->state != DNS_NEW && !h->querying)
			host_query(h);
}

static void soa_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns *d = arg;
	struct dns_zone *z = d->zone_cur;
	struct ares_soa_reply *soa = NULL;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || d->stopping || !z)
		return;
	if (status == ARES_SUCCESS)
		status = ares_parse_soa_reply(abuf, alen, &soa);
	if (status != ARES_SUCCESS) {
		log_debug(d->log, "DNS: no serial for zone %s: %s", z->name, ares_strerror(status));
	} else {
		/* serial arithmetic (RFC 1982): later means greater modulo 2^32 */
		bool later = (int32_t)(soa->serial - z->serial) > 0;

		if (z->have_serial && later) {
			log_info(d->log, "DNS: zone %s serial changed: %u -> %u", z->name, z->serial,
				 soa->serial);
			z->serial = soa->serial;
			zone_changed(d, z);
		} else if (!z->have_serial) {
			z->serial = soa->serial;
			z->have_serial = true;
		}
		ares_free_data(soa);
	}
	zone_next(d);
}

static void zone_query(struct dns *d, struct dns_zone *z)
{
	d->zone_cur = z;
	ares_query(d->chan, z->name, DNS_C_IN, DNS_T_SOA, soa_cb, d);
	dns_kick(d);
}

/* the zones one after another, then the period again */
static void zone_next(struct dns *d)
{
	struct dns_zone *z = d->zone_cur ? d->zone_cur->next : NULL;

	if (z) {
		zone_query(d, z);
		return;
	}
	d->zone_cur = NULL;
	zone_arm(d);
}

static void zone_timer_cb(struct loop *loop, struct loop_timer *t)
{
	struct dns *d = list_entry(t, struct dns, zone_timer);

	(void)loop;
	if (cfg_of(d)->dns_zone_check_period_us <= 0 || !d->zones || !d->have_chan)
		return;
	zone_query(d, d->zones);
}

/* starts the period once there are zones and a period (a reload may set it) */
static void zone_arm(struct dns *d)
{
	int64_t period = cfg_of(d)->dns_zone_check_period_us;

	if (period <= 0 || !d->zones || d->zone_cur || loop_timer_armed(&d->zone_timer) ||
	    !d->have_chan)
		return;
	loop_timer_set(d->loop, &d->zone_timer, (uint64_t)period, zone_timer_cb);
}

/* ---- the resolver ---- */

struct dns *dns_new(struct loop *loop, struct logger *log, const struct config *const *cfgp,
		    char *err, size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	const char *rc = (*cfgp)->resolv_conf;
	struct ares_options o;
	int mask = ARES_OPT_SOCK_STATE_CB, ret;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->log = log;
	d->cfgp = cfgp;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	if (rc && *rc) {
		o.resolvconf_path = (char *)rc;
		mask |= ARES_OPT_RESOLVCONF;
	}
	ret = ares_init_options(&d->chan, &o, mask);
	if (ret != ARES_SUCCESS) {
		snprintf(err, errlen, "could not start the DNS resolver%s%s: %s",
			 rc && *rc ? " with resolv_conf " : "", rc && *rc ? rc : "",
			 ares_strerror(ret));
		free(d);
		return NULL;
	}
	d->have_chan = true;
	return d;
}

void dns_stop(struct dns *d)
{
	if (!d || !d->have_chan)
		return;
	d->stopping = true;
	/* answers every query with ARES_EDESTRUCTION and closes the sockets
	 * (sock_state_cb 0, 0: their polls are cancelled) */
	ares_destroy(d->chan);
	d->have_chan = false;
	loop_timer_stop(d->loop, &d->timeout);
	loop_timer_stop(d->loop, &d->tick);
	loop_timer_stop(d->loop, &d->zone_timer);
	d->zone_cur = NULL;
	for (struct dns_host *h = d->hosts; h; h = h->next) {
		loop_timer_stop(d->loop, &h->wake);
		loop_timer_stop(d->loop, &h->refresh);
	}
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	dns_stop(d);
	while (d->hosts) {
		struct dns_host *h = d->hosts;

		d->hosts = h->next;
		loop_timer_stop(d->loop, &h->wake);
		loop_timer_stop(d->loop, &h->refresh);
		while (!list_empty(&h->waiters))
			dns_cancel(list_entry(list_first(&h->waiters), struct dns_wait, node));
		free(h->name);
		free(h);
	}
	while (d->zones) {
		struct dns_zone *z = d->zones;

		d->zones = z->next;
		free(z->name);
		free(z);
	}
	/* a socket whose final completion never came (a loop that stopped
	 * turning) keeps its memory, which loop_free may still touch */
	while (d->socks) {
		struct dns_sock *ds = d->socks;

		d->socks = ds->next;
		if (ds->op.armed)
			continue;
		if (ds->ls.fd >= 0)
			loop_sock_close(d->loop, &ds->ls);
		free(ds);
	}
	free(d);
}

/* c-ares 1.18's library init counts its users without a lock: the main
 * thread calls it once, before any worker makes a channel. */
int dns_library_init(char *err, size_t errlen)
{
	int ret = ares_library_init(ARES_LIB_INIT_ALL);

	if (ret != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(ret));
		return -1;
	}
	return 0;
}

void dns_library_cleanup(void)
{
	ares_library_cleanup();
}
