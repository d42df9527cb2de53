/* Unit tests for the receiver's [network NAME] sections
 * (replicator/config-network.c, issue 15). */
#include "replicator/config.h"

#include "common/fileutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/capture.h"

/* [receiver] on lines 1-6: a [network] header is on line 7 */
#define RX_HEAD "[receiver]\nlisten = 127.0.0.1:7400\nca = ca.pem\ncert = rx.pem\nkey = rx.key\nstore = /srv\n"

static uint32_t
ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1, "%s", s);
	return ntohl(a.s_addr);
}

static struct receiver_config *
load_ok(const char *text)
{
	struct receiver_config *c = NULL;
	char *log;
	int rc;

	cap_start();
	rc = receiver_config_load_string("receiver.conf", text, &c);
	log = cap_stop();
	cr_assert_eq(rc, 0, "refused:\n%s\n%s", text, log);
	free(log);
	return c;
}

static void
fails(const char *text, const char *msg)
{
	struct receiver_config *c = NULL;
	char *log;
	int rc;

	cap_start();
	rc = receiver_config_load_string("receiver.conf", text, &c);
	log = cap_stop();
	cr_assert_eq(rc, -1, "accepted:\n%s", text);
	cr_assert_null(c);
	cr_assert(strstr(log, msg) != NULL, "want '%s' in:\n%s", msg, log);
	cr_assert_eq(strchr(log, '\n'), log + strlen(log) - 1, "not one line:\n%s", log);
	free(log);
}

Test(config_network, defaults)
{
	struct receiver_config *c = load_ok(RX_HEAD "[network prod]\nsubnet = 10.1.0.0/24\n"
					    "sources = default br-onprem\n");
	const struct receiver_network_cfg *n;

	cr_assert_eq(c->nnetworks, 1);
	n = &c->networks[0];
	cr_assert_str_eq(n->name, "prod");
	cr_assert_str_eq(n->bridge, "nst-prod");
	cr_assert_eq(n->subnet, ip("10.1.0.0"));
	cr_assert_eq(n->prefix, 24);
	cr_assert_eq(n->gateway, ip("10.1.0.1"));
	cr_assert(n->dhcp && n->nat);
	cr_assert_eq(n->dhcp_first, ip("10.1.0.128"));
	cr_assert_eq(n->dhcp_last, ip("10.1.0.254"));
	cr_assert_eq(n->ndns, 0);
	cr_assert_eq(n->npublish, 0);
	cr_assert_null(n->external);
	cr_assert_eq(n->nsources, 2);
	cr_assert_eq(receiver_config_network_of(c, "br-onprem"), n);
	cr_assert_eq(receiver_config_network_of(c, "default"), n);
	cr_assert_null(receiver_config_network_of(c, "other"));
	receiver_config_free(c);
}

Test(config_network, every_key)
{
	struct receiver_config *c = load_ok(
		RX_HEAD "[network a-very-long-network-name]\nsubnet = 192.168.8.0/22\n"
		"gateway = 192.168.11.254\ndhcp = off\ndhcp_range = 192.168.9.10-192.168.9.20\n"
		"dns = 1.1.1.1, 9.9.9.9\nnat = no\nsources = onprem\n"
		"publish = tcp:443=web1:8443 udp:53=dns1:53\nexternal = eth0\n"
		"[network b]\nsubnet = 10.2.0.0/16\nsources = other\nexternal = 203.0.113.7\n");
	const struct receiver_network_cfg *n = &c->networks[0];

	cr_assert_eq(c->nnetworks, 2);
	/* a long name: 6 characters and a hash, 15 in all */
	cr_assert_eq(strlen(n->bridge), 15, "%s", n->bridge);
	cr_assert_eq(strncmp(n->bridge, "nst-a-very-", 11), 0, "%s", n->bridge);
	cr_assert_eq(n->gateway, ip("192.168.11.254"));
	cr_assert(!n->dhcp && !n->nat);
	cr_assert_eq(n->dhcp_first, ip("192.168.9.10"));
	cr_assert_eq(n->dhcp_last, ip("192.168.9.20"));
	cr_assert_eq(n->ndns, 2);
	cr_assert_eq(n->dns[1], ip("9.9.9.9"));
	cr_assert_eq(n->npublish, 2);
	cr_assert(!n->publish[0].udp && n->publish[0].port == 443 &&
		  n->publish[0].vm_port == 8443);
	cr_assert_str_eq(n->publish[0].vm, "web1");
	cr_assert(n->publish[1].udp && n->publish[1].port == 53);
	cr_assert_str_eq(n->publish[1].vm, "dns1");
	cr_assert_str_eq(n->external, "eth0");
	cr_assert_str_eq(c->networks[1].external, "203.0.113.7");
	cr_assert_eq(c->networks[1].dhcp_first, ip("10.2.128.0"));
	cr_assert_eq(c->networks[1].dhcp_last, ip("10.2.255.254"));
	receiver_config_free(c);
}

/* A gateway in the default range's upper end shrinks the range. */
Test(config_network, gateway_in_default_range)
{
	struct receiver_config *c = load_ok(RX_HEAD "[network p]\nsubnet = 10.9.0.0/24\n"
					    "gateway = 10.9.0.254\nsources = s\n");

	cr_assert_eq(c->networks[0].dhcp_last, ip("10.9.0.253"));
	receiver_config_free(c);
}

#define NET "[network p]\n"   /* line 7 */

Test(config_network, refused)
{
	static const struct { const char *text, *msg; } bad[] = {
		{ RX_HEAD NET "sources = s\n", "receiver.conf:7: missing required key 'subnet' in [network p]" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\n", "missing required key 'sources'" },
		{ RX_HEAD NET "subnet = 10.1.0.0\nsources = s\n", "bad value '10.1.0.0' for 'subnet'" },
		{ RX_HEAD NET "subnet = 10.1.0.5/24\nsources = s\n", "no host bits set" },
		{ RX_HEAD NET "subnet = 10.1.0.0/31\nsources = s\n", "bad value '10.1.0.0/31'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24x\nsources = s\n", "bad value" },
		{ RX_HEAD NET "subnet = 10.1.0/24\nsources = s\n", "bad value" },
		{ RX_HEAD NET "subnet = fd00::/64\nsources = s\n", "bad value" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ngateway = 10.2.0.1\nsources = s\n",
		  "receiver.conf:7: [network p]: gateway is not a host address of its subnet" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ngateway = 10.1.0.255\nsources = s\n",
		  "gateway is not a host address" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ndhcp_range = 10.1.0.200-10.1.1.5\nsources = s\n",
		  "dhcp_range must lie in the subnet" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ndhcp_range = 10.1.0.1-10.1.0.5\nsources = s\n",
		  "leave out the gateway" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ndhcp_range = 10.1.0.9-10.1.0.5\nsources = s\n",
		  "bad value '10.1.0.9-10.1.0.5' for 'dhcp_range'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ndhcp = maybe\nsources = s\n", "expected on or off" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\ndns = 1.1.1\nsources = s\n", "bad value '1.1.1' for 'dns'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = a ../b\n", "bad value 'a ../b' for 'sources'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = a a\n", "distinct" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = tcp:443=web1\n",
		  "bad value 'tcp:443=web1' for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = sctp:1=a:1\n", "for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = tcp:0=a:1\n", "for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = tcp:1=a:65536\n", "for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = tcp:1=../x:2\n", "for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\npublish = tcp:1=a:2 tcp:1=b:3\n",
		  "for 'publish'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\nexternal = a-much-too-long-ifname\n",
		  "for 'external'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\nmtu = 1500\n",
		  "unknown key 'mtu' in [network p]" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\n[network p]\nsubnet = 10.2.0.0/24\nsources = t\n",
		  "receiver.conf:10: duplicate network 'p'" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\n[network q]\nsubnet = 10.1.0.128/25\nsources = t\n",
		  "receiver.conf:10: [network q]: its subnet overlaps that of [network p] (line 7)" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\n[network q]\nsubnet = 10.0.0.0/8\nsources = t\n",
		  "overlaps" },
		{ RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s t\n[network q]\nsubnet = 10.2.0.0/24\nsources = t\n",
		  "receiver.conf:10: [network q]: source 't' is a source of [network p] too" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fails(bad[i].text, bad[i].msg);
}

/* Two long names with the same first characters: distinct bridges (the
 * hash), or, should the hashes meet, a refusal; never one bridge for two. */
Test(config_network, long_names_distinct_bridges)
{
	struct receiver_config *c = load_ok(RX_HEAD "[network long-name-aaa1]\nsubnet = 10.1.0.0/24\n"
					    "sources = s\n[network long-name-aaa2]\n"
					    "subnet = 10.2.0.0/24\nsources = t\n");

	cr_assert_str_neq(c->networks[0].bridge, c->networks[1].bridge);
	cr_assert_eq(strlen(c->networks[0].bridge), 15);
	receiver_config_free(c);
}

/* The WireGuard keys (issue 15): off by default with port 51820; on needs
 * wg_address; the interface's name follows the bridge's. */
Test(config_network, wireguard)
{
	struct receiver_config *c = load_ok(RX_HEAD "[network prod]\nsubnet = 10.1.0.0/24\n"
					    "sources = s\nwireguard = on\nwg_address = 10.99.0.1/24\n"
					    "[network dev]\nsubnet = 10.2.0.0/24\nsources = t\n"
					    "wireguard = on\nwg_port = 51900\nwg_address = 10.98.0.1/30\n"
					    "[network long-name-aaa1]\nsubnet = 10.3.0.0/24\nsources = u\n");
	const struct receiver_network_cfg *n = &c->networks[0];

	cr_assert(n->wireguard);
	cr_assert_eq(n->wg_port, 51820);
	cr_assert_eq(n->wg_addr, ip("10.99.0.1"));
	cr_assert_eq(n->wg_prefix, 24);
	cr_assert_str_eq(n->wg_if, "nsw-prod");
	n = &c->networks[1];
	cr_assert(n->wireguard);
	cr_assert_eq(n->wg_port, 51900);
	cr_assert_eq(n->wg_addr, ip("10.98.0.1"));
	cr_assert_eq(n->wg_prefix, 30);
	n = &c->networks[2];
	cr_assert_not(n->wireguard);
	cr_assert_eq(n->wg_port, 51820);
	cr_assert_eq(n->wg_addr, 0);
	cr_assert_eq(strncmp(n->wg_if, "nsw-", 4), 0);
	cr_assert_str_eq(n->wg_if + 4, n->bridge + 4);
	receiver_config_free(c);
}

Test(config_network, wireguard_refused)
{
#define WGNET RX_HEAD NET "subnet = 10.1.0.0/24\nsources = s\n"
	static const struct { const char *text, *msg; } bad[] = {
		{ WGNET "wireguard = yes please\n", "bad value 'yes please' for 'wireguard'" },
		{ WGNET "wireguard = on\n", "receiver.conf:7: [network p]: wireguard = on needs wg_address" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.0/24\n", "bad value '10.99.0.0/24' for 'wg_address'" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.255/24\n", "for 'wg_address'" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.1\n", "for 'wg_address'" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.1/31\n", "for 'wg_address'" },
		{ WGNET "wireguard = on\nwg_address = 10.1.0.200/25\n",
		  "[network p]: wg_address's subnet overlaps the network's subnet" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.1/24\npublish = udp:51820=vpn:51820\n",
		  "[network p]: publish udp:51820 is the WireGuard link's wg_port" },
		{ WGNET "wg_port = 0\n", "bad value '0' for 'wg_port'" },
		{ WGNET "wg_port = 65536\n", "for 'wg_port'" },
		{ WGNET "wg_port = 5x\n", "for 'wg_port'" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.1/24\n[network q]\nsubnet = 10.2.0.0/24\n"
		  "sources = t\nwireguard = on\nwg_address = 10.98.0.1/24\n",
		  "receiver.conf:12: [network q]: its wg_port is that of [network p] (line 7)" },
		{ WGNET "wireguard = on\nwg_address = 10.99.0.1/24\n[network q]\nsubnet = 10.2.0.0/24\n"
		  "sources = t\nwireguard = on\nwg_port = 2\nwg_address = 10.99.0.5/24\n",
		  "[network q]: its wg_address's subnet overlaps that of [network p]" },
		{ WGNET "wireguard = on\nwg_address = 10.2.0.129/25\n[network q]\nsubnet = 10.2.0.0/24\n"
		  "sources = t\n",
		  "[network q]: a wg_address's subnet overlaps the subnet of the other: [network p]" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fails(bad[i].text, bad[i].msg);
#undef WGNET
}
