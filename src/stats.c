/* stats.c - per-pool counters fed from the data path, and averages over stats_period */

#include <string.h>

#include "stats.h"
#include "worker.h"

#define USEC 1000000ull

void stats_add(struct stats *sum, const struct stats *s)
{
	sum->server_assignment_count += s->server_assignment_count;
	sum->xact_count += s->xact_count;
	sum->query_count += s->query_count;
	sum->bytes_received += s->bytes_received;
	sum->bytes_sent += s->bytes_sent;
	sum->xact_time += s->xact_time;
	sum->query_time += s->query_time;
	sum->wait_time += s->wait_time;
	sum->client_parse_count += s->client_parse_count;
	sum->server_parse_count += s->server_parse_count;
	sum->bind_count += s->bind_count;
	sum->client_login_count += s->client_login_count;
}

/* a - b for a counter that only grows; 0 if it went back (a reset) */
static uint64_t delta(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t per_second(uint64_t n, uint64_t period_us)
{
	/* n * 1e6 would overflow past 1.8e13; nothing real comes near, but
	 * a division first keeps it exact enough if it ever does */
	if (n > UINT64_MAX / USEC)
		return n / period_us * USEC;
	return n * USEC / period_us;
}

void stats_average(struct stats *avg, const struct stats *cur, const struct stats *old,
		   uint64_t period_us)
{
	uint64_t queries = delta(cur->query_count, old->query_count);
	uint64_t xacts = delta(cur->xact_count, old->xact_count);
	uint64_t assigns = delta(cur->server_assignment_count, old->server_assignment_count);

	memset(avg, 0, sizeof(*avg));
	if (!period_us)
		return;
	avg->server_assignment_count = per_second(assigns, period_us);
	avg->xact_count = per_second(xacts, period_us);
	avg->query_count = per_second(queries, period_us);
	avg->bytes_received = per_second(delta(cur->bytes_received, old->bytes_received), period_us);
	avg->bytes_sent = per_second(delta(cur->bytes_sent, old->bytes_sent), period_us);
	avg->client_parse_count = per_second(delta(cur->client_parse_count, old->client_parse_count),
					     period_us);
	avg->server_parse_count = per_second(delta(cur->server_parse_count, old->server_parse_count),
					     period_us);
	avg->bind_count = per_second(delta(cur->bind_count, old->bind_count), period_us);
	avg->client_login_count = per_second(delta(cur->client_login_count,
						    old->client_login_count), period_us);
	if (queries)
		avg->query_time = delta(cur->query_time, old->query_time) / queries;
	if (xacts)
		avg->xact_time = delta(cur->xact_time, old->xact_time) / xacts;
	if (assigns)
		avg->wait_time = delta(cur->wait_time, old->wait_time) / assigns;
}

void stats_roll(struct pool_stats *ps, uint64_t period_us)
{
	stats_average(&ps->avg, &ps->total, &ps->mark, period_us);
	ps->mark = ps->total;
}

/* ---- hooks ---- */

void stats_received(struct conn *c, uint32_t bytes)
{
	if (c->is_server) {
		struct server *sv = list_entry(c, struct server, c);

		/* what a server says to its client; pgring's own queries' answers
		 * (reset, SET) are dropped, not sent, but counting them costs a
		 * branch per message: they are few */
		if (sv->pool && sv->client)
			sv->pool->stats.total.bytes_sent += bytes;
	} else {
		struct client *cl = list_entry(c, struct client, c);

		if (cl->pool)
			cl->pool->stats.total.bytes_received += bytes;
	}
}

void stats_request(struct client *cl, uint8_t type)
{
	uint64_t now;

	/* the prepared-statement counters are prepared.c's: PgBouncer's
	 * documentation has them "only applicable in named prepared statement
	 * tracking mode", so an untracked Parse or Bind counts nothing */
	(void)type;
	if (cl->query_start_us && cl->xact_start_us)
		return;
	now = loop_now_us(cl->c.w->loop);
	if (!cl->query_start_us)
		cl->query_start_us = now;
	if (!cl->xact_start_us)
		cl->xact_start_us = now;
}

void stats_ready(struct server *sv)
{
	struct client *cl = sv->client;
	struct stats *st;
	uint64_t now;

	if (!cl || !sv->pool || !cl->query_start_us)
		return;
	st = &sv->pool->stats.total;
	now = loop_now_us(sv->c.w->loop);
	st->query_count++;
	st->query_time += delta(now, cl->query_start_us);
	cl->query_start_us = 0;
	if (sv->txn_status == 'I' && cl->xact_start_us) {
		st->xact_count++;
		st->xact_time += delta(now, cl->xact_start_us);
		cl->xact_start_us = 0;
	}
}

void stats_assigned(struct client *cl)
{
	struct stats *st = &cl->pool->stats.total;

	st->server_assignment_count++;
	if (cl->wait_start_us)
		st->wait_time += delta(loop_now_us(cl->c.w->loop), cl->wait_start_us);
}
