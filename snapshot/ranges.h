/* Range sets and the snapshot wrapper that restricts a source to them: the
 * first reverse point of a failback sends only W u X, the blocks the cloud
 * VM wrote and those the on-prem disk changed (docs/failback-design.md). */
#ifndef NESTOR_SNAPSHOT_RANGES_H
#define NESTOR_SNAPSHOT_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/source.h"

/* No set holds more ranges than this, whatever its own bound: 16 bytes
 * each, 256 MiB at most. */
#define RANGE_SET_HARD_MAX (1u << 24)

/* The bound the failback design sets on a disk's ranges (as on its
 * checksum records): disk_size / 512 + 65536, at most RANGE_SET_HARD_MAX. */
size_t range_set_max_for(uint64_t disk_size);

/* Byte ranges of one disk, kept sorted and coalesced (overlapping and
 * adjacent ranges merge) once normalised. */
struct range_set;

/* An empty set for disk `name` (copied; it names the set in errors) that
 * holds at most max ranges after merging (1..RANGE_SET_HARD_MAX). NULL on
 * error (logged). */
struct range_set *range_set_new(const char *name, size_t max);
/* NULL ok. */
void range_set_free(struct range_set *rs);

/* Add [off, off + len); len 0 is ignored. -1 (logged) with errno
 * EOVERFLOW when the end passes 2^64, E2BIG when the set would hold more
 * than its max ranges even after merging, ENOMEM. */
int range_set_add(struct range_set *rs, uint64_t off, uint64_t len);

/* Sort and merge. The readers below call it first; after it they change
 * nothing, so a normalised set may be read from several threads. */
void range_set_normalise(struct range_set *rs);
size_t range_set_count(struct range_set *rs);
/* Total bytes covered. */
uint64_t range_set_bytes(struct range_set *rs);
/* End of the last range, 0 for an empty set. */
uint64_t range_set_end(struct range_set *rs);
/* Range i (< range_set_count) in *off, *len. 0 / -1 out of range. */
int range_set_range(struct range_set *rs, size_t i, uint64_t *off, uint64_t *len);

/* The first part of [from, end) inside the set: 1 with *off, *len (within
 * [from, end)), 0 if none. O(log n). */
int range_set_next(struct range_set *rs, uint64_t from, uint64_t end, uint64_t *off,
		   uint64_t *len);

/* A snapshot that lists of inner's extents only their parts inside
 * per_disk[i] for disk i (each kind alike: data, zero, discard), and reads,
 * commits and frees through inner. per_disk[i] NULL: disk i unrestricted;
 * an empty set: nothing of disk i. ndisks must be inner's disk count, no
 * set may reach beyond its disk. Takes ownership of inner and of every set
 * (freed on failure too); the per_disk array itself stays the caller's.
 * When inner is not incremental (a full listing, which leaves out what
 * reads as zeros), the parts of a set that inner does not list are listed
 * as SNAP_ZERO: what lies under a restricted point is not known to be
 * zeros (a failback's first point lies over the on-prem disk, whose X may
 * hold data where the source has a hole).
 * The wrapper is resumable when inner is: a resumed attempt must restrict
 * to the same sets. NULL on error (logged). */
struct snapshot *snapshot_ranges_wrap(struct snapshot *inner, struct range_set **per_disk,
				      size_t ndisks);

#endif
