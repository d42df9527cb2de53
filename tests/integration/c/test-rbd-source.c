/* Tests of the "rbd" change source (snapshot/rbd.c) against a throwaway
 * single-node bluestore Ceph started once per run by tests/lib/ceph.sh:
 * full copies and incrementals, with and without fast-diff. Lost bases,
 * aborts and resumes are in test-rbd-source-recovery.c. */
#define _GNU_SOURCE

#include "tests/integration/c/rbd-cluster.h"

TestSuite(rbd_source, .init = setup, .fini = teardown, .timeout = 120);

/* ---- tests -------------------------------------------------------------------- */

/* The state of full_then_incrementals, shared by its steps. */
struct cycles {
	const char *name;
	uint64_t size, nobj;
	unsigned char *copy, gone[64];
	struct model md;
	struct exts e;
	rbd_image_t img;
	char snap[64];
};

/* The full copy: every seeded byte listed as data, the holes not listed. */
static void
cycles_full(struct cycles *c)
{
	const uint64_t size = c->size;
	struct snapshot *s;

	s = begin_expect(c->name, 0, 0);
	cr_assert_eq(snapshot_resumable(s), 0);
	cr_assert_eq(snapshot_disk_size(s, 0), size);
	collect(s, 8 * MiB, &c->e);
	cr_assert_eq(c->e.data, size - 4 * OBJ, "full lists %llu data bytes",
		     (unsigned long long)c->e.data);
	cr_assert_eq(c->e.zero, 0);
	for (size_t i = 0; i < c->e.n; i++)
		cr_assert_leq(c->e.v[i].offset + c->e.v[i].length, size - 4 * OBJ,
			      "a hole was listed");
	apply(s, &c->e, c->copy);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(c->name, c->snap, sizeof(c->snap), NULL), 1);
	cr_assert(memcmp(c->copy, c->md.m, size) == 0);
	assert_snap_equals(c->name, c->snap, c->copy, size);
}

/* A random object not discarded yet, among all but the last 4. */
static uint64_t
cycles_live_object(const struct cycles *c)
{
	uint64_t o;

	do
		o = rnd() % (c->nobj - 4);
	while (c->gone[o]);
	return o;
}

/* One cycle's writes; returns the object of the partial discard. */
static uint64_t
cycles_write(struct cycles *c)
{
	uint64_t o;

	/* Random writes into live objects (a write into a new object
	 * is listed from the object's start: see docs/rbd.md). */
	for (int i = 0; i < 200; i++) {
		uint64_t len = (1 + rnd() % 16) * 4 * KiB;
		o = cycles_live_object(c);
		o = o * OBJ + (rnd() % (OBJ / (4 * KiB))) * 4 * KiB;
		if (o + len > (o / OBJ + 1) * OBJ)
			len = (o / OBJ + 1) * OBJ - o;
		w_data(c->img, &c->md, o, len);
	}
	/* A whole object discarded: the object goes away. */
	o = cycles_live_object(c);
	c->gone[o] = 1;
	w_discard(c->img, &c->md, o * OBJ, OBJ);
	/* Written zeros, 1 MiB inside a live object. */
	o = cycles_live_object(c);
	w_zeroes(c->img, &c->md, o * OBJ + MiB, MiB);
	/* A partial discard: librbd may skip or zero it; the model
	 * takes what the image reads after the snapshot. */
	o = cycles_live_object(c);
	w_discard(c->img, &c->md, o * OBJ + 2 * MiB, 256 * KiB);
	return o;
}

/* Incremental cycle cyc after cycles_write: lists the changes and little
 * more, and the copy matches the model and the snapshot. */
static void
cycles_incremental(struct cycles *c, uint64_t cyc, uint64_t o, uint64_t changed)
{
	struct exts *e = &c->e;
	struct snapshot *s;
	double t;

	s = begin1(c->name, cyc);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1, "cycle %llu",
		     (unsigned long long)cyc);
	cr_assert_eq(snapshot_resumable(s), 0);
	t = now_s();
	collect(s, cyc == 2 ? 64 * KiB : 4 * MiB, e);
	t = now_s() - t;
	/* the partial discard's true content, read from the snapshot */
	cr_assert_eq(snapshot_read(s, 0, o * OBJ + 2 * MiB,
				   c->md.m + o * OBJ + 2 * MiB, 256 * KiB), 0);
	apply(s, e, c->copy);
	cr_assert_eq(snapshot_commit(s, cyc + 1), 0);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(c->name, c->snap, sizeof(c->snap), NULL), 1,
		     "old base not removed");
	fprintf(stderr, "rbd cycle %llu: changed %.2f MiB, listed %.2f MiB data + "
		"%.2f MiB zero in %zu extents (%.2fx) in %.1f ms\n",
		(unsigned long long)cyc, changed / (double)MiB,
		e->data / (double)MiB, e->zero / (double)MiB, e->n,
		(double)(e->data + e->zero) / (double)changed, t * 1e3);
	cr_assert_leq(e->data + e->zero, changed + changed / 5,
		      "incremental %llu bytes for %llu changed",
		      (unsigned long long)(e->data + e->zero),
		      (unsigned long long)changed);
	cr_assert_geq(e->zero, OBJ, "the discarded object is not a zero extent");
	for (uint64_t i = 0; i < c->nobj; i++)
		if (c->gone[i])
			for (uint64_t b = 0; b < OBJ; b++)
				cr_assert_eq(c->copy[i * OBJ + b], 0,
					     "discarded range not zero");
	cr_assert(memcmp(c->copy, c->md.m, c->size) == 0, "copy differs from model");
	assert_snap_equals(c->name, c->snap, c->copy, c->size);
}

/* Full copy then three incrementals with random writes, whole-object and
 * partial discards and written zeros: the copy built from the extents is
 * byte-identical to each snapshot and to the model. */
Test(rbd_source, full_then_incrementals)
{
	struct cycles c = { .name = "t-cycles", .size = 128 * MiB };

	c.nobj = c.size / OBJ;
	connect_cluster();
	model_init(&c.md, c.size);
	c.copy = calloc(1, c.size);
	cr_assert_not_null(c.copy);
	c.img = img_create(c.name, c.size);
	/* Seed all but the last 4 objects, which stay holes. */
	w_data_fast(c.img, &c.md, 0, c.size - 4 * OBJ);
	(void)model_changed_bytes(&c.md, 1);

	cycles_full(&c);
	for (uint64_t cyc = 1; cyc <= 3; cyc++) {
		uint64_t o = cycles_write(&c);
		uint64_t changed = model_changed_bytes(&c.md, 1);

		cycles_incremental(&c, cyc, o, changed);
	}
	free(c.copy);
	image_done(c.img, &c.e, &c.md);
}

/* 10 GiB, 128 MiB seeded, 20 MiB changed: the incremental lists every write
 * and little more. How fast it lists (well under a second, thanks to the
 * object map) is a figure of the bench: bench/rbd-listing.sh reads the
 * "rbd 10 GiB incremental" line printed here. */
Test(rbd_source, big_sparse_image_lists_fast)
{
	const uint64_t size = 10 * GiB;
	const char *name = "t-big";
	struct exts e = { 0 };
	struct snapshot *s;
	rbd_image_t img;
	unsigned char *buf = malloc(OBJ);
	uint64_t seeded[32], woff[20];
	double t;

	connect_cluster();
	cr_assert_not_null(buf);
	img = img_create(name, size);
	for (int i = 0; i < 32; i++) {
		seeded[i] = (uint64_t)i * (size / 32) + 7 * OBJ;
		rnd_fill(buf, OBJ);
		cr_assert_eq(rbd_write(img, seeded[i], OBJ, (char *)buf), (ssize_t)OBJ);
	}
	s = begin1(name, 0);
	cr_assert_not_null(s);
	t = now_s();
	collect(s, 32 * MiB, &e);
	t = now_s() - t;
	fprintf(stderr, "rbd 10 GiB full: %.1f MiB listed in %.1f ms\n",
		e.data / (double)MiB, t * 1e3);
	cr_assert_eq(e.data, 32 * OBJ);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);

	for (int i = 0; i < 20; i++) {
		woff[i] = seeded[(i * 7) % 32] + (uint64_t)(i % 3) * MiB;
		rnd_fill(buf, MiB);
		cr_assert_eq(rbd_write(img, woff[i], MiB, (char *)buf), (ssize_t)MiB);
	}
	s = begin_expect(name, 1, 1);
	t = now_s();
	collect(s, 32 * MiB, &e);
	t = now_s() - t;
	fprintf(stderr, "rbd 10 GiB incremental: 20 MiB changed, %.2f MiB listed "
		"in %zu extents in %.1f ms\n", e.data / (double)MiB, e.n, t * 1e3);
	cr_assert_geq(e.data, 20 * MiB);
	cr_assert_leq(e.data + e.zero, 24 * MiB);
	for (int i = 0; i < 20; i++) {
		uint64_t cov = 0;
		for (size_t k = 0; k < e.n; k++) {
			uint64_t a = e.v[k].offset, b = a + e.v[k].length;
			uint64_t lo = a > woff[i] ? a : woff[i];
			uint64_t hi = b < woff[i] + MiB ? b : woff[i] + MiB;
			if (e.v[k].kind == SNAP_DATA && hi > lo)
				cov += hi - lo;
		}
		cr_assert_eq(cov, MiB, "write %d not fully listed", i);
	}
	snapshot_free(s);
	rbd_close(img);
	free(e.v);
	free(buf);
}

/* Captures this process's stderr (the source's log) in a file. */
/* Without fast-diff (no object map) the exact diff alone must give the same
 * result: full, then an incremental with writes, a discard and zeros. */
Test(rbd_source, exact_path_without_fast_diff)
{
	const uint64_t size = 64 * MiB;
	const char *name = "t-exact";
	unsigned char *copy = calloc(1, size);
	struct model md;
	struct exts e = { 0 };
	struct snapshot *s;
	rbd_image_t img;
	char snap[64];

	connect_cluster();
	cr_assert_not_null(copy);
	model_init(&md, size);
	img = img_create_f(name, size, RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK);
	w_data_fast(img, &md, 0, 6 * OBJ);
	w_data(img, &md, 10 * OBJ + 4 * KiB, 4 * KiB);
	capture_start();
	s = begin1(name, 0);
	cr_assert(capture_has("listing changes exactly"), "fallback not logged");
	cr_assert_not_null(s);
	collect(s, 4 * MiB, &e);
	apply(s, &e, copy);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);

	w_data(img, &md, OBJ + 12 * KiB, 40 * KiB);
	w_discard(img, &md, 3 * OBJ, OBJ);
	w_zeroes(img, &md, 4 * OBJ + 8 * KiB, 64 * KiB);
	s = begin_expect(name, 1, 1);
	collect(s, 1 * MiB, &e);
	cr_assert_leq(e.data + e.zero, 2 * (OBJ + 104 * KiB));
	cr_assert_geq(e.zero, OBJ);
	apply(s, &e, copy);
	cr_assert_eq(snapshot_commit(s, 2), 0);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 1);
	cr_assert(memcmp(copy, md.m, size) == 0, "copy differs from model");
	assert_snap_equals(name, snap, copy, size);
	free(copy);
	image_done(img, &e, &md);
}

/* snapshot_rbd_own_ranges' ranges, collected. */
struct own {
	uint64_t off[64], len[64], bytes;
	size_t n;
};

static int
own_cb(void *arg, uint64_t off, uint64_t len)
{
	struct own *o = arg;

	cr_assert_lt(o->n, 64, "too many own ranges");
	o->off[o->n] = off;
	o->len[o->n++] = len;
	o->bytes += len;
	return 0;
}

/* Whether [off, off + len) lies inside the collected ranges. */
static int
own_covers(const struct own *o, uint64_t off, uint64_t len)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->off[i] <= off && off + len <= o->off[i] + o->len[i])
			return 1;
	return 0;
}

/* An RBD clone (a failback's source on a Ceph store, issue 14): its own
 * extents leave the parent out (a write into an object the parent lacks
 * counts from the object's start; a write into a parent object counts at
 * most that object, copied up), and the listing that follows still covers
 * the parent's data. */
Test(rbd_source, clone_own_ranges_leave_the_parent_out)
{
	const uint64_t size = 32 * MiB;
	struct model md;
	struct exts e = { 0 };
	struct own o = { 0 };
	rbd_image_t par, cln;
	char buf[64 * KiB];
	struct snapshot *s;
	int ord = 22;

	connect_cluster();
	model_init(&md, size);
	par = img_create("t-par", size);
	w_data_fast(par, &md, 0, 16 * MiB); /* objects 0..3 */
	cr_assert_eq(rbd_snap_create(par, "p1"), 0);
	cr_assert_eq(rbd_snap_protect(par, "p1"), 0);
	rbd_close(par);
	cr_assert_eq(rbd_clone2(io, "t-par", "p1", io, "t-cln", FEATURES_FAST, &ord, 0, 0), 0);
	cr_assert_eq(rbd_open(io, "t-cln", &cln, NULL), 0);
	rnd_fill((unsigned char *)buf, sizeof(buf));
	cr_assert_eq(rbd_write(cln, 20 * MiB + 64 * KiB, 64 * KiB, buf), 64 * (ssize_t)KiB);
	cr_assert_eq(rbd_write(cln, MiB + 4 * KiB, 8 * KiB, buf), 8 * (ssize_t)KiB);
	rbd_close(cln);

	s = begin_expect("t-cln", 0, 0);
	cr_assert_eq(snapshot_rbd_own_ranges(s, 0, own_cb, &o), 0);
	fprintf(stderr, "rbd clone: own extents %zu, %llu bytes for 72 KiB written\n", o.n,
		(unsigned long long)o.bytes);
	cr_assert(own_covers(&o, 20 * MiB + 64 * KiB, 64 * KiB), "the write past the parent");
	cr_assert(own_covers(&o, MiB + 4 * KiB, 8 * KiB), "the write into a parent object");
	for (size_t i = 0; i < o.n; i++)
		cr_assert(o.off[i] + o.len[i] <= OBJ ||
			  (o.off[i] >= 20 * MiB && o.off[i] + o.len[i] <= 20 * MiB + OBJ),
			  "own range %llu+%llu outside the written objects",
			  (unsigned long long)o.off[i], (unsigned long long)o.len[i]);
	/* object 0 copied up whole; object 5 from its start to the write's end
	 * (docs/rbd.md, "What the diff reports") */
	cr_assert_leq(o.bytes, OBJ + 128 * KiB);
	/* the listing after it: rewound, the parent's data included */
	collect(s, 4 * MiB, &e);
	cr_assert_geq(e.data, 16 * MiB, "listing lost the parent (%llu bytes)",
		      (unsigned long long)e.data);
	cr_assert_eq(snapshot_rbd_own_ranges(s, 0, own_cb, &o), -1, "own ranges after the listing");
	snapshot_free(s);
	free(e.v);
	free(md.m);
	free(md.changed);
}
