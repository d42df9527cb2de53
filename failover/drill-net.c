/* The drill's isolated network (failover/drill-net.h) and the parsing of
 * --network-map (failover/drill.h). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/drill-net.h"
#include "failover/drill-run.h"
#include "failover/drill.h"

struct drill_net {
	virNetworkPtr net;
	bool failover;
	bool created;             /* failover: we defined it */
	char id[32];
	char name[64];
};

static const char *
net_what(const struct drill_net *n)
{
	return n->failover ? "failover" : "drill";
}

/* no <forward> and no <ip>: a bridge nothing else is attached to, no DHCP,
 * no route out; IFNAMSIZ allows 15 characters */
static char *
net_xml(const struct drill_net *n, const struct drill_net_opts *o, uint32_t rnd)
{
	const char *prefix = n->failover ? "nfo" : "ndr";

	if (o->host_address) {
		/* the checks reach the guests from this host: the host gets an
		 * address on the bridge and hands out DHCP leases (dnsmasq); still
		 * no <forward>, so nothing routes out of the network */
		unsigned net = 64 + (rnd >> 8) % 128, sub = rnd & 0xff;

		return strfmt("<network><name>%s</name><bridge name='%s%08x' stp='off'/>"
			      "<ip address='10.%u.%u.1' netmask='255.255.255.0'><dhcp>"
			      "<range start='10.%u.%u.10' end='10.%u.%u.250'/></dhcp></ip>"
			      "</network>", n->name, prefix, rnd, net, sub, net, sub, net, sub);
	}
	return strfmt("<network><name>%s</name><bridge name='%s%08x' stp='off'/></network>",
		      n->name, prefix, rnd);
}

/* A failover's network of an earlier failover of the group: started if it
 * is not. 1 found (n->net set), 0 absent, -1 error (logged). */
static int
net_reuse(struct drill_net *n, virConnectPtr conn)
{
	n->net = sym_virNetworkLookupByName(conn, n->name);
	if (!n->net)
		return 0;
	if (!sym_virNetworkIsActive(n->net) && sym_virNetworkCreate(n->net) < 0) {
		log_error("failover %s: cannot start network %s: %s", n->id, n->name,
			  virt_dl_error());
		return -1;
	}
	log_info("failover %s: isolated network %s exists, reused", n->id, n->name);
	return 1;
}

static void
net_define(struct drill_net *n, virConnectPtr conn, const char *xml)
{
	if (!n->failover) {
		n->net = sym_virNetworkCreateXML(conn, xml);
		return;
	}
	n->net = sym_virNetworkDefineXML(conn, xml);
	if (n->net && sym_virNetworkCreate(n->net) < 0) {
		(void)sym_virNetworkUndefine(n->net);
		sym_virNetworkFree(n->net);
		n->net = NULL;
	}
	n->created = n->net != NULL;
}

struct drill_net *
drill_net_create(virConnectPtr conn, const struct drill_net_opts *o, char *name, size_t len)
{
	struct drill_net *n = calloc(1, sizeof(*n));
	uint32_t rnd = 0;
	char *xml = NULL;
	int found = 0;

	if (!n) {
		log_error("out of memory");
		return NULL;
	}
	n->failover = o->failover;
	snprintf(n->id, sizeof(n->id), "%s", o->id);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)clock_now_ns();
	/* a failover's is one per group, persistent: the failed-over VMs
	 * outlive us */
	if (o->failover)
		snprintf(n->name, sizeof(n->name), "nestor-failover-%s", o->group);
	else
		snprintf(n->name, sizeof(n->name), "nestor-drill-%s", o->id);
	snprintf(name, len, "%s", n->name);
	if (o->failover && (found = net_reuse(n, conn)) != 0)
		goto out;
	if (!(xml = net_xml(n, o, rnd)))
		goto out;
	net_define(n, conn, xml);
	if (!n->net) {
		log_error("%s %s: cannot create the isolated network %s: %s", net_what(n),
			  n->id, n->name, virt_dl_error());
		goto out;
	}
	log_info("%s %s: isolated network %s (bridge %s%08x)", net_what(n), n->id, n->name,
		 n->failover ? "nfo" : "ndr", rnd);
	found = 1;
out:
	free(xml);
	if (found != 1) {
		drill_net_free(n);
		return NULL;
	}
	return n;
}

bool
drill_net_created(const struct drill_net *n)
{
	return n && n->created;
}

int
drill_net_teardown(struct drill_net *n)
{
	int ret = 0;

	if (!n)
		return 0;
	/* a failover's network is ours only if it created it */
	if (n->net && (!n->failover || n->created)) {
		if (sym_virNetworkDestroy(n->net) < 0 ||
		    (n->failover && sym_virNetworkUndefine(n->net) < 0)) {
			log_error("drill %s: cannot destroy network %s: %s", n->id, n->name,
				  virt_dl_error());
			ret = -1;
		}
	}
	drill_net_free(n);
	return ret;
}

void
drill_net_free(struct drill_net *n)
{
	if (n && n->net)
		sym_virNetworkFree(n->net);
	free(n);
}

bool
drill_network_map_valid(const char *map)
{
	const char *p = map;

	while (*p) {
		size_t a = strcspn(p, "=,"), b;

		if (p[a] != '=' || !name_valid(p, a))
			return false;
		p += a + 1;
		b = strcspn(p, ",");
		if (!name_valid(p, b))
			return false;
		p += b;
		if (*p == ',' && !*++p)
			return false;
	}
	return map[0] != '\0';
}

const char *
drill_network_map_lookup(const char *map, const char *src)
{
	static char dst[NAME_MAX_LEN + 1];
	const char *p = map;

	while (p && *p) {
		size_t a = strcspn(p, "=,"), b;

		if (p[a] != '=')
			return NULL;
		b = strcspn(p + a + 1, ",");
		if (strlen(src) == a && !strncmp(p, src, a) && b <= NAME_MAX_LEN) {
			memcpy(dst, p + a + 1, b);
			dst[b] = '\0';
			return dst;
		}
		p += a + 1 + b;
		p += *p == ',';
	}
	return NULL;
}
