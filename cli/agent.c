/* `nestor agent`: the replication daemon, or one cycle per group (--once). */
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

int
cli_agent(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	struct agent_opts o = { 0 };
	struct agent_config *cfg = NULL;
	int ret;

	ret = cli_parse("agent", usage_agent,
			CLI_O_CONFIG | CLI_O_GROUP | CLI_O_ONCE | CLI_O_JSON | CLI_O_NO_PROGRESS |
				CLI_O_VERBOSE,
			CLI_OPERAND_NONE, argc, argv, &a);
	if (ret >= 0)
		return ret;
	o.group = a.group;
	o.json = a.json ? stdout : NULL;
	o.progress = !a.no_progress;
	if (!a.once)
		return agent_daemon(a.path, a.verbose) == 0 ? 0 : 1;
	if (agent_config_load(a.path, &cfg) < 0)
		return 1;
	log_set_level(a.verbose ? LOG_LVL_DEBUG : cfg->log_level);
	ret = agent_run_once(cfg, &o) == 0 ? 0 : 1;
	agent_config_free(cfg);
	return ret;
}
