/* `nestor agent`: the replication daemon, or one cycle per group (--once). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "replicator/agent/agent.h"
#include "replicator/agent/daemon.h"
#include "replicator/config.h"

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
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"      --once          run one cycle per group and exit\n"
	"  -g, --group NAME    only this group\n"
	"      --json          print one JSON object per cycle with the agent's counters\n"
	"      --no-progress   no progress line on a terminal\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 when every cycle committed, 1 otherwise.\n";

enum { OPT_ONCE = 256, OPT_JSON, OPT_NOPROGRESS };

int
cli_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "group", required_argument, NULL, 'g' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-progress", no_argument, NULL, OPT_NOPROGRESS },
		{ "verbose", no_argument, NULL, 'v' },
		CLI_OPT_HELP_END,
	};
	const char *path = CLI_AGENT_CONF;
	struct agent_opts o = { .progress = true };
	struct agent_config *cfg = NULL;
	bool once = false, verbose = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:g:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'g': o.group = optarg; break;
		case OPT_ONCE: once = true; break;
		case OPT_JSON: o.json = stdout; break;
		case OPT_NOPROGRESS: o.progress = false; break;
		case 'v': verbose = true; break;
		case 'h': return cli_usage(usage_agent, true);
		default: return cli_usage(usage_agent, false);
		}
	}
	if (!cli_no_operand("agent", argc, usage_agent))
		return 2;
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
