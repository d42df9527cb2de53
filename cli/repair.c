/* `nestor repair`: re-fetch from the source the ranges of recovery points
 * that failed their scrub (agent side; issue 13, item 3). */
#include "cli/cli.h"
#include "cli/common.h"
#include "replicator/agent/repair.h"

static const char usage_repair[] =
	"usage: nestor repair [--config FILE] GROUP [--point ID] [--json]\n"
	"\n"
	"Ask the receiver which ranges of a recovery point failed its last scrub\n"
	"(default: every such point of the group, newest first), read each range\n"
	"from the source, and send back those whose content is still what the\n"
	"point held: only the bad ranges travel. A range the source changed since\n"
	"the point is reported as not recoverable and stays bad. Local store only:\n"
	"a Ceph point is a snapshot, which Ceph's own deep scrub repairs.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"  -p, --point ID      point to repair\n"
	"      --json          machine-readable output\n"
	"Exit: 0 every bad range repaired (or none), 1 something left or error.\n";

int
cli_repair(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	int rc = cli_parse("repair", usage_repair, CLI_O_CONFIG | CLI_O_POINT | CLI_O_JSON,
			   CLI_OPERAND_GROUP, argc, argv, &a);

	return rc >= 0 ? rc : cli_agent_point(&a, agent_repair_run);
}
