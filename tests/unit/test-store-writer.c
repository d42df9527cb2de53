/* Unit tests of the store's write queue (store-writer.h) over a fake
 * backend that records its calls: zeroings queued behind a busy writer
 * that continue one another are issued as one backend call, and only
 * those (another disk, a gap, a write in between, or the zeroing being
 * issued keep theirs); everything lands in order. Without the joining
 * the pushes behind the held writer fill the queue and wait: a timeout. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-writer.h"

#define MAX_CALLS 64

struct call {
	bool zero;
	uint16_t disk;
	uint64_t off, len;
};

/* The fake: the first call blocks until released, so what is pushed
 * meanwhile queues up behind it. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool holding, released;
	struct call calls[MAX_CALLS];
	size_t ncalls;
} F = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct store_disk disks[2];

static int
fake_record(bool zero, struct store_disk *d, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&F.mu);
	if (F.ncalls < MAX_CALLS)
		F.calls[F.ncalls] = (struct call){ zero, (uint16_t)(d - disks), off, len };
	F.ncalls++;
	F.holding = true;
	pthread_cond_broadcast(&F.cv);
	while (!F.released)
		pthread_cond_wait(&F.cv, &F.mu);
	pthread_mutex_unlock(&F.mu);
	return 0;
}

static int
fake_zero(struct store_backend *be, const struct store_where *w, struct store_disk *d,
	  uint64_t off, uint64_t len)
{
	(void)be;
	(void)w;
	return fake_record(true, d, off, len);
}

static int
fake_write(struct store_backend *be, const struct store_where *w, struct store_disk *d,
	   uint64_t off, const void *buf, size_t len)
{
	(void)be;
	(void)w;
	(void)buf;
	return fake_record(false, d, off, len);
}

static const struct store_backend_ops fake_ops = {
	.name = "fake",
	.disk_write = fake_write,
	.disk_zero = fake_zero,
};

static struct store_backend fake_be = { .ops = &fake_ops };
static const struct store_where fake_w = { .group = "g", .gdir = "/nonexistent", .point = 1 };

static void
reset(void)
{
	memset(F.calls, 0, sizeof(F.calls));
	F.ncalls = 0;
	F.holding = F.released = false;
}

/* Wait until the writer sits in its first backend call. */
static void
wait_holding(void)
{
	pthread_mutex_lock(&F.mu);
	while (!F.holding)
		pthread_cond_wait(&F.cv, &F.mu);
	pthread_mutex_unlock(&F.mu);
}

static void
release(void)
{
	pthread_mutex_lock(&F.mu);
	F.released = true;
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
}

static void
push_zero(struct store_wq *q, uint16_t disk, uint64_t off, uint64_t len)
{
	int err = -1;

	cr_assert_eq(store_wq_push(q, disk, off, NULL, len, &err), 0, "zero %llu+%llu",
		     (unsigned long long)off, (unsigned long long)len);
	cr_assert_eq(err, 0);
}

static void
assert_call(size_t i, bool zero, uint16_t disk, uint64_t off, uint64_t len)
{
	const struct call *c = &F.calls[i];

	cr_assert(c->zero == zero && c->disk == disk && c->off == off && c->len == len,
		  "call %zu: %s disk %u %llu+%llu, expected %s disk %u %llu+%llu", i,
		  c->zero ? "zero" : "write", c->disk, (unsigned long long)c->off,
		  (unsigned long long)c->len, zero ? "zero" : "write", disk,
		  (unsigned long long)off, (unsigned long long)len);
}

Test(store_writer, queued_zero_runs_become_one_call, .timeout = 20)
{
	struct store_wq *q;
	int err = -1;

	reset();
	q = store_wq_new(&fake_be, &fake_w, disks, NULL);
	cr_assert_not_null(q);
	push_zero(q, 0, 0, 512); /* issued at once: the writer holds in it */
	wait_holding();
	/* More than the queue's slots, all continuing the first (which is
	 * being issued, so it keeps its length) */
	for (uint64_t i = 1; i <= 2048; i++)
		push_zero(q, 0, i * 512, 512);
	push_zero(q, 0, 4 * 1024 * 1024, 512);    /* a gap: its own call */
	push_zero(q, 1, 4 * 1024 * 1024 + 512, 4096); /* another disk: its own */
	cr_assert_eq(store_wq_push(q, 1, 0, "abcd", 4, &err), 0);
	push_zero(q, 1, 4, 60); /* after a write: its own */
	push_zero(q, 1, 64, 64);
	release();
	cr_assert_eq(store_wq_drain(q, &err), 0);
	store_wq_free(q);
	cr_assert_eq(F.ncalls, 6, "%zu backend calls", F.ncalls);
	assert_call(0, true, 0, 0, 512);
	assert_call(1, true, 0, 512, 2048 * 512);
	assert_call(2, true, 0, 4 * 1024 * 1024, 512);
	assert_call(3, true, 1, 4 * 1024 * 1024 + 512, 4096);
	assert_call(4, false, 1, 0, 4);
	assert_call(5, true, 1, 4, 124);
}

Test(store_writer, a_joined_zeroing_stays_bounded, .timeout = 20)
{
	struct store_wq *q;
	int err = -1;
	const uint64_t g = 1ull << 30;

	reset();
	q = store_wq_new(&fake_be, &fake_w, disks, NULL);
	cr_assert_not_null(q);
	push_zero(q, 0, 0, 512);
	wait_holding();
	push_zero(q, 0, 512, g - 4096);
	push_zero(q, 0, 512 + g - 4096, 4096); /* 1 GiB joined: still one */
	push_zero(q, 0, 512 + g, 512);         /* past 1 GiB joined: its own */
	push_zero(q, 0, 1024 + g, 3 * g);      /* over 1 GiB alone: its own */
	release();
	cr_assert_eq(store_wq_drain(q, &err), 0);
	store_wq_free(q);
	cr_assert_eq(F.ncalls, 4, "%zu backend calls", F.ncalls);
	assert_call(1, true, 0, 512, g);
	assert_call(2, true, 0, 512 + g, 512);
	assert_call(3, true, 0, 1024 + g, 3 * g);
}
