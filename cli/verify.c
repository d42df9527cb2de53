/* `nestor verify`: compare a recovery point with its source, block hashes
 * on both sides (agent side). */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/parse.h"
#include "replicator/agent/agent.h"
#include "replicator/config.h"

static const char usage_verify[] =
	"usage: nestor verify [--config FILE] GROUP [--point ID] [--json]\n"
	"\n"
	"Compare a recovery point (default: the newest) with the group's source\n"
	"images block by block (64 KiB XXH3 hashes computed on both sides) and\n"
	"print the byte ranges that differ.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"  -p, --point ID      point to verify\n"
	"      --json          machine-readable output\n"
	"Exit: 0 identical, 1 differences found or error.\n";

enum { OPT_JSON = 256 };

int
cli_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "point", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		CLI_OPT_HELP_END,
	};
	const char *path = CLI_AGENT_CONF, *group;
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
		case 'h': return cli_usage(usage_verify, true);
		default: return cli_usage(usage_verify, false);
		}
	}
	group = cli_group_operand("verify", argc, argv, usage_verify, false);
	if (!group)
		return 2;
	if (agent_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(cfg->log_level);
	r = agent_verify(cfg, group, point, json, stdout);
	agent_config_free(cfg);
	return r == 0 ? 0 : 1;
}
