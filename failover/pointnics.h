/* The NICs a point's metadata records for each VM (vms[].nics: MAC, source
 * network, addresses; docs/metadata.md), read from untrusted metadata into
 * plain structs: what a failover needs to give a DHCP guest its on-prem
 * address back by a MAC reservation. No allocation, caller's arrays. */
#ifndef NESTOR_FAILOVER_POINTNICS_H
#define NESTOR_FAILOVER_POINTNICS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/names.h"

#define POINTNICS_MAX       16  /* NICs kept per VM (the agent records <= 16) */
#define POINTNICS_MAX_ADDRS  8  /* addresses kept per NIC */
#define POINTNICS_MAX_VMS  256  /* VMs pointnics_vms_json lists */

/* Where the agent found the addresses; NONE: it found none (the NIC's MAC
 * and network are still known). */
enum pointnic_origin {
	POINTNIC_NONE = 0,
	POINTNIC_AGENT,  /* the guest agent: what the guest itself says */
	POINTNIC_LEASE,  /* the DHCP leases of the libvirt network */
	POINTNIC_ARP,    /* the source host's ARP/neighbour table */
};

struct pointnic_addr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];   /* network order; IPv4 in the first 4 bytes */
	unsigned prefix;          /* 0-32 (IPv4), 0-128 (IPv6) */
	char text[56];            /* canonical form, "10.1.0.5/24", "fd00::5/64" */
};

struct pointnic {
	char mac[18];                     /* "52:54:00:12:34:56", lower case */
	char network[NAME_MAX_LEN + 1];   /* on-prem libvirt network or bridge
					   * the NIC was on; "" when unknown or
					   * not a valid name */
	enum pointnic_origin origin;
	struct pointnic_addr addrs[POINTNICS_MAX_ADDRS];
	size_t naddrs;                    /* 0 with POINTNIC_NONE */
};

/* Read vms[vm].nics of meta into nics[0..POINTNICS_MAX) and return how many
 * were kept (0: no such VM, no "nics", or none valid). Never fails: the
 * metadata came from the network, so each entry is checked and an invalid
 * one dropped with a warning naming ctx ("group web point 4"): not an
 * object, a MAC not of the form xx:xx:xx:xx:xx:xx (or multicast, or all
 * zero), a MAC already listed, an unknown origin. An invalid network name
 * only clears network; an invalid address (not ADDR/PREFIX, prefix out of
 * range) only drops that address. Past POINTNICS_MAX entries, or
 * POINTNICS_MAX_ADDRS addresses, the rest is dropped with one warning. An
 * entry with addresses but origin "none" keeps none. */
size_t pointnics_read(const json_t *meta, size_t vm, struct pointnic *nics, const char *ctx);

/* The MAC s as 6 bytes' lower-case text in out; false if s is not exactly
 * xx:xx:xx:xx:xx:xx (hex digits, either case) or is multicast or all zero. */
bool pointnic_mac_parse(const char *s, char out[18]);

/* "ADDR/PREFIX" (IPv4 dotted quad or IPv6, prefix in decimal without
 * leading zeros) into a; false if it is anything else. */
bool pointnic_addr_parse(const char *s, struct pointnic_addr *a);

/* "agent", "lease", "arp" or "none". */
const char *pointnic_origin_name(enum pointnic_origin o);

/* Every VM of meta as [{"name": VM, "nics": [{"mac", "network", "addresses",
 * "origin"}]}], read as pointnics_read does (a VM without a valid name is
 * listed with "name": null; at most POINTNICS_MAX_VMS). For `nestor points
 * --json`. New reference, NULL when out of memory. */
json_t *pointnics_vms_json(const json_t *meta, const char *ctx);

#endif
