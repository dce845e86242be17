/* dns.h - host names resolved without blocking: c-ares driven by the event loop, and a cache */
#ifndef PGRING_DNS_H
#define PGRING_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "list.h"
#include "loop.h"

struct config;
struct logger;
struct dns;

/*
 * One resolver per worker.  A name is looked up once and its answer kept
 * for min(TTL, dns_max_ttl) (a TTL of 0, as /etc/hosts answers have, counts
 * as dns_max_ttl); a failure for dns_nxdomain_ttl.  A name still in use
 * when its answer expires is looked up again in the background, the old
 * answer serving meanwhile, and so is one whose address a connection is
 * on, so that a changed address is noticed; any other is looked up on its
 * next use, which waits.  A refresh that fails for a reason that may pass
 * (timeout, SERVFAIL) keeps the old answer for dns_nxdomain_ttl more; one
 * that says the name is gone (NXDOMAIN, no address) replaces it.
 */

#define DNS_ADDRS_MAX 16	/* addresses kept per name, in the order given */

struct dns_addr {
	uint16_t family;	/* AF_INET, AF_INET6 */
	uint8_t ip[16];
};

enum dns_state {
	DNS_NEW = 0,		/* never answered */
	DNS_OK,
	DNS_FAILED,
};

/* A zone (what follows a name's first dot), its SOA serial polled every
 * dns_zone_check_period: a change re-resolves its names at once. */
struct dns_zone {
	struct dns_zone *next;
	char *name;
	uint32_t serial;
	bool have_serial;
	unsigned nhosts;
};

struct dns_host {
	struct dns_host *next;		/* dns->hosts */
	struct dns *d;
	char *name;
	struct dns_zone *zone;		/* NULL: a name without a dot */
	uint8_t state;			/* enum dns_state */
	bool querying;
	bool used;			/* looked up since its last answer */
	unsigned refs;			/* dns_waits whose address came from it */
	uint64_t expires_us;		/* the answer (or failure) holds until then */
	uint32_t gen;			/* bumped when an address of the answer goes away */
	unsigned naddr, rr;		/* rr: the next address handed out */
	struct dns_addr addrs[DNS_ADDRS_MAX];
	char err[160];			/* a failure, as the waiting clients hear it */
	struct list waiters;		/* struct dns_wait, by node */
	struct loop_timer wake;		/* waiters hear an answer on the next turn */
	struct loop_timer refresh;	/* expiry of an answer in use */
};

struct dns_wait;
/* ss is NULL on failure, err then says why */
typedef void (*dns_cb_t)(struct dns_wait *wt, const struct sockaddr_storage *ss, socklen_t len,
			 const char *err);

/* Embedded in whoever waits for a name (a server connection). */
struct dns_wait {
	struct list_node node;
	struct dns_host *host;		/* waiting on it; NULL otherwise */
	dns_cb_t cb;
	int port;
	struct dns_host *from;		/* the name the last address came from */
	uint32_t gen;			/* from->gen then */
};

/*
 * *cfgp is read at each use, so that a reload's dns_* values apply; the
 * channel reads resolv_conf (or /etc/resolv.conf) once, here.  NULL with
 * err filled on failure.
 */
struct dns *dns_new(struct loop *loop, struct logger *log, const struct config *const *cfgp,
		    char *err, size_t errlen);
/* Ends every query and releases c-ares's sockets; the loop must turn a
 * little more for their final completions before dns_free(). */
void dns_stop(struct dns *d);
void dns_free(struct dns *d);

/* A host that needs DNS: not empty, not a unix socket directory, not an IP literal. */
bool dns_is_name(const char *host);

#define DNS_WAIT 1
/*
 * The address of name:port: 0 with *ss filled now (from the cache);
 * DNS_WAIT when wt is queued and wt->cb will come from a later loop turn,
 * never from inside this call; -errno with err filled on failure (a
 * cached one included).
 */
int dns_lookup(struct dns *d, const char *name, int port, struct dns_wait *wt, dns_cb_t cb,
	       struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);
void dns_cancel(struct dns_wait *wt);	/* no callback follows; harmless if not waiting */
/* wt is going: cancelled, and its name no longer kept fresh on its account */
void dns_forget(struct dns_wait *wt);
static inline bool dns_waiting(const struct dns_wait *wt) { return wt->host != NULL; }
/* The address wt last got is no longer among its name's: a connection to
 * it should go once released. */
bool dns_addr_stale(struct dns_wait *wt, const struct sockaddr_storage *ss);

/* SHOW DNS_HOSTS / DNS_ZONES */
const struct dns_host *dns_hosts(const struct dns *d);
const struct dns_zone *dns_zones(const struct dns *d);
/* "127.0.0.1,::1": the addresses of an answer */
void dns_host_addrs_text(const struct dns_host *h, char *buf, size_t len);
/* seconds the answer still holds, 0 when expired */
uint64_t dns_host_ttl_left(const struct dns_host *h, uint64_t now_us);

/* ---- the cache's rules, without c-ares or a loop (unit tests) ---- */

/* until when an answer with this TTL holds */
uint64_t dns_expiry(uint64_t now_us, int64_t ttl_s, int64_t max_ttl_us);
/* h takes the answer: state OK, gen bumped if an old address went away */
void dns_host_set_answer(struct dns_host *h, const struct dns_addr *a, unsigned n, int64_t ttl_s,
			 uint64_t now_us, int64_t max_ttl_us);
/* h takes a failure: gone (NXDOMAIN, no data) always replaces an answer;
 * another keeps an answer h has, for nx_ttl more */
void dns_host_set_failure(struct dns_host *h, bool gone, const char *why, uint64_t now_us,
			  int64_t nx_ttl_us);
bool dns_host_fresh(const struct dns_host *h, uint64_t now_us);
bool dns_host_has(const struct dns_host *h, const struct dns_addr *a);
/* the next address, round-robin; false when h has none */
bool dns_host_pick(struct dns_host *h, int port, struct sockaddr_storage *ss, socklen_t *len);
void dns_addr_of(const struct sockaddr_storage *ss, struct dns_addr *a);

/* once per process, before the first dns_new / after the last dns_free */
int dns_library_init(char *err, size_t errlen);
void dns_library_cleanup(void);

#endif
