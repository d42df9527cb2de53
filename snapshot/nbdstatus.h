/* Block status of an NBD export: base:allocation and, optionally, one
 * dirty-bitmap context merged into consecutive flagged ranges. One walker
 * for the qcow2 image reader (image.c) and the libvirt backup exports. */
#ifndef NESTOR_SNAPSHOT_NBDSTATUS_H
#define NESTOR_SNAPSHOT_NBDSTATUS_H

#include <stdint.h>

struct nbd_handle;

/* Range flags (the same values as IMAGE_EXT_*). */
#define NBDSTATUS_HOLE  1u /* unallocated, reads as zeros */
#define NBDSTATUS_ZERO  2u /* reads as zeros */
#define NBDSTATUS_DIRTY 4u /* set in dirty_ctx */

typedef int (*nbdstatus_cb)(void *opaque, uint64_t off, uint64_t len,
			    unsigned flags);

/* Asks nbd for the status of [off, off + len) in base:allocation and, when
 * dirty_ctx is not NULL, in that context too, then calls cb for consecutive
 * ranges from off on, as far as both contexts describe (at most len; the
 * server may say less: callers loop). A cb returning < 0 stops the walk.
 * Returns the bytes described (> 0), or -1 (logged with what, e.g.
 * "image /x.qcow2"). */
int64_t nbdstatus_walk(struct nbd_handle *nbd, const char *dirty_ctx,
		       uint64_t off, uint64_t len, nbdstatus_cb cb, void *opaque,
		       const char *what);

#endif
