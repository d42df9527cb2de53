/* Verifications of a booted drill/failover VM beyond the boot marker:
 * guest agent answering, TCP port answering, operator script. */
#ifndef NESTOR_FAILOVER_CHECKS_H
#define NESTOR_FAILOVER_CHECKS_H

#include <libvirt/libvirt.h>

#include "failover/drill.h"
#include "failover/report.h"

/* Where the checks reach a VM whose NIC is on a drill's isolated copy of
 * a DR network (failover/drill-lan.h): the host cannot, only the copy's
 * namespace can. Plain data. */
struct checks_lan {
	char netns[64];        /* the namespace holding the copy's gateway */
	char leases[4096];     /* its dnsmasq's lease file ("": no DHCP) */
	char mac[18];          /* the VM's NIC on the copy */
	char addr[16];         /* the IPv4 address the point records for that
				* NIC in the subnet ("": none) */
};

/* Run the checks o asks for (guest_agent, tcp_port, script) on dom (VM vm)
 * within o->timeout_s each; record them in rv (a failure fails the VM with
 * a one-line reason). lan NULL: from this host, the address from libvirt's
 * leases or ARP. lan set: the address from the copy's leases, else its
 * namespace's neighbours, else the point's record; the TCP connect and the
 * script run in a child that joined lan->netns (this process never
 * changes namespace). */
void checks_run(virDomainPtr dom, const char *vm, const struct drill_opts *o,
		const struct checks_lan *lan, struct report_vm *rv);

/* console_wait's going (failover/console.h) for a booting domain: false,
 * *why set, once dom no longer runs; libvirt is asked each tenth call
 * (once a second). n starts at 0. */
struct checks_dom_wait {
	virDomainPtr dom;
	unsigned n;
};
bool checks_dom_going(void *arg, const char **why);

#endif
