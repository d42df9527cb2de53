/* The failed-over VMs' final disks as a new forward point (promote.h):
 * the failover's overlays over P (a local store), or its RBD clones of
 * P's snapshots (a ceph store), taken by the store as point F's disks
 * (store_point_adopt), then the failover released. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "failover/failover.h"
#include "failover/promote.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"

/* Every domain of the marker shut off (or gone): 0; -1 naming the first
 * that runs, or libvirt's failure (logged). */
static int
check_shut_off(const json_t *m, const char *group, const char *uri)
{
	const json_t *vms = json_object_get(m, "vms");
	virConnectPtr conn;
	int rc = 0;

	if (virt_dl_load() < 0)
		return -1;
	if (!(conn = sym_virConnectOpen(uri))) {
		log_error("cannot connect to libvirt at %s: %s", uri, sym_virGetLastErrorMessage());
		return -1;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(vms); i++) {
		const char *dn = json_string_value(json_object_get(json_array_get(vms, i), "domain"));
		virDomainPtr dom = dn ? sym_virDomainLookupByName(conn, dn) : NULL;

		if (dom && sym_virDomainIsActive(dom) != 0) {
			log_error("group %s: domain %s is still running: shut it down first "
				  "(virsh shutdown %s), its disks are the new point", group, dn, dn);
			rc = -1;
		}
		if (dom)
			sym_virDomainFree(dom);
	}
	sym_virConnectClose(conn);
	return rc;
}

/* The image that holds disk's final content: the failover's overlay of the
 * VM that booted it (<workdir>/<vm>.<disk>.qcow2, drill-vm.c), else a new
 * overlay over P in the work dir (a disk no VM booted keeps P's content).
 * malloc'd; NULL (logged). */
static char *
disk_source(struct store *st, const json_t *m, const char *group, uint64_t p, const char *disk)
{
	const char *wd = json_string_value(json_object_get(m, "workdir"));
	const json_t *vms = json_object_get(m, "vms");
	struct store_clone_names names = { 0 };
	char *path = NULL, *src = NULL;

	if (!wd) {
		log_error("group %s: the failover marker names no work directory", group);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(vms); i++) {
		const char *vm = json_string_value(json_object_get(json_array_get(vms, i), "vm"));

		path = vm ? strfmt("%s/%s.%s.qcow2", wd, vm, disk) : NULL;
		if (path && access(path, F_OK) == 0)
			return path;
		free(path);
	}
	path = strfmt("%s/promote.%s.qcow2", wd, disk);
	names.file = path;
	if (path && unlink(path) < 0 && errno != ENOENT)
		log_error("group %s: remove %s: %m", group, path);
	else if (path && store_point_clone(st, group, p, disk, &names, &src) == 0)
		log_info("group %s: disk %s: no VM booted it, it keeps point %" PRIu64 "'s content",
			 group, disk, p);
	free(path);
	return src;
}

/* The rbd disks of domain dn's definition (inactive: what it boots) that
 * are clones of group's point snapshots, into src by p's disk. 0 / -1. */
static int
domain_clones(struct store *st, virConnectPtr conn, const char *group, const char *dn,
	      const struct store_point_info *p, char **src)
{
	virDomainPtr dom = sym_virDomainLookupByName(conn, dn);
	char *xml = NULL, *what = strfmt("group %s: domain %s", group, dn), *s = NULL;
	struct vmxml *x = NULL;
	struct store_clone_info ci;
	int k, rc = -1;

	if (!dom || !what) {
		log_error("group %s: the failover's domain %s is gone: %s", group, dn,
			  virt_dl_error());
		goto out;
	}
	xml = sym_virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml || !(x = vmxml_parse(xml, strlen(xml), what))) {
		if (!xml)
			log_error("%s: its definition: %s", what, virt_dl_error());
		goto out;
	}
	for (size_t i = 0; i < x->ndisks; i++) {
		const struct vmxml_disk *vd = &x->disks[i];
		size_t pd = p->ndisks;

		if (!vd->rbd || !vd->r.pool || !vd->r.image)
			continue;
		free(s);
		if (!(s = strfmt("rbd:%s/%s", vd->r.pool, vd->r.image)) ||
		    (k = store_clone_stat(st, group, s, &ci)) < 0)
			goto out;
		for (size_t j = 0; k == 1 && j < p->ndisks; j++)
			if (strcmp(p->disks[j].name, ci.disk) == 0)
				pd = j;
		if (k == 0 || pd == p->ndisks)
			continue; /* not a clone of this group's disks */
		if (ci.point != p->id || (src[pd] && strcmp(src[pd], s) != 0)) {
			log_error("%s: disk %s (%s) is %s: refused", what, vd->target ? vd->target : "?",
				  s, ci.point != p->id ? "a clone of another point than the failover's"
				  : "a second clone of the same disk");
			goto out;
		}
		if (!src[pd]) {
			src[pd] = s;
			s = NULL;
		}
	}
	rc = 0;
out:
	vmxml_free(x);
	if (dom)
		sym_virDomainFree(dom);
	free(s);
	free(xml);
	free(what);
	return rc;
}

int
failover_promote_clones(struct store *st, const json_t *m, const char *group, const char *uri,
			const struct store_point_info *p, char **src)
{
	const json_t *vms = json_object_get(m, "vms");
	virConnectPtr conn;
	int rc = 0;

	for (size_t i = 0; i < p->ndisks; i++)
		src[i] = NULL;
	if (virt_dl_load() < 0)
		return -1;
	if (!(conn = sym_virConnectOpen(uri))) {
		log_error("cannot connect to libvirt at %s: %s", uri, virt_dl_error());
		return -1;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(vms); i++) {
		const char *dn = json_string_value(json_object_get(json_array_get(vms, i), "domain"));

		rc = dn ? domain_clones(st, conn, group, dn, p, src) : 0;
	}
	sym_virConnectClose(conn);
	for (size_t i = 0; rc < 0 && i < p->ndisks; i++) {
		free(src[i]);
		src[i] = NULL;
	}
	return rc;
}

/* P's metadata (the VMs' definitions, the disk map) for F, which holds what
 * the VMs left on their disks when they stopped: crash-consistent. */
static char *
promote_meta(struct store *st, const char *group, uint64_t p, uint64_t fid, size_t *len)
{
	void *blob = NULL;
	size_t blen = 0;
	json_t *j = NULL;
	char *out = NULL;

	if (store_point_meta(st, group, p, &blob, &blen) < 0)
		return NULL;
	j = json_loadb(blob, blen, 0, NULL);
	if (!json_is_object(j)) {
		log_error("group %s: point %" PRIu64 ": its metadata is not a JSON object", group, p);
		goto out;
	}
	if (json_object_set_new(j, "consistency", json_string("crash-consistent")) < 0 ||
	    json_object_set_new(j, "promoted_from", json_integer((json_int_t)p)) < 0)
		goto out;
	out = json_dumps(j, JSON_COMPACT);
	if (!out)
		log_error("group %s: point %" PRIu64 ": cannot encode its metadata", group, fid);
	else
		*len = strlen(out);
out:
	json_decref(j);
	free(blob);
	return out;
}

/* Point fid on base `base` made of the final disks of P's failover; its
 * disks and bytes into disks_out. uri: the DR libvirtd (a ceph store
 * finds the clones in its domains' definitions). 0 / -1 (logged). */
static int
promote_point(struct store *st, const json_t *m, const char *group, const char *uri,
	      const struct store_point_info *p, uint64_t fid, uint64_t base, json_t *disks_out)
{
	struct store_begin b = { .point_id = fid, .base_id = base, .time_ns = clock_now_ns(),
				 .ndisks = p->ndisks };
	struct store_point *pt = NULL;
	char *meta = NULL, *src = NULL, *clones[STORE_MAX_DISKS] = { 0 };
	bool files = store_points_are_files(st);
	size_t meta_len = 0;
	uint64_t bytes;
	int err, rc = -1;

	snprintf(b.group, sizeof(b.group), "%s", group);
	for (size_t i = 0; i < p->ndisks; i++) {
		snprintf(b.disks[i].name, sizeof(b.disks[i].name), "%s", p->disks[i].name);
		b.disks[i].size = p->disks[i].size;
	}
	meta = promote_meta(st, group, p->id, fid, &meta_len);
	if (!meta || (!files && failover_promote_clones(st, m, group, uri, p, clones) < 0) ||
	    !(pt = store_point_begin(st, &b, &err)))
		goto out;
	for (size_t i = 0; i < p->ndisks; i++) {
		if (store_point_disk_was_done(pt, (uint16_t)i))
			continue; /* a re-run: taken before the crash */
		free(src);
		src = NULL;
		if (!files && !clones[i]) { /* the point's snapshot: F's head holds it */
			log_info("group %s: disk %s: no VM booted it, it keeps point %" PRIu64
				 "'s content", group, p->disks[i].name, p->id);
			if (store_point_disk_done(pt, (uint16_t)i, &err) < 0)
				goto out;
			continue;
		}
		src = files ? disk_source(st, m, group, p->id, p->disks[i].name)
			    : strdup(clones[i]);
		if (!src || store_point_adopt(pt, (uint16_t)i, src, &bytes, &err) < 0)
			goto out;
		json_array_append_new(disks_out, json_pack("{s:s, s:s, s:I}", "disk",
							   p->disks[i].name, "source", src,
							   "bytes", (json_int_t)bytes));
	}
	if (store_point_commit(pt, meta, meta_len, &err) < 0)
		goto out;
	rc = 0;
out:
	store_point_free(pt);
	for (size_t i = 0; i < STORE_MAX_DISKS; i++)
		free(clones[i]);
	free(src);
	free(meta);
	return rc;
}

/* F's id: the one the marker recorded (a re-run), else newest + 1 (the
 * group's pending point discarded first), recorded durably in the marker
 * before anything is begun. 0 / -1 (logged). */
static int
promote_id(struct store *st, const char *store_dir, const char *group, json_t *m,
	   uint64_t newest, uint64_t *fid)
{
	json_int_t rec = json_integer_value(json_object_get(m, "promote_point"));
	struct store_progress prog;

	if (rec > 0) {
		*fid = (uint64_t)rec;
		return 0;
	}
	/* A point the agent was sending when the failover came is moot: the
	 * failed-over VMs' disks are the truth now, and it must not be
	 * resumed as F. */
	if (store_progress(st, group, &prog) < 0 || store_discard_pending(st, group) < 0)
		return -1;
	if (prog.pending_point)
		log_info("group %s: the agent's interrupted point %" PRIu64 " discarded", group,
			 prog.pending_point);
	*fid = newest + 1;
	if (json_object_set_new(m, "promote_point", json_integer((json_int_t)*fid)) < 0) {
		log_error("group %s: out of memory", group);
		return -1;
	}
	return failover_marker_save(store_dir, group, m);
}

/* A ceph store writes the clones' own changes over P's snapshots: F's
 * base must be P itself. A newer point (a point F made by an earlier,
 * abandoned finish, after which the VMs ran on) is refused before
 * anything changes; a re-run of an interrupted F begins it afresh (its
 * head rolled back to P: no checksum record is written twice). 0 / -1. */
static int
ceph_base_check(struct store *st, const char *group, const json_t *m)
{
	json_int_t rec = json_integer_value(json_object_get(m, "promote_point"));
	uint64_t pid = (uint64_t)json_integer_value(json_object_get(m, "point")), newest;

	if (store_last_point(st, group, &newest) < 0)
		return -1;
	if (newest == pid || (rec > 0 && newest == (uint64_t)rec))
		return rec > 0 && newest == pid ? store_discard_pending(st, group) : 0;
	log_error("group %s: point %" PRIu64 " was committed after the failover's point %" PRIu64
		  ": on a ceph store the failed-over VMs' clones can only become a point over "
		  "the failover's point itself (they hold their changes against it); refused, "
		  "nothing changed", group, newest, pid);
	return -1;
}

/* Make F (or find it made by an interrupted run). 0 / -1 (logged). */
static int
promote_make(struct store *st, const char *store_dir, const char *group, const char *uri,
	     json_t *m, json_t *rep)
{
	struct store_point_info *pts = NULL;
	const struct store_point_info *p = NULL;
	uint64_t pid = (uint64_t)json_integer_value(json_object_get(m, "point")), fid;
	size_t n = 0;
	int rc = -1;

	if (store_list_points(st, group, &pts, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (pts[i].id == pid)
			p = &pts[i];
	if (!p || n == 0) {
		log_error("group %s: the failed-over point %" PRIu64 " is not in the catalog", group,
			  pid);
		goto out;
	}
	if (promote_id(st, store_dir, group, m, pts[n - 1].id, &fid) < 0)
		goto out;
	json_object_set_new(rep, "point", json_integer((json_int_t)fid));
	json_object_set_new(rep, "from_point", json_integer((json_int_t)pid));
	if (pts[n - 1].id == fid) {
		log_info("group %s: point %" PRIu64 " was made already", group, fid);
		json_object_set_new(rep, "base", json_integer((json_int_t)pts[n - 1].base_id));
		rc = 0;
		goto out;
	}
	if (pts[n - 1].id > fid) {
		log_error("group %s: newer points than the recorded point %" PRIu64 ": refused",
			  group, fid);
		goto out;
	}
	json_object_set_new(rep, "base", json_integer((json_int_t)pts[n - 1].id));
	rc = promote_point(st, m, group, uri, p, fid, pts[n - 1].id, json_object_get(rep, "disks"));
	if (rc == 0)
		log_info("group %s: the failover's final disks are point %" PRIu64 " (from point %"
			 PRIu64 ", base %" PRIu64 ")", group, fid, pid, pts[n - 1].id);
out:
	free(pts);
	return rc;
}

/* rep's "bytes": F's own data as the catalog counts it (also when an
 * earlier, interrupted run took some of its disks). */
static void
report_bytes(struct store *st, const char *group, json_t *rep)
{
	uint64_t fid = (uint64_t)json_integer_value(json_object_get(rep, "point"));
	struct store_point_info *pts = NULL;
	size_t n = 0;

	if (store_list_points(st, group, &pts, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (pts[i].id == fid)
				json_object_set_new(rep, "bytes",
						    json_integer((json_int_t)pts[i].bytes_received));
	free(pts);
}

int
failover_promote_point(struct store *st, const char *store_dir, const char *group,
		       const char *uri, json_t **report)
{
	json_t *m = NULL, *rep = NULL;
	bool absent = false;
	int rc = -1;

	*report = NULL;
	m = failover_marker_load(store_dir, group, &absent);
	if (!m) {
		if (absent)
			log_error("group %s is not failed over: nothing to promote", group);
		return -1;
	}
	rep = json_pack("{s:s, s:O?, s:[]}", "group", group, "failover",
			json_object_get(m, "failover"), "disks");
	if (!rep || (!store_points_are_files(st) && ceph_base_check(st, group, m) < 0) ||
	    check_shut_off(m, group, uri) < 0 ||
	    promote_make(st, store_dir, group, uri, m, rep) < 0)
		goto out;
	report_bytes(st, group, rep);
	*report = rep;
	rep = NULL;
	rc = 0;
out:
	json_decref(rep);
	json_decref(m);
	return rc;
}

int
failover_promote(struct store *st, const char *store_dir, const char *group, const char *uri,
		 json_t **report)
{
	if (failover_promote_point(st, store_dir, group, uri, report) < 0)
		return -1;
	if (failover_release(store_dir, group, uri) < 0) {
		json_decref(*report);
		*report = NULL;
		return -1;
	}
	return 0;
}
