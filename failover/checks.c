/* Extra boot verifications. The guest agent is asked through libvirt's
 * agent-backed virDomainGetTime (a guest-get-time round trip: proves the
 * agent answers, like guest-ping, without linking libvirt-qemu). The TCP
 * check and the script need the guest's address on its network: from the
 * DHCP leases of the network, else the host's ARP table (a static guest's
 * address is known once it has talked on the network). The guest agent is
 * not asked for addresses: its answer is the guest's word, and the check
 * must reach the address the network really serves. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/virt-dl.h"
#include "failover/checks.h"

static const char *
virt_msg(void)
{
	const char *m = sym_virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

static void
fail(struct report_vm *rv, const char *why)
{
	rv->pass = false;
	if (!rv->error)
		rv->error = strdup(why);
}

/* First IPv4 address of the domain from one source; malloc'd or NULL. */
static char *
address_from(virDomainPtr dom, unsigned int source)
{
	virDomainInterfacePtr *ifs = NULL;
	int n = sym_virDomainInterfaceAddresses(dom, &ifs, source, 0);
	char *addr = NULL;

	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; !addr && k < ifs[i]->naddrs; k++)
			if (ifs[i]->addrs[k].type == VIR_IP_ADDR_TYPE_IPV4 &&
			    ifs[i]->addrs[k].addr)
				addr = strdup(ifs[i]->addrs[k].addr);
		sym_virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
	return addr;
}

static char *
guest_address(virDomainPtr dom, double deadline)
{
	char *a = NULL;

	while (!a && clock_mono_s() < deadline) {
		if (!(a = address_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)) &&
		    !(a = address_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP)))
			clock_nap_ms(500);
	}
	return a;
}

/* One non-blocking connect with a bound: 1 connected, 0 not. */
static int
tcp_try(const char *addr, unsigned port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct pollfd pfd;
	int fd, err = 0, ok = 0;
	socklen_t len = sizeof(err);

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		ok = 1;
	} else if (errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

/* SCRIPT VM ADDRESS with a bound; its exit status, or -1 (logged). Its
 * output goes to our stderr: the log of the drill. */
static int
run_script(const char *script, const char *vm, const char *addr, unsigned timeout_s)
{
	const char *args[] = { vm, addr ? addr : "", NULL };
	struct spawn *sp = spawn_new_argv(script, args);
	char ctx[256], name[512];
	int st = -1;

	if (!sp)
		return -1;
	snprintf(ctx, sizeof(ctx), "vm %s", vm);
	snprintf(name, sizeof(name), "script %s", script);
	spawn_set_context(sp, ctx);
	spawn_set_name(sp, name);
	spawn_no_path_search(sp);
	spawn_set_stdout(sp, SPAWN_IO_STDERR, 0);
	spawn_set_stderr(sp, SPAWN_IO_INHERIT, 0);
	spawn_set_timeout_ms(sp, timeout_s * 1000u);
	if (spawn_run(sp, &st) < 0)
		st = -1;
	spawn_free(sp);
	return st;
}

void
checks_run(virDomainPtr dom, const char *vm, const struct drill_opts *o,
	   struct report_vm *rv)
{
	double deadline = 0;

	if (o->guest_agent) {
		long long secs = 0;
		unsigned int nsecs = 0;

		/* the agent may still be starting after the marker: retry until
		 * the deadline, each call bounded by the agent timeout */
		deadline = clock_mono_s() + o->timeout_s;
		(void)sym_virDomainAgentSetResponseTimeout(dom, 5, 0);
		rv->agent_ok = 0;
		while (clock_mono_s() < deadline) {
			if (sym_virDomainGetTime(dom, &secs, &nsecs, 0) == 0) {
				rv->agent_ok = 1;
				break;
			}
			clock_nap_ms(1000);
		}
		if (rv->agent_ok) {
			log_info("vm %s: guest agent answered", vm);
		} else {
			log_error("vm %s: guest agent did not answer within %u s: %s", vm,
				  o->timeout_s, virt_msg());
			char why[512];

			snprintf(why, sizeof(why), "guest agent did not answer: %s", virt_msg());
			fail(rv, why);
		}
	}
	if (o->tcp_port || o->script) {
		deadline = clock_mono_s() + o->timeout_s;
		rv->address = guest_address(dom, deadline);
		if (!rv->address)
			log_warn("vm %s: no IPv4 address found (DHCP leases, ARP)", vm);
	}
	if (o->tcp_port) {
		char port[16];

		snprintf(port, sizeof(port), "%u", o->tcp_port);
		rv->tcp_ok = 0;
		while (rv->address && clock_mono_s() < deadline) {
			if (tcp_try(rv->address, o->tcp_port, 1000)) {
				rv->tcp_ok = 1;
				break;
			}
			clock_nap_ms(500);
		}
		if (rv->tcp_ok) {
			log_info("vm %s: TCP port %s answers on %s", vm, port, rv->address);
		} else {
			log_error("vm %s: TCP port %s did not answer on %s within %u s", vm, port,
				  rv->address ? rv->address : "(no address)", o->timeout_s);
			char why[256];

			snprintf(why, sizeof(why), "TCP port %s did not answer on %s", port,
				 rv->address ? rv->address : "(no address)");
			fail(rv, why);
		}
	}
	if (o->script) {
		rv->script_rc = run_script(o->script, vm, rv->address, o->timeout_s);
		if (rv->script_rc != 0) {
			char why[512];

			snprintf(why, sizeof(why), "script %s %s %d", o->script,
				 rv->script_rc < 0 ? "failed to run:" : "exited", rv->script_rc);
			log_error("vm %s: %s", vm, why);
			fail(rv, why);
		}
	}
}
