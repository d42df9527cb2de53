/* What a drill LAN (failover/drill-lan.h) makes on the host: the isolated
 * libvirt network, the bridge made deaf to the host's IP stack, the gateway's
 * network namespace and veth, its dnsmasq. Every removal tolerates what is
 * gone already, so a sweep after a crash finishes the job. ctx names the
 * run in the log; 0 / -1 (logged). */
#ifndef NESTOR_FAILOVER_DRILL_LAN_HOST_H
#define NESTOR_FAILOVER_DRILL_LAN_HOST_H

#include "common/virt-dl.h"
#include "failover/drill-lan.h"

/* Make l: the network (its XML checked isolated first), the bridge's
 * sysctls (strict reverse-path filter, no ARP, no IPv6), the namespace
 * with the gateway address and forwarding off, dnsmasq when l->dhcp (pid
 * and lease files in dir); then check that nothing routes (the namespace
 * has one link and one route, the bridge no address). On failure what was
 * made stays for drill_lan_host_down. */
int drill_lan_host_up(virConnectPtr conn, const struct drill_lan *l, const char *dir,
		      const char *ctx);
/* Remove l: every process in its namespace (dnsmasq), the namespace (and
 * with it the veth), the libvirt network. Each step is tried. */
int drill_lan_host_down(virConnectPtr conn, const struct drill_lan *l, const char *ctx);
/* Destroy the transient libvirt network name (absent is fine): a drill's. */
int drill_lan_host_net_destroy(virConnectPtr conn, const char *name, const char *ctx);

#endif
