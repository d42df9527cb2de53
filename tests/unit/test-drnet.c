/* Unit tests for failover/drnet.c: the DR network's libvirt XML and the
 * nftables script of table inet nestor (issue 15). */
#include "failover/drnet.h"

#include "common/fileutil.h"
#include "failover/pointnics.h"
#include "replicator/config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/capture.h"

static struct receiver_network_cfg
prod(void)
{
	struct receiver_network_cfg n = {
		.name = "prod", .bridge = "nst-prod", .subnet = 0x0a010000, .prefix = 24,
		.gateway = 0x0a010001, .dhcp = true, .dhcp_first = 0x0a010080,
		.dhcp_last = 0x0a0100fe, .nat = true,
	};
	return n;
}

#define has(s, sub) cr_assert(strstr((s), (sub)) != NULL, "no '%s' in:\n%s", (sub), (s))
#define hasnt(s, sub) cr_assert(strstr((s), (sub)) == NULL, "'%s' in:\n%s", (sub), (s))

Test(drnet, network_xml)
{
	struct receiver_network_cfg n = prod();
	struct drnet_host h[2] = {
		{ "52:54:00:00:00:01", "10.1.0.5", "web1" },
		{ "52:54:00:00:00:02", "10.1.0.6", "db_1" },
	};
	char *x = drnet_network_xml(&n, h, 2);

	has(x, "<name>nestor-net-prod</name>");
	has(x, "<forward mode='open'/>");
	has(x, "<bridge name='nst-prod' stp='off'/>");
	has(x, "<ip address='10.1.0.1' prefix='24'>");
	has(x, "<range start='10.1.0.128' end='10.1.0.254'/>");
	has(x, "<host mac='52:54:00:00:00:01' name='web1' ip='10.1.0.5'/>");
	/* no host name that dnsmasq could misread */
	has(x, "<host mac='52:54:00:00:00:02' ip='10.1.0.6'/>");
	hasnt(x, "dhcp-option");
	free(x);

	n.dhcp = false;
	n.dns[0] = 0x01010101;
	n.dns[1] = 0x09090909;
	n.ndns = 2;
	x = drnet_network_xml(&n, h, 2);
	hasnt(x, "<dhcp>");
	has(x, "dhcp-option=6,1.1.1.1,9.9.9.9");
	free(x);
}

Test(drnet, addresses)
{
	struct receiver_network_cfg n = prod();
	char mac[18];
	uint32_t a;

	cr_assert_eq(drnet_ip_parse("10.1.0.5/24", &a), 0);
	cr_assert_eq(a, 0x0a010005);
	cr_assert(drnet_in_subnet(&n, a));
	cr_assert(!drnet_in_subnet(&n, 0x0a010000));
	cr_assert(!drnet_in_subnet(&n, 0x0a0100ff));
	cr_assert(!drnet_in_subnet(&n, 0x0a020005));
	cr_assert_eq(drnet_ip_parse("10.1.0", &a), -1);
	/* records are checked with the MAC parser of the point's NICs */
	cr_assert(pointnic_mac_parse("52:54:00:aB:cd:ef", mac));
	cr_assert(!pointnic_mac_parse("52:54:00:ab:cd", mac));
	cr_assert(!pointnic_mac_parse("52:54:00:ab:cd:efx", mac));
	cr_assert(!pointnic_mac_parse("52-54-00-ab-cd-ef", mac));
}

static json_t *
records(const char *text)
{
	json_error_t e;
	json_t *r = json_loads(text, 0, &e);

	cr_assert_not_null(r, "%s", e.text);
	return r;
}

#define NET_A "{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\", \"nat\": true, \"ext_if\": \"eth0\"," \
	      " \"bridge\": \"nst-prod\", \"wg\": null}"

/* NET_A with a WireGuard link */
#define NET_WG "{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\", \"nat\": true, \"ext_if\": \"eth0\"," \
	       " \"bridge\": \"nst-prod\", \"wg\": {\"ifname\": \"nsw-prod\", \"port\": 51820," \
	       " \"address\": \"10.99.0.1/24\"}}"

/* a store's table (issue 15, item 3) */
#define TABLE "inet nestor_0123abcd"

/* One table per store, named from its path: stable, distinct, and never
 * the shared table of older versions. */
Test(drnet, table_per_store)
{
	char a[DRNET_NFT_TABLE_LEN], b[DRNET_NFT_TABLE_LEN], a2[DRNET_NFT_TABLE_LEN];

	drnet_nft_table("/var/lib/nestor/store", a);
	drnet_nft_table("/var/lib/nestor/store2", b);
	drnet_nft_table("/var/lib/nestor/store", a2);
	/* FNV-1a 32 of the path: what an operator's script may compute too */
	drnet_nft_table("", b);
	cr_assert_str_eq(b, "inet nestor_811c9dc5");
	drnet_nft_table("/var/lib/nestor/store2", b);
	cr_assert_str_eq(a, a2);
	cr_assert_str_neq(a, b);
	cr_assert_eq(strlen(a), strlen("inet nestor_") + 8, "%s", a);
	cr_assert_eq(strncmp(a, "inet nestor_", 12), 0, "%s", a);
}

/* The shared table is removed by the store whose last script made it. */
Test(drnet, legacy_table_owned_by_its_last_writer)
{
	cr_assert(drnet_nft_legacy_owned("table inet nestor {}\ndelete table inet nestor\n"
					  "table inet nestor {\n\tchain prerouting {\n"));
	cr_assert(drnet_nft_legacy_owned("table inet nestor {}\ndelete table inet nestor\n"));
	cr_assert_not(drnet_nft_legacy_owned("table inet nestor_0123abcd {}\ndelete table "
					     "inet nestor_0123abcd\n"));
	cr_assert_not(drnet_nft_legacy_owned(""));
	cr_assert_not(drnet_nft_legacy_owned(NULL));
}

Test(drnet, ruleset)
{
	json_t *r = records("[{\"group\": \"web\", \"networks\": [" NET_A "], \"dnat\": ["
			    "{\"network\": \"prod\", \"vm\": \"web1\", \"proto\": \"tcp\", \"port\": 443,"
			    " \"to\": \"10.1.0.5\", \"to_port\": 8443}]},"
			    "{\"group\": \"db\", \"networks\": [" NET_A ","
			    "{\"name\": \"back\", \"subnet\": \"10.2.0.0/24\", \"nat\": false,"
			    " \"ext_addr\": \"203.0.113.7\", \"bridge\": \"nst-back\"}], \"dnat\": ["
			    "{\"network\": \"back\", \"vm\": \"db1\", \"proto\": \"udp\", \"port\": 53,"
			    " \"to\": \"10.2.0.9\", \"to_port\": 53}]}]");
	const char *why = NULL;
	char *s = drnet_ruleset(r, TABLE, &why);

	cr_assert_not_null(s, "%s", why);
	/* replaces the table whole: created first so the delete cannot fail */
	cr_assert_eq(strncmp(s, "table " TABLE " {}\ndelete table " TABLE "\ntable " TABLE " {\n",
			     3 * strlen(TABLE) + 33), 0, "%s", s);
	has(s, "ip saddr 10.1.0.0/24 ip daddr != 10.1.0.0/24 oifname \"eth0\" masquerade "
	       "comment \"nestor network prod: nat\"");
	has(s, "iifname \"eth0\" tcp dport 443 dnat ip to 10.1.0.5:8443 comment "
	       "\"nestor group web: publish tcp:443=web1:8443\"");
	has(s, "ip daddr 203.0.113.7 udp dport 53 dnat ip to 10.2.0.9:53");
	has(s, "ip daddr 10.1.0.5 tcp dport 8443 ct status dnat accept");
	has(s, "ct state established,related accept");
	/* nat off: no masquerade for back; prod (in two records) once */
	hasnt(s, "nestor network back: nat");
	cr_assert_eq(strstr(strstr(s, "network prod: nat") + 1, "network prod: nat"), NULL, "%s", s);
	/* nothing else enters a subnet: the last rules of forward, after the
	 * published ports' accepts; every bridge once */
	has(s, "ip daddr 10.1.0.0/24 iifname != { \"nst-prod\", \"nst-back\" } drop comment "
	       "\"nestor network prod: no other way in\"\n");
	has(s, "ip daddr 10.2.0.0/24 iifname != { \"nst-prod\", \"nst-back\" } drop");
	cr_assert_gt(strstr(s, "network prod: no other way in") - strstr(s, "ct status dnat accept"), 0);
	/* no WireGuard link: no input chain */
	hasnt(s, "chain input");
	hasnt(s, "wireguard");
	free(s);
	json_decref(r);
}

/* A network's WireGuard link (issue 15): its UDP port open on input, its
 * interface let into the subnet and counted inside. */
Test(drnet, ruleset_wireguard)
{
	json_t *r = records("[{\"group\": \"web\", \"networks\": [" NET_WG "]}]");
	const char *why = NULL;
	char *s = drnet_ruleset(r, TABLE, &why);

	cr_assert_not_null(s, "%s", why);
	has(s, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
	       "\t\tudp dport 51820 accept comment \"nestor network prod: wireguard\"\n\t}\n");
	has(s, "iifname \"nsw-prod\" ip daddr 10.1.0.0/24 accept comment \"nestor network prod: "
	       "wireguard\"");
	has(s, "ip daddr 10.1.0.0/24 iifname != { \"nst-prod\", \"nsw-prod\" } drop");
	free(s);
	json_decref(r);
}

/* A network shared with a failover made before wireguard was turned on:
 * the link of the later record counts all the same. */
Test(drnet, ruleset_wireguard_of_a_later_record)
{
	json_t *r = records("[{\"group\": \"db\", \"networks\": [" NET_A "]},"
			    "{\"group\": \"web\", \"networks\": [" NET_WG "]}]");
	const char *why = NULL;
	char *s = drnet_ruleset(r, TABLE, &why);

	cr_assert_not_null(s, "%s", why);
	has(s, "udp dport 51820 accept comment \"nestor network prod: wireguard\"");
	has(s, "iifname \"nsw-prod\" ip daddr 10.1.0.0/24 accept");
	has(s, "ip daddr 10.1.0.0/24 iifname != { \"nst-prod\", \"nsw-prod\" } drop");
	free(s);
	json_decref(r);
}

Test(drnet, ruleset_empty_removes_the_table)
{
	json_t *r = json_array();
	const char *why = NULL;
	char *s = drnet_ruleset(r, TABLE, &why);

	cr_assert_str_eq(s, "table " TABLE " {}\ndelete table " TABLE "\n");
	free(s);
	json_decref(r);
}

/* Records are files: nothing from them reaches the script unchecked. */
Test(drnet, ruleset_malformed)
{
	static const char *bad[] = {
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\","
		" \"nat\": true, \"ext_if\": \"eth0\\\" accept\"}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\","
		" \"nat\": true, \"ext_if\": \"eth0\", \"bridge\": \"nst-prod\\\" accept\"}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\","
		" \"nat\": true, \"ext_if\": \"eth0\", \"bridge\": \"nst-prod\", \"wg\": {\"ifname\":"
		" \"nsw\\\" accept\", \"port\": 1, \"address\": \"10.99.0.1/24\"}}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\","
		" \"nat\": true, \"ext_if\": \"eth0\", \"bridge\": \"nst-prod\", \"wg\": {\"ifname\":"
		" \"nsw-prod\", \"port\": 0, \"address\": \"10.99.0.1/24\"}}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\","
		" \"nat\": true, \"ext_if\": \"eth0\", \"bridge\": \"nst-prod\", \"wg\": 5}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/33\","
		" \"ext_if\": \"eth0\"}]}]",
		"[{\"group\": \"web\", \"networks\": [{\"name\": \"prod\", \"subnet\": \"10.1.0.0/24\"}]}]",
		"[{\"group\": \"w b\", \"networks\": [" NET_A "]}]",
		"[{\"group\": \"web\", \"networks\": [" NET_A "], \"dnat\": [{\"network\": \"prod\","
		" \"vm\": \"web1\", \"proto\": \"tcp\", \"port\": 443, \"to\": \"10.1.0.5; drop\","
		" \"to_port\": 1}]}]",
		"[{\"group\": \"web\", \"networks\": [" NET_A "], \"dnat\": [{\"network\": \"prod\","
		" \"vm\": \"web1\", \"proto\": \"icmp\", \"port\": 1, \"to\": \"10.1.0.5\", \"to_port\": 1}]}]",
		"[{\"group\": \"web\", \"networks\": [" NET_A "], \"dnat\": [{\"network\": \"other\","
		" \"vm\": \"web1\", \"proto\": \"tcp\", \"port\": 1, \"to\": \"10.1.0.5\", \"to_port\": 1}]}]",
		"[{\"group\": \"web\", \"networks\": [" NET_A "], \"dnat\": [{\"network\": \"prod\","
		" \"vm\": \"web1\", \"proto\": \"tcp\", \"port\": 70000, \"to\": \"10.1.0.5\", \"to_port\": 1}]}]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = records(bad[i]);
		const char *why = NULL;
		char *s = drnet_ruleset(r, TABLE, &why);

		cr_assert_null(s, "accepted %s:\n%s", bad[i], s);
		cr_assert_str_eq(why, "a failover's network record is malformed");
		json_decref(r);
	}
}
