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

/* The same in steps, for a caller that must take the snapshots inside its
 * own consistency window (the libvirt source, its guests frozen or paused,
 * so that RBD and file disks of the group are one instant):
 * prepare connects, inspects and decides (incremental or full: ask
 * snapshot_is_incremental), removes stray nestor-* snapshots and attempt
 * records, and creates nothing; take creates the snapshots back to back
 * (the instant; nothing else, to keep the window short); finish records
 * the attempt and opens the snapshots for extents and reads. An interrupted
 * attempt is never reused (its snapshots are of another instant), so the
 * snapshot is never resumable. snapshot_free at any step aborts (removes
 * what take created). Disk sizes are known after finish. */
struct snapshot *snapshot_rbd_prepare(const char *ceph_conf, const char *client_id,
				      const struct snap_rbd_image *imgs, size_t n,
				      const char *state_dir, uint64_t base_point);
int snapshot_rbd_take(struct snapshot *snap);
int snapshot_rbd_finish(struct snapshot *snap);

/* What disk's image holds of its own at the new snapshot, its parent left
 * out: for an RBD clone, the extents written (or discarded) since it was
 * made (a failback's W on a Ceph store). Data and zeroed extents alike, in
 * offset order, each passed to fn (which returns 0, or -1 to stop: then
 * this returns -1). Only after finish and before the disk is listed. The
 * bounded span memory of a listing applies: past it, extents fold into
 * one covering extent (more, never less). 0 / -1 (logged). */
int snapshot_rbd_own_ranges(struct snapshot *snap, size_t disk,
			    int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg);

#endif
