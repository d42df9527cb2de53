/* `nestor drill`: boot a recovery point's VMs in an isolated network,
 * verify them, report RPO/RTO, tear down; or list the saved reports. */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/boot.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failover/drill.h"
#include "failover/report.h"
#include "replicator/config.h"

static const char usage_drill[] =
	"usage: nestor drill [--config FILE] GROUP [--point ID|latest] [--keep] [--json]\n"
	"                    [--uri URI] [--marker TEXT] [--timeout S] [--check-cmd CMD]\n"
	"                    [--accel auto|probe|tcg|kvm] [--cpu-baseline MODEL]\n"
	"                    [--boot-order VM,...] [--boot-delay S] [--tcp-port PORT]\n"
	"                    [--guest-agent] [--script PATH] [--force]\n"
	"       nestor drill [--config FILE] --list GROUP [--json]\n"
	"       nestor drill [--config FILE] --cleanup GROUP [--uri URI]\n"
	"\n"
	"DR drill on the receiver: boot every VM of a recovery point (default: the\n"
	"newest) from its captured domain XML, on qcow2 overlays of the point's disks\n"
	"(the point is never written), attached to a new isolated libvirt network\n"
	"without forwarding; verify each VM by a marker on its serial console (and\n"
	"optionally a command run over the console), report RPO at drill time and\n"
	"RTO measured, then destroy the domains, the network and the overlays.\n"
	"The report is saved as <store>/<group>/drills/<id>.json; console logs and\n"
	"the generated domain XML stay in <store>/<group>/drills/<id>/.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"  -p, --point ID      point to drill, or 'latest' (default)\n"
	"      --keep          leave the domains, network and overlays running\n"
	"      --json          print the report as JSON instead of text\n"
	CLI_BOOT_USAGE
	"      --list          list the saved drill reports of GROUP (JSON and HTML)\n"
	"      --cleanup       remove what drills of GROUP that no longer run left\n"
	"                      (domains, networks, namespaces, overlays, pins), --keep too\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 every VM verified and teardown done, 1 otherwise, 2 usage error.\n";

enum { OPT_KEEP = 300, OPT_LIST, OPT_CLEANUP };

/* --cleanup: what dead and kept drills of group left. Exit code. */
static int
clean_up(struct cli_rx *rx, const char *group, const char *uri)
{
	int n;

	if (cli_rx_open_store(rx, false) < 0)
		return 1;
	n = drill_cleanup(rx->st, rx->cfg->store_dir, group, uri);
	if (n >= 0)
		printf("%d drill(s) of group %s cleaned up\n", n, group);
	return n < 0 ? 1 : 0;
}

int
cli_drill(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_BOOT_HEAD_OPTIONS,
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		CLI_BOOT_OPTIONS,
		CLI_OPT_HELP_END,
	};
	struct cli_boot_args a = CLI_BOOT_ARGS_INIT(DRILL_MODE_DRILL);
	struct cli_rx rx = { 0 };
	bool list = false, cleanup = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KEEP: a.o.keep = true; break;
		case OPT_LIST: list = true; break;
		case OPT_CLEANUP: cleanup = true; break;
		case 'h': return cli_usage(usage_drill, true);
		default:
			switch (cli_boot_parse(c, optarg, "drill", &a)) {
			case 0: break;
			case -1: return 2;
			default: return cli_usage(usage_drill, false);
			}
		}
	}
	a.o.group = cli_group_operand("drill", argc, argv, usage_drill, true);
	if (!a.o.group)
		return 2;
	a.o.uri = cli_default_uri(a.o.uri);
	if (cli_rx_load(&rx, a.path, a.verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0)
		return 1;
	if (list && cleanup) {
		fprintf(stderr, "nestor drill: --list and --cleanup exclude each other\n");
		cli_rx_close(&rx);
		return 2;
	}
	if (cleanup)
		ret = clean_up(&rx, a.o.group, a.o.uri);
	else
		ret = list ? cli_boot_list(&rx, a.o.group, false, a.json) : cli_boot_run(&rx, &a);
	cli_rx_close(&rx);
	return ret;
}
