/* The target store of a failback (docs/failback-design.md): the local
 * backend's qcow2 chains whose first point of each disk is an overlay over
 * the on-prem disk itself, which is only ever opened read-only. */
#ifndef NESTOR_RECEIVER_STORE_TARGET_H
#define NESTOR_RECEIVER_STORE_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "replicator/receiver/store.h"

#define STORE_TARGET_FORMAT_MAX 8 /* "qcow2" */

/* An on-prem disk a target point with no base lies over; strings
 * borrowed for the call. */
struct store_target_disk {
	const char *name;   /* the disk's name in the group (a valid name) */
	const char *path;   /* absolute path of the on-prem image */
	const char *format; /* "raw" or "qcow2" */
	/* A new disk (a failback to new disks: the on-prem ones are lost):
	 * when path is absent or an empty file, the begin of a point with no
	 * base makes it an empty image of the point's disk size (raw: sparse),
	 * fsynced with its directory, recorded first in the group's directory
	 * (store-target-new.h); the image so recorded is taken as it is by a
	 * later begin, any other non-empty file there is refused. */
	bool create;
};

/* Open a store rooted at the existing directory root whose points are
 * target points over disks[0..ndisks) (1..STORE_MAX_DISKS, names unique;
 * copied). A point's disk not among them is refused at its begin
 * (STORE_ERR_IO, logged) before a pending point is resumed or discarded.
 * Everything else is the local store: points, readers, retention
 * (removing the first point rebases its child onto the on-prem disk; no
 * removal touches it). A point's disk takes the size the point gives it:
 * past the end of a smaller on-prem disk it reads as zeros. NULL on error
 * (logged: which disk and what is wrong); free with store_free. */
/* Undo what the begins of a target's points made of its new disks, as
 * recorded in its group directory gdir (a failback's abort): each image
 * still at its path (the same device and inode) is removed, or replaced
 * by an empty file where the operator gave one; an image left under its
 * temporary name by a crash is removed; a file that is not the one made
 * is left as it is (logged). The records stay (the caller removes gdir).
 * Idempotent: run it again after a crash. 0 / -1 (logged with ctx). */
int store_target_unmake(const char *gdir, const char *ctx);

struct store *store_open_target(const char *root, const struct store_target_disk *disks,
				size_t ndisks);

#endif
