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

/* The spans of a disk, produced window by window (a block status reply, a
 * chunk of block hashes) and queued in order; adjacent spans of one kind
 * merge as they are added. Zeroed at first; coalesce_queue_free at the
 * end. */
struct coalesce_queue {
	struct snap_extent *v;
	size_t n, i, cap;
	uint64_t pos;               /* where the next window starts */
	struct snap_extent pending; /* for coalesce_next */
};

/* Queues a span (kind 0 = nothing to send); len 0 is ignored. 0, or -1 out
 * of memory (not logged). */
int coalesce_queue_add(struct coalesce_queue *q, uint64_t off, uint64_t len, int kind);

/* Queues the spans of the next window from q->pos and moves q->pos past
 * it. 0, -1 on error (logged by the callee). */
typedef int (*coalesce_fill_fn)(void *arg);

/* Next extent of a disk of size bytes, like coalesce_next, refilling the
 * emptied queue through fill until q->pos reaches size. */
int coalesce_queue_next(struct coalesce_queue *q, uint64_t size, uint64_t max_len,
			coalesce_fill_fn fill, void *arg, struct snap_extent *ext);

void coalesce_queue_free(struct coalesce_queue *q);

#endif
