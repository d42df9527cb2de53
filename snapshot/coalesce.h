/* Merging a source's classified spans into extents as large as allowed:
 * the loop every change source needs behind snapshot_next_extent. */
#ifndef NESTOR_SNAPSHOT_COALESCE_H
#define NESTOR_SNAPSHOT_COALESCE_H

#include <stdint.h>

#include "snapshot/source.h"

/* Next span of a disk, in increasing offset order: 1 with *sp filled
 * (sp->kind 0 = a range with nothing to send, which ends the extent being
 * built), 0 at the end of the disk, -1 on error (logged by the callee). */
typedef int (*coalesce_span_fn)(void *arg, struct snap_extent *sp);

/* Adjacent spans of one kind are merged in *pending (which the caller keeps
 * between calls, zeroed at first) and handed out in pieces of at most
 * max_len. Returns like snapshot_next_extent: 1, 0 at the end, -1. */
int coalesce_next(struct snap_extent *pending, uint64_t max_len, coalesce_span_fn next,
		  void *arg, struct snap_extent *ext);

#endif
