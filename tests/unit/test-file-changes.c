/* Unit tests of snapshot_file_changes (failback's X, issue 14): what image
 * files changed since a committed point, listed without writing a byte of
 * the images (qcow2 bitmaps untouched) or of the source's state. */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "helpers.h"
#include "snapshot/source.h"
#include "tmpdir.h"

#define MiB (1024ull * 1024)

TMPDIR_SUITE(file_changes, dir, "nestor-fchg");

static char img[128], state[128], cmd[512];
static struct listing L;

static void
paths(void)
{
	log_set_level(LOG_LVL_NONE);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
}

/* A test-only command on our own temp dir. */
#define SH(...) do { snprintf(cmd, sizeof(cmd), __VA_ARGS__); \
		     cr_assert_eq(system(cmd), 0, "command failed: %s", cmd); } while (0)

/* sha256 of the image and of every state file, as one line. */
static char *
sums(void)
{
	char *line = NULL;
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

/* Seed point 1 of a fresh image of format fmt, with data at 0. */
static void
seed(const char *fmt)
{
	struct snapshot *s;

	paths();
	SH("qemu-img create -q -f %s '%s' 16M", fmt, img);
	SH("qemu-io -f %s -c 'write -P 0x11 0 1M' '%s' >/dev/null", fmt, img);
	s = open_disk(fmt, 0, 0);
	cr_assert_not_null(s);
	listing_collect(s, 0, 1ull << 30, &L, 1);
	cr_assert_eq(snapshot_commit(s, 1), 0);
	snapshot_free(s);
}

static void
changes_since_1(const char *fmt)
{
	struct snapshot *s;
	char *before, *after;

	seed(fmt);
	SH("qemu-io -f %s -c 'write -P 0x58 8M 128k' '%s' >/dev/null", fmt, img);
	before = sums();
	s = open_disk(fmt, 1, 1);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1, "tracking since point 1 is there");
	listing_collect(s, 0, 1ull << 30, &L, 0);
	for (size_t i = 0; i < L.n; i++) {
		cr_assert_geq(L.v[i].offset, 8 * MiB - 64 * 1024, "extent %zu at %llu", i,
			      (unsigned long long)L.v[i].offset);
		cr_assert_leq(L.v[i].offset + L.v[i].length, 8 * MiB + 192 * 1024);
	}
	cr_assert_geq(L.bytes, 128 * 1024, "the write is listed");
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
