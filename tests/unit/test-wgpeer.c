/* Unit tests for the WireGuard site link's keys and peers (failover/wgkey.c,
 * failover/wgpeer.c, issue 15). */
#define _GNU_SOURCE
#include "failover/wgpeer.h"

#include "common/fileutil.h"
#include "failover/wgkey.h"
#include "replicator/config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(wgpeer, root, "nestor-wgpeer");

static uint32_t
ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1, "%s", s);
	return ntohl(a.s_addr);
}

/* prod: 10.1.0.0/24, its link 10.99.0.1/29 (host addresses .1-.6) */
static struct receiver_network_cfg
net_prod(void)
{
	struct receiver_network_cfg n = { .name = "prod", .subnet = ip("10.1.0.0"), .prefix = 24,
					  .wireguard = true, .wg_port = 51820,
					  .wg_addr = ip("10.99.0.1"), .wg_prefix = 29 };
	return n;
}

static int
add(const struct receiver_network_cfg *n, const char *name, const char *addr, const char *routes,
    const char *pub, struct wgpeer *out)
{
	return wgpeer_add(root, n, &(struct wgpeer_req){ name, addr, routes, pub, NULL, 0 }, out);
}

static mode_t
mode_of(const char *file)
{
	char p[128];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/.wireguard/%s", root, file);
	cr_assert_eq(stat(p, &sb), 0, "%s", p);
	return sb.st_mode & 07777;
}

/* RFC 7748, 6.1: Alice's key pair (raw bytes, in base64 here). */
Test(wgpeer, key_public_of_rfc7748)
{
	char pub[WGKEY_LEN + 1];

	cr_assert_eq(wgkey_public("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", pub), 0);
	cr_assert_str_eq(pub, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
}

Test(wgpeer, key_generate_and_valid)
{
	char a[WGKEY_LEN + 1], b[WGKEY_LEN + 1], pub[WGKEY_LEN + 1];
	char *log;

	cr_assert_eq(wgkey_generate(a), 0);
	cr_assert_eq(wgkey_generate(b), 0);
	cr_assert_str_neq(a, b);
	cr_assert(wgkey_valid(a));
	cr_assert_eq(wgkey_public(a, pub), 0);
	cr_assert(wgkey_valid(pub));
	cr_assert_not(wgkey_valid(NULL));
	cr_assert_not(wgkey_valid(""));
	cr_assert_not(wgkey_valid("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo"));
	cr_assert_not(wgkey_valid("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=="));
	cr_assert_not(wgkey_valid("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L*o="));
	cr_assert_not(wgkey_valid("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=x"));
	cap_start();
	cr_assert_eq(wgkey_public("not a key", pub), -1);
	log = cap_stop();
	cr_assert(strstr(log, "malformed") != NULL, "%s", log);
	free(log);
}

/* Made once, mode 0600; the same public key on every later call. */
Test(wgpeer, host_key_made_once)
{
	char a[WGKEY_LEN + 1], b[WGKEY_LEN + 1], *path = wgpeer_host_key_path(root);
	void *data = NULL;
	size_t len = 0;

	cr_assert_eq(wgpeer_host_key(root, a), 0);
	cr_assert_eq(mode_of("private.key"), 0600);
	cr_assert_eq(file_read_all(path, 100, &data, &len), 0);
	cr_assert_eq(len, WGKEY_LEN + 1);
	cr_assert_eq(((char *)data)[WGKEY_LEN], '\n');
	cr_assert_eq(wgpeer_host_key(root, b), 0);
	cr_assert_str_eq(a, b);
	free(data);
	cr_assert_eq(file_write_atomic(path, "junk\n", 5, 0600), 0);
	cap_start();
	cr_assert_eq(wgpeer_host_key(root, b), -1);
	free(cap_stop());
	free(path);
}

Test(wgpeer, add_list_remove)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p, q, *all = NULL;
	size_t np = 99;
	char *log, pub[WGKEY_LEN + 1];

	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	cr_assert_eq(np, 0);
	cr_assert_null(all);
	cr_assert_eq(add(&n, "laptop", NULL, NULL, NULL, &p), 0);
	cr_assert_eq(p.addr, ip("10.99.0.2"), "the lowest free, not the host's .1");
	cr_assert_eq(wgkey_public(p.priv, pub), 0);
	cr_assert_str_eq(pub, p.pub);
	cr_assert_eq(add(&n, "branch", "10.99.0.5", NULL, NULL, &q), 0);
	cr_assert_eq(mode_of("peers.json"), 0600);
	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	cr_assert_eq(np, 2);
	cr_assert_str_eq(wgpeer_find(all, np, "prod", "branch")->pub, q.pub);
	cr_assert_str_eq(wgpeer_find(all, np, "prod", "laptop")->priv, p.priv);
	cr_assert_null(wgpeer_find(all, np, "other", "laptop"));
	wgpeer_free(all, np);

	static const struct { const char *name, *addr, *msg; } bad[] = {
		{ "laptop", NULL, "peer laptop exists already" },
		{ "x", "10.99.0.5", "address 10.99.0.5 is not a free host address" },
		{ "x", "10.99.0.1", "not a free host address" },   /* the host's */
		{ "x", "10.99.0.7", "not a free host address" },   /* broadcast */
		{ "x", "10.99.0.8", "not a free host address" },   /* outside */
		{ "x", "10.99.0.3/32", "not a free host address" },
		{ "../x", NULL, "peer name '../x' is not valid" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cap_start();
		cr_assert_eq(add(&n, bad[i].name, bad[i].addr, NULL, NULL, &q), -1, "%zu", i);
		log = cap_stop();
		cr_assert(strstr(log, bad[i].msg) != NULL, "want '%s' in %s", bad[i].msg, log);
		free(log);
	}
	/* .3, .4, .6 left, then none */
	cr_assert_eq(add(&n, "a", NULL, NULL, NULL, &q), 0);
	cr_assert_eq(q.addr, ip("10.99.0.3"));
	cr_assert_eq(add(&n, "b", NULL, NULL, NULL, &q), 0);
	cr_assert_eq(add(&n, "c", NULL, NULL, NULL, &q), 0);
	cr_assert_eq(q.addr, ip("10.99.0.6"));
	cap_start();
	cr_assert_eq(add(&n, "d", NULL, NULL, NULL, &q), -1);
	log = cap_stop();
	cr_assert(strstr(log, "no free address left") != NULL, "%s", log);
	free(log);

	cr_assert_eq(wgpeer_remove(root, "prod", "branch", &q), 0);
	cr_assert_str_eq(q.name, "branch");
	cr_assert_eq(q.addr, ip("10.99.0.5"));
	cr_assert_eq(q.priv[0], '\0', "the removed peer's private key is not handed out");
	cap_start();
	cr_assert_eq(wgpeer_remove(root, "prod", "branch", &q), -1);
	log = cap_stop();
	cr_assert(strstr(log, "no peer branch") != NULL, "%s", log);
	free(log);
	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	cr_assert_eq(np, 4);
	cr_assert_null(wgpeer_find(all, np, "prod", "branch"));
	wgpeer_free(all, np);
	/* its address is free again */
	cr_assert_eq(add(&n, "d", NULL, NULL, NULL, &q), 0);
	cr_assert_eq(q.addr, ip("10.99.0.5"));
}

Test(wgpeer, add_refused_with_wireguard_off)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p;
	char *log;

	n.wireguard = false;
	cap_start();
	cr_assert_eq(add(&n, "laptop", NULL, NULL, NULL, &p), -1);
	log = cap_stop();
	cr_assert(strstr(log, "network prod: wireguard is off") != NULL, "%s", log);
	free(log);
}

/* peers.json is a file: a malformed one is an error, never half read. */
Test(wgpeer, malformed_peers_refused)
{
#define KEY "\"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\""
#define PEER(net, name, pub, addr, allowed) \
	"{\"peers\": [{\"network\": \"" net "\", \"name\": \"" name "\", \"public_key\": " pub \
	", \"private_key\": " KEY ", \"address\": \"" addr "\", \"allowed_ips\": " allowed "}]}"
	static const char *bad[] = {
		"[]",
		"{\"peers\": 5}",
		PEER("prod", "a", "\"x\"", "10.99.0.2", "[\"10.99.0.2/32\"]"),
		PEER("prod", "a b", KEY, "10.99.0.2", "[\"10.99.0.2/32\"]"),
		PEER("prod", "a", KEY, "10.99.0.2/32", "[\"10.99.0.2/32\"]"),
		PEER("prod", "a", KEY, "10.99.0.2", "[]"),                       /* no address */
		PEER("prod", "a", KEY, "10.99.0.2", "[\"10.99.0.3/32\"]"),
		PEER("prod", "a", KEY, "10.99.0.2", "[\"10.99.0.2/32\", \"172.16.5.1/24\"]"),
		PEER("prod", "a", KEY, "10.99.0.2", "\"10.99.0.2/32\""),
		"{\"peers\": [{\"network\": \"prod\", \"name\": \"a\", \"public_key\": " KEY
		", \"private_key\": " KEY ", \"address\": \"10.99.0.2\"}]}",
	};
	static const char *good = PEER("prod", "a", KEY, "10.99.0.2",
				       "[\"10.99.0.2/32\", \"172.16.5.0/24\"]");
	struct wgpeer *all = NULL;
	size_t np = 0;
	char dir[128], path[160];

	snprintf(dir, sizeof(dir), "%s/.wireguard", root);
	snprintf(path, sizeof(path), "%s/peers.json", dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *log;

		cr_assert_eq(file_write_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
		cap_start();
		cr_assert_eq(wgpeer_load(root, &all, &np), -1, "%s", bad[i]);
		log = cap_stop();
		cr_assert(strstr(log, "peers.json") != NULL, "%s", log);
		cr_assert_null(all);
		free(log);
	}
	cr_assert_eq(file_write_atomic(path, good, strlen(good), 0600), 0);
	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	cr_assert_eq(np, 1);
	cr_assert_eq(all[0].nroutes, 1);
	cr_assert_eq(all[0].routes[0], ip("172.16.5.0"));
	cr_assert_eq(all[0].route_prefix[0], 24);
	wgpeer_free(all, np);
#undef PEER
#undef KEY
}

/* A branch router's LAN behind its peer: allowed IPs and routes, apart
 * from the DR subnets and from the other peers' networks. */
Test(wgpeer, routes)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p, *all = NULL;
	char allowed[WGPEER_ALLOWED_LEN], *log;
	size_t np = 0;

	cr_assert_eq(add(&n, "branch", NULL, "172.16.5.0/24,192.168.7.128/25", NULL, &p), 0);
	wgpeer_allowed_ips(&p, allowed);
	cr_assert_str_eq(allowed, "10.99.0.2/32,172.16.5.0/24,192.168.7.128/25");
	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	wgpeer_allowed_ips(&all[0], allowed);
	cr_assert_str_eq(allowed, "10.99.0.2/32,172.16.5.0/24,192.168.7.128/25");
	wgpeer_free(all, np);

	static const struct { const char *routes, *msg; } bad[] = {
		{ "172.16.5.0/25", "route '172.16.5.0/25'" },           /* another peer's */
		{ "10.1.0.0/16", "route '10.1.0.0/16'" },               /* the DR subnet */
		{ "10.99.0.0/28", "route '10.99.0.0/28'" },             /* the tunnel */
		{ "172.17.0.1/24", "route '172.17.0.1/24'" },           /* host bits */
		{ "172.17.0.0/7", "route '172.17.0.0/7'" },
		{ "172.17.0.0", "route '172.17.0.0'" },
		{ "172.17.0.0/24,172.17.0.0/25", "route '172.17.0.0/25'" },
		{ "172.17.0.0/24,", NULL },
		{ "1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,6.0.0.0/8,7.0.0.0/8,"
		  "8.0.0.0/8,9.0.0.0/8", "route '9.0.0.0/8'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		cap_start();
		rc = add(&n, "x", NULL, bad[i].routes, NULL, &p);
		log = cap_stop();
		if (!bad[i].msg) {
			/* a trailing comma ends the list */
			cr_assert_eq(rc, 0, "%s: %s", bad[i].routes, log);
			cr_assert_eq(wgpeer_remove(root, "prod", "x", &p), 0);
		} else {
			cr_assert_eq(rc, -1, "%s", bad[i].routes);
			cr_assert(strstr(log, bad[i].msg) != NULL, "want '%s' in %s", bad[i].msg, log);
		}
		free(log);
	}

	/* another DR network's subnet or tunnel, and another network's peer's
	 * LAN: the host has one routing table */
	struct receiver_network_cfg nets[2] = { n, net_prod() };
	struct receiver_network_cfg *dev = &nets[1];
	static const char *taken[] = { "10.2.0.0/24", "10.98.0.0/30", "172.16.5.128/25",
				       "10.99.0.0/24" };

	snprintf(dev->name, sizeof(dev->name), "dev");
	dev->subnet = ip("10.2.0.0");
	dev->wg_addr = ip("10.98.0.1");
	dev->wg_port = 51821;
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		cap_start();
		cr_assert_eq(wgpeer_add(root, dev, &(struct wgpeer_req){ "y", NULL, taken[i], NULL,
									nets, 2 }, &p), -1, "%s", taken[i]);
		log = cap_stop();
		cr_assert(strstr(log, "overlaps a DR subnet") != NULL, "%s", log);
		free(log);
	}
	cr_assert_eq(wgpeer_add(root, dev, &(struct wgpeer_req){ "y", NULL, "172.18.0.0/16", NULL,
								nets, 2 }, &p), 0);
}

Test(wgpeer, quick_conf)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p = { .network = "prod", .name = "branch", .addr = ip("10.99.0.5"),
			    .priv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=" };
	char *s = wgpeer_quick_conf(&n, &p, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
				    "198.51.100.1:51820");

	cr_assert_not_null(s);
	cr_assert(strstr(s, "[Interface]\nAddress = 10.99.0.5/32\n"
			    "PrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n\n[Peer]\n"
			    "PublicKey = hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
			    "Endpoint = 198.51.100.1:51820\n"
			    "AllowedIPs = 10.1.0.0/24, 10.99.0.0/29\n") != NULL, "%s", s);
	cr_assert_null(strstr(s, "DNS"), "%s", s);
	free(s);
}

/* With dns, the file hands the resolvers to the peer; without, no DNS line
 * (quick_conf above). */
Test(wgpeer, quick_conf_dns)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p = { .network = "prod", .name = "laptop", .addr = ip("10.99.0.6"),
			    .priv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=" };
	char *s;

	n.dns[0] = ip("10.1.0.53");
	n.dns[1] = ip("9.9.9.9");
	n.ndns = 2;
	s = wgpeer_quick_conf(&n, &p, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", "h:1");
	cr_assert_not_null(s);
	cr_assert(strstr(s, "[Interface]\nAddress = 10.99.0.6/32\nDNS = 10.1.0.53, 9.9.9.9\n"
			    "PrivateKey = ") != NULL, "%s", s);
	cr_assert_null(strstr(strstr(s, "DNS =") + 1, "DNS ="), "one DNS line: %s", s);
	p.priv[0] = '\0';
	snprintf(p.pub, sizeof(p.pub), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
	free(s);
	s = wgpeer_quick_conf(&n, &p, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "h:1");
	cr_assert(strstr(s, "Address = 10.99.0.6/32\nDNS = 10.1.0.53, 9.9.9.9\nPostUp = ") != NULL,
		  "%s", s);
	free(s);
}

/* A peer that made its own key pair: its public key only; the file reads
 * the private key on the peer. */
Test(wgpeer, own_public_key)
{
	struct receiver_network_cfg n = net_prod();
	struct wgpeer p, *all = NULL;
	size_t np = 0;
	char *s, *log;

	cr_assert_eq(add(&n, "laptop", NULL, NULL, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", &p), 0);
	cr_assert_str_eq(p.pub, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
	cr_assert_eq(p.priv[0], '\0');
	cr_assert_eq(wgpeer_load(root, &all, &np), 0);
	cr_assert_eq(np, 1);
	cr_assert_eq(all[0].priv[0], '\0');
	s = wgpeer_quick_conf(&n, &all[0], "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "h:1");
	cr_assert(strstr(s, "[Interface]\nAddress = 10.99.0.2/32\n"
			    "PostUp = wg set %i private-key /etc/wireguard/%i.key\n") != NULL, "%s", s);
	cr_assert_null(strstr(s, "PrivateKey"), "%s", s);
	free(s);
	wgpeer_free(all, np);
	cap_start();
	cr_assert_eq(add(&n, "again", NULL, NULL, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", &p), -1);
	log = cap_stop();
	cr_assert(strstr(log, "peer laptop has that public key already") != NULL, "%s", log);
	free(log);
	cap_start();
	cr_assert_eq(add(&n, "bad", NULL, NULL, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo", &p), -1);
	log = cap_stop();
	cr_assert(strstr(log, "is not a WireGuard public key") != NULL, "%s", log);
	free(log);
}
