/* userlist.c - the auth_file: "user" "secret" lines, as PgBouncer reads them */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "userlist.h"

#define USERLIST_MAX_NAME 127			/* PgBouncer's MAX_USERNAME - 1 */
#define USERLIST_MAX_FILE (64u << 20)		/* far beyond any real auth_file */

/* Entries in file order while parsing; seq makes the sort keep the last duplicate. */
struct pending {
	struct userlist_entry *ents;
	size_t n, cap;
};

struct ent_ref {
	const struct userlist_entry *e;
	size_t seq;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

#define FIELD_UNTERMINATED (-1)
#define FIELD_TOO_LONG (-2)
#define LINE_SKIP (-EBADMSG)	/* a well-formed line pgring cannot use */

/*
 * Reads a quoted field starting at *pp (on the opening quote) and ending
 * before eol; "" stands for one quote.  The unquoted text goes to out.
 * Returns its length, FIELD_UNTERMINATED, or FIELD_TOO_LONG for a field that
 * is well quoted but does not fit (the line can then be skipped).
 */
static long read_field(const char **pp, const char *eol, char *out, size_t cap)
{
	const char *p = *pp + 1;
	size_t n = 0;

	for (;;) {
		if (p >= eol)
			return FIELD_UNTERMINATED;
		if (*p == '"') {
			if (p + 1 < eol && p[1] == '"')
				p++;
			else
				break;
		}
		if (n + 1 < cap)
			out[n] = *p;
		n++;
		p++;
	}
	*pp = p + 1;
	if (n + 1 > cap)
		return FIELD_TOO_LONG;
	out[n] = '\0';
	return (long)n;
}

static int pending_add(struct pending *pl, const char *name, struct secret *sec)
{
	struct userlist_entry *e;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;

		e = realloc(pl->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		pl->ents = e;
		pl->cap = cap;
	}
	e = &pl->ents[pl->n];
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->secret = *sec;	/* the entry owns the text now */
	atomic_init(&e->derived, NULL);
	atomic_init(&e->server_keys, NULL);
	sec->text = NULL;
	pl->n++;
	return 0;
}

/* The secret field at p into a new entry for name: 0, LINE_SKIP or -EINVAL
 * with *why set, or -ENOMEM */
static int parse_secret(struct pending *pl, const char *name, const char *p, const char *eol,
			const char **why)
{
	size_t cap = (size_t)(eol - p);	/* the field cannot be longer than the line */
	char *pass = malloc(cap ? cap : 1);
	struct secret sec;
	long plen;
	int r;

	if (!pass) {
		*why = "out of memory";
		return -ENOMEM;
	}
	plen = read_field(&p, eol, pass, cap ? cap : 1);
	if (plen == FIELD_UNTERMINATED) {
		*why = "unterminated quoted secret";
		r = -EINVAL;
	} else if (plen < 0 || plen > AUTH_SECRET_MAX) {
		*why = "secret too long";
		r = LINE_SKIP;
	} else if (memchr(pass, '\0', (size_t)plen)) {
		*why = "NUL byte in secret";
		r = LINE_SKIP;
	} else {
		r = secret_parse(pass, &sec);
		*why = r == -ENOMEM ? "out of memory" : "invalid SCRAM-SHA-256 secret";
		if (r == -EINVAL)
			r = LINE_SKIP;
	}
	OPENSSL_cleanse(pass, cap ? cap : 1);
	free(pass);
	if (r < 0)
		return r;
	r = pending_add(pl, name, &sec);
	secret_free(&sec);
	if (r < 0)
		*why = "out of memory";
	return r;
}

/*
 * One non-comment line: "name" "secret" [ignored].  Returns 0, -EINVAL
 * (broken quoting) or LINE_SKIP with *why set, or -ENOMEM.
 */
static int parse_line(struct pending *pl, const char *p, const char *eol, const char **why)
{
	char name[USERLIST_MAX_NAME + 1];
	long nlen;

	nlen = read_field(&p, eol, name, sizeof(name));
	if (nlen == FIELD_UNTERMINATED) {
		*why = "unterminated quoted user name";
		return -EINVAL;
	}
	while (p < eol && is_blank(*p))
		p++;
	if (p >= eol || *p != '"') {
		*why = "expected a quoted secret after the user name";
		return -EINVAL;
	}
	if (nlen == FIELD_TOO_LONG || nlen == 0 || memchr(name, '\0', (size_t)nlen)) {
		/* still a syntax error if the secret's quoting is broken */
		if (read_field(&p, eol, name, 1) == FIELD_UNTERMINATED) {
			*why = "unterminated quoted secret";
			return -EINVAL;
		}
		*why = nlen == FIELD_TOO_LONG ? "user name too long" :
		       nlen ? "NUL byte in user name" : "empty user name";
		return LINE_SKIP;
	}
	return parse_secret(pl, name, p, eol, why);
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ent_ref *x = a, *y = b;
	int c = strcmp(x->e->name, y->e->name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The last holder of the userlist: no other thread reads the caches now */
static void keys_free(struct userlist_entry *e)
{
	struct secret *d = (struct secret *)atomic_load_explicit(&e->derived, memory_order_acquire);
	struct scram_derived *k, *next;

	if (d) {
		secret_free(d);
		free(d);
	}
	k = (struct scram_derived *)atomic_load_explicit(&e->server_keys, memory_order_acquire);
	for (; k; k = next) {
		next = (struct scram_derived *)k->next;
		OPENSSL_cleanse(k, sizeof(*k));
		free(k);
	}
	atomic_store_explicit(&e->derived, NULL, memory_order_relaxed);
	atomic_store_explicit(&e->server_keys, NULL, memory_order_relaxed);
}

static void entries_free(struct userlist_entry *ents, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(ents[i].name);
		secret_free(&ents[i].secret);
		keys_free(&ents[i]);
	}
	if (ents)
		OPENSSL_cleanse(ents, n * sizeof(*ents));
	free(ents);
}

/* Sorts by name; of duplicate names the last line wins, as in PgBouncer. */
static int finish(struct pending *pl, struct userlist **out)
{
	struct userlist *ul = calloc(1, sizeof(*ul));
	struct ent_ref *refs = calloc(pl->n ? pl->n : 1, sizeof(*refs));
	size_t i;

	if (!ul || !refs || (pl->n && !(ul->ents = calloc(pl->n, sizeof(*ul->ents))))) {
		free(refs);
		free(ul);
		return -ENOMEM;
	}
	for (i = 0; i < pl->n; i++)
		refs[i] = (struct ent_ref){ &pl->ents[i], i };
	if (pl->n)
		qsort(refs, pl->n, sizeof(*refs), ref_cmp);
	for (i = 0; i < pl->n; i++) {
		if (i + 1 < pl->n && strcmp(refs[i].e->name, refs[i + 1].e->name) == 0) {
			free(refs[i].e->name);
			secret_free(&pl->ents[refs[i].seq].secret);
			continue;
		}
		ul->ents[ul->n++] = *refs[i].e;
		ul->nscram += refs[i].e->secret.kind == SECRET_SCRAM;
	}
	free(refs);
	OPENSSL_cleanse(pl->ents, pl->n * sizeof(*pl->ents));
	free(pl->ents);
	pl->ents = NULL;
	pl->n = 0;
	*out = ul;
	return 0;
}

int userlist_parse(const char *name, const char *text, size_t len, struct userlist **out,
		   char *err, size_t errlen, userlist_warn_fn warn, void *warn_arg)
{
	char msg[512];
	struct pending pl = { 0 };
	const char *p = text, *end = text + len, *eol, *why = NULL;
	size_t line = 0;
	int r = 0;

	*out = NULL;
	while (p < end) {
		line++;
		eol = memchr(p, '\n', end - p);
		if (!eol)
			eol = end;
		while (p < eol && is_blank(*p))
			p++;
		if (p < eol && *p != ';' && *p != '#') {
			why = NULL;
			r = *p == '"' ? parse_line(&pl, p, eol, &why) : -EINVAL;
			if (r == LINE_SKIP) {
				snprintf(msg, sizeof(msg), "%s:%zu: %s, line skipped", name, line, why);
				if (warn)
					warn(warn_arg, msg);
				r = 0;
			}
			if (r < 0) {
				set_err(err, errlen, "%s:%zu: %s", name, line,
					why ? why : "expected a quoted user name, ';' or '#'");
				entries_free(pl.ents, pl.n);
				return r;
			}
		}
		p = eol + 1;
	}
	r = finish(&pl, out);
	if (r < 0) {
		entries_free(pl.ents, pl.n);
		set_err(err, errlen, "%s: out of memory", name);
	}
	return r;
}

static int read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap), *nb;
	ssize_t got;

	if (!b)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= USERLIST_MAX_FILE) {
				free(b);
				return -EFBIG;
			}
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			got = -errno;
			free(b);
			return (int)got;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * PostgreSQL refuses a key file that group or others may read, unless it is
 * root's and at most 0640 (so that a group of the service can read it).
 * PgBouncer checks nothing, and a refusal would stop drop-in configs from
 * starting: pgring warns, with PostgreSQL's rule.
 */
static void check_mode(const char *path, const struct stat *st, userlist_warn_fn warn,
		       void *warn_arg)
{
	mode_t bad = st->st_uid == 0 ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
	char msg[512];

	if (!warn || !(st->st_mode & bad))
		return;
	snprintf(msg, sizeof(msg),
		 "%s: auth_file has group or world access (mode %04o); it should be u=rw (0600) "
		 "or less, or u=rw,g=r (0640) or less if owned by root", path,
		 (unsigned)(st->st_mode & 07777));
	warn(warn_arg, msg);
}

int userlist_load(const char *path, struct userlist **out, char *err, size_t errlen,
		  userlist_warn_fn warn, void *warn_arg)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	/* stat the descriptor read from, so a concurrent rewrite shows as a change */
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else {
		check_mode(path, &st, warn, warn_arg);
		r = read_all(fd, &buf, &len);
	}
	close(fd);
	if (r < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	r = userlist_parse(path, buf, len, out, err, errlen, warn, warn_arg);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (r < 0)
		return r;
	(*out)->dev = st.st_dev;
	(*out)->ino = st.st_ino;
	(*out)->size = st.st_size;
	(*out)->mtime = st.st_mtim;
	return 0;
}

void userlist_free(struct userlist *ul)
{
	if (!ul)
		return;
	entries_free(ul->ents, ul->n);
	free(ul);
}

static int find_cmp(const void *key, const void *elem)
{
	const struct userlist_entry *e = elem;

	return strcmp(key, e->name);
}

const struct userlist_entry *userlist_find(const struct userlist *ul, const char *name)
{
	if (!ul || !name || ul->n == 0)
		return NULL;
	return bsearch(name, ul->ents, ul->n, sizeof(*ul->ents), find_cmp);
}

/* ---- the key caches: write-once, shared by every worker ---- */

/*
 * The entries are const to the workers (userlist_find), but their caches
 * are the atomics below: writing one through a cast is the one write a
 * published userlist gets.  The objects are malloc'ed, never const.
 */
static _Atomic(const struct secret *) *derived_of(const struct userlist_entry *ue)
{
	return &((struct userlist_entry *)ue)->derived;
}

static _Atomic(const struct scram_derived *) *server_keys_of(const struct userlist_entry *ue)
{
	return &((struct userlist_entry *)ue)->server_keys;
}

const struct secret *userlist_client_keys(const struct userlist_entry *ue)
{
	/* acquire: pairs with the release of the store, so the keys' bytes are seen */
	return atomic_load_explicit(derived_of(ue), memory_order_acquire);
}

int userlist_keep_client_keys(const struct userlist_entry *ue, const struct secret *keys,
			      const struct secret **out)
{
	const struct secret *cur = userlist_client_keys(ue);
	struct secret *mine;

	/* the usual case with keys there: no allocation, as with one worker */
	if (cur) {
		if (out)
			*out = cur;
		return 0;
	}
	if (!(mine = malloc(sizeof(*mine))))
		return -ENOMEM;
	if (secret_copy(mine, keys) < 0) {
		free(mine);
		return -ENOMEM;
	}
	/* release on success publishes mine's bytes; acquire on failure reads the winner's */
	if (atomic_compare_exchange_strong_explicit(derived_of(ue), &cur, mine,
						    memory_order_acq_rel, memory_order_acquire)) {
		if (out)
			*out = mine;
		return 1;
	}
	secret_free(mine);	/* another worker's keys won: the same password's */
	free(mine);
	if (out)
		*out = cur;
	return 0;
}

static bool same_salt(const struct scram_derived *k, const uint8_t *salt, size_t salt_len,
		      int iterations)
{
	return k->iterations == iterations && k->salt_len == salt_len &&
	       !memcmp(k->salt, salt, salt_len);
}

/* From head down to stop (excluded): the keys for that salt, or NULL */
static const struct scram_derived *find_keys(const struct scram_derived *head,
					     const struct scram_derived *stop,
					     const uint8_t *salt, size_t salt_len, int iterations)
{
	for (; head && head != stop; head = head->next)
		if (same_salt(head, salt, salt_len, iterations))
			return head;
	return NULL;
}

const struct scram_derived *userlist_server_keys(const struct userlist_entry *ue,
						 const uint8_t *salt, size_t salt_len,
						 int iterations)
{
	return find_keys(atomic_load_explicit(server_keys_of(ue), memory_order_acquire), NULL,
			 salt, salt_len, iterations);
}

/* A push onto the entry's list; a node is never unlinked, so no ABA */
int userlist_keep_server_keys(const struct userlist_entry *ue, const struct scram_derived *keys,
			      const struct scram_derived **out)
{
	const struct scram_derived *head = atomic_load_explicit(server_keys_of(ue),
								memory_order_acquire);
	const struct scram_derived *seen = NULL, *hit;
	struct scram_derived *mine = NULL;

	for (;;) {
		/* only the nodes pushed since the last look can be new */
		hit = find_keys(head, seen, keys->salt, keys->salt_len, keys->iterations);
		if (hit || (head && head->depth >= USERLIST_SERVER_KEYS)) {
			if (mine) {
				OPENSSL_cleanse(mine, sizeof(*mine));
				free(mine);
			}
			if (out)
				*out = hit;
			return hit ? 0 : -ENOSPC;
		}
		if (!mine && !(mine = malloc(sizeof(*mine))))
			return -ENOMEM;
		*mine = *keys;
		mine->next = head;
		mine->depth = head ? head->depth + 1 : 1;
		seen = head;
		if (atomic_compare_exchange_weak_explicit(server_keys_of(ue), &head, mine,
							  memory_order_acq_rel,
							  memory_order_acquire)) {
			if (out)
				*out = mine;
			return 1;
		}
	}
}

/* to's entry t gets from's f's keys that still hold; t is not published */
static void copy_keys(struct userlist_entry *t, const struct userlist_entry *f,
		      int scram_iterations)
{
	const struct secret *d = userlist_client_keys(f);
	const struct scram_derived *k[USERLIST_SERVER_KEYS];
	const struct scram_derived *h;
	int n = 0;

	if (d && d->iterations == scram_iterations)
		userlist_keep_client_keys(t, d, NULL);	/* no memory: derived again */
	h = atomic_load_explicit(server_keys_of(f), memory_order_acquire);
	for (; h && n < USERLIST_SERVER_KEYS; h = h->next)
		k[n++] = h;
	while (n > 0)	/* oldest first, so that the order stays newest first */
		if (userlist_keep_server_keys(t, k[--n], NULL) == -ENOMEM)
			break;
}

void userlist_carry_keys(struct userlist *to, const struct userlist *from, int scram_iterations)
{
	struct userlist_entry *t;
	const struct userlist_entry *f;

	if (!to || !from)
		return;
	for (size_t i = 0; i < to->n; i++) {
		t = &to->ents[i];
		f = userlist_find(from, t->name);
		if (!f || f->secret.kind != t->secret.kind || !f->secret.text || !t->secret.text ||
		    strcmp(f->secret.text, t->secret.text))
			continue;	/* a new password: derive again */
		copy_keys(t, f, scram_iterations);
	}
}

int userlist_copy(const struct userlist *from, int scram_iterations, struct userlist **out)
{
	struct userlist *ul = calloc(1, sizeof(*ul));

	*out = NULL;
	if (!ul || (from->n && !(ul->ents = calloc(from->n, sizeof(*ul->ents))))) {
		free(ul);
		return -ENOMEM;
	}
	for (; ul->n < from->n; ul->n++) {
		const struct userlist_entry *f = &from->ents[ul->n];
		struct userlist_entry *t = &ul->ents[ul->n];

		atomic_init(&t->derived, NULL);
		atomic_init(&t->server_keys, NULL);
		if (!(t->name = strdup(f->name)) || secret_copy(&t->secret, &f->secret) < 0) {
			free(t->name);
			userlist_free(ul);
			return -ENOMEM;
		}
		copy_keys(t, f, scram_iterations);
	}
	ul->nscram = from->nscram;
	ul->dev = from->dev;
	ul->ino = from->ino;
	ul->size = from->size;
	ul->mtime = from->mtime;
	*out = ul;
	return 0;
}

bool userlist_changed(const struct userlist *ul, const char *path)
{
	struct stat st;

	if (!ul || stat(path, &st) < 0)
		return true;
	return st.st_dev != ul->dev || st.st_ino != ul->ino || st.st_size != ul->size ||
	       st.st_mtim.tv_sec != ul->mtime.tv_sec || st.st_mtim.tv_nsec != ul->mtime.tv_nsec;
}
