/* The source of a reverse point (docs/failback-design.md): the failed-over
 * domains on the receiver's libvirt read through the libvirt source, its
 * state under <store>/<group>/reverse/, its disks named as the failover's
 * point names them, the first point restricted to W u X. */
#ifndef NESTOR_FAILBACK_REVSRC_H
#define NESTOR_FAILBACK_REVSRC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct range_set;
struct snap_libvirt_ceph;
struct snapshot;
struct store;
struct store_point_info;

struct revsrc_in {
	const char *store_dir;
	const char *group;
	json_t *marker;                    /* the group's failover.json (borrowed) */
	const struct store_point_info *p;  /* the failover's point: disk names */
	/* X per disk of p (same index): taken (set NULL) when the point is not
	 * incremental; NULL entries mean no on-prem change. */
	struct range_set **x;
	uint64_t base_point;               /* the target's newest point */
	/* A Ceph store: the domains boot RBD clones of p's snapshots (NULL:
	 * the local store's overlays); the store gives p's metadata and
	 * reads p's disks (borrowed; used on the caller's thread). */
	const struct snap_libvirt_ceph *ceph;
	struct store *store;
};

/* Begin the reverse snapshot: a new checkpoint of every failed-over
 * domain. Incremental (*incremental) when the reverse state was committed
 * at base_point, else restricted to W (each overlay's own allocation, read
 * after the checkpoint) u X. A domain disk that is not a failover overlay
 * of a disk of p, or a shut-off domain is refused.
 * On a Ceph store (ceph set): an RBD snapshot of every clone the domains
 * run on, taken with the domains paused (the libvirt source's window for
 * RBD disks; state under <store>/<group>/reverse/rbd/, the previous
 * reverse snapshot removed at commit); the first point restricted to W u
 * X, W = the blocks of each clone's own extents (parent excluded) that
 * read otherwise than p; a disk that is not on RBD or whose target p's
 * metadata does not map is refused.
 * NULL on error (logged). The caller frees the snapshot. */
struct snapshot *failback_revsrc_begin(const struct revsrc_in *in, bool *incremental);

#endif
