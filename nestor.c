/* nestor: the one binary; dispatches subcommands to cli/, one file each. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "proto/codec.h"

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
	"  group      show or hand over the agent a group belongs to (receiver side)\n"
	"  status     show every group's replication state (--json); agent or receiver\n"
	"  verify     compare a recovery point with its source (agent side)\n"
	"  scrub      re-read stored points and check them against their checksums\n"
	"  repair     re-fetch the ranges that failed a scrub from the source (agent side)\n"
	"  drill      boot a recovery point's VMs in an isolated network and verify them\n"
	"  failover   boot a recovery point's VMs for real; --status, --release\n"
	"  failback   the way home after a failover: start, status, promote, cutover, abort\n"
	"  network    the peers of a DR network's WireGuard site link\n"
	"  config     check a configuration file\n"
	"  version    print the version\n"
	"\n"
	"Run 'nestor COMMAND --help' for the options of a command.\n"
	"Exit codes: 0 success, 1 failure (or differences for verify, a bad range left\n"
	"for repair), 2 usage error.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "agent", cli_agent },
	{ "receiver", cli_receiver },
	{ "points", cli_points },
	{ "prune", cli_prune },
	{ "group", cli_group },
	{ "verify", cli_verify },
	{ "config", cli_config },
	{ "drill", cli_drill },
	{ "failover", cli_failover },
	{ "failback", cli_failback },
	{ "status", cli_status },
	{ "scrub", cli_scrub },
	{ "repair", cli_repair },
	{ "network", cli_network },
};

int
main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("nestor 0.1.0 (protocol %d)\n", PROTO_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "nestor: unknown command '%s'\n%s", argv[1], usage_main);
	return 2;
}
