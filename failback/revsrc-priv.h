/* Inside the reverse source (revsrc.c, revsrc-rbd.c): what both of its
 * variants (failover overlays, RBD clones on a Ceph store) share. Not for
 * use outside failback/revsrc*.c. */
#ifndef NESTOR_FAILBACK_REVSRC_PRIV_H
#define NESTOR_FAILBACK_REVSRC_PRIV_H

#include <stddef.h>

#include "failback/revsrc.h"

#define REVSRC_MAX_VMS 64

/* What the reverse source needs of the marker; strings borrowed from it. */
struct revsrc_vms {
	const char *uri;
	const char *workdir;
	const char *vm[REVSRC_MAX_VMS];     /* the point's VM names */
	const char *domain[REVSRC_MAX_VMS]; /* the failover's domains */
	size_t n;
};

/* The marker's VMs into v. 0 / -1 (logged). */
int failback_revsrc_vms(const struct revsrc_in *in, struct revsrc_vms *v);

/* revsrc-rbd.c, for a Ceph store (in->ceph set), after the libvirt
 * source began over the domains' RBD clones:
 * map: for each disk i of snap, the disk of p it is (map[i], an index
 * into p's disks), by target through p's metadata. 0 / -1 (logged).
 * set: disk i's W u X for the first reverse point: the 64 KiB blocks of
 * the clone's own extents (parent excluded) that read otherwise than p,
 * and X of p's disk pd (taken from in). NULL on error (logged). */
int failback_revsrc_rbd_map(const struct revsrc_in *in, const struct revsrc_vms *v,
			    struct snapshot *snap, int *map);
struct range_set *failback_revsrc_rbd_set(const struct revsrc_in *in, struct snapshot *snap,
					  size_t i, int pd);

#endif
