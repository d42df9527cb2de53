/* `nestor points`: the committed recovery points of a group, as a table
 * (the newest few and a summary line) or as JSON. */
#define _GNU_SOURCE /* strptime, timegm */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/clock.h"
#include "common/consistency.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strfmt.h"
#include "failover/pointnics.h"
#include "replicator/config.h"
#include "replicator/retention-policy.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"

/* The table's default: the newest points (issue 17: a group may hold
 * thousands); JSON lists every point unless asked otherwise. */
#define POINTS_DEFAULT_LIMIT   50
#define POINTS_DEFAULT_LIMIT_S "50"

static const char usage_points[] =
	"usage: nestor points [--config FILE] GROUP [--json] [--all | --limit N] [--since TIME]\n"
	"\n"
	"List the committed recovery points of GROUP, oldest first: id, base,\n"
	"snapshot time (the agent's clock), received time (the receiver's clock when\n"
	"the point began: what retention and the immutability window count on),\n"
	"bytes received, consistency (docs/consistency.md: app-consistent,\n"
	"crash-consistent, not-point-in-time, or unknown for points from before it\n"
	"was recorded), scrub state (nestor-scrub(8): ok, bad, \"bad (base N)\" when\n"
	"a point of its base chain failed, unchecked without checksums, - never\n"
	"scrubbed), disks. Incomplete points are never listed. The table shows the\n"
	"newest " POINTS_DEFAULT_LIMIT_S " points (unless --all, --limit or --since), then one line: how many there are, the oldest and\n"
	"the newest, and how many fall in each retention tier by age. --json adds each\n"
	"point's VMs with the NICs the agent recorded (MAC, network, addresses).\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"      --json          machine-readable output: every point unless --limit or\n"
	"                      --since, and a \"summary\" object\n"
	"      --all           every point in the table\n"
	"      --limit N       the newest N points (N >= 1)\n"
	"      --since TIME    points received at or after TIME: 2026-01-31T23:59:59Z\n"
	"                      (UTC) or a duration ago such as 90m, 12h, 7d\n";

/* The VMs of a point and their recorded NICs (docs/metadata.md, vms[].nics),
 * checked as failover reads them; NULL when the metadata cannot be read
 * (logged) or is no JSON object. */
static json_t *
point_vms(struct store *st, const char *group, uint64_t id)
{
	void *blob = NULL;
	size_t len = 0;
	json_t *meta, *vms = NULL;
	char ctx[96];

	/* pts listed it: no catalog read per point (O(N^2) at 10,000 points). */
	if (store_listed_point_meta(st, group, id, &blob, &len) < 0)
		return NULL;
	meta = json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL);
	snprintf(ctx, sizeof(ctx), "group %s point %" PRIu64, group, id);
	if (json_is_object(meta))
		vms = pointnics_vms_json(meta, ctx);
	json_decref(meta);
	free(blob);
	return vms;
}

/* What to list: the newest limit points (0 = all) received at or after
 * since_ns. */
struct points_sel {
	size_t limit;
	uint64_t since_ns;
	bool json;
};

/* ---- the summary ------------------------------------------------------------- */

/* "90m", "12h", "7d": the largest unit that divides it. */
static void
fmt_age(uint64_t ns, char *buf, size_t len)
{
	static const struct { uint64_t s; char u; } units[] = {
		{ 604800, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	uint64_t sec = ns / 1000000000ull;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (sec % units[i].s == 0 || units[i].s == 1) {
			snprintf(buf, len, "%" PRIu64 "%c", sec / units[i].s, units[i].u);
			return;
		}
	}
}

/* Points per retention tier by age (the last slot: older than every tier),
 * measured as retention does: up to min(clock, newest received time). */
static void
tier_counts(const struct retention_policy *p, const struct store_point_info *pts, size_t n,
	    size_t counts[RETENTION_MAX_TIERS + 1])
{
	uint64_t now = clock_now_ns();

	memset(counts, 0, (RETENTION_MAX_TIERS + 1) * sizeof(*counts));
	if (n && pts[n - 1].received_ns < now)
		now = pts[n - 1].received_ns;
	for (size_t i = 0; i < n; i++) {
		uint64_t age = now > pts[i].received_ns ? now - pts[i].received_ns : 0;
		size_t k = 0;

		while (k < p->ntiers && age >= p->tiers[k].age_ns)
			k++;
		counts[k]++;
	}
}

static json_t *
summary_json(const struct store_point_info *pts, size_t n, size_t shown,
	     const struct retention_policy *p)
{
	json_t *o = json_pack("{s:I, s:I}", "count", (json_int_t)n, "shown", (json_int_t)shown);
	size_t counts[RETENTION_MAX_TIERS + 1];

	if (o && n) {
		json_object_set_new(o, "oldest", json_integer((json_int_t)pts[0].id));
		json_object_set_new(o, "newest", json_integer((json_int_t)pts[n - 1].id));
	}
	if (o && p) {
		json_t *tiers = json_array();

		tier_counts(p, pts, n, counts);
		for (size_t k = 0; tiers && k <= p->ntiers; k++)
			json_array_append_new(tiers, json_pack("{s:I, s:I}", "max_age_ns",
				(json_int_t)(k < p->ntiers ? p->tiers[k].age_ns : 0),
				"points", (json_int_t)counts[k]));
		json_object_set_new(o, "tiers", tiers);
	}
	return o;
}

static void
print_summary(const struct store_point_info *pts, size_t n, size_t shown,
	      const struct retention_policy *p)
{
	char a[CLOCK_ISO_LEN], b[CLOCK_ISO_LEN], age[24];
	size_t counts[RETENTION_MAX_TIERS + 1];

	if (n == 0) {
		printf("0 points\n");
		return;
	}
	clock_iso8601(pts[0].received_ns, a, sizeof(a));
	clock_iso8601(pts[n - 1].received_ns, b, sizeof(b));
	printf("%zu points", n);
	if (shown < n)
		printf(" (%zu shown: --all, --limit N, --since TIME for others)", shown);
	printf("; oldest %" PRIu64 " received %s, newest %" PRIu64 " received %s; ", pts[0].id,
	       a, pts[n - 1].id, b);
	if (!p) {
		printf("no retention policy\n");
		return;
	}
	tier_counts(p, pts, n, counts);
	printf("by age:");
	for (size_t k = 0; k < p->ntiers; k++) {
		fmt_age(p->tiers[k].age_ns, age, sizeof(age));
		printf(" <%s %zu,", age, counts[k]);
	}
	printf(" older %zu\n", counts[p->ntiers]);
}

/* ---- the points ---------------------------------------------------------------- */

/* pts[first..n) are shown; the whole list is what the scrub's chain rule
 * reads. */
static int
print_json(struct store *st, const char *group, const struct store_point_info *pts, size_t n, size_t first,
	   const struct scrubstate *ss, const struct retention_policy *p)
{
	json_t *arr = json_array(), *root;
	char *txt;

	for (size_t i = first; i < n; i++) {
		json_t *disks = json_array(), *scrub = NULL;
		char sbuf[48];

		scrubstate_describe(ss, pts, n, pts[i].id, sbuf, sizeof(sbuf), &scrub);
		for (size_t d = 0; d < pts[i].ndisks; d++)
			json_array_append_new(disks, json_pack("{s:s, s:I}", "name",
							       pts[i].disks[d].name, "size",
							       (json_int_t)pts[i].disks[d].size));
		json_t *pj = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o*}",
				       "id", (json_int_t)pts[i].id,
				       "base", (json_int_t)pts[i].base_id,
				       "time_ns", (json_int_t)pts[i].time_ns,
				       "received_ns", (json_int_t)pts[i].received_ns,
				       "committed_ns", (json_int_t)pts[i].committed_ns,
				       "bytes", (json_int_t)pts[i].bytes_received,
				       "disks", disks, "scrub", scrub);

		json_object_set_new(pj, "consistency",
				    json_string(consistency_name(pts[i].consistency)));
		json_t *vms = point_vms(st, group, pts[i].id);

		json_object_set_new(pj, "vms", vms ? vms : json_null());
		json_array_append_new(arr, pj);
	}
	root = json_pack("{s:s, s:o, s:o*}", "group", group, "points", arr, "summary",
			 summary_json(pts, n, n - first, p));
	txt = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (!txt)
		return -1;
	printf("%s\n", txt);
	free(txt);
	return 0;
}

static void
print_table(const struct store_point_info *pts, size_t n, size_t first,
	    const struct scrubstate *ss, const struct retention_policy *p)
{
	printf("%-6s %-6s %-21s %-21s %14s  %-17s  %-14s %s\n", "POINT", "BASE", "TIME (UTC)",
	       "RECEIVED (UTC)", "BYTES", "CONSISTENCY", "SCRUB", "DISKS");
	for (size_t i = first; i < n; i++) {
		char tbuf[CLOCK_ISO_LEN], rbuf[CLOCK_ISO_LEN], sbuf[48];

		clock_iso8601(pts[i].time_ns, tbuf, sizeof(tbuf));
		clock_iso8601(pts[i].received_ns, rbuf, sizeof(rbuf));
		printf("%-6" PRIu64 " %-6" PRIu64 " %-21s %-21s %14" PRIu64 "  %-17s  ", pts[i].id,
		       pts[i].base_id, tbuf, rbuf, pts[i].bytes_received,
		       consistency_name(pts[i].consistency));
		printf("%-14s ", scrubstate_describe(ss, pts, n, pts[i].id, sbuf, sizeof(sbuf), NULL));
		for (size_t d = 0; d < pts[i].ndisks; d++)
			printf("%s%s(%" PRIu64 " MiB)", d ? ", " : "", pts[i].disks[d].name,
			       pts[i].disks[d].size >> 20);
		printf("\n");
	}
	print_summary(pts, n, n - first, p);
}

/* The first point shown: received at or after since_ns, then the newest
 * limit of those. */
static size_t
first_shown(const struct store_point_info *pts, size_t n, const struct points_sel *sel)
{
	size_t first = 0;

	while (first < n && pts[first].received_ns < sel->since_ns)
		first++;
	if (sel->limit && n - first > sel->limit)
		first = n - sel->limit;
	return first;
}

/* ---- arguments ----------------------------------------------------------------- */

/* "2026-01-31T23:59:59Z" or a duration ago. false when neither. */
static bool
parse_since(const char *arg, uint64_t *ns)
{
	struct tm tm = { 0 };
	const char *end = strptime(arg, "%Y-%m-%dT%H:%M:%SZ", &tm);
	uint64_t sec, now = clock_now_ns();
	time_t t;

	if (end && *end == '\0') {
		t = timegm(&tm);
		if (t < 0)
			return false;
		*ns = (uint64_t)t * 1000000000ull;
		return true;
	}
	if (parse_duration(arg, &sec) < 0 || sec > now / 1000000000ull)
		return false;
	*ns = now - sec * 1000000000ull;
	return true;
}

enum { OPT_JSON = 256, OPT_ALL, OPT_LIMIT, OPT_SINCE };

/* -1 to go on, else the exit code. */
static int
parse(int argc, char **argv, const char **path, const char **group, struct points_sel *sel)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "since", required_argument, NULL, OPT_SINCE },
		CLI_OPT_HELP_END,
	};
	bool all = false, limit_set = false, since_set = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *path = optarg; break;
		case OPT_JSON: sel->json = true; break;
		case OPT_ALL: all = true; break;
		case OPT_LIMIT:
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > SIZE_MAX) {
				fprintf(stderr, "nestor points: --limit takes a number of points "
					"from 1, not '%s'\n", optarg);
				return 2;
			}
			sel->limit = (size_t)v;
			limit_set = true;
			break;
		case OPT_SINCE:
			if (!parse_since(optarg, &sel->since_ns)) {
				fprintf(stderr, "nestor points: --since takes a UTC time such as "
					"2026-01-31T23:59:59Z or a duration such as 12h, not '%s'\n",
					optarg);
				return 2;
			}
			since_set = true;
			break;
		case 'h': return cli_usage(usage_points, true);
		default: return cli_usage(usage_points, false);
		}
	}
	if (all && limit_set) {
		fprintf(stderr, "nestor points: --all and --limit exclude each other\n%s",
			usage_points);
		return 2;
	}
	/* JSON stays complete unless asked (scripts count on every point);
	 * --since alone shows every point since then. */
	if (!all && !limit_set && !since_set && !sel->json)
		sel->limit = POINTS_DEFAULT_LIMIT;
	*group = cli_group_operand("points", argc, argv, usage_points, true);
	return *group ? -1 : 2;
}

int
cli_points(int argc, char **argv)
{
	const char *path = CLI_RECEIVER_CONF, *group = NULL;
	struct points_sel sel = { 0 };
	struct cli_rx rx = { 0 };
	struct store_point_info *pts = NULL;
	struct scrubstate ss = { 0 };
	const struct retention_policy *pol;
	char *gdir = NULL;
	size_t n = 0, first;
	int ret;

	ret = parse(argc, argv, &path, &group, &sel);
	if (ret >= 0)
		return ret;
	ret = 1;
	if (cli_rx_load(&rx, path, CLI_RX_LOG_KEEP) < 0)
		return 1;
	if (cli_rx_open_store(&rx, false) < 0 || store_list_points(rx.st, group, &pts, &n) < 0)
		goto out;
	if ((gdir = strfmt("%s/%s", rx.cfg->store_dir, group)))
		scrubstate_peek(gdir, &ss);
	pol = receiver_config_retention(rx.cfg, group);
	first = first_shown(pts, n, &sel);
	if (sel.json) {
		if (print_json(rx.st, group, pts, n, first, &ss, pol) < 0)
			goto out;
	} else {
		print_table(pts, n, first, &ss, pol);
	}
	ret = 0;
out:
	scrubstate_free(&ss);
	free(gdir);
	free(pts);
	cli_rx_close(&rx);
	return ret;
}
