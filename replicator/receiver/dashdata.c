/* The dashboard's views as JSON (replicator/receiver/dashdata.h). Every
 * list is bounded (points, runs, chart records) so a page costs the same
 * whatever the store holds. */
#include "replicator/receiver/dashdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/consistency.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "common/vmxml.h"
#include "replicator/config.h"
#include "replicator/receiver/dashreport.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/retention.h"
#include "replicator/receiver/rpohist.h"
#include "replicator/receiver/status.h"
#include "replicator/receiver/store.h"

#define DAY_NS  (86400ULL * 1000000000ULL)
#define META_VMS_MAX 256

static json_t *
secs_or_null(double s)
{
	return s < 0 ? json_null() : json_real(s);
}

/* The RPO history of group since now - window_ns, thinned to slots. */
static json_t *
history_json(const struct dash_src *s, const char *group, uint64_t now, uint64_t window_ns,
	     size_t slots)
{
	char *path = rpohist_path(s->cfg->store_dir, group);
	struct rpohist_rec *v = NULL, *thin = NULL;
	uint64_t from = now > window_ns ? now - window_ns : 0;
	size_t n = 0, k;
	json_t *arr = NULL;

	if (!path || rpohist_read(path, s->cfg->rpo_history_size, from, &v, &n) < 0)
		goto out;
	thin = calloc(slots, sizeof(*thin));
	arr = json_array();
	if (!thin || !arr)
		goto out;
	k = rpohist_downsample(v, n, from, now + 1, slots, thin);
	for (size_t i = 0; i < k; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I, s:f, s:f}",
			"at_ns", (json_int_t)thin[i].at_ns, "point", (json_int_t)thin[i].point,
			"rpo_peak_seconds", (double)thin[i].peak_ns / 1e9,
			"rpo_after_seconds", (double)thin[i].lag_ns / 1e9));
out:
	free(thin);
	free(v);
	free(path);
	return arr;
}

/* The status of every group as status_rx_json makes it; *g and *n the
 * plain data behind it (caller frees *g). */
static json_t *
status_all(const struct dash_src *s, uint64_t now, struct status_rx_group **g, size_t *n)
{
	if (status_rx_groups(s->st, s->cfg->store_dir, g, n) < 0)
		return NULL;
	status_rx_targets(*g, *n, s->cfg);
	return status_rx_json(s->cfg->store_dir, *g, *n, now);
}

void
dashdata_direction(json_t *g)
{
	const char *d = json_is_true(json_object_get(g, "failing_back")) ? "reverse"
			: json_is_true(json_object_get(g, "failed_over")) ? "failed_over"
									  : "forward";

	json_object_set_new(g, "direction", json_string(d));
}

json_t *
dashdata_overview(const struct dash_src *s, uint64_t now)
{
	struct status_rx_group *g = NULL;
	size_t n = 0;
	json_t *root = status_all(s, now, &g, &n), *groups;

	groups = json_object_get(root, "groups");
	for (size_t i = 0; root && i < n; i++) {
		json_t *h = history_json(s, g[i].name, now, DAY_NS, DASH_CHART_SLOTS);

		if (!h) {
			json_decref(root);
			root = NULL;
			break;
		}
		json_object_set_new(json_array_get(groups, i), "history_24h", h);
		dashdata_direction(json_array_get(groups, i));
	}
	free(g);
	return root;
}

static const char *
tier_label(const struct retention_tier *t, char *buf, size_t len)
{
	if (t->interval_ns)
		snprintf(buf, len, "< %llus: one per %llus", (unsigned long long)(t->age_ns / 1000000000),
			 (unsigned long long)(t->interval_ns / 1000000000));
	else
		snprintf(buf, len, "< %llus: all", (unsigned long long)(t->age_ns / 1000000000));
	return buf;
}

/* The newest DASH_MAX_POINTS points, oldest first, each with the tier its
 * receiver age puts it in (retention.h: the age retention itself counts). */
static json_t *
points_json(const struct dash_src *s, const char *group, uint64_t now, json_t *o)
{
	const struct retention_policy *p = receiver_config_retention(s->cfg, group);
	struct store_point_info *pts = NULL;
	json_t *arr = json_array(), *tiers = json_array();
	size_t n = 0, first;
	uint64_t ref;
	char label[96];

	if (!arr || !tiers || store_list_points(s->st, group, &pts, &n) < 0)
		goto fail;
	for (size_t k = 0; p && k < p->ntiers; k++)
		json_array_append_new(tiers, json_pack("{s:I, s:I, s:s}",
			"age_seconds", (json_int_t)(p->tiers[k].age_ns / 1000000000),
			"interval_seconds", (json_int_t)(p->tiers[k].interval_ns / 1000000000),
			"label", tier_label(&p->tiers[k], label, sizeof(label))));
	ref = n && pts[n - 1].received_ns < now ? pts[n - 1].received_ns : now;
	first = n > DASH_MAX_POINTS ? n - DASH_MAX_POINTS : 0;
	for (size_t i = first; i < n; i++) {
		const struct store_point_info *pi = &pts[i];
		int tier = p ? retention_tier_of(p, ref > pi->received_ns ? ref - pi->received_ns : 0)
			     : -1;

		json_array_append_new(arr, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:o}",
			"id", (json_int_t)pi->id, "base", (json_int_t)pi->base_id,
			"time_ns", (json_int_t)pi->time_ns, "received_ns", (json_int_t)pi->received_ns,
			"committed_ns", (json_int_t)pi->committed_ns,
			"bytes", (json_int_t)pi->bytes_received,
			"consistency", consistency_name(pi->consistency), "disks", (json_int_t)pi->ndisks,
			"tier", tier >= 0 ? json_integer(tier) : json_null()));
	}
	json_object_set_new(o, "point_list", arr);
	json_object_set_new(o, "points_not_shown", json_integer((json_int_t)first));
	json_object_set_new(o, "retention", p ? tiers : json_null());
	if (!p)
		json_decref(tiers);
	free(pts);
	return o;
fail:
	json_decref(arr);
	json_decref(tiers);
	free(pts);
	return NULL;
}

/* The HTML report saved beside the JSON one at json_path (docs/drill.md),
 * if there is one: malloc'd path (caller frees), else NULL. */
static char *
html_beside(const char *json_path)
{
	char *html = strfmt("%.*s.html", (int)(strlen(json_path) - 5), json_path);
	struct stat sb;

	if (html && stat(html, &sb) < 0) {
		free(html);
		html = NULL;
	}
	return html;
}

/* The dashboard's URL of a run's report file at path (dashreport.h), or
 * null. */
static json_t *
report_url(const char *group, bool failover, const char *path)
{
	char *url = path ? dashreport_url(group, failover, path) : NULL;
	json_t *v = url ? json_string(url) : json_null();

	free(url);
	return v;
}

/* A run's report as the dashboard lists it, with where its reports are:
 * their paths on the receiver and their URLs on the dashboard. */
static json_t *
run_json(const char *group, bool failover, const char *path)
{
	struct status_run r;
	char *html;
	json_t *o;

	if (status_run_load(path, &r) < 0)
		return NULL;
	html = html_beside(path);
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:s, s:o, s:o, s:o}",
		"kind", r.failover ? "failover" : "drill", "id", r.id,
		"verdict", r.pass ? "pass" : "fail", "point", (json_int_t)r.point,
		"started_ns", (json_int_t)r.started_ns, "rpo_seconds", secs_or_null(r.rpo_s),
		"rto_seconds", secs_or_null(r.rto_s), "report_json", path,
		"report_html", html ? json_string(html) : json_null(),
		"report_json_url", report_url(group, failover, path),
		"report_html_url", report_url(group, failover, html));
	free(html);
	return o;
}

/* The URL of the HTML report of the failover marker m names (null while
 * the failover runs, before its report is saved). */
static json_t *
marker_report_url(const struct dash_src *s, const char *group, const json_t *m)
{
	const char *id = json_string_value(json_object_get(m, "failover"));
	char *rec = id && name_valid(id, strlen(id))
		    ? groupstate_report_path(s->cfg->store_dir, group, true, id) : NULL;
	char *html = rec ? html_beside(rec) : NULL;
	json_t *v = report_url(group, true, html);

	free(html);
	free(rec);
	return v;
}

static int
newer_run(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "started_ns"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "started_ns"));

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest drills and failovers, newest first. */
static json_t *
runs_json(const struct dash_src *s, const char *group)
{
	json_t *found[2 * DASH_MAX_RUNS], *arr = json_array();
	size_t nf = 0;

	if (!arr)
		return NULL;
	for (int fo = 0; fo < 2; fo++) {
		char **paths = NULL;
		size_t n = 0;

		if (groupstate_recent_reports(s->cfg->store_dir, group, fo, DASH_MAX_RUNS, &paths,
					      &n) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			json_t *o = run_json(group, fo, paths[i]);

			if (o)
				found[nf++] = o;
			free(paths[i]);
		}
		free(paths);
	}
	qsort(found, nf, sizeof(found[0]), newer_run);
	for (size_t i = 0; i < nf; i++)
		json_array_append_new(arr, found[i]);
	return arr;
}

/* g's status object, or NULL with *status 404 / 500. */
static json_t *
group_status(const struct dash_src *s, const char *group, uint64_t now, int *status)
{
	struct status_rx_group *g = NULL;
	size_t n = 0;
	json_t *root, *o = NULL;

	*status = 404;
	if (!name_valid(group, strlen(group)) ||
	    !groupstate_is_group(s->cfg->store_dir, group))
		return NULL;
	*status = 500;
	root = status_all(s, now, &g, &n);
	for (size_t i = 0; root && i < n; i++)
		if (strcmp(g[i].name, group) == 0)
			o = json_incref(json_array_get(json_object_get(root, "groups"), i));
	if (root && !o)
		*status = 404;
	json_decref(root);
	free(g);
	return o;
}

json_t *
dashdata_group(const struct dash_src *s, const char *group, uint64_t now, int *status)
{
	json_t *o = group_status(s, group, now, status), *h24, *h7, *runs, *marker;
	bool absent = false;

	if (!o)
		return NULL;
	*status = 500;
	h24 = history_json(s, group, now, DAY_NS, DASH_CHART_SLOTS);
	h7 = history_json(s, group, now, 7 * DAY_NS, DASH_CHART_SLOTS);
	runs = runs_json(s, group);
	marker = failover_marker_load(s->cfg->store_dir, group, &absent);
	dashdata_direction(o);
	json_object_set_new(o, "now_ns", json_integer((json_int_t)now));
	json_object_set_new(o, "history_24h", h24 ? h24 : json_null());
	json_object_set_new(o, "history_7d", h7 ? h7 : json_null());
	json_object_set_new(o, "runs", runs ? runs : json_null());
	json_object_set_new(o, "failover_report_url", marker_report_url(s, group, marker));
	json_object_set_new(o, "failover_marker", marker ? marker : json_null());
	if (!h24 || !h7 || !runs || !points_json(s, group, now, o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* What the VM's domain XML says where the metadata does not (a file
 * source records no name and no disk map): its <name>, and its disks as
 * target -> the source host's path. */
static void
vm_from_xml(json_t *vm, const char **name, json_t *disks)
{
	const char *xml = json_string_value(json_object_get(vm, "xml"));
	struct vmxml *x;

	if (!xml)
		return;
	x = vmxml_parse(xml, strlen(xml), "dashboard: a point's VM");
	if (!x)
		return;
	if (!*name && x->name) {
		/* The name outlives x: kept in the VM's own object. */
		json_object_set_new(vm, "name", json_string(x->name));
		*name = json_string_value(json_object_get(vm, "name"));
	}
	if (json_array_size(disks) == 0)
		for (size_t k = 0; k < x->ndisks && k < 64; k++)
			if (vmxml_disk_is_disk(&x->disks[k]))
				json_array_append_new(disks, json_pack("{s:s?, s:s?}", "target",
					x->disks[k].target, "disk", x->disks[k].source));
	vmxml_free(x);
}

/* The VMs of a point's metadata (docs/metadata.md): names, disks, NICs,
 * peer input read as such: only known members, strings and bounded. */
static json_t *
vms_json(const void *meta, size_t len)
{
	json_t *m = json_loadb(meta, len, 0, NULL), *vms = json_object_get(m, "vms");
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < json_array_size(vms) && i < META_VMS_MAX; i++) {
		json_t *vm = json_array_get(vms, i), *disks = json_array(), *nics = json_array();
		json_t *d = json_object_get(vm, "disks"), *n = json_object_get(vm, "nics");
		const char *name = json_string_value(json_object_get(vm, "name"));

		if (!disks || !nics) {
			json_decref(disks);
			json_decref(nics);
			break;
		}
		for (size_t k = 0; k < json_array_size(d) && k < 64; k++)
			json_array_append_new(disks, json_pack("{s:s?, s:s?}",
				"target", json_string_value(json_object_get(json_array_get(d, k), "target")),
				"disk", json_string_value(json_object_get(json_array_get(d, k), "disk"))));
		for (size_t k = 0; k < json_array_size(n) && k < 64; k++)
			json_array_append_new(nics, json_pack("{s:s?, s:s?}",
				"mac", json_string_value(json_object_get(json_array_get(n, k), "mac")),
				"network", json_string_value(json_object_get(json_array_get(n, k), "network"))));
		vm_from_xml(vm, &name, disks);
		json_array_append_new(arr, json_pack("{s:s?, s:s?, s:o, s:o}", "name", name,
			"xml_path", json_string_value(json_object_get(vm, "xml_path")),
			"disks", disks, "nics", nics));
	}
	json_decref(m);
	return arr;
}

json_t *
dashdata_point(const struct dash_src *s, const char *group, uint64_t point, int *status)
{
	struct store_point_info *pts = NULL;
	const struct store_point_info *pi = NULL;
	json_t *o = NULL, *disks;
	void *meta = NULL;
	size_t n = 0, mlen = 0;

	*status = 404;
	if (!name_valid(group, strlen(group)) || !groupstate_is_group(s->cfg->store_dir, group))
		return NULL;
	*status = 500;
	if (store_list_points(s->st, group, &pts, &n) < 0)
		goto out;
	for (size_t i = 0; i < n && !pi; i++)
		if (pts[i].id == point)
			pi = &pts[i];
	if (!pi) {
		*status = 404;
		goto out;
	}
	disks = json_array();
	for (size_t k = 0; disks && k < pi->ndisks; k++)
		json_array_append_new(disks, json_pack("{s:s, s:I}", "name", pi->disks[k].name,
						       "size", (json_int_t)pi->disks[k].size));
	if (store_point_meta(s->st, group, point, &meta, &mlen) < 0)
		log_warn("dashboard: group %s point %llu: no metadata; VMs not shown", group,
			 (unsigned long long)point);
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "group", group,
		"id", (json_int_t)pi->id, "base", (json_int_t)pi->base_id,
		"time_ns", (json_int_t)pi->time_ns, "received_ns", (json_int_t)pi->received_ns,
		"committed_ns", (json_int_t)pi->committed_ns, "bytes", (json_int_t)pi->bytes_received,
		"consistency", consistency_name(pi->consistency), "disks", disks ? disks : json_null(),
		"vms", meta ? vms_json(meta, mlen) : json_array());
out:
	free(meta);
	free(pts);
	return o;
}

void
dashdata_record_commit(const struct dash_src *s, const char *group, uint64_t now)
{
	struct store_point_info *pts = NULL;
	struct rpohist_rec r;
	char *path = NULL;
	size_t n = 0;

	if (store_list_points(s->st, group, &pts, &n) < 0 || n == 0)
		goto out;
	r.at_ns = now;
	r.point = pts[n - 1].id;
	r.lag_ns = now > pts[n - 1].time_ns ? now - pts[n - 1].time_ns : 0;
	r.peak_ns = n > 1 && now > pts[n - 2].time_ns ? now - pts[n - 2].time_ns : r.lag_ns;
	path = rpohist_path(s->cfg->store_dir, group);
	if (path && rpohist_append(path, &r, s->cfg->rpo_history_size) < 0)
		log_warn("group %s: point %llu not in the RPO history", group,
			 (unsigned long long)r.point);
out:
	free(path);
	free(pts);
}
