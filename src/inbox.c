/* inbox.c - a worker's mailbox: messages from other threads, and an eventfd its loop polls */

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "inbox.h"

int inbox_init(struct inbox *in)
{
	in->head = NULL;
	in->tailp = &in->head;
	in->writes = 0;
	in->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->efd < 0)
		return -errno;
	pthread_mutex_init(&in->lock, NULL);
	return 0;
}

void inbox_free(struct inbox *in)
{
	if (in->efd < 0)
		return;
	close(in->efd);
	in->efd = -1;
	pthread_mutex_destroy(&in->lock);
}

int inbox_post(struct inbox *in, struct inbox_msg *m)
{
	uint64_t one = 1;
	bool was_empty;

	m->next = NULL;
	pthread_mutex_lock(&in->lock);
	was_empty = !in->head;
	*in->tailp = m;
	in->tailp = &m->next;
	pthread_mutex_unlock(&in->lock);
	if (!was_empty)
		return 0;	/* whoever made it non-empty woke the receiver */
	for (;;) {
		ssize_t r = write(in->efd, &one, sizeof(one));

		__atomic_fetch_add(&in->writes, 1, __ATOMIC_RELAXED);
		if (r >= 0)
			break;
		/* EAGAIN: the counter is full, so the receiver is awake anyway */
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/*
 * The eventfd is cleared before the splice: a post that lands after the
 * read is either in the splice or, finding the list empty after it, wakes
 * the receiver again.  No post is left without a wake-up.
 */
uint64_t inbox_writes(const struct inbox *in)
{
	return __atomic_load_n(&in->writes, __ATOMIC_RELAXED);
}

struct inbox_msg *inbox_take(struct inbox *in)
{
	struct inbox_msg *list;
	uint64_t n;

	while (read(in->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&in->lock);
	list = in->head;
	in->head = NULL;
	in->tailp = &in->head;
	pthread_mutex_unlock(&in->lock);
	return list;
}
