/* stats.h - per-pool traffic counters as PgBouncer's SHOW STATS reports them, and their averages */
#ifndef PGRING_STATS_H
#define PGRING_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* One set of counters; times are microseconds. */
struct stats {
	uint64_t server_assignment_count;	/* a server was linked to a client */
	uint64_t xact_count;			/* transactions ended (ReadyForQuery 'I') */
	uint64_t query_count;			/* requests answered (ReadyForQuery) */
	uint64_t bytes_received;		/* from clients */
	uint64_t bytes_sent;			/* to clients */
	uint64_t xact_time;
	uint64_t query_time;
	uint64_t wait_time;			/* clients waiting for a server */
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
	uint64_t client_login_count;		/* clients logged in to the database */
};

/* What a pool keeps: the running totals, the totals at the last period's
 * end, and the averages over the last complete stats_period. */
struct pool_stats {
	struct stats total;
	struct stats mark;
	struct stats avg;
};

void stats_add(struct stats *sum, const struct stats *s);
/* Rates per second over period_us for counts and bytes; times are per
 * query, per transaction and per assignment, as PgBouncer computes them. */
void stats_average(struct stats *avg, const struct stats *cur, const struct stats *old,
		   uint64_t period_us);
/* Ends a period: avg from the counts since the mark, then a new mark. */
void stats_roll(struct pool_stats *ps, uint64_t period_us);

struct conn;
struct client;
struct server;
struct worker;
/* Hooks in the data path; each is a few additions. */
void stats_received(struct conn *c, uint32_t bytes);	/* recv on any connection */
void stats_request(struct client *cl, uint8_t type);	/* a message forwarded to a server */
void stats_ready(struct server *sv);			/* ReadyForQuery for the client */
void stats_assigned(struct client *cl);			/* a server was linked to cl */

#endif
