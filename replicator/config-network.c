/* The receiver's [network NAME] sections (replicator/config-network.h):
 * strict parsers for subnets, addresses, ranges and publish rules, the
 * defaults that depend on the subnet, and the checks across networks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config-network.h"
#include "replicator/config.h"

/* Bridges are interfaces: IFNAMSIZ - 1 characters. */
#define BRIDGE_MAX 15
#define BRIDGE_PREFIX "nst-"
#define WG_IF_PREFIX "nsw-"

static uint32_t
net_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

static int
set_subnet(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	struct receiver_network_cfg *n = obj;
	const char *slash = strchr(value, '/');
	uint64_t prefix;
	uint32_t a;

	(void)k;
	*expect = "an IPv4 subnet a.b.c.d/N with N 8..30 and no host bits set";
	if (!slash || parse_ipv4(value, (size_t)(slash - value), &a) < 0 ||
	    parse_u64(slash + 1, &prefix) < 0 || prefix < 8 || prefix > 30 ||
	    (a & ~net_mask((unsigned)prefix)) != 0)
		return -1;
	n->subnet = a;
	n->prefix = (unsigned)prefix;
	return 0;
}

static int
set_ipv4(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "an IPv4 address a.b.c.d";
	return parse_ipv4(value, strlen(value), CFG_FIELD(obj, k->off, uint32_t));
}

static int
set_onoff(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "on or off";
	return parse_bool(value, CFG_FIELD(obj, k->off, bool));
}

static int
set_range(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	struct receiver_network_cfg *n = obj;
	const char *dash = strchr(value, '-');
	uint32_t a, b;

	(void)k;
	*expect = "A-B: two IPv4 addresses, A <= B";
	if (!dash || parse_ipv4(value, (size_t)(dash - value), &a) < 0 ||
	    parse_ipv4(dash + 1, strlen(dash + 1), &b) < 0 || a > b)
		return -1;
	n->dhcp_first = a;
	n->dhcp_last = b;
	return 0;
}

/* Calls one(obj, word, len) for each word of value (blanks or commas
 * between); at most RX_NET_MAX_LIST words. */
static int
each_word(void *obj, const char *value, int (*one)(void *, const char *, size_t))
{
	size_t n = 0;

	for (const char *p = value;;) {
		size_t len;

		p += strspn(p, " \t,");
		if (!*p)
			return n > 0 ? 0 : -1;
		len = strcspn(p, " \t,");
		if (++n > RX_NET_MAX_LIST || one(obj, p, len) < 0)
			return -1;
		p += len;
	}
}

static int
dns_one(void *obj, const char *p, size_t len)
{
	struct receiver_network_cfg *n = obj;

	return parse_ipv4(p, len, &n->dns[n->ndns++]);
}

static int
set_dns(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	(void)k;
	*expect = "1-16 IPv4 addresses separated by blanks or commas";
	return each_word(obj, value, dns_one);
}

static int
source_one(void *obj, const char *p, size_t len)
{
	struct receiver_network_cfg *n = obj;

	if (!name_valid(p, len))
		return -1;
	for (size_t i = 0; i < n->nsources; i++)
		if (strlen(n->sources[i]) == len && !memcmp(n->sources[i], p, len))
			return -1;
	if (!(n->sources[n->nsources] = strndup(p, len)))
		return -1;
	n->nsources++;
	return 0;
}

static int
set_sources(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	(void)k;
	*expect = "1-16 distinct libvirt network or bridge names (" CFG_NAME_EXPECT ")";
	return each_word(obj, value, source_one);
}

static int
port_parse(const char *p, size_t len, uint16_t *out)
{
	char buf[8];
	uint64_t v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (parse_u64(buf, &v) < 0 || v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* "tcp:443=web1:443" */
static int
publish_one(void *obj, const char *p, size_t len)
{
	struct receiver_network_cfg *n = obj;
	struct rx_publish *pb = &n->publish[n->npublish];
	const char *end = p + len, *eq, *colon;

	if (len > 4 && !memcmp(p, "tcp:", 4))
		pb->udp = false;
	else if (len > 4 && !memcmp(p, "udp:", 4))
		pb->udp = true;
	else
		return -1;
	p += 4;
	eq = memchr(p, '=', (size_t)(end - p));
	colon = eq ? memrchr(eq, ':', (size_t)(end - eq)) : NULL;
	if (!eq || !colon || port_parse(p, (size_t)(eq - p), &pb->port) < 0 ||
	    !name_valid(eq + 1, (size_t)(colon - eq - 1)) ||
	    port_parse(colon + 1, (size_t)(end - colon - 1), &pb->vm_port) < 0)
		return -1;
	memcpy(pb->vm, eq + 1, (size_t)(colon - eq - 1));
	for (size_t i = 0; i < n->npublish; i++)
		if (n->publish[i].udp == pb->udp && n->publish[i].port == pb->port)
			return -1;
	n->npublish++;
	return 0;
}

static int
set_publish(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	(void)k;
	*expect = "1-16 distinct PROTO:PORT=VM:PORT (tcp or udp, ports 1..65535), "
		  "e.g. tcp:443=web1:443";
	return each_word(obj, value, publish_one);
}

/* An interface name (at most 15 of [A-Za-z0-9._-]) or an IPv4 address. */
static int
set_external(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	size_t len = strlen(value);
	uint32_t a;

	*expect = "a host interface name (1-15 of [A-Za-z0-9._-]) or an IPv4 address";
	if (parse_ipv4(value, len, &a) < 0 &&
	    (len > BRIDGE_MAX || !name_valid(value, len)))
		return -1;
	return cfg_set_string(obj, k, value, expect);
}

static int
set_wg_port(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	(void)k;
	*expect = "a UDP port 1..65535";
	return port_parse(value, strlen(value), &((struct receiver_network_cfg *)obj)->wg_port);
}

/* "10.99.0.1/24": the DR host's tunnel address, a host address of its
 * prefix (8..30). */
static int
set_wg_address(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	struct receiver_network_cfg *n = obj;
	const char *slash = strchr(value, '/');
	uint64_t prefix;
	uint32_t a, m;

	(void)k;
	*expect = "the DR host's tunnel address a.b.c.d/N (N 8..30), a host address of its subnet";
	if (!slash || parse_ipv4(value, (size_t)(slash - value), &a) < 0 ||
	    parse_u64(slash + 1, &prefix) < 0 || prefix < 8 || prefix > 30)
		return -1;
	m = net_mask((unsigned)prefix);
	if ((a & ~m) == 0 || (a & ~m) == ~m)
		return -1;
	n->wg_addr = a;
	n->wg_prefix = (unsigned)prefix;
	return 0;
}

static const struct key_def network_keys[] = {
	{ "subnet", set_subnet, 0, true, 0, false },
	CFG_KEY("gateway", set_ipv4, struct receiver_network_cfg, gateway, false),
	CFG_KEY("dhcp", set_onoff, struct receiver_network_cfg, dhcp, false),
	{ "dhcp_range", set_range, 0, false, 0, false },
	{ "dns", set_dns, 0, false, 0, false },
	CFG_KEY("nat", set_onoff, struct receiver_network_cfg, nat, false),
	{ "sources", set_sources, 0, true, 0, false },
	{ "publish", set_publish, 0, false, 0, false },
	CFG_STR("external", set_external, struct receiver_network_cfg, external, false),
	CFG_KEY("wireguard", set_onoff, struct receiver_network_cfg, wireguard, false),
	{ "wg_port", set_wg_port, 0, false, 0, false },
	{ "wg_address", set_wg_address, 0, false, 0, false },
};

/* prefix ("nst-", "nsw-") + NAME, or for a long name prefix + its first 6
 * characters + "-" + 4 hex digits of its FNV-1a hash: the same name always
 * gives the same interface, so a release finds what a failover made; two
 * names give distinct bridges exactly when they give distinct WireGuard
 * interfaces. */
static void
iface_name(const char *prefix, const char *name, char out[BRIDGE_MAX + 1])
{
	uint32_t h = 2166136261u;

	if (strlen(name) <= BRIDGE_MAX - strlen(prefix)) {
		snprintf(out, BRIDGE_MAX + 1, "%s%s", prefix, name);
		return;
	}
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, BRIDGE_MAX + 1, "%.4s%.6s-%04x", prefix, name, (unsigned)(h & 0xffff));
}

static bool
prefixes_overlap(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
	uint32_t m = net_mask(pa < pb ? pa : pb);

	return (a & m) == (b & m);
}

static bool
in_hosts(const struct receiver_network_cfg *n, uint32_t a)
{
	uint32_t bcast = n->subnet | ~net_mask(n->prefix);

	return a > n->subnet && a < bcast;
}

/* The defaults that depend on the subnet, and the checks within one
 * network. 0 / -1 (logged). */
static int
network_finish(const struct ini_doc *doc, struct receiver_network_cfg *n)
{
	uint32_t bcast = n->subnet | ~net_mask(n->prefix);
	char what[96];

	snprintf(what, sizeof(what), "[network %s]", n->name);
	if (n->gateway == 0)
		n->gateway = n->subnet + 1;
	if (!in_hosts(n, n->gateway)) {
		cfg_err(doc, n->line, "%s: gateway is not a host address of its subnet", what);
		return -1;
	}
	if (n->dhcp_first == 0) {
		/* the upper half: the lower one keeps the static addresses */
		n->dhcp_first = n->subnet + (~net_mask(n->prefix) + 1) / 2;
		n->dhcp_last = bcast - 1;
		if (n->gateway >= n->dhcp_first && n->gateway <= n->dhcp_last) {
			if (n->gateway == n->dhcp_last)
				n->dhcp_last--;
			else
				n->dhcp_first = n->gateway + 1;
		}
	} else if (!in_hosts(n, n->dhcp_first) || !in_hosts(n, n->dhcp_last) ||
		   (n->gateway >= n->dhcp_first && n->gateway <= n->dhcp_last)) {
		cfg_err(doc, n->line, "%s: dhcp_range must lie in the subnet's host "
			"addresses and leave out the gateway", what);
		return -1;
	}
	iface_name(BRIDGE_PREFIX, n->name, n->bridge);
	iface_name(WG_IF_PREFIX, n->name, n->wg_if);
	if (n->wireguard && n->wg_addr == 0) {
		cfg_err(doc, n->line, "%s: wireguard = on needs wg_address (the DR host's "
			"tunnel address, e.g. 10.99.0.1/24)", what);
		return -1;
	}
	for (size_t i = 0; n->wireguard && i < n->npublish; i++) {
		if (n->publish[i].udp && n->publish[i].port == n->wg_port) {
			/* its DNAT would take the link's packets */
			cfg_err(doc, n->line, "%s: publish udp:%u is the WireGuard link's wg_port",
				what, n->wg_port);
			return -1;
		}
	}
	if (n->wg_addr != 0 && prefixes_overlap(n->subnet, n->prefix, n->wg_addr, n->wg_prefix)) {
		cfg_err(doc, n->line, "%s: wg_address's subnet overlaps the network's subnet",
			what);
		return -1;
	}
	return 0;
}

int
cfg_network_section(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		    size_t *next)
{
	struct receiver_config *c = ctx;
	const struct ini_entry *h = ini_at(doc, hdr);
	struct receiver_network_cfg *nn, *n;
	char name[NAME_MAX_LEN + 1];

	if (cfg_section_name(doc, h, &w[1], "network", name) < 0)
		return -1;
	for (size_t i = 0; i < c->nnetworks; i++) {
		if (!strcmp(c->networks[i].name, name)) {
			cfg_err(doc, h->line, "duplicate network '%s'", name);
			return -1;
		}
	}
	if (!(nn = cfg_append(c->networks, c->nnetworks, sizeof(*nn)))) {
		cfg_err(doc, h->line, "out of memory");
		return -1;
	}
	c->networks = nn;
	n = &nn[c->nnetworks++];
	memcpy(n->name, name, sizeof(name));
	n->line = h->line;
	n->dhcp = true;
	n->nat = true;
	n->wg_port = RX_WG_PORT_DEFAULT;
	if (cfg_section_keys(doc, hdr, next, network_keys, CFG_NKEYS(network_keys), n) < 0)
		return -1;
	return network_finish(doc, n);
}

static bool
overlap(const struct receiver_network_cfg *a, const struct receiver_network_cfg *b)
{
	return prefixes_overlap(a->subnet, a->prefix, b->subnet, b->prefix);
}

/* The WireGuard links of a and b (b before a in the file): distinct ports,
 * tunnel subnets apart from each other and from the other's subnet.
 * 0 / -1 (logged). */
static int
wg_check_pair(const struct ini_doc *doc, const struct receiver_network_cfg *a,
	      const struct receiver_network_cfg *b)
{
	const char *why = NULL;

	if (a->wireguard && b->wireguard && a->wg_port == b->wg_port)
		why = "its wg_port is that of";
	else if (a->wg_addr && b->wg_addr &&
		 prefixes_overlap(a->wg_addr, a->wg_prefix, b->wg_addr, b->wg_prefix))
		why = "its wg_address's subnet overlaps that of";
	else if ((a->wg_addr && prefixes_overlap(a->wg_addr, a->wg_prefix, b->subnet, b->prefix)) ||
		 (b->wg_addr && prefixes_overlap(b->wg_addr, b->wg_prefix, a->subnet, a->prefix)))
		why = "a wg_address's subnet overlaps the subnet of the other:";
	if (!why)
		return 0;
	cfg_err(doc, a->line, "[network %s]: %s [network %s] (line %d)", a->name, why, b->name,
		b->line);
	return -1;
}

int
cfg_networks_check(const struct ini_doc *doc, const struct receiver_config *c)
{
	for (size_t i = 0; i < c->nnetworks; i++) {
		const struct receiver_network_cfg *a = &c->networks[i];

		for (size_t j = 0; j < i; j++) {
			const struct receiver_network_cfg *b = &c->networks[j];

			if (overlap(a, b)) {
				cfg_err(doc, a->line, "[network %s]: its subnet overlaps that of "
					"[network %s] (line %d)", a->name, b->name, b->line);
				return -1;
			}
			if (wg_check_pair(doc, a, b) < 0)
				return -1;
			if (!strcmp(a->bridge, b->bridge)) {
				cfg_err(doc, a->line, "[network %s]: its bridge name %s is that "
					"of [network %s]: rename one", a->name, a->bridge, b->name);
				return -1;
			}
			for (size_t s = 0; s < a->nsources; s++) {
				for (size_t t = 0; t < b->nsources; t++) {
					if (strcmp(a->sources[s], b->sources[t]))
						continue;
					cfg_err(doc, a->line, "[network %s]: source '%s' is a "
						"source of [network %s] too", a->name,
						a->sources[s], b->name);
					return -1;
				}
			}
		}
	}
	return 0;
}

void
cfg_networks_free(struct receiver_config *c)
{
	for (size_t i = 0; i < c->nnetworks; i++) {
		cfg_keys_free(network_keys, CFG_NKEYS(network_keys), &c->networks[i]);
		for (size_t s = 0; s < c->networks[i].nsources; s++)
			free(c->networks[i].sources[s]);
	}
	free(c->networks);
	c->networks = NULL;
	c->nnetworks = 0;
}
