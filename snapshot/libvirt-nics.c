/* The NICs of a live domain for its point's metadata: MAC and source network
 * from the definition, addresses from the guest agent, else the network's
 * DHCP leases, else the host's ARP table. Best effort: a failover uses them
 * to give a DHCP guest its on-prem address back, a cycle never waits for
 * them long nor fails for them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/vmxml.h"
#include "snapshot/libvirt-priv.h"

/* s: an agent that is connected but does not answer costs at most this */
#define LV_NIC_AGENT_TIMEOUT 2
#define LV_PROC_ARP "/proc/net/arp"
#define LV_ARP_MAX_LINES 65536

static const struct {
	unsigned int source;
	const char *name;
} nic_sources[] = {
	{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, "agent" },
	{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, "lease" },
	{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, "arp" },
};

/* The prefix of the host's IPv4 address whose subnet holds b (an ARP
 * entry's address: libvirt's ARP source gives no prefix), else 32. */
static unsigned
host_prefix_of(const unsigned char b[4])
{
	struct ifaddrs *ifs = NULL;
	unsigned prefix = 32;
	uint32_t a;

	memcpy(&a, b, 4);
	if (getifaddrs(&ifs) < 0)
		return prefix;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		const struct sockaddr_in *ia = (const void *)i->ifa_addr;
		const struct sockaddr_in *im = (const void *)i->ifa_netmask;

		if (!ia || !im || ia->sin_family != AF_INET || im->sin_addr.s_addr == 0 ||
		    (ia->sin_addr.s_addr & im->sin_addr.s_addr) != (a & im->sin_addr.s_addr))
			continue;
		prefix = (unsigned)__builtin_popcount(im->sin_addr.s_addr);
		break;
	}
	freeifaddrs(ifs);
	return prefix;
}

/* An address worth recording: one another site could give back (no
 * loopback, no IPv6 link-local), in a form the receiver parses. An IPv4
 * address without a prefix (the ARP source's) takes that of the host's
 * subnet it is in: a static guest's record then reads like a leased one. */
static int
addr_format(const virDomainIPAddress *a, char *out, size_t len)
{
	unsigned char b[16];
	int af = a->type == VIR_IP_ADDR_TYPE_IPV4 ? AF_INET
		 : a->type == VIR_IP_ADDR_TYPE_IPV6 ? AF_INET6 : -1;
	char txt[INET6_ADDRSTRLEN];

	if (af < 0 || !a->addr || inet_pton(af, a->addr, b) != 1 ||
	    a->prefix > (af == AF_INET ? 32u : 128u))
		return -1;
	if (af == AF_INET && b[0] == 127)
		return -1;
	if (af == AF_INET6 && ((b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||
			       !memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16)))
		return -1;
	if (!inet_ntop(af, b, txt, sizeof(txt)))
		return -1;
	snprintf(out, len, "%s/%u", txt,
		 af == AF_INET && a->prefix == 0 ? host_prefix_of(b) : a->prefix);
	return 0;
}

/* Addresses of the interfaces whose MAC is nic's. */
static void
nic_take(struct snap_nic *nic, virDomainInterfacePtr *ifs, int n)
{
	for (int i = 0; i < n; i++) {
		if (!ifs[i]->hwaddr || strcasecmp(ifs[i]->hwaddr, nic->mac))
			continue;
		for (unsigned k = 0; k < ifs[i]->naddrs && nic->naddrs < SNAP_NIC_MAX_ADDRS; k++)
			if (addr_format(&ifs[i]->addrs[k], nic->addrs[nic->naddrs],
					sizeof(nic->addrs[0])) == 0)
				nic->naddrs++;
	}
}

/* One source: fills the NICs that have no address yet. */
static void
nics_from(struct lv_vm *vm, size_t src)
{
	virDomainInterfacePtr *ifs = NULL;
	int n;

	n = sym_virDomainInterfaceAddresses(vm->dom, &ifs, nic_sources[src].source, 0);
	if (n < 0) {
		log_debug("libvirt: domain %s: no addresses from the %s source: %s", vm->name,
			  nic_sources[src].name, lv_err());
		return;
	}
	for (size_t k = 0; k < vm->nnics; k++) {
		struct snap_nic *nic = &vm->nics[k];

		if (nic->naddrs)
			continue;
		nic_take(nic, ifs, n);
		if (nic->naddrs)
			nic->origin = nic_sources[src].name;
	}
	for (int i = 0; i < n; i++)
		sym_virDomainInterfaceFree(ifs[i]);
	free(ifs);
}

/* The last source, read by us: this host's ARP table (/proc/net/arp,
 * complete entries) for the NICs that still have no address. libvirt 9's
 * ARP source missed a static guest the host had just talked to (issue 15
 * item 2, test-dr-site): the kernel's own table is the truth it reads. */
static void
nics_from_proc_arp(struct lv_vm *vm)
{
	FILE *f = fopen(LV_PROC_ARP, "re");
	char line[256];
	unsigned n = 0;

	if (!f)
		return;
	/* the header, then at most a bounded number of entries */
	while (fgets(line, sizeof(line), f) && n++ < LV_ARP_MAX_LINES) {
		char ip[64], flags[16], mac[32];
		virDomainIPAddress a = { .type = VIR_IP_ADDR_TYPE_IPV4, .addr = ip };
		unsigned long fl;
		char *end;

		if (n == 1 || sscanf(line, "%63s %*s %15s %31s", ip, flags, mac) != 3)
			continue;
		fl = strtoul(flags, &end, 16);
		if (*end || !(fl & 0x2))   /* ATF_COM: the entry is complete */
			continue;
		for (size_t k = 0; k < vm->nnics; k++) {
			struct snap_nic *nic = &vm->nics[k];

			if (nic->naddrs || strcasecmp(mac, nic->mac) ||
			    addr_format(&a, nic->addrs[0], sizeof(nic->addrs[0])) < 0)
				continue;
			nic->naddrs = 1;
			nic->origin = "arp";
		}
	}
	fclose(f);
}

/* MAC and network of the definition's NICs; 0 if none. */
static size_t
nics_of_xml(struct lv_vm *vm)
{
	size_t n = 0;

	if (vm->x->nnics > SNAP_NIC_MAX)
		log_debug("libvirt: domain %s: %zu NICs, the first %d recorded", vm->name,
			  vm->x->nnics, SNAP_NIC_MAX);
	for (size_t i = 0; i < vm->x->nnics && n < SNAP_NIC_MAX; i++) {
		const struct vmxml_nic *x = &vm->x->nics[i];
		struct snap_nic *nic = &vm->nics[n];

		if (!x->mac || strlen(x->mac) != 17)
			continue;
		memset(nic, 0, sizeof(*nic));
		for (size_t c = 0; c < 17; c++)
			nic->mac[c] = (char)(x->mac[c] >= 'A' && x->mac[c] <= 'Z' ? x->mac[c] + 32
										: x->mac[c]);
		if (x->source && strlen(x->source) < sizeof(nic->network))
			snprintf(nic->network, sizeof(nic->network), "%s", x->source);
		nic->origin = "none";
		n++;
	}
	return n;
}

void
lv_vm_nics(struct lv_vm *vm)
{
	size_t left;

	free(vm->nics);
	vm->nics = NULL;
	vm->nnics = 0;
	if (!vm->x || !vm->x->nnics || !vm->dom)
		return;
	vm->nics = calloc(SNAP_NIC_MAX, sizeof(*vm->nics));
	if (!vm->nics) {
		log_warn("libvirt: domain %s: out of memory: NICs not recorded", vm->name);
		return;
	}
	vm->nnics = nics_of_xml(vm);
	for (size_t s = 0; s < sizeof(nic_sources) / sizeof(nic_sources[0]); s++) {
		left = 0;
		for (size_t k = 0; k < vm->nnics; k++)
			left += vm->nics[k].naddrs == 0;
		if (!left)
			break;
		if (nic_sources[s].source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT) {
			if (!vm->agent)
				continue;
			sym_virDomainAgentSetResponseTimeout(vm->dom, LV_NIC_AGENT_TIMEOUT, 0);
			nics_from(vm, s);
			/* what the freeze asks of the agent (libvirt-job.c) */
			sym_virDomainAgentSetResponseTimeout(vm->dom, LV_AGENT_TIMEOUT, 0);
			continue;
		}
		nics_from(vm, s);
	}
	nics_from_proc_arp(vm);
	for (size_t k = 0; k < vm->nnics; k++)
		log_debug("libvirt: domain %s: NIC %s on %s: %zu address(es) from %s", vm->name,
			  vm->nics[k].mac, vm->nics[k].network[0] ? vm->nics[k].network : "-",
			  vm->nics[k].naddrs, vm->nics[k].origin);
}
