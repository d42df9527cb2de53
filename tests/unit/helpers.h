/* Test helpers shared by the Criterion suites (tests/unit and
 * tests/integration/c): reproducible random numbers, and the checks that
 * every listing of a snapshot source must pass whatever the source. Needs
 * <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_HELPERS_H
#define NESTOR_TESTS_UNIT_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/source.h"

#define XORSHIFT_SEED 0x9e3779b97f4a7c15ull

/* xorshift64 on the caller's state: reproducible data, no libc state shared
 * by threads. */
static inline uint64_t
xorshift64(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* x, listed by snapshot_next_extent(s, disk, max_len) after extents that
 * ended at prev_end, is well formed: not empty, at most max_len, in order
 * and not overlapping, inside the disk, data or zero. Returns its end. */
static inline uint64_t
assert_listed_extent(struct snapshot *s, size_t disk, uint64_t max_len, uint64_t prev_end,
		     const struct snap_extent *x)
{
	cr_assert_gt(x->length, 0);
	cr_assert_leq(x->length, max_len);
	cr_assert_geq(x->offset, prev_end, "extents out of order / overlapping");
	cr_assert_leq(x->offset + x->length, snapshot_disk_size(s, disk));
	cr_assert(x->kind == SNAP_DATA || x->kind == SNAP_ZERO, "kind %d", x->kind);
	return x->offset + x->length;
}

/* The listing ended without error (last is snapshot_next_extent's last
 * return) and the end stays the end. */
static inline void
assert_listing_ended(struct snapshot *s, size_t disk, uint64_t max_len, int last)
{
	struct snap_extent x;

	cr_assert_eq(last, 0, "next_extent failed");
	cr_assert_eq(snapshot_next_extent(s, disk, max_len, &x), 0, "not sticky at end");
}

/* The extents of one disk of a snapshot as listed, in a fixed array. */
#define LISTING_MAX 4096
struct listing {
	struct snap_extent v[LISTING_MAX];
	size_t n;
	uint64_t bytes;
};

/* Lists disk of s into e, max_len at a time, checking every extent and the
 * end. full_is_data: a full copy (no base) must list data only. */
static inline void
listing_collect(struct snapshot *s, size_t disk, uint64_t max_len, struct listing *e,
		int full_is_data)
{
	struct snap_extent x;
	uint64_t prev_end = 0;
	int r;

	e->n = 0;
	e->bytes = 0;
	while ((r = snapshot_next_extent(s, disk, max_len, &x)) == 1) {
		cr_assert_lt(e->n, LISTING_MAX);
		prev_end = assert_listed_extent(s, disk, max_len, prev_end, &x);
		if (full_is_data && !snapshot_is_incremental(s))
			cr_assert_eq(x.kind, SNAP_DATA, "a full copy reports data only");
		e->v[e->n++] = x;
		e->bytes += x.length;
	}
	assert_listing_ended(s, disk, max_len, r);
}

#endif
