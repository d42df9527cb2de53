/* Builds a protection group's snapshot from its configured sources (image
 * files, RBD images, libvirt domains) as one consistent point. */
#ifndef NESTOR_AGENT_SOURCES_H
#define NESTOR_AGENT_SOURCES_H

#include <stdint.h>

#include <jansson.h>

struct agent_group_cfg;
struct snapshot;
struct snap_libvirt_keep;

/* Begin the group's snapshot against the receiver's newest point.
 * - [disk] sections: file disks through the file source, rbd disks through
 *   the rbd source;
 * - `domains`: running domains through the libvirt source (checkpoints and
 *   pull backups); shut-off domains through the file source on the disk
 *   files of their inactive definition (qcow2 bitmaps, never started).
 * When the sources disagree (one can go incremental, another needs a full
 * copy) every source is begun again with base 0, so the point is full (or
 * resynced) for all disks. state_dir is the group's own directory; each
 * source keeps its state in a subdirectory. On success *vm_meta is NULL (no
 * domains) or a new JSON object with "vms" (name, xml,
 * disks: [{target, disk}]) for the point metadata; the caller owns it.
 * NULL on error (logged). Caller frees the snapshot. */
struct snapshot *sources_begin(const struct agent_group_cfg *g, const char *state_dir,
			       uint64_t base_point, json_t **vm_meta);

/* sources_begin for cycles back to back: the libvirt source and the
 * planning of the domains use keep (snapshot/libvirt.h: the connection,
 * the clean state, old checkpoints deleted off the cycle's path); NULL is
 * sources_begin. keep is borrowed and outlives the snapshot. */
struct snapshot *sources_begin_kept(const struct agent_group_cfg *g, const char *state_dir,
				    uint64_t base_point, json_t **vm_meta,
				    struct snap_libvirt_keep *keep);

#endif
