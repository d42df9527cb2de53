/* "rbd" change source: Ceph RBD images, changes between rbd snapshots
 * (nestor-<n>) listed with rbd_diff_iterate2. See docs/rbd.md. */
#ifndef NESTOR_SNAPSHOT_RBD_H
#define NESTOR_SNAPSHOT_RBD_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/source.h"

/* An RBD image to protect. Strings are borrowed for the call. */
struct snap_rbd_image {
	const char *name;  /* validated disk name, unique in the group */
	const char *pool;  /* rados pool */
	const char *image; /* rbd image name in the pool */
};

/* Begin a snapshot of RBD images (one rados connection for the group).
 * ceph_conf: ceph.conf path (NULL = librados' default search); client_id:
 * cephx id without "client." (NULL = "admin").
 * Creates snapshot "nestor-<n>" on every image, one right after the other.
 * Incremental when state_dir/<disk>.json says the base snapshot was
 * committed at base_point and it still exists on the same image (same id)
 * with the same size, for every disk of the group; otherwise full (reason
 * logged; only allocated ranges are listed). An uncommitted snapshot left by
 * an interrupted attempt against the same base is reused (then
 * snapshot_resumable() is 1); other stray nestor-* snapshots are removed.
 * Reads come from the new snapshot and are thread-safe.
 * Commit records the new snapshot as the base, then removes the old one;
 * free without commit removes the new snapshot and keeps the old base.
 * Returns NULL on error (logged). */
struct snapshot *snapshot_rbd_begin(const char *ceph_conf, const char *client_id,
				    const struct snap_rbd_image *imgs, size_t n,
				    const char *state_dir, uint64_t base_point);

#endif
