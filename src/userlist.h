/* userlist.h - the auth_file: "user" "secret" lines, as PgBouncer reads them */
#ifndef PGRING_USERLIST_H
#define PGRING_USERLIST_H

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
};

struct userlist_entry {
	char *name;
	struct secret secret;
	/* The one mutable part, the loop's alone: for a plain password, the
	 * SCRAM keys derived from it (salt, iterations, StoredKey, ServerKey;
	 * no text), so that PBKDF2 runs once per process; NULL until then.
	 * A reload that changes the file builds new entries, without it. */
	struct secret *derived;
	/* ...and the keys pgring logs in to PostgreSQL with, for the salt and
	 * iterations of the role's verifier there; NULL until the first login */
	struct scram_derived *server_keys;
};

/* Immutable once loaded; shared by reference like the config snapshot. */
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
/* Moves the derived keys of every entry of from whose name and secret are
 * the same in to (a reload that re-read the file: they are still good) */
void userlist_carry_keys(struct userlist *to, struct userlist *from);
/* true if path's stat differs from what ul was read from */
bool userlist_changed(const struct userlist *ul, const char *path);

#endif
