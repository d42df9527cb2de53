/* `nestor failback start` and `nestor failback status`, on the agent host:
 * the reverse sync of a failed-over group into its failback target, and
 * the reverse points it holds (failback/start.h). */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failback/start.h"
#include "replicator/config.h"

static const char usage_start[] =
	"usage: nestor failback start [--config FILE] GROUP [--once] [--json]\n"
	"                             [--new-disks NAME=PATH[:FORMAT],...] [-v]\n"
	"\n"
	"After a failover of GROUP, on the agent host (the connection goes out to the\n"
	"receiver as the agent's does: same TLS certificates, no port opens here): the\n"
	"receiver replicates the failed-over VMs back. The first reverse point carries\n"
	"only what the cloud VMs wrote and what the on-prem disks changed after the\n"
	"failover's point, later ones what the cloud VMs wrote since. Points land in\n"
	"qcow2 overlays over the on-prem disks under <state_dir>/failback/GROUP/: the\n"
	"on-prem disks are only read until cutover. An interrupted point resumes from\n"
	"its durable progress. Without --once: a point every min_interval of the group\n"
	"(at least 10 s) until SIGINT/SIGTERM.\n"
	"On-prem disks lost: --new-disks maps every disk of the group to a new image\n"
	"(FORMAT raw or qcow2, else by the extension .qcow2, .raw or .img), absent or\n"
	"an empty file: it is made empty and the first point is a full copy of the\n"
	"cloud disks, holes kept. Given once, it is recorded in the target; set the\n"
	"group's disks to the new paths in the configuration before the finish.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"      --once          one reverse point, then exit\n"
	"      --json          one JSON object per point\n"
	"      --new-disks MAP the on-prem disks are lost: fail back into new disks\n"
	"  -v, --verbose       debug logging\n";

static const char usage_status[] =
	"usage: nestor failback status [--config FILE] GROUP [--json]\n"
	"\n"
	"On the agent host: the reverse points of GROUP held in its failback target and\n"
	"the bytes each one carried.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"      --json          one JSON object\n";

static volatile int fb_stop;

static void
fb_on_signal(int sig)
{
	(void)sig;
	fb_stop = 1;
}

/* The agent configuration of a parsed command, its log level set. */
static struct agent_config *
fb_config(const struct cli_args *a)
{
	struct agent_config *cfg = NULL;

	if (agent_config_load(a->path, &cfg) < 0)
		return NULL;
	log_set_level(a->verbose ? LOG_LVL_DEBUG : cfg->log_level);
	return cfg;
}

int
cli_failback_start(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "once", no_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "new-disks", required_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		CLI_OPT_HELP_END,
	};
	struct cli_args a = { .path = CLI_AGENT_CONF };
	struct failback_opts o = { .stop = &fb_stop };
	struct sigaction sa = { .sa_handler = fb_on_signal };
	struct agent_config *cfg;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a.path = optarg; break;
		case 'o': a.once = true; break;
		case 'j': a.json = true; break;
		case 'N': o.new_disks = optarg; break;
		case 'v': a.verbose = true; break;
		case 'h': return cli_usage(usage_start, true);
		default: return cli_usage(usage_start, false);
		}
	}
	if (!(a.group = cli_group_operand("failback start", argc, argv, usage_start, true)))
		return 2;
	if (!(cfg = fb_config(&a)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	o.group = a.group;
	o.once = a.once;
	o.json = a.json ? stdout : NULL;
	r = failback_start(cfg, &o) == 0 ? 0 : 1;
	agent_config_free(cfg);
	return r;
}

int
cli_failback_status(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	struct agent_config *cfg;
	int r = cli_parse("failback status", usage_status, CLI_O_CONFIG | CLI_O_JSON,
			  CLI_OPERAND_GROUP_VALID, argc, argv, &a);

	if (r >= 0)
		return r;
	if (!(cfg = fb_config(&a)))
		return 1;
	r = failback_status(cfg, a.group, a.json, stdout) == 0 ? 0 : 1;
	agent_config_free(cfg);
	return r;
}
