/* `nestor failback SUBCOMMAND`: the way home after a failover
 * (docs/failback-design.md). A dispatch table; each subcommand is its own
 * function and file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_failback[] =
	"usage: nestor failback SUBCOMMAND [options] GROUP\n"
	"\n"
	"  start     (agent host) the reverse sync: the failed-over VMs replicated\n"
	"            back into a target over the on-prem disks\n"
	"  status    (agent host) the reverse points the target holds\n"
	"  finish    (agent host) the cutover in one command: the cloud VMs shut down,\n"
	"            the final reverse point, the on-prem disks at the promoted point,\n"
	"            then the failover released (resumable after a crash)\n"
	"  promote   (receiver host) the failed-over VMs' final disks become the\n"
	"            group's next point, the failover is released\n"
	"  cutover   (agent host) the final reverse point into the on-prem disks,\n"
	"            change tracking committed at the promoted point\n"
	"  abort     (agent host) abandon a failback before its cutover commits\n";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} failback_cmds[] = {
	{ "start", cli_failback_start },
	{ "status", cli_failback_status },
	{ "finish", cli_failback_finish },
	{ "promote", cli_failback_promote },
	{ "cutover", cli_failback_cutover },
	{ "abort", cli_failback_abort },
};

int
cli_failback(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_failback, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(failback_cmds) / sizeof(failback_cmds[0]); i++)
		if (strcmp(argv[1], failback_cmds[i].name) == 0)
			return failback_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "nestor failback: unknown subcommand %s\n%s", argv[1], usage_failback);
	return 2;
}
