/* A failover's DR networks (failover/drnet-failover.h): the record first,
 * then what it names; the release from the records alone, so that a
 * changed receiver.conf never leaves anything behind. */
#define _GNU_SOURCE
#include <net/if.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "failover/drnet-failover.h"
#include "failover/drnet-host.h"
#include "failover/drnet-record.h"
#include "failover/drnet-wg.h"
#include "failover/drnet.h"
#include "failover/pointnics.h"
#include "replicator/config.h"

#define MAX_HOSTS 256
#define NFT_LAST_MAX (4u << 20)

/* The on-prem address of vm in n's subnet from its NIC records: 0 found
 * (*h filled), -1 none (warned when vm has a NIC on one of n's sources). */
static int
vm_address(const struct receiver_network_cfg *n, const struct drnet_vm *vm, const char *ctx,
	   struct drnet_host *h)
{
	struct pointnic nics[POINTNICS_MAX];
	size_t nn = pointnics_read(vm->meta, vm->index, nics, ctx);
	bool on_net = false;

	for (size_t k = 0; k < nn; k++) {
		bool src = false;

		for (size_t s = 0; s < n->nsources; s++)
			src = src || !strcmp(n->sources[s], nics[k].network);
		on_net = on_net || src;
		for (size_t a = 0; src && a < nics[k].naddrs; a++) {
			uint32_t ip;

			if (nics[k].addrs[a].family != AF_INET ||
			    drnet_ip_parse(nics[k].addrs[a].text, &ip) < 0 ||
			    !drnet_in_subnet(n, ip) || ip == n->gateway)
				continue;
			snprintf(h->mac, sizeof(h->mac), "%s", nics[k].mac);
			drnet_ip_str(ip, h->ip);
			snprintf(h->name, sizeof(h->name), "%s", vm->name);
			return 0;
		}
	}
	if (on_net)
		log_warn("%s: network %s: vm %s: no recorded address of its NIC in the subnet: "
			 "a DHCP client gets an address of the dynamic range, and nothing is "
			 "published to it", ctx, n->name, vm->name);
	return -1;
}

static json_t *
network_json(const struct receiver_network_cfg *n, const char *ctx)
{
	char lvname[80], sub[24], ip[16], gw[16], ifn[16];
	uint32_t ext;
	bool is_addr = n->external && drnet_ip_parse(n->external, &ext) == 0, err;
	json_t *wg;

	drnet_libvirt_name(n->name, lvname, sizeof(lvname));
	drnet_ip_str(n->subnet, ip);
	snprintf(sub, sizeof(sub), "%s/%u", ip, n->prefix);
	drnet_ip_str(n->gateway, gw);
	if (n->external)
		snprintf(ifn, sizeof(ifn), "%s", n->external);
	else if (drnet_host_default_if(ifn) < 0)
		return NULL;
	/* the rules name it all the same: it may come up later */
	if (!is_addr && if_nametoindex(ifn) == 0)
		log_warn("%s: network %s: external interface %s does not exist (yet)", ctx,
			 n->name, ifn);
	log_info("%s: network %s: subnet %s, gateway %s, external %s, nat %s", ctx, n->name,
		 sub, gw, ifn, n->nat ? "on" : "off");
	if (!(wg = drnet_wg_record(n, &err)) && err)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s?, s:s?, s:o?}", "name", n->name,
			 "libvirt", lvname, "bridge", n->bridge, "subnet", sub, "gateway", gw,
			 "nat", n->nat, "ext_if", is_addr ? NULL : ifn,
			 "ext_addr", is_addr ? n->external : NULL, "wg", wg);
}

static json_t *
host_json(const char *net, const struct drnet_host *h)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "network", net, "mac", h->mac, "ip", h->ip,
			 "name", h->name);
}

/* The reservations of n (into hosts, their count) and the published ports
 * of n whose VM is one of vms, appended to rec's "hosts" and "dnat". */
static size_t
network_vms(const struct receiver_network_cfg *n, const struct drnet_vm *vms, size_t nvms,
	    const char *ctx, json_t *rec, struct drnet_host *hosts, size_t max)
{
	size_t nh = 0;

	for (size_t v = 0; v < nvms && nh < max; v++)
		if (vm_address(n, &vms[v], ctx, &hosts[nh]) == 0)
			json_array_append_new(json_object_get(rec, "hosts"),
					      host_json(n->name, &hosts[nh++]));
	for (size_t p = 0; p < n->npublish; p++) {
		const struct rx_publish *pb = &n->publish[p];
		const char *proto = pb->udp ? "udp" : "tcp";
		size_t h;

		for (h = 0; h < nh && strcmp(hosts[h].name, pb->vm); h++)
			;
		if (h == nh) {
			/* another group's VM, or one whose address is unknown */
			log_info("%s: network %s: publish %s:%u=%s:%u: no VM %s with an address "
				 "in the subnet in this failover; not published by it", ctx,
				 n->name, proto, pb->port, pb->vm, pb->vm_port, pb->vm);
			continue;
		}
		json_array_append_new(json_object_get(rec, "dnat"),
				      json_pack("{s:s, s:s, s:s, s:i, s:s, s:i}", "network", n->name,
						"vm", pb->vm, "proto", proto, "port", pb->port,
						"to", hosts[h].ip, "to_port", pb->vm_port));
		log_info("%s: network %s: publish %s:%u -> %s %s:%u", ctx, n->name, proto,
			 pb->port, pb->vm, hosts[h].ip, pb->vm_port);
	}
	return nh;
}

/* Does a record of others name network name? */
static bool
shared(const json_t *others, const char *name)
{
	return drnet_record_network(others, name, false) != NULL;
}

/* Does a record of others name network name with a WireGuard link? */
static bool
link_elsewhere(const json_t *others, const char *name)
{
	return drnet_record_network(others, name, true) != NULL;
}

/* The WireGuard links of rec's networks; one no other record names is
 * made anew (a crash's leftover goes first). */
static int
links_up(const char *ctx, const char *root, const json_t *rec, const json_t *others)
{
	size_t i;
	json_t *n;

	for (i = 0; (n = json_array_get(json_object_get(rec, "networks"), i)) != NULL; i++) {
		const char *name = json_string_value(json_object_get(n, "name"));
		const json_t *wg = json_object_get(n, "wg");

		/* null or absent: the network has no link */
		if (json_is_object(wg) &&
		    drnet_wg_up(ctx, root, name, wg, !link_elsewhere(others, name)) < 0)
			return -1;
	}
	return 0;
}

/* The store's table as records (an array) ask; the shared table of an
 * older version too when this store made it last (its script says so). */
static int
apply_rules(const char *ctx, const char *root, const json_t *records)
{
	const char *why = NULL;
	char table[DRNET_NFT_TABLE_LEN], *real = realpath(root, NULL), *script = NULL;
	char *last = NULL, *path = strfmt("%s/.drnet.nft", root), *all = NULL;
	size_t len = 0;
	int ret = -1;

	if (!real || !path) {
		log_error("%s: store %s: %m", ctx, root);
		goto out;
	}
	drnet_nft_table(real, table);
	if (!(script = drnet_ruleset(records, table, &why))) {
		log_error("%s: nftables table %s: %s", ctx, table, why);
		goto out;
	}
	/* no script yet: a first failover of this store */
	if (access(path, F_OK) == 0 && file_read_all(path, NFT_LAST_MAX, (void **)&last, &len) == 0 &&
	    drnet_nft_legacy_owned(last)) {
		log_info("%s: table %s of an older version was this store's: removed", ctx,
			 DRNET_NFT_LEGACY);
		all = strfmt("table " DRNET_NFT_LEGACY " {}\ndelete table " DRNET_NFT_LEGACY
			     "\n%s", script);
	}
	if ((ret = drnet_host_nft(ctx, root, all ? all : script)) == 0 && json_array_size(records))
		log_info("%s: nftables table %s: the rules of %zu failover(s) of this store", ctx,
			 table, json_array_size(records));
	else if (ret == 0)
		log_info("%s: nftables table %s removed: no failover of this store left", ctx, table);
out:
	free(real);
	free(path);
	free(last);
	free(script);
	free(all);
	return ret;
}

/* Forwarding on; off before is recorded first (the last release restores). */
static int
forward_on(const char *ctx, const char *root)
{
	bool on = false, absent = false;
	json_t *h;
	int ret;

	if (drnet_host_forward_get(&on) < 0)
		return -1;
	if (on)
		return 0;
	h = drnet_record_host_load(root, &absent);
	if (!h && !absent)
		return -1;
	if (!h && !(h = json_pack("{s:i, s:s}", "version", 1, "ip_forward_was", "0"))) {
		log_error("%s: out of memory", ctx);
		return -1;
	}
	ret = drnet_record_host_save(root, h);
	json_decref(h);
	return ret < 0 ? -1 : drnet_host_forward_set(true);
}

int
drnet_failover_up(virConnectPtr conn, const char *root, const char *group, const char *id,
		  const struct receiver_network_cfg *const *nets, size_t nnets,
		  const struct drnet_vm *vms, size_t nvms)
{
	char *ctx = strfmt("failover %s", id);
	json_t *rec = NULL, *others = NULL, *nj = json_array();
	struct drnet_host *hosts = calloc(MAX_HOSTS, sizeof(*hosts));
	size_t *nh = calloc(nnets + 1, sizeof(*nh)), used = 0;
	int lock = -1, ret = -1;

	if (!ctx || !nj || !hosts || !nh) {
		log_error("out of memory");
		goto out;
	}
	if ((lock = drnet_record_lock(root)) < 0 || !(others = drnet_record_load_all(root, group)))
		goto out;
	for (size_t i = 0; i < nnets; i++) {
		json_t *n = network_json(nets[i], ctx);

		if (!n || json_array_append_new(nj, n) < 0)
			goto out;
	}
	rec = json_pack("{s:i, s:s, s:s, s:O, s:[], s:[]}", "version", 1, "group", group,
			"failover", id, "networks", nj, "hosts", "dnat");
	if (!rec) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	for (size_t i = 0; i < nnets; i++) {
		nh[i] = network_vms(nets[i], vms, nvms, ctx, rec, hosts + used, MAX_HOSTS - used);
		used += nh[i];
	}
	/* intent first: a crash from here on leaves a record to release by */
	if (drnet_record_save(root, group, rec) < 0 || forward_on(ctx, root) < 0)
		goto out;
	used = 0;
	for (size_t i = 0; i < nnets; i++) {
		if (drnet_host_net_up(conn, ctx, nets[i], hosts + used, nh[i],
				      shared(others, nets[i]->name)) < 0)
			goto out;
		used += nh[i];
	}
	if (links_up(ctx, root, rec, others) < 0)
		goto out;
	/* a test kills us here: made, recorded, no marker yet */
	testhook_at("drnet-made");
	json_array_append(others, rec);
	ret = apply_rules(ctx, root, others);
out:
	drnet_record_unlock(lock);
	json_decref(rec);
	json_decref(others);
	json_decref(nj);
	free(hosts);
	free(nh);
	free(ctx);
	return ret;
}

/* The reservation h of record entry e (malformed: -1). */
static int
host_of(const json_t *e, struct drnet_host *h)
{
	const char *mac = json_string_value(json_object_get(e, "mac"));
	const char *ip = json_string_value(json_object_get(e, "ip"));
	const char *name = json_string_value(json_object_get(e, "name"));
	char norm[18];
	uint32_t a;

	if (!mac || !pointnic_mac_parse(mac, norm) || !ip || drnet_ip_parse(ip, &a) < 0 || !name)
		return -1;
	snprintf(h->mac, sizeof(h->mac), "%s", mac);
	drnet_ip_str(a, h->ip);
	snprintf(h->name, sizeof(h->name), "%s", name);
	return 0;
}

/* Network n of rec: removed when no other record names it, else only
 * rec's reservations on it. */
static int
release_network(virConnectPtr conn, const char *ctx, const json_t *rec, const json_t *n,
		const json_t *others)
{
	const char *name = json_string_value(json_object_get(n, "name"));
	char lvname[80];
	int ret = 0;
	size_t i;
	json_t *e;

	if (!name) {
		log_error("%s: a network of the record has no name", ctx);
		return -1;
	}
	drnet_libvirt_name(name, lvname, sizeof(lvname));
	/* the link goes with the last record that names it: a network shared
	 * with a failover made before wireguard was on outlives it */
	if (json_is_object(json_object_get(n, "wg")) && !link_elsewhere(others, name) &&
	    drnet_wg_down(ctx, json_object_get(n, "wg")) < 0)
		ret = -1;
	if (!shared(others, name))
		return drnet_host_net_remove(conn, ctx, lvname) < 0 ? -1 : ret;
	for (i = 0; (e = json_array_get(json_object_get(rec, "hosts"), i)) != NULL; i++) {
		struct drnet_host h;
		const char *hn = json_string_value(json_object_get(e, "network"));

		if (!hn || strcmp(hn, name))
			continue;
		if (host_of(e, &h) < 0 || drnet_host_net_unreserve(conn, ctx, lvname, &h) < 0)
			ret = -1;
	}
	return ret;
}

/* The last failover is gone: forwarding as it was before the first. */
static int
release_host(const char *root)
{
	bool absent = false;
	json_t *h = drnet_record_host_load(root, &absent);
	const char *was = json_string_value(json_object_get(h, "ip_forward_was"));
	int ret = 0;

	if (!h)
		return absent ? 0 : -1;
	if (was && !strcmp(was, "0"))
		ret = drnet_host_forward_set(false);
	json_decref(h);
	return ret < 0 ? -1 : drnet_record_host_remove(root);
}

int
drnet_failover_release(virConnectPtr conn, const char *root, const char *group)
{
	char *ctx = strfmt("group %s", group);
	json_t *rec = NULL, *others = NULL, *n;
	bool absent = false;
	int lock = -1, ret = -1;
	size_t i;

	if (!ctx || (lock = drnet_record_lock(root)) < 0)
		goto out;
	if (!(rec = drnet_record_load(root, group, &absent))) {
		ret = absent ? 0 : -1;
		goto out;
	}
	if (!(others = drnet_record_load_all(root, group)))
		goto out;
	/* every step is tried; the record goes only when all succeeded */
	ret = 0;
	for (i = 0; (n = json_array_get(json_object_get(rec, "networks"), i)) != NULL; i++)
		if (release_network(conn, ctx, rec, n, others) < 0)
			ret = -1;
	if (apply_rules(ctx, root, others) < 0)
		ret = -1;
	if (json_array_size(others) == 0 && release_host(root) < 0)
		ret = -1;
	if (ret == 0 && (ret = drnet_record_remove(root, group)) == 0)
		log_info("%s: DR networks released", ctx);
out:
	drnet_record_unlock(lock);
	json_decref(rec);
	json_decref(others);
	free(ctx);
	return ret;
}

bool
drnet_failover_pending(const char *root, const char *group)
{
	bool absent = false;
	json_t *rec = drnet_record_load(root, group, &absent);

	json_decref(rec);
	/* unreadable counts as pending: the release then says why */
	return !absent;
}

json_t *
drnet_failover_status(const char *root, const char *group)
{
	bool absent = false;
	json_t *rec = drnet_record_load(root, group, &absent), *st;

	if (!rec)
		return NULL;
	st = json_pack("{s:O?, s:O?, s:O?}", "networks", json_object_get(rec, "networks"),
		       "reservations", json_object_get(rec, "hosts"),
		       "published", json_object_get(rec, "dnat"));
	json_decref(rec);
	return st;
}
