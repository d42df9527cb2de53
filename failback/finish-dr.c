/* The DR side's steps of a failback finish (finish-dr.h): libvirt calls,
 * the promotion and the release, each a blocking step for a worker. */
#include "failback/finish-dr.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "failover/failover.h"
#include "failover/promote.h"
#include "replicator/agent/shutdown.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"

/* The marker's domain names (borrowed from m) and its libvirt URI. */
static size_t
marker_domains(const json_t *m, const char **names, size_t cap, const char **uri)
{
	const json_t *vms = json_object_get(m, "vms");
	size_t n = 0;

	*uri = json_string_value(json_object_get(m, "uri"));
	for (size_t i = 0; i < json_array_size(vms) && n < cap; i++) {
		const char *d = json_string_value(json_object_get(json_array_get(vms, i), "domain"));

		if (d)
			names[n++] = d;
	}
	return n;
}

/* Start (paused) or destroy every domain of m as `start` says. Destroy
 * skips shut-off ones. 0 / -1 (logged, why). */
static int
domains_each(const json_t *m, const char *group, bool start, char *why, size_t cap)
{
	const char *names[SHUTDOWN_MAX_VMS], *uri;
	size_t n = marker_domains(m, names, SHUTDOWN_MAX_VMS, &uri);
	virConnectPtr conn = NULL;
	int rc = -1;

	if (virt_dl_load() < 0) {
		snprintf(why, cap, "libvirt cannot be loaded");
		return -1;
	}
	if (!(conn = sym_virConnectOpen(uri ? uri : VMXML_DEFAULT_URI))) {
		snprintf(why, cap, "cannot connect to libvirt at %s: %s",
			 uri ? uri : VMXML_DEFAULT_URI, sym_virGetLastErrorMessage());
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		virDomainPtr dom = sym_virDomainLookupByName(conn, names[i]);
		int active = dom ? sym_virDomainIsActive(dom) : -1, r = 0;

		if (!dom)
			r = -1;
		else if (start && active == 0)
			r = sym_virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED);
		else if (!start && active == 1)
			r = sym_virDomainDestroy(dom);
		if (r < 0)
			snprintf(why, cap, "domain %s: cannot %s it: %s", names[i],
				 start ? "start (paused)" : "destroy", sym_virGetLastErrorMessage());
		if (dom)
			sym_virDomainFree(dom);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		log_error("failback: group %s: %s", group, why);
	if (conn)
		sym_virConnectClose(conn);
	return rc;
}

int
finish_dr_quiesce(const json_t *m, const char *group, uint64_t timeout_s, char *why, size_t cap)
{
	const char *names[SHUTDOWN_MAX_VMS];
	struct shutdown_req rq = { .group = group, .names = names, .timeout_s = timeout_s,
				   .timeout_key = "--shutdown-timeout", .destroy = true };
	json_t *done = NULL;

	rq.n = marker_domains(m, names, SHUTDOWN_MAX_VMS, &rq.uri);
	if (shutdown_vms(&rq, why, cap, &done) < 0)
		return -1;
	json_decref(done);
	if (domains_each(m, group, true, why, cap) < 0)
		return -1;
	log_info("failback: group %s: the failed-over VMs are shut down and held paused for "
		 "the final reverse point", group);
	return 0;
}

int
finish_dr_stop(const json_t *m, const char *group)
{
	char why[512];

	return domains_each(m, group, false, why, sizeof(why));
}

/* Point f of the catalog into *out: 1, 0 not listed, -1. */
static int
point_of(struct store *st, const char *group, uint64_t f, struct finish_point *out)
{
	struct store_point_info *pts = NULL;
	size_t n = 0;
	int rc = 0;

	if (store_list_points(st, group, &pts, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (pts[i].id == f) {
			*out = (struct finish_point){ f, pts[i].base_id, pts[i].bytes_received };
			rc = 1;
		}
	free(pts);
	return rc;
}

/* What the failover's overlays are now: a hash of each qcow2 file's name,
 * inode, size and mtime in its work directory, name order (at most a
 * marker's VMs times their disks). 0 / -1 (logged). */
static int
overlays_print(const json_t *m, const char *group, uint64_t *out)
{
	const char *wd = json_string_value(json_object_get(m, "workdir"));
	struct dirent **ents = NULL;
	uint64_t h = 0;
	int n, rc = -1;

	if (!wd || (n = scandir(wd, &ents, NULL, alphasort)) < 0) {
		log_error("failback: group %s: the failover's work directory %s: %m", group,
			  wd ? wd : "(none)");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		char *path = NULL, *line = NULL;
		struct stat sb;

		/* promote.<disk>.qcow2: made by the promotion itself, no VM's. */
		if (len > 6 && strcmp(name + len - 6, ".qcow2") == 0 &&
		    strncmp(name, "promote.", 8) != 0 &&
		    (path = strfmt("%s/%s", wd, name)) && stat(path, &sb) == 0 &&
		    (line = strfmt("%s %ju %jd %jd.%09ld %" PRIx64, name, (uintmax_t)sb.st_ino,
				   (intmax_t)sb.st_size, (intmax_t)sb.st_mtim.tv_sec,
				   sb.st_mtim.tv_nsec, h)))
			h = hash64(line, strlen(line));
		free(line);
		free(path);
	}
	rc = 0;
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	*out = h;
	return rc;
}

/* What the failover's RBD clones are now (a ceph store): a hash of each
 * clone's name and store_clone_stat's print (its snapshots, and whether
 * it was written since the newest: the reverse source's final one), p's
 * disk order. 0 / -1 (logged). */
static int
clones_print(struct store *st, const json_t *m, const char *group, uint64_t *out)
{
	const char *uri = json_string_value(json_object_get(m, "uri"));
	uint64_t pid = (uint64_t)json_integer_value(json_object_get(m, "point")), h = 0;
	char *src[STORE_MAX_DISKS] = { 0 }, *line = NULL;
	struct store_point_info *pts = NULL, *p = NULL;
	struct store_clone_info ci;
	size_t n = 0;
	int rc = -1;

	if (store_list_points(st, group, &pts, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (pts[i].id == pid)
			p = &pts[i];
	if (!p) {
		log_error("failback: group %s: the failover's point %" PRIu64 " is not in the catalog",
			  group, pid);
		goto out;
	}
	if (failover_promote_clones(st, m, group, uri ? uri : VMXML_DEFAULT_URI, p, src) < 0)
		goto out;
	for (size_t i = 0; i < p->ndisks; i++) {
		if (!src[i])
			continue;
		if (store_clone_stat(st, group, src[i], &ci) != 1) {
			log_error("failback: group %s: %s is no clone of the group's disks any more",
				  group, src[i]);
			goto out;
		}
		free(line);
		if (!(line = strfmt("%s %s %" PRIx64 " %" PRIx64, p->disks[i].name, src[i], ci.print,
				    h)))
			goto out;
		h = hash64(line, strlen(line));
	}
	*out = h;
	rc = 0;
out:
	for (size_t i = 0; i < STORE_MAX_DISKS; i++)
		free(src[i]);
	free(line);
	free(pts);
	return rc;
}

/* What the failed-over VMs' final disks are now: their overlays' or their
 * clones' fingerprint. */
static int
final_print(struct store *st, const json_t *m, const char *group, uint64_t *out)
{
	return store_points_are_files(st) ? overlays_print(m, group, out)
					  : clones_print(st, m, group, out);
}

int
finish_dr_made(struct store *st, json_t *m, const char *store_dir, const char *group,
	       struct finish_point *out)
{
	json_int_t f = json_integer_value(json_object_get(m, "promote_point"));
	const char *rec = json_string_value(json_object_get(m, "promote_overlays"));
	char now[24];
	uint64_t h;
	int k;

	if (f <= 0 || (k = point_of(st, group, (uint64_t)f, out)) == 0)
		return 0;
	if (k < 0 || final_print(st, m, group, &h) < 0)
		return -1;
	snprintf(now, sizeof(now), "%016" PRIx64, h);
	if (rec && strcmp(rec, now) == 0)
		return 1;
	/* A VM started again after F was made (an abandoned finish) wrote on:
	 * F is not its final state any more. It stays a point; the next is
	 * made of what the disks hold now. */
	log_warn("failback: group %s: the failed-over VMs' disks changed after point %lld was "
		 "made of them (%s): a new point will be made", group, (long long)f,
		 rec ? "started again?" : "not recorded");
	json_object_del(m, "promote_point");
	json_object_del(m, "promote_overlays");
	return failover_marker_save(store_dir, group, m) < 0 ? -1 : 0;
}

int
finish_dr_record(struct store *st, const char *store_dir, const char *group)
{
	bool absent = false;
	json_t *m = failover_marker_load(store_dir, group, &absent);
	char hex[24];
	uint64_t h;
	int rc = -1;

	if (m && final_print(st, m, group, &h) == 0) {
		snprintf(hex, sizeof(hex), "%016" PRIx64, h);
		if (json_object_set_new(m, "promote_overlays", json_string(hex)) == 0)
			rc = failover_marker_save(store_dir, group, m);
	}
	json_decref(m);
	return rc;
}

int
finish_dr_promote(struct store *st, const char *store_dir, const char *group,
		  struct finish_point *out)
{
	bool absent = false;
	json_t *m = failover_marker_load(store_dir, group, &absent), *rep = NULL;
	const char *uri = json_string_value(json_object_get(m, "uri"));
	int rc = -1;

	if (!m) {
		if (absent)
			log_error("failback: group %s: the failover marker went away", group);
		return -1;
	}
	/* What the overlays are is recorded before F is made of them (the
	 * domains are off, nothing writes them now): a crash right after the
	 * promotion then finds F listed and recorded, and answers the same F. */
	if (finish_dr_stop(m, group) < 0 || finish_dr_record(st, store_dir, group) < 0 ||
	    failover_promote_point(st, store_dir, group, uri ? uri : VMXML_DEFAULT_URI, &rep) < 0)
		goto out;
	testhook_at("finish-promoted"); /* F made, REVERSE_DONE not sent */
	out->point = (uint64_t)json_integer_value(json_object_get(rep, "point"));
	out->base = (uint64_t)json_integer_value(json_object_get(rep, "base"));
	out->bytes = (uint64_t)json_integer_value(json_object_get(rep, "bytes"));
	rc = 0;
out:
	json_decref(rep);
	json_decref(m);
	return rc;
}

int
finish_dr_release(const char *store_dir, const char *group, const json_t *m)
{
	const char *uri = json_string_value(json_object_get(m, "uri"));

	return failover_release(store_dir, group, uri ? uri : VMXML_DEFAULT_URI);
}

int
finish_dr_promoted(struct store *st, const char *group, uint64_t f, struct finish_point *out)
{
	void *blob = NULL;
	size_t len = 0;
	json_t *j = NULL;
	int rc = point_of(st, group, f, out);

	if (rc <= 0)
		return rc;
	if (store_point_meta(st, group, f, &blob, &len) < 0)
		return -1;
	j = json_loadb(blob, len, 0, NULL);
	rc = json_integer_value(json_object_get(j, "promoted_from")) > 0;
	json_decref(j);
	free(blob);
	return rc;
}

/* Does <dir> hold a file "<domain>.<something>.json" (the rbd source's
 * state of one of the domain's disks, snapshot/rbd.c)? */
static bool
has_rbd_state(const char *dir, const char *domain)
{
	struct dirent **ents = NULL;
	size_t dl = strlen(domain);
	int n = scandir(dir, &ents, NULL, alphasort);
	bool ok = false;

	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);

		ok |= len > dl + 6 && strncmp(name, domain, dl) == 0 && name[dl] == '.' &&
		      strcmp(name + len - 5, ".json") == 0;
		free(ents[i]);
	}
	free(ents);
	return ok;
}

bool
finish_dr_has_reverse(const char *store_dir, const char *group, const json_t *m, bool ceph)
{
	const char *names[SHUTDOWN_MAX_VMS], *uri;
	size_t n = marker_domains(m, names, SHUTDOWN_MAX_VMS, &uri);
	char *rbd = ceph ? strfmt("%s/%s/reverse/rbd", store_dir, group) : NULL;
	bool ok = n > 0 && (!ceph || rbd);

	for (size_t i = 0; ok && i < n; i++) {
		char *path = strfmt("%s/%s/reverse/%s.json", store_dir, group, names[i]);

		ok = path && access(path, F_OK) == 0 && (!ceph || has_rbd_state(rbd, names[i]));
		free(path);
	}
	free(rbd);
	return ok;
}
