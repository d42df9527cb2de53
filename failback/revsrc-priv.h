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

/* The point's snapshot of the reverse source: snap restricted to sets
 * (per snapshot disk, NULL: unrestricted; taken, as snap), disk i named
 * after point disk map[i]. NULL on error (logged; snap and sets freed). */
struct snapshot *failback_revsrc_wrap(const struct revsrc_in *in, struct snapshot *snap,
				      struct range_set **sets, const int *map);

/* revsrc-rbd.c: failback_revsrc_begin on a Ceph store (in->ceph set). */
struct snapshot *failback_revsrc_rbd_begin(const struct revsrc_in *in, bool *incremental);

#endif
