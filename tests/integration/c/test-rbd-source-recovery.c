/* Tests of the "rbd" change source (snapshot/rbd.c) when a point goes
 * wrong: a lost base gives a full copy, an abort keeps the base, an
 * interrupted attempt is resumed from its snapshot. Same throwaway Ceph
 * as test-rbd-source.c (tests/lib/ceph.sh), one per run. */
#define _GNU_SOURCE

#include "tests/integration/c/rbd-cluster.h"

TestSuite(rbd_source_recovery, .init = setup, .fini = teardown, .timeout = 120);

/* ---- tests: recovery ----------------------------------------------------------- */

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
Test(rbd_source_recovery, lost_base_gives_full)
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
Test(rbd_source_recovery, abort_keeps_base)
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
Test(rbd_source_recovery, resume_reuses_snapshot)
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
