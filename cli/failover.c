/* `nestor failover`: boot a recovery point's VMs for real and mark the group
 * failed over; --status shows the failed-over groups, --release ends one. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/boot.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failover/failover.h"
#include "replicator/config.h"

static const char usage_failover[] =
	"usage: nestor failover [--config FILE] GROUP [--point ID|latest] [--planned]\n"
	"                       [--network-map SRC=DST,...] [--uri URI] [--json]\n"
	"                       [drill verification options: --marker, --timeout,\n"
	"                        --check-cmd, --accel, --cpu-baseline, --boot-order,\n"
	"                        --boot-delay, --tcp-port, --guest-agent, --script]\n"
	"                       [--force]\n"
	"       nestor failover [--config FILE] --status [--json]\n"
	"       nestor failover [--config FILE] --release GROUP [--uri URI]\n"
	"\n"
	"Fail a protection group over to this receiver: boot every VM of a recovery\n"
	"point (default: the newest complete one) as a persistent libvirt domain under\n"
	"its own name (or NAME-failover-ID if that name is taken), on qcow2 overlays\n"
	"kept in <store>/<group>/failover/<id>/ (the point itself is never written),\n"
	"verify each VM like a drill, and leave them running. The group is marked\n"
	"failed over (<store>/<group>/failover.json): the receiver refuses new points\n"
	"for it until --release. Each NIC joins the network given by --network-map for\n"
	"its source network, else the DR network of the [network] of receiver.conf\n"
	"listing it (docs/network.md), else the source network's name if this host\n"
	"has it, else the isolated network nestor-failover-GROUP.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"  -p, --point ID      point to boot, or 'latest' (default)\n"
	"      --planned       planned failover (source shut down, final agent --once\n"
	"                      done): refuse if an incomplete point is pending\n"
	"      --network-map M SRC=DST[,SRC=DST...]: source network -> network here\n"
	"      --json          print the report (or --status) as JSON\n"
	CLI_BOOT_USAGE
	"      --status        show failed-over groups and the state of their VMs\n"
	"      --release GROUP end the failover of GROUP once its VMs are shut down:\n"
	"                      undefine the domains, remove the network nestor created\n"
	"                      and the marker; overlays stay (they hold the VMs' changes)\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 success, 1 failure (a VM not verified, refused, libvirt), 2 usage.\n";

enum { OPT_PLANNED = 300, OPT_NETMAP, OPT_STATUS, OPT_RELEASE };

/* Options into a: -1 to go on, else the exit code (0 after --help, 2 after
 * a usage error, message printed). */
static int
parse_options(int argc, char **argv, struct cli_boot_args *a, bool *status, bool *release)
{
	static const struct option opts[] = {
		CLI_BOOT_HEAD_OPTIONS,
		{ "planned", no_argument, NULL, OPT_PLANNED },
		{ "network-map", required_argument, NULL, OPT_NETMAP },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "release", no_argument, NULL, OPT_RELEASE },
		CLI_BOOT_OPTIONS,
		CLI_OPT_HELP_END,
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PLANNED: a->o.planned = true; break;
		case OPT_NETMAP:
			if (!drill_network_map_valid(optarg)) {
				fprintf(stderr, "nestor failover: --network-map is SRC=DST[,SRC=DST...] "
					"of plain network names\n");
				return 2;
			}
			a->o.network_map = optarg;
			break;
		case OPT_STATUS: *status = true; break;
		case OPT_RELEASE: *release = true; break;
		case 'h': return cli_usage(usage_failover, true);
		default:
			switch (cli_boot_parse(c, optarg, "failover", a)) {
			case 0: break;
			case -1: return 2;
			default: return cli_usage(usage_failover, false);
			}
		}
	}
	return -1;
}

/* --status: the failed-over groups as a table or JSON on stdout. Exit code. */
static int
print_status(const char *store_dir, const char *uri, bool json)
{
	json_t *arr = failover_status(store_dir, uri);
	char *txt;

	if (!arr)
		return 1;
	if (json) {
		txt = json_dumps(arr, JSON_INDENT(2));
		if (txt)
			printf("%s\n", txt);
		free(txt);
	} else if (json_array_size(arr) == 0) {
		printf("no group is failed over\n");
	} else {
		printf("%-20s %-6s %-21s %-20s %-28s %s\n", "GROUP", "POINT", "SINCE", "VM",
		       "DOMAIN", "STATE");
	}
	for (size_t k = 0; !json && k < json_array_size(arr); k++) {
		json_t *g = json_array_get(arr, k), *vms = json_object_get(g, "vms");
		const char *since = json_string_value(json_object_get(g, "since"));

		for (size_t i = 0; i < json_array_size(vms); i++) {
			json_t *v = json_array_get(vms, i);
			const char *vn = json_string_value(json_object_get(v, "vm"));
			const char *dn = json_string_value(json_object_get(v, "domain"));

			printf("%-20s %-6" JSON_INTEGER_FORMAT " %-21s %-20s %-28s %s\n",
			       json_string_value(json_object_get(g, "group")),
			       json_integer_value(json_object_get(g, "point")), since ? since : "?",
			       vn ? vn : "?", dn ? dn : "?",
			       json_string_value(json_object_get(v, "state")));
		}
	}
	json_decref(arr);
	return 0;
}

int
cli_failover(int argc, char **argv)
{
	struct cli_boot_args a = CLI_BOOT_ARGS_INIT(DRILL_MODE_FAILOVER);
	struct cli_rx rx = { 0 };
	bool status = false, release = false;
	int ret = parse_options(argc, argv, &a, &status, &release);

	if (ret >= 0)
		return ret;
	if (status && release) {
		fprintf(stderr, "nestor failover: --status and --release exclude each other\n");
		return 2;
	}
	if (status ? optind != argc : optind != argc - 1) {
		fprintf(stderr, "nestor failover: expected %s\n%s",
			status ? "no GROUP with --status" : "one GROUP", usage_failover);
		return 2;
	}
	a.o.group = status ? NULL : argv[optind];
	a.o.uri = cli_default_uri(a.o.uri);
	log_set_prefix("failover");
	if (a.o.group && !cli_group_ok(a.o.group))
		return 2;
	if (cli_rx_load(&rx, a.path, a.verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0)
		return 1;
	if (status)
		ret = print_status(rx.cfg->store_dir, a.o.uri, a.json);
	else if (release)
		ret = failover_release(rx.cfg->store_dir, a.o.group, a.o.uri) == 0 ? 0 : 1;
	else
		ret = cli_boot_run(&rx, &a);
	cli_rx_close(&rx);
	return ret;
}
