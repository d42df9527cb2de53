/* A failover's DR networks (issue 15, docs/network.md): bring up the
 * [network]s its NICs join, with DHCP reservations, NAT and published
 * ports, recording each item before it is made; release exactly those. */
#ifndef NESTOR_FAILOVER_DRNET_FAILOVER_H
#define NESTOR_FAILOVER_DRNET_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/virt-dl.h"

struct receiver_network_cfg;

/* One VM of the point: its name, the point's metadata (borrowed) and the
 * VM's index in its "vms". */
struct drnet_vm {
	const char *name;
	const json_t *meta;
	size_t index;
};

/* Bring up nets (the [network]s some NIC of group's failover id joins) on
 * conn: record, IPv4 forwarding, libvirt networks, the nestor nftables
 * table. Each VM's on-prem address in a network's subnet (from its NIC
 * records) becomes its DHCP reservation and the target of the publish
 * entries naming it. 0 / -1 (logged; what was recorded is undone by
 * drnet_failover_release). */
int drnet_failover_up(virConnectPtr conn, const char *root, const char *group, const char *id,
		      const struct receiver_network_cfg *const *nets, size_t nnets,
		      const struct drnet_vm *vms, size_t nvms);
/* Remove what group's record names and nothing else: its reservations, a
 * network no other failover uses, its rules; with the last failover, the
 * table and the forwarding Nestor turned on. No record: nothing to do.
 * 0 / -1 (logged; the record stays, a release again finishes). */
int drnet_failover_release(virConnectPtr conn, const char *root, const char *group);

/* What group's failover made of DR networks, for --status: {networks,
 * reservations, published} as recorded (caller decrefs); NULL if none. */
json_t *drnet_failover_status(const char *root, const char *group);
/* Has group a DR network record (something to release)? */
bool drnet_failover_pending(const char *root, const char *group);

#endif
