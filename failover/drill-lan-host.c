/* What a drill LAN makes on the host (failover/drill-lan-host.h), through
 * `ip`, `sysctl` and dnsmasq run by the one child-process helper. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/childrec.h"
#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/drill-lan-host.h"
#include "failover/drill-run.h"

#define KILL_WAIT_MS 5000

/* argv[0] with the rest (NULL-terminated), its stdout into *out if out. */
static int
run(const char *ctx, const char *const *argv, char **out)
{
	return spawn_cmd(ctx, argv, out);
}

/* Write v to the sysctl key of interface ifname: family "ipv4" / "ipv6". */
static int
if_sysctl(const char *ctx, const char *family, const char *ifname, const char *key,
	  const char *v)
{
	char *path = strfmt("/proc/sys/net/%s/conf/%s/%s", family, ifname, key);
	int fd = path ? open(path, O_WRONLY | O_CLOEXEC) : -1, ret = 0;

	if (fd < 0 || fd_write_all(fd, v, strlen(v)) < 0) {
		log_error("%s: %s: cannot write: %m", ctx, path ? path : key);
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

/* The bridge takes no part in the host's IP: no address (the XML has no
 * <ip>), no ARP answers, no IPv6, and a strict reverse-path filter: no
 * route points back at it, so every IPv4 packet a drill guest sends the
 * host directly is dropped before input or forwarding. */
static int
bridge_deafen(const struct drill_lan *l, const char *ctx)
{
	const char *noarp[] = { "ip", "link", "set", "dev", l->bridge, "arp", "off", NULL };

	if (if_sysctl(ctx, "ipv4", l->bridge, "rp_filter", "1\n") < 0 ||
	    if_sysctl(ctx, "ipv6", l->bridge, "disable_ipv6", "1\n") < 0)
		return -1;
	return run(ctx, noarp, NULL);
}

static int
net_up(virConnectPtr conn, const struct drill_lan *l, const char *ctx)
{
	char *xml = drill_lan_network_xml(l);
	virNetworkPtr net = NULL;
	int ret = -1;

	if (!xml) {
		log_error("%s: out of memory", ctx);
		return -1;
	}
	/* what libvirt is asked for is checked before it is asked */
	if (!drill_lan_xml_isolated(xml)) {
		log_error("%s: network %s: refused: not isolated: %s", ctx, l->libvirt, xml);
		goto out;
	}
	if (!(net = sym_virNetworkCreateXML(conn, xml))) {
		log_error("%s: cannot create network %s: %s", ctx, l->libvirt, virt_dl_error());
		goto out;
	}
	ret = bridge_deafen(l, ctx);
out:
	if (net)
		sym_virNetworkFree(net);
	free(xml);
	return ret;
}

/* The namespace, the veth from the bridge to it, the gateway address. */
static int
netns_up(const struct drill_lan *l, const char *ctx)
{
	char gw[16], addr[24];
	const char *add[] = { "ip", "netns", "add", l->netns, NULL };
	const char *veth[] = { "ip", "link", "add", l->veth, "type", "veth", "peer", "name", "gw",
			       "netns", l->netns, NULL };
	const char *port[] = { "ip", "link", "set", "dev", l->veth, "master", l->bridge, "up", NULL };
	const char *fwd[] = { "ip", "netns", "exec", l->netns, "sysctl", "-qw",
			      "net.ipv4.ip_forward=0", NULL };
	const char *ad[] = { "ip", "-n", l->netns, "addr", "add", addr, "dev", "gw", NULL };
	const char *up[] = { "ip", "-n", l->netns, "link", "set", "dev", "gw", "up", NULL };

	drnet_ip_str(l->gateway, gw);
	snprintf(addr, sizeof(addr), "%s/%u", gw, l->prefix);
	if (run(ctx, add, NULL) < 0 || run(ctx, veth, NULL) < 0)
		return -1;
	/* the bridge's end: a port only, no address of any family */
	if (if_sysctl(ctx, "ipv6", l->veth, "disable_ipv6", "1\n") < 0 ||
	    run(ctx, port, NULL) < 0)
		return -1;
	/* a new namespace inherits the host's IPv4 settings: forwarding too */
	return run(ctx, fwd, NULL) < 0 || run(ctx, ad, NULL) < 0 || run(ctx, up, NULL) < 0 ? -1 : 0;
}

static int
dnsmasq_up(const struct drill_lan *l, const char *dir, const char *ctx)
{
	char **args = drill_lan_dnsmasq_argv(l, dir);
	const char *head[] = { "netns", "exec", l->netns, "dnsmasq", NULL };
	struct spawn *sp = args ? spawn_new("ip") : NULL;
	int ret;

	if (!sp) {
		log_error("%s: out of memory", ctx);
		drill_lan_argv_free(args);
		return -1;
	}
	spawn_args(sp, head);
	spawn_args(sp, (const char *const *)args);
	spawn_set_context(sp, ctx);
	spawn_set_name(sp, "dnsmasq");
	spawn_set_timeout_ms(sp, 30000);
	/* dnsmasq forks its daemon once it serves, then exits 0 */
	ret = spawn_run(sp, NULL);
	spawn_free(sp);
	drill_lan_argv_free(args);
	return ret;
}

/* Nothing routes: the namespace has lo and gw, one route (the subnet's,
 * on gw), forwarding off; the bridge has no IPv4 address. */
static int
verify(const struct drill_lan *l, const char *ctx)
{
	const char *links[] = { "ip", "-n", l->netns, "-o", "link", "show", NULL };
	const char *routes[] = { "ip", "-n", l->netns, "-4", "route", "show", NULL };
	const char *fwd[] = { "ip", "netns", "exec", l->netns, "sysctl", "-n",
			      "net.ipv4.ip_forward", NULL };
	const char *braddr[] = { "ip", "-o", "-4", "addr", "show", "dev", l->bridge, NULL };
	char *lk = NULL, *rt = NULL, *fw = NULL, *ba = NULL, sub[16], want[40];
	size_t nlinks = 0;
	int ret = -1;

	drnet_ip_str(l->subnet, sub);
	snprintf(want, sizeof(want), "%s/%u dev gw ", sub, l->prefix);
	if (run(ctx, links, &lk) < 0 || run(ctx, routes, &rt) < 0 || run(ctx, fwd, &fw) < 0 ||
	    run(ctx, braddr, &ba) < 0)
		goto out;
	for (const char *p = lk; (p = strchr(p, '\n')) != NULL; p++)
		nlinks++;
	if (nlinks != 2 || strncmp(rt, want, strlen(want)) || strchr(rt, '\n') != rt + strlen(rt) - 1 ||
	    strcmp(fw, "0\n") || *ba) {
		log_error("%s: network %s is not isolated (links %zu, routes '%s', forwarding "
			  "'%.1s', bridge address '%s'): refused", ctx, l->net, nlinks, rt, fw, ba);
		goto out;
	}
	ret = 0;
out:
	free(lk);
	free(rt);
	free(fw);
	free(ba);
	return ret;
}

int
drill_lan_host_up(virConnectPtr conn, const struct drill_lan *l, const char *dir,
		  const char *ctx)
{
	char gw[16];

	if (net_up(conn, l, ctx) < 0 || netns_up(l, ctx) < 0 || verify(l, ctx) < 0)
		return -1;
	if (l->dhcp && dnsmasq_up(l, dir, ctx) < 0)
		return -1;
	drnet_ip_str(l->gateway, gw);
	log_info("%s: network %s: isolated copy %s (bridge %s), gateway %s/%u in namespace %s, "
		 "%zu DHCP reservation(s); no route, no NAT, no published port", ctx, l->net,
		 l->libvirt, l->bridge, gw, l->prefix, l->netns, l->nhosts);
	return 0;
}

/* ---- removal ------------------------------------------------------------- */

/* A zombie is gone for us: its namespaces are released. */
static bool
pid_gone(pid_t pid)
{
	uint64_t start;

	return childrec_proc_start(pid, &start) != 1;
}

/* End every process of the namespace: they are the drill's (dnsmasq), a
 * process is never chosen by its name. */
static int
netns_kill(const struct drill_lan *l, const char *ctx)
{
	const char *pids[] = { "ip", "netns", "pids", l->netns, NULL };
	pid_t list[64];
	size_t n = 0;
	char *out = NULL, *p, *end;

	if (run(ctx, pids, &out) < 0)
		return -1;
	for (p = out; *p && n < 64; p = end) {
		uint64_t v;
		char tok[24];

		end = p + strcspn(p, "\n");
		snprintf(tok, sizeof(tok), "%.*s", (int)(end - p), p);
		if (parse_u64(tok, &v) == 0 && v > 1 && v < INT32_MAX)
			list[n++] = (pid_t)v;
		end += *end == '\n';
	}
	free(out);
	for (size_t i = 0; i < n; i++)
		if (kill(list[i], SIGTERM) < 0 && errno != ESRCH)
			log_warn("%s: kill %d: %m", ctx, (int)list[i]);
	for (unsigned ms = 0; ms < KILL_WAIT_MS; ms += 50) {
		size_t alive = 0;

		for (size_t i = 0; i < n; i++)
			alive += !pid_gone(list[i]);
		if (!alive)
			return 0;
		clock_nap_ms(50);
	}
	for (size_t i = 0; i < n; i++)
		if (!pid_gone(list[i]))
			(void)kill(list[i], SIGKILL);
	return 0;
}

int
drill_lan_host_net_destroy(virConnectPtr conn, const char *name, const char *ctx)
{
	virNetworkPtr net = sym_virNetworkLookupByName(conn, name);
	int ret = 0;

	if (!net)
		return 0;
	/* transient: destroyed is gone */
	if (sym_virNetworkIsActive(net) == 1 && sym_virNetworkDestroy(net) < 0) {
		log_error("%s: cannot destroy network %s: %s", ctx, name, virt_dl_error());
		ret = -1;
	}
	sym_virNetworkFree(net);
	return ret;
}

int
drill_lan_host_down(virConnectPtr conn, const struct drill_lan *l, const char *ctx)
{
	char *path = strfmt("/run/netns/%s", l->netns);
	const char *vdel[] = { "ip", "link", "del", "dev", l->veth, NULL };
	const char *nsdel[] = { "ip", "netns", "del", l->netns, NULL };
	bool ns = path && access(path, F_OK) == 0;
	int ret = 0;

	free(path);
	if (ns && netns_kill(l, ctx) < 0)
		ret = -1;
	/* both ends go with it, now rather than when the namespace is reaped */
	if (if_nametoindex(l->veth) != 0 && run(ctx, vdel, NULL) < 0)
		ret = -1;
	if (ns && run(ctx, nsdel, NULL) < 0)
		ret = -1;
	if (drill_lan_host_net_destroy(conn, l->libvirt, ctx) < 0)
		ret = -1;
	if (ret == 0)
		log_info("%s: network %s: isolated copy %s removed", ctx, l->net, l->libvirt);
	return ret;
}
