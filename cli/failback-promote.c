/* `nestor failback promote GROUP`, on the receiver host: the failed-over
 * VMs' final disks become the group's newest forward point, then the
 * failover is released (failover/promote.h). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failover/promote.h"
#include "replicator/config.h"

static const char usage_promote[] =
	"usage: nestor failback promote [--config FILE] [--uri URI] [--json] GROUP\n"
	"\n"
	"On the receiver host, after a failover of GROUP whose VMs are shut down: make\n"
	"their final disks the group's next recovery point F (base: the newest point;\n"
	"crash-consistent; the failover's overlays are copied into the store, checksums\n"
	"from their own data), then release the failover (domains undefined, marker\n"
	"removed; the overlays stay). The agent's next cycle is an incremental from F\n"
	"once its source state says F (nestor failback finish). Refused while a VM of\n"
	"the failover runs. On a ceph store F is made of the failover's RBD clones\n"
	"(what they wrote over point P) and its base must be P. A re-run after a\n"
	"crash finishes the same point.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"      --uri URI       the libvirt of the failover (default $LIBVIRT_DEFAULT_URI)\n"
	"      --json          print the result as JSON\n";

int
cli_failback_promote(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "uri", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		CLI_OPT_HELP_END,
	};
	const char *path = CLI_RECEIVER_CONF, *uri = NULL, *group;
	struct cli_rx rx = { 0 };
	json_t *rep = NULL;
	bool json = false;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'u': uri = optarg; break;
		case 'j': json = true; break;
		case 'h': return cli_usage(usage_promote, true);
		default: return cli_usage(usage_promote, false);
		}
	}
	group = cli_group_operand("failback promote", argc, argv, usage_promote, true);
	if (!group)
		return 2;
	if (cli_rx_load(&rx, path, CLI_RX_LOG_CONFIG) < 0 || cli_rx_open_store(&rx, false) < 0)
		goto out;
	if (failover_promote(rx.st, rx.cfg->store_dir, group, cli_default_uri(uri), &rep) < 0)
		goto out;
	if (json)
		json_dumpf(rep, stdout, JSON_COMPACT);
	else
		printf("group %s: point %" PRIu64 " (base %" PRIu64 ") holds the failover's final "
		       "disks, %" PRIu64 " bytes of their own; failover released",
		       group, (uint64_t)json_integer_value(json_object_get(rep, "point")),
		       (uint64_t)json_integer_value(json_object_get(rep, "base")),
		       (uint64_t)json_integer_value(json_object_get(rep, "bytes")));
	printf("\n");
	ret = 0;
out:
	json_decref(rep);
	cli_rx_close(&rx);
	return ret;
}
