/* Unit tests of snapshot_file_changes (failback's X, issue 14): what image
 * files changed since a committed point, listed without writing a byte of
 * the images (qcow2 bitmaps untouched) or of the source's state. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/source.h"

#define MiB (1024ull * 1024)

static char dir[256], img[300], state[300];

static void
setup(void)
{
	log_set_level(LOG_LVL_NONE);
	snprintf(dir, sizeof(dir), "/tmp/nestor-fchg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/disk.img", dir);
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

TestSuite(file_changes, .init = setup, .fini = teardown, .timeout = 60);

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

/* sha256 of the image and of every state file, as one line. */
static char *
sums(void)
{
	char cmd[700], *line = NULL;
	size_t cap = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "cat '%s' '%s'/* | sha256sum", img, state);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_gt(getline(&line, &cap, p), 0);
	pclose(p);
	return line;
}

static struct snapshot *
open_disk(const char *fmt, uint64_t base, int changes)
{
	struct snap_file_disk d = { .name = "vda", .path = img, .format = fmt,
				    .clone = SNAP_CLONE_NONE };

	return changes ? snapshot_file_changes(&d, 1, state, base)
		       : snapshot_file_begin(&d, 1, state, base);
}

/* Every extent of disk 0 into the caller's [off, len) pairs; their count. */
static size_t
list(struct snapshot *s, uint64_t *off, uint64_t *len, size_t max)
{
	struct snap_extent e;
	size_t n = 0;
	int r;

	while ((r = snapshot_next_extent(s, 0, 1ull << 30, &e)) == 1) {
		cr_assert_lt(n, max);
		off[n] = e.offset;
		len[n++] = e.length;
	}
	cr_assert_eq(r, 0);
	return n;
}

/* Seed point 1 of a fresh image of format fmt, with data at 0. */
static void
seed(const char *fmt)
{
	uint64_t off[64], len[64];
	struct snapshot *s;

	sh("qemu-img create -q -f %s '%s' 16M", fmt, img);
	sh("qemu-io -f %s -c 'write -P 0x11 0 1M' '%s' >/dev/null", fmt, img);
	s = open_disk(fmt, 0, 0);
	cr_assert_not_null(s);
	(void)list(s, off, len, 64);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);
}

static void
changes_since_1(const char *fmt)
{
	uint64_t off[64], len[64], covered = 0;
	struct snapshot *s;
	char *before, *after;
	size_t n;

	seed(fmt);
	sh("qemu-io -f %s -c 'write -P 0x58 8M 128k' '%s' >/dev/null", fmt, img);
	before = sums();
	s = open_disk(fmt, 1, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1, "tracking since point 1 is there");
	n = list(s, off, len, 64);
	for (size_t i = 0; i < n; i++) {
		cr_assert_geq(off[i], 8 * MiB - 64 * 1024, "extent %zu at %llu", i,
			      (unsigned long long)off[i]);
		cr_assert_leq(off[i] + len[i], 8 * MiB + 192 * 1024);
		covered += len[i];
	}
	cr_assert_geq(covered, 128 * 1024, "the write is listed");
	cr_assert_eq(snapshot_commit(s, 2), -1, "a listing is never committed");
	snapshot_free(s);
	after = sums();
	cr_assert_str_eq(before, after, "image or state written by a listing");
	free(before);
	free(after);

	/* Against another point: no tracking since it, every allocated range. */
	s = open_disk(fmt, 5, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	snapshot_free(s);
	/* The forward source still goes on from point 1, as if nothing
	 * happened. */
	s = open_disk(fmt, 1, 0);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1);
	snapshot_free(s);
}

Test(file_changes, qcow2_since_the_point_without_a_write)
{
	changes_since_1("qcow2");
}

Test(file_changes, raw_since_the_point_without_a_write)
{
	changes_since_1("raw");
}
