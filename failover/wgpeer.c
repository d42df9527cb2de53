/* The WireGuard link's keys and peers in the store (failover/wgpeer.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/strfmt.h"
#include "failover/drnet-record.h"
#include "failover/drnet.h"
#include "failover/wgpeer.h"
#include "replicator/config.h"

#define WG_DIR "/.wireguard"
#define PEERS_MAX_BYTES (1u << 20)

static char *
state_path(const char *root, const char *file)
{
	char *p = strfmt("%s" WG_DIR "/%s", root, file);

	if (!p)
		log_error("out of memory");
	return p;
}

char *
wgpeer_host_key_path(const char *root)
{
	return state_path(root, "private.key");
}

/* <store>/.wireguard, private to root. */
static int
state_dir(const char *root)
{
	char *dir = strfmt("%s" WG_DIR, root);
	int ret = -1;

	if (!dir)
		return -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_error("%s: %m", dir);
	else
		ret = 0;
	free(dir);
	return ret;
}

/* The key file's text: the key and a newline, as wg genkey writes it. */
static int
host_key_read(const char *path, char priv[WGKEY_LEN + 1])
{
	void *data = NULL;
	size_t len = 0;
	int ret = -1;

	if (file_read_all(path, 256, &data, &len) < 0)
		return -1;
	if (len >= WGKEY_LEN && (len == WGKEY_LEN || ((char *)data)[WGKEY_LEN] == '\n')) {
		memcpy(priv, data, WGKEY_LEN);
		priv[WGKEY_LEN] = '\0';
		ret = wgkey_valid(priv) ? 0 : -1;
	}
	if (ret < 0)
		log_error("%s: not a WireGuard private key", path);
	OPENSSL_cleanse(data, len);
	free(data);
	return ret;
}

int
wgpeer_host_key(const char *root, char pub[WGKEY_LEN + 1])
{
	char *path = wgpeer_host_key_path(root), priv[WGKEY_LEN + 2];
	struct stat sb;
	int ret = -1;

	if (!path || state_dir(root) < 0)
		goto out;
	if (stat(path, &sb) == 0) {
		if (host_key_read(path, priv) < 0)
			goto out;
	} else if (errno != ENOENT) {
		log_error("%s: %m", path);
		goto out;
	} else {
		if (wgkey_generate(priv) < 0)
			goto out;
		priv[WGKEY_LEN] = '\n';
		if (file_write_atomic(path, priv, WGKEY_LEN + 1, 0600) < 0)
			goto out;
		priv[WGKEY_LEN] = '\0';
		log_info("wireguard: the DR host's key pair made in %s", path);
	}
	ret = wgkey_public(priv, pub);
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	free(path);
	return ret;
}

void
wgpeer_free(struct wgpeer *peers, size_t n)
{
	if (!peers)
		return;
	OPENSSL_cleanse(peers, n * sizeof(*peers));
	free(peers);
}

const struct wgpeer *
wgpeer_find(const struct wgpeer *peers, size_t n, const char *net, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(peers[i].network, net) && !strcmp(peers[i].name, name))
			return &peers[i];
	return NULL;
}

static bool
copy_name(char dst[65], const char *s)
{
	if (!s || !name_valid(s, strlen(s)))
		return false;
	snprintf(dst, 65, "%s", s);
	return true;
}

static bool
copy_key(char dst[WGKEY_LEN + 1], const char *s)
{
	if (!wgkey_valid(s))
		return false;
	memcpy(dst, s, WGKEY_LEN + 1);
	return true;
}

static uint32_t
mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

/* "a.b.c.d/N" of len bytes, N 8..32, no host bits set. */
static int
cidr_parse(const char *s, size_t len, uint32_t *a, unsigned *prefix)
{
	const char *slash = memchr(s, '/', len);
	char num[4];
	uint64_t v;

	if (!slash || (size_t)(s + len - slash - 1) >= sizeof(num) || slash + 1 == s + len ||
	    parse_ipv4(s, (size_t)(slash - s), a) < 0)
		return -1;
	memcpy(num, slash + 1, (size_t)(s + len - slash - 1));
	num[s + len - slash - 1] = '\0';
	if (parse_u64(num, &v) < 0 || v < 8 || v > 32 || (*a & ~mask_of((unsigned)v)) != 0)
		return -1;
	*prefix = (unsigned)v;
	return 0;
}

static bool
overlaps(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
	uint32_t m = mask_of(pa < pb ? pa : pb);

	return (a & m) == (b & m);
}

/* "allowed_ips" of entry e: the address as a /32 and p's routes. */
static bool
allowed_of(const json_t *e, struct wgpeer *p)
{
	const json_t *arr = json_object_get(e, "allowed_ips");
	bool has_addr = false;
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > WGPEER_MAX_ROUTES + 1)
		return false;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		uint32_t a;
		unsigned pfx;

		if (!s || cidr_parse(s, strlen(s), &a, &pfx) < 0)
			return false;
		if (pfx == 32 && a == p->addr && !has_addr)
			has_addr = true;
		else if (p->nroutes < WGPEER_MAX_ROUTES) {
			p->routes[p->nroutes] = a;
			p->route_prefix[p->nroutes++] = pfx;
		} else
			return false;
	}
	return has_addr;
}

/* Entry e of peers.json into *p; false when malformed. */
static bool
peer_of(const json_t *e, struct wgpeer *p)
{
	const char *addr = json_string_value(json_object_get(e, "address"));

	return copy_name(p->network, json_string_value(json_object_get(e, "network"))) &&
	       copy_name(p->name, json_string_value(json_object_get(e, "name"))) &&
	       copy_key(p->pub, json_string_value(json_object_get(e, "public_key"))) &&
	       (!json_object_get(e, "private_key") ||
		copy_key(p->priv, json_string_value(json_object_get(e, "private_key")))) &&
	       addr && !strchr(addr, '/') && drnet_ip_parse(addr, &p->addr) == 0 &&
	       allowed_of(e, p);
}

void
wgpeer_route_str(const struct wgpeer *p, size_t i, char out[19])
{
	char a[16];

	drnet_ip_str(p->routes[i], a);
	snprintf(out, 19, "%s/%u", a, p->route_prefix[i]);
}

void
wgpeer_allowed_ips(const struct wgpeer *p, char out[WGPEER_ALLOWED_LEN])
{
	size_t len;

	drnet_ip_str(p->addr, out);
	len = strlen(out);
	len += (size_t)snprintf(out + len, WGPEER_ALLOWED_LEN - len, "/32");
	for (size_t i = 0; i < p->nroutes; i++) {
		char r[19];

		wgpeer_route_str(p, i, r);
		len += (size_t)snprintf(out + len, WGPEER_ALLOWED_LEN - len, ",%s", r);
	}
}

/* Does network a/pfx overlap a DR subnet or tunnel subnet (n's, and
 * every network of all), a route of any peer or one of p's own? */
static bool
route_taken(const struct receiver_network_cfg *n, const struct wgpeer_req *req,
	    const struct wgpeer *peers, size_t np, const struct wgpeer *p, uint32_t a,
	    unsigned pfx)
{
	bool taken = false;

	for (size_t i = 0; !taken && i <= req->nall; i++) {
		const struct receiver_network_cfg *o = i < req->nall ? &req->all[i] : n;

		taken = overlaps(a, pfx, o->subnet, o->prefix) ||
			(o->wg_addr && overlaps(a, pfx, o->wg_addr & mask_of(o->wg_prefix),
						o->wg_prefix));
	}
	/* every link's routes share the host's table */
	for (size_t i = 0; !taken && i < np; i++)
		for (size_t r = 0; !taken && r < peers[i].nroutes; r++)
			taken = overlaps(a, pfx, peers[i].routes[r], peers[i].route_prefix[r]);
	for (size_t r = 0; !taken && r < p->nroutes; r++)
		taken = overlaps(a, pfx, p->routes[r], p->route_prefix[r]);
	return taken;
}

/* req->routes ("CIDR[,CIDR]...") into p, checked by route_taken. 0 / -1
 * (logged). */
static int
routes_parse(const struct receiver_network_cfg *n, const struct wgpeer_req *req,
	     const struct wgpeer *peers, size_t np, struct wgpeer *p)
{
	for (const char *s = req->routes; s && *s;) {
		size_t len = strcspn(s, ",");
		uint32_t a;
		unsigned pfx;

		if (p->nroutes == WGPEER_MAX_ROUTES || cidr_parse(s, len, &a, &pfx) < 0 ||
		    route_taken(n, req, peers, np, p, a, pfx)) {
			log_error("network %s: route '%.*s': not a network a.b.c.d/N (N 8..32, no "
				  "host bits), or it overlaps a DR subnet, a tunnel subnet or "
				  "another route (at most %d)", n->name, (int)len, s, WGPEER_MAX_ROUTES);
			return -1;
		}
		p->routes[p->nroutes] = a;
		p->route_prefix[p->nroutes++] = pfx;
		s += len + (s[len] == ',');
	}
	return 0;
}

static int
peers_from_json(const char *path, const json_t *doc, struct wgpeer **peers, size_t *n)
{
	const json_t *arr = json_object_get(doc, "peers");
	size_t len = json_array_size(arr);
	struct wgpeer *ps;

	if (!json_is_array(arr) || len > WGPEER_MAX) {
		log_error("%s: \"peers\" is not an array of at most %d peers", path, WGPEER_MAX);
		return -1;
	}
	if (len == 0)
		return 0;
	if (!(ps = calloc(len, sizeof(*ps)))) {
		log_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!peer_of(json_array_get(arr, i), &ps[i]) ||
		    wgpeer_find(ps, i, ps[i].network, ps[i].name)) {
			log_error("%s: peer %zu is malformed or listed twice", path, i);
			wgpeer_free(ps, len);
			return -1;
		}
	}
	*peers = ps;
	*n = len;
	return 0;
}

int
wgpeer_load(const char *root, struct wgpeer **peers, size_t *n)
{
	char *path = state_path(root, "peers.json");
	json_t *doc = NULL;
	int rc = path ? jsonfile_load(path, PEERS_MAX_BYTES, JSON_REJECT_DUPLICATES, &doc) : -1;

	*peers = NULL;
	*n = 0;
	if (rc == 0)
		rc = peers_from_json(path, doc, peers, n);
	json_decref(doc);
	free(path);
	return rc < 0 ? -1 : 0;
}

static int
peers_save(const char *root, const struct wgpeer *peers, size_t n)
{
	char *path = state_path(root, "peers.json");
	json_t *doc = json_pack("{s:i, s:[]}", "version", 1, "peers");
	json_t *arr = json_object_get(doc, "peers");
	int ret = -1;

	if (!path || !doc || state_dir(root) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char a[16], r[19];
		json_t *allowed = json_array();

		drnet_ip_str(peers[i].addr, a);
		snprintf(r, sizeof(r), "%s/32", a);
		json_array_append_new(allowed, json_string(r));
		for (size_t k = 0; k < peers[i].nroutes; k++) {
			wgpeer_route_str(&peers[i], k, r);
			json_array_append_new(allowed, json_string(r));
		}
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s*, s:s, s:o}",
							 "network", peers[i].network, "name",
							 peers[i].name, "public_key", peers[i].pub,
							 "private_key",
							 peers[i].priv[0] ? peers[i].priv : NULL,
							 "address", a, "allowed_ips", allowed)) < 0) {
			log_error("out of memory");
			goto out;
		}
	}
	ret = jsonfile_save(path, doc, JSON_INDENT(2), 0600);
out:
	json_decref(doc);
	free(path);
	return ret;
}

static uint32_t
wg_mask(const struct receiver_network_cfg *n)
{
	return mask_of(n->wg_prefix);
}

static bool
addr_free(const struct receiver_network_cfg *n, const struct wgpeer *peers, size_t np,
	  uint32_t a)
{
	uint32_t m = wg_mask(n);

	if ((a & m) != (n->wg_addr & m) || (a & ~m) == 0 || (a & ~m) == ~m || a == n->wg_addr)
		return false;
	for (size_t i = 0; i < np; i++)
		if (!strcmp(peers[i].network, n->name) && peers[i].addr == a)
			return false;
	return true;
}

/* The tunnel address of a new peer: addr checked, or the lowest free. */
static int
pick_addr(const struct receiver_network_cfg *n, const struct wgpeer *peers, size_t np,
	  const char *addr, uint32_t *out)
{
	uint32_t m = wg_mask(n), a;

	if (addr) {
		if (strchr(addr, '/') || drnet_ip_parse(addr, &a) < 0 ||
		    !addr_free(n, peers, np, a)) {
			log_error("network %s: address %s is not a free host address of the "
				  "tunnel subnet (wg_address), nor the DR host's", n->name, addr);
			return -1;
		}
		*out = a;
		return 0;
	}
	for (a = (n->wg_addr & m) + 1; (a & ~m) != ~m; a++) {
		if (addr_free(n, peers, np, a)) {
			*out = a;
			return 0;
		}
	}
	log_error("network %s: no free address left in the tunnel subnet", n->name);
	return -1;
}

/* The key pair of new peer p: its own public key, or one made here. */
static int
new_keys(const struct receiver_network_cfg *n, const struct wgpeer *peers, size_t np,
	 const char *pub, struct wgpeer *p)
{
	if (!pub) {
		if (wgkey_generate(p->priv) < 0 || wgkey_public(p->priv, p->pub) < 0)
			return -1;
	} else if (!copy_key(p->pub, pub)) {
		log_error("network %s: '%s' is not a WireGuard public key (44 characters of "
			  "base64, as wg pubkey prints it)", n->name, pub);
		return -1;
	}
	for (size_t i = 0; i < np; i++) {
		if (!strcmp(peers[i].network, n->name) && !strcmp(peers[i].pub, p->pub)) {
			log_error("network %s: peer %s has that public key already", n->name,
				  peers[i].name);
			return -1;
		}
	}
	return 0;
}

int
wgpeer_add(const char *root, const struct receiver_network_cfg *n,
	   const struct wgpeer_req *req, struct wgpeer *out)
{
	struct wgpeer *peers = NULL, *grown;
	size_t np = 0;
	int lock = -1, ret = -1;

	if (!n->wireguard) {
		log_error("network %s: wireguard is off (set wireguard = on in receiver.conf)",
			  n->name);
		return -1;
	}
	if ((lock = drnet_record_lock(root)) < 0 || wgpeer_load(root, &peers, &np) < 0)
		goto out;
	if (wgpeer_find(peers, np, n->name, req->name)) {
		log_error("network %s: peer %s exists already", n->name, req->name);
		goto out;
	}
	if (np >= WGPEER_MAX) {
		log_error("network %s: the store has %d peers, the most it keeps", n->name,
			  WGPEER_MAX);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	if (!copy_name(out->network, n->name) || !copy_name(out->name, req->name)) {
		log_error("peer name '%s' is not valid (%s)", req->name, "1-64 of [A-Za-z0-9._-]");
		goto out;
	}
	if (pick_addr(n, peers, np, req->addr, &out->addr) < 0 ||
	    routes_parse(n, req, peers, np, out) < 0 ||
	    new_keys(n, peers, np, req->pub, out) < 0)
		goto out;
	if (!(grown = realloc(peers, (np + 1) * sizeof(*peers)))) {
		log_error("out of memory");
		goto out;
	}
	peers = grown;
	peers[np++] = *out;
	ret = peers_save(root, peers, np);
out:
	drnet_record_unlock(lock);
	wgpeer_free(peers, np);
	return ret;
}

int
wgpeer_remove(const char *root, const char *net, const char *name, struct wgpeer *out)
{
	struct wgpeer *peers = NULL;
	const struct wgpeer *p;
	size_t np = 0, i;
	int lock = -1, ret = -1;

	if ((lock = drnet_record_lock(root)) < 0 || wgpeer_load(root, &peers, &np) < 0)
		goto out;
	if (!(p = wgpeer_find(peers, np, net, name))) {
		log_error("network %s: no peer %s", net, name);
		goto out;
	}
	i = (size_t)(p - peers);
	*out = *p;
	OPENSSL_cleanse(out->priv, sizeof(out->priv));
	memmove(&peers[i], &peers[i + 1], (np - i - 1) * sizeof(*peers));
	ret = peers_save(root, peers, np - 1);
out:
	drnet_record_unlock(lock);
	wgpeer_free(peers, np);
	return ret;
}

/* "DNS = a, b\n" of n's resolvers into out ("" without): wg-quick hands
 * them to the peer's resolvconf while the link is up. */
static void
dns_line(const struct receiver_network_cfg *n, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n->ndns && used < len; i++) {
		char d[16];

		drnet_ip_str(n->dns[i], d);
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "DNS = ", d);
	}
	if (used > 0 && used + 1 < len)
		memcpy(out + used, "\n", 2);
	else
		out[0] = '\0';
}

char *
wgpeer_quick_conf(const struct receiver_network_cfg *n, const struct wgpeer *p,
		  const char *host_pub, const char *endpoint)
{
	char a[16], sub[16], tun[16], dns[RX_NET_MAX_LIST * 18 + 8], *key, *s;

	drnet_ip_str(p->addr, a);
	drnet_ip_str(n->subnet, sub);
	drnet_ip_str(n->wg_addr & wg_mask(n), tun);
	dns_line(n, dns, sizeof(dns));
	if (p->priv[0])
		key = strfmt("# It holds the peer's private key: keep it like one.\n[Interface]\n"
			     "Address = %s/32\n%sPrivateKey = %s\n", a, dns, p->priv);
	else
		key = strfmt("# The peer's own private key (its public key is %s) is read\n"
			     "# from /etc/wireguard/<interface>.key on the peer.\n[Interface]\n"
			     "Address = %s/32\n%sPostUp = wg set %%i private-key "
			     "/etc/wireguard/%%i.key\n", p->pub, a, dns);
	/* the keepalive holds a branch router's NAT mapping open, so that the
	 * DR side can reach it first */
	s = key ? strfmt("# WireGuard peer %s of the DR network %s (nestor network "
			 "peer-config).\n%s\n[Peer]\nPublicKey = %s\nEndpoint = %s\n"
			 "AllowedIPs = %s/%u, %s/%u\nPersistentKeepalive = 25\n", p->name,
			 n->name, key, host_pub, endpoint, sub, n->prefix, tun, n->wg_prefix)
		: NULL;
	if (key)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	if (!s)
		log_error("out of memory");
	return s;
}
