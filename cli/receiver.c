/* `nestor receiver`: accept replication from the agents into the store. */
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "failback/reverse.h"
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
	struct cli_args a = { .path = CLI_RECEIVER_CONF };
	struct cli_rx rx = { 0 };
	/* Failback's reverse replication lies above the receiver's folder. */
	const struct receiver_hooks hooks = { .reverse = failback_reverse_serve };
	int ret;

	ret = cli_parse("receiver", usage_receiver, CLI_O_CONFIG | CLI_O_VERBOSE, CLI_OPERAND_NONE,
			argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (cli_rx_load(&rx, a.path, a.verbose ? CLI_RX_LOG_DEBUG : CLI_RX_LOG_CONFIG) < 0)
		return 1;
	ret = receiver_run(rx.cfg, &hooks) == 0 ? 0 : 1;
	cli_rx_close(&rx);
	return ret;
}
