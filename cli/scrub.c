/* `nestor scrub`: re-read stored points and compare them with the
 * checksums kept when they arrived; name each point, disk and byte range
 * that no longer matches. */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/parse.h"
#include "replicator/config.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/scrub.h"

static const char usage_scrub[] =
	"usage: nestor scrub [--config FILE] GROUP [--point ID] [--json] [--rate BYTES/s]\n"
	"       nestor scrub [--config FILE] --all [--json] [--rate BYTES/s]\n"
	"\n"
	"Re-read the data each recovery point wrote, through that point's own view,\n"
	"and compare it with the checksums the receiver kept when it arrived: every\n"
	"data range's XXH3 and every zero range's zeros. Report each mismatch as\n"
	"point, disk and byte range, and record each point's verdict in\n"
	"<store>/<group>/scrub.json, which `points`, `status`, drills and failovers\n"
	"read: a point whose own data or whose base chain failed its scrub is bad,\n"
	"and a drill or failover of it is refused unless --force. Points stored\n"
	"before scrub support have no checksums and are reported as such, never as\n"
	"bad. Reads at most --rate (default: the configuration's scrub_rate, 100M)\n"
	"without the group lock, beside replication; a point removed by retention\n"
	"meanwhile is skipped.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"  -p, --point ID      scrub only this point\n"
	"      --all           every group of the store\n"
	"      --rate R        bytes/s (suffix K, M, G), overrides scrub_rate\n"
	"      --json          machine-readable output\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 clean, 3 mismatches found, 1 error, 2 usage error.\n";

enum { OPT_ALL = 300, OPT_RATE, OPT_JSON };

static volatile sig_atomic_t scrub_stop;

static void
on_signal(int sig)
{
	(void)sig;
	scrub_stop = 1;
}

struct out {
	bool json;
	json_t *points; /* --json: the current group's points */
};

static json_t *
point_json(const struct scrub_report *r)
{
	const struct scrub_entry *e = r->entry;
	json_t *bad = json_array();

	for (size_t i = 0; bad && !r->removed && !r->failed && i < e->nbad; i++)
		json_array_append_new(bad, json_pack("{s:s, s:I, s:I}", "disk", e->bad[i].disk,
						     "offset", (json_int_t)e->bad[i].offset,
						     "length", (json_int_t)e->bad[i].length));
	return json_pack("{s:I, s:s, s:b, s:b, s:I, s:I, s:I, s:o}", "point",
			 (json_int_t)r->point, "verdict",
			 r->removed ? "removed" : r->failed ? "error"
					       : scrub_verdict_name(e->verdict),
			 "removed", r->removed, "no_checksums",
			 !r->removed && !r->failed && e->verdict == SCRUB_UNCHECKED,
			 "disks_without_checksums", (json_int_t)r->ndisks_nosums,
			 "checked_bytes", (json_int_t)e->checked_bytes, "bad_count",
			 (json_int_t)e->bad_count, "bad", bad);
}

static void
print_point(void *arg, const char *group, const struct scrub_report *r)
{
	struct out *o = arg;
	const struct scrub_entry *e = r->entry;

	if (o->json) {
		json_array_append_new(o->points, point_json(r));
		return;
	}
	printf("group %s point %" PRIu64 ": ", group, r->point);
	if (r->removed)
		printf("removed by retention meanwhile, skipped\n");
	else if (r->failed)
		printf("error (see the log)\n");
	else if (e->verdict == SCRUB_UNCHECKED)
		printf("no checksums (point older than scrub support)\n");
	else
		printf("%s, %" PRIu64 " bytes checked%s\n",
		       e->verdict == SCRUB_BAD ? "BAD" : "ok", e->checked_bytes,
		       r->ndisks_nosums ? ", some disks without checksums" : "");
	for (size_t i = 0; !r->removed && !r->failed && i < e->nbad; i++)
		printf("  mismatch: disk %s bytes %" PRIu64 "..%" PRIu64 " (offset %" PRIu64
		       ", length %" PRIu64 ")\n", e->bad[i].disk, e->bad[i].offset,
		       e->bad[i].offset + e->bad[i].length - 1, e->bad[i].offset,
		       e->bad[i].length);
	if (!r->removed && !r->failed && e->bad_count > e->nbad)
		printf("  ... %" PRIu64 " bad ranges in all\n", e->bad_count);
}

/* Scrub one group; its outcome joins *worst (0 < 1 mismatches; -1 error
 * wins). */
static void
scrub_one(struct cli_rx *rx, const char *group, const struct scrub_opts *so, struct out *o,
	  json_t *groups, int *worst)
{
	int r;

	o->points = o->json ? json_array() : NULL;
	r = scrub_group(rx->st, group, so, print_point, o);
	if (o->json)
		json_array_append_new(groups, json_pack("{s:s, s:s, s:o}", "group", group,
							"result", r < 0 ? "error" : r ? "bad" : "ok",
							"points", o->points));
	else if (r > 0)
		printf("group %s: mismatches found: stored data no longer matches its "
		       "checksums\n", group);
	if (r < 0 || (r > 0 && *worst == 0))
		*worst = r;
}

/* --all: every group directory of the store. */
static void
scrub_all(struct cli_rx *rx, const struct scrub_opts *so, struct out *o, json_t *groups,
	  int *worst)
{
	const char *root = rx->cfg->store_dir;
	struct dirent **ents = NULL;
	int n = scandir(root, &ents, NULL, alphasort);

	if (n < 0) {
		log_error("scrub: store %s: %m", root);
		*worst = -1;
		return;
	}
	for (int i = 0; i < n; i++) {
		if (!scrub_stop && ents[i]->d_name[0] != '.' &&
		    groupstate_is_group(root, ents[i]->d_name))
			scrub_one(rx, ents[i]->d_name, so, o, groups, worst);
		free(ents[i]);
	}
	free(ents);
}

/* Options into the arguments: -1 to go on, else the exit code. */
static int
parse(int argc, char **argv, const char **path, struct scrub_opts *so, bool *all,
      bool *json, bool *verbose, bool *rate_set)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "point", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		CLI_OPT_HELP_END,
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *path = optarg; break;
		case 'p':
			if (parse_u64(optarg, &so->point) < 0 || so->point == 0) {
				fprintf(stderr, "nestor scrub: --point takes a point id\n");
				return 2;
			}
			break;
		case OPT_ALL: *all = true; break;
		case OPT_RATE:
			if (parse_size(optarg, &so->rate) < 0 || so->rate < 4096) {
				fprintf(stderr, "nestor scrub: --rate takes bytes/s of at least "
					"4K (suffix K, M, G)\n");
				return 2;
			}
			*rate_set = true;
			break;
		case OPT_JSON: *json = true; break;
		case 'v': *verbose = true; break;
		case 'h': return cli_usage(usage_scrub, true);
		default: return cli_usage(usage_scrub, false);
		}
	}
	if (*all && so->point) {
		fprintf(stderr, "nestor scrub: --point needs one GROUP, not --all\n");
		return 2;
	}
	return -1;
}

int
cli_scrub(int argc, char **argv)
{
	const char *path = CLI_RECEIVER_CONF, *group = NULL;
	struct scrub_opts so = { .stop = &scrub_stop };
	struct cli_rx rx = { 0 };
	struct out o = { 0 };
	bool all = false, verbose = false, rate_set = false;
	json_t *groups = NULL;
	int ret, worst = 0;

	ret = parse(argc, argv, &path, &so, &all, &o.json, &verbose, &rate_set);
	if (ret >= 0)
		return ret;
	if (all && !cli_no_operand("scrub", argc, usage_scrub))
		return 2;
	if (!all && !(group = cli_group_operand("scrub", argc, argv, usage_scrub, true)))
		return 2;
	if (cli_rx_load(&rx, path, verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0 ||
	    cli_rx_open_store(&rx, false) < 0) {
		cli_rx_close(&rx);
		return 1;
	}
	if (group && !groupstate_is_group(rx.cfg->store_dir, group)) {
		log_error("scrub: no group %s in the store %s", group, rx.cfg->store_dir);
		cli_rx_close(&rx);
		return 1;
	}
	if (!rate_set)
		so.rate = rx.cfg->scrub_rate;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	groups = json_array();
	if (all)
		scrub_all(&rx, &so, &o, groups, &worst);
	else
		scrub_one(&rx, group, &so, &o, groups, &worst);
	if (o.json) {
		char *txt = json_dumps(groups, JSON_INDENT(2));

		if (txt)
			printf("{\"groups\": %s, \"result\": \"%s\"}\n", txt,
			       worst < 0 ? "error" : worst ? "bad" : "ok");
		free(txt);
	}
	json_decref(groups);
	cli_rx_close(&rx);
	return worst < 0 ? 1 : worst > 0 ? 3 : 0;
}
