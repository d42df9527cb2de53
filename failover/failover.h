/* `nestor failover`: boot a group's recovery point for real (VMs stay up),
 * mark the group failed over, show status, release it again. */
#ifndef NESTOR_FAILOVER_FAILOVER_H
#define NESTOR_FAILOVER_FAILOVER_H

#include <jansson.h>

/* The failed-over groups of the store at store_dir, each
 * {group, failover, point, since, network, uri, vms: [{vm, domain, state}],
 * dr_networks: {networks, reservations, published} when it has some},
 * states from libvirt at uri ("unknown" without it, warned). New array
 * (caller decrefs), empty when none; NULL when the store cannot be read
 * (logged). */
json_t *failover_status(const char *store_dir, const char *uri);

/* End the failover of group once its VMs are shut down: undefine the
 * domains (all must be shut off), remove what its DR networks made
 * (failover/drnet-failover.h) and the isolated network if the failover
 * created it, then the marker. Overlays stay. A group without a marker
 * whose interrupted failover left DR network items: those are removed.
 * 0 / -1 (logged). */
int failover_release(const char *store_dir, const char *group, const char *uri);

#endif
