/* Test helper of the catalog suites: a committed point's entry filled with
 * values derived from its id (times, bytes) and ndisks disks vda, vdb, ...
 * of 1, 2, ... MiB, written to room (STORE_MAX_DISKS entries). */
#ifndef NESTOR_TESTS_UNIT_POINTINFO_H
#define NESTOR_TESTS_UNIT_POINTINFO_H

#include <stdio.h>
#include <string.h>

#include "replicator/receiver/store.h"

static inline void
pointinfo_fill(struct store_point_info *pi, struct store_disk_info *room, uint64_t id,
	       uint64_t base, size_t ndisks)
{
	memset(pi, 0, sizeof(*pi));
	pi->id = id;
	pi->base_id = base;
	pi->time_ns = 1700000000000000000ull + id;
	pi->received_ns = 1700000000200000000ull + id;
	pi->committed_ns = 1700000000500000000ull + id;
	pi->bytes_received = 1000 * id;
	pi->ndisks = ndisks;
	pi->disks = room;
	for (size_t i = 0; i < ndisks; i++) {
		snprintf(room[i].name, sizeof(room[i].name), "vd%c%.0zu",
			 (char)('a' + i % 26), i / 26);
		room[i].size = (i + 1) << 20;
	}
}

#endif
