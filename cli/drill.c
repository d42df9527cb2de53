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
#include "failover/report.h"
#include "replicator/config.h"

static const char usage_drill[] =
	"usage: nestor drill [--config FILE] GROUP [--point ID|latest] [--keep] [--json]\n"
	"                    [--uri URI] [--marker TEXT] [--timeout S] [--check-cmd CMD]\n"
	"                    [--accel auto|tcg|kvm] [--cpu-baseline MODEL]\n"
	"                    [--boot-order VM,...] [--boot-delay S] [--tcp-port PORT]\n"
	"                    [--guest-agent] [--script PATH]\n"
	"       nestor drill [--config FILE] --list GROUP [--json]\n"
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
	"      --list          list the saved drill reports of GROUP\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 every VM verified and teardown done, 1 otherwise, 2 usage error.\n";

enum { OPT_KEEP = 300, OPT_JSON, OPT_LIST };

/* The saved reports of group as a table or JSON on stdout. Exit code. */
static int
list_reports(const struct cli_rx *rx, const char *group, bool json)
{
	char *dir = NULL;
	int ret;

	if (asprintf(&dir, "%s/%s/drills", rx->cfg->store_dir, group) < 0) {
		log_error("out of memory");
		return 1;
	}
	ret = report_list(dir, json, stdout) == 0 ? 0 : 1;
	free(dir);
	return ret;
}

int
cli_drill(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "point", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "list", no_argument, NULL, OPT_LIST },
		CLI_BOOT_OPTIONS,
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct drill_opts o = { CLI_BOOT_DEFAULTS };
	const char *path = CLI_RECEIVER_CONF;
	struct cli_rx rx = { 0 };
	bool json = false, verbose = false, list = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'p':
			if (cli_parse_point("drill", optarg, &o.point) < 0)
				return 2;
			break;
		case OPT_KEEP: o.keep = true; break;
		case OPT_JSON: json = true; break;
		case OPT_LIST: list = true; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_drill, stdout); return 0;
		default:
			switch (cli_boot_parse(c, optarg, "drill", &o)) {
			case 0: break;
			case -1: return 2;
			default: fputs(usage_drill, stderr); return 2;
			}
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "nestor drill: expected one GROUP\n%s", usage_drill);
		return 2;
	}
	o.group = argv[optind];
	o.uri = cli_default_uri(o.uri);
	log_set_prefix("drill");
	if (!cli_group_ok(o.group))
		return 2;
	if (cli_rx_load(&rx, path, verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0)
		return 1;
	ret = list ? list_reports(&rx, o.group, json) : cli_boot_run(&rx, &o, json);
	cli_rx_close(&rx);
	return ret;
}
