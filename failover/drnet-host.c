/* What DR networks change on the host (failover/drnet-host.h): libvirt
 * networks, the nftables table through `nft -f`, IPv4 forwarding. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/drnet-host.h"
#include "replicator/config.h"

#define FORWARD_PATH "/proc/sys/net/ipv4/ip_forward"
#define NFT_TIMEOUT_MS 30000

int
drnet_host_default_if(char out[16])
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256];
	int ret = -1;

	if (!f) {
		log_error("/proc/net/route: %m");
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char ifn[16];
		unsigned dst, mask;

		/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
		if (sscanf(line, "%15s %x %*x %*x %*d %*d %*d %x", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			snprintf(out, 16, "%s", ifn);
			ret = 0;
			break;
		}
	}
	fclose(f);
	if (ret < 0)
		log_error("this host has no IPv4 default route: set 'external' in the "
			  "[network] sections of receiver.conf");
	return ret;
}

int
drnet_host_forward_get(bool *on)
{
	void *data = NULL;
	size_t len = 0;

	if (file_read_all(FORWARD_PATH, 16, &data, &len) < 0)
		return -1;
	*on = len > 0 && ((char *)data)[0] == '1';
	free(data);
	return 0;
}

int
drnet_host_forward_set(bool on)
{
	const char *v = on ? "1\n" : "0\n";
	int fd = open(FORWARD_PATH, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || fd_write_all(fd, v, 2) < 0) {
		log_error("%s: cannot write: %m", FORWARD_PATH);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	log_info("net.ipv4.ip_forward = %d", on);
	return 0;
}

int
drnet_host_nft(const char *ctx, const char *dir, const char *script)
{
	char *path = strfmt("%s/.drnet.nft", dir);
	struct spawn *sp = NULL;
	int ret = -1;

	if (!path || file_write_atomic(path, script, strlen(script), 0600) < 0)
		goto out;
	if (!(sp = spawn_new("nft")))
		goto out;
	spawn_arg(sp, "-f");
	spawn_arg(sp, path);
	spawn_set_context(sp, ctx);
	spawn_set_timeout_ms(sp, NFT_TIMEOUT_MS);
	ret = spawn_run(sp, NULL);
out:
	spawn_free(sp);
	free(path);
	return ret;
}

/* Add (or, del, take out) h in the DHCP hosts of the running network and
 * of its definition. */
static int
net_host(virNetworkPtr net, const char *ctx, const char *lvname, const struct drnet_host *h,
	 bool del)
{
	char *xml = drnet_host_xml(h);
	unsigned flags = VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG;
	int ret = -1;

	if (!xml)
		return -1;
	/* a reservation of this MAC left by a run that crashed goes first */
	if (!del)
		(void)sym_virNetworkUpdate(net, VIR_NETWORK_UPDATE_COMMAND_DELETE,
					   VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, flags);
	if (sym_virNetworkUpdate(net, del ? VIR_NETWORK_UPDATE_COMMAND_DELETE
				     : VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
				 VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, flags) < 0)
		log_error("%s: network %s: cannot %s the reservation %s -> %s: %s", ctx, lvname,
			  del ? "remove" : "add", h->mac, h->ip, virt_dl_error());
	else
		ret = 0;
	free(xml);
	return ret;
}

static virNetworkPtr
net_define(virConnectPtr conn, const char *ctx, const struct receiver_network_cfg *n,
	   const char *lvname, const struct drnet_host *hosts, size_t nhosts)
{
	char *xml = drnet_network_xml(n, hosts, nhosts);
	virNetworkPtr net = xml ? sym_virNetworkDefineXML(conn, xml) : NULL;

	if (xml && !net)
		log_error("%s: cannot define network %s: %s", ctx, lvname, virt_dl_error());
	free(xml);
	return net;
}

int
drnet_host_net_up(virConnectPtr conn, const char *ctx, const struct receiver_network_cfg *n,
		  const struct drnet_host *hosts, size_t nhosts, bool shared)
{
	char lvname[80];
	virNetworkPtr net;
	int ret = -1;

	drnet_libvirt_name(n->name, lvname, sizeof(lvname));
	/* ours, but no other record names it (a crash between its creation
	 * and a release): made again from this configuration */
	if (!shared && drnet_host_net_remove(conn, ctx, lvname) < 0)
		return -1;
	net = sym_virNetworkLookupByName(conn, lvname);
	if (!net) {
		if (!(net = net_define(conn, ctx, n, lvname, hosts, nhosts)))
			return -1;
		log_info("%s: DR network %s defined (bridge %s)", ctx, lvname, n->bridge);
	} else {
		/* another failover's: our reservations join its own */
		for (size_t i = 0; i < nhosts; i++)
			if (n->dhcp && net_host(net, ctx, lvname, &hosts[i], false) < 0)
				goto out;
	}
	if (sym_virNetworkIsActive(net) != 1 && sym_virNetworkCreate(net) < 0) {
		log_error("%s: cannot start network %s: %s", ctx, lvname, virt_dl_error());
		goto out;
	}
	for (size_t i = 0; i < nhosts; i++)
		log_info("%s: network %s: %s reserves %s (%s)", ctx, lvname, hosts[i].mac,
			 hosts[i].ip, hosts[i].name);
	ret = 0;
out:
	sym_virNetworkFree(net);
	return ret;
}

int
drnet_host_net_unreserve(virConnectPtr conn, const char *ctx, const char *lvname,
			 const struct drnet_host *h)
{
	virNetworkPtr net = sym_virNetworkLookupByName(conn, lvname);
	int ret;

	if (!net)
		return 0;
	ret = net_host(net, ctx, lvname, h, true);
	sym_virNetworkFree(net);
	return ret;
}

int
drnet_host_net_remove(virConnectPtr conn, const char *ctx, const char *lvname)
{
	virNetworkPtr net = sym_virNetworkLookupByName(conn, lvname);
	int ret = 0;

	if (!net)
		return 0;
	if ((sym_virNetworkIsActive(net) == 1 && sym_virNetworkDestroy(net) < 0) ||
	    sym_virNetworkUndefine(net) < 0) {
		log_error("%s: cannot remove network %s: %s", ctx, lvname, virt_dl_error());
		ret = -1;
	} else {
		log_info("%s: DR network %s removed", ctx, lvname);
	}
	sym_virNetworkFree(net);
	return ret;
}
