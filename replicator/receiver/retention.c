/* Retention of recovery points: the tier policy, its application to a group
 * of the replica store (honouring drills and failovers) and `nestor prune`. */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/retention.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
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
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/store.h"

#define NS_PER_S 1000000000ull
/* 100 years: far beyond any sensible tier, far below uint64 nanoseconds. */
#define RETENTION_MAX_S (100ull * 366 * 86400)

/* ---- policy --------------------------------------------------------------- */

/* "<digits><unit>" of [p, p + len) in nanoseconds. */
static int
parse_span(const char *p, size_t len, uint64_t *ns)
{
	static const struct {
		char unit;
		uint64_t s;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	char digits[24];
	uint64_t v, mult = 0;

	if (len < 2 || len - 1 >= sizeof(digits))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (p[len - 1] == units[i].unit)
			mult = units[i].s;
	if (mult == 0)
		return -1;
	memcpy(digits, p, len - 1);
	digits[len - 1] = '\0';
	if (parse_u64(digits, &v) < 0 || v == 0 || v > RETENTION_MAX_S / mult)
		return -1;
	*ns = v * mult * NS_PER_S;
	return 0;
}

int
retention_parse(const char *text, struct retention_policy *out, const char **why)
{
	struct retention_policy p = { 0 };
	const char *s = text;
	uint64_t prev_interval = 0;

	*why = "AGE:INTERVAL[,AGE:INTERVAL...] such as 1h:all,24h:1h,7d:1d";
	if (!s[0])
		return -1;
	for (;;) {
		size_t len = strcspn(s, ","), alen;
		const char *colon = memchr(s, ':', len);
		struct retention_tier *t;

		if (p.ntiers == RETENTION_MAX_TIERS) {
			*why = "at most 16 tiers";
			return -1;
		}
		t = &p.tiers[p.ntiers];
		if (!colon) {
			*why = "AGE:INTERVAL for each tier, e.g. 24h:1h (units s, m, h, d, w)";
			return -1;
		}
		alen = (size_t)(colon - s);
		if (parse_span(s, alen, &t->age_ns) < 0) {
			*why = "an age such as 90s, 30m, 24h, 7d or 2w";
			return -1;
		}
		if (len - alen - 1 == 3 && memcmp(colon + 1, "all", 3) == 0) {
			t->interval_ns = 0;
		} else if (parse_span(colon + 1, len - alen - 1, &t->interval_ns) < 0) {
			*why = "an interval such as 1h or 'all'";
			return -1;
		}
		if (p.ntiers > 0 && t->age_ns <= p.tiers[p.ntiers - 1].age_ns) {
			*why = "tier ages in increasing order";
			return -1;
		}
		if (t->interval_ns > t->age_ns) {
			*why = "each tier's interval no longer than its age";
			return -1;
		}
		/* Nested buckets keep the decisions of successive runs consistent. */
		if (prev_interval && (t->interval_ns == 0 || t->interval_ns % prev_interval)) {
			*why = "each interval a multiple of the previous tier's ('all' only first)";
			return -1;
		}
		prev_interval = t->interval_ns;
		p.ntiers++;
		s += len;
		if (!*s)
			break;
		s++;
	}
	*out = p;
	return 0;
}

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
	res->in_use = groupstate_pinned_max(store_dir, group);
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

/* ---- nestor prune ----------------------------------------------------------- */

static const char usage_prune[] =
	"usage: nestor prune [--config FILE] GROUP [--dry-run] [--json]\n"
	"\n"
	"Apply GROUP's retention policy ([group GROUP] retention = ... in the\n"
	"receiver configuration) now: points the policy no longer keeps are merged\n"
	"into their successor (no kept point's content changes) and removed. Ages\n"
	"count from the newest point's snapshot time. The newest point, points in\n"
	"use by a drill or a failover and every point older than those are kept.\n"
	"The receiver does the same after each committed point.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default /etc/nestor/receiver.conf)\n"
	"  -n, --dry-run       only print what would be removed\n"
	"      --json          machine-readable output\n"
	"Exit: 0 done (or nothing to do), 1 failure, 2 usage error or no policy.\n";

static json_t *
ids_json(const uint64_t *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)ids[i]));
	return a;
}

int
retention_main(int argc, char **argv)
{
	enum { OPT_JSON = 256 };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "/etc/nestor/receiver.conf", *group;
	const struct retention_policy *p;
	struct receiver_config *cfg = NULL;
	struct retention_result res = { 0 };
	struct store *st = NULL;
	bool dry_run = false, json = false;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'n': dry_run = true; break;
		case OPT_JSON: json = true; break;
		case 'h': fputs(usage_prune, stdout); return 0;
		default: fputs(usage_prune, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "nestor prune: expected one GROUP\n%s", usage_prune);
		return 2;
	}
	group = argv[optind];
	log_set_prefix("prune");
	if (!name_valid(group, strlen(group))) {
		log_error("invalid group name '%s'", group);
		return 2;
	}
	if (receiver_config_load(path, &cfg) < 0)
		return 1;
	p = receiver_config_retention(cfg, group);
	if (!p) {
		log_error("%s: no retention policy for group %s (add [group %s] retention = ...)",
			  path, group, group);
		ret = 2;
		goto out;
	}
	st = receiver_store_open(cfg);
	if (!st)
		goto out;
	ret = retention_apply(st, cfg->store_dir, group, p, dry_run, &res) == 0 ? 0 : 1;
	if (json) {
		json_t *root = json_pack("{s:s, s:b, s:b, s:I, s:I, s:o, s:o}", "group", group,
					 "ok", ret == 0, "dry_run", dry_run,
					 "now_ns", (json_int_t)res.now_ns,
					 "in_use", (json_int_t)res.in_use,
					 "kept", ids_json(res.kept, res.nkept),
					 dry_run ? "would_remove" : "removed",
					 ids_json(res.removed, res.nremoved));
		char *txt = root ? json_dumps(root, JSON_COMPACT) : NULL;

		if (txt)
			printf("%s\n", txt);
		else
			ret = 1;
		free(txt);
		json_decref(root);
	} else {
		printf("group %s: %s %zu point(s), kept %zu\n", group,
		       dry_run ? "would remove" : "removed", res.nremoved, res.nkept);
		for (size_t i = 0; i < res.nremoved; i++)
			printf("  %s %" PRIu64 "\n", dry_run ? "would remove" : "removed",
			       res.removed[i]);
	}
out:
	retention_result_clear(&res);
	store_free(st);
	receiver_config_free(cfg);
	return ret;
}
