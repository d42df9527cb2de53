/* The WireGuard site link of a DR network on the host (issue 15,
 * docs/network.md, WireGuard): its interface run by wireguard-go (the
 * kernel here has no module) and configured with wg and ip, brought up
 * with the network at failover and removed with it; a link is named by
 * its record ({ifname, port, address} of the network's record), so a
 * release needs no configuration. 0 / -1 (logged), ctx names the run. */
#ifndef NESTOR_FAILOVER_DRNET_WG_H
#define NESTOR_FAILOVER_DRNET_WG_H

#include <stdbool.h>

#include <jansson.h>

struct receiver_network_cfg;
struct wgpeer;

/* The record of n's link, NULL when n has wireguard off or out of memory
 * (*err set then). Caller decrefs. */
json_t *drnet_wg_record(const struct receiver_network_cfg *n, bool *err);

/* Bring up the link wg (a record) of network net with the host's key
 * and net's peers of root's store. When fresh (no other failover uses the
 * network) a leftover of a crash is removed first; otherwise a running
 * link is kept and its peers refreshed. */
int drnet_wg_up(const char *ctx, const char *root, const char *net, const json_t *wg,
		bool fresh);
/* Stop the link's wireguard-go (found by its UAPI socket, never by name)
 * and delete its interface; an absent link is fine. */
int drnet_wg_down(const char *ctx, const json_t *wg);

/* Add (or take off, remove) peer p on n's link if it runs now: a peer
 * added while failed over can connect at once. Not running: 0. A network
 * behind p that the host has a route of its own to is not routed to the
 * link: -1 (warned). A failover's bring-up only warns of it. */
int drnet_wg_peer_live(const struct receiver_network_cfg *n, const struct wgpeer *p,
		       bool remove);

/* "host:port" of n's link for a peer's Endpoint into out: endpoint when
 * given (host or host:port), else n's external address (its interface's
 * first IPv4 address). 0 / -1 (logged). */
int drnet_wg_endpoint(const struct receiver_network_cfg *n, const char *endpoint,
		      char *out, size_t len);

#endif
