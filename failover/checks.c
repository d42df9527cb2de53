/* Extra boot verifications. The guest agent is asked through libvirt's
 * agent-backed virDomainGetTime (a guest-get-time round trip: proves the
 * agent answers, like guest-ping, without linking libvirt-qemu). The TCP
 * check and the script need the guest's address on its network: from the
 * DHCP leases of the network, else the host's ARP table (a static guest's
 * address is known once it has talked on the network). The guest agent is
 * not asked for addresses: its answer is the guest's word, and the check
 * must reach the address the network really serves. On a drill's isolated
 * copy of a DR network the host has no address and no ARP: the copy's own
 * leases and its namespace's neighbours say where the guest is, else the
 * point's record of its NIC (a static guest keeps that address), and the
 * connect and the script happen in that namespace (checks.h). */
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
#include "common/fileutil.h"
#include "common/log.h"
#include "common/netns.h"
#include "common/spawn.h"
#include "common/virt-dl.h"
#include "failover/checkaddr.h"
#include "failover/checks.h"

#define LEASES_MAX (1u << 20)

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

/* The address on lan from its own records: leases, neighbours, the
 * point's; malloc'd or NULL. */
static char *
lan_address_once(const struct checks_lan *lan, const char *ctx)
{
	const char *neigh[] = { "ip", "-n", lan->netns, "-4", "neigh", "show", "dev", "gw", NULL };
	char ip[16] = "", *text = NULL;
	size_t len = 0;

	if (lan->leases[0] && file_read_all(lan->leases, LEASES_MAX, (void **)&text, &len) == 0 &&
	    !checkaddr_lease(text, lan->mac, ip))
		ip[0] = '\0';
	free(text);
	text = NULL;
	if (!ip[0] && spawn_cmd(ctx, neigh, &text) == 0 && !checkaddr_neigh(text, lan->mac, ip))
		ip[0] = '\0';
	free(text);
	if (!ip[0])
		snprintf(ip, sizeof(ip), "%s", lan->addr);
	return ip[0] ? strdup(ip) : NULL;
}

static char *
guest_address(virDomainPtr dom, const struct checks_lan *lan, const char *ctx, double deadline)
{
	char *a = NULL;

	while (!a && clock_mono_s() < deadline) {
		if (lan)
			a = lan_address_once(lan, ctx);
		else if (!(a = address_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)))
			a = address_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP);
		if (!a)
			clock_nap_ms(500);
	}
	return a;
}

struct tcp_job {
	struct sockaddr_in sa;
	int timeout_ms;
};

/* One non-blocking connect with a bound: 1 connected, 0 not. Only
 * async-signal-safe calls: it also runs in a namespace's child. */
static int
tcp_try(void *arg)
{
	const struct tcp_job *j = arg;
	struct pollfd pfd;
	int fd, err = 0, ok = 0;
	socklen_t len = sizeof(err);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (const struct sockaddr *)&j->sa, sizeof(j->sa)) == 0) {
		ok = 1;
	} else if (errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, j->timeout_ms) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

/* A connect to addr:port from here (nsfd < 0) or from the namespace. */
static int
tcp_reach(int nsfd, const char *addr, unsigned port, int timeout_ms, const char *ctx)
{
	struct tcp_job j = { .sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) },
			     .timeout_ms = timeout_ms };

	if (inet_pton(AF_INET, addr, &j.sa.sin_addr) != 1)
		return 0;
	if (nsfd < 0)
		return tcp_try(&j);
	return netns_call(nsfd, tcp_try, &j, (unsigned)timeout_ms + 5000u, ctx) == 1;
}

/* SCRIPT VM ADDRESS with a bound; its exit status, or -1 (logged). Its
 * output goes to our stderr: the log of the drill. */
static int
run_script(const char *script, const char *vm, const char *addr, int nsfd, unsigned timeout_s)
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
	if (nsfd >= 0)
		spawn_set_netns(sp, nsfd);
	if (spawn_run(sp, &st) < 0)
		st = -1;
	spawn_free(sp);
	return st;
}

static void
check_agent(virDomainPtr dom, const char *vm, const struct drill_opts *o,
	    struct report_vm *rv)
{
	double deadline = clock_mono_s() + o->timeout_s;
	long long secs = 0;
	unsigned int nsecs = 0;
	char why[512];

	/* the agent may still be starting after the marker: retry until the
	 * deadline, each call bounded by the agent timeout */
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
		return;
	}
	log_error("vm %s: guest agent did not answer within %u s: %s", vm, o->timeout_s,
		  virt_dl_error());
	snprintf(why, sizeof(why), "guest agent did not answer: %s", virt_dl_error());
	fail(rv, why);
}

static void
check_tcp(const char *vm, const struct drill_opts *o, int nsfd, const char *where,
	  double deadline, struct report_vm *rv)
{
	const char *addr = rv->address ? rv->address : "(no address)";
	char why[256];

	rv->tcp_ok = 0;
	while (rv->address && clock_mono_s() < deadline) {
		if (tcp_reach(nsfd, rv->address, o->tcp_port, 1000, vm)) {
			rv->tcp_ok = 1;
			break;
		}
		clock_nap_ms(500);
	}
	if (rv->tcp_ok) {
		log_info("vm %s: TCP port %u answers on %s%s", vm, o->tcp_port, addr, where);
		return;
	}
	log_error("vm %s: TCP port %u did not answer on %s%s within %u s", vm, o->tcp_port,
		  addr, where, o->timeout_s);
	snprintf(why, sizeof(why), "TCP port %u did not answer on %s", o->tcp_port, addr);
	fail(rv, why);
}

bool
checks_dom_going(void *arg, const char **why)
{
	struct checks_dom_wait *w = arg;
	int state = 0, reason = 0;

	if (w->n++ % 10 != 9)
		return true;
	if (sym_virDomainGetState(w->dom, &state, &reason, 0) == 0 &&
	    (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED))
		return true;
	*why = "the domain stopped before the boot marker";
	return false;
}

void
checks_run(virDomainPtr dom, const char *vm, const struct drill_opts *o,
	   const struct checks_lan *lan, struct report_vm *rv)
{
	double deadline = 0;
	char where[96] = "", ctx[128];
	int nsfd = -1;

	if (o->guest_agent)
		check_agent(dom, vm, o, rv);
	if (!o->tcp_port && !o->script)
		return;
	snprintf(ctx, sizeof(ctx), "vm %s", vm);
	if (lan) {
		snprintf(where, sizeof(where), " (from namespace %s)", lan->netns);
		nsfd = netns_open(lan->netns, ctx);
	}
	deadline = clock_mono_s() + o->timeout_s;
	rv->address = lan && nsfd < 0 ? NULL : guest_address(dom, lan, ctx, deadline);
	if (!rv->address)
		log_warn("vm %s: no IPv4 address found (%s)", vm,
			 lan ? "the drill network's leases and neighbours, the point's NICs"
			     : "DHCP leases, ARP");
	if (o->tcp_port)
		check_tcp(vm, o, nsfd, where, deadline, rv);
	if (o->script) {
		rv->script_rc = lan && nsfd < 0 ? -1
			: run_script(o->script, vm, rv->address, nsfd, o->timeout_s);
		if (rv->script_rc != 0) {
			char why[512];

			snprintf(why, sizeof(why), "script %s %s %d", o->script,
				 rv->script_rc < 0 ? "failed to run:" : "exited", rv->script_rc);
			log_error("vm %s: %s", vm, why);
			fail(rv, why);
		} else if (lan) {
			log_info("vm %s: script %s passed%s", vm, o->script, where);
		}
	}
	if (nsfd >= 0)
		close(nsfd);
}
