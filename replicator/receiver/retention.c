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

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/history.h"
#include "replicator/receiver/store.h"


/* ---- policy --------------------------------------------------------------- */

int
retention_tier_of(const struct retention_policy *p, uint64_t age_ns)
{
	for (size_t k = 0; k < p->ntiers; k++)
		if (age_ns < p->tiers[k].age_ns)
			return (int)k;
	return -1;
}

void
retention_decide(const struct retention_policy *p, const uint64_t *times, size_t n,
		 uint64_t now_ns, size_t min_points, bool *keep)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t age = now_ns > times[i] ? now_ns - times[i] : 0;
		int tier = retention_tier_of(p, age);
		const struct retention_tier *t = tier < 0 ? NULL : &p->tiers[tier];
		if (i == n - 1 || n - i <= min_points)
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

/* The store's last look before the catalog changes: a drill may have
 * started on this point (or a newer one) since the decision. */
static int
in_use_veto(void *arg, uint64_t point)
{
	const struct in_use_ctx *c = arg;

	return point <= groupstate_pinned_max(c->store_dir, c->group);
}

/* ---- applying it ------------------------------------------------------------ */

void
retention_result_clear(struct retention_result *res)
{
	free(res->kept);
	free(res->removed);
	free(res->immutable);
	memset(res, 0, sizeof(*res));
}

/* Keep a point due by p that must stay: in use by a drill or failover, or
 * inside the immutability window (rules, at clock now_ns). */
static bool
retention_hold(const char *group, const struct store_point_info *pi,
	       const struct store_rules *rules, uint64_t now_ns, struct retention_result *res)
{
	if (pi->id <= res->in_use) {
		log_info("retention: group %s: point %" PRIu64 " is due but in use "
			 "(a drill or failover uses point %" PRIu64 ")", group, pi->id, res->in_use);
		return true;
	}
	if (history_immutable(pi->received_ns, now_ns, rules->immutable_ns)) {
		log_info("retention: group %s: point %" PRIu64 " is due but inside the "
			 "immutability window", group, pi->id);
		res->immutable[res->nimmutable++] = pi->id;
		return true;
	}
	return false;
}

int
retention_apply(struct store *st, const char *store_dir, const char *group,
		const struct retention_policy *p, size_t min_points, bool dry_run,
		struct retention_result *res)
{
	struct in_use_ctx ctx = { store_dir, group };
	struct store_rules rules;
	uint64_t clock_ns = clock_now_ns();
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
	res->immutable = calloc(n, sizeof(*res->immutable));
	if (!times || !keep || !res->kept || !res->removed || !res->immutable) {
		log_error("retention: group %s: out of memory", group);
		goto out;
	}
	/* The receiver's clock only: nothing the agent says moves a decision.
	 * Ages count up to the newest point's arrival at most, so nothing ages
	 * out while replication is stopped. */
	for (size_t i = 0; i < n; i++)
		times[i] = pts[i].received_ns;
	res->now_ns = clock_ns < times[n - 1] ? clock_ns : times[n - 1];
	res->in_use = groupstate_pinned_max(store_dir, group);
	store_group_rules(st, group, &rules);
	retention_decide(p, times, n, res->now_ns, min_points, keep);
	/* Oldest first: each removal merges into the next point, which is
	 * then the one to merge into if it goes as well. */
	for (size_t i = 0; i < n; i++) {
		int r = 0;

		if (!keep[i] && retention_hold(group, &pts[i], &rules, clock_ns, res))
			keep[i] = true;
		if (!keep[i] && !dry_run) {
			/* 2: the store found it immutable (its clock moved on). */
			r = store_point_remove(st, group, pts[i].id, in_use_veto, &ctx);
			if (r < 0)
				goto out;
		}
		if (keep[i] || r == 1 || r == 2)
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
	struct receiver_history_cfg h;
	struct retention_result res;

	if (p) {
		receiver_config_history(cfg, group, &h);
		if (retention_apply(st, cfg->store_dir, group, p, h.min_points, false, &res) < 0)
			log_warn("retention: group %s: not applied completely; retried after the "
				 "next point", group);
		retention_result_clear(&res);
	}
	/* After the removals: the listing index (catidx.h) of what stays. */
	store_index_refresh(st, group);
}
