/* Where a drill check finds a guest's IPv4 address on a drill's isolated
 * copy of a DR network, the pure part: the copy's dnsmasq lease file and
 * its namespace's neighbour table (`ip -4 neigh show` text), looked up by
 * the NIC's MAC. No I/O, no allocation. */
#ifndef NESTOR_FAILOVER_CHECKADDR_H
#define NESTOR_FAILOVER_CHECKADDR_H

#include <stdbool.h>

/* The address dnsmasq leased to mac (any case) in leases (its lease file:
 * "EXPIRY MAC IP HOST CLIENTID" lines) into out; the last such line wins
 * (dnsmasq rewrites the file, a renewed lease stays one line). false: none,
 * or the line's address is not a dotted quad. */
bool checkaddr_lease(const char *leases, const char *mac, char out[16]);
/* The address whose neighbour entry has lladdr mac in neigh (`ip -4 neigh
 * show dev IF` lines: "IP lladdr MAC STATE"; FAILED and INCOMPLETE entries
 * are skipped) into out. false: none. */
bool checkaddr_neigh(const char *neigh, const char *mac, char out[16]);

#endif
