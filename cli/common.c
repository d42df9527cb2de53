/* Shared pieces of the subcommands: receiver configuration and store,
 * signal trapping for drill and failover, common argument checks. */
#include "cli/common.h"

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
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

	if (!rx->st) /* open already: --planned waited on it before the boot */
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

/* How an option's argument is stored. */
enum cli_arg {
	CLI_ARG_FLAG, /* bool: set to true */
	CLI_ARG_STR,  /* const char *: the argument */
	CLI_ARG_ID,   /* uint64_t: a point id, not 0 */
};

/* Every option cli_parse knows. A long-only option's getopt value is 256
 * plus its index here. */
static const struct cli_opt {
	unsigned bit;
	const char *name;
	char letter;
	enum cli_arg arg;
	size_t off; /* in struct cli_args */
} cli_opts[] = {
	{ CLI_O_CONFIG, "config", 'c', CLI_ARG_STR, offsetof(struct cli_args, path) },
	{ CLI_O_GROUP, "group", 'g', CLI_ARG_STR, offsetof(struct cli_args, group) },
	{ CLI_O_POINT, "point", 'p', CLI_ARG_ID, offsetof(struct cli_args, point) },
	{ CLI_O_JSON, "json", 0, CLI_ARG_FLAG, offsetof(struct cli_args, json) },
	{ CLI_O_VERBOSE, "verbose", 'v', CLI_ARG_FLAG, offsetof(struct cli_args, verbose) },
	{ CLI_O_DRY_RUN, "dry-run", 'n', CLI_ARG_FLAG, offsetof(struct cli_args, dry_run) },
	{ CLI_O_ONCE, "once", 0, CLI_ARG_FLAG, offsetof(struct cli_args, once) },
	{ CLI_O_NO_PROGRESS, "no-progress", 0, CLI_ARG_FLAG,
	  offsetof(struct cli_args, no_progress) },
	{ CLI_O_RECEIVER, "receiver", 'r', CLI_ARG_FLAG, offsetof(struct cli_args, receiver) },
};
#define CLI_NOPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

/* The getopt_long table and short option string of the accepted options. */
static void
cli_opts_build(unsigned accept, struct option *lo, char *so)
{
	size_t n = 0;

	for (size_t i = 0; i < CLI_NOPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		bool has_arg = o->arg != CLI_ARG_FLAG;

		if (!(accept & o->bit))
			continue;
		lo[n++] = (struct option){ o->name, has_arg ? required_argument : no_argument,
					   NULL, o->letter ? o->letter : 256 + (int)i };
		if (o->letter) {
			*so++ = o->letter;
			if (has_arg)
				*so++ = ':';
		}
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	strcpy(so, "h");
}

/* Store option c's argument in *a; false after a usage error (printed). */
static bool
cli_opt_set(const char *cmd, int c, const char *arg, struct cli_args *a)
{
	const struct cli_opt *o = NULL;
	void *dst;

	for (size_t i = 0; i < CLI_NOPTS && !o; i++)
		if (c == (cli_opts[i].letter ? cli_opts[i].letter : 256 + (int)i))
			o = &cli_opts[i];
	if (!o)
		return false;
	dst = (char *)a + o->off;
	switch (o->arg) {
	case CLI_ARG_FLAG:
		*(bool *)dst = true;
		return true;
	case CLI_ARG_STR:
		*(const char **)dst = arg;
		return true;
	case CLI_ARG_ID:
		if (parse_u64(arg, dst) == 0 && *(uint64_t *)dst != 0)
			return true;
		fprintf(stderr, "nestor %s: --%s needs a point id, not '%s'\n", cmd, o->name, arg);
		return false;
	}
	return false;
}

int
cli_parse(const char *cmd, const char *usage, unsigned accept, enum cli_operand operand,
	  int argc, char **argv, struct cli_args *a)
{
	struct option lo[CLI_NOPTS + 2];
	char so[2 * CLI_NOPTS + 2];
	int c;

	cli_opts_build(accept, lo, so);
	while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(usage, true);
		if (c == '?' || c == ':')
			return cli_usage(usage, false);
		if (!cli_opt_set(cmd, c, optarg, a))
			return 2;
	}
	switch (operand) {
	case CLI_OPERAND_NONE:
		if (!cli_no_operand(cmd, argc, usage))
			return 2;
		log_set_prefix(cmd);
		break;
	case CLI_OPERAND_GROUP:
	case CLI_OPERAND_GROUP_VALID:
		a->group = cli_group_operand(cmd, argc, argv, usage,
					     operand == CLI_OPERAND_GROUP_VALID);
		if (!a->group)
			return 2;
		break;
	case CLI_OPERAND_UNCHECKED:
		break;
	}
	return -1;
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

int
cli_agent_point(const struct cli_args *a,
		int (*fn)(const struct agent_config *cfg, const char *group, uint64_t point,
			  bool json, FILE *out))
{
	struct agent_config *cfg = NULL;
	int r;

	if (agent_config_load(a->path, &cfg) < 0)
		return 1;
	log_set_level(cfg->log_level);
	r = fn(cfg, a->group, a->point, a->json, stdout);
	agent_config_free(cfg);
	return r == 0 ? 0 : 1;
}
