/* limitctr.c - limit counters shared by every worker: reserve before launch (doc/workers.md) */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limitctr.h"

/*
 * A compare-and-swap loop, not fetch_add and undo: with fetch_add two
 * workers racing for the last unit could both see the count over the limit
 * for a moment, and a third reading it then (SHOW, the metrics) would count
 * one connection more than may exist.
 */
bool limit_take(struct limit_ctr *c, unsigned max)
{
	unsigned cur = atomic_load_explicit(&c->n, memory_order_relaxed);

	do {
		if (max && cur >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&c->n, &cur, cur + 1,
							memory_order_acq_rel,
							memory_order_relaxed));
	return true;
}

void limit_give(struct limit_ctr *c)
{
	/* sequentially consistent: a giver then reads who waits (pool.c) */
	unsigned was = atomic_fetch_sub(&c->n, 1);

	/* a give without its take is a bug that would open the limit for good */
	if (was == 0)
		__builtin_trap();
}

unsigned limit_count(struct limit_ctr *c)
{
	return atomic_load_explicit(&c->n, memory_order_acquire);
}

bool limit_take_all(struct limit_ctr *const c[3], const unsigned max[3], int *full)
{
	for (int i = 0; i < 3; i++) {
		if (!c[i] || limit_take(c[i], max[i]))
			continue;
		if (full)
			*full = i;
		while (i-- > 0)
			if (c[i])
				limit_give(c[i]);
		return false;
	}
	return true;
}

void limit_give_all(struct limit_ctr *const c[3])
{
	for (int i = 0; i < 3; i++)
		if (c[i])
			limit_give(c[i]);
}

/* ---- the slots, by name ---------------------------------------------------- */

#define LIMIT_TABLE_NB0 64

int limit_table_init(struct limit_table *t)
{
	memset(t, 0, sizeof(*t));
	t->b = calloc(LIMIT_TABLE_NB0, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = LIMIT_TABLE_NB0;
	t->nworkers = 1;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void limit_table_free(struct limit_table *t)
{
	if (!t->b)
		return;
	for (unsigned i = 0; i < t->nb; i++) {
		struct limit_slot *s = t->b[i], *next;

		for (; s; s = next) {
			next = s->next;
			free(s->wait);
			free(s);
		}
	}
	free(t->b);
	t->b = NULL;
	pthread_mutex_destroy(&t->lock);
}

/* FNV-1a over the kind and the key's bytes, NULs included */
static uint32_t fnv(uint32_t h, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static uint32_t slot_hash(enum limit_kind kind, const char *a, size_t la, const char *u, size_t lu)
{
	return fnv(fnv(2166136261u ^ (uint32_t)kind, a, la), u, lu);
}

static void table_grow(struct limit_table *t)
{
	unsigned nb = t->nb * 2;
	struct limit_slot **b = calloc(nb, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (unsigned i = 0; i < t->nb; i++) {
		struct limit_slot *s = t->b[i], *next;

		for (; s; s = next) {
			uint32_t h = slot_hash(s->kind, s->key, s->keylen, "", 0);

			next = s->next;
			s->next = b[h & (nb - 1)];
			b[h & (nb - 1)] = s;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static bool slot_is(const struct limit_slot *s, enum limit_kind kind, const char *a, size_t la,
		    const char *u, size_t lu)
{
	return s->kind == kind && s->keylen == la + lu && !memcmp(s->key, a, la) &&
	       !memcmp(s->key + la, u, lu);
}

struct limit_slot *limit_slot_get(struct limit_table *t, enum limit_kind kind, const char *db,
				  const char *user)
{
	const char *a = kind == LIMIT_USER ? user : db, *u = kind == LIMIT_POOL ? user : "";
	size_t la = strlen(a) + 1, lu = kind == LIMIT_POOL ? strlen(u) + 1 : 0;
	uint32_t h = slot_hash(kind, a, la, u, lu);
	struct limit_slot *s;

	pthread_mutex_lock(&t->lock);
	for (s = t->b[h & (t->nb - 1)]; s; s = s->next)
		if (slot_is(s, kind, a, la, u, lu))
			goto out;
	s = calloc(1, sizeof(*s) + la + lu);
	if (!s)
		goto out;
	s->wait = calloc(t->nworkers, sizeof(*s->wait));
	s->nworkers = t->nworkers;
	if (!s->wait) {
		free(s);
		s = NULL;
		goto out;
	}
	s->kind = kind;
	s->keylen = la + lu;
	memcpy(s->key, a, la);
	memcpy(s->key + la, u, lu);
	if (++t->n > t->nb * 2)
		table_grow(t);
	s->next = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = s;
out:
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* ---- who waits for a unit ------------------------------------------------- */

/*
 * Sequentially consistent, as limit_give: a worker that registers and then
 * reads the counter again, and one that gives a unit and then reads the
 * registrations, cannot both miss each other (no lost wake-up).
 */
void limit_wait_set(struct limit_slot *s, unsigned worker, uint64_t since)
{
	uint64_t was = atomic_exchange(&s->wait[worker], since);

	if (!was && since)
		atomic_fetch_add(&s->nwait, 1);
	else if (was && !since)
		atomic_fetch_sub(&s->nwait, 1);
}

int limit_wait_oldest(struct limit_slot *s, int except, uint64_t *since)
{
	int best = -1;

	if (!atomic_load(&s->nwait))
		return -1;
	for (unsigned i = 0; i < s->nworkers; i++) {
		uint64_t v = atomic_load(&s->wait[i]);

		if (!v || (int)i == except)
			continue;
		if (best < 0 || v < *since) {
			best = (int)i;
			*since = v;
		}
	}
	return best;
}
