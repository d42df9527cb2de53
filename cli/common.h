/* What the subcommands share: default configuration paths, the receiver
 * side's "load the configuration, open the store, trap signals", and the
 * argument checks several commands make the same way. */
#ifndef NESTOR_CLI_COMMON_H
#define NESTOR_CLI_COMMON_H

#include <stdbool.h>
#include <stdio.h>
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

/* What the options and the GROUP operand of a subcommand parsed by
 * cli_parse set. Strings point into argv. */
struct cli_args {
	const char *path;  /* -c, --config FILE (preset the default) */
	const char *group; /* the GROUP operand, or --group NAME */
	uint64_t point;    /* -p, --point ID: a point id, never 0 */
	bool json;         /* --json */
	bool verbose;      /* -v, --verbose */
	bool dry_run;      /* -n, --dry-run */
	bool once;         /* --once */
	bool no_progress;  /* --no-progress */
	bool receiver;     /* -r, --receiver */
};

/* The options a subcommand accepts, one bit each (--help/-h always). */
enum {
	CLI_O_CONFIG = 1 << 0,
	CLI_O_GROUP = 1 << 1,
	CLI_O_POINT = 1 << 2,
	CLI_O_JSON = 1 << 3,
	CLI_O_VERBOSE = 1 << 4,
	CLI_O_DRY_RUN = 1 << 5,
	CLI_O_ONCE = 1 << 6,
	CLI_O_NO_PROGRESS = 1 << 7,
	CLI_O_RECEIVER = 1 << 8,
};

/* The operands such a subcommand takes after its options. */
enum cli_operand {
	CLI_OPERAND_NONE,        /* none (cli_no_operand) */
	CLI_OPERAND_GROUP,       /* one GROUP (cli_group_operand, name unchecked) */
	CLI_OPERAND_GROUP_VALID, /* one GROUP with a valid name */
	CLI_OPERAND_UNCHECKED,   /* the caller checks them itself */
};

/* Parse command cmd's options (the CLI_O_* bits in accept) into *a, then
 * its operands; NONE and the GROUP kinds also set the log prefix to cmd.
 * -1 when the command goes on; otherwise its exit code: 0 after --help
 * (usage on stdout), 2 after a usage error (reported on stderr). */
int cli_parse(const char *cmd, const char *usage, unsigned accept, enum cli_operand operand,
	      int argc, char **argv, struct cli_args *a);

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

struct agent_config;
/* An agent-side command on one point of a group (verify, repair): load the
 * agent configuration a->path, set its log level, run fn(cfg, a->group,
 * a->point, a->json, stdout). The exit code: 0 when fn returned 0, else 1. */
int cli_agent_point(const struct cli_args *a,
		    int (*fn)(const struct agent_config *cfg, const char *group, uint64_t point,
			      bool json, FILE *out));

/* The libvirt URI when --uri was not given: $LIBVIRT_DEFAULT_URI, else the
 * drill's default. Static or environment storage. */
const char *cli_default_uri(const char *uri);

#endif
