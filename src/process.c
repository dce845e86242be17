/* process.c - what every worker of one pgring process shares (doc/workers.md) */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process.h"
#include "worker.h"

int process_init(struct process *p, struct logger *log, int nworkers)
{
	memset(p, 0, sizeof(*p));
	p->log = log;
	atomic_init(&p->clients.n, 0);
	atomic_init(&p->exit_code, 0);
	atomic_init(&p->main_syscalls, 0);
	p->nworkers = nworkers < 1 ? 1 : nworkers;
	p->workers = calloc((size_t)p->nworkers, sizeof(*p->workers));
	p->inboxes = calloc((size_t)p->nworkers, sizeof(*p->inboxes));
	if (!p->workers || !p->inboxes)
		goto fail;
	if (limit_table_init(&p->limits) < 0)
		goto fail;
	p->have_limits = true;
	p->limits.nworkers = (unsigned)p->nworkers;
	for (; p->ninboxes < p->nworkers; p->ninboxes++)
		if (inbox_init(&p->inboxes[p->ninboxes]) < 0)
			goto fail;
	return 0;
fail:
	process_free(p);
	return -1;
}

void process_add(struct process *p, struct worker *w, int index)
{
	w->proc = p;
	w->index = (unsigned)index;
	p->workers[index] = w;
}

void process_free(struct process *p)
{
	for (int i = 0; i < p->ninboxes; i++) {
		struct inbox_msg *m = inbox_take(&p->inboxes[i]);

		/* a worker that never ran: what was posted to it goes with it */
		while (m) {
			struct inbox_msg *next = m->next;

			free(m);
			m = next;
		}
		inbox_free(&p->inboxes[i]);
	}
	p->ninboxes = 0;
	free(p->inboxes);
	p->inboxes = NULL;
	if (p->have_limits)
		limit_table_free(&p->limits);
	p->have_limits = false;
	free(p->workers);
	p->workers = NULL;
	p->nworkers = 0;
}

void worker_post(struct worker *to, struct wmsg *m)
{
	struct process *p = to->proc;
	int ret = inbox_post(&p->inboxes[to->index], &m->im);

	if (ret < 0)
		log_error(p->log, "worker %u: could not wake it: %s (the message waits for the "
			  "next wake-up)", to->index, strerror(-ret));
}

static void run_list(struct worker *w, struct inbox_msg *m)
{
	while (m) {
		struct inbox_msg *next = m->next;
		struct wmsg *wm = (struct wmsg *)m;

		wm->run(w, wm);		/* frees wm */
		m = next;
	}
}

static void inbox_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct worker *w = list_entry(op, struct worker, inbox_op);

	(void)res;
	++*loop_syscalls(loop);		/* inbox_take's read of the eventfd */
	run_list(w, inbox_take(&w->proc->inboxes[w->index]));
	if (!more && w->inbox_on && !op->armed)
		loop_poll(loop, &w->inbox_sock, &w->inbox_op, inbox_cb);
}

int worker_inbox_start(struct worker *w)
{
	struct inbox *in = &w->proc->inboxes[w->index];

	if (loop_sock_open(w->loop, &w->inbox_sock, in->efd) < 0)
		return -1;
	/* inbox_take reads it whether or not a wake-up is pending: it must
	 * not block, whatever the backend made of it (the fd stays the
	 * inbox's: no loop_sock_close) */
	if (fcntl(in->efd, F_SETFL, O_NONBLOCK) < 0)
		return -1;
	w->inbox_on = true;
	loop_poll(w->loop, &w->inbox_sock, &w->inbox_op, inbox_cb);
	return 0;
}

void worker_inbox_stop(struct worker *w)
{
	if (!w->inbox_on)
		return;
	w->inbox_on = false;
	if (w->inbox_op.armed)
		loop_cancel(w->loop, &w->inbox_op);
}

uint64_t worker_syscalls_off_loop(const struct worker *w)
{
	const struct process *p = w->proc;
	uint64_t n;

	if (!p)
		return log_syscalls(w->log);
	n = (int)w->index < p->ninboxes ? inbox_writes(&p->inboxes[w->index]) : 0;
	n += log_tally_syscalls(p->log, (int)w->index);
	if (w->index == 0)
		n += log_syscalls(p->log) + atomic_load(&p->main_syscalls);
	return n;
}

void worker_inbox_drain(struct worker *w)
{
	run_list(w, inbox_take(&w->proc->inboxes[w->index]));
}
