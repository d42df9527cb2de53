/* The writer thread of a point being received (store-writer.h). */
#include "replicator/receiver/store-writer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/log.h"
#include "replicator/receiver/wbudget.h"

/* At most WQ_SLOTS operations at a time. A write's buffer is taken from
 * the receiver's budget when it is queued and given back when it was
 * written (issue 17): a point between frames holds none. */
#define WQ_SLOTS 8
_Static_assert(WQ_SLOTS * STORE_MAX_WRITE == STORE_QUEUE_BYTES,
	       "the queue's memory is not what limits.c counts");
/* A zeroing grown from queued ones covers at most this many bytes (one
 * backend call; NBD's zero command takes a 32-bit length). */
#define WQ_ZERO_JOIN_MAX (1ull << 30)

/* A queued write (buf != NULL) or zeroing (buf == NULL). */
struct store_wop {
	uint16_t disk;
	uint64_t offset, len;
	uint8_t *buf;
	int64_t cookie; /* writer thread only: its async command while in flight */
};

/* Issues queued operations in order, writes as concurrent async commands
 * where the backend has them (up to every slot in flight, on one disk at a
 * time, never two overlapping ones), retires them in order. The first
 * failure sticks; later calls and drains report it. */
struct store_wq {
	struct store_backend *be;
	const struct store_where *w;
	struct store_disk *disks;
	struct wbudget *budget; /* NULL = none */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_room;
	struct store_wop ops[WQ_SLOTS];
	size_t head, count; /* ops[head] is the oldest not retired */
	size_t issued;      /* ops[head .. head+issued) were issued */
	bool issuing;       /* ops[head+issued] is being issued, unlocked */
	bool stop;
	bool failed;
	int fail_errno;
	pthread_t th;
	/* writer thread only: in-flight commands, all on disk cur, ending at
	 * or before cur_end */
	size_t inflight;
	uint16_t cur;
	uint64_t cur_end;
};

/* Issue op: an async write goes out as a command that the writer polls for
 * later (op->cookie > 0); anything else runs to the end here. 0 / -1. */
static int
wq_issue(struct store_wq *q, struct store_wop *op)
{
	const struct store_backend_ops *ops = q->be->ops;
	struct store_disk *d = &q->disks[op->disk];

	op->cookie = 0;
	if (op->buf && ops->aio_write) {
		int64_t c = ops->aio_write(q->be, q->w, d, op->offset, op->buf, (size_t)op->len);

		if (c < 0)
			return -1;
		op->cookie = c;
		return 0;
	}
	return op->buf ? ops->disk_write(q->be, q->w, d, op->offset, op->buf, (size_t)op->len)
		       : ops->disk_zero(q->be, q->w, d, op->offset, op->len);
}

/* 1 when op is complete, 0 while its command is in flight, -1 when it
 * failed (logged). */
static int
wq_check(struct store_wq *q, struct store_wop *op)
{
	const struct store_backend_ops *ops = q->be->ops;
	struct store_disk *d = &q->disks[op->disk];
	int r;

	if (op->cookie == 0)
		return 1;
	r = ops->aio_check(q->be, q->w, d, op->offset, op->len, op->cookie);
	if (r == 0 && ops->aio_dead(d)) {
		op->cookie = 0; /* never completes; the close fails it */
		errno = EIO;
		return -1;
	}
	if (r != 0)
		op->cookie = 0;
	return r;
}

static void
wq_fail(struct store_wq *q)
{
	if (!q->failed) {
		q->failed = true;
		q->fail_errno = errno;
	}
}

/* The next operation to issue now, or NULL: let the commands in flight
 * finish first. Called with q->mu held. */
static struct store_wop *
wq_next(struct store_wq *q)
{
	struct store_wop *op;

	if (q->stop || q->issued >= q->count)
		return NULL;
	op = &q->ops[(q->head + q->issued) % WQ_SLOTS];
	if (q->inflight > 0 && (op->disk != q->cur || op->offset < q->cur_end || !op->buf ||
				!q->be->ops->aio_write))
		return NULL;
	return op;
}

/* Retire completed operations in order; a command that failed is logged
 * once by the backend. Called with q->mu held. */
static void
wq_retire(struct store_wq *q)
{
	bool retired = false;

	while (q->issued > 0) {
		struct store_wop *h = &q->ops[q->head];
		bool was_inflight = h->cookie > 0;
		int r;

		pthread_mutex_unlock(&q->mu);
		r = wq_check(q, h);
		pthread_mutex_lock(&q->mu);
		if (r == 0)
			break;
		if (was_inflight)
			q->inflight--;
		if (r < 0)
			wq_fail(q);
		wbudget_put(q->budget, h->buf, (size_t)h->len);
		h->buf = NULL;
		q->head = (q->head + 1) % WQ_SLOTS;
		q->count--;
		q->issued--;
		retired = true;
	}
	if (retired)
		pthread_cond_broadcast(&q->cv_room);
}

static void *
wq_main(void *arg)
{
	struct store_wq *q = arg;

	(void)prctl(PR_SET_NAME, "nestor-write"); /* what perf and top show */
	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct store_wop *op;
		bool skip;
		int r = 0;

		while (!q->stop && q->count == 0)
			pthread_cond_wait(&q->cv_work, &q->mu);
		/* Stop drops what was not issued but waits for the commands in
		 * flight: their buffers are freed after this thread ends. */
		if (q->stop && q->inflight == 0)
			break;
		op = wq_next(q);
		skip = op && q->failed;
		q->issuing = op != NULL;
		pthread_mutex_unlock(&q->mu);
		if (skip) {
			/* After the first failure nothing more is written: the
			 * point is lost to this session anyway, and issuing the
			 * queued rest would retry a dead backend once per slot
			 * (a qemu-nbd that cannot start: ~3.5 s each, seen by
			 * the soak). Retired unwritten; the failure is reported. */
			op->cookie = 0;
		} else if (op) {
			r = wq_issue(q, op);
			if (r == 0 && op->cookie > 0) {
				q->inflight++;
				q->cur = op->disk;
				q->cur_end = op->offset + op->len;
			}
		} else if (q->inflight > 0) {
			q->be->ops->aio_wait(q->be, q->w, &q->disks[q->cur]);
		}
		pthread_mutex_lock(&q->mu);
		if (op) {
			q->issued++;
			q->issuing = false;
			if (r < 0)
				wq_fail(q);
		}
		wq_retire(q);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* The operations never retired (dropped at stop) give their buffers back. */
static void
wq_release(struct store_wq *q)
{
	for (size_t i = 0; i < q->count; i++) {
		struct store_wop *op = &q->ops[(q->head + i) % WQ_SLOTS];

		wbudget_put(q->budget, op->buf, (size_t)op->len);
	}
	free(q);
}

struct store_wq *
store_wq_new(struct store_backend *be, const struct store_where *w, struct store_disk *disks,
	     struct wbudget *budget)
{
	struct store_wq *q = calloc(1, sizeof(*q));
	int r;

	if (!q) {
		log_error("store: group %s point %" PRIu64 ": out of memory", w->group, w->point);
		return NULL;
	}
	q->be = be;
	q->w = w;
	q->disks = disks;
	q->budget = budget;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv_work, NULL);
	pthread_cond_init(&q->cv_room, NULL);
	r = pthread_create(&q->th, NULL, wq_main, q);
	if (r != 0) {
		errno = r;
		log_error("store: group %s point %" PRIu64 ": cannot start the writer thread: %m",
			  w->group, w->point);
		pthread_cond_destroy(&q->cv_room);
		pthread_cond_destroy(&q->cv_work);
		pthread_mutex_destroy(&q->mu);
		wq_release(q);
		return NULL;
	}
	return q;
}

void
store_wq_free(struct store_wq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	pthread_cond_destroy(&q->cv_room);
	pthread_cond_destroy(&q->cv_work);
	pthread_mutex_destroy(&q->mu);
	wq_release(q);
}

/* Called with q->mu held: the sticky failure as this call's result. */
static int
wq_failed(struct store_wq *q, int *err)
{
	*err = STORE_ERR_IO;
	errno = q->fail_errno; /* callers tell the peer when the store is full */
	return -1;
}

int
store_wq_drain(struct store_wq *q, int *err)
{
	int rc = 0;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	while (q->count > 0)
		pthread_cond_wait(&q->cv_room, &q->mu);
	if (q->failed)
		rc = wq_failed(q, err);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

/* A zeroing that continues the last queued one, which has not been issued
 * (same disk, starting where it ends), extends it: one backend call
 * instead of two (an agent's ZERO extents come in runs; a hostile one's
 * thousands of 512-byte ones cost one round trip per run, not each).
 * Order is kept: nothing is queued after it; the one the writer is
 * issuing is never touched. Called with q->mu held. */
static bool
wq_join_zero(struct store_wq *q, uint16_t disk, uint64_t offset, uint64_t len)
{
	struct store_wop *last;

	if (q->failed || q->count <= q->issued + (q->issuing ? 1 : 0))
		return false;
	last = &q->ops[(q->head + q->count - 1) % WQ_SLOTS];
	if (last->buf || last->disk != disk || last->offset + last->len != offset ||
	    len > WQ_ZERO_JOIN_MAX || last->len > WQ_ZERO_JOIN_MAX - len)
		return false;
	last->len += len;
	return true;
}

/* Queue op (buf: the budget's, now the queue's; NULL = a zeroing). */
static int
wq_push_buf(struct store_wq *q, uint16_t disk, uint64_t offset, uint8_t *buf, uint64_t len,
	    int *err)
{
	struct store_wop *op;
	size_t slot;
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (!buf && wq_join_zero(q, disk, offset, len)) {
		*err = 0;
		goto out;
	}
	while (q->count == WQ_SLOTS && !q->failed)
		pthread_cond_wait(&q->cv_room, &q->mu);
	if (q->failed) {
		wbudget_put(q->budget, buf, (size_t)len);
		rc = wq_failed(q, err);
		goto out;
	}
	slot = (q->head + q->count) % WQ_SLOTS;
	op = &q->ops[slot];
	op->disk = disk;
	op->offset = offset;
	op->len = len;
	op->buf = buf;
	op->cookie = 0;
	q->count++;
	pthread_cond_signal(&q->cv_work);
	*err = 0;
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int
store_wq_push(struct store_wq *q, uint16_t disk, uint64_t offset, const void *data,
	      uint64_t len, int *err)
{
	uint8_t *buf = NULL;

	/* The buffer first, with no lock held: the budget waits for writer
	 * threads (this one's too) to give bytes back. */
	if (data) {
		if (!(buf = wbudget_get(q->budget, (size_t)len))) {
			*err = STORE_ERR_INTERNAL;
			return -1;
		}
		memcpy(buf, data, (size_t)len);
	}
	return wq_push_buf(q, disk, offset, buf, len, err);
}

int
store_wq_push_owned(struct store_wq *q, uint16_t disk, uint64_t offset, void *buf,
		    uint64_t len, int *err)
{
	return wq_push_buf(q, disk, offset, buf, len, err);
}
