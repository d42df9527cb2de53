/* vms[].nics of a point's metadata, checked entry by entry
 * (failover/pointnics.h): the agent recorded them, but the metadata came
 * over the network and a hostile or broken agent can write anything. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "failover/pointnics.h"

static const char *const origin_names[] = {
	[POINTNIC_NONE] = "none",
	[POINTNIC_AGENT] = "agent",
	[POINTNIC_LEASE] = "lease",
	[POINTNIC_ARP] = "arp",
};

const char *
pointnic_origin_name(enum pointnic_origin o)
{
	return (unsigned)o < sizeof(origin_names) / sizeof(origin_names[0]) ? origin_names[o]
									   : "none";
}

static bool
origin_parse(const char *s, enum pointnic_origin *o)
{
	for (size_t i = 0; s && i < sizeof(origin_names) / sizeof(origin_names[0]); i++) {
		if (!strcmp(s, origin_names[i])) {
			*o = (enum pointnic_origin)i;
			return true;
		}
	}
	return false;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
pointnic_mac_parse(const char *s, char out[18])
{
	unsigned char b[6];
	unsigned any = 0;

	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		b[i] = (unsigned char)(hi << 4 | lo);
		any |= b[i];
	}
	/* a NIC's own address is unicast: a multicast or zero MAC cannot be
	 * reserved for anything */
	if (!any || (b[0] & 1))
		return false;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return true;
}

bool
pointnic_addr_parse(const char *s, struct pointnic_addr *a)
{
	char host[INET6_ADDRSTRLEN], ntop[INET6_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL, *p;
	size_t hlen, plen;
	unsigned prefix = 0, max;

	if (!slash)
		return false;
	hlen = (size_t)(slash - s);
	plen = strlen(slash + 1);
	/* 1-3 digits, no leading zero but "0" itself */
	if (hlen == 0 || hlen >= sizeof(host) || plen == 0 || plen > 3 ||
	    (plen > 1 && slash[1] == '0'))
		return false;
	for (p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, a->addr) == 1) {
		a->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, a->addr) == 1) {
		a->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	if (prefix > max || !inet_ntop(a->family, a->addr, ntop, sizeof(ntop)))
		return false;
	a->prefix = prefix;
	snprintf(a->text, sizeof(a->text), "%s/%u", ntop, prefix);
	return true;
}

/* The addresses of one entry into n; bad ones dropped with a warning. */
static void
read_addrs(json_t *arr, struct pointnic *n, const char *ctx)
{
	size_t size = json_array_size(arr);

	for (size_t i = 0; i < size && i < POINTNICS_MAX_ADDRS; i++) {
		const char *s = json_string_value(json_array_get(arr, i));

		if (pointnic_addr_parse(s, &n->addrs[n->naddrs]))
			n->naddrs++;
		else
			log_warn("%s: NIC %s: address %.60s%s dropped: not ADDR/PREFIX", ctx,
				 n->mac, s ? s : "(not a string)", s && strlen(s) > 60 ? "..." : "");
	}
	if (size > POINTNICS_MAX_ADDRS)
		log_warn("%s: NIC %s: %zu addresses, only the first %d read", ctx, n->mac, size,
			 POINTNICS_MAX_ADDRS);
}

/* One entry into n: false (warned) when it is to be dropped. */
static bool
read_nic(json_t *e, size_t i, struct pointnic *n, const struct pointnic *kept, size_t nkept,
	 const char *ctx)
{
	const char *mac = json_string_value(json_object_get(e, "mac"));
	const char *net = json_string_value(json_object_get(e, "network"));
	const char *origin = json_string_value(json_object_get(e, "origin"));
	json_t *addrs = json_object_get(e, "addresses");

	memset(n, 0, sizeof(*n));
	if (!json_is_object(e)) {
		log_warn("%s: NIC %zu dropped: not an object", ctx, i);
		return false;
	}
	if (!pointnic_mac_parse(mac, n->mac)) {
		log_warn("%s: NIC %zu dropped: MAC %.40s is not a unicast xx:xx:xx:xx:xx:xx",
			 ctx, i, mac ? mac : "(missing)");
		return false;
	}
	for (size_t k = 0; k < nkept; k++) {
		if (!strcmp(kept[k].mac, n->mac)) {
			log_warn("%s: NIC %zu dropped: MAC %s listed twice", ctx, i, n->mac);
			return false;
		}
	}
	if (!origin_parse(origin ? origin : "none", &n->origin)) {
		log_warn("%s: NIC %s dropped: unknown origin %.20s", ctx, n->mac, origin);
		return false;
	}
	if (net && name_valid(net, strlen(net)))
		snprintf(n->network, sizeof(n->network), "%s", net);
	else if (json_object_get(e, "network") && !json_is_null(json_object_get(e, "network")))
		log_warn("%s: NIC %s: network name not valid, ignored", ctx, n->mac);
	if (addrs && !json_is_array(addrs))
		log_warn("%s: NIC %s: addresses is not a list, ignored", ctx, n->mac);
	else if (n->origin != POINTNIC_NONE)
		read_addrs(addrs, n, ctx);
	else if (json_array_size(addrs))
		log_warn("%s: NIC %s: addresses with origin none, ignored", ctx, n->mac);
	if (!n->naddrs)
		n->origin = POINTNIC_NONE;
	return true;
}

size_t
pointnics_read(const json_t *meta, size_t vm, struct pointnic *nics, const char *ctx)
{
	json_t *v = json_array_get(json_object_get(meta, "vms"), vm);
	json_t *arr = json_object_get(v, "nics");
	size_t size = json_array_size(arr), n = 0;

	if (arr && !json_is_array(arr))
		log_warn("%s: VM %zu: nics is not a list, ignored", ctx, vm);
	for (size_t i = 0; i < size && i < POINTNICS_MAX; i++)
		if (read_nic(json_array_get(arr, i), i, &nics[n], nics, n, ctx))
			n++;
	if (size > POINTNICS_MAX)
		log_warn("%s: VM %zu: %zu NICs, only the first %d read", ctx, vm, size,
			 POINTNICS_MAX);
	return n;
}

static json_t *
nic_json(const struct pointnic *n)
{
	json_t *addrs = json_array();

	for (size_t i = 0; addrs && i < n->naddrs; i++)
		json_array_append_new(addrs, json_string(n->addrs[i].text));
	return json_pack("{s:s, s:s?, s:o*, s:s}", "mac", n->mac, "network",
			 n->network[0] ? n->network : NULL, "addresses", addrs, "origin",
			 pointnic_origin_name(n->origin));
}

json_t *
pointnics_vms_json(const json_t *meta, const char *ctx)
{
	json_t *vms = json_object_get(meta, "vms"), *out = json_array();
	struct pointnic nics[POINTNICS_MAX];

	for (size_t v = 0; out && v < json_array_size(vms) && v < POINTNICS_MAX_VMS; v++) {
		const char *name = json_string_value(json_object_get(json_array_get(vms, v), "name"));
		size_t n = pointnics_read(meta, v, nics, ctx);
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, nic_json(&nics[i]));
		if (name && !name_valid(name, strlen(name)))
			name = NULL;
		if (json_array_append_new(out, json_pack("{s:s?, s:o*}", "name", name, "nics",
							 arr)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
