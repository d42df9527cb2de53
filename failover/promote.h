/* Re-protection after a failover (docs/failback-design.md, "released"):
 * the failed-over VMs' final disks become forward point F of their group,
 * then the failover is released, so forward replication continues from F
 * without a seed. Runs on the receiver host. */
#ifndef NESTOR_FAILOVER_PROMOTE_H
#define NESTOR_FAILOVER_PROMOTE_H

#include <stdint.h>

#include <jansson.h>

struct store;
struct store_point_info;

/* Promote the failover of group: every VM of its marker shut off (refused,
 * naming the running domain, before anything changes), the point F =
 * newest + 1 made of the failover's overlays over point P (a disk no VM
 * booted keeps P's content), committed as crash-consistent with P's
 * metadata, then failover_release (domains undefined, marker removed). F's
 * id is recorded in the marker before it is begun, so a re-run after a
 * crash finishes the same F. On a ceph store F is made of the failover's
 * RBD clones (failover_promote_clones): what of their own extents differs
 * from P is written over P's snapshots (store_point_adopt), so F's base
 * must be P: a newer point is refused. store_dir is st's root; uri the DR
 * libvirtd. *report (caller
 * decrefs, NULL on error): {group, failover, point: F, base, from_point:
 * P, bytes (F's own data), disks: [{disk, source, bytes}] (the disks
 * taken by this run)}. 0 / -1 (logged). */
int failover_promote(struct store *st, const char *store_dir, const char *group,
		     const char *uri, json_t **report);

/* failover_promote without the release: the group stays failed over (its
 * marker keeps promote_point = F), so nothing forward is taken until the
 * caller releases it (`failback finish` does once the on-prem VMs are
 * verified: docs/failback.md). The same report; a re-run finds F made. */
int failover_promote_point(struct store *st, const char *store_dir, const char *group,
			   const char *uri, json_t **report);

/* On a ceph store: the RBD clone that each disk of point p (the failover's
 * point) is in the failover's domains (marker m), from their definitions
 * on the DR libvirtd at uri: every rbd disk that is a clone of a snapshot
 * of the group (store_clone_stat). src[i] for p's disk i, "rbd:POOL/IMAGE"
 * (malloc'd, the caller frees each), NULL when no domain boots it. A
 * clone of another point, or two clones of one disk, are refused. 0 / -1
 * (logged; src all NULL). */
int failover_promote_clones(struct store *st, const json_t *m, const char *group, const char *uri,
			    const struct store_point_info *p, char **src);

#endif
