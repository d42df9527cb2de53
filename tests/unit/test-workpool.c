/* Unit tests for the worker pool: jobs run off the caller's thread, done
 * callbacks run on the dispatching thread, a full queue refuses, shutdown
 * cancels what never started and waits for what runs. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "common/workpool.h"
#include "poolwait.h"

/* A job that blocks until the test opens its gate. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int started;
};

struct rec {
	struct gate *g;
	pthread_t ran_on;
	pthread_t done_on;
	int order;      /* position among done callbacks, from 1 */
	int cancelled;  /* -1 = done not called */
	int *next_order;
};

static void
gate_init(struct gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->open = false;
	g->started = 0;
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void *
gate_opener(void *arg)
{
	struct timespec ms = { 0, 20 * 1000 * 1000 };

	nanosleep(&ms, NULL);
	gate_open(arg);
	return NULL;
}

static void
gate_wait_started(struct gate *g, int n)
{
	pthread_mutex_lock(&g->mu);
	while (g->started < n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void
job_fn(void *arg)
{
	struct rec *r = arg;

	r->ran_on = pthread_self();
	if (!r->g)
		return;
	pthread_mutex_lock(&r->g->mu);
	r->g->started++;
	pthread_cond_broadcast(&r->g->cv);
	while (!r->g->open)
		pthread_cond_wait(&r->g->cv, &r->g->mu);
	pthread_mutex_unlock(&r->g->mu);
}

static void
job_done(void *arg, int cancelled)
{
	struct rec *r = arg;

	r->done_on = pthread_self();
	r->cancelled = cancelled;
	r->order = ++*r->next_order;
}

Test(workpool, runs_off_thread_and_completes_on_the_dispatcher)
{
	struct workpool *wp = workpool_new(2, 8);
	struct rec r[4] = { 0 };
	int next = 0;

	cr_assert(wp);
	cr_assert_eq(workpool_workers(wp), 2);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct rec){ .cancelled = -1, .next_order = &next };
		cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[i]), 0);
	}
	poolwait_dispatch(wp, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(r[i].cancelled, 0);
		cr_assert(!pthread_equal(r[i].ran_on, pthread_self()), "job %d ran inline", i);
		cr_assert(pthread_equal(r[i].done_on, pthread_self()), "done %d off thread", i);
	}
	cr_assert_eq(workpool_busy(wp), 0);
	workpool_free(wp);
}

Test(workpool, one_worker_keeps_submission_order)
{
	struct workpool *wp = workpool_new(1, 16);
	struct rec r[10] = { 0 };
	int next = 0;

	cr_assert(wp);
	for (int i = 0; i < 10; i++) {
		r[i] = (struct rec){ .cancelled = -1, .next_order = &next };
		cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[i]), 0);
	}
	poolwait_dispatch(wp, 10);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(r[i].order, i + 1, "job %d done as %d", i, r[i].order);
	workpool_free(wp);
}

Test(workpool, full_queue_refuses_then_accepts_again)
{
	struct workpool *wp = workpool_new(1, 2);
	struct gate g;
	struct rec r[4] = { 0 };
	int next = 0;

	gate_init(&g);
	cr_assert(wp);
	for (int i = 0; i < 4; i++)
		r[i] = (struct rec){ .g = &g, .cancelled = -1, .next_order = &next };
	/* One running (blocked on the gate), two waiting: the queue is full. */
	cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[0]), 0);
	gate_wait_started(&g, 1);
	cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[1]), 0);
	cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[2]), 0);
	errno = 0;
	cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[3]), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(r[3].cancelled, -1, "a refused job must not complete");
	cr_assert_eq(workpool_busy(wp), 3);
	gate_open(&g);
	poolwait_dispatch(wp, 3);
	cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[3]), 0);
	poolwait_dispatch(wp, 1);
	cr_assert_eq(r[3].cancelled, 0);
	workpool_free(wp);
}

/* Freeing cancels the waiting jobs and waits for the running one, whose
 * done callback still runs (not cancelled). */
Test(workpool, shutdown_cancels_queued_and_waits_for_running)
{
	struct workpool *wp = workpool_new(1, 4);
	struct gate g;
	struct rec r[3] = { 0 };
	int next = 0;
	pthread_t opener;

	gate_init(&g);
	cr_assert(wp);
	for (int i = 0; i < 3; i++) {
		r[i] = (struct rec){ .g = &g, .cancelled = -1, .next_order = &next };
		cr_assert_eq(workpool_submit(wp, job_fn, job_done, &r[i]), 0);
	}
	gate_wait_started(&g, 1);
	/* Open the gate a little later, from another thread, so free must wait. */
	cr_assert_eq(pthread_create(&opener, NULL, gate_opener, &g), 0);
	workpool_free(wp);
	pthread_join(opener, NULL);
	cr_assert_eq(r[0].cancelled, 0, "the running job completes");
	cr_assert_eq(r[1].cancelled, 1);
	cr_assert_eq(r[2].cancelled, 1);
	cr_assert_eq(g.started, 1, "a cancelled job must not run");
	cr_assert_eq(next, 3, "every done callback runs once");
}

Test(workpool, bad_sizes_are_refused)
{
	cr_assert_null(workpool_new(0, 4));
	cr_assert_null(workpool_new(WORKPOOL_MAX_WORKERS + 1, 4));
	cr_assert_null(workpool_new(1, 0));
	cr_assert_geq(workpool_cpus(), 1);
	cr_assert_leq(workpool_cpus(), WORKPOOL_MAX_WORKERS);
	workpool_free(NULL);
}
