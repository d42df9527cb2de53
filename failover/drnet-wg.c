/* The WireGuard link of a DR network on the host (failover/drnet-wg.h):
 * wireguard-go, `wg set`, `ip`; stopped through its UAPI socket. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/childrec.h"
#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "failover/drnet-host.h"
#include "failover/drnet-wg.h"
#include "failover/drnet.h"
#include "failover/wgpeer.h"
#include "replicator/config.h"

/* Where wireguard-go and wg meet: the UAPI socket of each interface. */
#define UAPI_DIR "/var/run/wireguard"
#define CMD_TIMEOUT_MS 30000
#define EXIT_WAIT_MS 5000

json_t *
drnet_wg_record(const struct receiver_network_cfg *n, bool *err)
{
	char a[16], addr[24];
	json_t *r;

	*err = false;
	if (!n->wireguard)
		return NULL;
	drnet_ip_str(n->wg_addr, a);
	snprintf(addr, sizeof(addr), "%s/%u", a, n->wg_prefix);
	r = json_pack("{s:s, s:i, s:s}", "ifname", n->wg_if, "port", n->wg_port, "address", addr);
	if (!r) {
		log_error("out of memory");
		*err = true;
	}
	return r;
}

/* The fields of a link record, checked: it reaches command lines. */
static int
link_of(const char *ctx, const json_t *wg, const char **ifn, int *port, const char **addr)
{
	uint32_t a;

	*ifn = json_string_value(json_object_get(wg, "ifname"));
	*addr = json_string_value(json_object_get(wg, "address"));
	*port = (int)json_integer_value(json_object_get(wg, "port"));
	if (!*ifn || strlen(*ifn) > 15 || !name_valid(*ifn, strlen(*ifn)) || *port < 1 ||
	    *port > 65535 || !*addr || !strchr(*addr, '/') || drnet_ip_parse(*addr, &a) < 0) {
		log_error("%s: a WireGuard link of the record is malformed", ctx);
		return -1;
	}
	return 0;
}

static int
run(const char *ctx, const char *const *argv)
{
	struct spawn *sp = spawn_new_argv(argv[0], argv + 1);
	int ret;

	if (!sp)
		return -1;
	spawn_set_context(sp, ctx);
	spawn_set_timeout_ms(sp, CMD_TIMEOUT_MS);
	ret = spawn_run(sp, NULL);
	spawn_free(sp);
	return ret;
}

/* `wg set IF listen-port P private-key FILE peer K allowed-ips A/32 ...`
 * with net's peers. */
static int
wg_configure(const char *ctx, const char *root, const char *net, const char *ifn, int port)
{
	char *key = wgpeer_host_key_path(root), portbuf[8], (*allowed)[WGPEER_ALLOWED_LEN] = NULL;
	struct wgpeer *peers = NULL;
	struct spawn *sp = NULL;
	size_t np = 0;
	int ret = -1;

	if (!key || wgpeer_load(root, &peers, &np) < 0)
		goto out;
	if (np > 0 && !(allowed = calloc(np, sizeof(*allowed)))) {
		log_error("out of memory");
		goto out;
	}
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	if (!(sp = spawn_new("wg")))
		goto out;
	spawn_args(sp, (const char *const[]){ "set", ifn, "listen-port", portbuf, "private-key",
					      key, NULL });
	for (size_t i = 0; i < np; i++) {
		if (strcmp(peers[i].network, net))
			continue;
		wgpeer_allowed_ips(&peers[i], allowed[i]);
		spawn_args(sp, (const char *const[]){ "peer", peers[i].pub, "allowed-ips",
						      allowed[i], NULL });
		log_info("%s: network %s: WireGuard peer %s at %s", ctx, net, peers[i].name,
			 allowed[i]);
	}
	spawn_set_context(sp, ctx);
	spawn_set_timeout_ms(sp, CMD_TIMEOUT_MS);
	ret = spawn_run(sp, NULL);
out:
	spawn_free(sp);
	free(allowed);
	wgpeer_free(peers, np);
	free(key);
	return ret;
}

/* Route r to the link ifn, unless it is there already. A route of the
 * host's own to r is left alone (nothing else on the host is touched):
 * warned, 1. 0 / -1 (logged). */
static int
route_add(const char *ctx, const char *ifn, const char *r)
{
	char *out = NULL, *dev = strfmt(" dev %s", ifn), *at;
	int ret = -1;

	if (!dev || spawn_cmd(ctx, (const char *const[]){ "ip", "-4", "route", "show", "exact", r,
							  NULL }, &out) < 0)
		goto out;
	if (!*out)
		ret = run(ctx, (const char *const[]){ "ip", "route", "add", r, "dev", ifn, NULL });
	else if ((at = strstr(out, dev)) != NULL && strchr(" \n", at[strlen(dev)]))
		ret = 0;
	else {
		log_warn("%s: the host has a route to %s already (%.*s): a WireGuard peer's "
			 "network does not take it, it is not routed to %s", ctx, r,
			 (int)strcspn(out, "\n"), out, ifn);
		ret = 1;
	}
out:
	free(out);
	free(dev);
	return ret;
}

/* Take route r off the link ifn; one that is not there (the host kept
 * its own) is fine. */
static int
route_del(const char *ctx, const char *ifn, const char *r)
{
	char *out = NULL, *dev = strfmt(" dev %s", ifn), *at;
	int ret = -1;

	if (!dev || spawn_cmd(ctx, (const char *const[]){ "ip", "-4", "route", "show", "exact", r,
							  NULL }, &out) < 0)
		goto out;
	ret = 0;
	if ((at = strstr(out, dev)) != NULL && strchr(" \n", at[strlen(dev)]))
		ret = run(ctx, (const char *const[]){ "ip", "route", "delete", r, "dev", ifn, NULL });
out:
	free(out);
	free(dev);
	return ret;
}

/* The networks behind peer p, routed to the link ifn (they go with the
 * interface), or (del) taken off it. 0, 1 when the host kept a route of
 * its own (warned), -1 (logged). */
static int
peer_routes(const char *ctx, const char *ifn, const struct wgpeer *p, bool del)
{
	int ret = 0;

	for (size_t i = 0; i < p->nroutes && ret >= 0; i++) {
		char r[19];
		int rc;

		wgpeer_route_str(p, i, r);
		if (del)
			rc = route_del(ctx, ifn, r);
		else
			rc = route_add(ctx, ifn, r);
		ret = rc < 0 ? -1 : ret | rc;
	}
	return ret;
}

static int
routes_up(const char *ctx, const char *root, const char *net, const char *ifn)
{
	struct wgpeer *peers = NULL;
	size_t np = 0;
	int ret = wgpeer_load(root, &peers, &np);

	/* a route the host kept is warned: the link serves the other peers */
	for (size_t i = 0; ret >= 0 && i < np; i++)
		if (!strcmp(peers[i].network, net))
			ret = peer_routes(ctx, ifn, &peers[i], false) < 0 ? -1 : 0;
	wgpeer_free(peers, np);
	return ret;
}

int
drnet_wg_up(const char *ctx, const char *root, const char *net, const json_t *wg, bool fresh)
{
	const char *ifn, *addr;
	char pub[WGKEY_LEN + 1];
	int port;

	if (link_of(ctx, wg, &ifn, &port, &addr) < 0)
		return -1;
	/* a crash's leftover that no other record names: made anew */
	if (fresh && drnet_wg_down(ctx, wg) < 0)
		return -1;
	if (wgpeer_host_key(root, pub) < 0)
		return -1;
	if (if_nametoindex(ifn) == 0 &&
	    run(ctx, (const char *const[]){ "wireguard-go", ifn, NULL }) < 0)
		return -1;
	if (wg_configure(ctx, root, net, ifn, port) < 0 ||
	    run(ctx, (const char *const[]){ "ip", "address", "replace", addr, "dev", ifn,
					    NULL }) < 0 ||
	    run(ctx, (const char *const[]){ "ip", "link", "set", ifn, "up", NULL }) < 0 ||
	    routes_up(ctx, root, net, ifn) < 0)
		return -1;
	log_info("%s: network %s: WireGuard link %s up, %s, udp port %d, public key %s", ctx,
		 net, ifn, addr, port, pub);
	return 0;
}

/* The start time of process pid (field 22 of its stat), 0 when it is gone,
 * a zombie or unreadable. */
static unsigned long long
proc_start(pid_t pid)
{
	uint64_t start;

	return childrec_proc_start(pid, &start) == 1 ? start : 0;
}

/* The inode of the listening unix socket bound to path, 0 if none:
 * /proc/net/unix, "Num RefCount Protocol Flags Type St Inode Path". */
static unsigned long
listener_inode(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512], p[256];
	unsigned long inode = 0, ino;
	unsigned flags;

	if (!f)
		return 0;
	while (!inode && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %lu %255s", &flags, &ino, p) == 3 &&
		    (flags & 0x10000) && !strcmp(p, path)) /* __SO_ACCEPTCON: listening */
			inode = ino;
	fclose(f);
	return inode;
}

/* Does process pid hold an fd on socket inode? */
static bool
holds_socket(const char *pid, const char *want)
{
	char *dir = strfmt("/proc/%s/fd", pid), link[64], *fd;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	bool found = false;

	while (d && !found && (de = readdir(d)) != NULL) {
		ssize_t n;

		if (de->d_name[0] == '.' || !(fd = strfmt("%s/%s", dir, de->d_name)))
			continue;
		n = readlink(fd, link, sizeof(link) - 1);
		free(fd);
		found = n > 0 && (link[n] = '\0', !strcmp(link, want));
	}
	if (d)
		closedir(d);
	free(dir);
	return found;
}

/* The process serving the UAPI socket sock, 0 if none. Not the socket's
 * peer credentials: wireguard-go's first process makes the socket and
 * hands it to the daemon it forks, then exits. */
static pid_t
uapi_pid(const char *sock)
{
	unsigned long inode = listener_inode(sock);
	char want[48];
	DIR *d = inode ? opendir("/proc") : NULL;
	struct dirent *de;
	pid_t pid = 0;

	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while (d && !pid && (de = readdir(d)) != NULL) {
		uint64_t v;

		if (parse_u64(de->d_name, &v) == 0 && v > 0 && v <= INT32_MAX &&
		    holds_socket(de->d_name, want))
			pid = (pid_t)v;
	}
	if (d)
		closedir(d);
	return pid;
}

static bool
gone_within(pid_t pid, unsigned long long start, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 100) {
		if (proc_start(pid) != start)
			return true;
		clock_nap_ms(100);
	}
	return proc_start(pid) != start;
}

/* wireguard-go ends when its socket is removed (as wg-quick down does it);
 * SIGTERM only to the very process that served the socket (same pid and
 * start time), never one chosen by its name. */
static int
stop_daemon(const char *ctx, const char *ifn)
{
	char *sock = strfmt(UAPI_DIR "/%s.sock", ifn);
	pid_t pid = sock ? uapi_pid(sock) : 0;
	unsigned long long start = pid > 0 ? proc_start(pid) : 0;
	int ret = -1;

	if (!sock)
		return -1;
	if (unlink(sock) < 0 && errno != ENOENT) {
		log_error("%s: %s: %m", ctx, sock);
		goto out;
	}
	ret = 0;
	if (start == 0 || gone_within(pid, start, EXIT_WAIT_MS))
		goto out;
	log_warn("%s: wireguard-go of %s (pid %d) still runs without its socket: SIGTERM", ctx,
		 ifn, (int)pid);
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		log_error("%s: cannot stop wireguard-go (pid %d): %m", ctx, (int)pid);
	if (!gone_within(pid, start, EXIT_WAIT_MS)) {
		log_error("%s: wireguard-go of %s (pid %d) does not stop", ctx, ifn, (int)pid);
		ret = -1;
	}
out:
	if (ret == 0 && start != 0)
		log_info("%s: wireguard-go of %s (pid %d) stopped", ctx, ifn, (int)pid);
	free(sock);
	return ret;
}

int
drnet_wg_down(const char *ctx, const json_t *wg)
{
	const char *ifn, *addr;
	int port;

	if (link_of(ctx, wg, &ifn, &port, &addr) < 0 || stop_daemon(ctx, ifn) < 0)
		return -1;
	/* the daemon takes its interface along; what is left goes here */
	if (if_nametoindex(ifn) != 0 &&
	    run(ctx, (const char *const[]){ "ip", "link", "delete", ifn, NULL }) < 0 &&
	    if_nametoindex(ifn) != 0)
		return -1;
	log_info("%s: WireGuard link %s removed", ctx, ifn);
	return 0;
}

int
drnet_wg_peer_live(const struct receiver_network_cfg *n, const struct wgpeer *p, bool remove)
{
	char a[WGPEER_ALLOWED_LEN], ctx[80];

	if (!n->wireguard || if_nametoindex(n->wg_if) == 0)
		return 0;
	snprintf(ctx, sizeof(ctx), "network %s", n->name);
	wgpeer_allowed_ips(p, a);
	if (remove)
		return run(ctx, (const char *const[]){ "wg", "set", n->wg_if, "peer", p->pub,
						       "remove", NULL }) < 0 ||
		       peer_routes(ctx, n->wg_if, p, true) < 0 ? -1 : 0;
	/* a network the host kept a route to fails it here: the operator is
	 * told at once, not at the next failover */
	return run(ctx, (const char *const[]){ "wg", "set", n->wg_if, "peer", p->pub,
					       "allowed-ips", a, NULL }) < 0 ||
	       peer_routes(ctx, n->wg_if, p, false) != 0 ? -1 : 0;
}

/* The first IPv4 address of interface ifn into out[16]. */
static int
if_ipv4(const char *ifn, char out[16])
{
	struct ifaddrs *all = NULL;
	int ret = -1;

	if (getifaddrs(&all) < 0) {
		log_error("getifaddrs: %m");
		return -1;
	}
	for (struct ifaddrs *i = all; i && ret < 0; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, ifn))
			continue;
		if (inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, out,
			      16))
			ret = 0;
	}
	freeifaddrs(all);
	if (ret < 0)
		log_error("interface %s has no IPv4 address for the peers' Endpoint: give "
			  "--endpoint HOST", ifn);
	return ret;
}

int
drnet_wg_endpoint(const struct receiver_network_cfg *n, const char *endpoint, char *out,
		  size_t len)
{
	char host[64], ifn[16];
	uint32_t a;

	if (endpoint && strchr(endpoint, ':'))
		snprintf(host, sizeof(host), "%s", endpoint);
	else if (endpoint)
		snprintf(host, sizeof(host), "%s:%u", endpoint, n->wg_port);
	else if (n->external && drnet_ip_parse(n->external, &a) == 0)
		snprintf(host, sizeof(host), "%s:%u", n->external, n->wg_port);
	else {
		char ip[16];

		if (n->external)
			snprintf(ifn, sizeof(ifn), "%s", n->external);
		else if (drnet_host_default_if(ifn) < 0)
			return -1;
		if (if_ipv4(ifn, ip) < 0)
			return -1;
		snprintf(host, sizeof(host), "%s:%u", ip, n->wg_port);
	}
	if (strlen(host) >= len) {
		log_error("endpoint %s is too long", host);
		return -1;
	}
	memcpy(out, host, strlen(host) + 1);
	return 0;
}
