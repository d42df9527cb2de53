/* Tests of the "file" change source (snapshot/file.c) and the image accessor
 * against real qemu-img / qemu-io / qemu-nbd on 16 MiB images. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/consistency.h"
#include "common/hash.h"
#include "snapshot/blockscan.h"
#include "snapshot/multi.h"
#include "snapshot/image.h"
#include "snapshot/source.h"
#include "tests/unit/helpers.h"

#define MiB (1024ull * 1024)
#define KiB 1024ull
#define GRAN (64 * KiB)
#define DISK_SIZE (16 * MiB)

static char dir[256];
static char img[300], copy[300], state[300];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/nestor-fsrc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(copy, sizeof(copy), "%s/copy.raw", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
}

static void
teardown(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(file_source, .init = setup, .fini = teardown, .timeout = 30);

/* Test-only shell runner; every path in here is our own temp dir. */
static void
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void
qio(const char *cmd)
{
	sh("qemu-io -f qcow2 -c '%s' '%s' >/dev/null", cmd, img);
}

static void
raw_fill(uint64_t off, uint64_t len, int byte)
{
	int fd = open(img, O_WRONLY);
	char *buf = malloc(len);

	cr_assert(fd >= 0 && buf);
	memset(buf, byte, len);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(buf);
}

static void
raw_create(void)
{
	int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
}


static struct snapshot *
begin1(const char *format, uint64_t base)
{
	struct snap_file_disk d = { .name = "vda", .path = img, .format = format };

	return snapshot_file_begin(&d, 1, state, base);
}

static void
collect(struct snapshot *s, size_t disk, uint64_t max_len, struct listing *e)
{
	listing_collect(s, disk, max_len, e, 0);
}

static void
dump(const struct listing *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  extent %zu: %llu+%llu kind %d\n", i,
			(unsigned long long)e->v[i].offset,
			(unsigned long long)e->v[i].length, e->v[i].kind);
}

static void
expect(const struct listing *e, size_t n, const struct snap_extent *want)
{
	int same = e->n == n;

	for (size_t i = 0; same && i < n; i++)
		same = e->v[i].offset == want[i].offset &&
		       e->v[i].length == want[i].length &&
		       e->v[i].kind == want[i].kind;
	if (!same)
		dump(e);
	cr_assert_eq(e->n, n, "got %zu extents, want %zu", e->n, n);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(e->v[i].offset, want[i].offset, "extent %zu offset", i);
		cr_expect_eq(e->v[i].length, want[i].length, "extent %zu length", i);
		cr_expect_eq(e->v[i].kind, want[i].kind, "extent %zu kind", i);
	}
}

/* Every byte of [off, off+len) is in some extent, of the given kind if set. */
static void
covers(const struct listing *e, uint64_t off, uint64_t len, int kind)
{
	uint64_t pos = off;

	for (size_t i = 0; i < e->n && pos < off + len; i++) {
		const struct snap_extent *x = &e->v[i];
		if (x->offset <= pos && pos < x->offset + x->length) {
			if (kind)
				cr_expect_eq(x->kind, kind, "kind at %llu",
					     (unsigned long long)pos);
			pos = x->offset + x->length;
		}
	}
	cr_assert_geq(pos, off + len, "range %llu+%llu not covered (stops at %llu)",
		      (unsigned long long)off, (unsigned long long)len,
		      (unsigned long long)pos);
}

/* Writes the extents into the copy the way a receiver would. */
static void
apply(struct snapshot *s, size_t disk, const struct listing *e)
{
	int fd = open(copy, O_RDWR | O_CREAT, 0644);
	char *buf = malloc(MiB);

	cr_assert(fd >= 0 && buf);
	cr_assert_eq(ftruncate(fd, (off_t)snapshot_disk_size(s, disk)), 0);
	for (size_t i = 0; i < e->n; i++) {
		const struct snap_extent *x = &e->v[i];
		for (uint64_t o = 0; o < x->length; o += MiB) {
			size_t n = x->length - o < MiB ? x->length - o : MiB;
			if (x->kind == SNAP_DATA)
				cr_assert_eq(snapshot_read(s, disk, x->offset + o,
							   buf, n), 0);
			else
				memset(buf, 0, n);
			cr_assert_eq(pwrite(fd, buf, n, (off_t)(x->offset + o)),
				     (ssize_t)n);
		}
	}
	close(fd);
	free(buf);
}

/* The copy has exactly the image's bytes (read through image.c). */
static void
same_as_image(const char *format)
{
	struct image *im = image_open(img, format);
	int fd = open(copy, O_RDONLY);
	char *a = malloc(MiB), *b = malloc(MiB);
	struct stat st;

	cr_assert(im && fd >= 0 && a && b);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, image_size(im));
	for (uint64_t o = 0; o < image_size(im); o += MiB) {
		cr_assert_eq(image_pread(im, a, MiB, o), 0);
		cr_assert_eq(pread(fd, b, MiB, (off_t)o), (ssize_t)MiB);
		cr_assert_eq(memcmp(a, b, MiB), 0, "copy differs in MiB at %llu",
			     (unsigned long long)o);
	}
	image_free(im);
	close(fd);
	free(a);
	free(b);
}

static struct listing E1, E2;

/* begin1, which must succeed with (1) or without (0) an incremental. */
static struct snapshot *
begin_expect(const char *format, uint64_t base, int incremental)
{
	struct snapshot *s = begin1(format, base);

	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), incremental, "base %llu",
		     (unsigned long long)base);
	return s;
}

/* Applies e to the copy, commits s as point and frees it; the copy then
 * has the image's bytes. */
static void
commit_and_compare(struct snapshot *s, const struct listing *e, uint64_t point, const char *format)
{
	apply(s, 0, e);
	cr_assert_eq(snapshot_commit(s, point), 0);
	snapshot_free(s);
	same_as_image(format);
}

/* Nothing changed since base: an incremental that lists nothing. */
static void
expect_unchanged(const char *format, uint64_t base)
{
	struct snapshot *s = begin_expect(format, base, 1);

	collect(s, 0, 1ull << 30, &E2);
	cr_assert_eq(E2.n, 0);
	snapshot_free(s);
}

/* The first copy of the image (no base): one disk, vda, DISK_SIZE, listing
 * exactly want[0, n); committed as 7, the copy equals the image. */
static void
full_copy_as_7(const char *format, size_t n, const struct snap_extent *want)
{
	struct snapshot *s = begin_expect(NULL, 0, 0);

	cr_assert_eq(snapshot_ndisks(s), 1);
	cr_assert_str_eq(snapshot_disk_name(s, 0), "vda");
	cr_assert_eq(snapshot_disk_size(s, 0), DISK_SIZE);
	collect(s, 0, 1ull << 30, &E1);
	expect(&E1, n, want);
	commit_and_compare(s, &E1, 7, format);
}

/* qcow2 with data at 0 (1M), 5M (192k), 12M (64k); full copy committed as 7. */
static void
qcow2_base(void)
{
	const struct snap_extent want[] = {
		{ 0, MiB, SNAP_DATA },
		{ 5 * MiB, 192 * KiB, SNAP_DATA },
		{ 12 * MiB, 64 * KiB, SNAP_DATA },
	};

	sh("qemu-img create -q -f qcow2 '%s' 16M", img);
	qio("write -P 0x11 0 1M");
	qio("write -P 0x22 5M 192k");
	qio("write -P 0x33 12M 64k");
	full_copy_as_7("qcow2", 3, want);
}

static void
qcow2_changes(void)
{
	qio("write -P 0x5a 1M 64k");
	qio("write -z 5M 64k");
	qio("write -P 0x5b 8M 4k");
}

static void
check_changes_plus(const struct listing *e, uint64_t extra)
{
	const uint64_t changed = 64 * KiB + 64 * KiB + 4 * KiB + extra;

	covers(e, MiB, 64 * KiB, SNAP_DATA);
	covers(e, 5 * MiB, 64 * KiB, SNAP_ZERO);
	covers(e, 8 * MiB, 4 * KiB, SNAP_DATA);
	cr_assert_leq(e->bytes, changed * 12 / 10 + GRAN, "%llu bytes listed",
		      (unsigned long long)e->bytes);
}

static void
check_changes(const struct listing *e)
{
	check_changes_plus(e, 0);
}

/* The incremental on 7 after *_changes(): it lists them (into e). */
static struct snapshot *
begin_changes(const char *format, struct listing *e)
{
	struct snapshot *s = begin_expect(format, 7, 1);

	collect(s, 0, 1ull << 30, e);
	check_changes(e);
	return s;
}

Test(file_source, qcow2_full_then_incremental)
{
	struct snapshot *s;
	struct timespec ts;
	uint64_t now;

	qcow2_base();
	qcow2_changes();
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	s = begin_expect("qcow2", 7, 1);
	cr_assert_geq(snapshot_time_ns(s) + 5000000000ull, now);
	cr_assert_leq(snapshot_time_ns(s), now + 5000000000ull);
	collect(s, 0, 1ull << 30, &E2);
	check_changes(&E2);
	apply(s, 0, &E2);
	cr_assert_eq(snapshot_commit(s, 8), 0);
	cr_assert_eq(snapshot_commit(s, 9), -1, "second commit must fail");
	snapshot_free(s);
	same_as_image("qcow2");

	/* Nothing changed since 8. */
	expect_unchanged("qcow2", 8);
}

/* snapshot_reads_done (issue 17): before every disk was listed it changes
 * nothing; after, reading and listing fail while the commit still works. */
Test(file_source, reads_done_ends_reading_not_the_commit)
{
	struct snapshot *s;
	struct snap_extent x;
	char buf[4096];

	qcow2_base();
	qcow2_changes();
	s = begin_expect("qcow2", 7, 1);
	snapshot_reads_done(s, 8);
	cr_assert_eq(snapshot_read(s, 0, 0, buf, sizeof(buf)), 0, "not listed yet: still readable");
	collect(s, 0, 1ull << 30, &E2);
	check_changes(&E2);
	apply(s, 0, &E2);
	snapshot_reads_done(s, 8);
	cr_assert_eq(snapshot_read(s, 0, 0, buf, sizeof(buf)), -1, "read after the reads were done");
	cr_assert_eq(snapshot_next_extent(s, 0, 1ull << 20, &x), -1, "listing after the reads were done");
	snapshot_reads_done(s, 8); /* twice is fine */
	cr_assert_eq(snapshot_commit(s, 8), 0);
	snapshot_free(s);
	same_as_image("qcow2");
	expect_unchanged("qcow2", 8);
}

Test(file_source, qcow2_extents_split_at_max_len)
{
	struct snapshot *s;
	uint64_t total = 0;

	qcow2_base();
	s = begin1("qcow2", 99);
	cr_assert_not_null(s);
	collect(s, 0, 100 * KiB, &E2);
	for (size_t i = 0; i < E2.n; i++)
		total += E2.v[i].length;
	cr_assert_eq(total, MiB + 192 * KiB + 64 * KiB);
	covers(&E2, 0, MiB, SNAP_DATA);
	covers(&E2, 5 * MiB, 192 * KiB, SNAP_DATA);
	covers(&E2, 12 * MiB, 64 * KiB, SNAP_DATA);
	snapshot_free(s);
}

Test(file_source, qcow2_wrong_base_is_full)
{
	struct snapshot *s;

	qcow2_base();
	qcow2_changes();
	s = begin_expect("qcow2", 99, 0);
	collect(s, 0, 1ull << 30, &E2);
	/* 0x5a joined the first range, the zeroed 64k split the second. */
	const struct snap_extent want[] = {
		{ 0, MiB + 64 * KiB, SNAP_DATA },
		{ 5 * MiB + 64 * KiB, 128 * KiB, SNAP_DATA },
		{ 8 * MiB, 4 * KiB, SNAP_DATA }, /* qemu zero-fills the rest */
		{ 12 * MiB, 64 * KiB, SNAP_DATA },
	};
	expect(&E2, 4, want);
	unlink(copy);
	apply(s, 0, &E2);
	snapshot_free(s);
	same_as_image("qcow2");
}

Test(file_source, qcow2_abort_loses_nothing)
{
	struct snapshot *s;

	qcow2_base();
	qcow2_changes();
	s = begin_changes("qcow2", &E1);
	snapshot_free(s); /* abort */
	/* The base bitmap is back and tracking; the next one is gone. */
	sh("qemu-img info -U --output=json '%s' | grep -q '\"nestor.1\"'", img);
	sh("qemu-img info -U --output=json '%s' | grep -q '\"auto\"'", img);
	sh("! qemu-img info -U '%s' | grep -q nestor.2", img);

	s = begin_expect("qcow2", 7, 1);
	collect(s, 0, 1ull << 30, &E2);
	expect(&E2, E1.n, E1.v);
	snapshot_free(s);

	/* Writes after an abort are tracked too. */
	qio("write -P 0x77 14M 64k");
	s = begin1("qcow2", 7);
	cr_assert_not_null(s);
	collect(s, 0, 1ull << 30, &E2);
	check_changes_plus(&E2, 64 * KiB);
	covers(&E2, 14 * MiB, 64 * KiB, SNAP_DATA);
	commit_and_compare(s, &E2, 8, "qcow2");
}

Test(file_source, qcow2_crash_after_rotation_is_recovered)
{
	struct snapshot *s;

	qcow2_base();
	qio("write -P 0x5a 1M 64k");
	/* What a crash between begin's rotation and commit leaves behind. */
	sh("qemu-img bitmap --add --enable -f qcow2 '%s' nestor.2", img);
	sh("qemu-img bitmap --disable -f qcow2 '%s' nestor.1", img);
	qio("write -P 0x5b 8M 4k");
	sh("qemu-img bitmap --add -f qcow2 '%s' nestor.9", img); /* a stray */
	s = begin_expect("qcow2", 7, 1);
	sh("! qemu-img info -U '%s' | grep -q nestor.9", img);
	collect(s, 0, 1ull << 30, &E2);
	covers(&E2, MiB, 64 * KiB, SNAP_DATA);
	covers(&E2, 8 * MiB, 4 * KiB, SNAP_DATA);
	cr_assert_leq(E2.bytes, 2 * GRAN);
	commit_and_compare(s, &E2, 8, "qcow2");
	/* After the commit only the new tracking bitmap is left. */
	sh("! qemu-img info -U '%s' | grep -q nestor.1", img);
	sh("qemu-img info -U '%s' | grep -q nestor.2", img);
}

struct reader {
	struct snapshot *s;
	uint64_t off;
	int byte, ok;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	unsigned char buf[64 * 1024];

	r->ok = 1;
	for (int i = 0; i < 50 && r->ok; i++) {
		if (snapshot_read(r->s, 0, r->off, buf, sizeof(buf)) != 0)
			r->ok = 0;
		for (size_t k = 0; k < sizeof(buf) && r->ok; k++)
			if (buf[k] != r->byte)
				r->ok = 0;
	}
	return NULL;
}

Test(file_source, qcow2_concurrent_reads)
{
	struct reader r[3];
	pthread_t t[3];
	struct snapshot *s;

	qcow2_base();
	s = begin1("qcow2", 7);
	cr_assert_not_null(s);
	r[0] = (struct reader){ s, 0, 0x11, 0 };
	r[1] = (struct reader){ s, 5 * MiB, 0x22, 0 };
	r[2] = (struct reader){ s, 12 * MiB, 0x33, 0 };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		cr_assert(r[i].ok, "reader %d saw wrong bytes", i);
	}
	snapshot_free(s);
}

Test(file_source, qcow2_removed_bitmap_is_full)
{
	struct snapshot *s;

	qcow2_base();
	qio("write -P 0x5a 1M 64k");
	sh("qemu-img bitmap --remove -f qcow2 '%s' nestor.1", img);
	s = begin_expect("qcow2", 7, 0);
	collect(s, 0, 1ull << 30, &E2);
	covers(&E2, 0, MiB + 64 * KiB, SNAP_DATA);
	cr_assert_eq(E2.bytes, MiB + 64 * KiB + 192 * KiB + 64 * KiB);
	cr_assert_eq(snapshot_commit(s, 8), 0);
	snapshot_free(s);

	/* Tracking starts again from the full copy. */
	qio("write -P 0x5b 8M 4k");
	s = begin_expect("qcow2", 8, 1);
	collect(s, 0, 1ull << 30, &E2);
	/* The rest of the new cluster reads as zeros and is reported so. */
	const struct snap_extent want[] = {
		{ 8 * MiB, 4 * KiB, SNAP_DATA },
		{ 8 * MiB + 4 * KiB, 60 * KiB, SNAP_ZERO },
	};
	expect(&E2, 2, want);
	snapshot_free(s);
}

Test(file_source, qcow2_resized_is_full)
{
	struct snapshot *s;

	qcow2_base();
	sh("qemu-img resize -q -f qcow2 '%s' 32M", img);
	s = begin_expect("qcow2", 7, 0);
	cr_assert_eq(snapshot_disk_size(s, 0), 32 * MiB);
	snapshot_free(s);
}

/* raw with data at 0 (1M) and 5M (192k); full copy committed as 7. */
static void
raw_base(void)
{
	const struct snap_extent want[] = {
		{ 0, MiB, SNAP_DATA },
		{ 5 * MiB, 192 * KiB, SNAP_DATA },
	};

	raw_create();
	raw_fill(0, MiB, 0x11);
	raw_fill(5 * MiB, 192 * KiB, 0x22);
	full_copy_as_7("raw", 2, want);
}

static void
raw_changes(void)
{
	raw_fill(MiB, 64 * KiB, 0x5a);
	raw_fill(5 * MiB, 64 * KiB, 0);
	raw_fill(8 * MiB, 4 * KiB, 0x5b);
}

Test(file_source, raw_full_then_incremental)
{
	struct snapshot *s;

	raw_base();
	raw_changes();
	s = begin_changes("raw", &E2);
	commit_and_compare(s, &E2, 8, "raw");

	expect_unchanged("raw", 8);
}

/* The point a hash file names (header offset 24, little-endian); 0 when
 * the file is absent. */
static uint64_t
hashes_point(const char *suffix)
{
	char path[400];
	unsigned char b[8];
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vda.hashes%s", state, suffix);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	cr_assert_eq(fseek(f, 24, SEEK_SET), 0);
	cr_assert_eq(fread(b, 1, 8, f), 8u, "%s: short header", path);
	fclose(f);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* snapshot_reads_done stages a raw disk's new hashes beside the hash file:
 * the committed ones stay in place until the commit renames the staged
 * file over them; a free without a commit, or a commit of another point,
 * drops what was staged and never leaves a wrong base. */
Test(file_source, raw_reads_done_stages_the_hashes)
{
	struct snapshot *s;

	raw_base();
	raw_changes();
	s = begin_changes("raw", &E2);
	apply(s, 0, &E2);
	snapshot_reads_done(s, 8);
	cr_assert_eq(hashes_point(".tmp"), 8, "staged for 8");
	cr_assert_eq(hashes_point(""), 7, "the committed hashes stay until the commit");
	cr_assert_eq(snapshot_commit(s, 8), 0);
	snapshot_free(s);
	same_as_image("raw");
	cr_assert_eq(hashes_point(".tmp"), 0, "renamed into place");
	cr_assert_eq(hashes_point(""), 8);
	expect_unchanged("raw", 8);

	/* Staged, then abandoned: 8 stays the base and the change is listed
	 * again. */
	raw_fill(2 * MiB, 64 * KiB, 0x6c);
	s = begin_expect("raw", 8, 1);
	collect(s, 0, 1ull << 30, &E2);
	covers(&E2, 2 * MiB, 64 * KiB, SNAP_DATA);
	snapshot_reads_done(s, 9);
	cr_assert_eq(hashes_point(".tmp"), 9);
	snapshot_free(s);
	cr_assert_eq(hashes_point(".tmp"), 0, "dropped by the free");
	cr_assert_eq(hashes_point(""), 8);

	/* Staged for 9, committed as 10: the commit writes 10's own. */
	s = begin_expect("raw", 8, 1);
	collect(s, 0, 1ull << 30, &E2);
	covers(&E2, 2 * MiB, 64 * KiB, SNAP_DATA);
	apply(s, 0, &E2);
	snapshot_reads_done(s, 9);
	cr_assert_eq(snapshot_commit(s, 10), 0);
	snapshot_free(s);
	same_as_image("raw");
	cr_assert_eq(hashes_point(".tmp"), 0);
	cr_assert_eq(hashes_point(""), 10);
	expect_unchanged("raw", 10);
}

/* The generic layer (snapshot.c) ends listing and reading at the commit,
 * and a commit is tried once, also when it fails. */
Test(file_source, commit_is_the_end)
{
	struct snapshot *s;
	struct snap_extent e;
	char buf[512];

	raw_base();
	raw_changes();
	s = begin1("raw", 7);
	cr_assert_not_null(s);
	collect(s, 0, 1ull << 30, &E2);
	cr_assert_eq(snapshot_commit(s, 8), 0);
	cr_assert_eq(snapshot_read(s, 0, 0, buf, sizeof(buf)), -1, "read after commit");
	cr_assert_eq(snapshot_next_extent(s, 0, 1ull << 20, &e), -1, "listing after commit");
	cr_assert_eq(snapshot_commit(s, 9), -1, "second commit");
	snapshot_free(s);

	/* A failed commit (a directory where the hash file goes) is not
	 * retried. */
	s = begin1("raw", 8);
	cr_assert_not_null(s);
	collect(s, 0, 1ull << 30, &E2);
	sh("rm -f '%s/vda.hashes' && mkdir -p '%s/vda.hashes/x'", state, state);
	cr_assert_eq(snapshot_commit(s, 9), -1, "commit over a directory");
	sh("rm -rf '%s/vda.hashes'", state);
	cr_assert_eq(snapshot_commit(s, 9), -1, "commit retried after a failure");
	cr_assert_eq(snapshot_read(s, 0, 0, buf, sizeof(buf)), -1, "read after a failed commit");
	snapshot_free(s);
}

Test(file_source, raw_wrong_base_and_lost_hashes_are_full)
{
	struct snapshot *s;
	char hashes[400];

	raw_base();
	raw_changes();
	s = begin_expect("raw", 99, 0);
	snapshot_free(s);

	snprintf(hashes, sizeof(hashes), "%s/vda.hashes", state);
	cr_assert_eq(unlink(hashes), 0);
	s = begin_expect("raw", 7, 0);
	collect(s, 0, 1ull << 30, &E2);
	unlink(copy);
	apply(s, 0, &E2);
	snapshot_free(s);
	same_as_image("raw");
}

Test(file_source, raw_abort_loses_nothing)
{
	struct snapshot *s;

	raw_base();
	raw_changes();
	s = begin1("raw", 7);
	cr_assert_not_null(s);
	collect(s, 0, 1ull << 30, &E1);
	check_changes(&E1);
	snapshot_free(s);

	s = begin_expect("raw", 7, 1);
	collect(s, 0, 1ull << 30, &E2);
	expect(&E2, E1.n, E1.v);
	/* Commit needs every extent listed; a fresh snapshot has not. */
	snapshot_free(s);
	s = begin1("raw", 7);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_commit(s, 8), -1);
	snapshot_free(s);
}

Test(file_source, group_is_full_if_one_disk_is)
{
	struct snap_file_disk d[2] = {
		{ .name = "vda", .path = img, .format = "qcow2" },
		{ .name = "vdb", .path = copy, .format = "raw" },
	};
	struct snapshot *s;
	char hashes[400];

	sh("qemu-img create -q -f qcow2 '%s' 16M", img);
	qio("write -P 0x11 0 64k");
	sh("truncate -s 1M '%s'", copy);
	s = snapshot_file_begin(d, 2, state, 0);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_ndisks(s), 2);
	cr_assert_str_eq(snapshot_disk_name(s, 1), "vdb");
	cr_assert_eq(snapshot_disk_size(s, 1), MiB);
	collect(s, 0, 1ull << 30, &E1);
	collect(s, 1, 1ull << 30, &E2);
	cr_assert_eq(E1.bytes, 64 * KiB);
	cr_assert_eq(E2.n, 0);
	cr_assert_eq(snapshot_commit(s, 3), 0);
	snapshot_free(s);

	s = snapshot_file_begin(d, 2, state, 3);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1);
	snapshot_free(s);

	snprintf(hashes, sizeof(hashes), "%s/vdb.hashes", state);
	cr_assert_eq(unlink(hashes), 0);
	s = snapshot_file_begin(d, 2, state, 3);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	collect(s, 0, 1ull << 30, &E1);
	cr_assert_eq(E1.bytes, 64 * KiB, "qcow2 disk must be listed in full");
	snapshot_free(s);
}

Test(file_source, missing_image_fails_cleanly)
{
	struct snapshot *s;

	s = begin1(NULL, 0);
	cr_assert_null(s);
	s = begin1("qcow2", 0);
	cr_assert_null(s);
	cr_assert_null(image_open(img, NULL));
	/* Also a vanished image after a committed point. */
	raw_base();
	cr_assert_eq(unlink(img), 0);
	cr_assert_null(begin1("raw", 7));
}

Test(file_source, bad_arguments)
{
	struct snap_file_disk d = { .name = "../x", .path = img, .format = "raw" };
	struct snap_extent x;
	struct snapshot *s;
	char buf[16];

	raw_create();
	cr_assert_null(snapshot_file_begin(&d, 1, state, 0));
	d.name = "vda";
	d.format = "vmdk";
	cr_assert_null(snapshot_file_begin(&d, 1, state, 0));
	s = begin1("raw", 0);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_next_extent(s, 1, GRAN, &x), -1);
	cr_assert_eq(snapshot_next_extent(s, 0, 0, &x), -1);
	cr_assert_eq(snapshot_read(s, 0, DISK_SIZE - 8, buf, sizeof(buf)), -1);
	cr_assert_eq(snapshot_read(s, 0, DISK_SIZE - 16, buf, sizeof(buf)), 0);
	cr_assert_null(snapshot_disk_name(s, 3));
	snapshot_free(s);
	snapshot_free(NULL);
	image_free(NULL);
}

/* ---- block scan (snapshot/blockscan.c) ------------------------------------ */

/* Writes block b of a scan image (len bytes): zeros, or a pattern of b. */
static void
scan_put(int fd, unsigned char *blk, uint64_t b, size_t len, int zero)
{
	for (size_t i = 0; i < len; i++)
		blk[i] = zero ? 0 : (unsigned char)(b * 131 + i * 7);
	cr_assert_eq(pwrite(fd, blk, len, (off_t)(b * GRAN)), (ssize_t)len);
}

/* A raw scan image, block b as layout[b] says: 'd' data, 'z' written zeros,
 * 'h' a hole; the last block is 1000 bytes long. Returns its size. */
static uint64_t
scan_image_of(const char *layout)
{
	size_t n = strlen(layout);
	uint64_t size = (n - 1) * GRAN + 1000;
	unsigned char *blk = malloc(GRAN);
	int fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_not_null(blk);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	for (uint64_t b = 0; b < n; b++)
		if (layout[b] != 'h')
			scan_put(fd, blk, b, b == n - 1 ? 1000 : GRAN, layout[b] == 'z');
	close(fd);
	free(blk);
	return size;
}

/* 40 blocks + 1000 bytes: data, written zeros (1-2), a hole over two whole
 * chunks (3-34), a hole inside the last chunk (36), and a short tail. */
static uint64_t
scan_image(void)
{
	return scan_image_of("dzzhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhdhdddd");
}

static void
scan_check(uint64_t size, int truncate_after_open)
{
	static const unsigned char zero[GRAN];
	uint64_t nblocks = size / GRAN + 1, hashes[64] = { 0 };
	unsigned char *blk = malloc(GRAN);
	struct image *im = image_open(copy, "raw");
	struct blockscan *s;
	int fd = open(copy, O_RDONLY);
	uint64_t b = 0;

	cr_assert_not_null(im);
	cr_assert_not_null(blk);
	cr_assert_geq(fd, 0);
	/* The image keeps the size it had when opened. */
	if (truncate_after_open)
		cr_assert_eq(truncate(copy, 36 * (off_t)GRAN), 0);
	s = blockscan_start(im, size, GRAN, hashes, hash64(zero, GRAN),
			    hash64(zero, size % GRAN), "scan");
	cr_assert_not_null(s);
	if (truncate_after_open) {
		/* some chunk reads fail; the failure reaches the caller */
		for (b = 0; b < nblocks; b += BLOCKSCAN_CHUNK_BLOCKS) {
			uint32_t n, z;
			if (blockscan_wait(s, b, &n, &z) < 0)
				break;
		}
		cr_assert_lt(b, nblocks, "a read past the end went unnoticed");
		goto out;
	}
	while (b < nblocks) {
		uint32_t n = 0, z = 0;

		cr_assert_eq(blockscan_wait(s, b, &n, &z), 0);
		cr_assert_eq(n, nblocks - b < BLOCKSCAN_CHUNK_BLOCKS ? nblocks - b
								   : BLOCKSCAN_CHUNK_BLOCKS);
		for (uint32_t i = 0; i < n; i++, b++) {
			size_t len = b == nblocks - 1 ? size % GRAN : GRAN;
			cr_assert_eq(pread(fd, blk, len, (off_t)(b * GRAN)), (ssize_t)len);
			cr_assert_eq(hashes[b], hash64(blk, len), "block %llu hash",
				     (unsigned long long)b);
			cr_assert_eq((z >> i) & 1, buf_is_zero(blk, len), "block %llu zero bit",
				     (unsigned long long)b);
		}
	}
	cr_assert_eq(blockscan_wait(s, 1, &(uint32_t){ 0 }, &(uint32_t){ 0 }), -1,
		     "an unaligned block is not a chunk");
out:
	blockscan_free(s);
	blockscan_free(NULL);
	image_free(im);
	close(fd);
	free(blk);
}

Test(file_source, blockscan_hashes_every_block_in_order)
{
	uint64_t size = scan_image();

	/* Many rounds: the helper thread and the caller race for chunks. */
	for (int round = 0; round < 50; round++)
		scan_check(size, 0);
}

/* 60 blocks + 1000 bytes of data with written zeros at 20-21 and one hole
 * at 50: a data run over three whole chunks, which a worker reads without
 * probing again once its first probe saw the run. */
static uint64_t
scan_image_long_run(void)
{
	char layout[62];

	memset(layout, 'd', 61);
	layout[61] = '\0';
	layout[20] = layout[21] = 'z';
	layout[50] = 'h';
	return scan_image_of(layout);
}

Test(file_source, blockscan_long_data_run)
{
	uint64_t size = scan_image_long_run();

	for (int round = 0; round < 20; round++)
		scan_check(size, 0);
}

Test(file_source, blockscan_reports_a_failed_read)
{
	scan_check(scan_image(), 1);
}

/* ---- consistency (issue 13, item 4) ---- */

static struct snapshot *
begin_in_place(const char *path, const char *sdir, uint64_t base)
{
	struct snap_file_disk d = { .name = "vda", .path = path, .format = "raw",
				    .clone = SNAP_CLONE_NONE };

	return snapshot_file_begin(&d, 1, sdir, base);
}

/* Reads every DATA extent of the listing, as the sender does. */
static void
read_listed(struct snapshot *s, const struct listing *e)
{
	char *buf = malloc(4 * MiB);

	cr_assert_not_null(buf);
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].kind == SNAP_DATA)
			cr_assert_eq(snapshot_read(s, 0, e->v[i].offset, buf, e->v[i].length), 0);
	free(buf);
}

static int
listed_data(const struct listing *e, uint64_t off)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].kind == SNAP_DATA && e->v[i].offset <= off &&
		    off < e->v[i].offset + e->v[i].length)
			return 1;
	return 0;
}

Test(file_source, raw_quiet_read_is_crash_consistent)
{
	static struct listing e;
	struct snapshot *s;

	raw_create();
	raw_fill(MiB, 3 * GRAN, 0x11);
	s = begin_in_place(img, state, 0);
	cr_assert_not_null(s);
	collect(s, 0, 4 * MiB, &e);
	read_listed(s, &e);
	cr_assert_eq(snapshot_consistency(s), CONS_CRASH);
	/* A VM that shut down cleanly had nothing in flight. */
	snapshot_mark_quiesced(s, 0);
	cr_assert_eq(snapshot_consistency(s), CONS_APP);
	snapshot_free(s);
}

/* Block 0 is scanned as C1, rewritten to C2 before it is read and sent,
 * then set back to C1 after the commit: the base must hold C2's hash (what
 * the receiver got), so the next incremental sends block 0 again. */
Test(file_source, raw_written_during_read_is_not_pit_and_converges)
{
	static struct listing e;
	struct snapshot *s;

	raw_create();
	raw_fill(0, GRAN, 0xc1);
	raw_fill(2 * MiB, GRAN, 0x22);
	s = begin_in_place(img, state, 0);
	cr_assert_not_null(s);
	collect(s, 0, 4 * MiB, &e);
	cr_assert(listed_data(&e, 0));
	raw_fill(0, GRAN, 0xc2);
	read_listed(s, &e);
	cr_assert_eq(snapshot_consistency(s), CONS_NOT_PIT);
	snapshot_mark_quiesced(s, 0); /* never lifts a torn read */
	cr_assert_eq(snapshot_consistency(s), CONS_NOT_PIT);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);

	raw_fill(0, GRAN, 0xc1);
	s = begin_in_place(img, state, 1);
	cr_assert_not_null(s);
	cr_assert(snapshot_is_incremental(s));
	collect(s, 0, 4 * MiB, &e);
	cr_assert(listed_data(&e, 0), "block 0 differs from what was sent: must be resent");
	cr_assert(!listed_data(&e, 2 * MiB));
	read_listed(s, &e);
	cr_assert_eq(snapshot_consistency(s), CONS_CRASH);
	cr_assert_eq(snapshot_commit(s, 2), 0);
	snapshot_free(s);
}

/* Written after its blocks were read: only the change markers tell. */
Test(file_source, raw_marker_change_after_read_is_not_pit)
{
	static struct listing e;
	struct snapshot *s;

	raw_create();
	raw_fill(0, GRAN, 0x33);
	s = begin_in_place(img, state, 0);
	cr_assert_not_null(s);
	collect(s, 0, 4 * MiB, &e);
	read_listed(s, &e);
	raw_fill(8 * MiB, GRAN, 0x44);
	cr_assert_eq(snapshot_consistency(s), CONS_NOT_PIT);
	snapshot_free(s);
}

/* A group is as consistent as its weakest part. */
Test(file_source, multi_takes_the_weakest_part)
{
	static struct listing e;
	struct snapshot *parts[2], *m;
	char img2[320], state2[320];
	int fd;

	raw_create();
	raw_fill(0, GRAN, 0x55);
	snprintf(img2, sizeof(img2), "%s/other.img", dir);
	snprintf(state2, sizeof(state2), "%s/state2", dir);
	fd = open(img2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0 && ftruncate(fd, DISK_SIZE) == 0);
	close(fd);
	parts[0] = begin_in_place(img, state, 0);
	{
		struct snap_file_disk d = { .name = "vdb", .path = img2, .format = "raw",
					    .clone = SNAP_CLONE_NONE };
		parts[1] = snapshot_file_begin(&d, 1, state2, 0);
	}
	cr_assert(parts[0] && parts[1]);
	m = snapshot_multi(parts, 2);
	cr_assert_not_null(m);
	for (size_t d = 0; d < 2; d++)
		listing_collect(m, d, 4 * MiB, &e, 0);
	raw_fill(4 * MiB, GRAN, 0x66); /* the first part's file, after its read */
	cr_assert_eq(snapshot_disk_consistency(m, 1), CONS_CRASH);
	cr_assert_eq(snapshot_disk_consistency(m, 0), CONS_NOT_PIT);
	cr_assert_eq(snapshot_consistency(m), CONS_NOT_PIT);
	snapshot_free(m);
}

Test(file_source, reflink_mode_fails_without_reflink)
{
	struct snap_file_disk d = { .name = "vda", .path = img, .format = "raw",
				    .clone = SNAP_CLONE_REFLINK };
	struct snapshot *s;

	raw_create();
	/* /tmp here has no reflink: "auto" reads in place, "reflink" refuses. */
	s = snapshot_file_begin(&d, 1, state, 0);
	if (s) {
		/* a filesystem with reflink: the copy is one instant */
		cr_assert_eq(snapshot_consistency(s), CONS_CRASH);
		snapshot_free(s);
		return;
	}
	d.clone = SNAP_CLONE_AUTO;
	s = snapshot_file_begin(&d, 1, state, 0);
	cr_assert_not_null(s);
	snapshot_free(s);
}
