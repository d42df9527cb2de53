/* `nestor failover`: boot a recovery point's VMs for real and mark the group
 * failed over; --status shows the failed-over groups, --release ends one. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/boot.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/parse.h"
#include "failover/failover.h"
#include "failover/planned-wait.h"
#include "replicator/config.h"

static const char usage_failover[] =
	"usage: nestor failover [--config FILE] GROUP [--point ID|latest]\n"
	"                       [--planned [--planned-timeout DURATION]]\n"
	"                       [--network-map SRC=DST,...] [--uri URI] [--json]\n"
	"                       [drill verification options: --marker, --timeout,\n"
	"                        --check-cmd, --accel, --cpu-baseline, --boot-order,\n"
	"                        --boot-delay, --tcp-port, --guest-agent, --script]\n"
	"                       [--force]\n"
	"       nestor failover [--config FILE] --status [--json]\n"
	"       nestor failover [--config FILE] --release GROUP [--uri URI]\n"
	"       nestor failover [--config FILE] --planned-cancel GROUP\n"
	"       nestor failover [--config FILE] --list GROUP [--json]\n"
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
	"      --planned       planned failover: ask the group's agent (at its next\n"
	"                      contact, every control_poll) to shut the source VMs\n"
	"                      down and send a final point, wait for it, boot it\n"
	"      --planned-timeout D  how long to wait for that final point (default 10m);\n"
	"                      then exit 1 and withdraw the request\n"
	"      --planned-cancel GROUP  withdraw a request left by an interrupted\n"
	"                      --planned (it also lapses at its deadline)\n"
	"      --network-map M SRC=DST[,SRC=DST...]: source network -> network here\n"
	"      --json          print the report (or --status) as JSON\n"
	CLI_BOOT_USAGE
	"      --status        show failed-over groups and the state of their VMs\n"
	"      --release GROUP end the failover of GROUP once its VMs are shut down:\n"
	"                      undefine the domains, remove the network nestor created\n"
	"                      and the marker; overlays stay (they hold the VMs' changes)\n"
	"      --list GROUP    list the saved failover reports of GROUP (JSON and HTML)\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 success, 1 failure (a VM not verified, refused, libvirt), 2 usage.\n";

enum { OPT_PLANNED = 300, OPT_NETMAP, OPT_STATUS, OPT_RELEASE, OPT_PTIMEOUT, OPT_PCANCEL,
       OPT_LIST };

/* What failover adds to the boot options. */
struct fo_args {
	bool status, release, cancel, list;
	uint64_t planned_timeout_s;
};

/* Options into a: -1 to go on, else the exit code (0 after --help, 2 after
 * a usage error, message printed). */
static int
parse_options(int argc, char **argv, struct cli_boot_args *a, struct fo_args *f)
{
	static const struct option opts[] = {
		CLI_BOOT_HEAD_OPTIONS,
		{ "planned", no_argument, NULL, OPT_PLANNED },
		{ "network-map", required_argument, NULL, OPT_NETMAP },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "release", no_argument, NULL, OPT_RELEASE },
		{ "planned-timeout", required_argument, NULL, OPT_PTIMEOUT },
		{ "planned-cancel", no_argument, NULL, OPT_PCANCEL },
		{ "list", no_argument, NULL, OPT_LIST },
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
		case OPT_STATUS: f->status = true; break;
		case OPT_RELEASE: f->release = true; break;
		case OPT_PCANCEL: f->cancel = true; break;
		case OPT_LIST: f->list = true; break;
		case OPT_PTIMEOUT:
			if (parse_duration(optarg, &f->planned_timeout_s) < 0 ||
			    f->planned_timeout_s < 1 || f->planned_timeout_s > 7 * 86400) {
				fprintf(stderr, "nestor failover: --planned-timeout is a duration "
					"such as 20s, 10m, 1h (1s..7d)\n");
				return 2;
			}
			break;
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

/* A progress line of the planned wait, on stderr (stdout is the report). */
static void
say_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "nestor failover: %s\n", line);
}

/* --planned: the agent's final point first, then the boot of that point. */
static int
run_planned(struct cli_rx *rx, struct cli_boot_args *a, const struct fo_args *f)
{
	struct planned_wait_opts w = {
		.store_dir = rx->cfg->store_dir, .group = a->o.group,
		.timeout_ns = f->planned_timeout_s * 1000000000ull, .poll_ms = 200,
		.say = say_line,
	};
	uint64_t point = 0;
	int lock, ret = 1;

	if (a->o.point != 0) {
		fprintf(stderr, "nestor failover: --planned boots the final point: no --point\n");
		return 2;
	}
	/* Held until the boot's result is recorded: the receiver abandons a
	 * final point nobody holds it for (the agent then resumes). */
	if ((lock = planned_wait_lock(&w)) < 0)
		return 1;
	if (cli_rx_open_store(rx, true) == 0 && planned_wait(rx->st, &w, &point) == 0) {
		a->o.point = point;
		ret = cli_boot_run(rx, a);
		if (planned_boot_done(&w, point, ret == 0) < 0 && ret == 0)
			ret = 1;
	}
	close(lock);
	return ret;
}

int
cli_failover(int argc, char **argv)
{
	struct cli_boot_args a = CLI_BOOT_ARGS_INIT(DRILL_MODE_FAILOVER);
	struct fo_args f = { .planned_timeout_s = 600 };
	struct cli_rx rx = { 0 };
	int ret = parse_options(argc, argv, &a, &f);
	bool status = f.status;

	if (ret >= 0)
		return ret;
	if (status + f.release + f.cancel + a.o.planned + f.list > 1) {
		fprintf(stderr, "nestor failover: --status, --release, --planned, "
			"--planned-cancel and --list exclude each other\n");
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
	else if (f.release)
		ret = failover_release(rx.cfg->store_dir, a.o.group, a.o.uri) == 0 ? 0 : 1;
	else if (f.list)
		ret = cli_boot_list(&rx, a.o.group, true, a.json);
	else if (f.cancel)
		ret = planned_cancel(rx.cfg->store_dir, a.o.group, say_line, NULL) == 0 ? 0 : 1;
	else if (a.o.planned)
		ret = run_planned(&rx, &a, &f);
	else
		ret = cli_boot_run(&rx, &a);
	cli_rx_close(&rx);
	return ret;
}
