/* Test helper shared by the store suites (test-scrub, test-chain): begin
 * point id over base of group "grp" with one disk, asserting it began.
 * Needs <criterion/criterion.h>. The point is the caller's. */
#ifndef NESTOR_TESTS_UNIT_STOREBEGIN_H
#define NESTOR_TESTS_UNIT_STOREBEGIN_H

#include <inttypes.h>
#include <stdio.h>

#include "replicator/receiver/store.h"

static inline struct store_point *
store_begin_one(struct store *st, uint64_t id, uint64_t base, const char *disk, uint64_t size)
{
	struct store_begin b = { .point_id = id, .base_id = base, .ndisks = 1 };
	struct store_point *pt;
	int err = -1;

	snprintf(b.group, sizeof(b.group), "grp");
	b.time_ns = 1700000000000000000ull + id;
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "%s", disk);
	b.disks[0].size = size;
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin %" PRIu64 ": %d", id, err);
	return pt;
}

#endif
