/* nestor: the one binary; dispatches subcommands to the modules. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "failover/drill.h"
#include "failover/failover.h"
#include "replicator/agent/agent.h"
#include "replicator/config.h"
#include "replicator/agent/daemon.h"
#include "replicator/receiver/receiver.h"
#include "replicator/receiver/retention.h"
#include "replicator/receiver/status.h"
#include "replicator/receiver/store.h"

#define DEFAULT_AGENT_CONF    "/etc/nestor/agent.conf"
#define DEFAULT_RECEIVER_CONF "/etc/nestor/receiver.conf"

static const char usage_main[] =
	"usage: nestor COMMAND [OPTIONS]\n"
	"\n"
	"Disaster-recovery replication of VM disks with point-in-time recovery.\n"
	"\n"
	"Commands:\n"
	"  agent      replicate protection groups to the receiver\n"
	"  receiver   accept replication and keep recovery points\n"
	"  points     list the recovery points of a group (receiver side)\n"
	"  prune      apply a group's retention policy now (receiver side)\n"
	"  status     show every group's replication state (--json); agent or receiver\n"
	"  verify     compare a recovery point with its source (agent side)\n"
	"  drill      boot a recovery point's VMs in an isolated network and verify them\n"
	"  failover   boot a recovery point's VMs for real; --status, --release\n"
	"  config     check a configuration file\n"
	"  version    print the version\n"
	"\n"
	"Run 'nestor COMMAND --help' for the options of a command.\n"
	"Exit codes: 0 success, 1 failure (or differences for verify), 2 usage error.\n";

static const char usage_agent[] =
	"usage: nestor agent [--config FILE] [--once [--group NAME] [--json] [--no-progress]]\n"
	"\n"
	"Without --once: a daemon that replicates every configured protection group\n"
	"continuously, each in its own thread: the next cycle starts when the previous\n"
	"one committed (not sooner than the group's min_interval); failures retry with\n"
	"back-off up to retry_max; a group whose newest point is older than its rpo\n"
	"target is reported (warning and <state_dir>/<group>/status.json). SIGHUP\n"
	"reloads the configuration (unchanged groups keep running), SIGTERM stops\n"
	"(a cycle in flight stays resumable).\n"
	"With --once: one cycle per group (or only --group), then exit. Each cycle is\n"
	"a full seed the first time, then incrementals of what changed since the last\n"
	"point; a lost change-tracking chain turns into a block-hash resync.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " DEFAULT_AGENT_CONF ")\n"
	"      --once          run one cycle per group and exit\n"
	"  -g, --group NAME    only this group\n"
	"      --json          print one JSON object per cycle with the agent's counters\n"
	"      --no-progress   no progress line on a terminal\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 when every cycle committed, 1 otherwise.\n";

static const char usage_receiver[] =
	"usage: nestor receiver [--config FILE]\n"
	"\n"
	"Listen for agents (TLS 1.3, mutual certificates), authorise each agent's\n"
	"certificate name for its groups, write recovery points into the store.\n"
	"Stops on SIGINT/SIGTERM.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " DEFAULT_RECEIVER_CONF ")\n"
	"  -v, --verbose       debug logging\n";

static const char usage_points[] =
	"usage: nestor points [--config FILE] GROUP [--json]\n"
	"\n"
	"List the committed recovery points of GROUP, oldest first: id, base,\n"
	"snapshot time, bytes received, disks. Incomplete points are never listed.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " DEFAULT_RECEIVER_CONF ")\n"
	"      --json          machine-readable output\n";

static const char usage_verify[] =
	"usage: nestor verify [--config FILE] GROUP [--point ID] [--json]\n"
	"\n"
	"Compare a recovery point (default: the newest) with the group's source\n"
	"images block by block (64 KiB XXH3 hashes computed on both sides) and\n"
	"print the byte ranges that differ.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " DEFAULT_AGENT_CONF ")\n"
	"  -p, --point ID      point to verify\n"
	"      --json          machine-readable output\n"
	"Exit: 0 identical, 1 differences found or error.\n";

static const char usage_config[] =
	"usage: nestor config check agent|receiver FILE\n"
	"\n"
	"Validate a configuration file; errors are reported as FILE:LINE: message.\n";

enum { OPT_ONCE = 256, OPT_JSON, OPT_NOPROGRESS };

static int
cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "group", required_argument, NULL, 'g' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-progress", no_argument, NULL, OPT_NOPROGRESS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_AGENT_CONF;
	struct agent_opts o = { .progress = true };
	struct agent_config *cfg = NULL;
	bool once = false, verbose = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:g:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'g': o.group = optarg; break;
		case OPT_ONCE: once = true; break;
		case OPT_JSON: o.json = true; break;
		case OPT_NOPROGRESS: o.progress = false; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_agent, stdout); return 0;
		default: fputs(usage_agent, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nestor agent: unexpected argument\n%s", usage_agent);
		return 2;
	}
	log_set_prefix("agent");
	if (!once)
		return agent_daemon(path, verbose) == 0 ? 0 : 1;
	if (agent_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(verbose ? LOG_LVL_DEBUG : cfg->log_level);
	ret = agent_run_once(cfg, &o) == 0 ? 0 : 1;
	agent_config_free(cfg);
	return ret;
}

static int
cmd_receiver(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_RECEIVER_CONF;
	struct receiver_config *cfg = NULL;
	bool verbose = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_receiver, stdout); return 0;
		default: fputs(usage_receiver, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nestor receiver: unexpected argument\n%s", usage_receiver);
		return 2;
	}
	log_set_prefix("receiver");
	if (receiver_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(verbose ? LOG_LVL_DEBUG : cfg->log_level);
	ret = receiver_run(cfg) == 0 ? 0 : 1;
	receiver_config_free(cfg);
	return ret;
}

static void
format_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
cmd_points(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_RECEIVER_CONF, *group;
	struct receiver_config *cfg = NULL;
	struct store *st = NULL;
	struct store_point_info *pts = NULL;
	size_t n = 0;
	bool json = false;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case OPT_JSON: json = true; break;
		case 'h': fputs(usage_points, stdout); return 0;
		default: fputs(usage_points, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "nestor points: expected one GROUP\n%s", usage_points);
		return 2;
	}
	group = argv[optind];
	log_set_prefix("points");
	if (!name_valid(group, strlen(group))) {
		log_error("invalid group name '%s'", group);
		return 2;
	}
	if (receiver_config_load(path, &cfg) < 0)
		return 1;
	st = receiver_store_open(cfg);
	if (!st || store_list_points(st, group, &pts, &n) < 0)
		goto out;
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *disks = json_array();
			for (size_t d = 0; d < pts[i].ndisks; d++)
				json_array_append_new(disks, json_pack("{s:s, s:I}", "name",
								       pts[i].disks[d].name, "size",
								       (json_int_t)pts[i].disks[d].size));
			json_array_append_new(arr, json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}",
							     "id", (json_int_t)pts[i].id,
							     "base", (json_int_t)pts[i].base_id,
							     "time_ns", (json_int_t)pts[i].time_ns,
							     "committed_ns", (json_int_t)pts[i].committed_ns,
							     "bytes", (json_int_t)pts[i].bytes_received,
							     "disks", disks));
		}
		json_t *root = json_pack("{s:s, s:o}", "group", group, "points", arr);
		char *txt = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
		if (!txt)
			goto out;
		printf("%s\n", txt);
		free(txt);
		json_decref(root);
	} else {
		printf("%-6s %-6s %-21s %14s  %s\n", "POINT", "BASE", "TIME (UTC)", "BYTES", "DISKS");
		for (size_t i = 0; i < n; i++) {
			char tbuf[32];
			format_time(pts[i].time_ns, tbuf, sizeof(tbuf));
			printf("%-6" PRIu64 " %-6" PRIu64 " %-21s %14" PRIu64 "  ", pts[i].id,
			       pts[i].base_id, tbuf, pts[i].bytes_received);
			for (size_t d = 0; d < pts[i].ndisks; d++)
				printf("%s%s(%" PRIu64 " MiB)", d ? ", " : "", pts[i].disks[d].name,
				       pts[i].disks[d].size >> 20);
			printf("\n");
		}
	}
	ret = 0;
out:
	free(pts);
	store_free(st);
	receiver_config_free(cfg);
	return ret;
}

static int
cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "point", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_AGENT_CONF;
	struct agent_config *cfg = NULL;
	uint64_t point = 0;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'p':
			if (parse_u64(optarg, &point) < 0 || point == 0) {
				fprintf(stderr, "nestor verify: --point needs a point id, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_JSON: json = true; break;
		case 'h': fputs(usage_verify, stdout); return 0;
		default: fputs(usage_verify, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "nestor verify: expected one GROUP\n%s", usage_verify);
		return 2;
	}
	log_set_prefix("verify");
	if (agent_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(cfg->log_level);
	r = agent_verify(cfg, argv[optind], point, json);
	agent_config_free(cfg);
	return r == 0 ? 0 : 1;
}

static int
cmd_config(int argc, char **argv)
{
	struct agent_config *ac = NULL;
	struct receiver_config *rc = NULL;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_config, stdout);
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "check") != 0) {
		fputs(usage_config, stderr);
		return 2;
	}
	log_set_prefix("config");
	if (!strcmp(argv[2], "agent")) {
		r = agent_config_load(argv[3], &ac);
		agent_config_free(ac);
	} else if (!strcmp(argv[2], "receiver")) {
		r = receiver_config_load(argv[3], &rc);
		receiver_config_free(rc);
	} else {
		fputs(usage_config, stderr);
		return 2;
	}
	if (r == 0)
		printf("%s: ok\n", argv[3]);
	return r == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "agent", cmd_agent },
		{ "receiver", cmd_receiver },
		{ "points", cmd_points },
		{ "prune", retention_main },
		{ "verify", cmd_verify },
		{ "config", cmd_config },
		{ "drill", drill_main },
		{ "failover", failover_main },
		{ "status", status_main },
	};

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("nestor 0.1.0 (protocol %d)\n", 1);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "nestor: unknown command '%s'\n%s", argv[1], usage_main);
	return 2;
}
