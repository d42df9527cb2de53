/* A failover run's side of the DR networks (failover/drnet-failover.h):
 * which NICs join them, bringing them up, undoing that when no VM starts.
 * Private to failover/drill*.c; a drill never calls it. */
#ifndef NESTOR_FAILOVER_DRILL_DRNET_H
#define NESTOR_FAILOVER_DRILL_DRNET_H

struct drill;

/* The libvirt network a failover NIC with on-prem source src joins when a
 * [network] lists src, else NULL; static storage until the next call. */
const char *drill_drnet_map(const struct drill *d, const char *src);
/* Bring up the [network]s the mapped NICs join (none: nothing). 0 / -1. */
int drill_drnet_up(struct drill *d);
/* Undo drill_drnet_up (a failover in which no VM started). 0 / -1. */
int drill_drnet_down(struct drill *d);

#endif
