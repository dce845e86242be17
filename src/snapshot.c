/* snapshot.c - one immutable config + userlist, reference-counted across workers */

#include <stdlib.h>

#include "config.h"
#include "snapshot.h"
#include "userlist.h"

struct snapshot_users {
	atomic_uint refs;		/* snapshots that share it */
	struct userlist *ul;
};

/* Dropping a reference: release, so that this thread's reads happen before
 * the free; acquire on the last, so that the free sees the others' releases.
 * True when it was the last. */
static bool put(atomic_uint *refs)
{
	return atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) == 1;
}

static struct snapshot *make(struct config *cfg, struct snapshot_users *ul, unsigned refs)
{
	struct snapshot *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	atomic_init(&s->refs, refs ? refs : 1);
	/* not yet published: older than any that is (admin.c's snap_run drops a
	 * snapshot older than the one a worker holds) */
	s->gen = 0;
	s->cfg = cfg;
	s->ul = ul;
	s->users = ul->ul;
	return s;
}

struct snapshot *snapshot_new(struct config *cfg, struct userlist *users, unsigned refs)
{
	struct snapshot_users *ul = malloc(sizeof(*ul));
	struct snapshot *s;

	if (!ul)
		return NULL;
	atomic_init(&ul->refs, 1);
	ul->ul = users;
	if (!(s = make(cfg, ul, refs)))
		free(ul);
	return s;
}

struct snapshot *snapshot_with_config(const struct snapshot *old, struct config *cfg,
				      unsigned refs)
{
	struct snapshot *s = make(cfg, old->ul, refs);

	/* the caller holds old: its userlist cannot go meanwhile */
	if (s)
		atomic_fetch_add_explicit(&old->ul->refs, 1, memory_order_relaxed);
	return s;
}

void snapshot_ref(struct snapshot *s)
{
	/* the caller holds one already: no ordering needed to count another */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void snapshot_unref(struct snapshot *s)
{
	if (!s || !put(&s->refs))
		return;
	config_free(s->cfg);
	if (put(&s->ul->refs)) {
		userlist_free(s->ul->ul);
		free(s->ul);
	}
	free(s);
}
