/* Unit tests of failback/wset: W, a failover overlay's own allocation
 * (its top layer only: what its base holds is not W). */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "failback/wset.h"
#include "snapshot/ranges.h"
#include "tmpdir.h"

TMPDIR_SUITE(fbwset, dir, "nestor-fbwset");

static char cmd[1024], path[128];

/* base.qcow2 with data over its first MiB, ov.qcow2 over it. */
static void
overlay(void)
{
	log_set_level(LOG_LVL_NONE);
	snprintf(path, sizeof(path), "%s/ov.qcow2", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
		 "qemu-io -f qcow2 -c 'write -q -P 0x11 0 1M' base.qcow2 && "
		 "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2", dir);
	cr_assert_eq(system(cmd), 0);
}

static void
ov_io(const char *io)
{
	snprintf(cmd, sizeof(cmd), "qemu-io -f qcow2 -c '%s' '%s' >/dev/null", io, path);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(fbwset, only_the_top_layer)
{
	struct range_set *rs = range_set_new("vda", range_set_max_for(16 << 20));
	uint64_t off, len;

	overlay();
	cr_assert_eq(failback_overlay_ranges(path, rs), 0);
	cr_assert_eq(range_set_count(rs), 0, "the base's data is not W");
	ov_io("write -P 0x22 4M 64k");
	ov_io("write -z 8M 128k"); /* zeros written over the base: W too */
	ov_io("write -P 0x33 512k 64k"); /* over the base's data */
	cr_assert_eq(failback_overlay_ranges(path, rs), 0);
	range_set_normalise(rs);
	cr_assert_eq(range_set_count(rs), 3);
	cr_assert_eq(range_set_range(rs, 0, &off, &len), 0);
	cr_assert(off == 512 << 10 && len == 64 << 10, "%llu+%llu", (unsigned long long)off,
		  (unsigned long long)len);
	cr_assert_eq(range_set_range(rs, 1, &off, &len), 0);
	cr_assert(off == 4 << 20 && len == 64 << 10);
	cr_assert_eq(range_set_range(rs, 2, &off, &len), 0);
	cr_assert(off == 8 << 20 && len == 128 << 10);
	range_set_free(rs);
}

Test(fbwset, refuses_what_is_not_a_qcow2_overlay)
{
	struct range_set *rs = range_set_new("vda", 16);

	snprintf(path, sizeof(path), "%s/missing.qcow2", dir);
	log_set_level(LOG_LVL_NONE);
	cr_assert_eq(failback_overlay_ranges(path, rs), -1);
	snprintf(cmd, sizeof(cmd), "truncate -s 1M '%s/raw.img'", dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/raw.img", dir);
	cr_assert_eq(failback_overlay_ranges(path, rs), -1);
	range_set_free(rs);
}

Test(fbwset, bounded_by_the_set)
{
	struct range_set *rs = range_set_new("vda", 2);

	overlay();
	ov_io("write -P 1 0 64k");
	ov_io("write -P 1 1M 64k");
	ov_io("write -P 1 2M 64k");
	cr_assert_eq(failback_overlay_ranges(path, rs), -1, "three ranges into a set of two");
	range_set_free(rs);
}
