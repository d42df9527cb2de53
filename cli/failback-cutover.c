/* `nestor failback cutover` and `nestor failback abort`, on the agent
 * host: the on-prem steps of a failback's cutover, and its abandonment
 * (failback/cutover-run.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "failback/cutover-run.h"

static const char usage_cutover[] =
	"usage: nestor failback cutover [--config FILE] GROUP --point F\n"
	"\n"
	"On the agent host, once the final reverse point of GROUP is in its failback\n"
	"target (<state_dir>/failback/GROUP/) and the receiver made the failed-over\n"
	"VMs' final disks point F (nestor failback promote): commit the target into\n"
	"the on-prem disks, then restart the group's change tracking as committed at\n"
	"F, so that the next cycle is an incremental from F, not a seed. The group's\n"
	"libvirt domains must be shut off, and stay so (nestor failback finish starts\n"
	"and checks them). Each step is recorded in cutover.json first; run it again\n"
	"after a crash to finish.\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n"
	"  -p, --point F       the receiver's point the on-prem disks will equal\n";

static const char usage_abort[] =
	"usage: nestor failback abort [--config FILE] GROUP\n"
	"\n"
	"On the agent host: abandon the failback of GROUP before its cutover commits:\n"
	"its target directory goes, the on-prem disks stay exactly as they are.\n"
	"Refused once the commit into the on-prem disks began (finish it instead).\n"
	"\n"
	"  -c, --config FILE   agent configuration (default " CLI_AGENT_CONF ")\n";

static int
run_cutover(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
	    FILE *out)
{
	(void)json;
	if (failback_cutover_run(cfg, group, point, NULL) < 0)
		return -1;
	fprintf(out, "group %s: on-prem disks cut over; change tracking committed at point %"
		PRIu64 "\n", group, point);
	return 0;
}

static int
run_abort(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
	  FILE *out)
{
	(void)point;
	(void)json;
	if (failback_abort(cfg, group) < 0)
		return -1;
	fprintf(out, "group %s: failback abandoned; the on-prem disks are unchanged\n", group);
	return 0;
}

int
cli_failback_cutover(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	int r = cli_parse("failback cutover", usage_cutover, CLI_O_CONFIG | CLI_O_POINT,
			  CLI_OPERAND_GROUP_VALID, argc, argv, &a);

	if (r >= 0)
		return r;
	if (a.point == 0) {
		fprintf(stderr, "nestor failback cutover: --point F is required\n%s",
			usage_cutover);
		return 2;
	}
	return cli_agent_point(&a, run_cutover);
}

int
cli_failback_abort(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_AGENT_CONF };
	int r = cli_parse("failback abort", usage_abort, CLI_O_CONFIG, CLI_OPERAND_GROUP_VALID,
			  argc, argv, &a);

	return r >= 0 ? r : cli_agent_point(&a, run_abort);
}
