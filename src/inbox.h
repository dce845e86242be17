/* inbox.h - a worker's mailbox: messages from other threads, and an eventfd its loop polls */
#ifndef PGRING_INBOX_H
#define PGRING_INBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Embedded in whatever a sender allocates; the receiver owns it once taken. */
struct inbox_msg {
	struct inbox_msg *next;
	int type;
};

/*
 * Many senders, one receiver (doc/workers.md, "Messages").  The eventfd is
 * written only when a post finds the list empty, so a burst costs the
 * senders one system call and the receiver one wake-up; the mutex is held
 * for a pointer splice, never across a system call.
 */
struct inbox {
	pthread_mutex_t lock;
	struct inbox_msg *head, **tailp;
	int efd;		/* readable while messages may wait */
	/* write(2)s made on the eventfd, by whichever thread posted: SHOW IO
	 * counts them on the receiver's row (no sender is named to a post) */
	uint64_t writes;	/* atomic */
};

int inbox_init(struct inbox *in);		/* 0 or -errno */
void inbox_free(struct inbox *in);		/* messages still queued are the caller's to free first */
/* Queues m; 0, or -errno when the receiver could not be woken (m is queued
 * all the same and goes with the next wake-up). */
int inbox_post(struct inbox *in, struct inbox_msg *m);
/* Everything posted so far, oldest first (per sender, in posting order);
 * NULL when nothing is. Clears the eventfd before it looks. */
struct inbox_msg *inbox_take(struct inbox *in);
/* The eventfd writes posts to in have made so far */
uint64_t inbox_writes(const struct inbox *in);

#endif
