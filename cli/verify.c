/* `nestor verify`: compare a recovery point with its source, block hashes
 * on both sides (agent side). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "replicator/agent/agent.h"

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

int
cli_verify(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	int r;

	r = cli_parse("verify", usage_verify, CLI_O_CONFIG | CLI_O_POINT | CLI_O_JSON,
		      CLI_OPERAND_GROUP, argc, argv, &a);
	if (r >= 0)
		return r;
	return cli_agent_point(&a, agent_verify);
}
