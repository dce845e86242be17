/* suspend.c - SUSPEND and RESUME: every socket but the console's stops being read once flushed */

#include "worker.h"

/*
 * PgBouncer's SUSPEND: "All socket buffers are flushed and PgBouncer stops
 * listening for data on them."  Clients and servers in use are frozen one by
 * one, each once it is at a message boundary with nothing left to pass on;
 * those still logging in, waiting for a server or running a reset query
 * count as busy until they are done, as PgBouncer counts its login, waiting
 * and used lists.  Cancel connections finish on their own.  Nothing is
 * answered or refused meanwhile: what clients send waits in the kernel until
 * RESUME.
 */

static bool client_quiet(struct client *cl, bool force)
{
	bool quiet;

	switch (cl->state) {
	case CL_IDLE:
	case CL_ACTIVE:
		quiet = conn_quiesce(&cl->c);
		break;
	case CL_LOGIN:
	case CL_WAIT_LOGIN:
	case CL_WAITING:
		conn_thaw(&cl->c);	/* frozen while idle, then read on */
		quiet = false;
		break;
	default:		/* cancel requests, closing */
		return true;
	}
	if (quiet || !force)
		return quiet;
	client_fail(cl, "08P01", "suspend_timeout");
	return true;
}

static unsigned servers_busy(struct list *l, bool can_freeze, bool force)
{
	struct list_node *pos, *tmp;
	unsigned busy = 0;

	list_for_each_safe(pos, tmp, l) {
		struct server *sv = list_entry(pos, struct server, node);

		if (!can_freeze)
			conn_thaw(&sv->c);	/* a reset query's answer is read */
		if (sv->c.closing || (can_freeze && conn_quiesce(&sv->c)))
			continue;
		if (force)
			server_close(sv, "suspend_timeout");
		else
			busy++;
	}
	return busy;
}

unsigned suspend_step(struct worker *w, bool force)
{
	struct list_node *pos, *tmp;
	unsigned busy = 0;

	list_for_each_safe(pos, tmp, &w->clients) {
		struct client *cl = list_entry(pos, struct client, all);

		if (!cl->console && !client_quiet(cl, force))
			busy++;
	}
	list_for_each(pos, &w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		busy += servers_busy(&p->idle_servers, true, force);
		busy += servers_busy(&p->active_servers, true, force);
		busy += servers_busy(&p->login_servers, false, force);
		busy += servers_busy(&p->used_servers, false, force);
	}
	return busy;
}

static void thaw_servers(struct list *l)
{
	struct list_node *pos;

	list_for_each(pos, l)
		conn_thaw(&list_entry(pos, struct server, node)->c);
}

void suspend_thaw_all(struct worker *w)
{
	struct list_node *pos;

	list_for_each(pos, &w->clients)
		conn_thaw(&list_entry(pos, struct client, all)->c);
	list_for_each(pos, &w->pools) {
		struct pool *p = list_entry(pos, struct pool, node);

		thaw_servers(&p->idle_servers);
		thaw_servers(&p->active_servers);
		thaw_servers(&p->login_servers);
		thaw_servers(&p->used_servers);
	}
}
