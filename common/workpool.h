/* A pool of worker threads with a bounded job queue, so an event loop can
 * hand out work that blocks (hashing, process spawning, store I/O) and be
 * told on its own thread when each job is done. Loop-agnostic: the owner
 * watches workpool_fd() and calls workpool_dispatch() when it is readable. */
#ifndef NESTOR_COMMON_WORKPOOL_H
#define NESTOR_COMMON_WORKPOOL_H

#include <stddef.h>

struct workpool;

/* Runs on a worker thread. */
typedef void (*workpool_fn)(void *arg);
/* Runs on the thread that calls workpool_dispatch (or workpool_free):
 * cancelled = 1 when fn never ran (the pool was freed first). */
typedef void (*workpool_done)(void *arg, int cancelled);

/* workers threads (1..WORKPOOL_MAX_WORKERS), at most queue_max jobs waiting
 * to start (>= 1). NULL on error (logged). */
#define WORKPOOL_MAX_WORKERS 64
struct workpool *workpool_new(unsigned workers, size_t queue_max);

/* Queue fn(arg), then done(arg, 0) on the dispatching thread. Jobs start in
 * the order they were queued; done callbacks run in the order the jobs
 * finished. -1 with errno EAGAIN when queue_max jobs already wait (the
 * caller refuses or backs off; nothing is queued), ENOMEM, or ESHUTDOWN
 * once the pool is stopping. Any thread. */
int workpool_submit(struct workpool *wp, workpool_fn fn, workpool_done done, void *arg);

/* A descriptor that is readable while done callbacks are pending (an
 * eventfd). Owned by the pool. */
int workpool_fd(const struct workpool *wp);

/* Run every pending done callback on the calling thread (the loop's);
 * returns how many ran. A done callback may submit again. */
size_t workpool_dispatch(struct workpool *wp);

/* The number of worker threads. */
unsigned workpool_workers(const struct workpool *wp);

/* Jobs queued or running right now (for metrics and tests). */
size_t workpool_busy(struct workpool *wp);

/* Stop: jobs not started are cancelled (done(arg, 1)), running ones are
 * waited for (done(arg, 0)), every done callback runs here, then the
 * threads are joined. Call from the dispatching thread. NULL ok. */
void workpool_free(struct workpool *wp);

/* The number of online CPUs, at least 1 and at most WORKPOOL_MAX_WORKERS:
 * the default worker count. */
unsigned workpool_cpus(void);

#endif
