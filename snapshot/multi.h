/* Several sources' snapshots presented as one group snapshot. */
#ifndef NESTOR_SNAPSHOT_MULTI_H
#define NESTOR_SNAPSHOT_MULTI_H

#include <stddef.h>

#include "snapshot/source.h"

/* Takes ownership of parts[0..nparts) (freed on failure too); returns
 * parts[0] itself when nparts == 1. Every part must have been begun against
 * the same base point and agree on incremental vs full: a point is either
 * on top of its base for every disk or standalone for every disk. The
 * caller re-begins all parts with base 0 when they disagree. NULL on error
 * (duplicate disk names, more than SNAP_MAX_DISKS disks, disagreement). */
struct snapshot *snapshot_multi(struct snapshot **parts, size_t nparts);

/* The part of snap made by the source named source_name (its ops name, e.g.
 * "libvirt"): snap itself, one of a multi snapshot's parts, or NULL. */
const struct snapshot *snapshot_part(const struct snapshot *snap, const char *source_name);

#endif
