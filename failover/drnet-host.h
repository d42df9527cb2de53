/* DR networks (failover/drnet.h), what they change on the host: the libvirt
 * network and its reservations, the nftables table, IPv4 forwarding. Every
 * step tolerates what is already there or already gone, so a release
 * after a crash finishes the job. 0 / -1 (logged), ctx names the run. */
#ifndef NESTOR_FAILOVER_DRNET_HOST_H
#define NESTOR_FAILOVER_DRNET_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/virt-dl.h"
#include "failover/drnet.h"

struct receiver_network_cfg;

/* The interface of the IPv4 default route into out[16]. 0 / -1 (none:
 * logged, naming the `external` key). */
int drnet_host_default_if(char out[16]);
/* net.ipv4.ip_forward now (*on). */
int drnet_host_forward_get(bool *on);
int drnet_host_forward_set(bool on);
/* Apply script with `nft -f`, from a file in dir. */
int drnet_host_nft(const char *ctx, const char *dir, const char *script);

/* The persistent libvirt network of n, started, with hosts reserved. When
 * shared (another failover's record names it) the hosts join it; else it
 * is made anew from n. */
int drnet_host_net_up(virConnectPtr conn, const char *ctx, const struct receiver_network_cfg *n,
		      const struct drnet_host *hosts, size_t nhosts, bool shared);
/* Take the reservation of h out of the running network lvname. */
int drnet_host_net_unreserve(virConnectPtr conn, const char *ctx, const char *lvname,
			     const struct drnet_host *h);
/* Stop and undefine the network lvname (absent is fine). */
int drnet_host_net_remove(virConnectPtr conn, const char *ctx, const char *lvname);

#endif
