/* Per-group replication state for `nestor status`, as data: agent side from
 * the daemon's <state_dir>/<group>/status.json, receiver side from the store. */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/status.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/consistency.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/names.h"
#include "replicator/config.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"

#define STATUS_FILE_MAX  (64 * 1024)
#define REPORT_FILE_MAX  (4 * 1024 * 1024)
#define MAX_GROUPS       65536

static char *
path_join3(const char *a, const char *b, const char *c)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s/%s", a, b, c) < 0) {
		log_error("out of memory");
		return NULL;
	}
	return p;
}

int
status_run_load(const char *path, struct status_run *out)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	json_t *r = NULL, *vms, *v;
	json_error_t jerr;
	int rc;

	memset(out, 0, sizeof(*out));
	out->rto_s = -1;
	out->rpo_s = -1;
	rc = jsonfile_read(path, REPORT_FILE_MAX, 0, &r, &jerr);
	if (rc == -2)
		log_warn("report %s is not JSON; ignored", path);
	if (rc != 0) {
		json_decref(r);
		return -1;
	}
	v = json_object_get(r, "verdict");
	out->pass = json_is_string(v) && strcmp(json_string_value(v), "pass") == 0;
	v = json_object_get(r, "drill");
	snprintf(out->id, sizeof(out->id), "%.*s", json_is_string(v) ? 127 : (int)strcspn(base, "."),
		 json_is_string(v) ? json_string_value(v) : base);
	v = json_object_get(r, "mode");
	out->failover = json_is_string(v) && strcmp(json_string_value(v), "failover") == 0;
	out->started_ns = status_json_u64(r, "started_ns");
	out->point = status_json_u64(r, "point");
	v = json_object_get(r, "rpo_s");
	if (json_is_number(v))
		out->rpo_s = json_number_value(v);
	vms = json_object_get(r, "vms");
	for (size_t k = 0; k < json_array_size(vms); k++) {
		json_t *s = json_object_get(json_array_get(vms, k), "rto_s");

		if (json_is_number(s) && json_number_value(s) > out->rto_s)
			out->rto_s = json_number_value(s);
	}
	json_decref(r);
	return 0;
}

/* Newest drill report (by modification time) of the group, if any. A
 * report that cannot be parsed is logged and counts as no drill: status
 * must still show everything else. */
static void
load_last_drill(const char *store_dir, struct status_rx_group *g)
{
	char *path = groupstate_last_drill_report(store_dir, g->name);
	struct status_run run;

	g->drill_result = -1;
	g->drill_rto_s = -1;
	if (!path || status_run_load(path, &run) < 0)
		goto out;
	g->drill_result = run.pass;
	snprintf(g->drill_id, sizeof(g->drill_id), "%s", run.id);
	g->drill_started_ns = run.started_ns;
	g->drill_rto_s = run.rto_s;
out:
	free(path);
}

/* A failed-over group's reverse stream, when one ran for this failover
 * (the file of an older failover's stream does not count). Unreadable:
 * logged, shown as none. */
static void
load_reverse(const char *store_dir, struct status_rx_group *g)
{
	char *path = revstate_rx_path(store_dir, g->name);
	json_t *m = NULL;
	const char *id;
	bool absent = false;

	if (!path || revstate_load(path, &g->reverse) != 0 || !g->reverse.points)
		goto out;
	m = failover_marker_load(store_dir, g->name, &absent);
	id = json_string_value(json_object_get(m, "failover"));
	g->failing_back = m && (!g->reverse.failover[0] ||
				(id && strcmp(id, g->reverse.failover) == 0));
out:
	if (!g->failing_back)
		memset(&g->reverse, 0, sizeof(g->reverse));
	json_decref(m);
	free(path);
}

static int
load_rx_group(struct store *st, const char *store_dir, struct status_rx_group *g)
{
	struct store_point_info *pts = NULL;
	struct store_progress *pr = NULL;
	size_t n = 0;
	int rc = -1;

	if (store_list_points(st, g->name, &pts, &n) < 0)
		goto out;
	g->points = n;
	scrubstate_summary(st, g->name, pts, n, g->scrub, sizeof(g->scrub), &g->scrub_bad_points);
	if (n) {
		g->last_point = pts[n - 1].id;
		g->last_point_time_ns = pts[n - 1].time_ns;
		g->last_point_committed_ns = pts[n - 1].committed_ns;
		g->last_point_bytes = pts[n - 1].bytes_received;
		g->last_point_consistency = pts[n - 1].consistency;
	}
	pr = malloc(sizeof(*pr));
	if (!pr) {
		log_error("out of memory");
		goto out;
	}
	if (store_progress(st, g->name, pr) < 0)
		goto out;
	g->pending_point = pr->pending_point;
	for (size_t i = 0; pr->pending_point && i < pr->ndisks && i < STORE_MAX_DISKS; i++) {
		g->pending_disks++;
		g->pending_disks_done += pr->disks[i].done != 0;
		g->pending_durable_bytes += pr->disks[i].durable_offset;
	}
	g->failed_over = failover_group_is_failed_over(store_dir, g->name);
	if (g->failed_over)
		load_reverse(store_dir, g);
	load_last_drill(store_dir, g);
	rc = 0;
out:
	free(pr);
	free(pts);
	return rc;
}

static int
cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct status_rx_group *)a)->name,
		      ((const struct status_rx_group *)b)->name);
}

int
status_rx_groups(struct store *st, const char *store_dir,
		 struct status_rx_group **out, size_t *n)
{
	struct status_rx_group *v = NULL;
	size_t cnt = 0, cap = 0;
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	*out = NULL;
	*n = 0;
	d = opendir(store_dir);
	if (!d) {
		log_error("store %s: %m", store_dir);
		goto out;
	}
	while ((de = readdir(d))) {
		struct stat sb;

		if (!name_valid(de->d_name, strlen(de->d_name)) ||
		    fstatat(dirfd(d), de->d_name, &sb, 0) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (!groupstate_is_group(store_dir, de->d_name))
			continue;
		if (cnt == cap) {
			struct status_rx_group *nv;

			if (cap >= MAX_GROUPS) {
				log_error("store %s: more than %d groups", store_dir, MAX_GROUPS);
				goto out;
			}
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				log_error("out of memory");
				goto out;
			}
			v = nv;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", de->d_name);
		if (load_rx_group(st, store_dir, &v[cnt]) < 0)
			goto out;
		cnt++;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_group);
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	free(v);
	return rc;
}

void
status_rx_targets(struct status_rx_group *g, size_t n, const struct receiver_config *cfg)
{
	for (size_t i = 0; i < n; i++)
		g[i].rpo_target_s = receiver_config_rpo(cfg, g[i].name);
}

double
status_rx_rpo(const struct status_rx_group *g, uint64_t now)
{
	uint64_t t = g->last_point_time_ns;

	if (!g->last_point)
		return -1;
	return now > t ? (double)(now - t) / 1e9 : 0;
}

const char *
status_rx_state(const struct status_rx_group *g, uint64_t now)
{
	double rpo = status_rx_rpo(g, now), target = (double)g->rpo_target_s;

	if (!g->rpo_target_s)
		return "unknown";
	if (rpo < 0)
		return "none";
	if (rpo > target)
		return "breached";
	/* Amber before the breach: one late cycle from red. */
	return rpo > target * 0.8 ? "warn" : "ok";
}

/* ---- as JSON --------------------------------------------------------------- */

static json_t *
num_or_null(bool have, json_t *v)
{
	if (have)
		return v;
	json_decref(v);
	return json_null();
}

json_t *
status_reverse_json(const struct revstate *rs, uint64_t now)
{
	if (!rs->points)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:f, s:I, s:I}", "points", (json_int_t)rs->points,
			 "last_point", (json_int_t)rs->last_point, "last_point_time_ns",
			 (json_int_t)rs->last_time_ns, "rpo_seconds", revstate_rpo(rs, now),
			 "last_point_bytes", (json_int_t)rs->last_bytes, "bytes_total",
			 (json_int_t)rs->bytes_total);
}

json_t *
status_rx_json(const char *store_dir, const struct status_rx_group *g, size_t n, uint64_t now)
{
	json_t *arr = json_array(), *root = NULL;

	if (!arr)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool have = g[i].last_point != 0;
		uint64_t t = g[i].last_point_time_ns;
		json_t *o = json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:I, s:b}",
			"group", g[i].name, "points", (json_int_t)g[i].points,
			"last_point", (json_int_t)g[i].last_point,
			"last_point_time_ns", num_or_null(have, json_integer((json_int_t)t)),
			"last_point_committed_ns",
			num_or_null(have, json_integer((json_int_t)g[i].last_point_committed_ns)),
			"rpo_seconds", num_or_null(have, json_real(status_rx_rpo(&g[i], now))),
			"last_point_bytes", (json_int_t)g[i].last_point_bytes,
			"failed_over", g[i].failed_over);

		if (!o)
			goto out;
		if (g[i].rpo_target_s) {
			json_object_set_new(o, "rpo_target_seconds",
					    json_integer((json_int_t)g[i].rpo_target_s));
			json_object_set_new(o, "rpo_state", json_string(status_rx_state(&g[i], now)));
		}
		json_object_set_new(o, "last_point_consistency",
				    have ? json_string(consistency_name(g[i].last_point_consistency))
					 : json_null());
		json_object_set_new(o, "pending", g[i].pending_point
			? json_pack("{s:I, s:I, s:I, s:I}", "point", (json_int_t)g[i].pending_point,
				    "durable_bytes", (json_int_t)g[i].pending_durable_bytes,
				    "disks", (json_int_t)g[i].pending_disks,
				    "disks_done", (json_int_t)g[i].pending_disks_done)
			: json_null());
		json_object_set_new(o, "last_drill", g[i].drill_result >= 0
			? json_pack("{s:s, s:s, s:o, s:I}", "id", g[i].drill_id,
				    "verdict", g[i].drill_result ? "pass" : "fail",
				    "rto_seconds", num_or_null(g[i].drill_rto_s >= 0,
							       json_real(g[i].drill_rto_s)),
				    "started_ns", (json_int_t)g[i].drill_started_ns)
			: json_null());
		json_object_set_new(o, "failing_back", json_boolean(g[i].failing_back));
		json_object_set_new(o, "reverse", g[i].failing_back
					? status_reverse_json(&g[i].reverse, now) : json_null());
		json_object_set_new(o, "scrub", json_pack("{s:s, s:I}", "last_point", g[i].scrub,
							  "bad_points",
							  (json_int_t)g[i].scrub_bad_points));
		json_array_append_new(arr, o);
	}
	root = json_pack("{s:s, s:s, s:I, s:O}", "role", "receiver", "store", store_dir,
			 "now_ns", (json_int_t)now, "groups", arr);
out:
	json_decref(arr);
	return root;
}

uint64_t
status_json_u64(json_t *o, const char *key)
{
	uint64_t v = 0;

	/* lenient: absent, not an integer or negative reads as 0 */
	(void)jsonfile_u64(o, key, INT64_MAX, &v, NULL);
	return v;
}

/* The direction of an agent group (a failback's reverse stream from its
 * target's summary, else the daemon's failed_over) and the reverse
 * stream's figures, into o. */
static void
agent_reverse(const struct agent_config *cfg, const struct agent_group_cfg *gc, json_t *o,
	      uint64_t now)
{
	char *path = revstate_agent_path(cfg->state_dir, gc->name);
	struct revstate rs = { 0 };
	bool have = path && revstate_load(path, &rs) == 0;
	const char *dir = revstate_direction(have ? &rs : NULL,
					     json_is_true(json_object_get(o, "failed_over")));

	json_object_set_new(o, "direction", json_string(dir));
	json_object_set_new(o, "reverse", have && strcmp(dir, "reverse") == 0
					? status_reverse_json(&rs, now) : json_null());
	free(path);
}

/* One agent group as JSON: the daemon's status file with the RPO recomputed
 * for now (the file may be minutes old if the daemon is stopped). */
static json_t *
agent_group_json(const struct agent_config *cfg, const struct agent_group_cfg *gc, uint64_t now)
{
	char *path = path_join3(cfg->state_dir, gc->name, "status.json");
	json_t *st = NULL, *o = NULL, *lc;
	json_error_t jerr;
	uint64_t t, upd;
	double rpo, secs;
	bool fo;
	int rc;

	if (!path)
		return NULL;
	rc = jsonfile_read(path, STATUS_FILE_MAX, 0, &st, &jerr);
	if (rc == 1) {
		o = json_pack("{s:s, s:s, s:I}", "group", gc->name, "state", "never ran",
			      "rpo_target_seconds", (json_int_t)gc->rpo_s);
		goto out;
	}
	if (rc == -2)
		log_error("group %s: %s is not a status object", gc->name, path);
	if (rc != 0)
		goto out;
	t = status_json_u64(st, "last_point_time_ns");
	upd = status_json_u64(st, "updated_ns");
	rpo = t && now > t ? (double)(now - t) / 1e9 : 0;
	/* No forward cycles on purpose while failed over: no alert (issue 14). */
	fo = json_is_true(json_object_get(st, "failed_over"));
	o = json_pack("{s:s, s:s, s:b, s:I, s:o, s:I, s:b, s:I, s:o, s:b, s:I, s:I, s:o}",
		"group", gc->name, "state", "ran", "failed_over", fo,
		"last_point", (json_int_t)status_json_u64(st, "last_point"),
		"last_point_time_ns", num_or_null(t != 0, json_integer((json_int_t)t)),
		"rpo_target_seconds", (json_int_t)gc->rpo_s,
		"rpo_breached", !fo && (t ? rpo > (double)gc->rpo_s
					  : json_is_true(json_object_get(st, "rpo_breached"))),
		"rpo_seconds_daemon", (json_int_t)status_json_u64(st, "rpo_seconds"),
		"rpo_seconds", num_or_null(t != 0, json_real(rpo)),
		"in_cycle", json_is_true(json_object_get(st, "in_cycle")),
		"cycles", (json_int_t)status_json_u64(st, "cycles"),
		"consecutive_failures", (json_int_t)status_json_u64(st, "consecutive_failures"),
		"updated_age_seconds", num_or_null(upd != 0, json_real(now > upd ? (double)(now - upd) / 1e9 : 0)));
	if (!o)
		goto out;
	lc = json_deep_copy(json_object_get(st, "last_cycle"));
	if (json_is_object(lc)) {
		secs = json_number_value(json_object_get(lc, "seconds"));
		json_object_set_new(lc, "throughput_bytes_per_second",
				    num_or_null(secs > 0, json_real((double)status_json_u64(lc, "bytes_wire") /
							    (secs > 0 ? secs : 1))));
		json_object_set_new(o, "last_cycle", lc);
	} else {
		json_decref(lc);
		json_object_set_new(o, "last_cycle", json_null());
	}
	/* A planned failover as the daemon saw it (awaiting the boot of its
	 * final point, or that point abandoned at the DR site), checked. */
	lc = json_object_get(st, "planned");
	json_object_set_new(o, "planned",
			    json_is_string(json_object_get(lc, "state")) &&
			    json_is_integer(json_object_get(lc, "final_point"))
			    ? json_pack("{s:s, s:I}", "state",
					json_string_value(json_object_get(lc, "state")), "final_point",
					(json_int_t)status_json_u64(lc, "final_point"))
			    : json_null());
out:
	if (o)
		agent_reverse(cfg, gc, o, now);
	json_decref(st);
	free(path);
	return o;
}

json_t *
status_agent_json(const struct agent_config *cfg, uint64_t now)
{
	json_t *arr = json_array(), *root = NULL;

	if (!arr)
		goto out;
	for (size_t i = 0; i < cfg->ngroups; i++) {
		json_t *o = agent_group_json(cfg, &cfg->groups[i], now);

		if (!o)
			goto out;
		json_array_append_new(arr, o);
	}
	root = json_pack("{s:s, s:s?, s:I, s:O}", "role", "agent", "agent", cfg->name,
			 "now_ns", (json_int_t)now, "groups", arr);
out:
	json_decref(arr);
	return root;
}
