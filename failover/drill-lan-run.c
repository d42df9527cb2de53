/* A drill run's DR network copies (failover/drill-lan-run.h). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "failover/checks.h"
#include "failover/drill-lan-host.h"
#include "failover/drill-lan-run.h"
#include "failover/drill-lan.h"
#include "failover/drill-run.h"
#include "failover/drill-sweep.h"
#include "failover/pointnics.h"
#include "replicator/config.h"

struct drill_lans {
	int lock;
	char *workdir;
	struct drill_lan *lans;
	const struct receiver_network_cfg **cfgs;  /* per LAN, borrowed */
	size_t n;
};

struct drill_lans *
drill_lans_new(const char *workdir)
{
	struct drill_lans *l = calloc(1, sizeof(*l));

	if (!l || !(l->workdir = strdup(workdir))) {
		log_error("out of memory");
		free(l);
		return NULL;
	}
	if ((l->lock = drill_sweep_lock(workdir)) < 0) {
		free(l->workdir);
		free(l);
		return NULL;
	}
	return l;
}

void
drill_lans_free(struct drill_lans *l)
{
	if (!l)
		return;
	if (l->lock >= 0)
		close(l->lock);
	free(l->lans);
	free(l->cfgs);
	free(l->workdir);
	free(l);
}

/* The [network] of the run's configuration whose sources list src. */
static const struct receiver_network_cfg *
network_listing(const struct drill_opts *o, const char *src)
{
	for (size_t i = 0; src && i < o->nnetworks; i++) {
		const struct receiver_network_cfg *n = &o->networks[i];

		for (size_t s = 0; s < n->nsources; s++)
			if (!strcmp(n->sources[s], src))
				return n;
	}
	return NULL;
}

/* The index of n's LAN in l, added when new; -1 on failure (logged). */
static ssize_t
lan_of(struct drill *d, const struct receiver_network_cfg *n)
{
	struct drill_lans *l = d->lans;
	struct drill_lan *lans;
	const struct receiver_network_cfg **cfgs;
	uint32_t rnd = 0;

	for (size_t k = 0; k < l->n; k++)
		if (l->cfgs[k] == n)
			return (ssize_t)k;
	lans = reallocarray(l->lans, l->n + 1, sizeof(*lans));
	if (lans)
		l->lans = lans;
	cfgs = lans ? reallocarray(l->cfgs, l->n + 1, sizeof(*cfgs)) : NULL;
	if (!cfgs) {
		log_error("out of memory");
		return -1;
	}
	l->cfgs = cfgs;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() * 2654435761u + (uint32_t)l->n;
	if (drill_lan_init(&l->lans[l->n], n, d->r->id, l->n, rnd) < 0)
		return -1;
	l->cfgs[l->n] = n;
	return (ssize_t)l->n++;
}

const char *
drill_lans_map(struct drill *d, const char *src)
{
	const struct receiver_network_cfg *n = d->lans ? network_listing(d->o, src) : NULL;
	ssize_t k;

	if (!n)
		return NULL;
	k = lan_of(d, n);
	return k < 0 ? NULL : d->lans->lans[k].libvirt;
}

/* The reservations of VM i: each recorded IPv4 address of a NIC whose
 * on-prem source a LAN's [network] lists, in that LAN's subnet. */
static void
reserve_vm(struct drill *d, size_t i, const char *ctx)
{
	struct drill_lans *l = d->lans;
	struct pointnic nics[POINTNICS_MAX];
	size_t nn = pointnics_read(d->meta, i, nics, ctx);

	for (size_t k = 0; k < nn; k++) {
		const struct receiver_network_cfg *n = network_listing(d->o, nics[k].network);
		size_t li = 0;

		while (n && li < l->n && l->cfgs[li] != n)
			li++;
		if (!n || li == l->n)
			continue;
		for (size_t a = 0; a < nics[k].naddrs; a++) {
			uint32_t ip;

			if (nics[k].addrs[a].family == AF_INET &&
			    drnet_ip_parse(nics[k].addrs[a].text, &ip) == 0 &&
			    drill_lan_reserve(&l->lans[li], nics[k].mac, ip, d->vms[i].name, ctx) == 0)
				break;
		}
	}
}

/* The IPv4 address the point records for VM i's NIC mac in l's subnet
 * (its reservation, or a static guest's own) into out; "" if none. */
static void
recorded_address(const struct drill *d, size_t i, const struct drill_lan *l, const char *mac,
		 char out[16])
{
	struct pointnic nics[POINTNICS_MAX];
	char ctx[64];
	size_t nn;
	uint32_t mask = UINT32_MAX << (32 - l->prefix), ip;

	out[0] = '\0';
	snprintf(ctx, sizeof(ctx), "drill %s", d->r->id);
	nn = pointnics_read(d->meta, i, nics, ctx);
	for (size_t k = 0; k < nn; k++) {
		if (strcasecmp(nics[k].mac, mac))
			continue;
		for (size_t a = 0; a < nics[k].naddrs; a++)
			if (nics[k].addrs[a].family == AF_INET &&
			    drnet_ip_parse(nics[k].addrs[a].text, &ip) == 0 &&
			    (ip & mask) == l->subnet && ip != l->gateway) {
				drnet_ip_str(ip, out);
				return;
			}
	}
}

bool
drill_lans_where(const struct drill *d, size_t i, struct checks_lan *out)
{
	const struct dvm *v = &d->vms[i];

	for (size_t k = 0; d->lans && k < v->nnics; k++) {
		for (size_t li = 0; v->nets[k] && v->nic_mac[k] && li < d->lans->n; li++) {
			const struct drill_lan *l = &d->lans->lans[li];

			if (strcmp(v->nets[k], l->libvirt))
				continue;
			memset(out, 0, sizeof(*out));
			snprintf(out->netns, sizeof(out->netns), "%s", l->netns);
			snprintf(out->mac, sizeof(out->mac), "%s", v->nic_mac[k]);
			if (l->dhcp)
				snprintf(out->leases, sizeof(out->leases), "%s/%s.leases",
					 d->lans->workdir, l->netns);
			recorded_address(d, i, l, v->nic_mac[k], out->addr);
			return true;
		}
	}
	return false;
}

/* What the run makes, for a sweep: domains, overlays, networks. */
static json_t *
run_record(const struct drill *d)
{
	json_t *doms = json_array(), *ovl = json_array(), *lans = json_array(), *rec;
	char net[80];

	for (size_t i = 0; doms && ovl && i < d->nvms; i++) {
		if (d->vms[i].domain_name)
			json_array_append_new(doms, json_string(d->vms[i].domain_name));
		for (size_t k = 0; k < d->vms[i].noverlays; k++)
			if (d->vms[i].overlays[k])
				json_array_append_new(ovl, json_string(d->vms[i].overlays[k]));
	}
	for (size_t k = 0; lans && k < d->lans->n; k++)
		json_array_append_new(lans, drill_lan_to_json(&d->lans->lans[k]));
	snprintf(net, sizeof(net), "nestor-drill-%s", d->r->id);
	rec = json_pack("{s:i, s:s, s:s, s:I, s:b, s:s, s:o?, s:o?, s:o?}", "version", 1,
			"drill", d->r->id, "group", d->o->group, "point", (json_int_t)d->r->point,
			"kept", d->o->keep, "network", net, "domains", doms, "overlays", ovl,
			"lans", lans);
	return rec;
}

int
drill_lans_up(struct drill *d)
{
	struct drill_lans *l = d->lans;
	char *ctx = NULL;
	json_t *rec = NULL;
	int ret = -1;

	if (!l)
		return 0;
	if (!(ctx = strfmt("drill %s", d->r->id)))
		goto out;
	for (size_t i = 0; l->n > 0 && i < d->nvms; i++)
		reserve_vm(d, i, ctx);
	/* intent first: a crash from here on leaves a record to sweep by */
	if (!(rec = run_record(d))) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	if (drill_sweep_save(l->workdir, rec) < 0)
		goto out;
	for (size_t k = 0; k < l->n; k++)
		if (drill_lan_host_up(d->conn, &l->lans[k], l->workdir, ctx) < 0)
			goto out;
	ret = 0;
out:
	json_decref(rec);
	free(ctx);
	return ret;
}

int
drill_lans_down(struct drill *d)
{
	struct drill_lans *l = d->lans;
	char *ctx;
	int ret = 0;

	if (!l)
		return 0;
	if (!(ctx = strfmt("drill %s", d->r->id)))
		return -1;
	for (size_t k = 0; k < l->n; k++)
		if (drill_lan_host_down(d->conn, &l->lans[k], ctx) < 0)
			ret = -1;
	free(ctx);
	return ret;
}
