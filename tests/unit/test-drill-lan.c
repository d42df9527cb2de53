/* Unit tests for failover/drill-lan.c (a drill's isolated copy of a DR
 * network: names, libvirt XML, dnsmasq arguments, its record) and the run
 * record and lock of failover/drill-sweep.c (issue 15). */
#define _GNU_SOURCE
#include "failover/drill-lan.h"
#include "failover/drill-sweep.h"

#include "common/fileutil.h"
#include "replicator/config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

#define ID "20261206T164500-1a2b"

/* A failover's [network]: NAT and a published port a drill must not take. */
static struct receiver_network_cfg
prod(void)
{
	static char pub_vm[] = "web1";
	struct receiver_network_cfg n = {
		.name = "prod", .bridge = "nst-prod", .subnet = 0x0a010000, .prefix = 24,
		.gateway = 0x0a010001, .dhcp = true, .dhcp_first = 0x0a010080,
		.dhcp_last = 0x0a0100fe, .nat = true, .dns = { 0x0a010035 }, .ndns = 1,
		.npublish = 1, .external = "eth0",
	};
	snprintf(n.publish[0].vm, sizeof(n.publish[0].vm), "%s", pub_vm);
	n.publish[0].port = 443;
	n.publish[0].vm_port = 443;
	return n;
}

static void
lan(struct drill_lan *l)
{
	struct receiver_network_cfg n = prod();

	cr_assert_eq(drill_lan_init(l, &n, ID, 0, 0xdeadbeef), 0);
}

#define has(s, sub) cr_assert(strstr((s), (sub)) != NULL, "no '%s' in:\n%s", (sub), (s))
#define hasnt(s, sub) cr_assert(strstr((s), (sub)) == NULL, "'%s' in:\n%s", (sub), (s))

Test(drill_lan, names_per_drill)
{
	struct drill_lan a, b;
	struct receiver_network_cfg n = prod();

	lan(&a);
	cr_assert_str_eq(a.libvirt, "nestor-drill-" ID "-0");
	cr_assert_str_eq(a.netns, "nestor-drill-" ID "-0");
	cr_assert_str_eq(a.bridge, "ndldeadbeef");
	cr_assert_str_eq(a.veth, "ndgdeadbeef");
	/* same subnet and gateway as on-prem */
	cr_assert_eq(a.subnet, 0x0a010000);
	cr_assert_eq(a.gateway, 0x0a010001);
	cr_assert_eq(drill_lan_init(&b, &n, "20261206T164501-ffff", 1, 0x1), 0);
	cr_assert_str_neq(a.libvirt, b.libvirt);
	cr_assert_str_neq(a.netns, b.netns);
	cr_assert_str_eq(b.bridge, "ndl00000001");
	cap_start();
	cr_assert_eq(drill_lan_init(&b, &n, "an-id-far-too-long-for-interface-names", 0, 1), -1);
	free(cap_stop());
}

Test(drill_lan, network_xml_isolated)
{
	struct drill_lan l;
	char *x;

	lan(&l);
	x = drill_lan_network_xml(&l);
	cr_assert_str_eq(x, "<network><name>nestor-drill-" ID "-0</name>"
		"<bridge name='ndldeadbeef' stp='off'/></network>");
	cr_assert(drill_lan_xml_isolated(x));
	/* nothing of the failover's NAT, publish or external side */
	hasnt(x, "forward");
	hasnt(x, "eth0");
	hasnt(x, "443");
	free(x);
	cr_assert_not(drill_lan_xml_isolated("<network><forward mode='nat'/><bridge name='x'/></network>"));
	cr_assert_not(drill_lan_xml_isolated("<network><bridge name='x'/><ip address='10.1.0.1'/></network>"));
	cr_assert_not(drill_lan_xml_isolated("<network><bridge name='x'/><route address='0.0.0.0'/></network>"));
	cr_assert_not(drill_lan_xml_isolated("<network><name>x</name></network>"));
}

Test(drill_lan, reservations)
{
	struct drill_lan l;
	char *log;

	lan(&l);
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:05", 0x0a010005, "web1", "t"), 0);
	cap_start();
	/* the gateway, outside the subnet, its broadcast, an address taken */
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:06", 0x0a010001, "gw", "t"), 1);
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:07", 0x0a020005, "far", "t"), 1);
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:08", 0x0a0100ff, "bc", "t"), 1);
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:09", 0x0a010005, "twin", "t"), 1);
	log = cap_stop();
	has(log, "10.1.0.5 is reserved for web1 already");
	has(log, "10.2.0.5 is not a guest address of network prod");
	free(log);
	/* the same MAC twice: the first address stays */
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:00:05", 0x0a010006, "web1", "t"), 1);
	cr_assert_eq(l.nhosts, 1);
	cr_assert_str_eq(l.hosts[0].ip, "10.1.0.5");
	for (uint32_t i = 1; i < DRILL_LAN_MAX_HOSTS; i++) {
		char mac[18];

		snprintf(mac, sizeof(mac), "52:54:00:00:01:%02x", i);
		cr_assert_eq(drill_lan_reserve(&l, mac, 0x0a010010 + i, "vm", "t"), 0);
	}
	cr_assert_eq(drill_lan_reserve(&l, "52:54:00:00:02:00", 0x0a0100f0, "vm", "t"), -1);
}

Test(drill_lan, dnsmasq_argv)
{
	struct drill_lan l;
	char **argv, *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);

	lan(&l);
	drill_lan_reserve(&l, "52:54:00:00:00:05", 0x0a010005, "web1", "t");
	argv = drill_lan_dnsmasq_argv(&l, "/store/g/drills/x");
	cr_assert_not_null(argv);
	for (size_t i = 0; argv[i]; i++)
		fprintf(f, "%s\n", argv[i]);
	fclose(f);
	has(all, "--conf-file=/dev/null\n");
	has(all, "--port=0\n");
	has(all, "--interface=gw\n--bind-interfaces\n");
	has(all, "--pid-file=/store/g/drills/x/nestor-drill-" ID "-0.pid\n");
	has(all, "--dhcp-leasefile=/store/g/drills/x/nestor-drill-" ID "-0.leases\n");
	has(all, "--dhcp-range=10.1.0.128,10.1.0.254,255.255.255.0\n");
	has(all, "--dhcp-option=3,10.1.0.1\n");
	has(all, "--dhcp-option=6,10.1.0.53\n");
	has(all, "--dhcp-host=52:54:00:00:00:05,10.1.0.5\n");
	drill_lan_argv_free(argv);
	free(all);
}

Test(drill_lan, record_round_trip)
{
	struct drill_lan l, back;
	const char *why = NULL;
	json_t *j;

	lan(&l);
	drill_lan_reserve(&l, "52:54:00:00:00:05", 0x0a010005, "web1", "t");
	j = drill_lan_to_json(&l);
	cr_assert_not_null(j);
	cr_assert_eq(drill_lan_from_json(j, &back, &why), 0, "%s", why);
	cr_assert_str_eq(back.netns, l.netns);
	cr_assert_str_eq(back.bridge, l.bridge);
	cr_assert_str_eq(back.veth, l.veth);
	cr_assert_eq(back.subnet, l.subnet);
	cr_assert_eq(back.prefix, 24);
	cr_assert_eq(back.gateway, l.gateway);
	cr_assert_eq(back.nhosts, 1);
	cr_assert_str_eq(back.hosts[0].mac, "52:54:00:00:00:05");
	cr_assert_eq(back.ndns, 1);
	json_decref(j);
}

/* A record whose key is replaced by value is refused, saying why. */
static void
refused(const char *key, json_t *value, const char *want)
{
	struct drill_lan l, back;
	const char *why = NULL;
	json_t *j;

	lan(&l);
	j = drill_lan_to_json(&l);
	json_object_set_new(j, key, value);
	cr_assert_eq(drill_lan_from_json(j, &back, &why), -1, "%s accepted", key);
	has(why, want);
	json_decref(j);
}

Test(drill_lan, record_refused)
{
	/* a sweep removes by these names: only names a drill makes */
	refused("netns", json_string("prod"), "not one a drill makes");
	refused("libvirt", json_string("default"), "not one a drill makes");
	refused("bridge", json_string("virbr0"), "not one a drill makes");
	refused("veth", json_string("eth0"), "not one a drill makes");
	refused("veth", json_string("ndg0123456789abcdef"), "malformed");
	refused("netns", json_string("../../etc"), "malformed");
	refused("bridge", json_integer(1), "malformed");
	refused("gateway", json_string("10.1.0.300"), "address");
	refused("prefix", json_integer(31), "address");
	refused("hosts", json_pack("[{s:s, s:s, s:s}]", "mac", "ff:ff:ff:ff:ff:ff", "ip",
				   "10.1.0.5", "name", "x"), "reservation");
	refused("dns", json_pack("[s]", "nope"), "resolver");
}

Test(drill_sweep, record_and_lock)
{
	char dir[64], path[128];
	json_t *rec = json_pack("{s:i}", "version", 1);
	int fd, busy;
	char *log;

	tmpdir_make(dir, sizeof(dir), "drill-sweep");
	fd = drill_sweep_lock(dir);
	cr_assert_geq(fd, 0);
	/* a second taker (a sweep, another drill) finds it held */
	cap_start();
	busy = drill_sweep_lock(dir);
	log = cap_stop();
	cr_assert_eq(busy, -1);
	cr_assert_eq(errno, EWOULDBLOCK);
	has(log, "cannot lock");
	free(log);
	close(fd);
	fd = drill_sweep_lock(dir);
	cr_assert_geq(fd, 0, "released with its fd");
	close(fd);

	cr_assert_eq(drill_sweep_save(dir, rec), 0);
	snprintf(path, sizeof(path), "%s/run.json", dir);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(drill_sweep_remove(dir), 0);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(drill_sweep_remove(dir), 0, "absent is fine");
	json_decref(rec);
	tmpdir_remove(dir);
}
