/* xcancel.c - CancelRequests whose client lives on another worker (doc/workers.md, "Cancel")
 *
 * A CancelRequest lands on the worker the kernel chose for its connection;
 * the key names the worker of the client it cancels (CANCEL_KEY_WORKER).
 * The worker that got it (the asker) never touches the owner's state: it
 * posts the key to the owner, which looks the client up in its cancel index
 * and answers with what a cancel connection needs (struct cancel_target),
 * or nothing.  The asker opens the cancel connection itself, so the
 * request's socket never changes worker, and once connected asks the owner
 * again whether the client still holds that server (the check cancel_ready
 * makes on one worker), so that a cancel never hits the next client's query.
 *
 * The asker's side of each question is a struct xcancel on its worker's
 * list: the CancelRequest connection, or the cancel connection, waiting for
 * the answer.  Either may go before the answer comes; it then clears its
 * pointer and the answer only frees.  A message carries the record's
 * address back and forth; only the asker's thread reads the record.
 */

#include <stdlib.h>

#include "process.h"
#include "worker.h"

struct xcancel {
	struct xcancel *next, **pprev;	/* worker->xcancels */
	struct client *req;		/* the CancelRequest connection, until it goes */
	struct server *sv;		/* the cancel connection, until it goes */
};

/* A question (run on the owner) that becomes its answer (run on the asker). */
struct xcancel_msg {
	struct wmsg m;
	unsigned asker;
	struct xcancel *rec;		/* the asker's; the owner only hands it back */
	uint32_t pid, key;		/* the key to look up */
	uint64_t server_id;		/* a confirmation: the server the client held */
	bool found;			/* the answer */
	struct cancel_target t;		/* a lookup's answer, when found */
};

static struct xcancel *rec_new(struct worker *w)
{
	struct xcancel *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->next = w->xcancels;
	if (x->next)
		x->next->pprev = &x->next;
	x->pprev = &w->xcancels;
	w->xcancels = x;
	return x;
}

static void rec_free(struct xcancel *x)
{
	*x->pprev = x->next;
	if (x->next)
		x->next->pprev = x->pprev;
	free(x);
}

void xcancel_free_all(struct worker *w)
{
	while (w->xcancels)
		rec_free(w->xcancels);
}

void xcancel_req_gone(struct client *req)
{
	req->xc->req = NULL;
	req->xc = NULL;
}

void xcancel_sv_gone(struct server *sv)
{
	sv->xc->sv = NULL;
	sv->xc = NULL;
}

bool cancel_target_holds(struct worker *w, uint32_t pid, uint32_t key, uint64_t server_id)
{
	struct client *cl = client_by_cancel_key(w, pid, key);

	return cl && cl->state == CL_ACTIVE && cl->server && cl->server->c.id == server_id;
}

/* A question about rec, from w; NULL when out of memory */
static struct xcancel_msg *msg_new(struct worker *w, struct xcancel *rec)
{
	struct xcancel_msg *xm = calloc(1, sizeof(*xm));

	if (xm) {
		xm->asker = w->index;
		xm->rec = rec;
	}
	return xm;
}

/* The owner's answer goes back in the question's own message: nothing to
 * allocate, so nothing can fail on the owner's side. */
static void answer(struct xcancel_msg *xm, void (*run)(struct worker *, struct wmsg *),
		   struct worker *owner)
{
	xm->m.run = run;
	worker_post(owner->proc->workers[xm->asker], &xm->m);
}

/* ---- the lookup: who holds the key, and where is its server ---- */

static void lookup_answered(struct worker *w, struct wmsg *m)
{
	struct xcancel_msg *xm = (struct xcancel_msg *)m;
	struct xcancel *x = xm->rec;
	struct client *req;

	if (!w->loop || w->exiting) {	/* the record goes with the worker */
		free(xm);
		return;
	}
	req = x->req;
	rec_free(x);
	if (req)
		req->xc = NULL;
	log_debug(w->log, "cancel request for key %08x: worker %u says %s%s", xm->pid,
		  CANCEL_KEY_WORKER(xm->pid), xm->found ? "its query is canceled" :
		  "no such client, or it is idle", req ? "" : " (its requester is gone)");
	/* a requester that went (a client that closes, or half-closes, once
	 * its CancelRequest is written) still has its query canceled, as on
	 * one worker, where the cancel is under way by then */
	if (xm->found)
		server_send_cancel_to(w, req, &xm->t);	/* req closes once the cancel is out */
	else if (req)
		client_cancel_done(req);	/* as PostgreSQL: no answer, just the close */
	free(xm);
}

static void lookup_run(struct worker *w, struct wmsg *m)
{
	struct xcancel_msg *xm = (struct xcancel_msg *)m;
	struct client *cl;

	/* exiting, this worker's clients are gone or going: "none", so that
	 * the asker lets its request go (the asker's inbox outlives us) */
	if (w->loop && !w->exiting) {
		cl = client_cancel_target(w, xm->pid, xm->key);
		if (cl && cl->server && cl->state == CL_ACTIVE) {
			struct server *tsv = cl->server;

			xm->found = true;
			xm->t = (struct cancel_target){
				.addr = tsv->addr, .addrlen = tsv->addrlen,
				.pid = tsv->pid, .key = tsv->key,
				.cl_pid = cl->cancel_pid, .cl_key = cl->cancel_key,
				.server_id = tsv->c.id, .owner = w->index,
			};
		}
	}
	answer(xm, lookup_answered, w);
}

bool xcancel_route(struct client *req, uint32_t pid, uint32_t key)
{
	struct worker *w = req->c.w;
	struct process *p = w->proc;
	unsigned owner = CANCEL_KEY_WORKER(pid);
	struct xcancel_msg *xm;
	struct xcancel *x;

	if (!p || p->nworkers < 2 || owner == w->index || owner >= (unsigned)p->nworkers)
		return false;
	x = rec_new(w);
	xm = x ? msg_new(w, x) : NULL;
	if (!xm) {
		if (x)
			rec_free(x);
		log_warning(w->log, "cancel request for worker %u dropped: out of memory", owner);
		client_fail(req, "53200", "out of memory");
		return true;
	}
	x->req = req;
	req->xc = x;
	xm->pid = pid;
	xm->key = key;
	xm->m.run = lookup_run;
	worker_post(p->workers[owner], &xm->m);
	return true;
}

/* ---- the confirmation: connected, does the client still hold the server? ---- */

static void confirm_answered(struct worker *w, struct wmsg *m)
{
	struct xcancel_msg *xm = (struct xcancel_msg *)m;
	struct xcancel *x = xm->rec;
	struct server *sv;

	if (!w->loop || w->exiting) {
		free(xm);
		return;
	}
	sv = x->sv;
	rec_free(x);
	if (sv) {
		sv->xc = NULL;
		if (!sv->c.closing)	/* else given up meanwhile (cancel_wait_timeout) */
			server_cancel_go(sv, xm->found);
	}
	free(xm);
}

static void confirm_run(struct worker *w, struct wmsg *m)
{
	struct xcancel_msg *xm = (struct xcancel_msg *)m;

	xm->found = w->loop && !w->exiting &&
		    cancel_target_holds(w, xm->pid, xm->key, xm->server_id);
	answer(xm, confirm_answered, w);
}

void xcancel_confirm(struct server *sv)
{
	struct worker *w = sv->c.w;
	struct xcancel_msg *xm;
	struct xcancel *x = rec_new(w);

	xm = x ? msg_new(w, x) : NULL;
	if (!xm) {
		if (x)
			rec_free(x);
		log_warning(w->log, "cancel request dropped: out of memory");
		server_close(sv, NULL);
		return;
	}
	x->sv = sv;
	sv->xc = x;
	xm->pid = sv->cancel_cl_pid;
	xm->key = sv->cancel_cl_key;
	xm->server_id = sv->cancel_target_id;
	xm->m.run = confirm_run;
	worker_post(w->proc->workers[sv->cancel_owner], &xm->m);
}
