/* DR networks, the pure part (failover/drnet.h): libvirt network XML and
 * the nftables script of a store's table inet nestor_HASH. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/strfmt.h"
#include "failover/drnet.h"
#include "replicator/config.h"

void
drnet_libvirt_name(const char *net, char *out, size_t len)
{
	snprintf(out, len, DRNET_LIBVIRT_PREFIX "%s", net);
}

void
drnet_ip_str(uint32_t addr, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}

int
drnet_ip_parse(const char *s, uint32_t *addr)
{
	return parse_ipv4(s, strcspn(s, "/"), addr);
}

bool
drnet_in_subnet(const struct receiver_network_cfg *n, uint32_t addr)
{
	uint32_t mask = UINT32_MAX << (32 - n->prefix);

	return (addr & mask) == n->subnet && addr != n->subnet && addr != (n->subnet | ~mask);
}

/* A DHCP host name: letters, digits and '-' only (dnsmasq reads a '.' as
 * a domain); other VM names get no name in the lease. */
static bool
hostname_ok(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

char *
drnet_host_xml(const struct drnet_host *h)
{
	if (hostname_ok(h->name))
		return strfmt("<host mac='%s' name='%s' ip='%s'/>", h->mac, h->name, h->ip);
	return strfmt("<host mac='%s' ip='%s'/>", h->mac, h->ip);
}

static void
xml_dhcp(FILE *f, const struct receiver_network_cfg *n, const struct drnet_host *hosts,
	 size_t nhosts)
{
	char a[16], b[16];

	drnet_ip_str(n->dhcp_first, a);
	drnet_ip_str(n->dhcp_last, b);
	fprintf(f, "<dhcp><range start='%s' end='%s'/>", a, b);
	for (size_t i = 0; i < nhosts; i++) {
		char *h = drnet_host_xml(&hosts[i]);

		if (h)
			fputs(h, f);
		free(h);
	}
	fputs("</dhcp>", f);
}

char *
drnet_network_xml(const struct receiver_network_cfg *n, const struct drnet_host *hosts,
		  size_t nhosts)
{
	char name[80], gw[16], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		log_error("out of memory");
		return NULL;
	}
	drnet_libvirt_name(n->name, name, sizeof(name));
	drnet_ip_str(n->gateway, gw);
	/* open: libvirt adds no firewall rule; the nestor table does the rest */
	fprintf(f, "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
		"<name>%s</name><forward mode='open'/><bridge name='%s' stp='off'/>"
		"<ip address='%s' prefix='%u'>", name, n->bridge, gw, n->prefix);
	if (n->dhcp)
		xml_dhcp(f, n, hosts, nhosts);
	fputs("</ip>", f);
	if (n->ndns > 0) {
		/* the resolvers themselves, not dnsmasq's relay at the gateway */
		fputs("<dnsmasq:options><dnsmasq:option value='dhcp-option=6", f);
		for (size_t i = 0; i < n->ndns; i++) {
			char d[16];

			drnet_ip_str(n->dns[i], d);
			fprintf(f, ",%s", d);
		}
		fputs("'/></dnsmasq:options>", f);
	}
	fputs("</network>", f);
	if (fclose(f) != 0) {
		log_error("out of memory");
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the ruleset --------------------------------------------------------- */

/* What a record holds, checked before it reaches the script: an
 * interface name, an address, a subnet. */
static bool
ifname_ok(const char *s)
{
	return s && strlen(s) <= 15 && name_valid(s, strlen(s));
}

static bool
ip_ok(const char *s)
{
	uint32_t a;

	return s && !strchr(s, '/') && drnet_ip_parse(s, &a) == 0;
}

static bool
subnet_ok(const char *s)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	uint64_t prefix;
	uint32_t a;

	return slash && drnet_ip_parse(s, &a) == 0 && parse_u64(slash + 1, &prefix) == 0 &&
	       prefix >= 8 && prefix <= 30;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The external side of network record n: 'oifname "X"' / 'iifname "X"'
 * for an interface, else the address; false if it has neither. */
static bool
ext_of(const json_t *n, const char **ifname, const char **addr)
{
	*ifname = jstr(n, "ext_if");
	*addr = jstr(n, "ext_addr");
	if (*ifname)
		return ifname_ok(*ifname);
	return ip_ok(*addr);
}

/* The rules of one network record: masquerade (nat) and forward. */
static bool
rules_network(FILE *nat, FILE *fwd, const json_t *n)
{
	const char *name = jstr(n, "name"), *sub = jstr(n, "subnet"), *ifn, *addr;

	if (!name || !name_valid(name, strlen(name)) || !subnet_ok(sub) || !ext_of(n, &ifn, &addr))
		return false;
	if (json_is_true(json_object_get(n, "nat"))) {
		if (ifn)
			fprintf(nat, "\t\tip saddr %s ip daddr != %s oifname \"%s\" masquerade "
				"comment \"nestor network %s: nat\"\n", sub, sub, ifn, name);
		else
			fprintf(nat, "\t\tip saddr %s ip daddr != %s snat ip to %s "
				"comment \"nestor network %s: nat\"\n", sub, sub, addr, name);
	}
	if (ifn)
		fprintf(fwd, "\t\tip saddr %s oifname \"%s\" accept comment \"nestor network %s: "
			"outbound\"\n", sub, ifn, name);
	else
		fprintf(fwd, "\t\tip saddr %s ip daddr != %s accept comment \"nestor network %s: "
			"outbound\"\n", sub, sub, name);
	return true;
}

/* One published port of group g: DNAT on the external side, and its
 * forward accept. */
static bool
rules_dnat(FILE *pre, FILE *fwd, const char *g, const json_t *p, const json_t *n)
{
	const char *proto = jstr(p, "proto"), *to = jstr(p, "to"), *vm = jstr(p, "vm"), *ifn, *addr;
	json_int_t port = json_integer_value(json_object_get(p, "port"));
	json_int_t tport = json_integer_value(json_object_get(p, "to_port"));
	char match[64];

	if (!proto || (strcmp(proto, "tcp") && strcmp(proto, "udp")) || !ip_ok(to) || !vm ||
	    !name_valid(vm, strlen(vm)) || port < 1 || port > 65535 || tport < 1 ||
	    tport > 65535 || !ext_of(n, &ifn, &addr))
		return false;
	if (ifn)
		snprintf(match, sizeof(match), "iifname \"%s\"", ifn);
	else
		snprintf(match, sizeof(match), "ip daddr %s", addr);
	fprintf(pre, "\t\t%s %s dport %lld dnat ip to %s:%lld comment \"nestor group %s: "
		"publish %s:%lld=%s:%lld\"\n", match, proto, (long long)port, to, (long long)tport,
		g, proto, (long long)port, vm, (long long)tport);
	fprintf(fwd, "\t\tip daddr %s %s dport %lld ct status dnat accept comment \"nestor "
		"group %s: publish %s:%lld\"\n", to, proto, (long long)tport, g, proto,
		(long long)port);
	return true;
}

/* The WireGuard link wg (drnet-wg.h) of network record n, if it has one
 * (NULL: none): its UDP port open on input, its traffic into the subnet
 * accepted. */
static bool
rules_wg(FILE *in, FILE *fwd, const json_t *n, const json_t *wg)
{
	const json_t *own = json_object_get(n, "wg");
	const char *name = jstr(n, "name"), *ifn = jstr(wg, "ifname");
	json_int_t port = json_integer_value(json_object_get(wg, "port"));

	/* a link is an object; no key or null: none */
	if (own && !json_is_object(own) && !json_is_null(own))
		return false;
	if (!wg)
		return true;
	if (!ifname_ok(ifn) || port < 1 || port > 65535)
		return false;
	fprintf(in, "\t\tudp dport %lld accept comment \"nestor network %s: wireguard\"\n",
		(long long)port, name);
	fprintf(fwd, "\t\tiifname \"%s\" ip daddr %s accept comment \"nestor network %s: "
		"wireguard\"\n", ifn, jstr(n, "subnet"), name);
	return true;
}

/* The last rule of a network: nothing else enters its subnet (the
 * internet, a neighbour routing it to us), only its own and the other DR
 * networks' bridges and links, the published ports and replies. */
static void
rules_closed(FILE *tail, const json_t *n, const char *inside)
{
	fprintf(tail, "\t\tip daddr %s iifname != { %s } drop comment \"nestor network %s: "
		"no other way in\"\n", jstr(n, "subnet"), inside, jstr(n, "name"));
}

const json_t *
drnet_record_network(const json_t *records, const char *name, bool with_link)
{
	size_t i, j;
	json_t *r, *n;

	for (i = 0; (r = json_array_get(records, i)) != NULL; i++)
		for (j = 0; (n = json_array_get(json_object_get(r, "networks"), j)) != NULL; j++)
			if (name && jstr(n, "name") && !strcmp(jstr(n, "name"), name) &&
			    (!with_link || json_is_object(json_object_get(n, "wg"))))
				return n;
	return NULL;
}

static const json_t *
find_network(const json_t *records, const char *name)
{
	return drnet_record_network(records, name, false);
}

static char *
mem_close(FILE *f, char **buf)
{
	if (fclose(f) != 0) {
		free(*buf);
		*buf = NULL;
	}
	return *buf;
}

/* The WireGuard link of network name: the first record naming the
 * network with one (a failover made before wireguard was turned on has
 * none), NULL if none. */
static const json_t *
find_link(const json_t *records, const char *name)
{
	return json_object_get(drnet_record_network(records, name, true), "wg");
}

/* The bridges and WireGuard interfaces of every network once, quoted,
 * comma separated ("" when there is none). NULL when a name is malformed
 * or out of memory. Caller frees. */
static char *
inside_ifaces(const json_t *records)
{
	char *buf = NULL;
	size_t len = 0, i, j;
	FILE *f = open_memstream(&buf, &len);
	const char *sep = "";
	json_t *r, *n;
	bool ok = true;

	if (!f)
		return NULL;
	for (i = 0; ok && (r = json_array_get(records, i)) != NULL; i++) {
		for (j = 0; ok && (n = json_array_get(json_object_get(r, "networks"), j)) != NULL;
		     j++) {
			const char *br = jstr(n, "bridge");
			const char *wg = jstr(find_link(records, jstr(n, "name")), "ifname");

			if (find_network(records, jstr(n, "name")) != n)
				continue;
			ok = ifname_ok(br) && (!wg || ifname_ok(wg));
			fprintf(f, "%s\"%s\"", sep, br ? br : "");
			if (wg)
				fprintf(f, ", \"%s\"", wg);
			sep = ", ";
		}
	}
	if (mem_close(f, &buf) && !ok) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

static bool
rules_each(const json_t *records, FILE *pre, FILE *nat, FILE *fwd, FILE *in, FILE *tail,
	   const char *inside, size_t *nnets)
{
	size_t i, j;
	json_t *r, *n, *p;

	for (i = 0; (r = json_array_get(records, i)) != NULL; i++) {
		const char *g = jstr(r, "group");

		if (!g || !name_valid(g, strlen(g)))
			return false;
		for (j = 0; (n = json_array_get(json_object_get(r, "networks"), j)) != NULL; j++) {
			if (find_network(records, jstr(n, "name")) != n)
				continue;
			if (!rules_network(nat, fwd, n) ||
			    !rules_wg(in, fwd, n, find_link(records, jstr(n, "name"))))
				return false;
			rules_closed(tail, n, inside);
			(*nnets)++;
		}
		for (j = 0; (p = json_array_get(json_object_get(r, "dnat"), j)) != NULL; j++) {
			const json_t *net = find_network(records, jstr(p, "network"));

			if (!net || !rules_dnat(pre, fwd, g, p, net))
				return false;
		}
	}
	return true;
}

/* Every network once (the first record naming it wins) with its link and
 * its closing rule, then every published port. false: a record is
 * malformed. */
static bool
rules_all(const json_t *records, FILE *pre, FILE *nat, FILE *fwd, FILE *in, FILE *tail,
	  size_t *nnets)
{
	char *inside = inside_ifaces(records);
	bool ok = inside && rules_each(records, pre, nat, fwd, in, tail, inside, nnets);

	free(inside);
	return ok;
}

void
drnet_nft_table(const char *root, char out[DRNET_NFT_TABLE_LEN])
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)root; *p; p++)
		h = (h ^ *p) * 16777619u;
	snprintf(out, DRNET_NFT_TABLE_LEN, DRNET_NFT_PREFIX "%08x", h);
}

bool
drnet_nft_legacy_owned(const char *last)
{
	static const char head[] = "table " DRNET_NFT_LEGACY " {}\n";

	return last && !strncmp(last, head, sizeof(head) - 1);
}

char *
drnet_ruleset(const json_t *records, const char *table, const char **why)
{
	char *pb = NULL, *nb = NULL, *fb = NULL, *ib = NULL, *tb = NULL, *out = NULL;
	size_t pl = 0, nl = 0, fl = 0, il = 0, tl = 0, nnets = 0;
	FILE *pre = open_memstream(&pb, &pl), *nat = open_memstream(&nb, &nl),
	     *fwd = open_memstream(&fb, &fl), *in = open_memstream(&ib, &il),
	     *tail = open_memstream(&tb, &tl);
	bool ok = pre && nat && fwd && in && tail;

	*why = "out of memory";
	if (ok && !rules_all(records, pre, nat, fwd, in, tail, &nnets)) {
		*why = "a failover's network record is malformed";
		ok = false;
	}
	if (pre && !mem_close(pre, &pb))
		ok = false;
	if (nat && !mem_close(nat, &nb))
		ok = false;
	if (fwd && !mem_close(fwd, &fb))
		ok = false;
	if (in && !mem_close(in, &ib))
		ok = false;
	if (tail && !mem_close(tail, &tb))
		ok = false;
	if (!ok)
		goto out;
	/* create-then-delete: the delete cannot fail on an absent table, and
	 * the whole script is one transaction */
	if (nnets == 0)
		out = strfmt("table %s {}\ndelete table %s\n", table, table);
	else
		out = strfmt("table %s {}\ndelete table %s\ntable %s {\n"
			     "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; "
			     "policy accept;\n%s\t}\n"
			     "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
			     "policy accept;\n%s\t}\n"
			     "\tchain forward {\n\t\ttype filter hook forward priority filter; "
			     "policy accept;\n\t\tct state established,related accept "
			     "comment \"nestor: replies\"\n%s%s\t}\n%s%s%s}\n", table, table,
			     table, pb, nb, fb, tb,
			     *ib ? "\tchain input {\n\t\ttype filter hook input priority filter; "
				   "policy accept;\n" : "", ib, *ib ? "\t}\n" : "");
out:
	free(pb);
	free(nb);
	free(fb);
	free(ib);
	free(tb);
	return out;
}
