/* Unit tests of point consistency (issue 13, item 4): the level names and
 * their order (common/consistency), the change markers of files and block
 * devices (snapshot/filemarks), and the level a receiver takes from a
 * point's metadata (replicator/receiver/pointcons). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/consistency.h"
#include "replicator/receiver/pointcons.h"
#include "snapshot/filemarks.h"
#include "tmpdir.h"

TMPDIR_SUITE(consistency, dir, "nestor-cons");

Test(consistency, names_round_trip_and_order)
{
	for (int l = CONS_NOT_PIT; l <= CONS_APP; l++) {
		const char *n = consistency_name(l);

		cr_assert_lt(strlen(n), CONSISTENCY_NAME_MAX);
		cr_assert_eq(consistency_parse(n, strlen(n)), l, "%s", n);
	}
	cr_assert_str_eq(consistency_name(CONS_NOT_PIT), "not-point-in-time");
	cr_assert_str_eq(consistency_name(CONS_CRASH), "crash-consistent");
	cr_assert_str_eq(consistency_name(CONS_APP), "app-consistent");
	cr_assert_str_eq(consistency_name(CONS_UNKNOWN), "unknown");
	cr_assert_str_eq(consistency_name(42), "unknown");
	cr_assert_str_eq(consistency_name(-1), "unknown");
	cr_assert_eq(consistency_parse("unknown", 7), CONS_UNKNOWN);
	cr_assert_eq(consistency_parse("app-consistent!", 15), CONS_UNKNOWN);
	cr_assert_eq(consistency_parse("app-consistent", 3), CONS_UNKNOWN);
	cr_assert_eq(consistency_parse("", 0), CONS_UNKNOWN);
	cr_assert_eq(consistency_parse(NULL, 5), CONS_UNKNOWN);
}

Test(consistency, weakest_wins)
{
	cr_assert_eq(consistency_weakest(CONS_APP, CONS_CRASH), CONS_CRASH);
	cr_assert_eq(consistency_weakest(CONS_CRASH, CONS_APP), CONS_CRASH);
	cr_assert_eq(consistency_weakest(CONS_APP, CONS_NOT_PIT), CONS_NOT_PIT);
	cr_assert_eq(consistency_weakest(CONS_CRASH, CONS_UNKNOWN), CONS_UNKNOWN);
	cr_assert_eq(consistency_weakest(CONS_APP, CONS_APP), CONS_APP);
}

Test(consistency, blkstat_parse)
{
	uint64_t sec = 0, disc = 0;

	cr_assert_eq(filemarks_parse_blkstat("       0        0        0        0        2      126"
					     "     1024        0        0        0        0        7"
					     "        0        9        0        0        0\n",
					     &sec, &disc), 0);
	cr_assert_eq(sec, 1024);
	cr_assert_eq(disc, 9);
	/* the 11 fields of old kernels: no discard counter */
	cr_assert_eq(filemarks_parse_blkstat("1 2 3 4 5 6 7 8 9 10 11\n", &sec, &disc), 0);
	cr_assert_eq(sec, 7);
	cr_assert_eq(disc, 0);
	cr_assert_eq(filemarks_parse_blkstat("1 2 3 4 5 6 7 8 9 10\n", &sec, &disc), -1);
	cr_assert_eq(filemarks_parse_blkstat("", &sec, &disc), -1);
	cr_assert_eq(filemarks_parse_blkstat("1 2 x 4 5 6 7 8 9 10 11", &sec, &disc), -1);
	cr_assert_eq(filemarks_parse_blkstat("1 2 3 4 5 99999999999999999999999 7 8 9 10 11",
					     &sec, &disc), -1);
}

Test(consistency, marks_see_a_write_right_after_settling)
{
	struct filemarks a, b;
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, "x", 1, 4096), 1);
	/* Settling after a write in this very tick: the next write, however
	 * soon, moves the stamps. */
	cr_assert_eq(filemarks_take(path, true, &a, "t"), 0);
	cr_assert_eq(filemarks_take(path, false, &b, "t"), 0);
	cr_assert(filemarks_same(&a, &b));
	cr_assert_eq(pwrite(fd, "y", 1, 0), 1); /* same size */
	cr_assert_eq(filemarks_take(path, false, &b, "t"), 0);
	cr_assert(!filemarks_same(&a, &b), "a write after the settled marks went unseen");
	close(fd);
	/* replaced by another file of the same size: another inode */
	cr_assert_eq(filemarks_take(path, true, &a, "t"), 0);
	cr_assert_eq(unlink(path), 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, 4097) == 0);
	close(fd);
	cr_assert_eq(filemarks_take(path, false, &b, "t"), 0);
	cr_assert(!filemarks_same(&a, &b));
	cr_assert_eq(filemarks_take("/nonexistent/x", false, &b, "t"), -1);
}

Test(consistency, block_device_counters_compared)
{
	struct filemarks a = { .blk = true, .wr_sectors = 8 }, b = a;

	cr_assert(filemarks_same(&a, &b));
	b.wr_sectors = 16;
	cr_assert(!filemarks_same(&a, &b));
	b = a;
	b.discard_sectors = 8;
	cr_assert(!filemarks_same(&a, &b));
}

static int
meta_level(const char *json)
{
	return pointcons_from_meta(json, strlen(json));
}

Test(consistency, receiver_takes_only_known_names)
{
	char *big;

	cr_assert_eq(meta_level("{\"consistency\":\"crash-consistent\",\"disks\":[]}"), CONS_CRASH);
	cr_assert_eq(meta_level("{\"consistency\":\"app-consistent\"}"), CONS_APP);
	cr_assert_eq(meta_level("{\"consistency\":\"not-point-in-time\"}"), CONS_NOT_PIT);
	cr_assert_eq(meta_level("{\"consistency\":\"perfect\"}"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("{\"consistency\":\"crash-consistent\\u0000x\"}"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("{\"consistency\":3}"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("{\"consistency\":\"app-consistent\","
				"\"consistency\":\"app-consistent\"}"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("{}"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("<domain/>"), CONS_UNKNOWN);
	cr_assert_eq(meta_level("[\"crash-consistent\"]"), CONS_UNKNOWN);
	cr_assert_eq(pointcons_from_meta(NULL, 0), CONS_UNKNOWN);
	/* a long value is not even compared */
	big = malloc(70000);
	cr_assert_not_null(big);
	memcpy(big, "{\"consistency\":\"", 16);
	memset(big + 16, 'a', 69000);
	memcpy(big + 69016, "\"}", 3);
	cr_assert_eq(meta_level(big), CONS_UNKNOWN);
	free(big);
}
