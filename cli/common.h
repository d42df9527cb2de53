/* What the subcommands share: default configuration paths, the receiver
 * side's "load the configuration, open the store, trap signals", and the
 * argument checks several commands make the same way. */
#ifndef NESTOR_CLI_COMMON_H
#define NESTOR_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#define CLI_AGENT_CONF    "/etc/nestor/agent.conf"
#define CLI_RECEIVER_CONF "/etc/nestor/receiver.conf"

struct receiver_config;
struct store;

/* A receiver-side command's configuration and store; both owned, released
 * by cli_rx_close. Start it zeroed. */
struct cli_rx {
	struct receiver_config *cfg;
	struct store *st;
};

/* How cli_rx_load sets the log level. */
enum cli_rx_log {
	CLI_RX_LOG_KEEP = 0, /* leave it (commands that only read) */
	CLI_RX_LOG_CONFIG,   /* the configuration's log_level */
	CLI_RX_LOG_DEBUG,    /* --verbose */
};

/* Load the receiver configuration at path into rx->cfg. 0 / -1 (logged). */
int cli_rx_load(struct cli_rx *rx, const char *path, enum cli_rx_log level);
/* Open rx->cfg's store into rx->st. With trap_signals, SIGINT, SIGTERM and
 * SIGHUP end the waits of a running drill_run (its teardown or failover
 * bookkeeping still runs) instead of killing the process. 0 / -1 (logged). */
int cli_rx_open_store(struct cli_rx *rx, bool trap_signals);
/* Free what cli_rx_load / cli_rx_open_store made; zeroes rx. */
void cli_rx_close(struct cli_rx *rx);

/* getopt_long table entries every command has; CLI_OPT_HELP_END ends the
 * table. */
#define CLI_OPT_CONFIG   { "config", required_argument, NULL, 'c' }
#define CLI_OPT_HELP_END { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }

/* usage on stdout after --help (help), else on stderr after a usage error.
 * The exit code: 0 or 2. */
int cli_usage(const char *usage, bool help);

/* After the options: no operand may follow. Prints "nestor CMD: unexpected
 * argument" and usage otherwise (false: exit 2). */
bool cli_no_operand(const char *cmd, int argc, const char *usage);

/* After the options: the one GROUP operand of command cmd, which also
 * becomes the log prefix. NULL (exit 2) after printing "expected one GROUP"
 * and usage, or, with check_name, logging an invalid group name. */
const char *cli_group_operand(const char *cmd, int argc, char **argv, const char *usage,
			      bool check_name);

/* Is group a valid group name? If not, logs it (exit code 2 follows). */
bool cli_group_ok(const char *group);

/* "--point ID|latest" of command cmd into *point (latest = 0). -1 after
 * printing the usage error. */
int cli_parse_point(const char *cmd, const char *arg, uint64_t *point);

/* The libvirt URI when --uri was not given: $LIBVIRT_DEFAULT_URI, else the
 * drill's default. Static or environment storage. */
const char *cli_default_uri(const char *uri);

#endif
