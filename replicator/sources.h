/* Builds a protection group's snapshot from its configured sources (image
 * files, RBD images; later libvirt domains) as one consistent point. */
#ifndef NESTOR_REPLICATOR_SOURCES_H
#define NESTOR_REPLICATOR_SOURCES_H

#include <stdint.h>

#include <jansson.h>

struct agent_group_cfg;
struct snapshot;

/* Begin the group's snapshot against the receiver's newest point. When the
 * sources disagree (one can go incremental, another needs a full copy),
 * every source is begun again with base 0, so the point is standalone for
 * all disks. Disks keep the group's configured order. state_dir is the
 * group's own directory. NULL on error (logged). Caller frees. */
struct snapshot *sources_begin(const struct agent_group_cfg *g, const char *state_dir,
			       uint64_t base_point);

/* Point metadata of the VMs of a live (libvirt) group, captured at begin:
 * {"consistency": ..., "vms": [{"name", "xml", "disks": [{"target", "disk"}]}]}
 * merged into obj. 0, or -1 on error. A group without domains adds nothing. */
int sources_vm_meta(const struct snapshot *snap, json_t *obj);

#endif
