/* prepared.c - protocol-level named prepared statements in transaction and statement mode */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepared.h"
#include "worker.h"

#define PREP_NAME_MAX	32
#define MSG_SCRATCH_KEEP	(256 * 1024)

/* ---- the worker's statements: one per distinct (text, parameter types) ---- */

struct pstmt {
	struct pstmt *next;	/* hash chain */
	uint64_t hash;
	uint64_t id;		/* the server-side name is PGRING_<id> */
	uint32_t refs;		/* client names and server sets holding it */
	uint32_t len;
	/* Learnt from pgring's Describe after its first Parse of the statement
	 * (see learn_shape): what PostgreSQL answers without the statement
	 * running, even in a failed transaction */
	uint8_t shape;		/* SHAPE_* */
	int32_t nparams;	/* -1 until learnt */
	uint8_t *pdesc;		/* the ParameterDescription's body */
	uint32_t pdesc_len;
	uint8_t body[];		/* Parse after the name: query\0, int16 n, n x int32 */
};

enum { SHAPE_UNKNOWN, SHAPE_ROWS, SHAPE_NO_ROWS };

struct prep_registry {
	struct pstmt **b;
	size_t nb, n;
	uint64_t next_id;
	size_t bytes;			/* the statements, texts included */
	size_t names, name_bytes;	/* every client's names (SHOW MEM) */
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
	size_t bytes;		/* its names and their texts: max_client_prepared_bytes */
	bool warned;		/* the limit has been logged */
	/* Its unnamed statement as PostgreSQL holds it for the session (see
	 * "the unnamed statement" below): which one (0: none), and the body of
	 * the Parse that made it, after the name (NULL: too large to keep) */
	uint64_t un_gen;
	uint8_t *un_body;
	uint32_t un_len;
};

/* ---- a server's prepared set and its request queue ---- */

#define RQ_FAKE		0x1	/* no server message: pgring answers type itself */
#define RQ_SKIP		0x2	/* pgring's own request: its answer is not the client's */
#define RQ_NAMED	0x4	/* a client's named Parse: name is set */
#define RQ_RENAME	0x10	/* a Bind or Describe of statement id: PGRING_<id> in its
				 * ErrorResponse becomes the client's name */
#define RQ_REPLACE	0x8	/* its ErrorResponse is rewritten: a Parse's PGRING_<id>
				 * becomes name; any other request's is "out of memory" */
#define RQ_BADBIND	0x20	/* a Bind PostgreSQL refuses for its parameter counts
				 * (aux): its ErrorResponse becomes that 08P01 */
#define RQ_UNNAMED	0x40	/* a Parse or Close of the unnamed statement: the
				 * client's own (a Parse's body in blob), or with
				 * RQ_SKIP pgring's, putting the client's in place */

struct preq {
	uint8_t type;
	uint8_t flags;
	uint16_t aux[2];	/* RQ_BADBIND: the Bind's format and parameter counts */
	uint64_t id;
	char *name;
	/* a reference that outlives the set or map it left, until the answer
	 * says whether the request ran: the statement of pgring's Close
	 * (back into the set if skipped), or of a client's Close (back into
	 * its map) */
	struct pstmt *ps;
	uint8_t *blob;		/* RQ_UNNAMED Parse: its body, after the name */
	uint32_t blob_len;
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
	unsigned nsync;		/* Syncs queued: pipelines not yet answered */
	unsigned nquery;	/* simple Queries queued: any may DEALLOCATE ALL */
	unsigned neffect;	/* requests queued that change a set or map (effect()) */
	unsigned neffect_synced;	/* those of them before the last Sync */
	bool lost;		/* the set may differ from the server's: see prep_server_lost */
	bool redo;		/* the set may lack statements the server has: each
				 * Parse goes behind a Close of its name */
	bool client_waits;	/* prep_client_must_wait() said so */
	bool skipping;		/* an error came before the client's Sync: PostgreSQL
				 * ignores what the client sends until then */
	bool track_only;	/* statements pass as the client names them (session
				 * mode, max_prepared_statements = 0): the queue only
				 * says which ReadyForQuery to wait for (see prep_link) */
	/* the unnamed statement (see below) */
	bool un_on;		/* followed in this pairing: not in session mode */
	bool un_same;		/* the server's is the client's, as far as answered */
	bool un_batch;		/* since the client's last Sync, a request went that
				 * makes un_same true if PostgreSQL runs it */
	uint64_t un_gen;	/* the server's: the un_gen of the client that made
				 * it, 0 none, UN_UNKNOWN; kept up to date while un_same */
};

#define UN_UNKNOWN	UINT64_MAX

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
	ps->shape = SHAPE_UNKNOWN;
	ps->nparams = -1;
	ps->pdesc = NULL;
	ps->pdesc_len = 0;
	memcpy(ps->body, body, len);
	ps->next = r->b[h & (r->nb - 1)];
	r->b[h & (r->nb - 1)] = ps;
	r->n++;
	r->bytes += sizeof(*ps) + len;
	return ps;
}

/* A statement nothing holds any more leaves the registry */
static void pstmt_unref_zero(struct worker *w, struct pstmt *ps)
{
	struct prep_registry *r = w->prep;
	struct pstmt **pp;

	if (ps->refs || !r)
		return;
	for (pp = &r->b[ps->hash & (r->nb - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == ps) {
			*pp = ps->next;
			r->n--;
			r->bytes -= sizeof(*ps) + ps->len + ps->pdesc_len;
			break;
		}
	}
	free(ps->pdesc);
	free(ps);
}

static void pstmt_unref(struct worker *w, struct pstmt *ps)
{
	--ps->refs;
	pstmt_unref_zero(w, ps);
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
			free(ps->pdesc);
			free(ps);
		}
	}
	free(r->b);
	free(r);
	w->prep = NULL;
}

/* ---- client map ---- */

/* What a name costs its client, against max_client_prepared_bytes: the text
 * counts in full for every client naming it, so that one client's limit does
 * not depend on what others prepared */
static size_t cstmt_cost(size_t nlen, const struct pstmt *ps)
{
	return sizeof(struct cstmt) + nlen + 1 + sizeof(*ps) + ps->len;
}

static void cmap_account(struct client *cl, const char *name, const struct pstmt *ps, bool add)
{
	struct prep_registry *r = cl->c.w->prep;
	size_t nlen = strlen(name), cost = cstmt_cost(nlen, ps);

	if (add) {
		cl->prep->bytes += cost;
		r->names++;
		r->name_bytes += sizeof(struct cstmt) + nlen + 1;
	} else {
		cl->prep->bytes -= cost;
		r->names--;
		r->name_bytes -= sizeof(struct cstmt) + nlen + 1;
	}
}

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

/* Points a new name at ps, taking over a reference to it when take is set
 * (else adding one); false when out of memory or the name is taken (the
 * caller has checked: a second Parse of a name is an error) */
static bool cmap_put(struct client *cl, const char *name, struct pstmt *ps, bool take)
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
	if (*pp)
		return false;
	e = malloc(sizeof(*e) + nlen + 1);
	if (!e)
		return false;
	e->hash = h;
	e->ps = ps;
	memcpy(e->name, name, nlen + 1);
	e->next = NULL;
	*pp = e;
	m->n++;
	if (!take)
		ps->refs++;
	cmap_account(cl, name, ps, true);
	return true;
}

/* Forgets name (with id != 0 only while it still names statement id) and
 * returns its statement with the map's reference, or NULL */
static struct pstmt *cmap_take(struct client *cl, const char *name, uint64_t id)
{
	struct prep_client *m = cl->prep;
	struct cstmt **pp, *e;
	struct pstmt *ps;

	if (!m || !m->n)
		return NULL;
	pp = cmap_slot(m, name, hash_bytes(name, strlen(name)));
	e = *pp;
	if (!e || (id && e->ps->id != id))
		return NULL;
	*pp = e->next;
	m->n--;
	ps = e->ps;
	cmap_account(cl, name, ps, false);
	free(e);
	return ps;
}

static void cmap_del(struct client *cl, const char *name, uint64_t id)
{
	struct pstmt *ps = cmap_take(cl, name, id);

	if (ps)
		pstmt_unref(cl->c.w, ps);
}

static bool prepared_later(const struct prep_server *ps, uint64_t id, const char *name);

/* Forgets every name of the client, but those that requests queued on
 * keep_for behind its head gave it (keep_for NULL: all of them) */
static void cmap_prune(struct client *cl, const struct prep_server *keep_for)
{
	struct prep_client *m = cl->prep;

	for (size_t i = 0; m && i < m->nb; i++) {
		struct cstmt **pp = &m->b[i];

		while (*pp) {
			struct cstmt *e = *pp;

			if (keep_for && prepared_later(keep_for, 0, e->name)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			m->n--;
			cmap_account(cl, e->name, e->ps, false);
			pstmt_unref(cl->c.w, e->ps);
			free(e);
		}
	}
}

static void cmap_clear(struct client *cl)
{
	cmap_prune(cl, NULL);
}

void prep_client_free(struct client *cl)
{
	cmap_clear(cl);
	if (cl->prep) {
		free(cl->prep->b);
		free(cl->prep->un_body);
	}
	free(cl->prep);
	cl->prep = NULL;
}

unsigned prep_client_count(const struct client *cl)
{
	return cl->prep ? (unsigned)cl->prep->n : 0;
}

void prep_mem_usage(const struct worker *w, struct prep_mem *m)
{
	const struct prep_registry *r = w->prep;

	memset(m, 0, sizeof(*m));
	if (!r)
		return;
	m->stmts = r->n;
	m->stmt_bytes = r->bytes + r->nb * sizeof(*r->b);
	m->names = r->names;
	m->name_bytes = r->name_bytes;
}

/* ---- server set ---- */

static int set_find(struct prep_server *ps, uint64_t id)
{
	for (unsigned i = 0; i < ps->nset; i++)
		if (ps->set[i].ps->id == id)
			return (int)i;
	return -1;
}

/* Takes slot i out of the set; its reference goes to the caller */
static struct pstmt *set_take(struct server *sv, unsigned i)
{
	struct prep_server *ps = sv->prep;
	struct pstmt *st = ps->set[i].ps;

	ps->set[i] = ps->set[--ps->nset];
	return st;
}

static void set_drop(struct server *sv, unsigned i)
{
	pstmt_unref(sv->c.w, set_take(sv, i));
}

static void set_remove(struct server *sv, uint64_t id)
{
	int i = set_find(sv->prep, id);

	if (i >= 0)
		set_drop(sv, (unsigned)i);
}

/* A slot for st, which brings its own reference; false when out of memory */
static bool set_insert(struct server *sv, struct pstmt *st)
{
	struct prep_server *ps = sv->prep;

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
	return true;
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

bool prep_server_lost(const struct server *sv)
{
	return sv->prep && sv->prep->lost;
}

static void set_lost(struct server *sv, const char *why)
{
	if (!sv->prep->lost)
		server_log(sv, LOG_LVL_LOG, "prepared statements unknown (%s): "
			   "the connection closes when the client releases it", why);
	sv->prep->lost = true;
}

/* ---- request queue ---- */

static struct preq *q_head(struct prep_server *ps)
{
	return ps->qn ? &ps->q[ps->qhead] : NULL;
}

static struct preq *q_at(struct prep_server *ps, unsigned i)
{
	return &ps->q[(ps->qhead + i) % ps->qcap];
}

/* A request whose effect on the server's set or the client's map depends
 * on whether PostgreSQL runs it */
static bool effect(const struct preq *e)
{
	if (e->flags & (RQ_REPLACE | RQ_RENAME | RQ_BADBIND | RQ_UNNAMED))
		return false;
	return (e->type == 'P' && e->id) || (e->type == 'C' && (e->flags & RQ_SKIP)) || e->name;
}

static struct preq *q_push(struct prep_server *ps, uint8_t type, uint8_t flags, uint64_t id,
			   const char *name)
{
	struct preq *e;

	if (ps->qn == ps->qcap) {
		unsigned ncap = ps->qcap ? ps->qcap * 2 : 16;
		struct preq *nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return NULL;
		for (unsigned i = 0; i < ps->qn; i++)
			nq[i] = *q_at(ps, i);
		free(ps->q);
		ps->q = nq;
		ps->qcap = ncap;
		ps->qhead = 0;
	}
	e = q_at(ps, ps->qn);
	e->type = type;
	e->flags = flags;
	e->id = id;
	e->ps = NULL;
	e->name = NULL;
	e->blob = NULL;
	e->blob_len = 0;
	if (name && !(e->name = strdup(name)))
		return NULL;
	ps->qn++;
	if (effect(e))
		ps->neffect++;
	if (type == 'S') {
		ps->nsync++;
		ps->neffect_synced = ps->neffect;
	}
	if (type == 'Q')
		ps->nquery++;
	return e;
}

static void q_pop(struct server *sv)
{
	struct prep_server *ps = sv->prep;
	struct preq *e = q_head(ps);

	if (!e)
		return;
	if (effect(e)) {
		ps->neffect--;
		if (ps->neffect_synced)
			ps->neffect_synced--;
	}
	free(e->name);
	e->name = NULL;
	free(e->blob);
	e->blob = NULL;
	if (e->ps)
		pstmt_unref(sv->c.w, e->ps);
	e->ps = NULL;
	if (e->type == 'S')
		ps->nsync--;
	if (e->type == 'Q')
		ps->nquery--;
	ps->qhead = (ps->qhead + 1) % ps->qcap;
	ps->qn--;
}

void prep_unlink(struct server *sv)
{
	if (!sv->prep)
		return;
	/* requests whose answers never came: whether they ran is unknown */
	if (sv->prep->qn && !sv->prep->track_only)
		sv->prep->lost = true;
	if (sv->prep->qn)	/* which unnamed statement it holds is unknown too */
		sv->prep->un_gen = UN_UNKNOWN;
	while (sv->prep->qn)
		q_pop(sv);
	sv->prep->skipping = false;
	sv->prep->client_waits = false;
	sv->prep_on = false;
}

void prep_server_free(struct server *sv)
{
	if (!sv->prep)
		return;
	while (sv->prep->qn)
		q_pop(sv);
	prep_server_forget(sv);
	free(sv->prep->q);
	free(sv->prep->set);
	free(sv->prep);
	sv->prep = NULL;
}

/*
 * Where pgring does not manage the client's statements (session mode,
 * max_prepared_statements = 0) the requests are still queued, answers
 * matched and errors followed: after an extended request fails, PostgreSQL
 * skips all up to the Sync, a Query or FunctionCall among them too, and
 * only the queue tells which ReadyForQuery the server still owes (query
 * timeouts, giving the server back).  A replication connection's
 * START_REPLICATION streams until its client goes: nothing to track.
 */
void prep_link(struct server *sv)
{
	const struct config *cfg = sv->c.w->cfg;
	bool track_only = pool_mode_of(sv->pool) == POOL_SESSION ||
			  cfg->max_prepared_statements <= 0;

	sv->prep_on = false;
	if (sv->pool->replication)
		return;
	if (!sv->prep && !(sv->prep = calloc(1, sizeof(*sv->prep))))
		return;		/* without tracking: named statements stay per server */
	/* statements pgring prepared before a RELOAD changed the mode are no
	 * longer followed: the server goes when given back */
	if (track_only && sv->prep->nset)
		sv->prep->lost = true;
	sv->prep->track_only = track_only;
	sv->prep_on = true;
	/* in session mode the server is the client's alone: nothing to follow,
	 * and what it leaves is unknown to the next */
	sv->prep->un_on = pool_mode_of(sv->pool) != POOL_SESSION;
	if (!sv->prep->un_on)
		sv->prep->un_gen = UN_UNKNOWN;
	sv->prep->un_same = sv->prep->un_on &&
			    sv->prep->un_gen == (sv->client->prep ? sv->client->prep->un_gen : 0);
	sv->prep->un_batch = false;
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
			if (h->type == 't' && h->ps)
				pkt_bytes(pb, h->ps->pdesc, h->ps->pdesc_len);
			pkt_end(pb);
			any = true;
		}
		q_pop(sv);
	}
	if (!any)
		pkt_reset(pb);
	else if (!conn_send_pkt(&cl->c, pb))
		return;		/* cl is failing, logged */
}

/* ---- building what goes to the server ---- */

static void put_parse(struct pktbuf *pb, uint64_t id, const uint8_t *body, uint32_t len)
{
	char name[PREP_NAME_MAX];

	server_name(name, id);
	pkt_begin(pb, 'P');
	pkt_str(pb, name);
	pkt_bytes(pb, body, len);
	pkt_end(pb);
}

static void put_close(struct pktbuf *pb, uint64_t id)
{
	char name[PREP_NAME_MAX];

	server_name(name, id);
	pkt_begin(pb, 'C');
	pkt_u8(pb, 'S');
	pkt_str(pb, name);
	pkt_end(pb);
}

static void put_describe(struct pktbuf *pb, uint64_t id)
{
	char name[PREP_NAME_MAX];

	server_name(name, id);
	pkt_begin(pb, 'D');
	pkt_u8(pb, 'S');
	pkt_str(pb, name);
	pkt_end(pb);
}

/*
 * Whether a Parse or a Close of statement id (name NULL), or a client's
 * Parse or Close of name, is still unanswered in a pipeline before the last
 * Sync.  Whether it runs depends on errors not yet
 * seen, so whether the server holds the statement after it is unknown: a
 * Close of the name then a Parse settle it either way (a Close of a missing
 * statement is no error).
 */
static bool pending_before_sync(const struct prep_server *ps, uint64_t id, const char *name)
{
	unsigned left = ps->neffect_synced;

	for (unsigned i = 0; left; i++) {
		const struct preq *e = &ps->q[(ps->qhead + i) % ps->qcap];

		if (!effect(e))
			continue;
		left--;
		if (name ? e->name && !strcmp(e->name, name) :
			   e->id == id && (e->type == 'P' || e->type == 'C'))
			return true;
	}
	return false;
}

/*
 * Makes room in the server's set (a Close for the least recently used) and
 * adds st; false when out of memory.  The evicted statement stays referenced
 * by the Close's queue entry: if an error earlier in the pipeline makes
 * PostgreSQL skip the Close, error_skip() puts it back in the set.
 */
static bool set_add(struct server *sv, struct pstmt *st, struct pktbuf *pb)
{
	struct prep_server *ps = sv->prep;
	unsigned max = (unsigned)sv->c.w->cfg->max_prepared_statements;

	while (ps->nset && ps->nset >= max) {
		unsigned lru = 0;
		struct preq *e;

		for (unsigned i = 1; i < ps->nset; i++)
			if (ps->set[i].used < ps->set[lru].used)
				lru = i;
		/* Whether the server holds the one evicted is unknown while its
		 * Parse or Close waits in an earlier pipeline: an error there may
		 * skip it.  Putting it back when an error skips this Close would
		 * then list a statement the server may lack; with redo, unclose()
		 * leaves the set short instead. */
		if (!ps->redo && pending_before_sync(ps, ps->set[lru].ps->id, NULL))
			ps->redo = true;
		put_close(pb, ps->set[lru].ps->id);
		e = q_push(ps, 'C', RQ_SKIP, ps->set[lru].ps->id, NULL);
		if (!e)
			return false;
		e->ps = set_take(sv, lru);
	}
	if (!set_insert(sv, st))
		return false;
	st->refs++;
	return true;
}

/* A Parse of st (in the set already, or added), behind a Close of its name
 * while the set may lack what the server has */
static bool send_parse(struct server *sv, struct pstmt *st, struct pktbuf *pb, bool in_set,
		       uint8_t flags, const char *name)
{
	struct prep_server *ps = sv->prep;
	struct preq *e;

	if (!in_set && !set_add(sv, st, pb))
		return false;
	if (ps->redo) {
		put_close(pb, st->id);
		if (!q_push(ps, 'C', RQ_SKIP, st->id, NULL))
			return false;
	}
	put_parse(pb, st->id, st->body, st->len);
	if (!q_push(ps, 'P', flags, st->id, name))
		return false;
	/* The first time: a Describe of it, whose answers pgring keeps (learn_shape) */
	if (st->shape != SHAPE_UNKNOWN)
		return true;
	put_describe(pb, st->id);
	e = q_push(ps, 'D', RQ_SKIP, st->id, NULL);
	if (!e)
		return false;
	st->refs++;
	e->ps = st;
	return true;
}

/* Whether the set has st for sure (it is marked used); else a Parse is due */
static bool has_for_sure(struct server *sv, const struct pstmt *st, bool *in_set)
{
	struct prep_server *ps = sv->prep;
	int i = set_find(ps, st->id);

	*in_set = i >= 0;
	if (i >= 0)
		ps->set[i].used = ++ps->tick;
	if (!pending_before_sync(ps, st->id, NULL))
		return *in_set;
	ps->redo = true;
	return false;
}

/* The server has st, or gets a Parse for it ahead of what follows in pb. */
static bool ensure_prepared(struct client *cl, struct server *sv, struct pstmt *st,
			    struct pktbuf *pb)
{
	bool in_set;

	if (has_for_sure(sv, st, &in_set))
		return true;
	cl->pool->stats.total.server_parse_count++;
	return send_parse(sv, st, pb, in_set, RQ_SKIP, NULL);
}

static bool send_to_server(struct client *cl, struct server *sv, struct pktbuf *pb, bool ok)
{
	if (!ok || pb->failed) {
		pkt_reset(pb);
		client_fail(cl, "53200", "out of memory");
		return false;
	}
	bool sent = conn_send_pkt(&sv->c, pb);	/* false: sv is failing, logged */

	/* the worker's scratch keeps no megabytes of a large Parse */
	if (pb->cap > MSG_SCRATCH_KEEP)
		pkt_free(pb);
	return sent;
}

/* The message as the client sent it, with its answer queued (flags RQ_*),
 * behind what pb holds already */
static bool forward_flagged(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body,
			    uint32_t len, uint8_t flags)
{
	struct pktbuf *pb = &cl->c.w->tmp;

	pkt_begin(pb, type);
	pkt_bytes(pb, body, len);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, q_push(sv->prep, type, flags, 0, NULL));
}

static bool forward_as_is(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body,
			  uint32_t len)
{
	return forward_flagged(cl, sv, type, body, len, 0);
}

/* ---- the unnamed statement ----
 *
 * PostgreSQL keeps a session's unnamed statement until the session's next
 * Parse of it (which drops the old one first, whether it then succeeds or
 * fails), a Close of it, or a simple Query.  In transaction mode a client's
 * next transaction may run on a server whose unnamed statement another
 * client made: a Bind of the unnamed statement would run that one.  So each
 * client's is kept (the body of its Parse, once PostgreSQL has accepted
 * it), and each pairing follows whether the server's is the client's
 * (un_same; both having none counts).  A Bind or Describe of it on a server
 * whose one is not the client's gets a Parse of the client's ahead of it,
 * or a Close when the client has none, whose answers go to nobody:
 * PostgreSQL then answers the client as it would have.  un_same changes
 * with answers only, so a Bind or Describe pipelined behind unanswered
 * Syncs, with nothing in its own pipeline that settles it, waits for them
 * (prep_client_must_wait).  Outside session mode, whether pgring manages
 * named statements or not.
 */

void prep_server_unnamed(struct server *sv, bool gone)
{
	struct prep_server *ps = sv->prep;

	if (!ps)
		return;
	ps->un_gen = gone ? 0 : UN_UNKNOWN;
	ps->un_same = sv->prep_on && ps->un_on && sv->client && gone &&
		      !(sv->client->prep && sv->client->prep->un_gen);
}

/* The longest unnamed Parse whose body is kept (larger ones pass as they
 * are, and a Bind on another server then meets that server's) */
static uint32_t un_keep_max(const struct client *cl)
{
	int max = cl->c.w->cfg->max_client_prepared_bytes;

	return max > 0 && (uint32_t)max < MSG_GATHER_MAX ? (uint32_t)max : MSG_GATHER_MAX;
}

/* An answer settled the request e about the unnamed statement: ok, it ran
 * (ParseComplete, CloseComplete, a Query's ReadyForQuery); else a Parse
 * failed, after PostgreSQL had dropped the old one */
static void un_settle(struct server *sv, struct preq *e, bool ok)
{
	struct prep_server *ps = sv->prep;
	struct client *cl = sv->client;
	struct prep_client *m = cl ? cl->prep : NULL;
	bool made = e->type == 'P' && ok;
	uint64_t gen;

	if (!ps->un_on || (e->type == 'C' && !ok))
		return;		/* a Close that failed changed nothing */
	if (e->flags & RQ_SKIP) {
		/* pgring's: the client's is the server's now, or none is */
		gen = made && m ? m->un_gen : 0;
	} else if (m) {
		/* the client's own Parse, Close or Query: the one it made, or none */
		free(m->un_body);
		m->un_body = made ? e->blob : NULL;
		m->un_len = made ? e->blob_len : 0;
		m->un_gen = made ? ++sv->c.w->unnamed_seq : 0;
		if (made)
			e->blob = NULL;
		gen = m->un_gen;
	} else {
		/* its client is gone (or, having no prep_client, made none) */
		gen = made ? UN_UNKNOWN : 0;
	}
	ps->un_gen = gen;
	ps->un_same = cl && gen == (m ? m->un_gen : 0);
}

/* The client's Parse, Close or Query of the unnamed statement is queued:
 * whether it runs settles un_same */
static enum prep_verdict un_queue(struct client *cl, struct server *sv, uint8_t type)
{
	if (!q_push(sv->prep, type, type == 'Q' ? 0 : RQ_UNNAMED, 0, NULL)) {
		client_fail(cl, "53200", "out of memory");
		return PREP_CLOSED;
	}
	sv->prep->un_batch = true;
	return PREP_FORWARD;
}

/* The client's Parse of the unnamed statement, gathered: forwarded, its
 * body kept in its queue entry until the answer says whether it made the
 * client's unnamed statement */
static bool un_parse(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	uint8_t *copy = malloc(len);
	struct preq *e;

	if (!sv->prep->track_only) {
		cl->pool->stats.total.client_parse_count++;
		cl->pool->stats.total.server_parse_count++;
	}
	if (!copy || (!cl->prep && !(cl->prep = calloc(1, sizeof(*cl->prep))))) {
		free(copy);
		return send_to_server(cl, sv, pb, false);
	}
	memcpy(copy, body + 1, len - 1);	/* after the empty name */
	pkt_begin(pb, 'P');
	pkt_bytes(pb, body, len);
	pkt_end(pb);
	e = q_push(sv->prep, 'P', RQ_UNNAMED, 0, NULL);
	if (!e) {
		free(copy);
		return send_to_server(cl, sv, pb, false);
	}
	e->blob = copy;
	e->blob_len = len - 1;
	sv->prep->un_batch = true;
	return send_to_server(cl, sv, pb, true);
}

/*
 * Before the client's Bind or Describe of the unnamed statement: a Parse
 * of the client's into pb (or a Close, the client having none), unless the
 * server's is the client's or the pipeline settles it first.  1: pb holds
 * it; 0: nothing to send; -1: out of memory.
 */
static int un_ensure(struct client *cl, struct server *sv, struct pktbuf *pb)
{
	struct prep_server *ps = sv->prep;
	const struct prep_client *m = cl->prep;
	bool parse = m && m->un_gen;

	if (!ps->un_on || ps->un_same || ps->un_batch)
		return 0;
	if (parse && !m->un_body) {
		client_log(cl, LOG_LVL_WARNING, "its unnamed statement was over %u bytes, not kept: "
			   "its Bind or Describe meets this server's", un_keep_max(cl));
		ps->un_same = true;	/* once per pairing */
		return 0;
	}
	ps->un_batch = true;
	if (parse) {
		cl->pool->stats.total.server_parse_count++;
		pkt_begin(pb, 'P');
		pkt_u8(pb, 0);
		pkt_bytes(pb, m->un_body, m->un_len);
	} else {
		pkt_begin(pb, 'C');
		pkt_u8(pb, 'S');
		pkt_u8(pb, 0);
	}
	pkt_end(pb);
	return q_push(ps, parse ? 'P' : 'C', RQ_SKIP | RQ_UNNAMED, 0, NULL) ? 1 : -1;
}

/*
 * The unnamed statement's part of a client message header: a Parse of it
 * is gathered (un_parse keeps its body), a Close of it is queued; a Bind or
 * Describe of it gets the client's statement sent ahead, and then goes on
 * as before (false).  true: *v is the verdict.
 */
static bool un_header(struct client *cl, struct server *sv, uint8_t type, enum prep_verdict *v)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	uint8_t b[CONN_PEEK_MIN];
	size_t n = conn_peek_body(&cl->c, b, sizeof(b));
	struct proto_names pn;
	int r;

	if (type == 'P') {
		if (!n || b[0])
			return false;	/* a named one */
		if (cl->c.fr.len <= un_keep_max(cl)) {
			*v = PREP_CONSUME;
			return true;
		}
		if (!sv->prep->track_only) {
			cl->pool->stats.total.client_parse_count++;
			cl->pool->stats.total.server_parse_count++;
		}
		/* its body is not kept, but that the client has one is */
		if (!cl->prep && !(cl->prep = calloc(1, sizeof(*cl->prep)))) {
			client_fail(cl, "53200", "out of memory");
			*v = PREP_CLOSED;
			return true;
		}
		*v = un_queue(cl, sv, 'P');
		return true;
	}
	/* names longer than the peek: on_bind, on_describe, on_close see them
	 * (statement management), or they pass as they are */
	if (!proto_read_names(type, b, n, &pn) || pn.kind != 'S' || *pn.name)
		return false;
	if (type == 'C') {
		*v = un_queue(cl, sv, 'C');
		return true;
	}
	r = un_ensure(cl, sv, pb);
	if (r && !send_to_server(cl, sv, pb, r > 0)) {
		*v = PREP_CLOSED;
		return true;
	}
	return false;
}

static bool bad_message(struct client *cl, uint8_t type)
{
	client_fail(cl, "08P01", "invalid frontend message type '%c'", type);
	return false;
}

/*
 * A request PostgreSQL would have answered with "out of memory": the server
 * gets one that fails without side effects (a Describe of an invalid kind),
 * so that it aborts the transaction and skips to Sync as it would have; its
 * ErrorResponse is replaced by the 53200 one (prep_server_message).
 */
static bool refuse_oom(struct client *cl, struct server *sv, uint32_t want)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	struct prep_client *m = cl->prep;

	if (!m || !m->warned)
		client_log(cl, LOG_LVL_WARNING, "named prepared statements over max_client_prepared_bytes "
			   "(%d; %zu held, %u more asked): answering out of memory",
			   cl->c.w->cfg->max_client_prepared_bytes, m ? m->bytes : 0, want);
	if (m)
		m->warned = true;
	pkt_begin(pb, 'D');
	pkt_u8(pb, 'X');
	pkt_str(pb, "");
	pkt_end(pb);
	return send_to_server(cl, sv, pb, q_push(sv->prep, 'D', RQ_REPLACE, 0, NULL));
}

static bool over_budget(const struct client *cl, size_t cost)
{
	int max = cl->c.w->cfg->max_client_prepared_bytes;
	size_t held = cl->prep ? cl->prep->bytes : 0;

	return max > 0 && (cost > (size_t)max || held > (size_t)max - cost);
}

/*
 * PostgreSQL refuses a second Parse of a name (42P05) after parsing and
 * analysing the text, whose errors come first.  The server gets the text
 * under the name the statement already has there, fails the same way, and
 * the statement's name in the error becomes the client's.
 */
static bool parse_again(struct client *cl, struct server *sv, const struct cstmt *ce,
			const uint8_t *text, uint32_t tlen)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	bool ok = ensure_prepared(cl, sv, ce->ps, pb);

	put_parse(pb, ce->ps->id, text, tlen);
	cl->pool->stats.total.server_parse_count++;
	return send_to_server(cl, sv, pb, ok && q_push(sv->prep, 'P', RQ_REPLACE, ce->ps->id, ce->name));
}

/* Whether the server's transaction may have failed by the time it reads
 * what is sent now: its last ReadyForQuery said so, or answers are due */
static bool maybe_aborted(const struct server *sv)
{
	return sv->txn_status == 'E' || sv->outstanding > 0;
}

/*
 * A Parse of a statement the server has, where PostgreSQL may answer the
 * client's Parse with 25P02 rather than ParseComplete: the server gets a
 * Close of it first, then the Parse, which fails or succeeds as the
 * client's would.  The Close's entry holds the statement, so that if an
 * earlier error makes PostgreSQL skip both, the undo puts it back.
 */
static bool close_ahead(struct prep_server *ps, struct pstmt *st, struct pktbuf *pb)
{
	struct preq *e;

	put_close(pb, st->id);
	e = q_push(ps, 'C', RQ_SKIP, st->id, NULL);
	if (!e)
		return false;
	st->refs++;
	e->ps = st;
	return true;
}

/*
 * In a failed transaction PostgreSQL still answers a Describe of a
 * statement that returns no rows, and checks a Bind's parameter counts
 * before refusing it; pgring's Parse of a statement the server lacks would
 * be refused first.  Whether the server is in that state when it reads what
 * is sent now: it said so, nothing is due, and nothing queued since (an
 * Execute, a Query) can end the transaction.
 */
static bool aborted_for_sure(const struct server *sv)
{
	struct prep_server *ps = sv->prep;

	if (sv->txn_status != 'E' || sv->outstanding > 0)
		return false;
	for (unsigned i = 0; i < ps->qn; i++)
		if (strchr("EQF", q_at(ps, i)->type))
			return false;
	return true;
}

/* Whether pgring answers a Describe of st as PostgreSQL would in a failed
 * transaction, where the server lacks st: its parameters and NoData */
static bool describe_aborted(struct client *cl, struct server *sv, struct pstmt *st, bool *ok)
{
	struct prep_server *ps = sv->prep;
	struct preq *e;

	if (st->shape != SHAPE_NO_ROWS || set_find(ps, st->id) >= 0 || !aborted_for_sure(sv))
		return false;
	*ok = false;
	e = q_push(ps, 't', RQ_FAKE, st->id, NULL);
	if (!e)
		return send_to_server(cl, sv, &cl->c.w->tmp, false), true;
	st->refs++;
	e->ps = st;
	if (!q_push(ps, 'n', RQ_FAKE, st->id, NULL))
		return send_to_server(cl, sv, &cl->c.w->tmp, false), true;
	emit_fakes(sv);
	*ok = true;
	return true;
}

/* Whether a Bind of st, whose body goes on at rest, is one PostgreSQL refuses
 * for its counts ahead of the failed transaction (08P01), where the server
 * lacks st: 1 (counts[] gets them), 0, or -1 when the counts are not in r.
 * The server then gets the Bind without a Parse of st: it fails, and its
 * error is replaced (RQ_BADBIND). */
static int bind_aborted(struct server *sv, const struct pstmt *st, const uint8_t *rest,
			size_t len, uint16_t counts[2])
{
	if (st->nparams < 0 || set_find(sv->prep, st->id) >= 0 || !aborted_for_sure(sv))
		return 0;
	if (!proto_read_bind_counts(rest, len, counts))
		return -1;
	return (counts[0] > 1 && counts[0] != counts[1]) || counts[1] != st->nparams;
}

/* The Bind of ce's statement that bind_aborted() picked, its answer queued */
static struct preq *push_bad_bind(struct server *sv, const struct cstmt *ce,
				  const uint16_t counts[2])
{
	struct preq *e = q_push(sv->prep, 'B', RQ_BADBIND, ce->ps->id, ce->name);

	if (!e)
		return NULL;
	e->aux[0] = counts[0];
	e->aux[1] = counts[1];
	ce->ps->refs++;
	e->ps = ce->ps;
	return e;
}

static bool on_parse(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	struct prep_server *ps = sv->prep;
	const struct cstmt *ce;
	struct proto_names pn;
	const char *name;
	struct pstmt *st;
	uint32_t nlen;
	bool in_set;

	if (!proto_read_names('P', body, len, &pn))
		return bad_message(cl, 'P');
	name = pn.name;
	if (!*name)
		return un_parse(cl, sv, body, len);
	cl->pool->stats.total.client_parse_count++;
	nlen = (uint32_t)strlen(name) + 1;
	if ((ce = cmap_get(cl, name)))
		return parse_again(cl, sv, ce, body + nlen, len - nlen);
	if (over_budget(cl, sizeof(struct cstmt) + nlen + sizeof(struct pstmt) + len - nlen))
		return refuse_oom(cl, sv, len);
	st = registry_get(cl->c.w, body + nlen, len - nlen);
	if (!st || !cmap_put(cl, name, st, false)) {
		if (st && !st->refs)
			pstmt_unref_zero(cl->c.w, st);
		return send_to_server(cl, sv, pb, false);
	}
	if (has_for_sure(sv, st, &in_set) && !maybe_aborted(sv)) {
		/* the server has it: the client gets its ParseComplete in turn */
		if (!q_push(ps, '1', RQ_FAKE, st->id, name))
			return send_to_server(cl, sv, pb, false);
		emit_fakes(sv);
		return true;
	}
	cl->pool->stats.total.server_parse_count++;
	if (in_set && !ps->redo && !close_ahead(ps, st, pb))
		return send_to_server(cl, sv, pb, false);
	return send_to_server(cl, sv, pb, send_parse(sv, st, pb, in_set, RQ_NAMED, name));
}

/* Bind and Describe name a statement: theirs becomes the server's.  Used
 * when the names did not fit in what on_header could see. */
static bool on_bind(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	char sname[PREP_NAME_MAX];
	const char *portal, *stmt;
	const struct cstmt *ce;
	struct proto_names pn;
	uint16_t counts[2];
	size_t used;
	bool ok, bad;

	if (!proto_read_names('B', body, len, &pn))
		return bad_message(cl, 'B');
	portal = pn.portal;
	stmt = pn.name;
	cl->pool->stats.total.bind_count++;
	if (!*stmt && un_ensure(cl, sv, pb) < 0)
		return send_to_server(cl, sv, pb, false);
	if (!*stmt || !(ce = cmap_get(cl, stmt)))
		return forward_as_is(cl, sv, 'B', body, len);	/* the server answers as it would */
	used = pn.used;
	bad = bind_aborted(sv, ce->ps, body + used, len - used, counts) == 1;
	ok = bad || ensure_prepared(cl, sv, ce->ps, pb);
	server_name(sname, ce->ps->id);
	pkt_begin(pb, 'B');
	pkt_str(pb, portal);
	pkt_str(pb, sname);
	pkt_bytes(pb, body + used, len - used);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, ok && (bad ? push_bad_bind(sv, ce, counts) != NULL :
					       q_push(sv->prep, 'B', RQ_RENAME, ce->ps->id, stmt) != NULL));
}

static bool on_describe(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct pktbuf *pb = &cl->c.w->tmp;
	char sname[PREP_NAME_MAX];
	const struct cstmt *ce;
	struct proto_names pn;
	const char *name;
	uint8_t kind;
	bool ok;

	if (!proto_read_names('D', body, len, &pn))
		return bad_message(cl, 'D');
	kind = pn.kind;
	name = pn.name;
	if (kind == 'S' && !*name && un_ensure(cl, sv, pb) < 0)
		return send_to_server(cl, sv, pb, false);
	if (kind != 'S' || !*name || !(ce = cmap_get(cl, name)))
		return forward_as_is(cl, sv, 'D', body, len);
	if (describe_aborted(cl, sv, ce->ps, &ok))
		return ok;
	ok = ensure_prepared(cl, sv, ce->ps, pb);
	server_name(sname, ce->ps->id);
	pkt_begin(pb, 'D');
	pkt_u8(pb, 'S');
	pkt_str(pb, sname);
	pkt_bytes(pb, body + pn.used, len - pn.used);
	pkt_end(pb);
	return send_to_server(cl, sv, pb, ok && q_push(sv->prep, 'D', RQ_RENAME, ce->ps->id, name));
}

/* The client's name goes (the server keeps the statement for others); its
 * CloseComplete is made up.  The queue entry keeps the statement, so that a
 * Close that PostgreSQL would have skipped after an error can be undone. */
static bool close_name(struct client *cl, struct server *sv, const char *name)
{
	struct pstmt *st = cmap_take(cl, name, 0);
	struct preq *e = q_push(sv->prep, '3', RQ_FAKE, 0, st ? name : NULL);

	if (!e) {
		if (st)
			pstmt_unref(cl->c.w, st);
		return send_to_server(cl, sv, &cl->c.w->tmp, false);
	}
	e->ps = st;
	emit_fakes(sv);
	return true;
}

static bool on_close(struct client *cl, struct server *sv, const uint8_t *body, uint32_t len)
{
	struct proto_names pn;

	if (!proto_read_names('C', body, len, &pn))
		return bad_message(cl, 'C');
	if (pn.kind == 'S' && !*pn.name && sv->prep->un_on) {
		sv->prep->un_batch = true;
		return forward_flagged(cl, sv, 'C', body, len, RQ_UNNAMED);
	}
	if (pn.kind != 'S' || !*pn.name)
		return forward_as_is(cl, sv, 'C', body, len);
	return close_name(cl, sv, pn.name);
}

/*
 * Whether a Parse, Bind, Describe or Close names no statement of the
 * client's, judged from the body bytes that have arrived with the header
 * (all of them, or CONN_PEEK_MIN): such a message goes to the server
 * untouched, without a copy.  false when it cannot tell.
 */
static bool names_no_statement(struct client *cl, uint8_t type)
{
	uint8_t b[2 * PREP_NAME_MAX];
	size_t n = conn_peek_body(&cl->c, b, type == 'B' ? sizeof(b) : 2);

	return proto_names_no_statement(type, b, n);
}

/*
 * The new header and names of a Bind or Describe whose statement is the
 * client's, sent after any Parse the server needs; the rest of the body
 * (the parameters: megabytes, maybe) then streams from the client as is.
 */
static enum prep_verdict replace_head(struct client *cl, struct server *sv, uint8_t type,
				      const char *portal, const struct cstmt *ce, uint32_t used,
				      const uint16_t *bad_counts)
{
	struct pstmt *st = ce->ps;
	struct pktbuf *pb = &cl->c.w->tmp;
	char sname[PREP_NAME_MAX];
	uint32_t rest = cl->c.fr.len - used;
	size_t head;
	bool ok;

	server_name(sname, st->id);
	head = (type == 'B' ? strlen(portal) + 1 : 1) + strlen(sname) + 1;
	if (rest > INT32_MAX - 4 - head)
		return PREP_CONSUME;	/* past PostgreSQL's limit: refused when gathered */
	ok = bad_counts || ensure_prepared(cl, sv, st, pb);
	pkt_u8(pb, type);
	pkt_u32(pb, (uint32_t)(4 + head + rest));
	if (type == 'B')
		pkt_str(pb, portal);
	else
		pkt_u8(pb, 'S');
	pkt_str(pb, sname);
	if (!send_to_server(cl, sv, pb, ok && (bad_counts ? push_bad_bind(sv, ce, bad_counts) != NULL :
					       q_push(sv->prep, type, RQ_RENAME, st->id, ce->name) != NULL)))
		return PREP_CLOSED;
	cl->c.fwd_skip = used;
	return PREP_REPLACE_HEAD;
}

static enum prep_verdict queue_as_is(struct client *cl, struct server *sv, uint8_t type)
{
	if (q_push(sv->prep, type, 0, 0, NULL))
		return PREP_FORWARD;
	client_fail(cl, "53200", "out of memory");
	return PREP_CLOSED;
}

/*
 * A named Parse is gathered (its text goes into the registry) up to what
 * the client may still hold under max_client_prepared_bytes; a larger one
 * is answered "out of memory" without being read into memory.  Forwarding
 * it untracked instead would leave the statement on one server only, and
 * the client's next Bind on another server would fail.
 */
static enum prep_verdict parse_header(struct client *cl, struct server *sv)
{
	uint32_t len = cl->c.fr.len;
	int max = cl->c.w->cfg->max_client_prepared_bytes;

	if (over_budget(cl, len)) {
		cl->pool->stats.total.client_parse_count++;
		return refuse_oom(cl, sv, len) ? PREP_DROP : PREP_CLOSED;
	}
	cl->c.gather_max = max > 0 ? (uint32_t)max : UINT32_MAX;
	return PREP_CONSUME;
}

/* A Parse, Bind, Describe or Close that names a statement of the client's */
static enum prep_verdict named_header(struct client *cl, struct server *sv, uint8_t type)
{
	uint8_t b[CONN_PEEK_MIN];
	const char *portal, *name;
	const struct cstmt *ce;
	struct proto_names pn;
	uint16_t counts[2];
	size_t n;
	bool ok;
	int bad;

	if (type == 'P')
		return parse_header(cl, sv);
	n = conn_peek_body(&cl->c, b, sizeof(b));
	if (!proto_read_names(type, b, n, &pn))
		return PREP_CONSUME;	/* longer names than the peek: gathered */
	portal = pn.portal;
	name = pn.name;
	if (type == 'C' && cl->c.fr.len == pn.used)
		return close_name(cl, sv, name) ? PREP_DROP : PREP_CLOSED;
	if (type == 'C')
		return PREP_CONSUME;	/* bytes after the name: on_close sees them */
	ce = pn.kind == 'S' ? cmap_get(cl, name) : NULL;
	bad = type == 'B' && ce ? bind_aborted(sv, ce->ps, b + pn.used, n - pn.used, counts) : 0;
	if (bad < 0)
		return PREP_CONSUME;	/* the counts are further on: on_bind */
	if (type == 'B')
		cl->pool->stats.total.bind_count++;
	if (!ce)
		return queue_as_is(cl, sv, type);	/* the server answers as it would */
	if (type == 'D' && describe_aborted(cl, sv, ce->ps, &ok))
		return ok ? PREP_DROP : PREP_CLOSED;
	return replace_head(cl, sv, type, portal, ce, (uint32_t)pn.used, bad ? counts : NULL);
}

/* The statement name a Parse, Bind, Describe or Close starts with, from
 * the bytes that came with its header; false if none or not all there */
static bool peek_name(struct client *cl, uint8_t type, char *out, size_t outlen)
{
	uint8_t b[CONN_PEEK_MIN];
	struct proto_names pn;

	if (!proto_read_names(type, b, conn_peek_body(&cl->c, b, sizeof(b)), &pn) ||
	    pn.kind != 'S' || !*pn.name || strlen(pn.name) >= outlen)
		return false;
	strcpy(out, pn.name);
	return true;
}

/* Whether a failed transaction would change what PostgreSQL answers a
 * Bind or Describe of the client's name, on this server that lacks it */
static bool shape_matters(struct client *cl, struct server *sv, uint8_t type, const char *name)
{
	const struct cstmt *ce = cmap_get(cl, name);

	if (!ce || set_find(sv->prep, ce->ps->id) >= 0)
		return false;
	return type == 'D' ? ce->ps->shape == SHAPE_NO_ROWS : ce->ps->nparams >= 0;
}

/* A Bind or Describe of the unnamed statement whose server may or may not
 * hold the client's, depending on pipelines not yet answered */
static bool un_must_wait(struct client *cl, struct prep_server *ps, uint8_t type)
{
	uint8_t b[CONN_PEEK_MIN];
	struct proto_names pn;

	if (!ps->un_on || ps->un_same || ps->un_batch || (!ps->nsync && !ps->nquery) ||
	    (type != 'B' && type != 'D'))
		return false;
	return proto_read_names(type, b, conn_peek_body(&cl->c, b, sizeof(b)), &pn) &&
	       pn.kind == 'S' && !*pn.name;
}

bool prep_client_must_wait(struct client *cl, uint8_t type)
{
	struct server *sv = cl->server;
	char name[CONN_PEEK_MIN];
	bool wait;

	if (sv && sv->prep_on && un_must_wait(cl, sv->prep, type)) {
		sv->prep->client_waits = true;
		return true;
	}
	if (!sv || !sv->prep_on || sv->prep->track_only || !strchr("PBDC", type) ||
	    (!sv->prep->neffect_synced && !sv->prep->nquery &&
	     !(sv->outstanding > 0 && strchr("BD", type))) ||
	    !peek_name(cl, type, name, sizeof(name)))
		return false;
	/* a Query ahead may be a DISCARD ALL or DEALLOCATE ALL, after which the
	 * client's names are gone: PostgreSQL's answer depends on it; a
	 * pipeline ahead may leave the transaction failed (aborted_for_sure) */
	wait = (sv->prep->neffect_synced && pending_before_sync(sv->prep, 0, name)) ||
	       (sv->prep->nquery && *name && cmap_get(cl, name)) ||
	       (sv->outstanding > 0 && strchr("BD", type) && shape_matters(cl, sv, type, name));
	if (wait)
		sv->prep->client_waits = true;
	return wait;
}

static void resume_client(void *arg)
{
	struct client *cl = arg;

	conn_process(&cl->c);
}

/* A pipeline has been answered: a client waiting for it goes on (at the
 * end of the loop turn, outside this server's processing) */
static void wake_client(struct server *sv)
{
	struct client *cl = sv->client;

	if (!sv->prep->client_waits || !cl || cl->c.closing)
		return;
	sv->prep->client_waits = false;
	if (loop_defer(sv->c.w->loop, resume_client, cl) != 0)
		conn_process(&cl->c);
}

/*
 * A Query or FunctionCall that PostgreSQL skips, having failed an extended
 * request before it with no Sync between: it gets no ReadyForQuery of its
 * own (the Sync's answers for all), so the count of those to come, which
 * gives the server back in transaction mode, drops by one.
 */
static void query_skipped(struct server *sv)
{
	if (sv->outstanding > 0)
		sv->outstanding--;
}

enum prep_verdict prep_client_header(struct client *cl, uint8_t type)
{
	struct server *sv = cl->server;
	enum prep_verdict v;
	struct stats *st;

	if (!sv || !sv->prep_on)
		return PREP_FORWARD;
	if (sv->prep->skipping) {
		/* no answer, no effect: the server drops it unread */
		if (type == 'Q' || type == 'F') {
			query_skipped(sv);
			sv->unsynced = true;	/* the server still waits for a Sync */
		}
		if (type != 'S')
			return PREP_FORWARD;
		sv->prep->skipping = false;
	}
	switch (type) {
	case 'P':
	case 'B':
	case 'D':
	case 'C':
		if (sv->prep->un_on && un_header(cl, sv, type, &v))
			return v;
		if (sv->prep->track_only)
			return queue_as_is(cl, sv, type);
		if (!names_no_statement(cl, type))
			return named_header(cl, sv, type);
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
	case 'F':
		return queue_as_is(cl, sv, type);
	case 'S':
		sv->prep->un_batch = false;
		return queue_as_is(cl, sv, type);
	case 'Q':	/* drops the unnamed statement */
		return sv->prep->un_on ? un_queue(cl, sv, type) : queue_as_is(cl, sv, type);
	default:
		return PREP_FORWARD;	/* Flush and COPY data get no answer of their own */
	}
}

bool prep_client_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct server *sv = cl->server;

	if (!sv || !sv->prep_on)
		return !cl->c.closing;
	if (type == 'P' && sv->prep->un_on && len && !body[0])
		return un_parse(cl, sv, body, len);	/* gathered by un_header */
	if (sv->prep->track_only)
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

/*
 * A Close PostgreSQL skipped: the statement is still there.  Unless, in a
 * pipeline of several Syncs, what was there before the Close was itself
 * unsure (redo): then the set forgets it, since a set that lacks a statement
 * the server has costs a Close before the next Parse of it, while a set that
 * lists one the server lacks would fail the Bind.
 */
static void unclose(struct server *sv, struct preq *e)
{
	struct pstmt *st = e->ps;

	e->ps = NULL;
	if (sv->prep->redo || set_find(sv->prep, st->id) >= 0) {
		pstmt_unref(sv->c.w, st);
	} else if (!set_insert(sv, st)) {
		pstmt_unref(sv->c.w, st);
		set_lost(sv, "out of memory");
	}
}

/* A request that PostgreSQL skipped did not happen: its effect on pgring's
 * view goes */
static void undo(struct server *sv, struct preq *e)
{
	struct client *cl = sv->client;

	if (e->flags & RQ_UNNAMED)
		return;		/* skipped: the unnamed statements stay as they were */
	switch (e->type) {
	case 'P':
		if (!(e->flags & RQ_REPLACE))
			set_remove(sv, e->id);
		if ((e->flags & RQ_NAMED) && cl)
			cmap_del(cl, e->name, e->id);
		break;
	case '1':
		if (e->name && cl)
			cmap_del(cl, e->name, e->id);
		break;
	case 'C':
		if (e->ps)
			unclose(sv, e);
		break;
	case '3':
		if (e->ps && cl && cmap_put(cl, e->name, e->ps, true))
			e->ps = NULL;
		break;
	default:
		break;
	}
}

/*
 * An ErrorResponse to an extended-protocol request: PostgreSQL skips all up
 * to the next Sync, so those requests get no answers and did not happen.
 * They are undone newest first, which restores pgring's view as it was
 * before the failed request, whatever they did to the same statement (a
 * Close of one, then a Parse of it again).  Pipelines sent after the next
 * Sync were built on the view before the undo: where they touched the same
 * statements, they were sent with a Close ahead of each Parse (redo), and
 * the undo leaves the set short rather than long (see unclose).
 */
static void error_skip(struct server *sv)
{
	struct prep_server *ps = sv->prep;
	unsigned n = 0;

	while (n < ps->qn && q_at(ps, n)->type != 'S')
		n++;
	ps->skipping = n == ps->qn;
	for (unsigned i = n; i-- > 0;) {
		struct preq *e = q_at(ps, i);

		if (e->type == 'Q' || e->type == 'F')
			query_skipped(sv);
		undo(sv, e);
	}
	while (n--)
		q_pop(sv);
	if (ps->skipping)
		sv->unsynced = true;	/* the server waits for the client's Sync */
	/* a client waiting for a skipped Query's answer would wait for ever:
	 * what it waits for is gone, it looks again */
	wake_client(sv);
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
			if (h->flags & RQ_UNNAMED)
				un_settle(sv, h, true);
			q_pop(sv);
			emit_fakes(sv);
			return 2;
		}
		return 1;
	case 'E':
		return h && (h->flags & (RQ_REPLACE | RQ_RENAME | RQ_BADBIND)) ? 3 : 1;
	case 't':
		return h && h->type == 'D' && (h->flags & RQ_SKIP) ? 3 : 0;
	case 'T':
	case 'n':
		if (h && h->type == 'D')
			return h->flags & RQ_SKIP ? 3 : 1;
		return type == 'n' ? 1 : 0;
	case '2':
	case 'C':
	case 'I':
	case 's':
	case 'Z':
		return 1;
	default:
		return 0;
	}
}

/* v with the first whole-word occurrence of from replaced by to */
static void put_renamed(struct pktbuf *pb, const char *v, const char *from, const char *to)
{
	size_t n = strlen(from);

	for (const char *p = strstr(v, from); p; p = strstr(p + 1, from)) {
		if (p[n] >= '0' && p[n] <= '9')
			continue;
		pkt_bytes(pb, v, (size_t)(p - v));
		pkt_bytes(pb, to, strlen(to));
		pkt_str(pb, p + n);
		return;
	}
	pkt_str(pb, v);
}

/* The answers to pgring's Describe of a statement it has just prepared:
 * what PostgreSQL would answer a client's Describe of it in a failed
 * transaction, and the parameter count a Bind must supply */
static void learn_shape(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct pstmt *st = q_head(sv->prep)->ps;
	uint8_t *copy;

	if (!st || st->shape != SHAPE_UNKNOWN)
		return;
	if (type == 't') {
		if (st->pdesc || len < 2 || !(copy = malloc(len)))
			return;		/* without it, the statement stays unknown */
		memcpy(copy, body, len);
		st->pdesc = copy;
		st->pdesc_len = len;
		st->nparams = body[0] << 8 | body[1];
		sv->c.w->prep->bytes += len;
	} else if (st->pdesc) {
		st->shape = type == 'n' ? SHAPE_NO_ROWS : SHAPE_ROWS;
	}
}

/* The client's ErrorResponse in place of the server's to e: PostgreSQL's,
 * with the statement called by the client's name, or 53200 for a request
 * that stood in for an out-of-memory refusal */
static void send_replaced_error(struct server *sv, const struct preq *e, const uint8_t *body,
				uint32_t len)
{
	struct pktbuf *pb = &sv->c.w->tmp;
	char sname[PREP_NAME_MAX];
	struct msg_rd r;

	if (!sv->client)
		return;
	pkt_begin(pb, 'E');
	if (e->flags & RQ_BADBIND) {
		char m[96];

		pkt_u8(pb, 'S');
		pkt_str(pb, "ERROR");
		pkt_u8(pb, 'V');
		pkt_str(pb, "ERROR");
		pkt_u8(pb, 'C');
		pkt_str(pb, "08P01");
		pkt_u8(pb, 'M');
		if (e->aux[0] > 1 && e->aux[0] != e->aux[1]) {
			snprintf(m, sizeof(m), "bind message has %u parameter formats but %u parameters",
				 e->aux[0], e->aux[1]);
			pkt_str(pb, m);
		} else {
			snprintf(m, sizeof(m), "bind message supplies %u parameters, but prepared "
				 "statement \"", e->aux[1]);
			pkt_bytes(pb, m, strlen(m));
			pkt_bytes(pb, e->name, strlen(e->name));
			snprintf(m, sizeof(m), "\" requires %d", e->ps->nparams);
			pkt_str(pb, m);
		}
	} else if (!(e->flags & RQ_RENAME) && e->type != 'P') {
		pkt_u8(pb, 'S');
		pkt_str(pb, "ERROR");
		pkt_u8(pb, 'V');
		pkt_str(pb, "ERROR");
		pkt_u8(pb, 'C');
		pkt_str(pb, "53200");
		pkt_u8(pb, 'M');
		pkt_str(pb, "out of memory");
		pkt_u8(pb, 'D');
		pkt_str(pb, "The client's prepared statements would take more than "
			"max_client_prepared_bytes in pgring.");
	} else {
		server_name(sname, e->id);
		rd_init(&r, body, len);
		for (;;) {
			uint8_t code = rd_u8(&r);
			const char *v = code ? rd_str(&r) : NULL;

			if (!v)
				break;
			pkt_u8(pb, code);
			if (code == 'M' || code == 'D')
				put_renamed(pb, v, sname, e->name);
			else
				pkt_str(pb, v);
		}
	}
	pkt_u8(pb, 0);
	pkt_end(pb);
	/* false: the client is already being failed, and that is logged */
	if (!conn_send_pkt(&sv->client->c, pb))
		return;
}

/* An error that names one of pgring's statements: the server does not hold
 * what pgring thinks (a client's DEALLOCATE or PREPARE of a PGRING_ name, or
 * a Close or Parse skipped after a Sync that had been sent) */
static void check_error(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct error_fields ef;

	if (proto_parse_error(body, len, &ef) < 0 || !ef.sqlstate || !ef.message)
		return;
	if ((!strcmp(ef.sqlstate, "42P05") || !strcmp(ef.sqlstate, "26000")) &&
	    strstr(ef.message, "PGRING_"))
		set_lost(sv, ef.message);
}

/* Whether a request queued at from..to-1 (behind the head: sent after the
 * Query being answered) prepared statement id on the server (id != 0), or
 * gave the client the name (name != NULL) */
static bool prepared_between(const struct prep_server *ps, unsigned from, unsigned to,
			     uint64_t id, const char *name)
{
	for (unsigned i = from; i < to; i++) {
		const struct preq *e = &ps->q[(ps->qhead + i) % ps->qcap];

		if (id && e->type == 'P' && e->id == id && !(e->flags & RQ_REPLACE))
			return true;
		if (name && e->name && (e->type == 'P' || e->type == '1') &&
		    !strcmp(e->name, name))
			return true;
	}
	return false;
}

static bool prepared_later(const struct prep_server *ps, uint64_t id, const char *name)
{
	return prepared_between(ps, 1, ps->qn, id, name);
}

/*
 * A DISCARD ALL or DEALLOCATE ALL completed: what was prepared before its
 * Query is gone, on the server and for the client.  A client may pipeline
 * Parses behind it in the same write: those ran after it and stay.  Closes
 * queued behind it keep their statement to put it back if PostgreSQL skips
 * them; a statement gone with the Query must not come back that way.
 */
static void forget_before_head(struct server *sv)
{
	struct prep_server *ps = sv->prep;

	for (unsigned i = ps->nset; i-- > 0;)
		if (!prepared_later(ps, ps->set[i].ps->id, NULL))
			set_drop(sv, i);
	if (sv->client)
		cmap_prune(sv->client, ps);
	for (unsigned i = 1; i < ps->qn; i++) {
		struct preq *e = q_at(ps, i);

		if (!e->ps || (e->type != 'C' && e->type != '3') ||
		    prepared_between(ps, 1, i, e->type == 'C' ? e->id : 0,
				     e->type == '3' ? e->name : NULL))
			continue;
		pstmt_unref(sv->c.w, e->ps);
		e->ps = NULL;
	}
}

static void on_command_complete(struct server *sv, const uint8_t *body, uint32_t len)
{
	/* the session's statements are gone: the server's and the client's */
	if (proto_tag_is(body, len, "DISCARD ALL") || proto_tag_is(body, len, "DEALLOCATE ALL")) {
		forget_before_head(sv);
	} else if (proto_tag_is(body, len, "DEALLOCATE")) {
		/* which one is not said: it may have been one of pgring's */
		set_lost(sv, "a client ran DEALLOCATE");
	}
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
		if (h && h->type == 'Q')
			un_settle(sv, h, true);
		if (h && (h->type == 'S' || h->type == 'Q' || h->type == 'F'))
			q_pop(sv);
		wake_client(sv);
		break;
	case '1':
		if (h && h->type == 'P') {
			if (h->flags & RQ_REPLACE)	/* the server lacked what pgring thought */
				set_lost(sv, "a statement pgring had prepared was missing");
			if (h->flags & RQ_UNNAMED)
				un_settle(sv, h, true);
			q_pop(sv);
		}
		break;
	case '2':
		if (h && h->type == 'B')
			q_pop(sv);
		break;
	case '3':
		if (h && h->type == 'C') {
			if (h->flags & RQ_UNNAMED)
				un_settle(sv, h, true);
			q_pop(sv);
		}
		break;
	case 't':
		if (h && h->type == 'D' && (h->flags & RQ_SKIP))
			learn_shape(sv, type, body, len);
		break;
	case 'T':
	case 'n':
		if (h && h->type == 'D') {
			if (h->flags & RQ_SKIP)
				learn_shape(sv, type, body, len);
			q_pop(sv);
		}
		break;
	case 'C':
		if (!ps->track_only)
			on_command_complete(sv, body, len);
		/* fall through */
	case 'I':
	case 's':
		if (h && h->type == 'E')
			q_pop(sv);
		break;
	case 'E':
		if (!ps->track_only && (!h || !(h->flags & (RQ_REPLACE | RQ_BADBIND))))
			check_error(sv, body, len);
		if (h && (h->flags & (RQ_REPLACE | RQ_RENAME | RQ_BADBIND)))
			send_replaced_error(sv, h, body, len);
		if (h && (h->flags & RQ_UNNAMED))
			un_settle(sv, h, false);
		if (h && h->type != 'Q' && h->type != 'F' && h->type != 'S')
			error_skip(sv);
		break;
	default:
		break;
	}
	emit_fakes(sv);
}
