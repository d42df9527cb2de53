/* The reverse point's source (revsrc.h): the libvirt source over the
 * failed-over domains, wrapped so that its disks carry the point's names
 * and, the first time, only W u X is listed. */
#include "failback/revsrc.h"
#include "failback/revsrc-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/vmxml.h"
#include "failback/wset.h"
#include "replicator/receiver/store.h"
#include "snapshot/libvirt.h"
#include "snapshot/ranges.h"
#include "snapshot/source.h"

int
failback_revsrc_vms(const struct revsrc_in *in, struct revsrc_vms *v)
{
	json_t *vms = json_object_get(in->marker, "vms"), *e;
	size_t i;

	v->uri = json_string_value(json_object_get(in->marker, "uri"));
	v->workdir = json_string_value(json_object_get(in->marker, "workdir"));
	if (!v->workdir || !json_is_array(vms) || json_array_size(vms) == 0 ||
	    json_array_size(vms) > REVSRC_MAX_VMS) {
		log_error("failback: group %s: the failover marker names no VMs or no work "
			  "directory", in->group);
		return -1;
	}
	json_array_foreach(vms, i, e) {
		v->vm[i] = json_string_value(json_object_get(e, "vm"));
		v->domain[i] = json_string_value(json_object_get(e, "domain"));
		if (!v->vm[i] || !v->domain[i]) {
			log_error("failback: group %s: the failover marker's VM #%zu has no domain",
				  in->group, i);
			return -1;
		}
	}
	v->n = json_array_size(vms);
	return 0;
}

/* Which disk of p the overlay src of VM vm is: the failover names them
 * <workdir>/<vm>.<disk>.qcow2 (failover/drill-vm.c). Its index, or -1. */
static int
overlay_disk(const struct revsrc_in *in, const struct revsrc_vms *v, const char *vm,
	     const char *src)
{
	char *prefix = strfmt("%s/%s.", v->workdir, vm);
	size_t plen = prefix ? strlen(prefix) : 0, slen = src ? strlen(src) : 0;
	int ret = -1;

	if (!prefix || !src || slen <= plen + 6 || strncmp(src, prefix, plen) != 0 ||
	    strcmp(src + slen - 6, ".qcow2") != 0)
		goto out;
	for (size_t k = 0; k < in->p->ndisks; k++) {
		const char *name = in->p->disks[k].name;

		if (strlen(name) == slen - plen - 6 && strncmp(src + plen, name, slen - plen - 6) == 0)
			ret = (int)k;
	}
out:
	free(prefix);
	return ret;
}

/* For each disk of snap: the point disk it is (map) and its overlay. */
static int
map_disks(const struct revsrc_in *in, const struct revsrc_vms *v, struct snapshot *snap,
	  int *map, const char **overlay)
{
	for (size_t i = 0; i < snapshot_ndisks(snap); i++)
		map[i] = -1;
	for (size_t k = 0; k < v->n; k++) {
		const char *xml = snapshot_libvirt_vm_xml(snap, k), *target;
		struct vmxml *x = xml ? vmxml_parse(xml, strlen(xml), v->domain[k]) : NULL;
		size_t idx;

		if (!x)
			return -1;
		for (size_t i = 0; snapshot_libvirt_vm_disk(snap, k, i, &target, &idx) == 0; i++) {
			for (size_t d = 0; d < x->ndisks; d++) {
				if (x->disks[d].target && strcmp(x->disks[d].target, target) == 0) {
					map[idx] = overlay_disk(in, v, v->vm[k], x->disks[d].source);
					overlay[idx] = map[idx] >= 0 ? in->p->disks[map[idx]].name : NULL;
				}
			}
			if (map[idx] < 0) {
				log_error("failback: group %s: domain %s disk %s is not a failover "
					  "overlay of a disk of point %llu: not supported", in->group,
					  v->domain[k], target, (unsigned long long)in->p->id);
				vmxml_free(x);
				return -1;
			}
		}
		vmxml_free(x);
	}
	return 0;
}

/* Disk i's W u X (X taken from in). NULL on error (logged). */
static struct range_set *
first_set(const struct revsrc_in *in, const struct revsrc_vms *v, struct snapshot *snap,
	  size_t i, int pd, const char *vm)
{
	struct range_set *rs = in->x[pd];
	char *path = strfmt("%s/%s.%s.qcow2", v->workdir, vm, in->p->disks[pd].name);

	in->x[pd] = NULL;
	if (!rs)
		rs = range_set_new(snapshot_disk_name(snap, i),
				   range_set_max_for(snapshot_disk_size(snap, i)));
	if (!rs || !path || failback_overlay_ranges(path, rs) < 0) {
		range_set_free(rs);
		rs = NULL;
	}
	free(path);
	return rs;
}

/* The VM of snapshot disk idx. */
static const char *
vm_of_disk(const struct revsrc_vms *v, struct snapshot *snap, size_t idx)
{
	const char *target;
	size_t d;

	for (size_t k = 0; k < v->n; k++)
		for (size_t i = 0; snapshot_libvirt_vm_disk(snap, k, i, &target, &d) == 0; i++)
			if (d == idx)
				return v->vm[k];
	return NULL;
}

struct snapshot *
failback_revsrc_begin(const struct revsrc_in *in, bool *incremental)
{
	struct range_set *sets[SNAP_MAX_DISKS] = { 0 };
	const char *overlay[SNAP_MAX_DISKS] = { 0 };
	int map[SNAP_MAX_DISKS];
	struct revsrc_vms v = { 0 };
	struct snapshot *snap = NULL, *wrap = NULL;
	char *sdir = strfmt("%s/%s/reverse", in->store_dir, in->group);
	size_t n = 0;

	if (!sdir || failback_revsrc_vms(in, &v) < 0 || mkdir_p(sdir, 0700) < 0)
		goto out;
	snap = snapshot_libvirt_begin_named(v.uri, v.domain, v.n, sdir, in->base_point, "rev",
					    in->ceph);
	if (!snap || (in->ceph ? failback_revsrc_rbd_map(in, &v, snap, map)
			       : map_disks(in, &v, snap, map, overlay)) < 0)
		goto out;
	n = snapshot_ndisks(snap);
	*incremental = snapshot_is_incremental(snap) != 0;
	for (size_t i = 0; !*incremental && i < n; i++) {
		/* After the checkpoint (the snapshot): a later write is in the
		 * next one. */
		sets[i] = in->ceph ? failback_revsrc_rbd_set(in, snap, i, map[i])
				   : first_set(in, &v, snap, i, map[i], vm_of_disk(&v, snap, i));
		if (!sets[i])
			goto out;
		log_info("failback: group %s disk %s: W u X is %llu bytes in %zu ranges", in->group,
			 in->p->disks[map[i]].name, (unsigned long long)range_set_bytes(sets[i]),
			 range_set_count(sets[i]));
	}
	wrap = snapshot_ranges_wrap(snap, sets, n); /* takes snap and the sets */
	snap = NULL;
	for (size_t i = 0; wrap && i < n; i++) {
		if (snapshot_name_disk(wrap, i, in->p->disks[map[i]].name, "failback") < 0) {
			snapshot_free(wrap);
			wrap = NULL;
		}
	}
out:
	for (size_t i = 0; snap && i < n; i++)
		range_set_free(sets[i]);
	snapshot_free(snap);
	free(sdir);
	return wrap;
}
