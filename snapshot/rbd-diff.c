/* The rbd source's changed extents: rbd_diff_iterate2 over whole-object
 * windows first (the object map makes them cheap), then exactly inside
 * the objects that changed, merged into extents. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "snapshot/coalesce.h"
#include "snapshot/rbd-priv.h"

static int
rbd_span_cmp(const void *a, const void *b)
{
	const struct rbd_span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* rbd_diff_iterate2 callback. Extents come in offset order with the default
 * striping; fancy striping may break that, which the caller sorts out. */
static int
rbd_span_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct rbd_spans *s = arg;
	struct rbd_span *last = s->n ? &s->v[s->n - 1] : NULL;
	int kind = exists ? SNAP_DATA : SNAP_ZERO;
	uint64_t end;

	if (__builtin_add_overflow(off, (uint64_t)len, &end))
		return -ERANGE;
	if (off < s->lo)
		off = s->lo;
	if (end > s->hi)
		end = s->hi;
	if (end <= off)
		return 0;
	if (last && off < last->off + last->len)
		s->unsorted = 1;
	if (last && !s->unsorted && last->kind == kind &&
	    last->off + last->len == off) {
		last->len = end - last->off;
		return 0;
	}
	if (s->n == s->max) {
		/* Bounded memory: one data span over everything so far. */
		uint64_t lo = off, hi = end;

		for (size_t i = 0; i < s->n; i++) {
			if (s->v[i].off < lo)
				lo = s->v[i].off;
			if (s->v[i].off + s->v[i].len > hi)
				hi = s->v[i].off + s->v[i].len;
		}
		s->v[0] = (struct rbd_span){ lo, hi - lo, SNAP_DATA };
		s->n = 1;
		s->unsorted = 0;
		return 0;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct rbd_span *nv;

		if (ncap > s->max)
			ncap = s->max;
		nv = realloc(s->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = (struct rbd_span){ off, end - off, kind };
	return 0;
}

/* After an out-of-order diff: sort and merge; overlaps of different kinds
 * become data (read from the snapshot, so right either way). */
static void
rbd_spans_normalise(struct rbd_spans *s)
{
	size_t w = 0;

	if (!s->unsorted || s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(*s->v), rbd_span_cmp);
	for (size_t i = 1; i < s->n; i++) {
		struct rbd_span *p = &s->v[w], *c = &s->v[i];
		uint64_t pend = p->off + p->len, cend = c->off + c->len;

		if (c->off < pend || (c->off == pend && c->kind == p->kind)) {
			if (c->off < pend && c->kind != p->kind)
				p->kind = SNAP_DATA;
			if (cend > pend)
				p->len = cend - p->off;
		} else {
			s->v[++w] = *c;
		}
	}
	s->n = w + 1;
	s->unsorted = 0;
}

static int
rbd_diff(struct rbd_disk *d, struct rbd_spans *s, uint64_t off, uint64_t len,
	 int whole_object)
{
	int r;

	s->n = s->i = 0;
	s->unsorted = 0;
	s->lo = off;
	s->hi = off + len;
	/* own: the image's own extents, against nothing, its parent left out */
	r = sym_rbd_diff_iterate2(d->rimg, d->incremental && !d->own ? d->base_name : NULL,
				  off, len, !d->own, (uint8_t)whole_object, rbd_span_cb, s);
	if (r < 0) {
		errno = -r;
		log_error("disk %s: %s/%s: diff %s..%s%s at %" PRIu64 "+%" PRIu64
			  ": %m", d->name, d->pool, d->image,
			  d->incremental && !d->own ? d->base_name : "(none)", d->snap_name,
			  d->own ? " (own extents)" : "", off, len);
		return -1;
	}
	rbd_spans_normalise(s);
	return 0;
}

/* Produces the next batch of exact spans in d->fine. 1 if it made progress
 * (the batch may be empty), 0 at the end of the disk, -1 on error. */
static int
rbd_fill(struct rbd_disk *d)
{
	struct rbd_span *run;
	uint64_t len;

	d->fine.n = d->fine.i = 0;
	if (d->coarse.i == d->coarse.n) {
		if (d->pos >= d->size)
			return 0;
		if (d->fast) {
			/* Whole objects from the object maps: cheap, and it
			 * keeps the exact pass off objects that did not change. */
			len = d->obj_size * RBD_COARSE_OBJS;
			if (len > d->size - d->pos)
				len = d->size - d->pos;
			if (rbd_diff(d, &d->coarse, d->pos, len, 1) < 0)
				return -1;
		} else {
			len = d->size - d->pos < RBD_FINE_MAX ? d->size - d->pos
							     : RBD_FINE_MAX;
			d->coarse.v[0] = (struct rbd_span){ d->pos, len, SNAP_DATA };
			d->coarse.n = 1;
			d->coarse.i = 0;
		}
		d->pos += len;
		return 1;
	}
	run = &d->coarse.v[d->coarse.i];
	if (run->kind == SNAP_ZERO) {
		/* The object is gone from the snapshot: all of it reads as
		 * zeros now. */
		d->coarse.i++;
		d->fine.v[0] = *run;
		d->fine.n = 1;
		return 1;
	}
	len = run->len < RBD_FINE_MAX ? run->len : RBD_FINE_MAX;
	if (rbd_diff(d, &d->fine, run->off, len, 0) < 0)
		return -1;
	run->off += len;
	run->len -= len;
	if (run->len == 0)
		d->coarse.i++;
	return 1;
}

static int
rbd_next_span(struct rbd_disk *d, struct rbd_span *sp)
{
	int r;

	while (d->fine.i == d->fine.n) {
		r = rbd_fill(d);
		if (r <= 0)
			return r;
	}
	*sp = d->fine.v[d->fine.i++];
	return 1;
}

static int
rbd_coalesce_cb(void *arg, struct snap_extent *sp)
{
	struct rbd_span rsp;
	int r = rbd_next_span(arg, &rsp);

	if (r == 1)
		*sp = (struct snap_extent){ rsp.off, rsp.len, rsp.kind };
	return r;
}

int
rbd_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		struct snap_extent *ext)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;

	return coalesce_next(&rs->d[disk].pending, max_len, rbd_coalesce_cb, &rs->d[disk], ext);
}

int
snapshot_rbd_own_ranges(struct snapshot *snap, size_t disk,
			int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg)
{
	struct rbd_snapshot *rs = rbd_snapshot_of(snap);
	struct rbd_disk *d = rs && disk < snap->ndisks ? &rs->d[disk] : NULL;
	struct rbd_span sp;
	int r;

	if (!d || !d->rimg || d->pos != 0 || d->coarse.n != 0 || d->fine.n != 0) {
		log_error("snapshot: rbd own extents of disk #%zu: not an rbd snapshot, or "
			  "not before its listing", disk);
		return -1;
	}
	/* The listing's own walk, in own mode, then rewound for the listing. */
	d->own = 1;
	while ((r = rbd_next_span(d, &sp)) == 1)
		if (fn(arg, sp.off, sp.len) < 0) {
			r = -1;
			break;
		}
	d->own = 0;
	d->pos = 0;
	d->coarse.n = d->coarse.i = d->fine.n = d->fine.i = 0;
	return r;
}
