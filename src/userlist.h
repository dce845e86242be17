/* userlist.h - the auth_file: "user" "secret" lines, as PgBouncer reads them */
#ifndef PGRING_USERLIST_H
#define PGRING_USERLIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "auth.h"

/* SCRAM keys pgring derived from a plain password for a salt PostgreSQL chose */
struct scram_derived {
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;
	int iterations;
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	/* the entry's keys for other salts (another server, a role whose
	 * password was set again): written before the push, never after */
	const struct scram_derived *next;
	unsigned depth;			/* this node and those after it */
};

/* Keys for this many salts per entry at most: past them, logins derive
 * without caching (a stale salt cannot be dropped while others may read it) */
#define USERLIST_SERVER_KEYS 8

struct userlist_entry {
	char *name;
	struct secret secret;
	/*
	 * The caches of a plain password's keys, so that PBKDF2 runs once per
	 * process, not per login or per worker.  Every worker reads them, so
	 * they are write-once: set by compare-and-swap through the functions
	 * below (the first keys win), loaded with acquire, freed only with
	 * the userlist.  derived: the verifier clients are checked against
	 * (salt, iterations, StoredKey, ServerKey; no text), for the
	 * scram_iterations of the snapshots sharing this userlist (one count
	 * per userlist: snapshot_with_config copies the list for another).
	 * server_keys: the keys pgring logs in to PostgreSQL with, newest
	 * first, one per salt and iterations of the role's verifier there.
	 */
	_Atomic(const struct secret *) derived;
	_Atomic(const struct scram_derived *) server_keys;
};

/* Immutable once loaded (but for the entries' write-once key caches);
 * shared by reference like the config snapshot, by every worker. */
struct userlist {
	struct userlist_entry *ents;	/* sorted by name */
	size_t n;
	size_t nscram;			/* entries holding a SCRAM verifier */
	/* stat of the file when read: a reload re-reads only if it changed */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* Gets each line skipped as "path:line: why" */
typedef void (*userlist_warn_fn)(void *arg, const char *msg);

/*
 * Reads path.  Lines: "name" "secret" [ignored...]; "" escapes a quote;
 * lines starting with ';' or '#' and blank lines are skipped.  A line whose
 * quoting is broken gives an error naming path:line (PgBouncer stops there
 * too); a well-formed line it cannot use (a name or secret too long, a bad
 * SCRAM verifier, a NUL byte) is skipped and passed to warn (may be NULL),
 * so one bad user never locks the others out.  0 with *out set (caller frees
 * with userlist_free), or -errno with err filled ("path:line: why").
 */
int userlist_load(const char *path, struct userlist **out, char *err, size_t errlen,
		  userlist_warn_fn warn, void *warn_arg);
/* Parses from memory (for tests and fuzzing); name is used in messages. */
int userlist_parse(const char *name, const char *text, size_t len, struct userlist **out,
		   char *err, size_t errlen, userlist_warn_fn warn, void *warn_arg);
void userlist_free(struct userlist *ul);
const struct userlist_entry *userlist_find(const struct userlist *ul, const char *name);
/* The verifier cached for ue's plain password (of whatever iteration
 * count: the caller compares), or NULL */
const struct secret *userlist_client_keys(const struct userlist_entry *ue);
/* Caches a copy of keys (a SCRAM secret) unless the entry holds some
 * already: 1 when these were stored, 0 when others were there first (each
 * with *out set to the cached ones, out may be NULL), -ENOMEM. */
int userlist_keep_client_keys(const struct userlist_entry *ue, const struct secret *keys,
			      const struct secret **out);
/* The server keys cached for that salt and iteration count, or NULL */
const struct scram_derived *userlist_server_keys(const struct userlist_entry *ue,
						 const uint8_t *salt, size_t salt_len,
						 int iterations);
/* Caches a copy of keys (next and depth ignored) unless keys for its salt
 * and iterations are there: 1 stored, 0 there first (*out as above),
 * -ENOMEM, -ENOSPC with USERLIST_SERVER_KEYS salts cached already. */
int userlist_keep_server_keys(const struct userlist_entry *ue, const struct scram_derived *keys,
			      const struct scram_derived **out);
/*
 * A reload that re-read the file: every entry of to whose name and secret
 * are the same in from gets a copy of from's keys that are still good: the
 * verifier if it is of scram_iterations, the server keys.  from is left as
 * it is (other workers may still read it); to must not be published yet.
 */
void userlist_carry_keys(struct userlist *to, const struct userlist *from, int scram_iterations);
/* A copy of from (entries, stat) with its keys carried for scram_iterations:
 * for a snapshot whose scram_iterations differs.  0 or -ENOMEM. */
int userlist_copy(const struct userlist *from, int scram_iterations, struct userlist **out);
/* true if path's stat differs from what ul was read from */
bool userlist_changed(const struct userlist *ul, const char *path);

#endif
