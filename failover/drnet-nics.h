/* STOPGAP until failover/pointnics.h (issue 15, networked guest) is merged:
 * the NIC records of a point's VM (vms[].nics in the point metadata,
 * docs/metadata.md) as plain structs. At merge this file goes and
 * drnet-failover.c's vm_address reads pointnics_read() (same arguments;
 * its struct pointnic has mac, network, naddrs and addrs[].text). */
#ifndef NESTOR_FAILOVER_DRNET_NICS_H
#define NESTOR_FAILOVER_DRNET_NICS_H

#include <stddef.h>

#include <jansson.h>

#define POINT_NIC_MAX 16

struct point_nic {
	char mac[18];
	char network[65];   /* on-prem source network or bridge */
	size_t naddr;
	char addr[8][50];   /* "a.b.c.d/N" or an IPv6 CIDR */
};

/* The NICs of VM vm (its index in meta "vms") into out[max]: their
 * count; entries that are not well-formed are left out (warned, naming
 * ctx). */
size_t drnet_point_nics(const json_t *meta, size_t vm, struct point_nic *out, size_t max,
			const char *ctx);

#endif
