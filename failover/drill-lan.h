/* A drill's copy of a DR network (issue 15, docs/network.md, "Drills"): the
 * on-prem subnet and gateway address inside an isolated bridge, the gateway
 * held by a network namespace that serves DHCP and routes nowhere. The pure
 * part: the plain description, its names, libvirt XML, dnsmasq arguments and
 * its record. No I/O; strings returned are the caller's (free). */
#ifndef NESTOR_FAILOVER_DRILL_LAN_H
#define NESTOR_FAILOVER_DRILL_LAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "failover/drnet.h"

struct receiver_network_cfg;

#define DRILL_LAN_MAX_HOSTS 64
#define DRILL_LAN_MAX_DNS 16

/* One drill LAN: what the drill makes for one [network NAME]. Plain data. */
struct drill_lan {
	char net[65];         /* the [network] name */
	char libvirt[96];     /* "nestor-drill-ID-K": the isolated libvirt network */
	char bridge[16];      /* "ndl" + 8 hex */
	char veth[16];        /* "ndg" + 8 hex: the bridge's end of the gateway's veth */
	char netns[64];       /* "nestor-drill-ID-K": holds the gateway and dnsmasq */
	uint32_t subnet;      /* host byte order */
	unsigned prefix;
	uint32_t gateway;
	bool dhcp;
	uint32_t dhcp_first, dhcp_last;
	uint32_t dns[DRILL_LAN_MAX_DNS];
	size_t ndns;
	struct drnet_host hosts[DRILL_LAN_MAX_HOSTS]; /* DHCP reservations */
	size_t nhosts;
};

/* The LAN of [network] n for drill id, its k-th, its interface names from
 * rnd: only subnet, gateway, DHCP and resolvers are taken; nat, publish,
 * external and any site link of n never reach a drill. 0 / -1 (an id too
 * long for the names: logged). */
int drill_lan_init(struct drill_lan *l, const struct receiver_network_cfg *n, const char *id,
		   size_t k, uint32_t rnd);
/* Add the reservation mac -> ip (in the subnet, not the gateway, not yet
 * reserved for another MAC) named vm. 0 added, 1 left out (why logged
 * under ctx), -1 full. */
int drill_lan_reserve(struct drill_lan *l, const char *mac, uint32_t ip, const char *vm,
		      const char *ctx);

/* The libvirt network: a bridge and nothing else. No <forward>, no <ip>:
 * libvirt gives the host no address on it and runs no dnsmasq; its only
 * firewall rules are those of an isolated network (forwarding into and out
 * of the bridge rejected). NULL when out of memory. */
char *drill_lan_network_xml(const struct drill_lan *l);
/* Is xml (a libvirt network's XML) one that a drill may use: no forward,
 * no address, no route, no DNS host entries? */
bool drill_lan_xml_isolated(const char *xml);

/* dnsmasq's arguments (after the program name), NULL-terminated, each
 * string and the array the caller's (drill_lan_argv_free): DHCP only (no
 * DNS: port 0), bound to the gateway's interface, router option = the
 * gateway, the reservations, pid and lease files in dir. NULL when out of
 * memory. */
char **drill_lan_dnsmasq_argv(const struct drill_lan *l, const char *dir);
void drill_lan_argv_free(char **argv);

/* The record of l (caller decrefs); NULL when out of memory. */
json_t *drill_lan_to_json(const struct drill_lan *l);
/* l from its record, every name and address checked (a record on disk is
 * read back by another process). 0 / -1 (malformed: *why). */
int drill_lan_from_json(const json_t *j, struct drill_lan *l, const char **why);

#endif
