/* Shared by the rbd source suites (test-rbd-source.c,
 * test-rbd-source-recovery.c): one throwaway Ceph per run (tests/lib/ceph.sh),
 * the per-test fixture (pool connection io, state dir), image writers that
 * keep a model of what changed, and extent collection/apply helpers. The
 * connection is the fixture's; extents collected into struct exts are the
 * caller's (free(e.v)). Include after #define _GNU_SOURCE. */
#ifndef NESTOR_TESTS_INTEGRATION_C_RBD_CLUSTER_H
#define NESTOR_TESTS_INTEGRATION_C_RBD_CLUSTER_H

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

static inline int
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

static inline void
setup(void)
{
	conf = getenv(CEPH_ENV);
	snprintf(tdir, sizeof(tdir), "/tmp/nestor-rbds-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(state, sizeof(state), "%s/state", tdir);
}

static inline void
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

static inline void
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

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rng = XORSHIFT_SEED;

static inline uint64_t
rnd(void)
{
	return xorshift64(&rng);
}

static inline void
rnd_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

/* Removes an image and its snapshots (left by an earlier run); absent is fine. */
static inline void
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

static inline rbd_image_t
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

static inline rbd_image_t
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

static inline void
model_init(struct model *md, uint64_t size)
{
	md->size = size;
	md->m = calloc(1, size);
	md->changed = calloc(1, size / (4 * KiB));
	cr_assert(md->m && md->changed);
}

static inline void
model_mark(struct model *md, uint64_t off, uint64_t len)
{
	for (uint64_t b = off / (4 * KiB); b < (off + len + 4 * KiB - 1) / (4 * KiB); b++)
		md->changed[b] = 1;
}

static inline uint64_t
model_changed_bytes(struct model *md, int reset)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < md->size / (4 * KiB); b++)
		n += md->changed[b];
	if (reset)
		memset(md->changed, 0, md->size / (4 * KiB));
	return n * 4 * KiB;
}

static inline void
w_data(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	rnd_fill(md->m + off, len);
	cr_assert_eq(rbd_write(img, off, len, (char *)md->m + off), (ssize_t)len);
	model_mark(md, off, len);
}

/* Writes [off, off+len) of fresh random data in 4 MiB pieces, 8 in flight
 * (sync writes are slow on small test machines). */
static inline void
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

static inline void
w_discard(rbd_image_t img, struct model *md, uint64_t off, uint64_t len)
{
	int r = rbd_discard(img, off, len);

	/* librbd 16 returns the length, older ones 0 */
	cr_assert(r == 0 || r == (int)len, "rbd_discard: %d", r);
	memset(md->m + off, 0, len);
	model_mark(md, off, len);
}

static inline void
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

static inline void
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

static inline void *
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
static inline void
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
static inline int
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

static inline int
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
static inline void
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

static inline struct snapshot *
begin1(const char *image, uint64_t base)
{
	struct snap_rbd_image d = { .name = "vda", .pool = "rbd", .image = image };

	return snapshot_rbd_begin(conf, NULL, &d, 1, state, base);
}

/* begin1, which must succeed with (1) or without (0) an incremental. */
static inline struct snapshot *
begin_expect(const char *image, uint64_t base, int incremental)
{
	struct snapshot *s = begin1(image, base);

	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), incremental, "%s base %llu", image,
		     (unsigned long long)base);
	return s;
}

/* The end of a test of one image: closes it, frees its extents and model. */
static inline void
image_done(rbd_image_t img, struct exts *e, struct model *md)
{
	rbd_close(img);
	free(e->v);
	free(md->m);
	free(md->changed);
}

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Captures this process's stderr (the source's log) in a file. */
static int saved_fd2 = -1;
static char cap_path[160];

static inline void
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
static inline int
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

#endif
