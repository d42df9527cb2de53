/* Retention of recovery points: the tier policy, its application to a group
 * of the replica store (honouring drills and failovers). */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/retention.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"

#define RETENTION_MARK_MAX 64 /* bytes of a drill's point file */

/* ---- policy --------------------------------------------------------------- */

void
retention_decide(const struct retention_policy *p, const uint64_t *times, size_t n,
		 uint64_t now_ns, bool *keep)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t age = now_ns > times[i] ? now_ns - times[i] : 0;
		const struct retention_tier *t = NULL;

		for (size_t k = 0; k < p->ntiers && !t; k++)
			if (age < p->tiers[k].age_ns)
				t = &p->tiers[k];
		if (i == n - 1)
			keep[i] = true;
		else if (!t)
			keep[i] = false;
		else if (t->interval_ns == 0 || i == 0)
			keep[i] = true;
		else
			keep[i] = times[i - 1] / t->interval_ns != times[i] / t->interval_ns;
	}
}

/* ---- points in use ---------------------------------------------------------- */

struct in_use_ctx {
	const char *store_dir;
	const char *group;
};

/* Highest point id named by a drill's <store>/<group>/drills/<id>/point
 * file or the failover marker; 0 = none. A marker that cannot be read
 * protects every point (UINT64_MAX): keeping too much is safe. */
static uint64_t
in_use_max(const char *store_dir, const char *group)
{
	char *dir = NULL;
	DIR *dd = NULL;
	struct dirent *de;
	json_t *m;
	bool absent;
	uint64_t max = 0;

	m = failover_marker_load(store_dir, group, &absent);
	if (!absent) {
		json_t *v = json_object_get(m, "point");

		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			log_warn("retention: group %s: failover marker without a point: keeping "
				 "every point", group);
			max = UINT64_MAX;
		} else {
			max = (uint64_t)json_integer_value(v);
		}
	}
	json_decref(m);
	if (asprintf(&dir, "%s/%s/drills", store_dir, group) < 0) {
		dir = NULL;
		log_error("retention: out of memory");
		return UINT64_MAX;
	}
	dd = opendir(dir);
	if (!dd && errno != ENOENT) {
		log_warn("retention: group %s: opendir %s: %m: keeping every point", group, dir);
		max = UINT64_MAX;
	}
	while (dd && (de = readdir(dd)) != NULL) {
		char *path = NULL;
		void *data = NULL;
		size_t len = 0;
		uint64_t id;

		if (!name_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (asprintf(&path, "%s/%s/point", dir, de->d_name) < 0) {
			max = UINT64_MAX;
			break;
		}
		if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			free(path);
			continue; /* a finished drill's report dir, or not a drill */
		}
		if (file_read_all(path, RETENTION_MARK_MAX, &data, &len) < 0) {
			max = UINT64_MAX;
		} else {
			char buf[RETENTION_MARK_MAX + 1], *end;

			memcpy(buf, data, len);
			buf[len] = '\0';
			end = buf + strcspn(buf, "\n");
			*end = '\0';
			if (parse_u64(buf, &id) < 0 || id == 0) {
				log_warn("retention: group %s: %s does not hold a point id: keeping "
					 "every point", group, path);
				max = UINT64_MAX;
			} else if (id > max) {
				max = id;
			}
		}
		free(data);
		free(path);
	}
	if (dd)
		closedir(dd);
	free(dir);
	return max;
}

/* The store's last look before the catalog changes: a drill may have
 * started on this point (or a newer one) since the decision. */
static int
in_use_veto(void *arg, uint64_t point)
{
	const struct in_use_ctx *c = arg;

	return point <= in_use_max(c->store_dir, c->group);
}

/* ---- applying it ------------------------------------------------------------ */

void
retention_result_clear(struct retention_result *res)
{
	free(res->kept);
	free(res->removed);
	memset(res, 0, sizeof(*res));
}

int
retention_apply(struct store *st, const char *store_dir, const char *group,
		const struct retention_policy *p, bool dry_run, struct retention_result *res)
{
	struct in_use_ctx ctx = { store_dir, group };
	struct store_point_info *pts = NULL;
	uint64_t *times = NULL;
	bool *keep = NULL;
	size_t n = 0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (store_list_points(st, group, &pts, &n) < 0)
		goto out;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	times = calloc(n, sizeof(*times));
	keep = calloc(n, sizeof(*keep));
	res->kept = calloc(n, sizeof(*res->kept));
	res->removed = calloc(n, sizeof(*res->removed));
	if (!times || !keep || !res->kept || !res->removed) {
		log_error("retention: group %s: out of memory", group);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		times[i] = pts[i].time_ns;
	res->now_ns = times[n - 1];
	res->in_use = in_use_max(store_dir, group);
	retention_decide(p, times, n, res->now_ns, keep);
	/* Oldest first: each removal merges into the next point, which is
	 * then the one to merge into if it goes as well. */
	for (size_t i = 0; i < n; i++) {
		int r = 0;

		if (!keep[i] && pts[i].id <= res->in_use) {
			log_info("retention: group %s: point %" PRIu64 " is due but in use "
				 "(a drill or failover uses point %" PRIu64 ")", group, pts[i].id,
				 res->in_use);
			keep[i] = true;
		}
		if (!keep[i] && !dry_run) {
			r = store_point_remove(st, group, pts[i].id, in_use_veto, &ctx);
			if (r < 0)
				goto out;
		}
		if (keep[i] || r == 1)
			res->kept[res->nkept++] = pts[i].id;
		else
			res->removed[res->nremoved++] = pts[i].id;
	}
	rc = 0;
out:
	if (rc == 0 && res->nremoved > 0 && !dry_run)
		log_info("retention: group %s: removed %zu point(s), kept %zu", group,
			 res->nremoved, res->nkept);
	free(pts);
	free(times);
	free(keep);
	return rc;
}

void
retention_after_commit(const struct receiver_config *cfg, struct store *st, const char *group)
{
	const struct retention_policy *p = receiver_config_retention(cfg, group);
	struct retention_result res;

	if (!p)
		return;
	if (retention_apply(st, cfg->store_dir, group, p, false, &res) < 0)
		log_warn("retention: group %s: not applied completely; retried after the next "
			 "point", group);
	retention_result_clear(&res);
}
