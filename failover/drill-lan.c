/* A drill's copy of a DR network, the pure part (failover/drill-lan.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "failover/drill-lan.h"
#include "failover/pointnics.h"
#include "replicator/config.h"

#define ARGV_MAX (16 + DRILL_LAN_MAX_HOSTS)

int
drill_lan_init(struct drill_lan *l, const struct receiver_network_cfg *n, const char *id,
	       size_t k, uint32_t rnd)
{
	memset(l, 0, sizeof(*l));
	if (strlen(id) > 32 || k > 99) {
		log_error("drill %s: id too long for its network names", id);
		return -1;
	}
	snprintf(l->net, sizeof(l->net), "%s", n->name);
	snprintf(l->libvirt, sizeof(l->libvirt), "nestor-drill-%s-%zu", id, k);
	snprintf(l->netns, sizeof(l->netns), "nestor-drill-%s-%zu", id, k);
	/* IFNAMSIZ: 15 characters; random, so that drills at once never meet */
	snprintf(l->bridge, sizeof(l->bridge), "ndl%08x", rnd);
	snprintf(l->veth, sizeof(l->veth), "ndg%08x", rnd);
	l->subnet = n->subnet;
	l->prefix = n->prefix;
	l->gateway = n->gateway;
	l->dhcp = n->dhcp;
	l->dhcp_first = n->dhcp_first;
	l->dhcp_last = n->dhcp_last;
	for (size_t i = 0; i < n->ndns && i < DRILL_LAN_MAX_DNS; i++)
		l->dns[l->ndns++] = n->dns[i];
	return 0;
}

static bool
lan_in_subnet(const struct drill_lan *l, uint32_t a)
{
	uint32_t mask = UINT32_MAX << (32 - l->prefix);

	return (a & mask) == l->subnet && a != l->subnet && a != (l->subnet | ~mask);
}

int
drill_lan_reserve(struct drill_lan *l, const char *mac, uint32_t ip, const char *vm,
		  const char *ctx)
{
	struct drnet_host *h;
	char ips[16];

	drnet_ip_str(ip, ips);
	if (!lan_in_subnet(l, ip) || ip == l->gateway) {
		log_warn("%s: vm %s: %s is not a guest address of network %s", ctx, vm, ips, l->net);
		return 1;
	}
	for (size_t i = 0; i < l->nhosts; i++) {
		if (!strcmp(l->hosts[i].mac, mac))
			return 1;
		if (!strcmp(l->hosts[i].ip, ips)) {
			log_warn("%s: vm %s: %s is reserved for %s already: not reserved twice",
				 ctx, vm, ips, l->hosts[i].name);
			return 1;
		}
	}
	if (l->nhosts == DRILL_LAN_MAX_HOSTS)
		return -1;
	h = &l->hosts[l->nhosts++];
	snprintf(h->mac, sizeof(h->mac), "%s", mac);
	snprintf(h->ip, sizeof(h->ip), "%s", ips);
	snprintf(h->name, sizeof(h->name), "%s", vm);
	return 0;
}

char *
drill_lan_network_xml(const struct drill_lan *l)
{
	return strfmt("<network><name>%s</name><bridge name='%s' stp='off'/></network>",
		      l->libvirt, l->bridge);
}

bool
drill_lan_xml_isolated(const char *xml)
{
	static const char *const refused[] = { "<forward", "<ip", "<route", "<dns", "<nat",
					       "<portgroup", "<vlan" };

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strstr(xml, refused[i]))
			return false;
	return strstr(xml, "<bridge") != NULL;
}

static bool
argv_add(char **argv, size_t *n, char *s)
{
	if (!s || *n + 1 >= ARGV_MAX) {
		free(s);
		return false;
	}
	argv[(*n)++] = s;
	return true;
}

char **
drill_lan_dnsmasq_argv(const struct drill_lan *l, const char *dir)
{
	char **argv = calloc(ARGV_MAX, sizeof(*argv));
	char a[16], b[16], gw[16];
	uint32_t mask = UINT32_MAX << (32 - l->prefix);
	size_t n = 0;
	bool ok;

	if (!argv)
		return NULL;
	drnet_ip_str(l->dhcp_first, a);
	drnet_ip_str(l->dhcp_last, b);
	drnet_ip_str(l->gateway, gw);
	/* no configuration file of the host's, no DNS (nothing to resolve in
	 * a network that reaches nothing), only the gateway's interface */
	ok = argv_add(argv, &n, strdup("--conf-file=/dev/null")) &&
	     argv_add(argv, &n, strdup("--port=0")) &&
	     argv_add(argv, &n, strdup("--interface=gw")) &&
	     argv_add(argv, &n, strdup("--bind-interfaces")) &&
	     argv_add(argv, &n, strdup("--dhcp-authoritative")) &&
	     argv_add(argv, &n, strdup("--dhcp-no-override")) &&
	     argv_add(argv, &n, strfmt("--pid-file=%s/%s.pid", dir, l->netns)) &&
	     argv_add(argv, &n, strfmt("--dhcp-leasefile=%s/%s.leases", dir, l->netns)) &&
	     argv_add(argv, &n, strfmt("--dhcp-range=%s,%s,%u.%u.%u.%u", a, b, mask >> 24,
				       (mask >> 16) & 0xff, (mask >> 8) & 0xff, mask & 0xff)) &&
	     argv_add(argv, &n, strfmt("--dhcp-option=3,%s", gw));
	if (ok && l->ndns > 0) {
		char *opt = strdup("--dhcp-option=6");

		for (size_t i = 0; opt && i < l->ndns; i++) {
			char d[16], *next;

			drnet_ip_str(l->dns[i], d);
			next = strfmt("%s,%s", opt, d);
			free(opt);
			opt = next;
		}
		ok = argv_add(argv, &n, opt);
	}
	for (size_t i = 0; ok && i < l->nhosts; i++)
		ok = argv_add(argv, &n, strfmt("--dhcp-host=%s,%s", l->hosts[i].mac, l->hosts[i].ip));
	if (!ok) {
		drill_lan_argv_free(argv);
		return NULL;
	}
	return argv;
}

void
drill_lan_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* ---- the record ----------------------------------------------------------- */

json_t *
drill_lan_to_json(const struct drill_lan *l)
{
	char sub[16], gw[16], a[16], b[16];
	json_t *hosts = json_array(), *dns = json_array(), *j;

	drnet_ip_str(l->subnet, sub);
	drnet_ip_str(l->gateway, gw);
	drnet_ip_str(l->dhcp_first, a);
	drnet_ip_str(l->dhcp_last, b);
	for (size_t i = 0; hosts && i < l->nhosts; i++)
		json_array_append_new(hosts, json_pack("{s:s, s:s, s:s}", "mac", l->hosts[i].mac,
						       "ip", l->hosts[i].ip, "name",
						       l->hosts[i].name));
	for (size_t i = 0; dns && i < l->ndns; i++) {
		char d[16];

		drnet_ip_str(l->dns[i], d);
		json_array_append_new(dns, json_string(d));
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:s, s:s, s:o?, s:o?}",
		      "network", l->net, "libvirt", l->libvirt, "bridge", l->bridge, "veth",
		      l->veth, "netns", l->netns, "subnet", sub, "prefix", (int)l->prefix,
		      "gateway", gw, "dhcp", l->dhcp, "dhcp_first", a, "dhcp_last", b,
		      "hosts", hosts, "dns", dns);
	return j;
}

static bool
str_into(const json_t *j, const char *key, char *out, size_t len, bool ifname)
{
	const char *s = json_string_value(json_object_get(j, key));
	size_t n = s ? strlen(s) : 0;

	if (!s || n == 0 || n >= len || !name_valid(s, n) || (ifname && n > 15))
		return false;
	memcpy(out, s, n + 1);
	return true;
}

static bool
ip_into(const json_t *j, const char *key, uint32_t *out)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s && !strchr(s, '/') && drnet_ip_parse(s, out) == 0;
}

/* The reservations and resolvers of record j into l. */
static bool
lists_from_json(const json_t *j, struct drill_lan *l)
{
	const json_t *hosts = json_object_get(j, "hosts"), *dns = json_object_get(j, "dns"), *e;
	size_t i;

	if (json_array_size(hosts) > DRILL_LAN_MAX_HOSTS || json_array_size(dns) > DRILL_LAN_MAX_DNS)
		return false;
	json_array_foreach(hosts, i, e) {
		struct drnet_host *h = &l->hosts[l->nhosts++];
		const char *mac = json_string_value(json_object_get(e, "mac"));
		uint32_t ip;

		const char *name = json_string_value(json_object_get(e, "name"));

		/* the VM's name came from the point: kept, never used as a name */
		if (!mac || !pointnic_mac_parse(mac, h->mac) || !ip_into(e, "ip", &ip) || !name)
			return false;
		snprintf(h->name, sizeof(h->name), "%s", name);
		drnet_ip_str(ip, h->ip);
	}
	json_array_foreach(dns, i, e)
		if (!json_is_string(e) || drnet_ip_parse(json_string_value(e), &l->dns[l->ndns++]) < 0)
			return false;
	return true;
}

int
drill_lan_from_json(const json_t *j, struct drill_lan *l, const char **why)
{
	json_int_t prefix = json_integer_value(json_object_get(j, "prefix"));

	memset(l, 0, sizeof(*l));
	*why = "a name or an interface is missing or malformed";
	if (!str_into(j, "network", l->net, sizeof(l->net), false) ||
	    !str_into(j, "libvirt", l->libvirt, sizeof(l->libvirt), false) ||
	    !str_into(j, "bridge", l->bridge, sizeof(l->bridge), true) ||
	    !str_into(j, "veth", l->veth, sizeof(l->veth), true) ||
	    !str_into(j, "netns", l->netns, sizeof(l->netns), false))
		return -1;
	/* what a sweep removes by these names must be a drill's own */
	*why = "a name is not one a drill makes";
	if (strncmp(l->libvirt, "nestor-drill-", 13) || strncmp(l->netns, "nestor-drill-", 13) ||
	    strncmp(l->bridge, "ndl", 3) || strncmp(l->veth, "ndg", 3))
		return -1;
	*why = "an address is malformed";
	if (prefix < 8 || prefix > 30 || !ip_into(j, "subnet", &l->subnet) ||
	    !ip_into(j, "gateway", &l->gateway) || !ip_into(j, "dhcp_first", &l->dhcp_first) ||
	    !ip_into(j, "dhcp_last", &l->dhcp_last) || !json_is_boolean(json_object_get(j, "dhcp")))
		return -1;
	l->prefix = (unsigned)prefix;
	l->dhcp = json_is_true(json_object_get(j, "dhcp"));
	*why = "a reservation or a resolver is malformed";
	if (!lists_from_json(j, l))
		return -1;
	return 0;
}
