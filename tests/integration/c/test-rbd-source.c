/* Tests of the "rbd" change source (snapshot/rbd.c) against a throwaway
 * single-node bluestore Ceph started once per run by tests/lib/ceph.sh. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "snapshot/rbd.h"
#include "snapshot/source.h"
#include "tests/unit/helpers.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define OBJ (4 * MiB)
#define CEPH_ENV "NESTOR_TEST_CEPH_CONF"

extern char **environ;

/* ---- one cluster for the whole run ---------------------------------------- */

/* Ceph takes seconds to start: the runner starts it once and hands its
 * ceph.conf to every test process through the environment. An existing
 * cluster may be given in NESTOR_TEST_CEPH_CONF (then it is left alone). */
static char run_dir[64];

static int
run_argv(char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pfd[2] = { -1, -1 }, st = 0, ret = -1;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		goto out;
	close(pfd[1]);
	pfd[1] = -1;
	while ((r = read(pfd[0], out ? out + got : (char[256]){ 0 },
			 out ? outlen - 1 - got : 256)) > 0)
		if (out)
			got += (size_t)r;
	if (out)
		out[got] = '\0';
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		ret = 0;
out:
	posix_spawn_file_actions_destroy(&fa);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return ret;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char out[1024], conf[1024];
	char *nl;

	(void)set;
	if (getenv(CEPH_ENV))
		return;
	snprintf(run_dir, sizeof(run_dir), "/tmp/nestor-rbdt-XXXXXX");
	if (!mkdtemp(run_dir)) {
		run_dir[0] = '\0';
		return;
	}
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/ceph", run_dir);
	if (run_argv((char *[]){ "/bin/bash", "tests/lib/ceph.sh", "start", dir, NULL },
		     out, sizeof(out)) < 0 ||
	    strncmp(out, "CEPH_CONF=", 10) != 0) {
		fprintf(stderr, "test-rbd-source: cannot start ceph in %s\n", dir);
		return; /* every test then fails on the missing conf */
	}
	nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	snprintf(conf, sizeof(conf), "%s", out + 10);
	setenv(CEPH_ENV, conf, 1);
}

/* The harness cluster drops a watch after 5 s without a ping (so that a
 * killed lock owner is noticed fast), but librados pings on its 5 s tick:
 * watches of every client here would expire now and then. */
__attribute__((constructor)) static void
client_tick(void)
{
	setenv("CEPH_ARGS", "--objecter_tick_interval=1", 0);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char dir[128];

	(void)stats;
	if (!run_dir[0])
		return;
	snprintf(dir, sizeof(dir), "%s/ceph", run_dir);
	if (run_argv((char *[]){ "/bin/bash", "tests/lib/ceph.sh", "stop", dir, NULL },
		     NULL, 0) < 0)
		fprintf(stderr, "test-rbd-source: ceph stop in %s failed\n", dir);
	if (run_argv((char *[]){ "/bin/rm", "-rf", run_dir, NULL }, NULL, 0) < 0)
		fprintf(stderr, "test-rbd-source: cannot remove %s\n", run_dir);
}

/* ---- per-test fixture -------------------------------------------------------- */

static const char *conf;
static char tdir[64], state[128];
static rados_t cl;
static rados_ioctx_t io;
static int connected;

static void
setup(void)
{
	conf = getenv(CEPH_ENV);
	snprintf(tdir, sizeof(tdir), "/tmp/nestor-rbds-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(state, sizeof(state), "%s/state", tdir);
}

static void
connect_cluster(void)
{
	cr_assert_not_null(conf, "no ceph cluster (tests/lib/ceph.sh start failed?)");
	cr_assert_eq(rados_create(&cl, NULL), 0);
	cr_assert_eq(rados_conf_read_file(cl, conf), 0);
	cr_assert_eq(rados_conf_parse_env(cl, NULL), 0);
	cr_assert_eq(rados_connect(cl), 0, "cannot connect to ceph at %s", conf);
	cr_assert_eq(rados_ioctx_create(cl, "rbd", &io), 0);
	connected = 1;
}

static void
teardown(void)
{
	if (connected) {
		rados_ioctx_destroy(io);
		rados_shutdown(cl);
		connected = 0;
	}
	if (tdir[0])
		(void)run_argv((char *[]){ "/bin/rm", "-rf", tdir, NULL }, NULL, 0);
}

TestSuite(rbd_source, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rng = XORSHIFT_SEED;

static uint64_t
rnd(void)
{
	return xorshift64(&rng);
}

static void
rnd_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

/* Removes an image and its snapshots (left by an earlier run); absent is fine. */
static void
img_remove(const char *name)
{
	rbd_image_t img;
	rbd_snap_info_t v[64];
	int max = 64, n;

	if (rbd_open(io, name, &img, NULL) == -ENOENT)
		return;
	n = rbd_snap_list(img, v, &max);
	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(rbd_snap_remove(img, v[i].name), 0);
	rbd_snap_list_end(v);
	rbd_close(img);
	cr_assert_eq(rbd_remove(io, name), 0);
}

#define FEATURES_FAST (RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK | \
		       RBD_FEATURE_OBJECT_MAP | RBD_FEATURE_FAST_DIFF)

static rbd_image_t
img_create_f(const char *name, uint64_t size, uint64_t features)
{
	rbd_image_options_t o;
	rbd_image_t img;

	img_remove(name);
	rbd_image_options_create(&o);
	rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FEATURES, features);
	rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_ORDER, 22);
	cr_assert_eq(rbd_create4(io, name, size, o), 0, "rbd create %s", name);
	rbd_image_options_destroy(o);
	cr_assert_eq(rbd_open(io, name, &img, NULL), 0);
	return img;
}

static rbd_image_t
img_create(const char *name, uint64_t size)
{
	return img_create_f(name, size, FEATURES_FAST);
}

/* The test's model of the image content, 4 KiB change map per cycle. */
struct model {
	unsigned char *m;
	uint64_t size;
	unsigned char *changed; /* one byte per 4 KiB block */
};

static void
model_init(struct model *md, uint64_t size)
{
	md->size = size;
	md->m = calloc(1, size);
	md->changed = calloc(1, size / (4 * KiB));
	cr_assert(md->m && md->changed);
}

static void
model_mark(struct model *md, uint64_t off, uint64_t len)
{
	for (uint64_t b = off / (4 * KiB); b < (off + len + 4 * KiB - 1) / (4 * KiB); b++)
		md->changed[b] = 1;
}

static uint64_t
model_changed_bytes(struct model *md, int reset)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < md->size / (4 * KiB); b++)
		n += md->changed[b];
	if (reset)
		memset(md->changed, 0, md->size / (4 * KiB));
	return n * 4 * KiB;
}

static void
w_data(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	rnd_fill(md->m + off, len);
	cr_assert_eq(rbd_write(img, off, len, (char *)md->m + off), (ssize_t)len);
	model_mark(md, off, len);
}

/* Writes [off, off+len) of fresh random data in 4 MiB pieces, 8 in flight
 * (sync writes are slow on small test machines). */
static void
w_data_fast(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	rbd_completion_t c[8];
	size_t n = 0;

	rnd_fill(md->m + off, len);
	for (uint64_t o = off; o < off + len; o += OBJ) {
		uint64_t l = off + len - o < OBJ ? off + len - o : OBJ;

		if (n == 8) {
			for (size_t i = 0; i < n; i++) {
				rbd_aio_wait_for_complete(c[i]);
				cr_assert_geq(rbd_aio_get_return_value(c[i]), 0);
				rbd_aio_release(c[i]);
			}
			n = 0;
		}
		cr_assert_eq(rbd_aio_create_completion(NULL, NULL, &c[n]), 0);
		cr_assert_eq(rbd_aio_write(img, o, l, (char *)md->m + o, c[n]), 0);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		rbd_aio_wait_for_complete(c[i]);
		cr_assert_geq(rbd_aio_get_return_value(c[i]), 0);
		rbd_aio_release(c[i]);
	}
	model_mark(md, off, len);
}

static void
w_discard(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	int r = rbd_discard(img, off, len);

	/* librbd 16 returns the length, older ones 0 */
	cr_assert(r == 0 || r == (int)len, "rbd_discard: %d", r);
	memset(md->m + off, 0, len);
	model_mark(md, off, len);
}

static void
w_zeroes(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	cr_assert_eq(rbd_write_zeroes(img, off, len, 0, 0), (ssize_t)len);
	memset(md->m + off, 0, len);
	model_mark(md, off, len);
}

struct exts {
	struct snap_extent *v;
	size_t n, cap;
	uint64_t data, zero;
};

static void
collect(struct snapshot *s, uint64_t max_len, struct exts *e)
{
	struct snap_extent x;
	uint64_t prev_end = 0;
	int r;

	e->n = 0;
	e->data = e->zero = 0;
	while ((r = snapshot_next_extent(s, 0, max_len, &x)) == 1) {
		prev_end = assert_listed_extent(s, 0, max_len, prev_end, &x);
		if (e->n == e->cap) {
			e->cap = e->cap ? e->cap * 2 : 1024;
			e->v = realloc(e->v, e->cap * sizeof(*e->v));
			cr_assert_not_null(e->v);
		}
		e->v[e->n++] = x;
		if (x.kind == SNAP_DATA)
			e->data += x.length;
		else
			e->zero += x.length;
	}
	assert_listing_ended(s, 0, max_len, r);
}

struct applier {
	struct snapshot *s;
	struct exts *e;
	unsigned char *copy;
	size_t first, step;
	int failed;
};

static void *
apply_thread(void *arg)
{
	struct applier *a = arg;

	for (size_t i = a->first; i < a->e->n; i += a->step) {
		struct snap_extent *x = &a->e->v[i];

		if (x->kind == SNAP_ZERO)
			memset(a->copy + x->offset, 0, x->length);
		else if (snapshot_read(a->s, 0, x->offset, a->copy + x->offset,
				       x->length) < 0)
			a->failed = 1;
	}
	return NULL;
}

/* Applies the extents to copy, reading with 4 threads at once. */
static void
apply(struct snapshot *s, struct exts *e, unsigned char *copy)
{
	pthread_t th[4];
	struct applier a[4];

	for (size_t i = 0; i < 4; i++) {
		a[i] = (struct applier){ s, e, copy, i, 4, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, apply_thread, &a[i]), 0);
	}
	for (size_t i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_not(a[i].failed, "snapshot_read failed");
	}
}

/* nestor-* snapshots of an image: count, newest name and its id. */
static int
nestor_snaps(const char *image, char *newest, size_t len, uint64_t *newest_id)
{
	rbd_image_t img;
	rbd_snap_info_t v[64];
	int max = 64, n, count = 0;
	uint64_t best = 0;

	cr_assert_eq(rbd_open_read_only(io, image, &img, NULL), 0);
	n = rbd_snap_list(img, v, &max);
	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++) {
		unsigned long long g;

		if (sscanf(v[i].name, "nestor-%llu", &g) != 1)
			continue;
		count++;
		if (g > best) {
			best = g;
			if (newest)
				snprintf(newest, len, "%s", v[i].name);
			if (newest_id)
				*newest_id = v[i].id;
		}
	}
	rbd_snap_list_end(v);
	rbd_close(img);
	return count;
}

static int
snap_exists(const char *image, const char *snap)
{
	rbd_image_t img;
	bool ex = false;

	cr_assert_eq(rbd_open_read_only(io, image, &img, NULL), 0);
	cr_assert_eq(rbd_snap_exists(img, snap, &ex), 0);
	rbd_close(img);
	return ex;
}

/* Independent readback of image@snap compared with buf. */
static void
assert_snap_equals(const char *image, const char *snap, const unsigned char *buf,
		   uint64_t size)
{
	rbd_image_t img;
	unsigned char *rb = malloc(16 * MiB);

	cr_assert_not_null(rb);
	cr_assert_eq(rbd_open_read_only(io, image, &img, snap), 0, "open %s@%s",
		     image, snap);
	for (uint64_t off = 0; off < size; off += 16 * MiB) {
		uint64_t n = size - off < 16 * MiB ? size - off : 16 * MiB;
		cr_assert_eq(rbd_read(img, off, n, (char *)rb), (ssize_t)n);
		for (uint64_t i = 0; i < n; i += 4 * KiB)
			cr_assert(memcmp(rb + i, buf + off + i, 4 * KiB) == 0,
				  "%s@%s differs at %llu", image, snap,
				  (unsigned long long)(off + i));
	}
	rbd_close(img);
	free(rb);
}

static struct snapshot *
begin1(const char *image, uint64_t base)
{
	struct snap_rbd_image d = { .name = "vda", .pool = "rbd", .image = image };

	return snapshot_rbd_begin(conf, NULL, &d, 1, state, base);
}

/* begin1, which must succeed with (1) or without (0) an incremental. */
static struct snapshot *
begin_expect(const char *image, uint64_t base, int incremental)
{
	struct snapshot *s = begin1(image, base);

	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), incremental, "%s base %llu", image,
		     (unsigned long long)base);
	return s;
}

/* The end of a test of one image: closes it, frees its extents and model. */
static void
image_done(rbd_image_t img, struct exts *e, struct model *md)
{
	rbd_close(img);
	free(e->v);
	free(md->m);
	free(md->changed);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests -------------------------------------------------------------------- */

/* Full copy then three incrementals with random writes, whole-object and
 * partial discards and written zeros: the copy built from the extents is
 * byte-identical to each snapshot and to the model. */
Test(rbd_source, full_then_incrementals)
{
	const uint64_t size = 128 * MiB, nobj = size / OBJ;
	const char *name = "t-cycles";
	unsigned char *copy, gone[64] = { 0 };
	struct model md;
	struct exts e = { 0 };
	struct snapshot *s;
	rbd_image_t img;
	char snap[64];
	uint64_t changed;

	connect_cluster();
	model_init(&md, size);
	copy = calloc(1, size);
	cr_assert_not_null(copy);
	img = img_create(name, size);
	/* Seed all but the last 4 objects, which stay holes. */
	w_data_fast(img, &md, 0, size - 4 * OBJ);
	(void)model_changed_bytes(&md, 1);

	s = begin_expect(name, 0, 0);
	cr_assert_eq(snapshot_resumable(s), 0);
	cr_assert_eq(snapshot_disk_size(s, 0), size);
	collect(s, 8 * MiB, &e);
	cr_assert_eq(e.data, size - 4 * OBJ, "full lists %llu data bytes",
		     (unsigned long long)e.data);
	cr_assert_eq(e.zero, 0);
	for (size_t i = 0; i < e.n; i++)
		cr_assert_leq(e.v[i].offset + e.v[i].length, size - 4 * OBJ,
			      "a hole was listed");
	apply(s, &e, copy);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 1);
	cr_assert(memcmp(copy, md.m, size) == 0);
	assert_snap_equals(name, snap, copy, size);

	for (uint64_t cyc = 1; cyc <= 3; cyc++) {
		uint64_t o;
		double t;

		/* Random writes into live objects (a write into a new object
		 * is listed from the object's start: see docs/rbd.md). */
		for (int i = 0; i < 200; i++) {
			uint64_t len = (1 + rnd() % 16) * 4 * KiB;
			do
				o = rnd() % (nobj - 4);
			while (gone[o]);
			o = o * OBJ + (rnd() % (OBJ / (4 * KiB))) * 4 * KiB;
			if (o + len > (o / OBJ + 1) * OBJ)
				len = (o / OBJ + 1) * OBJ - o;
			w_data(img, &md, o, len);
		}
		/* A whole object discarded: the object goes away. */
		do
			o = rnd() % (nobj - 4);
		while (gone[o]);
		gone[o] = 1;
		w_discard(img, &md, o * OBJ, OBJ);
		/* Written zeros, 1 MiB inside a live object. */
		do
			o = rnd() % (nobj - 4);
		while (gone[o]);
		w_zeroes(img, &md, o * OBJ + MiB, MiB);
		/* A partial discard: librbd may skip or zero it; the model
		 * takes what the image reads after the snapshot. */
		do
			o = rnd() % (nobj - 4);
		while (gone[o]);
		w_discard(img, &md, o * OBJ + 2 * MiB, 256 * KiB);
		changed = model_changed_bytes(&md, 1);

		s = begin1(name, cyc);
		cr_assert_not_null(s);
		cr_assert_eq(snapshot_is_incremental(s), 1, "cycle %llu",
			     (unsigned long long)cyc);
		cr_assert_eq(snapshot_resumable(s), 0);
		t = now_s();
		collect(s, cyc == 2 ? 64 * KiB : 4 * MiB, &e);
		t = now_s() - t;
		/* the partial discard's true content, read from the snapshot */
		cr_assert_eq(snapshot_read(s, 0, o * OBJ + 2 * MiB,
					   md.m + o * OBJ + 2 * MiB, 256 * KiB), 0);
		apply(s, &e, copy);
		cr_assert_eq(snapshot_commit(s, cyc + 1), 0);
		snapshot_free(s);
		cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 1,
			     "old base not removed");
		fprintf(stderr, "rbd cycle %llu: changed %.2f MiB, listed %.2f MiB data + "
			"%.2f MiB zero in %zu extents (%.2fx) in %.1f ms\n",
			(unsigned long long)cyc, changed / (double)MiB,
			e.data / (double)MiB, e.zero / (double)MiB, e.n,
			(double)(e.data + e.zero) / (double)changed, t * 1e3);
		cr_assert_leq(e.data + e.zero, changed + changed / 5,
			      "incremental %llu bytes for %llu changed",
			      (unsigned long long)(e.data + e.zero),
			      (unsigned long long)changed);
		cr_assert_geq(e.zero, OBJ, "the discarded object is not a zero extent");
		for (uint64_t i = 0; i < nobj; i++)
			if (gone[i])
				for (uint64_t b = 0; b < OBJ; b++)
					cr_assert_eq(copy[i * OBJ + b], 0,
						     "discarded range not zero");
		cr_assert(memcmp(copy, md.m, size) == 0, "copy differs from model");
		assert_snap_equals(name, snap, copy, size);
	}
	free(copy);
	image_done(img, &e, &md);
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
static int saved_fd2 = -1;
static char cap_path[160];

static void
capture_start(void)
{
	int fd;

	snprintf(cap_path, sizeof(cap_path), "%s/stderr.log", tdir);
	fflush(stderr);
	fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	saved_fd2 = dup(2);
	cr_assert_geq(saved_fd2, 0);
	cr_assert_eq(dup2(fd, 2), 2);
	close(fd);
}

/* Stops the capture; 1 if the captured text contains needle. The text is
 * echoed so that a failure shows it. */
static int
capture_has(const char *needle)
{
	char buf[16384];
	size_t n;
	FILE *f;

	fflush(stderr);
	cr_assert_eq(dup2(saved_fd2, 2), 2);
	close(saved_fd2);
	f = fopen(cap_path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	fputs(buf, stderr);
	return strstr(buf, needle) != NULL;
}

/* begin1 that must give a full copy and log why (reason). */
static struct snapshot *
begin_full_logged(const char *image, uint64_t base, const char *reason)
{
	struct snapshot *s;

	capture_start();
	s = begin1(image, base);
	cr_assert(capture_has(reason), "no reason logged");
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	return s;
}

/* The image of a test, its model and its last listing. */
struct seeded {
	struct model md;
	struct exts e;
	rbd_image_t img;
};

/* Connects, and commits a full copy of a fresh 64 MiB image as point 1. */
static void
seed_point1(struct seeded *t, const char *name)
{
	struct snapshot *s;

	connect_cluster();
	memset(t, 0, sizeof(*t));
	model_init(&t->md, 64 * MiB);
	t->img = img_create(name, 64 * MiB);
	w_data(t->img, &t->md, 0, 3 * OBJ);
	s = begin1(name, 0);
	cr_assert_not_null(s);
	collect(s, 4 * MiB, &t->e);
	cr_assert_eq(t->e.data, 3 * OBJ);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);
}

static void
seeded_done(struct seeded *t)
{
	image_done(t->img, &t->e, &t->md);
}

/* A base snapshot deleted by hand or an image recreated under the same name
 * gives a full copy with the reason, never a wrong incremental. */
Test(rbd_source, lost_base_gives_full)
{
	const char *name = "t-lost";
	struct seeded t;
	struct snapshot *s;
	char snap[64];

	seed_point1(&t, name);
	w_data(t.img, &t.md, 5 * OBJ, 8 * KiB);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 1);
	cr_assert_eq(rbd_snap_remove(t.img, snap), 0);

	s = begin_full_logged(name, 1, "full copy: base snapshot nestor-1 is missing");
	collect(s, 4 * MiB, &t.e);
	cr_assert_geq(t.e.data, 3 * OBJ + 8 * KiB, "full copy misses data");
	cr_assert_eq(snapshot_commit(s, 2), 0);
	snapshot_free(s);

	/* Recreated image: same name, another id, even a snapshot of the
	 * same name. */
	rbd_close(t.img);
	img_remove(name);
	t.img = img_create(name, 64 * MiB);
	w_data(t.img, &t.md, 0, OBJ);
	cr_assert_eq(rbd_snap_create2(t.img, snap, RBD_SNAP_CREATE_SKIP_QUIESCE,
				      NULL, NULL), 0);
	w_data(t.img, &t.md, OBJ, 4 * KiB);
	s = begin_full_logged(name, 2, "full copy: image was recreated");
	collect(s, 4 * MiB, &t.e);
	cr_assert_eq(t.e.data, OBJ + 4 * KiB);
	snapshot_free(s);
	seeded_done(&t);
}

/* Abort (free without commit) removes the new snapshot and keeps the old
 * base: the next attempt is incremental against it again. */
Test(rbd_source, abort_keeps_base)
{
	const char *name = "t-abort";
	struct seeded t;
	struct snapshot *s;
	char base[64], snap[64];
	uint64_t base_id, id;

	seed_point1(&t, name);
	cr_assert_eq(nestor_snaps(name, base, sizeof(base), &base_id), 1);
	w_data(t.img, &t.md, OBJ + 64 * KiB, 64 * KiB);

	s = begin_expect(name, 1, 1);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 2);
	collect(s, 4 * MiB, &t.e);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(name, NULL, 0, &id), 1, "new snapshot left behind");
	cr_assert_eq(id, base_id, "base snapshot changed");
	cr_assert_not(snap_exists(name, snap));

	s = begin_expect(name, 1, 1);
	cr_assert_eq(snapshot_resumable(s), 0);
	collect(s, 4 * MiB, &t.e);
	cr_assert_eq(t.e.n, 1);
	cr_assert_eq(t.e.v[0].offset, OBJ + 64 * KiB);
	cr_assert_eq(t.e.v[0].length, 64 * KiB);
	cr_assert_eq(snapshot_commit(s, 2), 0);
	snapshot_free(s);
	cr_assert_eq(nestor_snaps(name, NULL, 0, NULL), 1);
	cr_assert_not(snap_exists(name, base), "old base not removed on commit");
	seeded_done(&t);
}

/* An attempt that dies after begin without freeing (as kill -9 would):
 * the test binary re-executed with NESTOR_TEST_RBD_INTERRUPT=IMAGE:BASE:DIR
 * does it before Criterion starts. A fresh exec, not a plain fork: a forked
 * librados client would reuse the parent's next messenger nonce, and
 * breaking the dead client's lock would then blocklist the parent too. */
#define INTERRUPT_ENV "NESTOR_TEST_RBD_INTERRUPT"

__attribute__((constructor)) static void
interrupt_child(void)
{
	const char *spec = getenv(INTERRUPT_ENV);
	char image[64], dir[128];
	unsigned long long base;
	struct snap_rbd_image d = { .name = "vda", .pool = "rbd", .image = image };
	struct snapshot *s;
	struct snap_extent x;

	if (!spec)
		return;
	if (sscanf(spec, "%63[^:]:%llu:%127s", image, &base, dir) != 3)
		_exit(2);
	s = snapshot_rbd_begin(getenv(CEPH_ENV), NULL, &d, 1, dir, base);
	if (!s || snapshot_next_extent(s, 0, 4 * KiB, &x) != 1)
		_exit(1);
	_exit(0);
}

static void
interrupted_attempt(const char *name, uint64_t base)
{
	char spec[256], exe[4096];
	ssize_t n;
	pid_t pid;
	int st;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	snprintf(spec, sizeof(spec), "%s:%llu:%s", name, (unsigned long long)base,
		 state);
	cr_assert_eq(setenv(INTERRUPT_ENV, spec, 1), 0);
	cr_assert_eq(posix_spawn(&pid, exe, NULL, NULL, (char *[]){ exe, NULL },
				 environ), 0);
	unsetenv(INTERRUPT_ENV);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "interrupted attempt failed");
}

/* An attempt interrupted before commit is resumed with its own snapshot
 * (resumable = 1); against another base it is not reused. */
Test(rbd_source, resume_reuses_snapshot)
{
	const char *name = "t-resume";
	struct seeded t;
	struct snapshot *s;
	char snap[64], snap2[64];
	uint64_t id, id2;
	unsigned char after[64 * KiB];

	seed_point1(&t, name);
	w_data(t.img, &t.md, 2 * OBJ, 128 * KiB);
	rbd_close(t.img);
	interrupted_attempt(name, 1);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), &id), 2);

	/* Written after the interruption: not part of the resumed snapshot.
	 * (The dead child's exclusive lock is broken after the watch
	 * timeout, 5 s in the test cluster.) */
	cr_assert_eq(rbd_open(io, name, &t.img, NULL), 0);
	memcpy(after, t.md.m + 2 * OBJ, sizeof(after));
	w_data(t.img, &t.md, 2 * OBJ, 64 * KiB);

	s = begin1(name, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_resumable(s), 1);
	cr_assert_eq(snapshot_is_incremental(s), 1);
	cr_assert_eq(nestor_snaps(name, snap2, sizeof(snap2), &id2), 2);
	cr_assert_str_eq(snap2, snap, "a new snapshot was made");
	cr_assert_eq(id2, id);
	collect(s, 4 * MiB, &t.e);
	cr_assert_eq(t.e.n, 1);
	cr_assert_eq(t.e.v[0].offset, 2 * OBJ);
	cr_assert_eq(t.e.v[0].length, 128 * KiB);
	{
		unsigned char got[64 * KiB];
		cr_assert_eq(snapshot_read(s, 0, 2 * OBJ, got, sizeof(got)), 0);
		cr_assert(memcmp(got, after, sizeof(got)) == 0,
			  "resumed snapshot shows later writes");
	}
	snapshot_free(s); /* abort: the reused snapshot goes too */
	cr_assert_eq(nestor_snaps(name, NULL, 0, NULL), 1);

	/* Interrupted against base 1, resumed against base 7: not reused,
	 * and the stray snapshot is removed. (t.img stays open and keeps the
	 * lock: the child's snapshot is made through it, no 5 s wait.) */
	interrupted_attempt(name, 1);
	cr_assert_eq(nestor_snaps(name, snap, sizeof(snap), NULL), 2);
	s = begin1(name, 7);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_resumable(s), 0);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_not(snap_exists(name, snap), "stray snapshot kept");
	cr_assert_eq(nestor_snaps(name, NULL, 0, NULL), 2); /* base + new */
	snapshot_free(s);
	seeded_done(&t);
}

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
