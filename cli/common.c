/* Shared pieces of the subcommands: receiver configuration and store,
 * signal trapping for drill and failover, common argument checks. */
#include "cli/common.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "failover/drill.h"
#include "replicator/config.h"
#include "replicator/receiver/receiver.h"
#include "replicator/receiver/store.h"

int
cli_rx_load(struct cli_rx *rx, const char *path, enum cli_rx_log level)
{
	if (receiver_config_load(path, &rx->cfg) < 0)
		return -1;
	if (level != CLI_RX_LOG_KEEP)
		log_set_level(level == CLI_RX_LOG_DEBUG ? LOG_LVL_DEBUG : rx->cfg->log_level);
	return 0;
}

int
cli_rx_open_store(struct cli_rx *rx, bool trap_signals)
{
	struct sigaction sa = { .sa_handler = drill_on_signal };

	rx->st = receiver_store_open(rx->cfg);
	if (!rx->st)
		return -1;
	if (trap_signals) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	return 0;
}

void
cli_rx_close(struct cli_rx *rx)
{
	store_free(rx->st);
	receiver_config_free(rx->cfg);
	rx->st = NULL;
	rx->cfg = NULL;
}

int
cli_usage(const char *usage, bool help)
{
	fputs(usage, help ? stdout : stderr);
	return help ? 0 : 2;
}

bool
cli_no_operand(const char *cmd, int argc, const char *usage)
{
	if (optind == argc)
		return true;
	fprintf(stderr, "nestor %s: unexpected argument\n%s", cmd, usage);
	return false;
}

const char *
cli_group_operand(const char *cmd, int argc, char **argv, const char *usage,
		  bool check_name)
{
	if (optind != argc - 1) {
		fprintf(stderr, "nestor %s: expected one GROUP\n%s", cmd, usage);
		return NULL;
	}
	log_set_prefix(cmd);
	if (check_name && !cli_group_ok(argv[optind]))
		return NULL;
	return argv[optind];
}

bool
cli_group_ok(const char *group)
{
	if (name_valid(group, strlen(group)))
		return true;
	log_error("invalid group name '%s'", group);
	return false;
}

int
cli_parse_point(const char *cmd, const char *arg, uint64_t *point)
{
	if (!strcmp(arg, "latest")) {
		*point = 0;
		return 0;
	}
	if (parse_u64(arg, point) < 0 || *point == 0) {
		fprintf(stderr, "nestor %s: --point needs a point id or 'latest', not '%s'\n",
			cmd, arg);
		return -1;
	}
	return 0;
}

const char *
cli_default_uri(const char *uri)
{
	if (!uri)
		uri = getenv("LIBVIRT_DEFAULT_URI");
	if (!uri || !*uri)
		uri = DRILL_DEFAULT_URI;
	return uri;
}
