/* snapshot.h - one immutable config + userlist (+ the config's hba), shared by every worker */
#ifndef PGRING_SNAPSHOT_H
#define PGRING_SNAPSHOT_H

#include <stdatomic.h>

struct config;
struct userlist;
struct snapshot_users;

/*
 * What a RELOAD or SET publishes (doc/workers.md, "Snapshots").  Nothing in
 * it is written once it is published; the last reference frees it on
 * whichever thread drops it.  A reference is handed over, never taken from
 * a pointer another thread may be replacing: main makes the snapshot with
 * one reference for itself and one per worker it posts it to, so that no
 * thread ever loads a pointer and then counts on it still being alive.
 * The config's hba is shared by reference already (hba_ref); the userlist
 * is shared the same way, since SET makes a new config and keeps the users.
 */
struct snapshot {
	atomic_uint refs;
	/* publication order (process.h's snap_gen): a worker never takes a
	 * snapshot older than the one it holds */
	unsigned long long gen;
	struct config *cfg;		/* with its hba (config_attach_hba) */
	/* NULL: no auth_file.  Not const only for its entries' key caches,
	 * which are write-once (userlist.h) and so safe from any worker */
	struct userlist *users;
	struct snapshot_users *ul;	/* the userlist's own count */
};

/* Takes ownership of cfg and users; refs references (at least 1), or NULL
 * when out of memory (cfg and users are then still the caller's). */
struct snapshot *snapshot_new(struct config *cfg, struct userlist *users, unsigned refs);
/* SET: cfg (owned from now on) with old's userlist, or a copy of it when
 * cfg's scram_iterations differs from old's (the keys it caches are for
 * one count); NULL when out of memory (cfg is then still the caller's). */
struct snapshot *snapshot_with_config(const struct snapshot *old, struct config *cfg,
				      unsigned refs);
void snapshot_ref(struct snapshot *s);
/* Drops one reference; the last frees the config and, with the last
 * snapshot that shares it, the userlist. */
void snapshot_unref(struct snapshot *s);

#endif
