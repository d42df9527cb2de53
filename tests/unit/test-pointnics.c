/* Unit tests for failover/pointnics.c: vms[].nics of a point's metadata read
 * as untrusted input (issue 15, "Addresses travel with the point"). */
#define _GNU_SOURCE
#include "common/fileutil.h"
#include "failover/pointnics.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"

static json_t *
meta_of(const char *nics_json)
{
	char *s = NULL;
	json_error_t e;
	json_t *m;

	cr_assert(asprintf(&s, "{\"version\":1,\"vms\":[{\"name\":\"web1\",\"nics\":%s}]}",
			   nics_json) > 0);
	m = json_loads(s, 0, &e);
	cr_assert_not_null(m, "%s: %s", s, e.text);
	free(s);
	return m;
}

/* Read vm 0 of meta built from nics_json; the log in *log (malloc'd). */
static size_t
read_nics(const char *nics_json, struct pointnic *out, char **log)
{
	json_t *m = meta_of(nics_json);
	size_t n;

	cap_start();
	n = pointnics_read(m, 0, out, "group web point 4");
	*log = cap_stop();
	json_decref(m);
	return n;
}

Test(pointnics, good_entries_read_as_written)
{
	struct pointnic n[POINTNICS_MAX];
	char *log;
	size_t cnt = read_nics(
		"[{\"mac\":\"52:54:00:12:34:56\",\"network\":\"onprem-net\","
		"\"addresses\":[\"10.1.0.5/24\",\"fd00::5/64\"],\"origin\":\"agent\"},"
		"{\"mac\":\"52:54:00:AB:CD:EF\",\"network\":\"br0\",\"addresses\":[],\"origin\":\"none\"},"
		"{\"mac\":\"52:54:00:00:00:07\",\"addresses\":[\"192.168.1.7/32\"],\"origin\":\"lease\"}]",
		n, &log);

	cr_assert_eq(cnt, 3);
	cr_assert_str_empty(log, "no warning for good input: %s", log);
	cr_assert_str_eq(n[0].mac, "52:54:00:12:34:56");
	cr_assert_str_eq(n[0].network, "onprem-net");
	cr_assert_eq(n[0].origin, POINTNIC_AGENT);
	cr_assert_eq(n[0].naddrs, 2);
	cr_assert_eq(n[0].addrs[0].family, AF_INET);
	cr_assert_eq(n[0].addrs[0].prefix, 24);
	cr_assert_eq(memcmp(n[0].addrs[0].addr, "\x0a\x01\x00\x05", 4), 0);
	cr_assert_str_eq(n[0].addrs[0].text, "10.1.0.5/24");
	cr_assert_eq(n[0].addrs[1].family, AF_INET6);
	cr_assert_eq(n[0].addrs[1].prefix, 64);
	cr_assert_str_eq(n[0].addrs[1].text, "fd00::5/64");
	cr_assert_str_eq(n[1].mac, "52:54:00:ab:cd:ef", "MAC kept in lower case");
	cr_assert_eq(n[1].origin, POINTNIC_NONE);
	cr_assert_eq(n[1].naddrs, 0);
	cr_assert_str_empty(n[2].network, "no network: empty");
	cr_assert_eq(n[2].origin, POINTNIC_LEASE);
	cr_assert_str_eq(pointnic_origin_name(n[2].origin), "lease");
	free(log);
}

Test(pointnics, no_vm_or_no_nics_is_empty)
{
	struct pointnic n[POINTNICS_MAX];
	json_t *m = json_loads("{\"vms\":[{\"name\":\"a\"}]}", 0, NULL);

	cr_assert_eq(pointnics_read(m, 0, n, "t"), 0);
	cr_assert_eq(pointnics_read(m, 5, n, "t"), 0, "VM out of range");
	cr_assert_eq(pointnics_read(NULL, 0, n, "t"), 0);
	json_decref(m);
}

Test(pointnics, hostile_entries_dropped_with_a_warning)
{
	struct pointnic n[POINTNICS_MAX];
	char *log;
	size_t cnt = read_nics(
		"[17, \"x\", {\"mac\":\"52:54:00:12:34\"}, {\"mac\":\"52-54-00-12-34-56\"},"
		"{\"mac\":\"01:00:5e:00:00:01\"}, {\"mac\":\"00:00:00:00:00:00\"},"
		"{\"mac\":\"52:54:00:12:34:5g\"}, {\"mac\":12},"
		"{\"mac\":\"52:54:00:00:00:01\",\"origin\":\"dns\"},"
		"{\"mac\":\"52:54:00:00:00:02\",\"network\":\"../etc\",\"origin\":\"arp\","
		" \"addresses\":[\"10.1.0.1\",\"10.1.0.2/33\",\"fe80::1%eth0/64\",\"010.1.0.3/24\","
		"  \"10.1.0.4/024\",\"10.1.0.5/-1\",7,\"10.1.0.9/8\"]},"
		"{\"mac\":\"52:54:00:00:00:02\",\"origin\":\"none\"},"
		"{\"mac\":\"52:54:00:00:00:03\",\"origin\":\"none\",\"addresses\":[\"10.0.0.1/8\"]},"
		"{\"mac\":\"52:54:00:00:00:04\",\"origin\":\"agent\",\"addresses\":\"10.0.0.1/8\"}]",
		n, &log);

	cr_assert_eq(cnt, 3, "kept: ..:02, ..:03, ..:04 (got %zu)", cnt);
	cr_assert_str_eq(n[0].mac, "52:54:00:00:00:02");
	cr_assert_str_empty(n[0].network, "an invalid network name is cleared");
	cr_assert_eq(n[0].naddrs, 1, "only the good address stays");
	cr_assert_str_eq(n[0].addrs[0].text, "10.1.0.9/8");
	cr_assert_eq(n[0].origin, POINTNIC_ARP);
	cr_assert_eq(n[1].naddrs, 0, "origin none keeps no address");
	cr_assert_eq(n[1].origin, POINTNIC_NONE);
	cr_assert_eq(n[2].naddrs, 0, "addresses not a list");
	cr_assert_eq(n[2].origin, POINTNIC_NONE, "no address left: origin none");
	cr_assert(strstr(log, "NIC 0 dropped: not an object"), "%s", log);
	cr_assert(strstr(log, "NIC 3 dropped: MAC 52-54-00-12-34-56 is not"), "%s", log);
	cr_assert(strstr(log, "NIC 4 dropped: MAC 01:00:5e:00:00:01"), "multicast: %s", log);
	cr_assert(strstr(log, "NIC 7 dropped: MAC (missing)"), "%s", log);
	cr_assert(strstr(log, "unknown origin dns"), "%s", log);
	cr_assert(strstr(log, "MAC 52:54:00:00:00:02 listed twice"), "%s", log);
	cr_assert(strstr(log, "network name not valid"), "%s", log);
	cr_assert(strstr(log, "address 10.1.0.2/33 dropped"), "%s", log);
	cr_assert(strstr(log, "address 010.1.0.3/24 dropped"), "%s", log);
	cr_assert(strstr(log, "address 10.1.0.4/024 dropped"), "%s", log);
	cr_assert(strstr(log, "address (not a string) dropped"), "%s", log);
	cr_assert(strstr(log, "addresses with origin none"), "%s", log);
	cr_assert(strstr(log, "addresses is not a list"), "%s", log);
	cr_assert(strstr(log, "group web point 4"), "context named: %s", log);
	free(log);
}

Test(pointnics, oversized_lists_are_capped)
{
	struct pointnic n[POINTNICS_MAX];
	char buf[16384], *log;
	size_t off = 0, cnt;

	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "[");
	for (int i = 0; i < 40; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"%s{\"mac\":\"52:54:00:00:01:%02x\",\"origin\":\"lease\","
					"\"addresses\":[\"10.0.0.1/8\",\"10.0.0.2/8\",\"10.0.0.3/8\","
					"\"10.0.0.4/8\",\"10.0.0.5/8\",\"10.0.0.6/8\",\"10.0.0.7/8\","
					"\"10.0.0.8/8\",\"10.0.0.9/8\",\"10.0.0.10/8\"]}",
					i ? "," : "", i);
	snprintf(buf + off, sizeof(buf) - off, "]");
	cr_assert_lt(off, sizeof(buf) - 2);
	cnt = read_nics(buf, n, &log);
	cr_assert_eq(cnt, POINTNICS_MAX);
	for (size_t i = 0; i < cnt; i++)
		cr_assert_eq(n[i].naddrs, POINTNICS_MAX_ADDRS);
	cr_assert_str_eq(n[POINTNICS_MAX - 1].addrs[POINTNICS_MAX_ADDRS - 1].text, "10.0.0.8/8");
	cr_assert(strstr(log, "40 NICs, only the first 16 read"), "%s", log);
	cr_assert(strstr(log, "10 addresses, only the first 8 read"), "%s", log);
	free(log);
}

Test(pointnics, parsers_strict)
{
	struct pointnic_addr a;
	char mac[18];

	cr_assert(pointnic_addr_parse("0.0.0.0/0", &a));
	cr_assert(pointnic_addr_parse("2001:DB8::1/128", &a));
	cr_assert_str_eq(a.text, "2001:db8::1/128", "canonical text");
	cr_assert_not(pointnic_addr_parse("10.1.0.5/", &a));
	cr_assert_not(pointnic_addr_parse("/24", &a));
	cr_assert_not(pointnic_addr_parse("10.1.0.5/24 ", &a));
	cr_assert_not(pointnic_addr_parse("10.1.0.5/1000", &a));
	cr_assert_not(pointnic_addr_parse("::1/129", &a));
	cr_assert_not(pointnic_addr_parse("10.1.5/24", &a));
	cr_assert_not(pointnic_addr_parse("host.example/24", &a));
	cr_assert_not(pointnic_addr_parse(NULL, &a));
	cr_assert(pointnic_mac_parse("FE:54:00:00:00:01", mac));
	cr_assert_str_eq(mac, "fe:54:00:00:00:01");
	cr_assert_not(pointnic_mac_parse("52:54:00:00:00:01:", mac));
	cr_assert_not(pointnic_mac_parse("ff:ff:ff:ff:ff:ff", mac), "broadcast");
	cr_assert_not(pointnic_mac_parse(NULL, mac));
}

Test(pointnics, vms_json_for_points)
{
	json_t *m = json_loads(
		"{\"vms\":[{\"name\":\"web1\",\"nics\":[{\"mac\":\"52:54:00:12:34:56\","
		"\"network\":\"onprem-net\",\"addresses\":[\"10.1.0.5/24\"],\"origin\":\"agent\"},"
		"{\"mac\":\"bad\"}]},{\"name\":\"../x\"},{\"name\":\"db\"}]}",
		0, NULL);
	json_t *out, *want;
	char *log, *got;

	cr_assert_not_null(m);
	cap_start();
	out = pointnics_vms_json(m, "t");
	log = cap_stop();
	cr_assert_not_null(out);
	want = json_loads("[{\"name\":\"web1\",\"nics\":[{\"mac\":\"52:54:00:12:34:56\","
			  "\"network\":\"onprem-net\",\"addresses\":[\"10.1.0.5/24\"],"
			  "\"origin\":\"agent\"}]},{\"name\":null,\"nics\":[]},"
			  "{\"name\":\"db\",\"nics\":[]}]",
			  0, NULL);
	got = json_dumps(out, JSON_COMPACT);
	cr_assert(json_equal(out, want), "%s", got);
	cr_assert(strstr(log, "NIC 1 dropped"), "%s", log);
	free(got);
	free(log);
	json_decref(want);
	json_decref(out);
	json_decref(m);
}
