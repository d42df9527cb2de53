/* Worker pool (workpool.h): one mutex guards a FIFO of jobs waiting to
 * start and a FIFO of jobs finished; an eventfd wakes the owner's loop,
 * which runs the done callbacks on its own thread. */
#include "common/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"

struct job {
	workpool_fn fn;
	workpool_done done;
	void *arg;
	int cancelled;
	struct job *next;
};

struct jobq {
	struct job *head, *tail;
	size_t n;
};

struct workpool {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job was queued, or stopping */
	struct jobq queued, finished;
	size_t queue_max;
	size_t running;
	bool stopping;
	int efd;
	unsigned nthreads;
	pthread_t threads[WORKPOOL_MAX_WORKERS];
};

static void
jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct job *
jobq_pop(struct jobq *q)
{
	struct job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return j;
}

static void
wake_owner(struct workpool *wp)
{
	uint64_t one = 1;

	/* Only EAGAIN (counter at its maximum) can fail here, and then the
	 * descriptor is readable anyway. */
	(void)!write(wp->efd, &one, sizeof(one));
}

static void *
worker_main(void *arg)
{
	struct workpool *wp = arg;
	struct job *j;

	(void)prctl(PR_SET_NAME, "nestor-pool"); /* what perf and top show */
	pthread_mutex_lock(&wp->mu);
	for (;;) {
		while (!wp->stopping && wp->queued.n == 0)
			pthread_cond_wait(&wp->cv, &wp->mu);
		if (wp->stopping)
			break;
		j = jobq_pop(&wp->queued);
		wp->running++;
		pthread_mutex_unlock(&wp->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&wp->mu);
		wp->running--;
		jobq_push(&wp->finished, j);
		wake_owner(wp);
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

struct workpool *
workpool_new(unsigned workers, size_t queue_max)
{
	struct workpool *wp;
	int e;

	if (workers < 1 || workers > WORKPOOL_MAX_WORKERS || queue_max < 1) {
		log_error("workpool: %u workers, queue of %zu: out of range (1..%d, >= 1)",
			  workers, queue_max, WORKPOOL_MAX_WORKERS);
		return NULL;
	}
	wp = calloc(1, sizeof(*wp));
	if (!wp) {
		log_error("workpool: out of memory");
		return NULL;
	}
	wp->queue_max = queue_max;
	wp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wp->efd < 0) {
		log_error("workpool: eventfd: %m");
		free(wp);
		return NULL;
	}
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cv, NULL);
	for (; wp->nthreads < workers; wp->nthreads++) {
		e = pthread_create(&wp->threads[wp->nthreads], NULL, worker_main, wp);
		if (e != 0) {
			errno = e;
			log_error("workpool: cannot start worker %u: %m", wp->nthreads);
			workpool_free(wp);
			return NULL;
		}
	}
	return wp;
}

int
workpool_submit(struct workpool *wp, workpool_fn fn, workpool_done done, void *arg)
{
	struct job *j;
	int err = 0;

	pthread_mutex_lock(&wp->mu);
	if (wp->stopping)
		err = ESHUTDOWN;
	else if (wp->queued.n >= wp->queue_max)
		err = EAGAIN;
	pthread_mutex_unlock(&wp->mu);
	if (err) {
		errno = err;
		return -1;
	}
	j = malloc(sizeof(*j));
	if (!j) {
		errno = ENOMEM;
		return -1;
	}
	*j = (struct job){ .fn = fn, .done = done, .arg = arg };
	pthread_mutex_lock(&wp->mu);
	/* Checked again: the lock was dropped around the allocation. */
	if (wp->stopping || wp->queued.n >= wp->queue_max) {
		err = wp->stopping ? ESHUTDOWN : EAGAIN;
		pthread_mutex_unlock(&wp->mu);
		free(j);
		errno = err;
		return -1;
	}
	jobq_push(&wp->queued, j);
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	return 0;
}

int
workpool_fd(const struct workpool *wp)
{
	return wp->efd;
}

size_t
workpool_dispatch(struct workpool *wp)
{
	struct jobq q;
	struct job *j;
	uint64_t n;
	size_t ran = 0;

	(void)!read(wp->efd, &n, sizeof(n)); /* reset; EAGAIN when nothing was signalled */
	pthread_mutex_lock(&wp->mu);
	q = wp->finished;
	wp->finished = (struct jobq){ 0 };
	pthread_mutex_unlock(&wp->mu);
	while ((j = jobq_pop(&q))) {
		j->done(j->arg, j->cancelled);
		free(j);
		ran++;
	}
	return ran;
}

unsigned
workpool_workers(const struct workpool *wp)
{
	return wp->nthreads;
}

size_t
workpool_busy(struct workpool *wp)
{
	size_t n;

	pthread_mutex_lock(&wp->mu);
	n = wp->queued.n + wp->running;
	pthread_mutex_unlock(&wp->mu);
	return n;
}

void
workpool_free(struct workpool *wp)
{
	struct job *j;

	if (!wp)
		return;
	pthread_mutex_lock(&wp->mu);
	wp->stopping = true;
	while ((j = jobq_pop(&wp->queued))) {
		j->cancelled = 1;
		jobq_push(&wp->finished, j);
	}
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	(void)workpool_dispatch(wp);
	close(wp->efd);
	pthread_cond_destroy(&wp->cv);
	pthread_mutex_destroy(&wp->mu);
	free(wp);
}

unsigned
workpool_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > WORKPOOL_MAX_WORKERS ? WORKPOOL_MAX_WORKERS : (unsigned)n;
}
