/* Group snapshot from the configured sources: file disks through the file
 * source, RBD disks through the rbd source, running domains through the
 * libvirt source (which takes their RBD disks itself, in its window) and
 * shut-off domains through the file source on their disk files and the rbd
 * source on their RBD images; joined by snapshot_multi. */
#include "replicator/agent/sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/vmxml.h"
#include "replicator/config.h"
#include "snapshot/libvirt.h"
#include "snapshot/multi.h"
#include "snapshot/plan.h"
#include "snapshot/rbd.h"
#include "snapshot/source.h"

#define DEFAULT_CEPH_CONF   "/etc/ceph/ceph.conf"

static int
subdir(char *buf, size_t len, const char *state_dir, const char *source)
{
	if ((size_t)snprintf(buf, len, "%s/%s", state_dir, source) >= len) {
		log_error("state directory path too long: %s", state_dir);
		return -1;
	}
	return 0;
}

static int
file_clone_mode(const struct agent_group_cfg *g)
{
	return g->snapshot == AGENT_SNAP_REFLINK ? SNAP_CLONE_REFLINK
	       : g->snapshot == AGENT_SNAP_READ  ? SNAP_CLONE_NONE
						  : SNAP_CLONE_AUTO;
}

static int
begin_parts(const struct agent_group_cfg *g, const struct plan *pl, const char *state_dir,
	    uint64_t base, struct snapshot **parts, size_t *nparts, struct snap_libvirt_keep *keep)
{
	struct snap_file_disk fd[SNAP_MAX_DISKS];
	struct snap_rbd_image ri[SNAP_MAX_DISKS];
	char pool[SNAP_MAX_DISKS][65], image[SNAP_MAX_DISKS][65];
	char dir[4096], rbd_dir[4096];
	const char *xconf = NULL, *xuser = NULL;
	size_t nf = 0, nr = 0;

	*nparts = 0;
	if (g->ndisks + pl->nodisk > SNAP_MAX_DISKS) {
		log_error("group %s: more than %d disks", g->name, SNAP_MAX_DISKS);
		return -1;
	}
	for (size_t i = 0; i < g->ndisks; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];

		if (d->path) {
			fd[nf++] = (struct snap_file_disk){ d->name, d->path, d->format,
							    file_clone_mode(g) };
			continue;
		}
		if (sscanf(d->rbd, "%64[^/]/%64s", pool[nr], image[nr]) != 2) {
			log_error("group %s disk %s: bad rbd spec '%s'", g->name, d->name, d->rbd);
			return -1;
		}
		ri[nr] = (struct snap_rbd_image){ d->name, pool[nr], image[nr] };
		nr++;
	}
	for (size_t i = 0; i < pl->nodisk; i++) {
		const struct plan_disk *o = &pl->odisk[i];

		if (o->path) {
			fd[nf++] = (struct snap_file_disk){ o->name, o->path,
							    o->format[0] ? o->format : NULL,
							    file_clone_mode(g) };
			continue;
		}
		/* RBD disk of a shut-off domain: its config file and user serve
		 * when the group sets none (one cluster per group). */
		if (!xconf)
			xconf = o->rbd->conf;
		if (!xuser)
			xuser = o->rbd->user;
		ri[nr++] = (struct snap_rbd_image){ o->name, o->rbd->pool, o->rbd->image };
	}
	if (subdir(rbd_dir, sizeof(rbd_dir), state_dir, "rbd") < 0)
		return -1;
	if (pl->nlive) {
		/* The live domains' RBD disks share the rbd state directory: a
		 * domain that stops or starts keeps one record per image. */
		struct snap_libvirt_ceph ceph = { g->ceph_conf, g->ceph_client, rbd_dir };

		if (subdir(dir, sizeof(dir), state_dir, "libvirt") < 0)
			return -1;
		parts[*nparts] = snapshot_libvirt_begin_kept(g->libvirt_uri ? g->libvirt_uri
									    : VMXML_DEFAULT_URI,
							     pl->live, pl->nlive, dir, base,
							     &ceph, keep);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	if (nf) {
		if (subdir(dir, sizeof(dir), state_dir, "file") < 0)
			return -1;
		parts[*nparts] = snapshot_file_begin(fd, nf, dir, base);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	if (nr) {
		parts[*nparts] = snapshot_rbd_begin(g->ceph_conf ? g->ceph_conf
								 : xconf ? xconf : DEFAULT_CEPH_CONF,
						    g->ceph_client ? g->ceph_client : xuser,
						    ri, nr, rbd_dir, base);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	return 0;
}

static void
free_parts(struct snapshot **parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snapshot_free(parts[i]);
}

/* vms[].nics of a live VM (docs/metadata.md): what the source found. */
static json_t *
live_nics(const struct snapshot *lv, size_t v)
{
	size_t n = 0;
	const struct snap_nic *nics = snapshot_libvirt_vm_nics(lv, v, &n);
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *addrs = json_array();

		for (size_t k = 0; addrs && k < nics[i].naddrs; k++)
			json_array_append_new(addrs, json_string(nics[i].addrs[k]));
		json_array_append_new(arr, json_pack("{s:s, s:s?, s:o*, s:s}", "mac", nics[i].mac,
						     "network", nics[i].network[0] ? nics[i].network : NULL,
						     "addresses", addrs, "origin", nics[i].origin));
	}
	return arr;
}

/* vms[].nics of a shut-off VM: MAC and network of its definition, no
 * address (nothing answers for it). */
static json_t *
off_nics(const struct vmxml *x)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && x && i < x->nnics && i < SNAP_NIC_MAX; i++)
		if (x->nics[i].mac)
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:[], s:s}", "mac",
							     x->nics[i].mac, "network",
							     x->nics[i].source, "addresses",
							     "origin", "none"));
	return arr;
}

/* VM metadata for the point: live VMs from the libvirt source (definition
 * captured at begin), shut-off VMs from their inactive definition. */
static json_t *
vm_meta(const struct snapshot *snap, const struct plan *pl)
{
	const struct snapshot *lv = snapshot_part(snap, "libvirt");
	json_t *obj = json_object(), *vms = json_array();

	if (!obj || !vms) {
		json_decref(obj);
		json_decref(vms);
		return NULL;
	}
	for (size_t v = 0; lv && v < snapshot_libvirt_nvms(lv); v++) {
		json_t *disks = json_array();
		const char *target;
		size_t idx;

		for (size_t i = 0; snapshot_libvirt_vm_disk(lv, v, i, &target, &idx) == 0; i++)
			json_array_append_new(disks, json_pack("{s:s, s:s}", "target", target, "disk",
							       snapshot_disk_name(lv, idx)));
		json_array_append_new(vms, json_pack("{s:s, s:s, s:o, s:o*}", "name",
						     snapshot_libvirt_vm_name(lv, v), "xml",
						     snapshot_libvirt_vm_xml(lv, v), "disks", disks,
						     "nics", live_nics(lv, v)));
	}
	for (size_t v = 0; v < pl->noff; v++) {
		json_t *disks = json_array();

		for (size_t i = pl->off[v].first; i < pl->off[v].first + pl->off[v].n; i++)
			json_array_append_new(disks, json_pack("{s:s, s:s}", "target",
							       pl->odisk[i].target, "disk",
							       pl->odisk[i].name));
		json_array_append_new(vms, json_pack("{s:s, s:s, s:o, s:o*}", "name", pl->off[v].name,
						     "xml", pl->off[v].xml, "disks", disks,
						     "nics", off_nics(pl->off[v].x)));
	}
	json_object_set_new(obj, "source", json_string("libvirt"));
	/* "consistency" is the agent's, after the read (snapshot_consistency). */
	json_object_set_new(obj, "vms", vms);
	return obj;
}

/* Disks of VMs their guests shut down: nothing was in flight. */
static void
mark_clean_vms(struct snapshot *snap, const struct plan *pl)
{
	for (size_t v = 0; v < pl->noff; v++) {
		if (!pl->off[v].clean)
			continue;
		for (size_t i = pl->off[v].first; i < pl->off[v].first + pl->off[v].n; i++)
			for (size_t d = 0; d < snapshot_ndisks(snap); d++)
				if (strcmp(snapshot_disk_name(snap, d), pl->odisk[i].name) == 0)
					snapshot_mark_quiesced(snap, d);
	}
}

struct snapshot *
sources_begin(const struct agent_group_cfg *g, const char *state_dir, uint64_t base_point,
	      json_t **meta)
{
	return sources_begin_kept(g, state_dir, base_point, meta, NULL);
}

struct snapshot *
sources_begin_kept(const struct agent_group_cfg *g, const char *state_dir,
		   uint64_t base_point, json_t **meta, struct snap_libvirt_keep *keep)
{
	struct snapshot *parts[3], *snap = NULL;
	struct plan pl = { 0 };
	size_t n = 0;
	int incr = 0, full = 0;

	*meta = NULL;
	if (g->domains &&
	    plan_domains(&pl, &(struct plan_input){ g->name, g->libvirt_uri, g->domains, false,
						   keep }) < 0)
		goto out;
	if (begin_parts(g, &pl, state_dir, base_point, parts, &n, keep) < 0) {
		free_parts(parts, n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (snapshot_is_incremental(parts[i]))
			incr = 1;
		else
			full = 1;
	}
	if (incr && full) {
		log_info("group %s: some disks need a full copy: copying every disk in full",
			 g->name);
		free_parts(parts, n); /* abort: the incremental bases stay */
		if (begin_parts(g, &pl, state_dir, 0, parts, &n, keep) < 0) {
			free_parts(parts, n);
			goto out;
		}
	}
	snap = snapshot_multi(parts, n);
	if (snap)
		mark_clean_vms(snap, &pl);
	if (snap && g->domains) {
		*meta = vm_meta(snap, &pl);
		if (!*meta) {
			log_error("group %s: out of memory", g->name);
			snapshot_free(snap);
			snap = NULL;
		}
	}
out:
	plan_clear(&pl);
	return snap;
}
