/* `nestor prune`: apply a group's retention policy now and say what went. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/retention.h"

static const char usage_prune[] =
	"usage: nestor prune [--config FILE] GROUP [--dry-run] [--json]\n"
	"\n"
	"Apply GROUP's retention policy ([group GROUP] retention = ... in the\n"
	"receiver configuration) now: points the policy no longer keeps are merged\n"
	"into their successor (no kept point's content changes) and removed. Ages\n"
	"count on the receiver's clock (when each point arrived), up to the newest\n"
	"point's arrival. The newest retention_min_points points, points in use by a\n"
	"drill or a failover and every point older than those, and points inside\n"
	"the immutability window (immutable = ...) are kept.\n"
	"The receiver does the same after each committed point.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"  -n, --dry-run       only print what would be removed\n"
	"      --json          machine-readable output\n"
	"Exit: 0 done (or nothing to do), 1 failure, 2 usage error or retention = forever.\n";

static json_t *
ids_json(const uint64_t *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)ids[i]));
	return a;
}

/* The outcome on stdout; ret is the exit code so far, returned updated. */
static int
print_result(const char *group, const struct retention_result *res, bool dry_run,
	     bool json, int ret)
{
	if (json) {
		json_t *root = json_pack("{s:s, s:b, s:b, s:I, s:I, s:o, s:o, s:o}", "group", group,
					 "ok", ret == 0, "dry_run", dry_run,
					 "now_ns", (json_int_t)res->now_ns,
					 "in_use", (json_int_t)res->in_use,
					 "kept", ids_json(res->kept, res->nkept),
					 "immutable", ids_json(res->immutable, res->nimmutable),
					 dry_run ? "would_remove" : "removed",
					 ids_json(res->removed, res->nremoved));
		char *txt = root ? json_dumps(root, JSON_COMPACT) : NULL;

		if (txt)
			printf("%s\n", txt);
		else
			ret = 1;
		free(txt);
		json_decref(root);
	} else {
		printf("group %s: %s %zu point(s), kept %zu (%zu immutable)\n", group,
		       dry_run ? "would remove" : "removed", res->nremoved, res->nkept,
		       res->nimmutable);
		for (size_t i = 0; i < res->nremoved; i++)
			printf("  %s %" PRIu64 "\n", dry_run ? "would remove" : "removed",
			       res->removed[i]);
	}
	return ret;
}

int
cli_prune(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_RECEIVER_CONF };
	const struct retention_policy *p;
	struct cli_rx rx = { 0 };
	struct retention_result res = { 0 };
	struct receiver_history_cfg hist;
	int ret;

	ret = cli_parse("prune", usage_prune, CLI_O_CONFIG | CLI_O_DRY_RUN | CLI_O_JSON,
			CLI_OPERAND_GROUP_VALID, argc, argv, &a);
	if (ret >= 0)
		return ret;
	ret = 1;
	if (cli_rx_load(&rx, a.path, CLI_RX_LOG_KEEP) < 0)
		return 1;
	p = receiver_config_retention(rx.cfg, a.group);
	receiver_config_history(rx.cfg, a.group, &hist);
	if (!p) {
		log_error("%s: group %s keeps every point (retention = forever)", a.path,
			  a.group);
		ret = 2;
		goto out;
	}
	if (cli_rx_open_store(&rx, false) < 0)
		goto out;
	ret = retention_apply(rx.st, rx.cfg->store_dir, a.group, p, hist.min_points, a.dry_run,
			      &res) == 0 ? 0 : 1;
	ret = print_result(a.group, &res, a.dry_run, a.json, ret);
out:
	retention_result_clear(&res);
	cli_rx_close(&rx);
	return ret;
}
