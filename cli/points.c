/* `nestor points`: the committed recovery points of a group, as a table or
 * as JSON. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/clock.h"
#include "common/consistency.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "failover/pointnics.h"
#include "replicator/config.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"

static const char usage_points[] =
	"usage: nestor points [--config FILE] GROUP [--json]\n"
	"\n"
	"List the committed recovery points of GROUP, oldest first: id, base,\n"
	"snapshot time (the agent's clock), received time (the receiver's clock when\n"
	"the point began: what retention and the immutability window count on),\n"
	"bytes received, consistency (docs/consistency.md: app-consistent,\n"
	"crash-consistent, not-point-in-time, or unknown for points from before it\n"
	"was recorded), scrub state (nestor-scrub(8): ok, bad, \"bad (base N)\" when\n"
	"a point of its base chain failed, unchecked without checksums, - never\n"
	"scrubbed), disks. Incomplete points are never listed. --json adds each\n"
	"point's VMs with the NICs the agent recorded (MAC, network, addresses).\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"      --json          machine-readable output\n";

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

	if (store_point_meta(st, group, id, &blob, &len) < 0)
		return NULL;
	meta = json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL);
	snprintf(ctx, sizeof(ctx), "group %s point %" PRIu64, group, id);
	if (json_is_object(meta))
		vms = pointnics_vms_json(meta, ctx);
	json_decref(meta);
	free(blob);
	return vms;
}

static int
print_json(struct store *st, const char *group, const struct store_point_info *pts, size_t n,
	   const struct scrubstate *ss)
{
	json_t *arr = json_array(), *root;
	char *txt;

	for (size_t i = 0; i < n; i++) {
		json_t *disks = json_array(), *scrub = NULL;
		char sbuf[48];

		scrubstate_describe(ss, pts, n, pts[i].id, sbuf, sizeof(sbuf), &scrub);
		for (size_t d = 0; d < pts[i].ndisks; d++)
			json_array_append_new(disks, json_pack("{s:s, s:I}", "name",
							       pts[i].disks[d].name, "size",
							       (json_int_t)pts[i].disks[d].size));
		json_t *p = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o*}",
						     "id", (json_int_t)pts[i].id,
						     "base", (json_int_t)pts[i].base_id,
						     "time_ns", (json_int_t)pts[i].time_ns,
						     "received_ns", (json_int_t)pts[i].received_ns,
						     "committed_ns", (json_int_t)pts[i].committed_ns,
						     "bytes", (json_int_t)pts[i].bytes_received,
						     "disks", disks, "scrub", scrub);

		json_object_set_new(p, "consistency",
				    json_string(consistency_name(pts[i].consistency)));
		json_t *vms = point_vms(st, group, pts[i].id);

		json_object_set_new(p, "vms", vms ? vms : json_null());
		json_array_append_new(arr, p);
	}
	root = json_pack("{s:s, s:o}", "group", group, "points", arr);
	txt = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (!txt)
		return -1;
	printf("%s\n", txt);
	free(txt);
	json_decref(root);
	return 0;
}

static void
print_table(const struct store_point_info *pts, size_t n, const struct scrubstate *ss)
{
	printf("%-6s %-6s %-21s %-21s %14s  %-17s  %-14s %s\n", "POINT", "BASE", "TIME (UTC)",
	       "RECEIVED (UTC)", "BYTES", "CONSISTENCY", "SCRUB", "DISKS");
	for (size_t i = 0; i < n; i++) {
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
}

int
cli_points(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_RECEIVER_CONF };
	struct cli_rx rx = { 0 };
	struct store_point_info *pts = NULL;
	struct scrubstate ss = { 0 };
	char *gdir = NULL;
	size_t n = 0;
	int ret;

	ret = cli_parse("points", usage_points, CLI_O_CONFIG | CLI_O_JSON, CLI_OPERAND_GROUP_VALID,
			argc, argv, &a);
	if (ret >= 0)
		return ret;
	ret = 1;
	if (cli_rx_load(&rx, a.path, CLI_RX_LOG_KEEP) < 0)
		return 1;
	if (cli_rx_open_store(&rx, false) < 0 || store_list_points(rx.st, a.group, &pts, &n) < 0)
		goto out;
	if ((gdir = strfmt("%s/%s", rx.cfg->store_dir, a.group)))
		scrubstate_peek(gdir, &ss);
	if (a.json) {
		if (print_json(rx.st, a.group, pts, n, &ss) < 0)
			goto out;
	} else {
		print_table(pts, n, &ss);
	}
	ret = 0;
out:
	scrubstate_free(&ss);
	free(gdir);
	free(pts);
	cli_rx_close(&rx);
	return ret;
}
