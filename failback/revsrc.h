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
struct snapshot;
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
};

/* Begin the reverse snapshot: a new checkpoint of every failed-over
 * domain. Incremental (*incremental) when the reverse state was committed
 * at base_point, else restricted to W (each overlay's own allocation, read
 * after the checkpoint) u X. A domain disk that is not a failover overlay
 * of a disk of p, a store on Ceph, or a shut-off domain is refused. NULL
 * on error (logged). The caller frees the snapshot. */
struct snapshot *failback_revsrc_begin(const struct revsrc_in *in, bool *incremental);

/* The point at which the reverse source's state of every failed-over
 * domain was committed: 1 with *point when they all agree, 0 none (or
 * not all at one point), -1 (logged). Changes nothing. */
int failback_revsrc_committed(const struct revsrc_in *in, uint64_t *point);

#endif
