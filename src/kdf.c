/* kdf.c - SCRAM key derivation (PBKDF2) on a few threads, so that logins never stall the loop
 *
 * The loop hands a job to the threads through a mutex-guarded queue; a
 * thread derives the keys and puts the job on the done list, then writes
 * the eventfd, which the loop watches with a multishot poll op like the
 * signalfd.  Everything but the two lists and the stop flag is the loop's
 * alone: waiters, the list of jobs in flight, the counters.  A waiter that
 * goes away unhooks itself; the job still runs and is freed when it is back.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <openssl/crypto.h>

#include "kdf.h"
#include "loop.h"

struct kdf_pool {
	struct loop *loop;
	/* shared with the threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct kdf_job *todo, *todo_tail;
	struct kdf_job *done;
	bool stop;
	/* the loop's */
	int efd;
	struct loop_sock sock;
	struct loop_op op;
	bool cancelled;
	struct kdf_job *inflight;	/* by lnext */
	unsigned ninflight, max_inflight;
	struct kdf_stats stats;
	int nthreads;
	pthread_t th[KDF_THREADS_MAX];
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void job_free(struct kdf_job *job)
{
	if (job->password) {
		OPENSSL_cleanse(job->password, strlen(job->password));
		free(job->password);
	}
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
}

static void derive(struct kdf_job *job)
{
	uint64_t t0 = mono_us();

	job->rc = auth_scram_keys(job->password, job->salt, job->salt_len, job->iterations,
				  job->client_key, job->server_key);
	job->run_us = mono_us() - t0;
	/* the password stays (read only) until the loop frees the job: the
	 * loop compares it in find_job meanwhile */
}

static void *worker_main(void *arg)
{
	struct kdf_pool *p = arg;
	struct kdf_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !p->todo)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		job = p->todo;
		p->todo = job->next;
		if (!p->todo)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		derive(job);
		pthread_mutex_lock(&p->mu);
		job->next = p->done;
		p->done = job;
		/* an eventfd write only fails when the counter would overflow,
		 * and then the loop has a wake-up pending anyway */
		if (write(p->efd, &one, sizeof(one)) < 0)
			continue;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void inflight_remove(struct kdf_pool *p, struct kdf_job *job)
{
	struct kdf_job **pp;

	for (pp = &p->inflight; *pp; pp = &(*pp)->lnext) {
		if (*pp == job) {
			*pp = job->lnext;
			p->ninflight--;
			return;
		}
	}
}

/* Hands each finished job's result to whoever still waits for it. */
static void finish(struct kdf_pool *p, struct kdf_job *job)
{
	struct kdf_waiter *wt = job->waiters, *next;

	inflight_remove(p, job);
	p->stats.done++;
	job->waiters = NULL;
	for (; wt; wt = next) {
		next = wt->next;
		wt->job = NULL;
		wt->next = NULL;
		wt->done(wt, job);
	}
	job_free(job);
}

static void efd_cb(struct loop *loop, struct loop_op *op, int res, bool more)
{
	struct kdf_pool *p = (struct kdf_pool *)((char *)op - offsetof(struct kdf_pool, op));
	struct kdf_job *done, *next;
	uint64_t n;

	(void)res;
	++*loop_syscalls(loop);
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		n = 0;	/* nothing to do about it: the done list is what counts */
	pthread_mutex_lock(&p->mu);
	done = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; done; done = next) {
		next = done->next;
		finish(p, done);
	}
	if (!more && !p->cancelled)
		loop_poll(loop, &p->sock, &p->op, efd_cb);
}

static int start_threads(struct kdf_pool *p, int nthreads, char *err, size_t errlen)
{
	int r;

	for (p->nthreads = 0; p->nthreads < nthreads; p->nthreads++) {
		r = pthread_create(&p->th[p->nthreads], NULL, worker_main, p);
		if (r) {
			snprintf(err, errlen, "could not start a key derivation thread: %s",
				 strerror(r));
			return -r;
		}
	}
	return 0;
}

static void join_threads(struct kdf_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	p->nthreads = 0;
}

struct kdf_pool *kdf_start(struct loop *loop, int nthreads, char *err, size_t errlen)
{
	struct kdf_pool *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > KDF_THREADS_MAX)
		nthreads = KDF_THREADS_MAX;
	p->loop = loop;
	p->max_inflight = (unsigned)nthreads * KDF_QUEUE_PER_THREAD;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 || loop_sock_open(loop, &p->sock, p->efd) < 0 ||
	    /* read(2) drains it in efd_cb, whatever mode the backend wants */
	    fcntl(p->efd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "could not set up the key derivation eventfd: %s",
			 strerror(errno));
		if (p->efd >= 0)
			close(p->efd);
		free(p);
		return NULL;
	}
	if (start_threads(p, nthreads, err, errlen) < 0) {
		join_threads(p);
		loop_sock_close(loop, &p->sock);
		free(p);
		return NULL;
	}
	loop_poll(loop, &p->sock, &p->op, efd_cb);
	return p;
}

void kdf_cancel(struct kdf_pool *p)
{
	if (!p)
		return;
	p->cancelled = true;
	if (p->op.armed)
		loop_cancel(p->loop, &p->op);
}

static void free_list(struct kdf_job *job, bool todo)
{
	struct kdf_job *next;

	for (; job; job = next) {
		next = todo ? job->next : job->lnext;
		job_free(job);
	}
}

void kdf_stop(struct kdf_pool *p)
{
	if (!p)
		return;
	join_threads(p);
	/* every job is on the in-flight list, wherever else it is: free it
	 * once, from there; their waiters are gone with the loop */
	free_list(p->inflight, false);
	close(p->efd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

struct kdf_stats *kdf_stats(struct kdf_pool *p)
{
	return &p->stats;
}

unsigned kdf_in_flight(const struct kdf_pool *p)
{
	return p ? p->ninflight : 0;
}

static void wait_on(struct kdf_job *job, struct kdf_waiter *waiter, kdf_done_fn done)
{
	waiter->job = job;
	waiter->done = done;
	waiter->next = job->waiters;
	job->waiters = waiter;
}

/* A shareable job for the same password in flight, or NULL; and how many
 * jobs this user has in flight. */
static struct kdf_job *find_job(struct kdf_pool *p, const char *user, const char *password,
				const uint8_t *salt, size_t salt_len, int iterations,
				unsigned *nuser)
{
	struct kdf_job *job, *found = NULL;

	*nuser = 0;
	for (job = p->inflight; job; job = job->lnext) {
		if (strcmp(job->user, user))
			continue;
		++*nuser;
		if (job->shareable && job->iterations == iterations &&
		    job->salt_len == salt_len && !memcmp(job->salt, salt, salt_len) &&
		    !strcmp(job->password, password))
			found = job;
	}
	return found;
}

static struct kdf_job *job_new(const char *user, const char *password, const uint8_t *salt,
			       size_t salt_len, int iterations, bool shareable)
{
	struct kdf_job *job;

	if (salt_len > SCRAM_MAX_SALT || strlen(user) >= sizeof(job->user))
		return NULL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->password = strdup(password);
	if (!job->password) {
		free(job);
		return NULL;
	}
	strcpy(job->user, user);
	memcpy(job->salt, salt, salt_len);
	job->salt_len = salt_len;
	job->iterations = iterations;
	job->shareable = shareable;
	return job;
}

int kdf_submit(struct kdf_pool *p, const char *user, const char *password,
	       const uint8_t *salt, size_t salt_len, int iterations, bool shareable,
	       struct kdf_waiter *waiter, kdf_done_fn done)
{
	struct kdf_job *job;
	unsigned nuser;

	if (salt_len > SCRAM_MAX_SALT)
		return -EINVAL;
	job = find_job(p, user, password, salt, salt_len, iterations, &nuser);
	if (job && shareable) {
		wait_on(job, waiter, done);
		p->stats.joined++;
		return 0;
	}
	if (p->ninflight >= p->max_inflight || nuser >= p->max_inflight / 2) {
		p->stats.refused++;
		return -EAGAIN;
	}
	job = job_new(user, password, salt, salt_len, iterations, shareable);
	if (!job)
		return -ENOMEM;
	wait_on(job, waiter, done);
	job->lnext = p->inflight;
	p->inflight = job;
	p->ninflight++;
	p->stats.submitted++;
	pthread_mutex_lock(&p->mu);
	if (p->todo_tail)
		p->todo_tail->next = job;
	else
		p->todo = job;
	p->todo_tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void kdf_unwait(struct kdf_waiter *waiter)
{
	struct kdf_waiter **pp;

	if (!waiter->job)
		return;
	for (pp = &waiter->job->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == waiter) {
			*pp = waiter->next;
			break;
		}
	}
	waiter->job = NULL;
	waiter->next = NULL;
}
