/* Unit tests of the shared write-buffer budget (wbudget.h) and of the store's
 * write queue over it: buffers held only while queued, a full budget waits
 * for the writers instead of failing, and the data still lands in order. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store.h"
#include "replicator/receiver/wbudget.h"
#include "tmpdir.h"

#define MIB (1024u * 1024u)

TMPDIR_SUITE(wbudget, dir, "nestor-wbudget");

static uint64_t
wbudget_used(struct wbudget *b)
{
	uint64_t used, waits;

	wbudget_stats(b, &used, &waits);
	return used;
}

static uint64_t
wbudget_waits(struct wbudget *b)
{
	uint64_t used, waits;

	wbudget_stats(b, &used, &waits);
	return waits;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(wbudget, counts_what_is_held)
{
	struct wbudget *b = wbudget_new(3 * MIB);
	void *x, *y;

	cr_assert_not_null(b);
	x = wbudget_get(b, MIB);
	y = wbudget_get(b, 2 * MIB);
	cr_assert(x && y);
	memset(y, 0xab, 2 * MIB); /* the whole length is the caller's */
	cr_assert_eq(wbudget_used(b), 3 * MIB);
	wbudget_put(b, x, MIB);
	cr_assert_eq(wbudget_used(b), 2 * MIB);
	wbudget_put(b, NULL, MIB); /* a zeroing's NULL buffer holds nothing */
	cr_assert_eq(wbudget_used(b), 2 * MIB);
	wbudget_put(b, y, 2 * MIB);
	cr_assert_eq(wbudget_used(b), 0);
	cr_assert_eq(wbudget_waits(b), 0);
	/* Larger than the whole budget: it could never fit, so no wait. */
	cr_assert_null(wbudget_get(b, 3 * MIB + 1));
	cr_assert_eq(wbudget_used(b), 0);
	wbudget_free(b);
	wbudget_free(NULL);
	/* No budget: plain buffers. */
	x = wbudget_get(NULL, MIB);
	cr_assert_not_null(x);
	wbudget_put(NULL, x, MIB);
}

/* A buffer taken ahead of its write (an extent's decompression target)
 * never waits: no room now is NULL, and nothing counts as a wait. */
Test(wbudget, tryget_never_waits)
{
	struct wbudget *b = wbudget_new(2 * MIB);
	void *x, *y;

	cr_assert_not_null(b);
	x = wbudget_tryget(b, MIB);
	cr_assert_not_null(x);
	memset(x, 0x5a, MIB);
	cr_assert_eq(wbudget_used(b), MIB);
	cr_assert_null(wbudget_tryget(b, MIB + 1)); /* MiB + 1 left: no */
	cr_assert_eq(wbudget_used(b), MIB);
	y = wbudget_tryget(b, MIB);                 /* exactly what is left */
	cr_assert_not_null(y);
	cr_assert_eq(wbudget_used(b), 2 * MIB);
	cr_assert_null(wbudget_tryget(b, 1));
	cr_assert_null(wbudget_tryget(b, 3 * MIB)); /* never fits */
	cr_assert_eq(wbudget_waits(b), 0);
	wbudget_put(b, x, MIB);
	cr_assert_eq(wbudget_used(b), MIB);
	x = wbudget_tryget(b, MIB);                 /* room again */
	cr_assert_not_null(x);
	wbudget_put(b, x, MIB);
	wbudget_put(b, y, MIB);
	cr_assert_eq(wbudget_used(b), 0);
	wbudget_free(b);
	x = wbudget_tryget(NULL, MIB);              /* no budget: plain */
	cr_assert_not_null(x);
	wbudget_put(NULL, x, MIB);
}

struct holder {
	struct wbudget *b;
	void *buf;
	double put_at;
};

static void *
give_back_later(void *arg)
{
	struct holder *h = arg;

	usleep(200 * 1000);
	h->put_at = now_s();
	wbudget_put(h->b, h->buf, MIB);
	return NULL;
}

Test(wbudget, a_full_budget_waits_for_a_put)
{
	struct wbudget *b = wbudget_new(2 * MIB);
	struct holder h = { .b = b };
	void *other, *next;
	pthread_t th;
	double got_at;

	other = wbudget_get(b, MIB);
	h.buf = wbudget_get(b, MIB);
	cr_assert(other && h.buf);
	cr_assert_eq(pthread_create(&th, NULL, give_back_later, &h), 0);
	next = wbudget_get(b, MIB); /* waits for the thread's put */
	got_at = now_s();
	pthread_join(th, NULL);
	cr_assert_not_null(next);
	cr_assert_geq(got_at, h.put_at, "the get returned before the put");
	cr_assert_eq(wbudget_waits(b), 1);
	cr_assert_eq(wbudget_used(b), 2 * MIB);
	wbudget_put(b, next, MIB);
	wbudget_put(b, other, MIB);
	wbudget_free(b);
}

/* A point of one 8 MiB disk written in 1 MiB writes through a budget of
 * 2 MiB: every write past the second waits for the writer thread; the
 * point commits with the data in place and the budget is empty between
 * writes once the queue drained. */
/* Point 1 of group g, disk d, in st holds exactly the len bytes of img
 * (qemu-img compare against them written as a raw file). */
static void
assert_point_holds(struct store *st, const uint8_t *img, size_t len)
{
	char *raw = NULL, *path, *cmd = NULL;
	FILE *f;

	cr_assert_geq(asprintf(&raw, "%s/expected.raw", dir), 0);
	f = fopen(raw, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(img, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	path = store_point_disk_path(st, "g", 1, "d");
	cr_assert_not_null(path);
	cr_assert_geq(asprintf(&cmd, "qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, path), 0);
	cr_assert_eq(system(cmd), 0, "the point differs from what was written");
	free(cmd);
	free(path);
	free(raw);
}

Test(wbudget, store_writes_through_a_small_budget)
{
	struct store *st = store_open(dir, NULL);
	struct store_begin b = { .point_id = 1, .time_ns = 1700000000000000001ull, .ndisks = 1 };
	struct store_point *pt;
	uint8_t *img = malloc(8 * MIB);
	int err = -1;

	cr_assert(st && img);
	cr_assert_eq(store_set_write_buffers(st, 2 * MIB), 0);
	snprintf(b.group, sizeof(b.group), "g");
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "d");
	b.disks[0].size = 8 * MIB;
	for (size_t i = 0; i < 8 * MIB; i++)
		img[i] = (uint8_t)(i * 13 + i / 4099);
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(store_point_write(pt, 0, (uint64_t)i * MIB, img + (size_t)i * MIB, MIB,
					       &err), 0);
		cr_assert_leq(wbudget_used(st->wbufs), 2 * MIB);
	}
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(wbudget_used(st->wbufs), 0, "a drained queue holds no buffer");
	cr_assert_gt(wbudget_waits(st->wbufs), 0, "8 MiB through 2 MiB never waited");
	cr_assert_eq(store_point_commit(pt, "<domain/>", 9, &err), 0);
	store_point_free(pt);

	assert_point_holds(st, img, 8 * MIB);
	free(img);
	store_free(st);
}

/* Owned writes (issue 17: the plaintext decompressed into a write buffer
 * that the queue takes as it is): buffers of store_wbuf_try, mixed with
 * copied writes, land where they were written; a refused owned write
 * gives its buffer back; the budget is empty once the queue drained. */
Test(wbudget, store_takes_owned_buffers)
{
	struct store *st = store_open(dir, NULL);
	struct store_begin b = { .point_id = 1, .time_ns = 1700000000000000001ull, .ndisks = 1 };
	struct store_point *pt;
	uint8_t *img = malloc(8 * MIB);
	void *held[3], *w;
	int err = -1;

	cr_assert(st && img);
	cr_assert_eq(store_set_write_buffers(st, 3 * MIB), 0);
	snprintf(b.group, sizeof(b.group), "g");
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "d");
	b.disks[0].size = 8 * MIB;
	for (size_t i = 0; i < 8 * MIB; i++)
		img[i] = (uint8_t)(i * 7 + i / 4093);
	/* Larger than a queued write: never a buffer of the budget. */
	cr_assert_null(store_wbuf_try(st, STORE_MAX_WRITE + 1));
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt);
	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *src = img + (size_t)i * MIB;

		if (i % 3 == 2) { /* every third copied, as a plain extent */
			cr_assert_eq(store_point_write(pt, 0, (uint64_t)i * MIB, src, MIB, &err), 0);
			continue;
		}
		/* The writers drain the budget in time; a try does not wait. */
		while (!(w = store_wbuf_try(st, MIB)))
			usleep(1000);
		memcpy(w, src, MIB);
		cr_assert_eq(store_point_write_owned(pt, 0, (uint64_t)i * MIB, w, MIB,
						     hash64(src, MIB), &err), 0);
	}
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(wbudget_used(st->wbufs), 0, "a drained queue holds no buffer");
	/* A write after the disk is done (past its end too): refused, the
	 * buffer freed and given back. */
	w = store_wbuf_try(st, MIB);
	cr_assert_not_null(w);
	cr_assert_eq(store_point_write_owned(pt, 0, 8 * MIB, w, MIB, 0, &err), -1);
	cr_assert_eq(wbudget_used(st->wbufs), 0, "a refused owned write kept its buffer");
	/* The whole budget held outside the queue: a try says no at once. */
	for (unsigned i = 0; i < 3; i++) {
		held[i] = store_wbuf_try(st, MIB);
		cr_assert_not_null(held[i]);
	}
	cr_assert_null(store_wbuf_try(st, 1));
	for (unsigned i = 0; i < 3; i++)
		store_wbuf_put(st, held[i], MIB);
	store_wbuf_put(st, NULL, MIB);
	cr_assert_eq(wbudget_used(st->wbufs), 0);
	cr_assert_eq(store_point_commit(pt, "<domain/>", 9, &err), 0);
	store_point_free(pt);

	assert_point_holds(st, img, 8 * MIB);
	free(img);
	store_free(st);
}
