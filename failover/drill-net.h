/* The isolated libvirt network a drill or failover boots its VMs into: a
 * bridge with no route out, made and torn down by the run. */
#ifndef NESTOR_FAILOVER_DRILL_NET_H
#define NESTOR_FAILOVER_DRILL_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/virt-dl.h"

struct drill_net;

struct drill_net_opts {
	const char *id;        /* the run's id, for names and log lines */
	const char *group;
	bool failover;         /* persistent, one per group, reused if present */
	bool host_address;     /* the host gets an address and serves DHCP */
};

/* A drill's transient "nestor-drill-ID", or a failover's persistent
 * "nestor-failover-GROUP" (reused when it exists). The name is copied to
 * name[len] before anything is tried. The caller owns the result
 * (drill_net_teardown or drill_net_free); NULL on failure (logged). conn is
 * borrowed and must outlive the network. */
struct drill_net *drill_net_create(virConnectPtr conn, const struct drill_net_opts *o,
				   char *name, size_t len);
/* Did drill_net_create define the network (false: a failover reused it)? */
bool drill_net_created(const struct drill_net *n);
/* Destroy the network when this run made it, and free n (NULL is fine).
 * 0 / -1 (logged). */
int drill_net_teardown(struct drill_net *n);
/* Free n, leaving the network in place (NULL is fine). */
void drill_net_free(struct drill_net *n);

#endif
