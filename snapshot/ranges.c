/* Range sets and the restricting snapshot wrapper (ranges.h). The set is
 * an array of [off, end) appended in any order and sorted and merged on
 * demand; the wrapper holds one extent of its inner source per disk and
 * hands out its parts inside the set, in order. */
#include "snapshot/ranges.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct range {
	uint64_t off;
	uint64_t end; /* > off */
};

struct range_set {
	char name[65];
	struct range *v;
	size_t n, cap, max;
	int sorted; /* v is sorted and merged */
};

size_t
range_set_max_for(uint64_t disk_size)
{
	uint64_t n = disk_size / 512 + 65536;

	return n < RANGE_SET_HARD_MAX ? (size_t)n : RANGE_SET_HARD_MAX;
}

struct range_set *
range_set_new(const char *name, size_t max)
{
	struct range_set *rs;

	if (max == 0 || max > RANGE_SET_HARD_MAX) {
		log_error("ranges of disk %s: a bound of %zu ranges is outside 1..%u", name, max,
			  RANGE_SET_HARD_MAX);
		return NULL;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		log_error("ranges of disk %s: out of memory", name);
		return NULL;
	}
	snprintf(rs->name, sizeof(rs->name), "%s", name);
	rs->max = max;
	rs->sorted = 1;
	return rs;
}

void
range_set_free(struct range_set *rs)
{
	if (!rs)
		return;
	free(rs->v);
	free(rs);
}

static int
range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

void
range_set_normalise(struct range_set *rs)
{
	size_t out = 0;

	if (rs->sorted)
		return;
	qsort(rs->v, rs->n, sizeof(*rs->v), range_cmp);
	for (size_t i = 0; i < rs->n; i++) {
		/* Overlapping or touching: one range. */
		if (out > 0 && rs->v[i].off <= rs->v[out - 1].end) {
			if (rs->v[i].end > rs->v[out - 1].end)
				rs->v[out - 1].end = rs->v[i].end;
			continue;
		}
		rs->v[out++] = rs->v[i];
	}
	rs->n = out;
	rs->sorted = 1;
}

/* Of a normalised set, the first range that ends after from (touching:
 * at or after from); rs->n if none. */
static size_t
range_set_find(const struct range_set *rs, uint64_t from, int touching)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->v[mid].end < from || (!touching && rs->v[mid].end == from))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Of a normalised set: merge [off, end) into the ranges it overlaps or
 * touches, which stay sorted and merged. 1 merged / 0 it touches none. */
static int
range_set_absorb(struct range_set *rs, uint64_t off, uint64_t end)
{
	size_t j = range_set_find(rs, off, 1), k;

	if (j == rs->n || rs->v[j].off > end)
		return 0;
	if (off < rs->v[j].off)
		rs->v[j].off = off;
	if (end > rs->v[j].end)
		rs->v[j].end = end;
	for (k = j + 1; k < rs->n && rs->v[k].off <= rs->v[j].end; k++)
		if (rs->v[k].end > rs->v[j].end)
			rs->v[j].end = rs->v[k].end;
	memmove(&rs->v[j + 1], &rs->v[k], (rs->n - k) * sizeof(*rs->v));
	rs->n -= k - j - 1;
	return 1;
}

/* Room for one more range: grow the array up to max. 0 / -1 (logged,
 * errno). */
static int
range_set_room(struct range_set *rs)
{
	size_t cap;
	struct range *v;

	if (rs->n == rs->max) {
		log_error("ranges of disk %s: more than %zu separate ranges: refused", rs->name,
			  rs->max);
		errno = E2BIG;
		return -1;
	}
	if (rs->n < rs->cap)
		return 0;
	cap = rs->cap ? rs->cap * 2 : 64;
	if (cap > rs->max)
		cap = rs->max;
	v = realloc(rs->v, cap * sizeof(*v));
	if (!v) {
		log_error("ranges of disk %s: out of memory for %zu ranges", rs->name, cap);
		errno = ENOMEM;
		return -1;
	}
	rs->v = v;
	rs->cap = cap;
	return 0;
}

int
range_set_add(struct range_set *rs, uint64_t off, uint64_t len)
{
	uint64_t end;

	if (len == 0)
		return 0;
	if (__builtin_add_overflow(off, len, &end)) {
		log_error("ranges of disk %s: range of %llu bytes at %llu passes 2^64", rs->name,
			  (unsigned long long)len, (unsigned long long)off);
		errno = EOVERFLOW;
		return -1;
	}
	/* A full set may still take what merges into it. */
	if (rs->n == rs->max)
		range_set_normalise(rs);
	/* A set added in order stays sorted and never needs the sort. */
	if (rs->sorted && range_set_absorb(rs, off, end))
		return 0;
	if (range_set_room(rs) < 0)
		return -1;
	if (rs->n > 0 && off < rs->v[rs->n - 1].end)
		rs->sorted = 0;
	rs->v[rs->n].off = off;
	rs->v[rs->n].end = end;
	rs->n++;
	return 0;
}

size_t
range_set_count(struct range_set *rs)
{
	range_set_normalise(rs);
	return rs->n;
}

uint64_t
range_set_bytes(struct range_set *rs)
{
	uint64_t total = 0;

	range_set_normalise(rs);
	for (size_t i = 0; i < rs->n; i++)
		total += rs->v[i].end - rs->v[i].off;
	return total;
}

uint64_t
range_set_end(struct range_set *rs)
{
	range_set_normalise(rs);
	return rs->n ? rs->v[rs->n - 1].end : 0;
}

int
range_set_range(struct range_set *rs, size_t i, uint64_t *off, uint64_t *len)
{
	range_set_normalise(rs);
	if (i >= rs->n)
		return -1;
	*off = rs->v[i].off;
	*len = rs->v[i].end - rs->v[i].off;
	return 0;
}

int
range_set_next(struct range_set *rs, uint64_t from, uint64_t end, uint64_t *off,
	       uint64_t *len)
{
	size_t lo;

	range_set_normalise(rs);
	lo = range_set_find(rs, from, 0);
	if (lo == rs->n || rs->v[lo].off >= end || from >= end)
		return 0;
	*off = rs->v[lo].off > from ? rs->v[lo].off : from;
	*len = (rs->v[lo].end < end ? rs->v[lo].end : end) - *off;
	return 1;
}

/* ---- the wrapper ------------------------------------------------------------ */

struct ranges_snapshot {
	struct snapshot base; /* first: the generic code casts */
	struct snapshot *inner;
	struct range_set *sets[SNAP_MAX_DISKS];
	struct snap_extent held[SNAP_MAX_DISKS]; /* inner's extent being clipped */
	uint64_t pos[SNAP_MAX_DISKS];            /* what of it was handed out */
	/* fill: inner lists in full, so what it leaves out reads as zeros */
	int fill;
	struct snap_extent next[SNAP_MAX_DISKS]; /* inner's extent after a gap */
	uint8_t has_next[SNAP_MAX_DISKS];
	uint8_t eof[SNAP_MAX_DISKS];             /* inner listed to its end */
};

/* The next extent of disk into held: inner's, or in fill mode first the
 * gap before it (or before the disk's end) as zero. 1, 0 at the end, -1. */
static int
ranges_pull(struct ranges_snapshot *r, size_t disk, uint64_t max_len)
{
	struct snap_extent *h = &r->held[disk], *nx = &r->next[disk];
	uint64_t from = h->offset + h->length;
	int n;

	if (!r->has_next[disk] && !r->eof[disk]) {
		n = snapshot_next_extent(r->inner, disk, max_len, nx);
		if (n < 0 || (n == 0 && !r->fill))
			return n;
		r->has_next[disk] = n == 1;
		r->eof[disk] = n == 0;
	}
	if (r->fill) {
		uint64_t to = r->has_next[disk] ? nx->offset : r->base.disks[disk].size;

		if (to > from) {
			*h = (struct snap_extent){ from, to - from, SNAP_ZERO };
			return 1;
		}
	}
	if (!r->has_next[disk])
		return 0;
	*h = *nx;
	r->has_next[disk] = 0;
	return 1;
}

static int
ranges_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		   struct snap_extent *ext)
{
	struct ranges_snapshot *r = (struct ranges_snapshot *)snap;
	struct snap_extent *h = &r->held[disk];

	if (!r->sets[disk])
		return snapshot_next_extent(r->inner, disk, max_len, ext);
	for (;;) {
		uint64_t end = h->offset + h->length, off, len;
		int n;

		if (r->pos[disk] >= end) {
			n = ranges_pull(r, disk, max_len);
			if (n <= 0)
				return n;
			r->pos[disk] = h->offset;
			continue;
		}
		if (range_set_next(r->sets[disk], r->pos[disk], end, &off, &len) == 0) {
			r->pos[disk] = end;
			continue;
		}
		ext->offset = off;
		ext->length = len < max_len ? len : max_len; /* max_len may shrink */
		ext->kind = h->kind;
		r->pos[disk] = off + ext->length;
		return 1;
	}
}

static int
ranges_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf, size_t len)
{
	return snapshot_read(((struct ranges_snapshot *)snap)->inner, disk, offset, buf, len);
}

static int
ranges_commit(struct snapshot *snap, uint64_t point_id)
{
	return snapshot_commit(((struct ranges_snapshot *)snap)->inner, point_id);
}

static int
ranges_consistency(struct snapshot *snap, size_t disk)
{
	return snapshot_disk_consistency(((struct ranges_snapshot *)snap)->inner, disk);
}

static void
ranges_free(struct snapshot *snap)
{
	struct ranges_snapshot *r = (struct ranges_snapshot *)snap;

	for (size_t i = 0; i < SNAP_MAX_DISKS; i++)
		range_set_free(r->sets[i]);
	snapshot_free(r->inner);
	free(r);
}

static const struct snapshot_ops ranges_ops = {
	.name = "ranges", .next_extent = ranges_next_extent, .read = ranges_read,
	.commit = ranges_commit, .free = ranges_free, .consistency = ranges_consistency,
};

/* The wrapper's disks are inner's; each set within its disk. 0 / -1. */
static int
ranges_adopt(struct ranges_snapshot *r, struct range_set **per_disk)
{
	struct snapshot *in = r->inner;

	for (size_t i = 0; i < in->ndisks; i++) {
		uint64_t end = per_disk[i] ? range_set_end(per_disk[i]) : 0;

		r->base.disks[i] = in->disks[i];
		r->base.disks[i].listed = 0;
		r->sets[i] = per_disk[i];
		per_disk[i] = NULL;
		if (end > in->disks[i].size) {
			log_error("ranges of disk %s: they end at %llu, beyond its %llu bytes",
				  in->disks[i].name, (unsigned long long)end,
				  (unsigned long long)in->disks[i].size);
			return -1;
		}
	}
	return 0;
}

struct snapshot *
snapshot_ranges_wrap(struct snapshot *inner, struct range_set **per_disk, size_t ndisks)
{
	struct ranges_snapshot *r = NULL;

	if (!inner || ndisks != snapshot_ndisks(inner)) {
		log_error("snapshot: ranges for %zu disks, the source has %zu", ndisks,
			  snapshot_ndisks(inner));
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("snapshot: out of memory");
		goto fail;
	}
	r->base.ops = &ranges_ops;
	r->base.ndisks = inner->ndisks;
	r->base.incremental = inner->incremental;
	r->base.resumable = inner->resumable;
	r->base.time_ns = inner->time_ns;
	r->base.consistency = inner->consistency;
	r->fill = !inner->incremental;
	r->inner = inner;
	if (ranges_adopt(r, per_disk) < 0) {
		ranges_free(&r->base);
		r = NULL;
		inner = NULL;
		goto fail;
	}
	return &r->base;
fail:
	snapshot_free(inner);
	for (size_t i = 0; per_disk && i < ndisks; i++) {
		range_set_free(per_disk[i]);
		per_disk[i] = NULL;
	}
	return NULL;
}
