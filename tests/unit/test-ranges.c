/* Unit tests of snapshot/ranges: the range set (merging, bounds, lookup)
 * and the wrapper that restricts a source's extents to it, against a
 * scripted source. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "snapshot/ranges.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

/* ---- the range set ---------------------------------------------------------- */

static void
assert_ranges(struct range_set *rs, const uint64_t (*want)[2], size_t n)
{
	uint64_t off, len;

	cr_assert_eq(range_set_count(rs), n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(range_set_range(rs, i, &off, &len), 0);
		cr_assert_eq(off, want[i][0], "range %zu starts at %lu", i, (unsigned long)off);
		cr_assert_eq(len, want[i][1], "range %zu is %lu bytes", i, (unsigned long)len);
	}
	cr_assert_eq(range_set_range(rs, n, &off, &len), -1);
}

Test(range_set, merges_overlapping_and_adjacent_ranges_in_any_order)
{
	struct range_set *rs = range_set_new("vda", 100);
	const uint64_t want[][2] = { { 0, 30 }, { 31, 9 }, { 100, 50 }, { 200, 1 } };

	cr_assert_not_null(rs);
	cr_assert_eq(range_set_add(rs, 100, 10), 0);
	cr_assert_eq(range_set_add(rs, 10, 10), 0);
	cr_assert_eq(range_set_add(rs, 200, 1), 0);
	cr_assert_eq(range_set_add(rs, 0, 10), 0);   /* adjacent to [10, 20) */
	cr_assert_eq(range_set_add(rs, 15, 15), 0);  /* overlaps it */
	cr_assert_eq(range_set_add(rs, 31, 9), 0);   /* one byte apart: separate */
	cr_assert_eq(range_set_add(rs, 105, 45), 0); /* overlaps and extends */
	cr_assert_eq(range_set_add(rs, 120, 5), 0);  /* inside */
	cr_assert_eq(range_set_add(rs, 500, 0), 0);  /* empty: ignored */
	assert_ranges(rs, want, 4);
	cr_assert_eq(range_set_bytes(rs), 30 + 9 + 50 + 1);
	cr_assert_eq(range_set_end(rs), 201);
	range_set_free(rs);
}

Test(range_set, a_range_bridging_several_merges_them)
{
	struct range_set *rs = range_set_new("vda", 3);
	const uint64_t want[][2] = { { 0, 50 }, { 60, 10 } };

	cr_assert_eq(range_set_add(rs, 0, 10), 0);
	cr_assert_eq(range_set_add(rs, 20, 10), 0);
	cr_assert_eq(range_set_add(rs, 40, 10), 0);
	cr_assert_eq(range_set_add(rs, 5, 40), 0); /* the set is full: merges */
	cr_assert_eq(range_set_add(rs, 60, 10), 0);
	assert_ranges(rs, want, 2);
	range_set_free(rs);
}

Test(range_set, empty_set)
{
	struct range_set *rs = range_set_new("vda", 1);
	uint64_t off = 7, len = 7;

	cr_assert_not_null(rs);
	cr_assert_eq(range_set_count(rs), 0);
	cr_assert_eq(range_set_bytes(rs), 0);
	cr_assert_eq(range_set_end(rs), 0);
	cr_assert_eq(range_set_next(rs, 0, UINT64_MAX, &off, &len), 0);
	cr_assert_eq(off, 7);
	range_set_free(rs);
	range_set_free(NULL);
}

Test(range_set, next_clips_to_the_window)
{
	struct range_set *rs = range_set_new("vda", 10);
	uint64_t off, len;

	cr_assert_eq(range_set_add(rs, 100, 100), 0);
	cr_assert_eq(range_set_add(rs, 300, 100), 0);
	cr_assert_eq(range_set_next(rs, 0, 1000, &off, &len), 1);
	cr_assert(off == 100 && len == 100);
	cr_assert_eq(range_set_next(rs, 150, 1000, &off, &len), 1);
	cr_assert(off == 150 && len == 50);
	cr_assert_eq(range_set_next(rs, 200, 1000, &off, &len), 1); /* end is exclusive */
	cr_assert(off == 300 && len == 100);
	cr_assert_eq(range_set_next(rs, 120, 130, &off, &len), 1);
	cr_assert(off == 120 && len == 10);
	cr_assert_eq(range_set_next(rs, 200, 300, &off, &len), 0); /* the gap */
	cr_assert_eq(range_set_next(rs, 400, 1000, &off, &len), 0);
	cr_assert_eq(range_set_next(rs, 0, 100, &off, &len), 0);
	cr_assert_eq(range_set_next(rs, 150, 150, &off, &len), 0); /* empty window */
	range_set_free(rs);
}

Test(range_set, counts_past_the_bound_are_refused)
{
	struct range_set *rs = range_set_new("vda", 1000);

	cr_assert_null(range_set_new("vda", 0));
	cr_assert_null(range_set_new("vda", (size_t)RANGE_SET_HARD_MAX + 1));
	cr_assert_not_null(rs);
	/* Backwards, so that nothing merges on the way in. */
	for (uint64_t i = 1000; i > 0; i--)
		cr_assert_eq(range_set_add(rs, i * 10, 5), 0);
	errno = 0;
	cr_assert_eq(range_set_add(rs, 1, 1), -1);
	cr_assert_eq(errno, E2BIG);
	cr_assert_eq(range_set_add(rs, 20000, 1), -1);
	/* What merges into the set still fits, and nothing was lost. */
	cr_assert_eq(range_set_add(rs, 12, 6), 0);
	cr_assert_eq(range_set_count(rs), 1000);
	cr_assert_eq(range_set_bytes(rs), 1000 * 5 + 3);
	range_set_free(rs);
}

Test(range_set, the_bound_for_a_disk)
{
	struct range_set *rs = range_set_new("vda", range_set_max_for(1 * MIB));

	cr_assert_eq(range_set_max_for(0), 65536);
	cr_assert_eq(range_set_max_for(1 * MIB), 2048 + 65536);
	cr_assert_eq(range_set_max_for(UINT64_MAX), RANGE_SET_HARD_MAX);
	/* A set of that bound takes every other 512-byte block of the disk. */
	cr_assert_not_null(rs);
	for (uint64_t off = 0; off < MIB; off += 1024)
		cr_assert_eq(range_set_add(rs, off, 512), 0);
	cr_assert_eq(range_set_count(rs), 1024);
	range_set_free(rs);
}

Test(range_set, a_range_past_2_64_is_refused)
{
	struct range_set *rs = range_set_new("vda", 10);

	errno = 0;
	cr_assert_eq(range_set_add(rs, UINT64_MAX - 5, 10), -1);
	cr_assert_eq(errno, EOVERFLOW);
	cr_assert_eq(range_set_add(rs, UINT64_MAX - 5, 5), 0);
	cr_assert_eq(range_set_count(rs), 1);
	range_set_free(rs);
}

/* ---- a scripted source ------------------------------------------------------- */

#define FAKE_MAX 64

struct fake {
	struct snapshot base;
	struct snap_extent ext[2][FAKE_MAX];
	size_t n[2], i[2];
	uint64_t committed;
	int *freed;
};

static int
fake_next(struct snapshot *snap, size_t disk, uint64_t max_len, struct snap_extent *x)
{
	struct fake *f = (struct fake *)snap;

	if (f->i[disk] == f->n[disk])
		return 0;
	cr_assert_leq(f->ext[disk][f->i[disk]].length, max_len);
	*x = f->ext[disk][f->i[disk]++];
	return 1;
}

static int
fake_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf, size_t len)
{
	(void)snap;
	memset(buf, (int)(disk * 16 + offset % 7), len);
	return 0;
}

static int
fake_commit(struct snapshot *snap, uint64_t point_id)
{
	((struct fake *)snap)->committed = point_id;
	return 0;
}

static void
fake_free(struct snapshot *snap)
{
	struct fake *f = (struct fake *)snap;

	(*f->freed)++;
	free(f);
}

SNAPSHOT_OPS(fake_ops, "fake", fake_next, fake_read, fake_commit, fake_free);

static int freed;

static struct fake *
fake_new(size_t ndisks, uint64_t size)
{
	struct fake *f = calloc(1, sizeof(*f));

	cr_assert_not_null(f);
	f->base.ops = &fake_ops;
	f->base.ndisks = ndisks;
	f->base.incremental = 1;
	f->base.resumable = 1;
	f->base.time_ns = 42;
	for (size_t d = 0; d < ndisks; d++) {
		snprintf(f->base.disks[d].name, sizeof(f->base.disks[d].name), "vd%c",
			 (char)('a' + d));
		f->base.disks[d].size = size;
	}
	freed = 0;
	f->freed = &freed;
	return f;
}

static void
fake_add(struct fake *f, size_t disk, uint64_t off, uint64_t len, int kind)
{
	cr_assert_lt(f->n[disk], FAKE_MAX);
	f->ext[disk][f->n[disk]++] = (struct snap_extent){ off, len, kind };
}

/* Lists disk of s into v (at most cap), checking order; returns the count. */
static size_t
list(struct snapshot *s, size_t disk, uint64_t max_len, struct snap_extent *v, size_t cap)
{
	struct snap_extent x;
	uint64_t prev = 0;
	size_t n = 0;
	int r;

	while ((r = snapshot_next_extent(s, disk, max_len, &x)) == 1) {
		cr_assert_lt(n, cap);
		cr_assert_gt(x.length, 0);
		cr_assert_leq(x.length, max_len);
		cr_assert_geq(x.offset, prev, "out of order or overlapping");
		prev = x.offset + x.length;
		v[n++] = x;
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(snapshot_next_extent(s, disk, max_len, &x), 0, "the end is sticky");
	return n;
}

static void
assert_extent(const struct snap_extent *x, uint64_t off, uint64_t len, int kind)
{
	cr_assert(x->offset == off && x->length == len && x->kind == kind,
		  "extent %lu+%lu kind %d, want %lu+%lu kind %d", (unsigned long)x->offset,
		  (unsigned long)x->length, x->kind, (unsigned long)off, (unsigned long)len, kind);
}

/* ---- the wrapper -------------------------------------------------------------- */

Test(ranges_wrap, clips_data_zero_and_discard_alike)
{
	struct fake *f = fake_new(2, 4 * MIB);
	struct range_set *sets[2] = { range_set_new("vda", 16), NULL };
	struct snap_extent v[16];
	struct snapshot *s;
	uint8_t buf[16];
	size_t n;

	fake_add(f, 0, 0, 64 * KIB, SNAP_DATA);
	fake_add(f, 0, 64 * KIB, 64 * KIB, SNAP_ZERO);
	fake_add(f, 0, 128 * KIB, 64 * KIB, SNAP_DISCARD);
	fake_add(f, 0, MIB, MIB, SNAP_DATA);
	fake_add(f, 1, 0, 4 * KIB, SNAP_DATA);
	fake_add(f, 1, 8 * KIB, 4 * KIB, SNAP_DISCARD);
	cr_assert_eq(range_set_add(sets[0], 60 * KIB, 10 * KIB), 0);   /* DATA | ZERO */
	cr_assert_eq(range_set_add(sets[0], 130 * KIB, KIB), 0);       /* inside DISCARD */
	cr_assert_eq(range_set_add(sets[0], MIB + 5, 5), 0);           /* unaligned */
	cr_assert_eq(range_set_add(sets[0], 512 * KIB, 64 * KIB), 0);  /* nothing listed */
	cr_assert_eq(range_set_add(sets[0], 3 * MIB, MIB), 0);         /* after the last */
	s = snapshot_ranges_wrap(&f->base, sets, 2);
	cr_assert_not_null(s);
	cr_assert_null(sets[0], "the set was taken");
	cr_assert_eq(snapshot_ndisks(s), 2);
	cr_assert_str_eq(snapshot_disk_name(s, 1), "vdb");
	cr_assert_eq(snapshot_disk_size(s, 0), 4 * MIB);
	cr_assert_eq(snapshot_is_incremental(s), 1);
	cr_assert_eq(snapshot_resumable(s), 1);
	cr_assert_eq(snapshot_time_ns(s), 42);

	n = list(s, 0, 4 * MIB, v, 16);
	cr_assert_eq(n, 4);
	assert_extent(&v[0], 60 * KIB, 4 * KIB, SNAP_DATA);
	assert_extent(&v[1], 64 * KIB, 6 * KIB, SNAP_ZERO);
	assert_extent(&v[2], 130 * KIB, KIB, SNAP_DISCARD);
	assert_extent(&v[3], MIB + 5, 5, SNAP_DATA);
	/* No set: the disk as the source lists it. */
	n = list(s, 1, 4 * MIB, v, 16);
	cr_assert_eq(n, 2);
	assert_extent(&v[0], 0, 4 * KIB, SNAP_DATA);
	assert_extent(&v[1], 8 * KIB, 4 * KIB, SNAP_DISCARD);

	cr_assert_eq(snapshot_read(s, 1, 9, buf, sizeof(buf)), 0);
	cr_assert_eq(buf[0], 16 + 9 % 7, "read through the source");
	cr_assert_eq(snapshot_commit(s, 7), 0);
	cr_assert_eq(f->committed, 7);
	snapshot_free(s);
	cr_assert_eq(freed, 1);
}

Test(ranges_wrap, an_empty_set_lists_nothing_and_the_commit_waits_for_the_listing)
{
	struct fake *f = fake_new(1, MIB);
	struct range_set *sets[1] = { range_set_new("vda", 4) };
	struct snap_extent v[4];
	struct snapshot *s;

	fake_add(f, 0, 0, MIB, SNAP_DATA);
	s = snapshot_ranges_wrap(&f->base, sets, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_commit(s, 3), -1, "commit before the listing");
	cr_assert_eq(list(s, 0, MIB, v, 4), 0);
	cr_assert_eq(f->i[0], 1, "the source was listed to its end");
	cr_assert_eq(snapshot_commit(s, 3), 0);
	cr_assert_eq(f->committed, 3);
	snapshot_free(s);
}

Test(ranges_wrap, a_smaller_max_len_splits_the_held_extent)
{
	struct fake *f = fake_new(1, MIB);
	struct range_set *sets[1] = { range_set_new("vda", 4) };
	struct snap_extent x;
	struct snapshot *s;

	fake_add(f, 0, 0, 64 * KIB, SNAP_DATA);
	cr_assert_eq(range_set_add(sets[0], 0, 64 * KIB), 0);
	s = snapshot_ranges_wrap(&f->base, sets, 1);
	cr_assert_eq(snapshot_next_extent(s, 0, 64 * KIB, &x), 1);
	assert_extent(&x, 0, 64 * KIB, SNAP_DATA);
	snapshot_free(s);

	f = fake_new(1, MIB);
	sets[0] = range_set_new("vda", 4);
	fake_add(f, 0, 0, 16 * KIB, SNAP_ZERO);
	cr_assert_eq(range_set_add(sets[0], 0, MIB), 0);
	s = snapshot_ranges_wrap(&f->base, sets, 1);
	cr_assert_eq(snapshot_next_extent(s, 0, 16 * KIB, &x), 1);
	assert_extent(&x, 0, 16 * KIB, SNAP_ZERO);
	cr_assert_eq(snapshot_next_extent(s, 0, 16 * KIB, &x), 0);
	snapshot_free(s);
}

Test(ranges_wrap, bad_arguments_free_what_they_were_given)
{
	struct fake *f = fake_new(2, MIB);
	struct range_set *sets[2] = { range_set_new("vda", 4), range_set_new("vdb", 4) };

	/* One set for two disks. */
	cr_assert_null(snapshot_ranges_wrap(&f->base, sets, 1));
	cr_assert_eq(freed, 1, "the source was freed");
	cr_assert_null(sets[0]);
	range_set_free(sets[1]);

	/* A set beyond its disk. */
	f = fake_new(2, MIB);
	sets[0] = range_set_new("vda", 4);
	sets[1] = range_set_new("vdb", 4);
	cr_assert_eq(range_set_add(sets[1], MIB - 1, 2), 0);
	cr_assert_null(snapshot_ranges_wrap(&f->base, sets, 2));
	cr_assert_eq(freed, 1);
	cr_assert(!sets[0] && !sets[1], "both sets were taken and freed");
}

/* Random extents and ranges against a byte map of the result: what the set
 * covers of inner's extents, and when inner lists in full (not
 * incremental) the set's other bytes as zero. */
static void
byte_map_rounds(int incremental)
{
	enum { SIZE = 64 * 1024 };
	static uint8_t kind_of[SIZE], in_set[SIZE], got[SIZE];
	uint64_t seed = XORSHIFT_SEED;

	for (int round = 0; round < 50; round++) {
		struct fake *f = fake_new(1, SIZE);
		struct range_set *sets[1] = { range_set_new("vda", 64) };
		struct snap_extent v[256];
		struct snapshot *s;
		uint64_t pos = 0;
		size_t n;

		f->base.incremental = incremental;
		memset(kind_of, 0, sizeof(kind_of));
		memset(in_set, 0, sizeof(in_set));
		memset(got, 0, sizeof(got));
		while (f->n[0] < FAKE_MAX) {
			uint64_t gap = xorshift64(&seed) % 2048, len = 1 + xorshift64(&seed) % 4096;
			int kind = 1 + (int)(xorshift64(&seed) % 3);

			if (pos + gap + len > SIZE)
				break;
			fake_add(f, 0, pos + gap, len, kind);
			memset(kind_of + pos + gap, kind, len);
			pos += gap + len;
		}
		for (int i = 0; i < 40; i++) {
			uint64_t off = xorshift64(&seed) % SIZE;
			uint64_t len = xorshift64(&seed) % (SIZE - off) % 3000;

			cr_assert_eq(range_set_add(sets[0], off, len), 0);
			memset(in_set + off, 1, len);
		}
		s = snapshot_ranges_wrap(&f->base, sets, 1);
		cr_assert_not_null(s);
		n = list(s, 0, SIZE, v, 256);
		for (size_t i = 0; i < n; i++)
			memset(got + v[i].offset, v[i].kind, v[i].length);
		for (size_t b = 0; b < SIZE; b++) {
			int want = !in_set[b] ? 0 : kind_of[b] || incremental ? kind_of[b] : SNAP_ZERO;

			cr_assert_eq(got[b], want, "round %d byte %zu", round, b);
		}
		snapshot_free(s);
	}
}

Test(ranges_wrap, matches_a_byte_map)
{
	byte_map_rounds(1);
}

Test(ranges_wrap, a_full_listing_matches_a_byte_map_with_its_gaps_as_zero)
{
	byte_map_rounds(0);
}

/* A full listing leaves out holes; under a failback's first point they must
 * still be written (issue 14: X written over a hole of P stayed on-prem). */
Test(ranges_wrap, a_full_listing_lists_the_holes_in_the_set_as_zero)
{
	struct fake *f = fake_new(1, 4 * MIB);
	struct range_set *sets[1] = { range_set_new("vda", 16) };
	struct snap_extent v[16];
	struct snapshot *s;

	f->base.incremental = 0;
	fake_add(f, 0, MIB, 4 * KIB, SNAP_DATA);
	cr_assert_eq(range_set_add(sets[0], 0, 64 * KIB), 0);             /* before it */
	cr_assert_eq(range_set_add(sets[0], MIB - 4 * KIB, 8 * KIB), 0);  /* across its start */
	cr_assert_eq(range_set_add(sets[0], 2 * MIB, 64 * KIB), 0);       /* after it */
	cr_assert_eq(range_set_add(sets[0], 4 * MIB - KIB, KIB), 0);      /* at the disk's end */
	s = snapshot_ranges_wrap(&f->base, sets, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_eq(list(s, 0, 32 * KIB, v, 16), 7);
	assert_extent(&v[0], 0, 32 * KIB, SNAP_ZERO);
	assert_extent(&v[1], 32 * KIB, 32 * KIB, SNAP_ZERO);
	assert_extent(&v[2], MIB - 4 * KIB, 4 * KIB, SNAP_ZERO);
	assert_extent(&v[3], MIB, 4 * KIB, SNAP_DATA);
	assert_extent(&v[4], 2 * MIB, 32 * KIB, SNAP_ZERO);
	assert_extent(&v[5], 2 * MIB + 32 * KIB, 32 * KIB, SNAP_ZERO);
	assert_extent(&v[6], 4 * MIB - KIB, KIB, SNAP_ZERO);
	snapshot_free(s);
}
