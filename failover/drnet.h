/* DR networks of failovers (issue 15, docs/network.md), the pure part: the
 * libvirt network a [network NAME] becomes, its DHCP reservations, and the
 * nftables ruleset of Nestor's table built from the failovers' records.
 * No I/O; every string returned is the caller's (free). */
#ifndef NESTOR_FAILOVER_DRNET_H
#define NESTOR_FAILOVER_DRNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct receiver_network_cfg;

#define DRNET_LIBVIRT_PREFIX "nestor-net-"
/* Nestor's nftables tables: one per store, "inet nestor_" + 8 hex digits
 * of the store's real path (drnet_nft_table), so that two receivers on one
 * host never rebuild each other's rules; nothing else on the host is
 * touched. Before issue 15 item 3 every store shared DRNET_NFT_LEGACY. */
#define DRNET_NFT_PREFIX "inet nestor_"
#define DRNET_NFT_LEGACY "inet nestor"
#define DRNET_NFT_TABLE_LEN 24

/* One DHCP reservation: the on-prem address of a NIC, by its MAC. */
struct drnet_host {
	char mac[18];
	char ip[16];
	char name[65];   /* the VM's name, the lease's host name */
};

/* "nestor-net-NAME" into out (at least 80 bytes). */
void drnet_libvirt_name(const char *net, char *out, size_t len);
/* "a.b.c.d" of addr (host byte order) into out[16]. */
void drnet_ip_str(uint32_t addr, char out[16]);
/* Parse "a.b.c.d" (or "a.b.c.d/N", the prefix ignored) into *addr. 0 / -1. */
int drnet_ip_parse(const char *s, uint32_t *addr);
/* Is addr a host address of n's subnet (neither its first nor its last)? */
bool drnet_in_subnet(const struct receiver_network_cfg *n, uint32_t addr);

/* The persistent libvirt network of n: <forward mode='open'/> (libvirt adds
 * no firewall rules), bridge n->bridge, the gateway as the host's address,
 * DHCP with n's range and the hosts as reservations when n->dhcp, and the
 * dns resolvers as DHCP option 6. NULL when out of memory (logged). */
char *drnet_network_xml(const struct receiver_network_cfg *n, const struct drnet_host *hosts,
			size_t nhosts);
/* One <host mac ip name/> element, for virNetworkUpdate. */
char *drnet_host_xml(const struct drnet_host *h);

/* The first network record called name in records (an array of the
 * failovers' records), with with_link only one that has a WireGuard link
 * ("wg" an object); NULL if none. Borrowed from records. */
const json_t *drnet_record_network(const json_t *records, const char *name, bool with_link);

/* The table of the store whose real path is root: DRNET_NFT_PREFIX and
 * the FNV-1a hash of the path in hex, into out. */
void drnet_nft_table(const char *root, char out[DRNET_NFT_TABLE_LEN]);
/* Did last, the script a store last applied, make the shared table of
 * older versions (DRNET_NFT_LEGACY)? Then the store owns it: its next
 * script removes it. */
bool drnet_nft_legacy_owned(const char *last);

/* The nftables script that makes the store's table (table, from
 * drnet_nft_table) exactly what records
 * (an array of the failovers' records, failover/drnet-record.h) ask for:
 * masquerade of each nat network out of its external side, forward accept
 * of established traffic and of each subnet's outbound traffic, DNAT of
 * each published port to its VM's address. With no network in records the
 * script removes the table. Applied whole by `nft -f`, so it is atomic.
 * NULL when a record is malformed (*why says what) or out of memory. */
char *drnet_ruleset(const json_t *records, const char *table, const char **why);

#endif
