/* limits.c - limit counters shared by every worker: reserve before launch (doc/workers.md) */

#include "limits.h"

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
	unsigned was = atomic_fetch_sub_explicit(&c->n, 1, memory_order_acq_rel);

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
