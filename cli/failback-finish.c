/* `nestor failback finish GROUP`, on the agent host: the cutover of a
 * failback in one command (failback/finish.h, docs/failback.md). */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/boot.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "common/log.h"
#include "common/parse.h"
#include "failback/finish.h"
#include "failover/drill.h"
#include "replicator/config.h"

static const char usage_finish[] =
	"usage: nestor failback finish [--config FILE] [--shutdown-timeout S] [--no-start]\n"
	"                              [--marker TEXT] [--guest-agent] [--tcp-port N]\n"
	"                              [--script PATH] [--timeout S] [--json] [-v] GROUP\n"
	"\n"
	"On the agent host, after nestor failback start brought GROUP's failed-over VMs\n"
	"back into its failback target: over the agent's own connection, the receiver\n"
	"shuts the cloud VMs down (ACPI or guest agent, then destroyed after the\n"
	"timeout), sends the final reverse point and makes their final disks its point\n"
	"F; then the target is committed into the on-prem disks, the group's libvirt\n"
	"domains start from their own definitions (paused while the change tracking\n"
	"restarts at F) and pass the drill's checks, and only then is the failover\n"
	"released on the DR side. Every step is recorded first: run it again after a\n"
	"crash, or after a failed check, to continue (the checks run again).\n"
	"\n"
	"  -c, --config FILE         agent configuration (default " CLI_AGENT_CONF ")\n"
	"      --shutdown-timeout S  how long the cloud VMs may take to shut down before\n"
	"                            they are destroyed (default: planned_shutdown_timeout)\n"
	"      --no-start            leave the on-prem domains shut off (no checks)\n"
	"      --marker TEXT         boot marker on the console a domain's definition\n"
	"                            logs (default " DRILL_DEFAULT_MARKER ")\n"
	"      --guest-agent         the guest agent must answer\n"
	"      --tcp-port N          the guest must answer on TCP port N\n"
	"      --script PATH         PATH VM ADDRESS must exit 0\n"
	"      --timeout S           per domain: start to marker, and per check\n"
	"                            (default 120s)\n"
	"      --json                print the result as JSON\n"
	"  -v, --verbose             debug logging\n";

static void
print_text(const json_t *rep)
{
	const char *g = json_string_value(json_object_get(rep, "group"));
	uint64_t f = (uint64_t)json_integer_value(json_object_get(rep, "point"));
	const json_t *vms = json_object_get(rep, "vms");

	printf("group %s: final reverse point %" PRIu64 " committed into the on-prem disks\n",
	       g, (uint64_t)json_integer_value(json_object_get(rep, "reverse_point")));
	printf("group %s: point %" PRIu64 " (base %" PRIu64 ") holds the cloud VMs' final disks, "
	       "%" PRIu64 " bytes of their own\n", g, f,
	       (uint64_t)json_integer_value(json_object_get(rep, "base")),
	       (uint64_t)json_integer_value(json_object_get(rep, "bytes")));
	printf("group %s: on-prem domains: %s\n", g,
	       json_string_value(json_object_get(rep, "domains")));
	for (size_t i = 0; i < json_array_size(vms); i++) {
		const json_t *v = json_array_get(vms, i);

		printf("group %s: domain %s: %s%s\n", g,
		       json_string_value(json_object_get(v, "name")),
		       json_is_true(json_object_get(v, "pass")) ? "running, checks passed"
								: "FAILED",
		       json_is_true(json_object_get(v, "marker_seen")) ? " (boot marker seen)" : "");
	}
	printf("group %s: failover released; forward replication continues from point %" PRIu64
	       "\n", g, f);
}

int
cli_failback_finish(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_CONFIG,
		{ "shutdown-timeout", required_argument, NULL, 't' },
		{ "no-start", no_argument, NULL, 'n' },
		{ "marker", required_argument, NULL, CLI_BOOT_OPT_MARKER },
		{ "guest-agent", no_argument, NULL, CLI_BOOT_OPT_AGENT },
		{ "tcp-port", required_argument, NULL, CLI_BOOT_OPT_TCP },
		{ "script", required_argument, NULL, CLI_BOOT_OPT_SCRIPT },
		{ "timeout", required_argument, NULL, CLI_BOOT_OPT_TIMEOUT },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		CLI_OPT_HELP_END,
	};
	struct failback_finish_opts o = { 0 };
	struct agent_config *cfg = NULL;
	/* the drill's verification options, parsed as the drill parses them */
	struct drill_opts chk = { 0 };
	const char *path = CLI_AGENT_CONF, *timeout = NULL;
	uint64_t secs = 0;
	bool json = false, verbose = false;
	json_t *rep = NULL;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': timeout = optarg; break;
		case 'n': o.on.no_start = true; break;
		case 'j': json = true; break;
		case 'v': verbose = true; break;
		case 'h': return cli_usage(usage_finish, true);
		case CLI_BOOT_OPT_MARKER: case CLI_BOOT_OPT_AGENT: case CLI_BOOT_OPT_TCP:
		case CLI_BOOT_OPT_SCRIPT: case CLI_BOOT_OPT_TIMEOUT:
			if (cli_boot_parse_check(c, optarg, "failback finish", &chk) < 0)
				return 2;
			break;
		default: return cli_usage(usage_finish, false);
		}
	}
	if (timeout && (parse_duration(timeout, &secs) < 0 || secs < 1 || secs > 86400)) {
		fprintf(stderr, "nestor failback finish: --shutdown-timeout %s: expected a duration "
			"from 1s to 1d\n", timeout);
		return 2;
	}
	o.on.marker = chk.marker;
	o.on.timeout_s = chk.timeout_s;
	o.on.guest_agent = chk.guest_agent;
	o.on.tcp_port = chk.tcp_port;
	o.on.script = chk.script;
	if (!(o.group = cli_group_operand("failback finish", argc, argv, usage_finish, true)))
		return 2;
	if (agent_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(verbose ? LOG_LVL_DEBUG : cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	o.shutdown_s = (uint32_t)(timeout ? secs : cfg->planned_shutdown_s);
	if (failback_finish(cfg, &o, &rep) < 0)
		goto out;
	if (json) {
		json_dumpf(rep, stdout, JSON_COMPACT);
		printf("\n");
	} else {
		print_text(rep);
	}
	ret = 0;
out:
	json_decref(rep);
	agent_config_free(cfg);
	return ret;
}
