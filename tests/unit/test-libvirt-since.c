/* Unit tests of snapshot_libvirt_changed_since (a failback's X of a
 * domain's disk, issue 14): every answer it gives before it asks libvirt
 * (the unit tests never load it): the whole disk, with why, when the
 * libvirt source's state cannot vouch for a bitmap since P; the ranges
 * callback never called then, and nothing written (state and image
 * sha256-unchanged). The bitmaps themselves: test-planned.sh, 2d. */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/libvirt.h"
#include "tmpdir.h"

TMPDIR_SUITE(lv_since, dir, "nestor-lvsince");

static char img[160], cmd[768], why[400];
static int calls;

/* A test-only command on our own temp dir. */
#define SH(...) do { snprintf(cmd, sizeof(cmd), __VA_ARGS__); \
		     cr_assert_eq(system(cmd), 0, "command failed: %s", cmd); } while (0)

static int
count(void *arg, uint64_t off, uint64_t len)
{
	(void)arg, (void)off, (void)len;
	calls++;
	return 0;
}

/* The source's state of domain d1: committed at point `point`, checkpoint
 * cp (JSON text: "\"name\"" or "null"), one disk vdb of format fmt and
 * size bytes. */
static void
state(const char *point, const char *cp, const char *fmt, unsigned long size)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/d1.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"version\": 1, \"domain\": \"d1\", \"uuid\": "
		"\"6b2d0f5c-4a3e-4a57-9a7e-3c1f2b1d0e11\", \"seq\": 3, \"checkpoint\": %s, "
		"\"point\": \"%s\", \"disks\": [{\"target\": \"vdb\", \"format\": \"%s\", "
		"\"size\": %lu}]}\n", cp, point, fmt, size);
	cr_assert_eq(fclose(f), 0);
	snprintf(img, sizeof(img), "%s/vdb.qcow2", dir);
}

/* Asks for target's X since point 4 of the state above: 0, why holding
 * want, fn never called. */
static void
unknown(const char *target, const char *want)
{
	struct snap_lv_since in = { "test:///default", dir, "d1", target, img, 4 };

	log_set_level(LOG_LVL_NONE);
	calls = 0;
	cr_assert_eq(snapshot_libvirt_changed_since(&in, count, NULL, why, sizeof(why)), 0,
		     "whole disk expected (%s)", want);
	cr_assert_not_null(strstr(why, want), "why: '%s', want '%s'", why, want);
	cr_assert_eq(calls, 0);
}

Test(lv_since, no_state)
{
	snprintf(img, sizeof(img), "%s/vdb.qcow2", dir);
	unknown("vdb", "no committed state of the libvirt source");
}

Test(lv_since, malformed_state_is_no_state)
{
	SH("echo '{\"version\": 1, \"domain\": \"d1\"' > '%s/d1.json'", dir);
	snprintf(img, sizeof(img), "%s/vdb.qcow2", dir);
	unknown("vdb", "no committed state of the libvirt source");
}

Test(lv_since, state_at_another_point)
{
	state("3", "\"nestor-t-3\"", "qcow2", 1048576);
	unknown("vdb", "the libvirt source's state is at point 3, not at 4");
}

Test(lv_since, disk_not_in_the_point)
{
	state("4", "\"nestor-t-3\"", "qcow2", 1048576);
	unknown("vda", "the disk was not in the libvirt source's point");
}

Test(lv_since, raw_disk)
{
	state("4", "\"nestor-t-3\"", "raw", 1048576);
	unknown("vdb", "a raw disk keeps no bitmap");
}

Test(lv_since, no_checkpoint)
{
	state("4", "null", "qcow2", 1048576);
	unknown("vdb", "no checkpoint was recorded at the point");
}

/* Resized since P: found from the image (qemu-img info -U), which stays
 * byte for byte as it was, its bitmap included. */
Test(lv_since, resized_untouched)
{
	char before[160], after[160];
	FILE *p;

	state("4", "\"nestor-t-3\"", "qcow2", 1048576);
	SH("qemu-img create -q -f qcow2 '%s' 2M && qemu-img bitmap --add '%s' nestor-t-3",
	   img, img);
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s/d1.json' | sha256sum", img, dir);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_assert_not_null(fgets(before, sizeof(before), p));
	pclose(p);
	unknown("vdb", "resized since the point (1048576 -> 2097152 bytes)");
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_assert_not_null(fgets(after, sizeof(after), p));
	pclose(p);
	cr_assert_str_eq(before, after, "the image or the state changed");
}
