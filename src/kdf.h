/* kdf.h - SCRAM key derivation (PBKDF2) on a few threads, so that logins never stall the loop */
#ifndef PGRING_KDF_H
#define PGRING_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct loop;
struct kdf_pool;
struct kdf_job;
struct kdf_waiter;

/* Called on the loop's thread, from the eventfd's completion, once per
 * waiter still attached when the job is done: w->job is NULL again by then. */
typedef void (*kdf_done_fn)(struct kdf_waiter *w, const struct kdf_job *job);

/* Embedded in whoever waits (a client): it may go away while the job runs,
 * and kdf_unwait() is all it has to do then. */
struct kdf_waiter {
	struct kdf_job *job;		/* NULL when not waiting */
	struct kdf_waiter *next;	/* the job's other waiters */
	kdf_done_fn done;
};

/* What a job computes, and what it hands back. */
struct kdf_job {
	/* in: set by kdf_submit */
	char user[128];			/* auth_file names go to 127 bytes */
	char *password;			/* owned; cleansed and freed with the job */
	uint8_t salt[SCRAM_MAX_SALT];
	size_t salt_len;
	int iterations;
	/* out: valid in the done callback */
	int rc;				/* 0, or -errno from auth_scram_keys */
	uint64_t run_us;		/* the derivation's time on its thread */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	/* the pool's */
	struct kdf_waiter *waiters;
	struct kdf_job *next;		/* queue to the threads, then back */
	struct kdf_job *lnext;		/* the loop's list of jobs in flight */
	bool shareable;			/* a plain auth_file password: later logins may join */
};

/* Counters for the log and the tests: every login that needed keys is one of these. */
struct kdf_stats {
	uint64_t submitted;		/* jobs handed to the threads */
	uint64_t done;			/* ...and derived there, off the loop */
	uint64_t joined;		/* logins that waited on a job another started */
	uint64_t refused;		/* logins refused: the queue was full */
	uint64_t cache_hits;		/* logins that reused keys derived before */
	uint64_t mocked;		/* SCRAM exchanges for users that do not exist */
};

/* Jobs queued or running at once, in all; one user name may have half of
 * them (a flood of cleartext tries for one user must not take the whole
 * queue, and a pool reconnecting all at once must still get in) */
#define KDF_QUEUE_PER_THREAD	32
#define KDF_THREADS_MAX		64

/* Starts nthreads threads and watches their eventfd on loop; NULL with err
 * filled when it cannot. */
struct kdf_pool *kdf_start(struct loop *loop, int nthreads, char *err, size_t errlen);
/* At exit: cancels the eventfd's op (its completion follows like any other) */
void kdf_cancel(struct kdf_pool *p);
/* Once the loop is gone: joins the threads, frees the jobs and the pool */
void kdf_stop(struct kdf_pool *p);
struct kdf_stats *kdf_stats(struct kdf_pool *p);

/*
 * Derives ClientKey/ServerKey of password over salt and iterations off the
 * loop; waiter->done is called with the result.  A shareable job (the same
 * plain auth_file password) already in flight for the user is joined
 * instead (same password, salt and iterations).  0, -EAGAIN when the
 * queue (in all, or for this user) is full, -ENOMEM, -EINVAL.
 */
int kdf_submit(struct kdf_pool *p, const char *user, const char *password,
	       const uint8_t *salt, size_t salt_len, int iterations, bool shareable,
	       struct kdf_waiter *waiter, kdf_done_fn done);
/* The waiter is going away: its callback will not run.  Safe when not waiting. */
void kdf_unwait(struct kdf_waiter *waiter);
/* Jobs queued or running now */
unsigned kdf_in_flight(const struct kdf_pool *p);

#endif
