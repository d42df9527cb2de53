/* Group snapshot from the configured sources: file disks through the file
 * source, RBD disks through the rbd source, joined by snapshot_multi. */
#include "replicator/sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replicator/config.h"
#include "snapshot/libvirt.h"
#include "snapshot/multi.h"
#include "snapshot/rbd.h"
#include "snapshot/source.h"

#define DEFAULT_CEPH_CONF "/etc/ceph/ceph.conf"
#define DEFAULT_LIBVIRT_URI "qemu:///system"
#define MAX_DOMAINS 32


/* rbd specs are "pool/image" (validated by the config loader). */
struct rbd_spec {
	char pool[65], image[65];
};

static int
begin_parts(const struct agent_group_cfg *g, const char *state_dir, uint64_t base,
	    struct snapshot **parts, size_t *nparts)
{
	struct snap_file_disk fd[SNAP_MAX_DISKS];
	struct snap_rbd_image ri[SNAP_MAX_DISKS];
	struct rbd_spec rs[SNAP_MAX_DISKS];
	size_t nf = 0, nr = 0;

	*nparts = 0;
	if (g->ndisks > SNAP_MAX_DISKS) {
		log_error("group %s: more than %d disks", g->name, SNAP_MAX_DISKS);
		return -1;
	}
	for (size_t i = 0; i < g->ndisks; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];

		if (d->path) {
			fd[nf].name = d->name;
			fd[nf].path = d->path;
			fd[nf].format = d->format;
			nf++;
			continue;
		}
		if (sscanf(d->rbd, "%64[^/]/%64s", rs[nr].pool, rs[nr].image) != 2) {
			log_error("group %s disk %s: bad rbd spec '%s'", g->name, d->name, d->rbd);
			return -1;
		}
		ri[nr].name = d->name;
		ri[nr].pool = rs[nr].pool;
		ri[nr].image = rs[nr].image;
		nr++;
	}
	if (g->domains) {
		char *list = strdup(g->domains), *save = NULL, *tok;
		const char *doms[MAX_DOMAINS];
		size_t nd = 0;

		if (!list) {
			log_error("group %s: out of memory", g->name);
			return -1;
		}
		for (tok = strtok_r(list, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			if (nd == MAX_DOMAINS) {
				log_error("group %s: more than %d domains", g->name, MAX_DOMAINS);
				free(list);
				return -1;
			}
			doms[nd++] = tok;
		}
		parts[*nparts] = nd ? snapshot_libvirt_begin(g->libvirt_uri ? g->libvirt_uri
								       : DEFAULT_LIBVIRT_URI,
							     doms, nd, state_dir, base)
				    : NULL;
		free(list);
		if (!parts[*nparts]) {
			if (!nd)
				log_error("group %s: 'domains' names no domain", g->name);
			return -1;
		}
		(*nparts)++;
	}
	if (nf) {
		parts[*nparts] = snapshot_file_begin(fd, nf, state_dir, base);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	if (nr) {
		parts[*nparts] = snapshot_rbd_begin(g->ceph_conf ? g->ceph_conf : DEFAULT_CEPH_CONF,
						    g->ceph_client, ri, nr, state_dir, base);
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

/* The group's disk order: the multi snapshot lists file disks first, then
 * rbd disks; the receiver only needs a stable order, which this is. */
struct snapshot *
sources_begin(const struct agent_group_cfg *g, const char *state_dir, uint64_t base_point)
{
	struct snapshot *parts[3];
	size_t n = 0;
	int incr = 0, full = 0;

	if (begin_parts(g, state_dir, base_point, parts, &n) < 0) {
		free_parts(parts, n);
		return NULL;
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
		if (begin_parts(g, state_dir, 0, parts, &n) < 0) {
			free_parts(parts, n);
			return NULL;
		}
	}
	return snapshot_multi(parts, n);
}

int
sources_vm_meta(const struct snapshot *snap, json_t *obj)
{
	const struct snapshot *lv = snapshot_part(snap, "libvirt");
	json_t *vms;

	if (!lv)
		return 0;
	vms = json_array();
	if (!vms)
		return -1;
	for (size_t v = 0; v < snapshot_libvirt_nvms(lv); v++) {
		json_t *disks = json_array();
		const char *target;
		size_t idx;

		for (size_t i = 0; snapshot_libvirt_vm_disk(lv, v, i, &target, &idx) == 0; i++)
			json_array_append_new(disks, json_pack("{s:s, s:s}", "target", target, "disk",
							       snapshot_disk_name(lv, idx)));
		json_array_append_new(vms, json_pack("{s:s, s:s, s:o}", "name",
						     snapshot_libvirt_vm_name(lv, v), "xml",
						     snapshot_libvirt_vm_xml(lv, v), "disks", disks));
	}
	json_object_set_new(obj, "source", json_string("libvirt"));
	json_object_set_new(obj, "consistency",
			    json_string(snapshot_libvirt_consistency(lv)));
	json_object_set_new(obj, "vms", vms);
	return 0;
}
