/* prepared.c - protocol-level named prepared statements in transaction and statement mode */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepared.h"
#include "worker.h"

#define PREP_NAME_MAX	32

/* ---- the worker's statements: one per distinct (text, parameter types) ---- */

struct pstmt {
	struct pstmt *next;	/* hash chain */
	uint64_t hash;
	uint64_t id;		/* the server-side name is PGRING_<id> */
	uint32_t refs;		/* client names and server sets holding it */
	uint32_t len;
	uint8_t body[];		/* Parse after the name: query\0, int16 n, n x int32 */
};

struct prep_registry {
	struct pstmt **b;
	size_t nb, n;
	uint64_t next_id;
};

/* ---- a client's names ---- */

struct cstmt {
	struct cstmt *next;
	uint64_t hash;
	struct pstmt *ps;
	char name[];
};

struct prep_client {
	struct cstmt **b;
	size_t nb, n;
};

/* ---- a server's prepared set and its request queue ---- */

#define RQ_FAKE		0x1	/* no server message: pgring answers type itself */
#define RQ_SKIP		0x2	/* pgring's own request: its answer is not the client's */
#define RQ_NAMED	0x4	/* a client's named Parse: name is set */

struct preq {
	uint8_t type;
	uint8_t flags;
	uint64_t id;
	char *name;
};

struct slot {
	struct pstmt *ps;	/* holds a reference */
	uint64_t used;
};

struct prep_server {
	struct slot *set;
	unsigned nset, capset;
	uint64_t tick;
	struct preq *q;		/* a ring */
	unsigned qhead, qn, qcap;
};

/* FNV-1a: a table index, not a defence; names and texts come from
 * authenticated clients, each in its own table or refcounted entry */
static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void server_name(char *buf, uint64_t id)
{
	snprintf(buf, PREP_NAME_MAX, "PGRING_%llu", (unsigned long long)id);
}

/* Grows a chained table to about one entry per bucket. */
static bool rehash(void ***bp, size_t *nbp, size_t n, size_t next_off, size_t hash_off)
{
	size_t nb = *nbp ? *nbp * 2 : 16;
	void **nbk;

	if (n < *nbp)
		return true;
	nbk = calloc(nb, sizeof(*nbk));
	if (!nbk)
		return *nbp > 0;	/* a full table still works, only slower */
	for (size_t i = 0; i < *nbp; i++) {
		void *e = (*bp)[i];

		while (e) {
			void *next = *(void **)((char *)e + next_off);
			uint64_t h = *(uint64_t *)((char *)e + hash_off);

			*(void **)((char *)e + next_off) = nbk[h & (nb - 1)];
			nbk[h & (nb - 1)] = e;
			e = next;
		}
	}
	free(*bp);
	*bp = nbk;
	*nbp = nb;
	return true;
}

static struct pstmt *registry_get(struct worker *w, const uint8_t *body, uint32_t len)
{
	struct prep_registry *r = w->prep;
	uint64_t h = hash_bytes(body, len);
	struct pstmt *ps;

	if (!r && !(r = w->prep = calloc(1, sizeof(*r))))
		return NULL;
	if (!rehash((void ***)&r->b, &r->nb, r->n, offsetof(struct pstmt, next),
		    offsetof(struct pstmt, hash)))
		return NULL;
	for (ps = r->b[h & (r->nb - 1)]; ps; ps = ps->next)
		if (ps->hash == h && ps->len == len && !memcmp(ps->body, body, len))
			return ps;
	ps = malloc(sizeof(*ps) + len);
	if (!ps)
		return NULL;
	ps->hash = h;
	ps->id = ++r->next_id;
	ps->refs = 0;
	ps->len = len;
	memcpy(ps->body, body, len);
	ps->next = r->b[h & (r->nb - 1)];
	r->b[h & (r->nb - 1)] = ps;
	r->n++;
	return ps;
}

static void pstmt_unref(struct worker *w, struct pstmt *ps)
{
	struct prep_registry *r = w->prep;
	struct pstmt **pp;

	if (--ps->refs || !r)
		return;
	for (pp = &r->b[ps->hash & (r->nb - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == ps) {
			*pp = ps->next;
			r->n--;
			break;
		}
	}
	free(ps);
}

void prep_registry_free(struct worker *w)
{
	struct prep_registry *r = w->prep;

	if (!r)
		return;
	for (size_t i = 0; i < r->nb; i++) {
		while (r->b[i]) {
			struct pstmt *ps = r->b[i];

			r->b[i] = ps->next;
			free(ps);
		}
	}
	free(r->b);
	free(r);
	w->prep = NULL;
}

/* ---- client map ---- */

static struct cstmt **cmap_slot(struct prep_client *m, const char *name, uint64_t h)
{
	struct cstmt **pp;

	for (pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && !strcmp((*pp)->name, name))
			break;
	return pp;
}

static struct cstmt *cmap_get(struct client *cl, const char *name)
{
	struct prep_client *m = cl->prep;

	if (!m || !m->n)
		return NULL;
	return *cmap_slot(m, name, hash_bytes(name, strlen(name)));
}

/* Points name at ps (replacing what it named before); false when out of memory */
static bool cmap_put(struct client *cl, const char *name, struct pstmt *ps)
{
	struct prep_client *m = cl->prep;
	size_t nlen = strlen(name);
	uint64_t h = hash_bytes(name, nlen);
	struct cstmt **pp, *e;

	if (!m && !(m = cl->prep = calloc(1, sizeof(*m))))
		return false;
	if (!rehash((void ***)&m->b, &m->nb, m->n, offsetof(struct cstmt, next),
		    offsetof(struct cstmt, hash)))
		return false;
	pp = cmap_slot(m, name, h);
	if (*pp) {
		ps->refs++;
		pstmt_unref(cl->c.w, (*pp)->ps);
		(*pp)->ps = ps;
		return true;
	}
	e = malloc(sizeof(*e) + nlen + 1);
	if (!e)
		return false;
	e->hash = h;
	e->ps = ps;
	memcpy(e->name, name, nlen + 1);
	e->next = NULL;
	*pp = e;
	m->n++;
	ps->refs++;
	return true;
}

/* Forgets name; with id != 0 only while it still names statement id. */
static void cmap_del(struct client *cl, const char *name, uint64_t id)
{
	struct prep_client *m = cl->prep;
	struct cstmt **pp, *e;

	if (!m || !m->n)
		return;
	pp = cmap_slot(m, name, hash_bytes(name, strlen(name)));
	e = *pp;
	if (!e || (id && e->ps->id != id))
		return;
	*pp = e->next;
	m->n--;
	pstmt_unref(cl->c.w, e->ps);
	free(e);
}

static void cmap_clear(struct client *cl)
{
	struct prep_client *m = cl->prep;

	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		while (m->b[i]) {
			struct cstmt *e = m->b[i];

			m->b[i] = e->next;
			pstmt_unref(cl->c.w, e->ps);
			free(e);
		}
	}
	m->n = 0;
}

void prep_client_free(struct client *cl)
{
	cmap_clear(cl);
	if (cl->prep)
		free(cl->prep->b);
	free(cl->prep);
	cl->prep = NULL;
}

unsigned prep_client_count(const struct client *cl)
{
	return cl->prep ? (unsigned)cl->prep->n : 0;
}

/* ---- server set ---- */

static int set_find(struct prep_server *ps, uint64_t id)
{
	for (unsigned i = 0; i < ps->nset; i++)
		if (ps->set[i].ps->id == id)
			return (int)i;
	return -1;
}

static void set_drop(struct server *sv, unsigned i)
{
	struct prep_server *ps = sv->prep;

	pstmt_unref(sv->c.w, ps->set[i].ps);
	ps->set[i] = ps->set[--ps->nset];
}

static void set_remove(struct server *sv, uint64_t id)
{
	int i = set_find(sv->prep, id);

	if (i >= 0)
		set_drop(sv, (unsigned)i);
}

unsigned prep_server_count(const struct server *sv)
{
	return sv->prep ? sv->prep->nset : 0;
}

void prep_server_forget(struct server *sv)
{
	while (sv->prep && sv->prep->nset)
		set_drop(sv, 0);
}

/* ---- request queue ---- */

static struct preq *q_head(struct prep_server *ps)
{
	return ps->qn ? &ps->q[ps->qhead] : NULL;
}

static bool q_push(struct prep_server *ps, uint8_t type, uint8_t flags, uint64_t id, const char *name)
{
	struct preq *e;

	if (ps->qn == ps->qcap) {
		unsigned ncap = ps->qcap ? ps->qcap * 2 : 16;
		struct preq *nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return false;
		for (unsigned i = 0; i < ps->qn; i++)
			nq[i] = ps->q[(ps->qhead + i) % ps->qcap];
		free(ps->q);
		ps->q = nq;
		ps->qcap = ncap;
		ps->qhead = 0;
	}
	e = &ps->q[(ps->qhead + ps->qn) % ps->qcap];
	e->type = type;
	e->flags = flags;
	e->id = id;
	e->name = NULL;
	if (name && !(e->name = strdup(name)))
		return false;
	ps->qn++;
	return true;
}

static void q_pop(struct prep_server *ps)
{
	if (!ps->qn)
		return;
	free(ps->q[ps->qhead].name);
	ps->q[ps->qhead].name = NULL;
	ps->qhead = (ps->qhead + 1) % ps->qcap;
	ps->qn--;
}

void prep_unlink(struct server *sv)
{
	if (!sv->prep)
		return;
	while (sv->prep->qn)
		q_pop(sv->prep);
	sv->prep_on = false;
}

void prep_server_free(struct server *sv)
{
	if (!sv->prep)
		return;
	prep_unlink(sv);
	prep_server_forget(sv);
	free(sv->prep->q);
	free(sv->prep->set);
	free(sv->prep);
	sv->prep = NULL;
}

void prep_link(struct server *sv)
{
	const struct config *cfg = sv->c.w->cfg;

	sv->prep_on = false;
	if (pool_mode_of(sv->pool) == POOL_SESSION || cfg->max_prepared_statements <= 0)
		return;
	if (!sv->prep && !(sv->prep = calloc(1, sizeof(*sv->prep))))
		return;		/* without tracking: named statements stay per server */
	sv->prep_on = true;
}

/* The answers pgring makes up, once all before them have come. */
static void emit_fakes(struct server *sv)
{
	struct prep_server *ps = sv->prep;
	struct client *cl = sv->client;
	struct pktbuf *pb = &sv->c.w->tmp;
	struct preq *h;
	bool any = false;

	while ((h = q_head(ps)) && (h->flags & RQ_FAKE)) {
		if (cl) {
			pkt_begin(pb, h->type);
			pkt_end(pb);
			any = true;
		}
		q_pop(ps);
	}
	if (!any)
		pkt_reset(pb);
	else if (!conn_send_pkt(&cl->c, pb))
		return;		/* cl is failing, logged */
}

/* ---- building what goes to the server ---- */

static void put_parse(struct pktbuf *pb, const struct pstmt *st)
{
	char name[PREP_NAME_MAX];

	server_name(name, st->id);
	pkt_begin(pb, 'P');
	pkt_str(pb, name);
	pkt_bytes(pb, st->body, st->len);
	pkt_end(pb);
}

/* Makes room in the server's set (a Close for the least recently used) and
 * adds st; false when out of memory. */
static bool set_add(struct server *sv, struct pstmt *st, struct pktbuf *pb)
{
	struct prep_server *ps = sv->prep;
	unsigned max = (unsigned)sv->c.w->cfg->max_prepared_statements;

	while (ps->nset && ps->nset >= max) {
		unsigned lru = 0;
		char name[PREP_NAME_MAX];

		for (unsigned i = 1; i < ps->nset; i++)
			if (ps->set[i].used < ps->set[lru].used)
				lru = i;
		server_name(name, ps->set[lru].ps->id);
		pkt_begin(pb, 'C');
		pkt_u8(pb, 'S');
		pkt_str(pb, name);
		pkt_end(pb);
		if (!q_push(ps, 'C', RQ_SKIP, 0, NULL))
			return false;
		set_drop(sv, lru);
	}
	if (ps->nset == ps->capset) {
		unsigned ncap = ps->capset ? ps->capset * 2 : 16;
		struct slot *ns = realloc(ps->set, ncap * sizeof(*ns));

		if (!ns)
			return false;
		ps->set = ns;
		ps->capset = ncap;
	}
	ps->set[ps->nset].ps = st;
	ps->set[ps->nset].used = ++ps->tick;
	ps->nset++;
	st->refs++;
	return true;
}

/* The server has st, or gets a Parse for it ahead of what follows in pb. */
static bool ensure_prepared(struct client *cl, struct server *sv, struct pstmt *st,
			    struct pktbuf *pb)
{
	struct prep_server *ps = sv->prep;
	int i = set_find(ps, st->id);

	if (i >= 0) {
		ps->set[i].used = ++ps->tick;
		return true;
	}
	if (!set_add(sv, st, pb))
		return false;
	put_parse(pb, st);
	cl->pool->stats.total.server_parse_count++;
	return q_push(ps, 'P', RQ_SKIP, st->id, NULL);
}

static bool send_to_server(struct client *cl, struct server *sv, struct pktbuf *pb, bool ok)
{
	if (!ok || pb->failed) {
		pkt_reset(pb);
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	return conn_send_pkt(&sv->c, pb);	/* false: sv is failing, logged */
}

/* The message as the client sent it, with its answer queued. */
static bool forward_as_is(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body,
			  uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;

	pkt_begin(pb, type);
	pkt_bytes(pb, body, len);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, q_push(sv->prep, type, 0, 0, NULL));
}

static bool bad_message(struct client *cl, uint8_t type)
{
	client_fail(cl, "08P01", "invalid frontend message type '%c'", type);
	return false;
}

static bool on_parse(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	struct prep_server *ps = sv->prep;
	struct msg_rd r;
	const char *name;
	struct pstmt *st;
	uint32_t nlen;
	bool ok;

	rd_init(&r, body, len);
	name = rd_str(&r);
	if (!name)
		return bad_message(cl, 'P');
	cl->pool->stats.total.client_parse_count++;
	if (!*name) {
		cl->pool->stats.total.server_parse_count++;
		return forward_as_is(cl, sv, 'P', body, len);
	}
	nlen = (uint32_t)strlen(name) + 1;
	st = registry_get(cl->c.w, body + nlen, len - nlen);
	if (!st || !cmap_put(cl, name, st))
		return send_to_server(cl, sv, pb, false);
	if (set_find(ps, st->id) >= 0) {
		/* the server has it: the client gets its ParseComplete in turn */
		ps->set[set_find(ps, st->id)].used = ++ps->tick;
		if (!q_push(ps, '1', RQ_FAKE, st->id, name))
			return send_to_server(cl, sv, pb, false);
		emit_fakes(sv);
		return true;
	}
	ok = set_add(sv, st, pb);
	if (ok) {
		put_parse(pb, st);
		cl->pool->stats.total.server_parse_count++;
		ok = q_push(ps, 'P', RQ_NAMED, st->id, name);
	}
	return send_to_server(cl, sv, pb, ok);
}

/* Bind and Describe name a statement: theirs becomes the server's */
static bool on_bind(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	char sname[PREP_NAME_MAX];
	const char *portal, *stmt;
	const struct cstmt *ce;
	struct msg_rd r;
	size_t used;
	bool ok;

	rd_init(&r, body, len);
	portal = rd_str(&r);
	stmt = rd_str(&r);
	if (!portal || !stmt)
		return bad_message(cl, 'B');
	cl->pool->stats.total.bind_count++;
	if (!*stmt || !(ce = cmap_get(cl, stmt)))
		return forward_as_is(cl, sv, 'B', body, len);	/* the server answers as it would */
	used = r.pos;
	ok = ensure_prepared(cl, sv, ce->ps, pb);
	server_name(sname, ce->ps->id);
	pkt_begin(pb, 'B');
	pkt_str(pb, portal);
	pkt_str(pb, sname);
	pkt_bytes(pb, body + used, len - used);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, ok && q_push(sv->prep, 'B', 0, 0, NULL));
}

static bool on_describe(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	char sname[PREP_NAME_MAX];
	const struct cstmt *ce;
	const char *name;
	struct msg_rd r;
	uint8_t kind;
	bool ok;

	rd_init(&r, body, len);
	kind = rd_u8(&r);
	name = rd_str(&r);
	if (!name)
		return bad_message(cl, 'D');
	if (kind != 'S' || !*name || !(ce = cmap_get(cl, name)))
		return forward_as_is(cl, sv, 'D', body, len);
	ok = ensure_prepared(cl, sv, ce->ps, pb);
	server_name(sname, ce->ps->id);
	pkt_begin(pb, 'D');
	pkt_u8(pb, 'S');
	pkt_str(pb, sname);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, ok && q_push(sv->prep, 'D', 0, 0, NULL));
}

static bool on_close(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	const char *name;
	struct msg_rd r;
	uint8_t kind;

	rd_init(&r, body, len);
	kind = rd_u8(&r);
	name = rd_str(&r);
	if (!name)
		return bad_message(cl, 'C');
	if (kind != 'S' || !*name)
		return forward_as_is(cl, sv, 'C', body, len);
	/* the client's name goes; the server keeps the statement for others */
	cmap_del(cl, name, 0);
	if (!q_push(sv->prep, '3', RQ_FAKE, 0, NULL))
		return send_to_server(cl, sv, &cl->c.w->tmp, false);
	emit_fakes(sv);
	return true;
}

/*
 * Whether a Parse, Bind, Describe or Close names no statement of the
 * client's, judged from the body bytes that have arrived with the header
 * (nearly always all of them): such a message goes to the server untouched,
 * without a copy.  false when it cannot tell.
 */
static bool names_no_statement(struct client *cl, uint8_t type)
{
	uint8_t b[2 * PREP_NAME_MAX];
	size_t n = conn_peek_body(&cl->c, b, type == 'B' ? sizeof(b) : 2);
	const uint8_t *nul;

	switch (type) {
	case 'P':
		return n >= 1 && b[0] == '\0';
	case 'B':	/* portal name, then statement name */
		nul = memchr(b, '\0', n);
		return nul && nul + 1 < b + n && nul[1] == '\0';
	default:	/* 'S' or 'P', then the name */
		return n >= 2 && (b[0] != 'S' || b[1] == '\0');
	}
}

int prep_client_header(struct client *cl, uint8_t type)
{
	struct server *sv = cl->server;
	struct stats *st;

	if (!sv || !sv->prep_on)
		return 0;
	switch (type) {
	case 'P':
	case 'B':
	case 'D':
	case 'C':
		if (!names_no_statement(cl, type))
			return 1;
		st = &cl->pool->stats.total;
		if (type == 'P') {
			st->client_parse_count++;
			st->server_parse_count++;
		} else if (type == 'B') {
			st->bind_count++;
		}
		/* forwarded as is, its answer queued */
		/* fall through */
	case 'E':
	case 'S':
	case 'Q':
	case 'F':
		if (q_push(sv->prep, type, 0, 0, NULL))
			return 0;
		client_fail(cl, "53200", "out of memory");
		return -1;
	default:
		return 0;	/* Flush and COPY data get no answer of their own */
	}
}

bool prep_client_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct server *sv = cl->server;

	if (!sv || !sv->prep_on)
		return !cl->c.closing;
	switch (type) {
	case 'P':
		return on_parse(cl, sv, body, len);
	case 'B':
		return on_bind(cl, sv, body, len);
	case 'D':
		return on_describe(cl, sv, body, len);
	case 'C':
		return on_close(cl, sv, body, len);
	default:
		return true;
	}
}

/* ---- responses ---- */

/* An ErrorResponse to an extended-protocol request: PostgreSQL skips all up
 * to the next Sync, so those requests get no answers; Parses among them did
 * not happen. */
static void undo(struct server *sv, struct preq *e)
{
	if (e->type == 'P')
		set_remove(sv, e->id);
	if ((e->flags & RQ_NAMED) || (e->type == '1' && e->name))
		if (sv->client && e->name)
			cmap_del(sv->client, e->name, e->id);
}

static void error_skip(struct server *sv)
{
	struct prep_server *ps = sv->prep;
	struct preq *h;

	while ((h = q_head(ps)) && h->type != 'S') {
		undo(sv, h);
		q_pop(ps);
	}
}

int prep_server_header(struct server *sv, uint8_t type)
{
	struct prep_server *ps = sv->prep;
	struct preq *h;

	if (!sv->prep_on)
		return 0;
	h = q_head(ps);
	switch (type) {
	case '1':
	case '3':
		if (h && (h->flags & RQ_SKIP)) {
			q_pop(ps);
			emit_fakes(sv);
			return 2;
		}
		return 1;
	case '2':
	case 'C':
	case 'I':
	case 's':
	case 'n':
	case 'E':
	case 'Z':
		return 1;
	case 'T':
		return h && h->type == 'D' ? 1 : 0;
	default:
		return 0;
	}
}

static bool tag_is(const uint8_t *body, uint32_t len, const char *tag)
{
	size_t n = strlen(tag);

	return len >= n + 1 && !memcmp(body, tag, n) && body[n] == '\0';
}

void prep_server_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct prep_server *ps = sv->prep;
	struct preq *h;

	if (!sv->prep_on)
		return;
	h = q_head(ps);
	switch (type) {
	case 'Z':
		if (h && (h->type == 'S' || h->type == 'Q' || h->type == 'F'))
			q_pop(ps);
		break;
	case '1':
		if (h && h->type == 'P')
			q_pop(ps);
		break;
	case '2':
		if (h && h->type == 'B')
			q_pop(ps);
		break;
	case '3':
		if (h && h->type == 'C')
			q_pop(ps);
		break;
	case 'T':
	case 'n':
		if (h && h->type == 'D')
			q_pop(ps);
		break;
	case 'C':
		/* the session's statements are gone: the server's and the client's */
		if (tag_is(body, len, "DISCARD ALL") || tag_is(body, len, "DEALLOCATE ALL")) {
			prep_server_forget(sv);
			if (sv->client)
				cmap_clear(sv->client);
		}
		/* fall through */
	case 'I':
	case 's':
		if (h && h->type == 'E')
			q_pop(ps);
		break;
	case 'E':
		if (h && h->type != 'Q' && h->type != 'F' && h->type != 'S')
			error_skip(sv);
		break;
	default:
		break;
	}
	emit_fakes(sv);
}
