/* `nestor failback`: the way home after a failover (agent side):
 * `start` pulls reverse points of the failed-over VMs into overlays over
 * the on-prem disks, `status` lists them. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <getopt.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failback/start.h"
#include "replicator/config.h"

static const char usage_failback[] =
	"usage: nestor failback start GROUP [--config FILE] [--once] [--json] [-v]\n"
	"       nestor failback status GROUP [--config FILE] [--json]\n"
	"\n"
	"After a failover of GROUP, run on the agent's host (the connection goes out to\n"
	"the receiver as the agent's does: same TLS certificates, no port opens here).\n"
	"start: the receiver replicates the failed-over VMs back: the first reverse\n"
	"point carries only what the cloud VMs wrote and what the on-prem disks changed\n"
	"after the failover's point, later ones what the cloud VMs wrote since. Points\n"
	"land in qcow2 overlays over the on-prem disks under <state_dir>/failback/GROUP/:\n"
	"the on-prem disks are only read until cutover. An interrupted point resumes from\n"
	"its durable progress. Without --once: a point every min_interval of the group\n"
	"(at least 10 s) until SIGINT/SIGTERM.\n"
	"status: the reverse points held on-prem and the bytes each one carried.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"      --once          one reverse point, then exit\n"
	"      --json          one JSON object per point (start) or in all (status)\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 success, 1 failure, 2 usage error.\n";

static volatile int fb_stop;

static void
fb_on_signal(int sig)
{
	(void)sig;
	fb_stop = 1;
}

int
cli_failback(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	struct failback_opts o = { .stop = &fb_stop };
	struct sigaction sa = { .sa_handler = fb_on_signal };
	struct agent_config *cfg = NULL;
	const char *verb;
	int ret;

	ret = cli_parse("failback", usage_failback,
			CLI_O_CONFIG | CLI_O_ONCE | CLI_O_JSON | CLI_O_VERBOSE,
			CLI_OPERAND_UNCHECKED, argc, argv, &a);
	if (ret >= 0)
		return ret;
	verb = argc - optind == 2 ? argv[optind] : "";
	if (strcmp(verb, "start") != 0 && strcmp(verb, "status") != 0) {
		fprintf(stderr, "nestor failback: expected start GROUP or status GROUP\n%s",
			usage_failback);
		return 2;
	}
	if (a.once && strcmp(verb, "start") != 0) {
		fprintf(stderr, "nestor failback: --once is an option of start\n%s", usage_failback);
		return 2;
	}
	a.group = argv[optind + 1];
	log_set_prefix("failback");
	if (!cli_group_ok(a.group))
		return 2;
	if (agent_config_load(a.path, &cfg) < 0)
		return 1;
	log_set_level(a.verbose ? LOG_LVL_DEBUG : cfg->log_level);
	if (strcmp(verb, "status") == 0) {
		ret = failback_status(cfg, a.group, a.json, stdout) == 0 ? 0 : 1;
	} else {
		signal(SIGPIPE, SIG_IGN);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		o.group = a.group;
		o.once = a.once;
		o.json = a.json ? stdout : NULL;
		ret = failback_start(cfg, &o) == 0 ? 0 : 1;
	}
	agent_config_free(cfg);
	return ret;
}
