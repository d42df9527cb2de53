/* `nestor receiver`: accept replication from the agents into the store. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/receiver.h"

static const char usage_receiver[] =
	"usage: nestor receiver [--config FILE]\n"
	"\n"
	"Listen for agents (TLS 1.3, mutual certificates), authorise each agent's\n"
	"certificate name for its groups, write recovery points into the store.\n"
	"Stops on SIGINT/SIGTERM.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"  -v, --verbose       debug logging\n";

int
cli_receiver(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "verbose", no_argument, NULL, 'v' },
		CLI_OPT_HELP_END,
	};
	const char *path = CLI_RECEIVER_CONF;
	struct cli_rx rx = { 0 };
	bool verbose = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': verbose = true; break;
		case 'h': return cli_usage(usage_receiver, true);
		default: return cli_usage(usage_receiver, false);
		}
	}
	if (!cli_no_operand("receiver", argc, usage_receiver))
		return 2;
	log_set_prefix("receiver");
	if (cli_rx_load(&rx, path, verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0)
		return 1;
	ret = receiver_run(rx.cfg) == 0 ? 0 : 1;
	cli_rx_close(&rx);
	return ret;
}
