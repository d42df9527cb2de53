/* `nestor network peer-add|peer-config|peer-list|peer-remove`: the peers
 * of a DR network's WireGuard site link (failover/wgpeer.h,
 * docs/network.md, WireGuard). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/names.h"
#include "failover/drnet-wg.h"
#include "failover/drnet.h"
#include "failover/wgpeer.h"
#include "replicator/config.h"

static const char usage_network[] =
	"usage: nestor network [--config FILE] peer-add NETWORK PEER [--address A]\n"
	"                      [--allowed-ips CIDR[,CIDR]...] [--public-key KEY]\n"
	"       nestor network [--config FILE] peer-config NETWORK PEER [--endpoint HOST[:PORT]]\n"
	"       nestor network [--config FILE] peer-list [NETWORK] [--json]\n"
	"       nestor network [--config FILE] peer-remove NETWORK PEER\n"
	"\n"
	"The peers of a DR network's WireGuard site link (wireguard = on in its\n"
	"[network] section): branch office routers and laptops that reach the\n"
	"failed-over VMs at their on-prem addresses.\n"
	"  peer-add      make PEER's key pair and give it a tunnel address (--address,\n"
	"                else the lowest free one) and the networks behind it\n"
	"                (--allowed-ips: a branch router's LAN, routed to the link);\n"
	"                a running link takes it at once; --public-key: the peer made\n"
	"                its own key pair (wg genkey) and keeps its private key\n"
	"  peer-config   print PEER's wg-quick file (its private key included, or\n"
	"                read by PostUp from /etc/wireguard/IFACE.key on the peer): the\n"
	"                DR host's public key, Endpoint = the network's external\n"
	"                address and wg_port (--endpoint overrides it, e.g. a cloud's\n"
	"                public address), AllowedIPs = the network's subnet and the\n"
	"                tunnel's, DNS = the network's dns resolvers when it has any\n"
	"  peer-list     the peers (all networks, or NETWORK's): address, public key,\n"
	"                allowed IPs\n"
	"  peer-remove   forget PEER; a running link drops it at once\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"Exit: 0 done, 1 failure, 2 usage error.\n";

struct net_args {
	const char *path, *address, *endpoint, *allowed, *pubkey;
	bool json;
	const char *verb, *net, *peer;
};

static const struct receiver_network_cfg *
network_cfg(const struct receiver_config *cfg, const char *name, bool need_wg)
{
	for (size_t i = 0; i < cfg->nnetworks; i++) {
		const struct receiver_network_cfg *n = &cfg->networks[i];

		if (strcmp(n->name, name))
			continue;
		if (need_wg && !n->wireguard) {
			log_error("network %s: wireguard is off (set wireguard = on in its "
				  "[network] section)", name);
			return NULL;
		}
		return n;
	}
	log_error("no [network %s] in the receiver's configuration", name);
	return NULL;
}

static int
peer_add(const struct receiver_config *cfg, const struct net_args *a)
{
	const struct receiver_network_cfg *n = network_cfg(cfg, a->net, true);
	struct wgpeer p;
	char addr[16], allowed[WGPEER_ALLOWED_LEN];
	int ret = 1;

	if (!n || wgpeer_add(cfg->store_dir, n,
				 &(struct wgpeer_req){ a->peer, a->address, a->allowed, a->pubkey,
						       cfg->networks, cfg->nnetworks },
				 &p) < 0)
		return 1;
	drnet_ip_str(p.addr, addr);
	wgpeer_allowed_ips(&p, allowed);
	log_info("network %s: peer %s added at %s (allowed IPs %s)", n->name, p.name, addr,
		 allowed);
	printf("network %s: peer %s: address %s, public key %s, allowed IPs %s\n", n->name,
	       p.name, addr, p.pub, allowed);
	if (drnet_wg_peer_live(n, &p, false) == 0)
		ret = 0;
	else
		log_error("network %s: peer %s is kept, but the running link does not serve all "
			  "of it (see above)", n->name, p.name);
	explicit_bzero(&p, sizeof(p));
	return ret;
}

static int
peer_config(const struct receiver_config *cfg, const struct net_args *a)
{
	const struct receiver_network_cfg *n = network_cfg(cfg, a->net, true);
	struct wgpeer *peers = NULL;
	const struct wgpeer *p;
	char pub[WGKEY_LEN + 1], endpoint[80], *text = NULL;
	size_t np = 0;
	int ret = 1;

	if (!n || wgpeer_load(cfg->store_dir, &peers, &np) < 0)
		goto out;
	if (!(p = wgpeer_find(peers, np, n->name, a->peer))) {
		log_error("network %s: no peer %s (add it with peer-add)", n->name, a->peer);
		goto out;
	}
	if (wgpeer_host_key(cfg->store_dir, pub) < 0 ||
	    drnet_wg_endpoint(n, a->endpoint, endpoint, sizeof(endpoint)) < 0 ||
	    !(text = wgpeer_quick_conf(n, p, pub, endpoint)))
		goto out;
	fputs(text, stdout);
	ret = 0;
out:
	free(text);
	wgpeer_free(peers, np);
	return ret;
}

static int
peer_list(const struct receiver_config *cfg, const struct net_args *a)
{
	struct wgpeer *peers = NULL;
	json_t *arr = json_array();
	size_t np = 0;
	int ret = 1;

	if (!arr || (a->net && !network_cfg(cfg, a->net, false)) ||
	    wgpeer_load(cfg->store_dir, &peers, &np) < 0)
		goto out;
	if (!a->json)
		printf("%-16s %-16s %-15s %-44s %s\n", "NETWORK", "PEER", "ADDRESS", "PUBLIC-KEY",
		       "ALLOWED-IPS");
	for (size_t i = 0; i < np; i++) {
		char addr[16], allowed[WGPEER_ALLOWED_LEN];

		if (a->net && strcmp(a->net, peers[i].network))
			continue;
		drnet_ip_str(peers[i].addr, addr);
		wgpeer_allowed_ips(&peers[i], allowed);
		if (!a->json)
			printf("%-16s %-16s %-15s %-44s %s\n", peers[i].network, peers[i].name,
			       addr, peers[i].pub, allowed);
		else
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "network",
							     peers[i].network, "name",
							     peers[i].name, "address", addr,
							     "public_key", peers[i].pub,
							     "allowed_ips", allowed));
	}
	if (a->json && json_dumpf(arr, stdout, JSON_INDENT(2)) == 0)
		putchar('\n');
	ret = 0;
out:
	json_decref(arr);
	wgpeer_free(peers, np);
	return ret;
}

static int
peer_remove(const struct receiver_config *cfg, const struct net_args *a)
{
	const struct receiver_network_cfg *n = NULL;
	struct wgpeer p;

	for (size_t i = 0; i < cfg->nnetworks; i++)
		if (!strcmp(cfg->networks[i].name, a->net))
			n = &cfg->networks[i];
	if (wgpeer_remove(cfg->store_dir, a->net, a->peer, &p) < 0)
		return 1;
	log_info("network %s: peer %s removed", a->net, a->peer);
	printf("network %s: peer %s removed\n", a->net, a->peer);
	/* a network gone from the configuration has no link to update */
	return n && drnet_wg_peer_live(n, &p, true) < 0 ? 1 : 0;
}

static const struct {
	const char *verb;
	int nops; /* operands after the verb; -1: NETWORK optional */
	int (*fn)(const struct receiver_config *, const struct net_args *);
} verbs[] = {
	{ "peer-add", 2, peer_add },
	{ "peer-config", 2, peer_config },
	{ "peer-list", -1, peer_list },
	{ "peer-remove", 2, peer_remove },
};

static int
parse(int argc, char **argv, struct net_args *a)
{
	static const struct option lo[] = {
		CLI_OPT_CONFIG,
		{ "address", required_argument, NULL, 'a' },
		{ "allowed-ips", required_argument, NULL, 'A' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		CLI_OPT_HELP_END,
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': a->path = optarg; break;
		case 'a': a->address = optarg; break;
		case 'A': a->allowed = optarg; break;
		case 'k': a->pubkey = optarg; break;
		case 'e': a->endpoint = optarg; break;
		case 'j': a->json = true; break;
		case 'h': return cli_usage(usage_network, true);
		default: return cli_usage(usage_network, false);
		}
	}
	return -1;
}

/* The operands: the verb's count, valid names. -1 fine, else exit 2. */
static int
operands(int argc, char **argv, struct net_args *a, size_t *verb)
{
	int n = argc - optind;

	a->verb = n > 0 ? argv[optind] : "";
	for (*verb = 0; *verb < sizeof(verbs) / sizeof(verbs[0]); (*verb)++)
		if (!strcmp(verbs[*verb].verb, a->verb))
			break;
	if (*verb == sizeof(verbs) / sizeof(verbs[0]) ||
	    (verbs[*verb].nops >= 0 && n - 1 != verbs[*verb].nops) ||
	    (verbs[*verb].nops < 0 && n > 2)) {
		fprintf(stderr, "nestor network: expected peer-add|peer-config|peer-remove "
			"NETWORK PEER or peer-list [NETWORK]\n%s", usage_network);
		return 2;
	}
	a->net = n > 1 ? argv[optind + 1] : NULL;
	a->peer = n > 2 ? argv[optind + 2] : NULL;
	if (((a->address || a->allowed || a->pubkey) && strcmp(a->verb, "peer-add")) ||
	    (a->endpoint && strcmp(a->verb, "peer-config")) ||
	    (a->json && strcmp(a->verb, "peer-list"))) {
		fprintf(stderr, "nestor network: --address, --allowed-ips and --public-key are for "
			"peer-add, "
			"--endpoint for peer-config, --json for peer-list\n");
		return 2;
	}
	for (const char *const *s = (const char *const[]){ a->net, a->peer, NULL }; *s; s++) {
		if (!name_valid(*s, strlen(*s))) {
			fprintf(stderr, "nestor network: '%s' is not a valid name (%s)\n", *s,
				"1-64 of [A-Za-z0-9._-], not starting with '.' or '-'");
			return 2;
		}
	}
	/* it goes into a file the peer's wg-quick reads: host[:port] only */
	if (a->endpoint && (!*a->endpoint || strlen(a->endpoint) > 70 ||
			    strspn(a->endpoint, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789.-:") != strlen(a->endpoint))) {
		fprintf(stderr, "nestor network: --endpoint must be HOST or HOST:PORT\n");
		return 2;
	}
	return -1;
}

int
cli_network(int argc, char **argv)
{
	struct net_args a = { .path = CLI_RECEIVER_CONF };
	struct cli_rx rx = { 0 };
	size_t verb;
	int ret;

	if ((ret = parse(argc, argv, &a)) >= 0 || (ret = operands(argc, argv, &a, &verb)) >= 0)
		return ret;
	log_set_prefix("network");
	if (cli_rx_load(&rx, a.path, CLI_RX_LOG_KEEP) < 0)
		return 1;
	ret = verbs[verb].fn(rx.cfg, &a);
	cli_rx_close(&rx);
	return ret;
}
