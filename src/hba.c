/* hba.c - PgBouncer's dialect of pg_hba.conf and pg_ident.conf: the parser and pure matchers */
#include "hba.h"
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HBA_MAX_FILE_SIZE (16L << 20)
#define HBA_MAX_INCLUDE_DEPTH 10

/* One token of a line: quoting removed; a quoted keyword is a plain name */
struct tok {
	char *s;
	bool quoted;
	int field;		/* tokens joined by commas share a field */
};

struct line {
	struct tok *toks;
	size_t n, cap;
	int nfields;
};

struct pctx {
	struct hba *hba;
	char *err;
	size_t errlen;
};

static int perr(struct pctx *c, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int perr(struct pctx *c, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || !c->errlen)
		return -1;
	n = line > 0 ? snprintf(c->err, c->errlen, "%s:%d: ", file, line)
		     : snprintf(c->err, c->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- reading and tokenizing ---------------------------------------------- */

static int read_text(const char *path, char **out)
{
	size_t len;
	int ret = config_read_file(path, HBA_MAX_FILE_SIZE, out, &len);

	if (ret < 0)
		return ret;
	if (strlen(*out) != len) {
		free(*out);
		*out = NULL;
		return -EINVAL;		/* a NUL byte */
	}
	return 0;
}

/*
 * The next logical line of text at *pos, with PostgreSQL's backslash
 * continuation joined in place; *lineno is the number of its first line.
 * NULL at the end.
 */
static char *next_line(char **pos, int *lineno, int *next_no)
{
	char *start = *pos, *out = start, *p = start;

	if (!*p)
		return NULL;
	*lineno = *next_no;
	for (;;) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		(*next_no)++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		memmove(out, p, n);
		out += n;
		p = nl ? nl + 1 : p + strlen(p);
		if (out > start && out[-1] == '\\' && nl) {
			out--;		/* continued on the next line */
			continue;
		}
		break;
	}
	*out = '\0';
	*pos = p;
	return start;
}

/*
 * Splits one token off *pp, unquoting in place ("" inside quotes is a
 * quote, as PgBouncer reads it).  1: a token, *comma says whether a comma
 * ended it; 0: the line (or a # comment) ends; -1: an unterminated quote.
 */
static int next_tok(char **pp, struct tok *t, bool *comma)
{
	char *p = *pp, *out;
	bool inq = false;
	char c;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p || *p == '#') {
		*pp = p;
		return 0;
	}
	t->s = out = p;
	t->quoted = false;
	for (;;) {
		c = *p;
		if (!c || (!inq && (isspace((unsigned char)c) || c == ',' || c == '#')))
			break;
		if (c == '"') {
			t->quoted = true;
			if (inq && p[1] == '"') {
				*out++ = '"';
				p += 2;
				continue;
			}
			inq = !inq;
			p++;
			continue;
		}
		*out++ = c;
		p++;
	}
	if (inq)
		return -1;
	*comma = c == ',';
	if (c == '#')
		*p = '\0';	/* the rest of the line is a comment */
	else if (c)
		p++;
	*out = '\0';
	*pp = p;
	return 1;
}

static void line_clear(struct line *l)
{
	free(l->toks);
	memset(l, 0, sizeof(*l));
}

/* Tokenizes text into l; tokens separated by commas share a field. */
static int tokenize(struct pctx *c, const char *file, int lineno, char *text, struct line *l)
{
	bool comma = false;
	int ret;

	l->n = 0;
	l->nfields = 0;
	for (;;) {
		struct tok t;
		bool was_comma = comma;

		ret = next_tok(&text, &t, &comma);
		if (ret < 0)
			return perr(c, file, lineno, "unterminated quoted string");
		if (ret == 0) {
			if (was_comma)
				return perr(c, file, lineno, "a list ends with a comma");
			return 0;
		}
		if (!*t.s && !t.quoted)
			return perr(c, file, lineno, "an empty value in a list");
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct tok *nt = realloc(l->toks, cap * sizeof(*nt));

			if (!nt)
				return perr(c, file, lineno, "out of memory");
			l->toks = nt;
			l->cap = cap;
		}
		if (!was_comma)
			l->nfields++;
		t.field = l->nfields - 1;
		l->toks[l->n++] = t;
	}
}

/* The tokens of field f: [*first, *first + count) */
static size_t field_toks(const struct line *l, int f, size_t *first)
{
	size_t i = 0, n = 0;

	while (i < l->n && l->toks[i].field < f)
		i++;
	*first = i;
	while (i + n < l->n && l->toks[i + n].field == f)
		n++;
	return n;
}

static bool is_kw(const struct tok *t, const char *kw)
{
	return !t->quoted && strcmp(t->s, kw) == 0;
}

static int add_file(struct pctx *c, const char *path, const char **stored)
{
	struct hba *h = c->hba;
	char **files = realloc(h->files, (h->nfiles + 1) * sizeof(*files));

	if (!files)
		return -ENOMEM;
	h->files = files;
	if (!(files[h->nfiles] = strdup(path)))
		return -ENOMEM;
	*stored = files[h->nfiles++];
	return 0;
}

/* Reads path for the parser: the text, and its name kept in hba.files. */
static int open_file(struct pctx *c, const char *path, const char *from, int from_line,
		     char **text, const char **stored)
{
	int ret = read_text(path, text);

	if (ret == -EINVAL)
		return from ? perr(c, from, from_line, "\"%s\" holds a NUL byte", path)
			    : perr(c, path, 0, "holds a NUL byte");
	if (ret < 0)
		return from ? perr(c, from, from_line, "could not read \"%s\": %s", path, strerror(-ret))
			    : perr(c, path, 0, "could not read: %s", strerror(-ret));
	if (add_file(c, path, stored) < 0) {
		free(*text);
		return perr(c, path, 0, "out of memory");
	}
	return 0;
}

/* ---- names: the database and user columns ------------------------------------ */

static int names_add(struct hba_names *nm, const char *s)
{
	char **v = realloc(nm->names, (nm->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	nm->names = v;
	if (!(v[nm->n] = strdup(s)))
		return -ENOMEM;
	nm->n++;
	return 0;
}

static void names_free(struct hba_names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->names[i]);
	free(nm->names);
	memset(nm, 0, sizeof(*nm));
}

static int names_tok(struct pctx *c, const char *file, int lineno, const struct tok *t,
		     bool is_db, struct hba_names *nm, int depth);

/* An @file: its names, separated by commas or white space, on any number of
 * lines; the path is relative to the directory of the file that names it. */
static int names_file(struct pctx *c, const char *file, int lineno, const char *name,
		      bool is_db, struct hba_names *nm, int depth)
{
	const char *slash = strrchr(file, '/'), *stored;
	char *path, *text, *pos, *ln;
	struct line l = { 0 };
	int no, next_no = 1, ret = 0;

	if (depth >= HBA_MAX_INCLUDE_DEPTH)
		return perr(c, file, lineno, "@%s: nested too deeply (more than %d levels)", name,
			    HBA_MAX_INCLUDE_DEPTH);
	if (name[0] == '/' || !slash) {
		path = strdup(name);
	} else {
		size_t dl = (size_t)(slash - file) + 1;

		path = malloc(dl + strlen(name) + 1);
		if (path) {
			memcpy(path, file, dl);
			strcpy(path + dl, name);
		}
	}
	if (!path)
		return perr(c, file, lineno, "out of memory");
	ret = open_file(c, path, file, lineno, &text, &stored);
	free(path);
	if (ret < 0)
		return -1;
	pos = text;
	while (ret == 0 && (ln = next_line(&pos, &no, &next_no))) {
		ret = tokenize(c, stored, no, ln, &l);
		for (size_t i = 0; ret == 0 && i < l.n; i++)
			ret = names_tok(c, stored, no, &l.toks[i], is_db, nm, depth + 1);
	}
	line_clear(&l);
	free(text);
	return ret;
}

static int names_tok(struct pctx *c, const char *file, int lineno, const struct tok *t,
		     bool is_db, struct hba_names *nm, int depth)
{
	if (is_kw(t, "all")) {
		nm->all = true;
		return 0;
	}
	if (is_db && is_kw(t, "sameuser")) {
		nm->sameuser = true;
		return 0;
	}
	if (is_db && is_kw(t, "replication")) {
		nm->replication = true;
		return 0;
	}
	if (is_db && (is_kw(t, "samerole") || is_kw(t, "samegroup")))
		return perr(c, file, lineno, "\"%s\" is not supported (PgBouncer does not support it either)",
			    t->s);
	if (!t->quoted && t->s[0] == '+')
		return perr(c, file, lineno, "group membership (\"%s\") is not supported", t->s);
	if (!t->quoted && t->s[0] == '/')
		return perr(c, file, lineno, "regular expressions (\"%s\") are not supported in pg_hba.conf",
			    t->s);
	if (!t->quoted && t->s[0] == '@') {
		if (!t->s[1])
			return perr(c, file, lineno, "@ without a file name");
		return names_file(c, file, lineno, t->s + 1, is_db, nm, depth);
	}
	if (names_add(nm, t->s) < 0)
		return perr(c, file, lineno, "out of memory");
	return 0;
}

static int parse_names(struct pctx *c, const char *file, int lineno, const struct line *l, int f,
		       bool is_db, struct hba_names *nm)
{
	size_t first, n = field_toks(l, f, &first);

	for (size_t i = 0; i < n; i++)
		if (names_tok(c, file, lineno, &l->toks[first + i], is_db, nm, 0) < 0)
			return -1;
	return 0;
}

/* ---- addresses -------------------------------------------------------------------- */

static void prefix_mask(uint8_t mask[16], unsigned bits)
{
	memset(mask, 0, 16);
	for (unsigned i = 0; i < bits / 8; i++)
		mask[i] = 0xff;
	if (bits % 8)
		mask[bits / 8] = (uint8_t)(0xff << (8 - bits % 8));
}

static bool parse_ip(const char *s, int *family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* The mask: /bits after the address in field f, or the field after it;
 * returns the index of the field after the mask, or -1 */
static int parse_mask(struct pctx *c, const char *file, int lineno, const struct line *l, int f,
		      struct hba_rule *r, const char *bits_text, const char *addr_text)
{
	size_t first;
	int mfam = 0;

	if (bits_text) {
		char *end;
		long bits;

		errno = 0;
		bits = strtol(bits_text, &end, 10);
		if (errno || !*bits_text || *end || bits < 0 || bits > (r->family == AF_INET ? 32 : 128))
			return perr(c, file, lineno, "invalid CIDR mask in address \"%s\"", addr_text);
		prefix_mask(r->mask, (unsigned)bits);
		return f + 1;
	}
	if (field_toks(l, f + 1, &first) != 1)
		return perr(c, file, lineno, "end-of-line before netmask specification");
	if (!parse_ip(l->toks[first].s, &mfam, r->mask) || mfam != r->family)
		return perr(c, file, lineno, "invalid IP mask \"%s\"", l->toks[first].s);
	return f + 2;
}

/* The address column (and the mask column after it when there is no /n);
 * returns the index of the next field, or -1. */
static int parse_addr(struct pctx *c, const char *file, int lineno, const struct line *l, int f,
		      struct hba_rule *r)
{
	size_t first, n = field_toks(l, f, &first);
	const struct tok *t = &l->toks[first];
	char buf[INET6_ADDRSTRLEN + 8], *slash;

	if (n == 0)
		return perr(c, file, lineno, "end-of-line before IP address");
	if (n > 1)
		return perr(c, file, lineno, "multiple values specified for host address");
	if (is_kw(t, "all")) {
		r->addr_all = true;
		return f + 1;
	}
	if (is_kw(t, "samehost") || is_kw(t, "samenet"))
		return perr(c, file, lineno, "\"%s\" is not supported (PgBouncer does not support it either)",
			    t->s);
	if (strlen(t->s) >= sizeof(buf))
		return perr(c, file, lineno, "invalid IP address \"%s\"", t->s);
	strcpy(buf, t->s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (!parse_ip(buf, &r->family, r->addr))
		return perr(c, file, lineno, "invalid IP address \"%s\" (host names are not supported)",
			    buf);
	f = parse_mask(c, file, lineno, l, f, r, slash, t->s);
	if (f < 0)
		return -1;
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return f;
}

/* ---- methods and options ------------------------------------------------------------ */

static const struct {
	const char *name;
	enum hba_method m;
} methods[] = {
	{ "trust", HBA_TRUST },
	{ "reject", HBA_REJECT },
	{ "password", HBA_PASSWORD },
	{ "md5", HBA_MD5 },
	{ "scram-sha-256", HBA_SCRAM },
	{ "peer", HBA_PEER },
	{ "cert", HBA_CERT },
};

/* PostgreSQL's (and PgBouncer's) other methods, refused by name */
static const char *const other_methods[] = {
	"ident", "ldap", "pam", "gss", "sspi", "radius", "bsd", "oauth", "any", "plain", NULL
};

bool hba_has_method(const struct hba *hba, enum hba_method m)
{
	for (size_t i = 0; hba && i < hba->nrules; i++)
		if (hba->rules[i].method == m)
			return true;
	return false;
}

const char *hba_method_name(enum hba_method m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "";
}

static int parse_method(struct pctx *c, const char *file, int lineno, const struct line *l, int f,
			struct hba_rule *r)
{
	size_t first, n = field_toks(l, f, &first);
	const struct tok *t = &l->toks[first];

	if (n == 0)
		return perr(c, file, lineno, "end-of-line before authentication method");
	if (n > 1)
		return perr(c, file, lineno, "multiple values specified for authentication type");
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(t->s, methods[i].name) == 0) {
			r->method = methods[i].m;
			return 0;
		}
	}
	for (size_t i = 0; other_methods[i]; i++)
		if (strcmp(t->s, other_methods[i]) == 0)
			return perr(c, file, lineno,
				    "authentication method \"%s\" is not supported by pgring", t->s);
	return perr(c, file, lineno, "invalid authentication method \"%s\"", t->s);
}

/* name=value options after the method: map= only, for peer and cert */
static int parse_options(struct pctx *c, const char *file, int lineno, const struct line *l, int f,
			 struct hba_rule *r)
{
	for (; f < l->nfields; f++) {
		size_t first, n = field_toks(l, f, &first);
		const char *s = l->toks[first].s, *eq = strchr(s, '=');

		if (n > 1 || !eq)
			return perr(c, file, lineno, "authentication option not in name=value format: %s", s);
		if ((size_t)(eq - s) != 3 || strncmp(s, "map", 3))
			return perr(c, file, lineno, "authentication option \"%.*s\" is not supported",
				    (int)(eq - s), s);
		if (r->method != HBA_PEER && r->method != HBA_CERT)
			return perr(c, file, lineno, "authentication option \"map\" is only valid for "
				    "authentication methods peer and cert");
		if (!eq[1])
			return perr(c, file, lineno, "map= needs a map name");
		free(r->map);
		if (!(r->map = strdup(eq + 1)))
			return perr(c, file, lineno, "out of memory");
	}
	return 0;
}

/* ---- hba lines -------------------------------------------------------------------- */

static void rule_clear(struct hba_rule *r)
{
	names_free(&r->db);
	names_free(&r->user);
	free(r->map);
	r->map = NULL;
}

static int parse_type(const struct tok *t, enum hba_type *type)
{
	static const struct {
		const char *name;
		enum hba_type type;
	} types[] = {
		{ "local", HBA_LOCAL }, { "host", HBA_HOST },
		{ "hostssl", HBA_HOSTSSL }, { "hostnossl", HBA_HOSTNOSSL },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(t->s, types[i].name) == 0) {
			*type = types[i].type;
			return 0;
		}
	}
	return -1;
}

static int parse_rule(struct pctx *c, const char *file, int lineno, const struct line *l,
		      struct hba_rule *r)
{
	size_t first;
	int f;

	r->file = file;
	r->line = lineno;
	if (field_toks(l, 0, &first) != 1 || parse_type(&l->toks[first], &r->type) < 0)
		return perr(c, file, lineno, "invalid connection type \"%s\"%s", l->toks[0].s,
			    strncmp(l->toks[0].s, "hostgss", 7) ? "" : " (GSSAPI is not supported)");
	if (l->nfields < 2)
		return perr(c, file, lineno, "end-of-line before database specification");
	if (parse_names(c, file, lineno, l, 1, true, &r->db) < 0)
		return -1;
	if (l->nfields < 3)
		return perr(c, file, lineno, "end-of-line before role specification");
	if (parse_names(c, file, lineno, l, 2, false, &r->user) < 0)
		return -1;
	f = 3;
	if (r->type != HBA_LOCAL && (f = parse_addr(c, file, lineno, l, f, r)) < 0)
		return -1;
	if (parse_method(c, file, lineno, l, f, r) < 0)
		return -1;
	return parse_options(c, file, lineno, l, f + 1, r);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_rule(struct pctx *c, const char *file, int lineno, const struct line *l)
{
	struct hba *h = c->hba;
	struct hba_rule *rules, r;

	memset(&r, 0, sizeof(r));
	if (parse_rule(c, file, lineno, l, &r) < 0) {
		rule_clear(&r);
		return -1;
	}
	/* an @file may list thousands: each login looks them up by bsearch */
	if (r.db.n > 1)
		qsort(r.db.names, r.db.n, sizeof(char *), name_cmp);
	if (r.user.n > 1)
		qsort(r.user.names, r.user.n, sizeof(char *), name_cmp);
	rules = realloc(h->rules, (h->nrules + 1) * sizeof(*rules));
	if (!rules) {
		rule_clear(&r);
		return perr(c, file, lineno, "out of memory");
	}
	h->rules = rules;
	rules[h->nrules++] = r;
	return 0;
}

/* ---- ident lines -------------------------------------------------------------------- */

static void ident_clear(struct ident_entry *e)
{
	if (e->is_regex)
		regfree(&e->re);
	free(e->map);
	free(e->sys);
	free(e->pg);
	memset(e, 0, sizeof(*e));
}

static int parse_ident(struct pctx *c, const char *file, int lineno, const struct line *l,
		       struct ident_entry *e)
{
	const struct tok *t = l->toks;
	int rc;

	e->file = file;
	e->line = lineno;
	if (is_kw(&t[0], "include") || is_kw(&t[0], "include_if_exists") || is_kw(&t[0], "include_dir"))
		return perr(c, file, lineno, "\"%s\" is not supported in the ident file", t[0].s);
	if (l->nfields != 3 || l->n != 3)
		return perr(c, file, lineno, "an ident line is MAPNAME SYSTEM-USERNAME DATABASE-USERNAME, "
			    "one value each");
	if (!t[2].quoted && (t[2].s[0] == '+' || t[2].s[0] == '/'))
		return perr(c, file, lineno, "\"%s\": groups and regular expressions are not supported "
			    "in the database user column", t[2].s);
	e->pg_all = is_kw(&t[2], "all");
	e->is_regex = t[1].s[0] == '/';
	if (!(e->map = strdup(t[0].s)) || !(e->sys = strdup(t[1].s + (e->is_regex ? 1 : 0))) ||
	    !(e->pg = strdup(t[2].s))) {
		e->is_regex = false;
		return perr(c, file, lineno, "out of memory");
	}
	if (!e->is_regex)
		return 0;
	rc = regcomp(&e->re, e->sys, REG_EXTENDED);
	if (rc != 0) {
		char msg[256];

		regerror(rc, &e->re, msg, sizeof(msg));
		e->is_regex = false;
		return perr(c, file, lineno, "invalid regular expression \"%s\": %s", e->sys, msg);
	}
	return 0;
}

static int add_ident(struct pctx *c, const char *file, int lineno, const struct line *l)
{
	struct hba *h = c->hba;
	struct ident_entry *v, e;

	memset(&e, 0, sizeof(e));
	if (parse_ident(c, file, lineno, l, &e) < 0) {
		ident_clear(&e);
		return -1;
	}
	v = realloc(h->idents, (h->nidents + 1) * sizeof(*v));
	if (!v) {
		ident_clear(&e);
		return perr(c, file, lineno, "out of memory");
	}
	h->idents = v;
	v[h->nidents++] = e;
	return 0;
}

/* ---- files -------------------------------------------------------------------------- */

typedef int (*line_fn)(struct pctx *c, const char *file, int lineno, const struct line *l);

static int parse_file(struct pctx *c, const char *path, line_fn fn)
{
	const char *stored;
	char *text, *pos, *ln;
	struct line l = { 0 };
	int no, next_no = 1, ret = 0;

	if (open_file(c, path, NULL, 0, &text, &stored) < 0)
		return -1;
	pos = text;
	/* a UTF-8 byte order mark is not part of the first token */
	if (strncmp(pos, "\xef\xbb\xbf", 3) == 0)
		pos += 3;
	while (ret == 0 && (ln = next_line(&pos, &no, &next_no))) {
		ret = tokenize(c, stored, no, ln, &l);
		if (ret == 0 && l.n > 0)
			ret = fn(c, stored, no, &l);
	}
	line_clear(&l);
	free(text);
	return ret;
}

struct hba *hba_ref(struct hba *hba)
{
	if (hba)
		__atomic_add_fetch(&hba->refs, 1, __ATOMIC_RELAXED);
	return hba;
}

void hba_unref(struct hba *hba)
{
	if (!hba || __atomic_sub_fetch(&hba->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < hba->nrules; i++)
		rule_clear(&hba->rules[i]);
	free(hba->rules);
	for (size_t i = 0; i < hba->nidents; i++)
		ident_clear(&hba->idents[i]);
	free(hba->idents);
	for (size_t i = 0; i < hba->nfiles; i++)
		free(hba->files[i]);
	free(hba->files);
	free(hba);
}

int hba_load(const char *hba_path, const char *ident_path, struct hba **out, char *err,
	     size_t errlen)
{
	struct pctx c = { .err = err, .errlen = errlen };

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!hba_path || !*hba_path) {
		snprintf(err, errlen, "auth_type = hba needs auth_hba_file");
		return -1;
	}
	c.hba = calloc(1, sizeof(*c.hba));
	if (!c.hba)
		return perr(&c, hba_path, 0, "out of memory");
	c.hba->refs = 1;
	if (parse_file(&c, hba_path, add_rule) < 0 ||
	    (ident_path && *ident_path && parse_file(&c, ident_path, add_ident) < 0)) {
		hba_unref(c.hba);
		return -1;
	}
	*out = c.hba;
	return 0;
}

/* ---- matching ------------------------------------------------------------------------ */

static bool names_match(const struct hba_names *nm, const char *name)
{
	return nm->n && bsearch(&name, nm->names, nm->n, sizeof(char *), name_cmp);
}

static bool db_match(const struct hba_names *nm, const struct hba_client *cl)
{
	/* as PostgreSQL: physical replication matches the keyword and nothing else */
	if (cl->physical_repl)
		return nm->replication;
	return nm->all || (nm->sameuser && strcmp(cl->db, cl->user) == 0) || names_match(nm, cl->db);
}

static bool masked_eq(const uint8_t *ip, const uint8_t *addr, const uint8_t *mask, int n)
{
	for (int i = 0; i < n; i++)
		if ((ip[i] & mask[i]) != addr[i])
			return false;
	return true;
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4 rule matches an IPv4-mapped IPv6 client and the other way round,
 * as PostgreSQL's check_ip does. */
static bool addr_match(const struct hba_rule *r, const struct hba_client *cl)
{
	uint8_t ip[16], mask[16], addr[16];

	if (r->addr_all)
		return true;
	if (r->family == cl->family)
		return masked_eq(cl->ip, r->addr, r->mask, r->family == AF_INET ? 4 : 16);
	if (r->family == AF_INET && cl->family == AF_INET6)
		return memcmp(cl->ip, v4mapped, 12) == 0 && masked_eq(cl->ip + 12, r->addr, r->mask, 4);
	if (r->family == AF_INET6 && cl->family == AF_INET) {
		memcpy(ip, v4mapped, 12);
		memcpy(ip + 12, cl->ip, 4);
		memcpy(mask, r->mask, 16);
		memcpy(addr, r->addr, 16);
		return masked_eq(ip, addr, mask, 16);
	}
	return false;
}

static bool conn_match(const struct hba_rule *r, const struct hba_client *cl)
{
	if (cl->family == AF_UNIX)
		return r->type == HBA_LOCAL;
	if (r->type == HBA_LOCAL)
		return false;
	if ((r->type == HBA_HOSTSSL && !cl->tls) || (r->type == HBA_HOSTNOSSL && cl->tls))
		return false;
	return addr_match(r, cl);
}

const struct hba_rule *hba_match(const struct hba *hba, const struct hba_client *cl)
{
	if (!hba || !cl || !cl->db || !cl->user)
		return NULL;
	for (size_t i = 0; i < hba->nrules; i++) {
		const struct hba_rule *r = &hba->rules[i];

		if (conn_match(r, cl) && db_match(&r->db, cl) &&
		    (r->user.all || names_match(&r->user, cl->user)))
			return r;
	}
	return NULL;
}

/* pg with its first \1 replaced by the regex's first group, compared to want */
static bool subst_eq(const char *pg, const char *sys, const regmatch_t *m, const char *want)
{
	const char *bs = strstr(pg, "\\1");
	size_t head, glen, wlen = strlen(want);

	if (!bs)
		return strcmp(pg, want) == 0;
	if (m[1].rm_so < 0)
		return false;	/* no group to put there: PostgreSQL refuses the line too */
	head = (size_t)(bs - pg);
	glen = (size_t)(m[1].rm_eo - m[1].rm_so);
	return wlen == head + glen + strlen(bs + 2) && memcmp(want, pg, head) == 0 &&
	       memcmp(want + head, sys + m[1].rm_so, glen) == 0 &&
	       strcmp(want + head + glen, bs + 2) == 0;
}

static bool ident_line_match(const struct ident_entry *e, const char *sys, const char *pg)
{
	regmatch_t m[2];

	if (!e->is_regex)
		return strcmp(e->sys, sys) == 0 && (e->pg_all || strcmp(e->pg, pg) == 0);
	if (regexec(&e->re, sys, 2, m, 0) != 0)
		return false;
	return e->pg_all || subst_eq(e->pg, sys, m, pg);
}

bool hba_ident_match(const struct hba *hba, const char *map, const char *sys, const char *pg)
{
	if (!hba || !map || !sys || !pg)
		return false;
	for (size_t i = 0; i < hba->nidents; i++) {
		const struct ident_entry *e = &hba->idents[i];

		if (strcmp(e->map, map) == 0 && ident_line_match(e, sys, pg))
			return true;
	}
	return false;
}
