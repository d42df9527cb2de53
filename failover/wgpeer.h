/* The WireGuard site link's state in the receiver's store (issue 15,
 * docs/network.md, WireGuard): <store>/.wireguard/private.key, the DR
 * host's key, made there once (mode 0600, never printed), and peers.json
 * (mode 0600): each network's peers with their key pair and tunnel
 * address. Writes are durable and hold the store's DR network lock. */
#ifndef NESTOR_FAILOVER_WGPEER_H
#define NESTOR_FAILOVER_WGPEER_H

#include <stddef.h>
#include <stdint.h>

#include "failover/wgkey.h"

struct receiver_network_cfg;

#define WGPEER_MAX 256 /* peers of a store, all networks */
#define WGPEER_MAX_ROUTES 8 /* networks behind one peer */
/* The longest allowed-ips list: the address and every route. */
#define WGPEER_ALLOWED_LEN ((WGPEER_MAX_ROUTES + 1) * 19)

/* One peer. A private key made here is kept so that peer-config prints a
 * complete wg-quick file whenever it is asked (docs/network.md says why);
 * a peer that brought its own public key has none here (priv ""). */
struct wgpeer {
	char network[65];
	char name[65];
	char pub[WGKEY_LEN + 1];
	char priv[WGKEY_LEN + 1];
	uint32_t addr; /* tunnel address, host byte order */
	/* Networks behind the peer (a branch router's LAN): its allowed IPs
	 * besides its address, routed to the link on the DR host. */
	uint32_t routes[WGPEER_MAX_ROUTES];
	unsigned route_prefix[WGPEER_MAX_ROUTES];
	size_t nroutes;
};

/* The path of the DR host's private key file (caller frees); NULL when
 * out of memory (logged). */
char *wgpeer_host_key_path(const char *root);
/* The DR host's public key into pub, its key pair made first if there is
 * none. 0 / -1 (logged). */
int wgpeer_host_key(const char *root, char pub[WGKEY_LEN + 1]);

/* Every peer of the store (*peers: free with wgpeer_free; none: NULL, 0).
 * A malformed peers.json is an error naming what is wrong. 0 / -1. */
int wgpeer_load(const char *root, struct wgpeer **peers, size_t *n);
/* Zero the private keys and free. NULL is fine. */
void wgpeer_free(struct wgpeer *peers, size_t n);
/* The peer called name of network net in peers, NULL if none. */
const struct wgpeer *wgpeer_find(const struct wgpeer *peers, size_t n, const char *net,
				 const char *name);

/* What a new peer asks for; NULL fields take their defaults. */
struct wgpeer_req {
	const char *name;
	const char *addr;   /* "a.b.c.d": a free host address of the tunnel
			     * subnet; NULL: the lowest free one */
	const char *routes; /* "CIDR[,CIDR]...": networks behind the peer,
			     * apart from the DR subnets, the tunnels and
			     * every peer's networks */
	const char *pub;    /* the peer's own public key; NULL: a key pair
			     * made here */
	/* Every DR network of the configuration (or none), whose subnets and
	 * tunnel subnets routes must keep apart from too. */
	const struct receiver_network_cfg *all;
	size_t nall;
};

/* Add peer req->name to network n (wireguard on); the new peer into *out.
 * 0 / -1 (logged: a name or public key taken, an address taken or
 * outside, no address left, a bad or overlapping route, a bad key). */
int wgpeer_add(const char *root, const struct receiver_network_cfg *n,
	       const struct wgpeer_req *req, struct wgpeer *out);
/* Remove peer name of network net into *out (its public key stays known
 * to the caller, to take it off a running link). 0 / -1 (logged: none). */
int wgpeer_remove(const char *root, const char *net, const char *name, struct wgpeer *out);

/* p's allowed IPs on the DR side, "A/32[,CIDR]..." into out
 * (WGPEER_ALLOWED_LEN bytes). */
void wgpeer_allowed_ips(const struct wgpeer *p, char out[WGPEER_ALLOWED_LEN]);
/* Route i of p, "a.b.c.d/N", into out[19]. */
void wgpeer_route_str(const struct wgpeer *p, size_t i, char out[19]);

/* The wg-quick file of peer p of network n: [Interface] its address, DNS =
 * n's resolvers when n has dns, and its private key (a peer with its own key: read from /etc/wireguard/<the
 * interface>.key on the peer by PostUp); [Peer] the DR host's public key host_pub, endpoint
 * (host:port) and AllowedIPs = n's subnet and the tunnel subnet. Caller
 * frees; NULL when out of memory (logged). */
char *wgpeer_quick_conf(const struct receiver_network_cfg *n, const struct wgpeer *p,
			const char *host_pub, const char *endpoint);

#endif
