/* Re-protection after a failover (docs/failback-design.md, "released"):
 * the failed-over VMs' final disks become forward point F of their group,
 * then the failover is released, so forward replication continues from F
 * without a seed. Runs on the receiver host. */
#ifndef NESTOR_FAILOVER_PROMOTE_H
#define NESTOR_FAILOVER_PROMOTE_H

#include <stdint.h>

#include <jansson.h>

struct store;

/* Promote the failover of group: every VM of its marker shut off (refused,
 * naming the running domain, before anything changes), the point F =
 * newest + 1 made of the failover's overlays over point P (a disk no VM
 * booted keeps P's content), committed as crash-consistent with P's
 * metadata, then failover_release (domains undefined, marker removed). F's
 * id is recorded in the marker before it is begun, so a re-run after a
 * crash finishes the same F. Local stores only: a ceph store is refused
 * (not yet). store_dir is st's root; uri the DR libvirtd. *report (caller
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

#endif
