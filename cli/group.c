/* `nestor group handover|show`: which agent a group belongs to on the
 * receiver (replicator/receiver/owner.h), and the explicit hand-over. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/config.h"
#include "replicator/receiver/owner.h"

static const char usage_group[] =
	"usage: nestor group [--config FILE] handover GROUP CN\n"
	"       nestor group [--config FILE] show GROUP\n"
	"\n"
	"A group belongs to one agent at a time: the receiver records the certificate\n"
	"CN of the agent whose point created it, and refuses points from any other\n"
	"agent (progress and hash queries of authorised agents stay allowed).\n"
	"  handover GROUP CN   make CN the owner of GROUP; the previous owner's points\n"
	"                      are refused from then on (CN must be authorised for\n"
	"                      GROUP by a [client CN] section)\n"
	"  show GROUP          print GROUP's owner\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " CLI_RECEIVER_CONF ")\n"
	"Exit: 0 done, 1 failure, 2 usage error.\n";

/* The group must exist: a hand-over never creates one. */
static int
group_exists(const char *store_dir, const char *group)
{
	char *dir = strfmt("%s/%s", store_dir, group);
	struct stat sb;
	int ret = -1;

	if (!dir)
		return -1;
	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		ret = 0;
	else
		log_error("group %s: no such group in the store %s", group, store_dir);
	free(dir);
	return ret;
}

static int
group_handover(const struct receiver_config *cfg, const char *group, const char *cn)
{
	char old[OWNER_CN_MAX + 1];
	int r;

	if (!receiver_config_allows(cfg, cn, group)) {
		log_error("group %s: agent \"%s\" is not authorised for it (add it to a "
			  "[client %s] section first)", group, cn, cn);
		return 2;
	}
	if (group_exists(cfg->store_dir, group) < 0)
		return 1;
	/* A malformed record is replaced here on purpose: this is the
	 * explicit decision the receiver asked for in its log. */
	r = owner_load(cfg->store_dir, group, old);
	if (owner_save(cfg->store_dir, group, cn) < 0)
		return 1;
	log_info("group %s: handed over from %s to agent \"%s\"", group,
		 r == 0 ? old : "(no recorded owner)", cn);
	printf("group %s: owner %s (was %s)\n", group, cn, r == 0 ? old : "none");
	return 0;
}

static int
group_show(const struct receiver_config *cfg, const char *group)
{
	char cn[OWNER_CN_MAX + 1];
	int r;

	if (group_exists(cfg->store_dir, group) < 0)
		return 1;
	r = owner_load(cfg->store_dir, group, cn);
	if (r < 0)
		return 1;
	printf("group %s: owner %s\n", group, r == 0 ? cn : "none (the next agent to send a "
	       "point becomes the owner)");
	return 0;
}

int
cli_group(int argc, char **argv)
{
	struct cli_args a = { .path = CLI_RECEIVER_CONF };
	struct cli_rx rx = { 0 };
	const char *verb, *cn = NULL;
	int n, ret;

	ret = cli_parse("group", usage_group, CLI_O_CONFIG, CLI_OPERAND_UNCHECKED, argc, argv,
			&a);
	if (ret >= 0)
		return ret;
	n = argc - optind;
	verb = n > 0 ? argv[optind] : "";
	if (!((!strcmp(verb, "handover") && n == 3) || (!strcmp(verb, "show") && n == 2))) {
		fprintf(stderr, "nestor group: expected handover GROUP CN or show GROUP\n%s",
			usage_group);
		return 2;
	}
	a.group = argv[optind + 1];
	if (n == 3)
		cn = argv[optind + 2];
	log_set_prefix("group");
	if (!cli_group_ok(a.group))
		return 2;
	if (cli_rx_load(&rx, a.path, CLI_RX_LOG_KEEP) < 0)
		return 1;
	ret = cn ? group_handover(rx.cfg, a.group, cn) : group_show(rx.cfg, a.group);
	cli_rx_close(&rx);
	return ret;
}
