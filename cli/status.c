/* `nestor status`: every group's replication state as a table or as JSON,
 * agent side or receiver side. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/clock.h"
#include "common/consistency.h"
#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/status.h"

static const char usage_status[] =
	"usage: nestor status [--config FILE] [--receiver] [--json]\n"
	"\n"
	"Show every protection group's replication state. The side is taken from\n"
	"the configuration: a file with a [receiver] section (or --receiver) shows\n"
	"the replica store (points, newest point and its age = RPO seen by the\n"
	"receiver, bytes, point in flight with durable progress, failed-over\n"
	"marker (\"failback\" while a reverse stream runs, with a line of its\n"
	"reverse points below), the newest point's scrub state, last drill);\n"
	"otherwise the agent's groups from the daemon's\n"
	"<state_dir>/<group>/status.json (RPO now vs\n"
	"target, last cycle, in-flight flag, failures), or \"never ran\"; a group\n"
	"failing back (nestor failback start) shows \"failing back\" and a line\n"
	"with its reverse points, reverse RPO and bytes.\n"
	"\n"
	"  -c, --config FILE   configuration (default " CLI_AGENT_CONF ", or\n"
	"                      " CLI_RECEIVER_CONF " with --receiver)\n"
	"  -r, --receiver      receiver side\n"
	"      --json          one JSON object (see nestor-status(8))\n"
	"Exit: 0 shown, 1 the configuration or a status could not be read, 2 usage.\n";

/* root indented on stdout. 0 / -1 (logged). */
static int
print_json(json_t *root)
{
	char *txt = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

	if (!txt) {
		log_error("out of memory");
		return -1;
	}
	printf("%s\n", txt);
	free(txt);
	return 0;
}

static void
fmt_age(uint64_t now, uint64_t then, char *buf, size_t len)
{
	if (!then)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRIu64 "s", now > then ? (uint64_t)((now - then) / 1000000000u) : 0);
}

/* Below a group's row while it fails back: its reverse stream, from the
 * "reverse" object of a group's JSON (null: nothing printed). */
static void
print_reverse_line(json_t *rev)
{
	if (!json_is_object(rev))
		return;
	printf("  reverse: %" PRIu64 " point(s), newest %" PRIu64 ", reverse RPO %.0fs, %" PRIu64
	       " bytes\n", status_json_u64(rev, "points"), status_json_u64(rev, "last_point"),
	       json_number_value(json_object_get(rev, "rpo_seconds")),
	       status_json_u64(rev, "bytes_total"));
}

/* The daemon's planned failover of a group, if any: awaiting the boot of
 * its final point, or that point abandoned at the DR site. */
static void
print_planned_line(json_t *pl)
{
	const char *st = json_string_value(json_object_get(pl, "state"));

	if (!st)
		return;
	if (strcmp(st, "abandoned") == 0)
		printf("  planned failover: final point %" PRIu64 " abandoned at the DR site "
		       "(not booted): forward cycles resumed\n", status_json_u64(pl, "final_point"));
	else
		printf("  planned failover: awaiting the boot of final point %" PRIu64 "\n",
		       status_json_u64(pl, "final_point"));
}

static void
print_rx_table(const struct status_rx_group *g, size_t n, uint64_t now)
{
	printf("%-20s %6s %8s %8s %14s %-17s %-16s %-11s %-14s %s\n", "GROUP", "POINTS", "LAST",
	       "RPO", "LAST BYTES", "CONSISTENCY", "PENDING", "FAILED-OVER", "SCRUB",
	       "LAST DRILL");
	for (size_t i = 0; i < n; i++) {
		char age[32], pend[48], drill[64];

		fmt_age(now, g[i].last_point_time_ns, age, sizeof(age));
		if (g[i].pending_point)
			snprintf(pend, sizeof(pend), "%" PRIu64 " (%" PRIu64 " MiB)",
				 g[i].pending_point, g[i].pending_durable_bytes >> 20);
		else
			snprintf(pend, sizeof(pend), "-");
		if (g[i].drill_result < 0)
			snprintf(drill, sizeof(drill), "-");
		else
			snprintf(drill, sizeof(drill), "%s (RTO %.1fs)",
				 g[i].drill_result ? "pass" : "fail", g[i].drill_rto_s);
		printf("%-20s %6zu %8" PRIu64 " %8s %14" PRIu64 " %-17s %-16s %-11s %-14s %s\n",
		       g[i].name, g[i].points, g[i].last_point, age, g[i].last_point_bytes,
		       g[i].last_point ? consistency_name(g[i].last_point_consistency) : "-",
		       pend, g[i].failing_back ? "failback" : g[i].failed_over ? "yes" : "no",
		       g[i].scrub, drill);
		if (g[i].failing_back) {
			json_t *rev = status_reverse_json(&g[i].reverse, now);

			print_reverse_line(rev);
			json_decref(rev);
		}
	}
}

static int
receiver_status(const char *config, bool json)
{
	struct cli_rx rx = { 0 };
	struct status_rx_group *g = NULL;
	size_t n = 0;
	uint64_t now = clock_now_ns();
	json_t *root = NULL;
	int ret = 1;

	if (cli_rx_load(&rx, config, CLI_RX_LOG_KEEP) < 0 || cli_rx_open_store(&rx, false) < 0 ||
	    status_rx_groups(rx.st, rx.cfg->store_dir, &g, &n) < 0)
		goto out;
	status_rx_targets(g, n, rx.cfg);
	if (!json) {
		print_rx_table(g, n, now);
		ret = 0;
		goto out;
	}
	root = status_rx_json(rx.cfg->store_dir, g, n, now);
	ret = print_json(root) == 0 ? 0 : 1;
out:
	json_decref(root);
	free(g);
	cli_rx_close(&rx);
	return ret;
}

static void
print_agent_table(json_t *groups)
{
	printf("%-20s %8s %8s %8s %-8s %6s %8s %14s %12s %s\n", "GROUP", "LAST", "RPO", "TARGET",
	       "BREACHED", "CYCLES", "FAILURES", "LAST BYTES", "MiB/s", "STATE");
	for (size_t i = 0; i < json_array_size(groups); i++) {
		json_t *o = json_array_get(groups, i), *lc = json_object_get(o, "last_cycle");
		json_t *rpo = json_object_get(o, "rpo_seconds");
		json_t *tp = json_object_get(lc, "throughput_bytes_per_second");
		const char *dir = json_string_value(json_object_get(o, "direction"));
		bool reverse = dir && strcmp(dir, "reverse") == 0;
		char rbuf[32], tbuf[32];

		if (strcmp(json_string_value(json_object_get(o, "state")), "never ran") == 0) {
			printf("%-20s %8s %8s %7" PRIu64 "s %-8s %6s %8s %14s %12s %s\n",
			       json_string_value(json_object_get(o, "group")), "-", "-",
			       status_json_u64(o, "rpo_target_seconds"), "-", "-", "-", "-", "-",
			       reverse ? "failing back" : "never ran");
			print_reverse_line(json_object_get(o, "reverse"));
			continue;
		}
		snprintf(rbuf, sizeof(rbuf), json_is_number(rpo) ? "%.0fs" : "-",
			 json_number_value(rpo));
		snprintf(tbuf, sizeof(tbuf), json_is_number(tp) ? "%.1f" : "-",
			 json_number_value(tp) / 1048576.0);
		printf("%-20s %8" PRIu64 " %8s %7" PRIu64 "s %-8s %6" PRIu64 " %8" PRIu64 " %14" PRIu64
		       " %12s %s\n",
		       json_string_value(json_object_get(o, "group")),
		       status_json_u64(o, "last_point"), rbuf,
		       status_json_u64(o, "rpo_target_seconds"),
		       json_is_true(json_object_get(o, "rpo_breached")) ? "YES" : "no",
		       status_json_u64(o, "cycles"), status_json_u64(o, "consecutive_failures"),
		       status_json_u64(lc, "bytes_wire"),
		       tbuf, json_is_true(json_object_get(o, "in_cycle")) ? "in cycle"
		       : reverse ? "failing back"
		       : json_is_true(json_object_get(o, "failed_over")) ? "failed over"
		       : json_is_true(json_object_get(lc, "ok")) ? "idle" : "last cycle failed");
		print_planned_line(json_object_get(o, "planned"));
		print_reverse_line(json_object_get(o, "reverse"));
	}
}

static int
agent_status(const char *config, bool json)
{
	struct agent_config *cfg = NULL;
	json_t *root = NULL;
	int ret = 1;

	if (agent_config_load(config, &cfg) < 0)
		goto out;
	root = status_agent_json(cfg, clock_now_ns());
	if (!root)
		goto out;
	if (json) {
		ret = print_json(root) == 0 ? 0 : 1;
		goto out;
	}
	print_agent_table(json_object_get(root, "groups"));
	ret = 0;
out:
	json_decref(root);
	agent_config_free(cfg);
	return ret;
}

/* A configuration with a [receiver] section is a receiver's. */
static int
config_is_receiver(const char *path, bool *rx)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f) {
		log_error("%s: %m", path);
		return -1;
	}
	*rx = false;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " \t");

		if (strncmp(p, "[receiver]", 10) == 0) {
			*rx = true;
			break;
		}
	}
	fclose(f);
	return 0;
}

int
cli_status(int argc, char **argv)
{
	struct cli_args a = { 0 };
	int r = cli_parse("status", usage_status, CLI_O_CONFIG | CLI_O_RECEIVER | CLI_O_JSON,
			  CLI_OPERAND_UNCHECKED, argc, argv, &a);

	if (r >= 0)
		return r;
	if (optind != argc) {
		fputs(usage_status, stderr);
		return 2;
	}
	log_set_prefix("status");
	if (!a.path)
		a.path = a.receiver ? CLI_RECEIVER_CONF : CLI_AGENT_CONF;
	else if (!a.receiver && config_is_receiver(a.path, &a.receiver) < 0)
		return 1;
	return a.receiver ? receiver_status(a.path, a.json) : agent_status(a.path, a.json);
}
