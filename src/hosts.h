/* hosts.h - a [databases] entry's host list, and which of its hosts the next server connection goes to
 *
 * Pure: no I/O, no worker.  hostsel.c applies it to pools and servers.
 * A host that refuses or times out is "down" and skipped until its back-off
 * ends; a host whose role (primary, standby) does not suit a pool's
 * target_session_attrs is skipped until a back-off of its own ends, so that a
 * switchover is noticed without a login storm on the wrong node.
 */
#ifndef PGRING_HOSTS_H
#define PGRING_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOSTS_MAX		16	/* hosts in one entry's list */
#define HOSTS_NAME_MAX		256	/* a host name or socket directory, NUL included */
#define HOSTS_BACKOFF_MIN_US	500000	/* the first back-off; it doubles up to a cap */

enum hosts_lb {
	HOSTS_LB_ROUND_ROBIN = 0,	/* PgBouncer's default */
	HOSTS_LB_DISABLE,		/* stay on a host until it fails */
};

/* libpq's target_session_attrs */
enum hosts_tsa {
	HOSTS_TSA_ANY = 0,
	HOSTS_TSA_READ_WRITE,
	HOSTS_TSA_READ_ONLY,
	HOSTS_TSA_PRIMARY,
	HOSTS_TSA_STANDBY,
	HOSTS_TSA_PREFER_STANDBY,
};

/* What a server's ParameterStatus said of its node */
enum hosts_role {
	HOSTS_ROLE_UNKNOWN = 0,
	HOSTS_ROLE_PRIMARY,		/* in_hot_standby off, default_transaction_read_only off */
	HOSTS_ROLE_PRIMARY_RO,		/* in_hot_standby off, default_transaction_read_only on */
	HOSTS_ROLE_STANDBY,		/* in_hot_standby on */
};

enum hosts_match {
	HOSTS_MATCH_NO = 0,
	HOSTS_MATCH_YES,
	HOSTS_MATCH_FALLBACK,		/* prefer-standby on a primary: only if no standby will do */
};

/* One element of the list: name "" is the unix socket directory */
struct host_addr {
	char name[HOSTS_NAME_MAX];
	int port;
};

/* What is known of one host:port, shared by every pool that lists it */
struct host_state {
	struct host_state *next;
	char name[HOSTS_NAME_MAX];
	int port;
	bool down;			/* its last connection attempt failed */
	unsigned fails;			/* attempts failed in a row */
	uint64_t retry_at_us;		/* down: not tried before this */
	int role;			/* enum hosts_role, as last reported */
	unsigned mismatches;		/* logins refused for their role, in a row */
	uint64_t probe_at_us;		/* a role that does not suit is trusted (not probed) until this */
};

struct hosts_table {
	struct host_state *head;
};

/*
 * host and port as a [databases] entry gives them ("a,b,c"; one port for all
 * or one per host; NULL host: the unix socket; NULL port: 5432).  The count,
 * or -1 with the reason in err.
 */
int hosts_parse(const char *host, const char *port, struct host_addr *out, int max, char *err,
		size_t errlen);
int hosts_lb_parse(const char *s);		/* enum hosts_lb, or -1 */
int hosts_tsa_parse(const char *s);		/* enum hosts_tsa, or -1 */
const char *hosts_lb_name(int lb);
const char *hosts_tsa_name(int tsa);
const char *hosts_role_name(int role);

/* in_hot_standby and default_transaction_read_only as reported ("on"/"off", NULL: not) */
int hosts_role_of(const char *in_hot_standby, const char *default_read_only);
int hosts_match(int tsa, int role);		/* enum hosts_match */

/*
 * Before PostgreSQL 14 a server reports neither of the two: libpq then asks
 * SHOW transaction_read_only (read-write, read-only) or
 * pg_is_in_recovery() (primary, standby, prefer-standby).  Both are asked
 * at once here, so that the role found is exact for every pool sharing the
 * host, whatever its target_session_attrs.
 */
#define HOSTS_PROBE_QUERY "SHOW transaction_read_only; SELECT pg_catalog.pg_is_in_recovery()"
/* Whether a server whose ParameterStatus gave role must be asked (tsa is not any) */
bool hosts_probe_needed(int tsa, int role);
/* HOSTS_PROBE_QUERY's answers ("on"/"off", "t"/"f"; NULL: none) as an enum hosts_role */
int hosts_role_probed(const char *tx_read_only, const char *in_recovery);

/* The entry for name:port, made on first use; NULL when out of memory. */
struct host_state *hosts_state(struct hosts_table *t, const char *name, int port);
void hosts_table_free(struct hosts_table *t);

/*
 * The index of the host in st[0..n) the next connection goes to, starting at
 * *cursor and moving it as lb says; -1 when none may be tried now, with
 * *wait_us until one may (0: none will without news).
 */
int hosts_pick(struct host_state *const *st, int n, unsigned *cursor, int lb, int tsa,
	       uint64_t now, uint64_t *wait_us);
/* Whether some host in st[0..n) other than except may be tried now for tsa;
 * strict: only one whose role suits or is unknown (no prefer-standby fallback) */
bool hosts_any_eligible(struct host_state *const *st, int n, int tsa, uint64_t now,
			const struct host_state *except, bool strict);

/*
 * Outcomes.  mark_down and mark_up return true when the host changed state
 * (the one time to log it); a change of state also lets every host's role be
 * probed again at once (t), since a topology change is likely under way.
 */
bool hosts_mark_down(struct hosts_table *t, struct host_state *s, uint64_t now, uint64_t cap_us);
bool hosts_mark_up(struct hosts_table *t, struct host_state *s);
/* A login whose role did not suit: not probed again for a back-off. */
void hosts_mark_mismatch(struct host_state *s, uint64_t now, uint64_t cap_us);
/* A role seen on any connection; true when it changed.  A new role is
 * trusted for the first back-off: a pool it does not suit probes the host
 * again only after that, and then less and less often. */
bool hosts_set_role(struct host_state *s, int role, uint64_t now, uint64_t cap_us);
/* The back-off after fails failures in a row */
uint64_t hosts_backoff_us(unsigned fails, uint64_t cap_us);

#endif
