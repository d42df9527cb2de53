/* What `nestor drill` and `nestor failover` share: both boot a recovery
 * point's VMs through drill_run, with the same verification options. */
#ifndef NESTOR_CLI_BOOT_H
#define NESTOR_CLI_BOOT_H

#include <stdbool.h>

#include "cli/common.h"
#include "failover/drill.h"

/* Options shared by `nestor drill` and `nestor failover`: getopt_long
 * table entries (CLI_BOOT_HEAD_OPTIONS first in the table, the command's own
 * next, CLI_BOOT_OPTIONS last: the order getopt lists ambiguous
 * abbreviations in), their values and usage lines. Short options "c:p:vh". */
enum cli_boot_opt {
	CLI_BOOT_OPT_JSON = 390,
	CLI_BOOT_OPT_URI = 400, CLI_BOOT_OPT_MARKER, CLI_BOOT_OPT_TIMEOUT, CLI_BOOT_OPT_CHECK,
	CLI_BOOT_OPT_ACCEL, CLI_BOOT_OPT_CPU, CLI_BOOT_OPT_ORDER, CLI_BOOT_OPT_DELAY,
	CLI_BOOT_OPT_TCP, CLI_BOOT_OPT_AGENT, CLI_BOOT_OPT_SCRIPT, CLI_BOOT_OPT_FORCE,
};
#define CLI_BOOT_HEAD_OPTIONS                                                          \
	CLI_OPT_CONFIG,                                                                \
	{ "point", required_argument, NULL, 'p' },                                     \
	{ "json", no_argument, NULL, CLI_BOOT_OPT_JSON },                              \
	{ "verbose", no_argument, NULL, 'v' }
#define CLI_BOOT_OPTIONS                                                               \
	{ "uri", required_argument, NULL, CLI_BOOT_OPT_URI },                          \
	{ "marker", required_argument, NULL, CLI_BOOT_OPT_MARKER },                    \
	{ "timeout", required_argument, NULL, CLI_BOOT_OPT_TIMEOUT },                  \
	{ "check-cmd", required_argument, NULL, CLI_BOOT_OPT_CHECK },                  \
	{ "accel", required_argument, NULL, CLI_BOOT_OPT_ACCEL },                      \
	{ "cpu-baseline", required_argument, NULL, CLI_BOOT_OPT_CPU },                 \
	{ "boot-order", required_argument, NULL, CLI_BOOT_OPT_ORDER },                 \
	{ "boot-delay", required_argument, NULL, CLI_BOOT_OPT_DELAY },                 \
	{ "tcp-port", required_argument, NULL, CLI_BOOT_OPT_TCP },                     \
	{ "guest-agent", no_argument, NULL, CLI_BOOT_OPT_AGENT },                      \
	{ "script", required_argument, NULL, CLI_BOOT_OPT_SCRIPT },                    \
	{ "force", no_argument, NULL, CLI_BOOT_OPT_FORCE }
#define CLI_BOOT_USAGE                                                                 \
	"      --uri URI       libvirt URI (default: $LIBVIRT_DEFAULT_URI, else "      \
	DRILL_DEFAULT_URI ")\n"                                                        \
	"      --marker TEXT   console line proving the boot (default "                \
	DRILL_DEFAULT_MARKER ")\n"                                                     \
	"      --timeout S     seconds per VM for the marker and for each check (default " \
	"120)\n"                                                                       \
	"      --check-cmd CMD one-line command sent over each VM's serial console after\n" \
	"                      the marker; the guest answers 'NESTOR-DONE <rc>' (nestor\n" \
	"                      test-guest protocol); rc != 0 fails the VM\n"           \
	"      --accel MODE    auto (default: this host's remembered verdict, else KVM\n" \
	"                      when /dev/kvm boots the first VM within 20 s, else TCG;\n" \
	"                      the outcome is remembered), probe (auto, ignoring the\n" \
	"                      remembered verdict), tcg, or kvm\n"                    \
	"      --cpu-baseline M  KVM: CPU model when host-model cannot start (default " \
	DRILL_DEFAULT_CPU_BASELINE ")\n"                                               \
	"      --boot-order L  comma-separated VM names booted first, in that order;\n" \
	"                      the others follow in the point's order\n"               \
	"      --boot-delay S  seconds between one VM's verification and the next start\n" \
	"      --tcp-port PORT each VM must accept TCP connections on PORT from this\n" \
	"                      host (the isolated network then gets DHCP; address from\n" \
	"                      its leases)\n"                                          \
	"      --guest-agent   each VM's qemu-guest-agent must answer (a channel is "  \
	"added)\n"                                                                     \
	"      --script PATH   run PATH VM ADDRESS on this host per VM; exit 0 = pass\n" \
	"      --force         boot a point that failed its scrub (or whose base chain\n" \
	"                      did); the report records scrub_forced and the warning\n"

/* The command line of drill and failover, parsed. */
struct cli_boot_args {
	struct drill_opts o;
	const char *path; /* receiver configuration */
	bool json, verbose;
};

/* Handle option c of CLI_BOOT_HEAD_OPTIONS or CLI_BOOT_OPTIONS for command
 * cmd: 0 done, -1 bad value (message printed, exit 2), 1 not one of them. */
int cli_boot_parse(int c, const char *arg, const char *cmd, struct cli_boot_args *a);

/* Handle verification option c of CLI_BOOT_OPTIONS (all but --uri and
 * --force; --timeout takes a duration: 90, 90s, 2m) into o for command
 * cmd, as cli_boot_parse does: `nestor failback finish` checks the on-prem
 * domains with the same options. 0 / -1 (message printed) / 1 not one. */
int cli_boot_parse_check(int c, const char *arg, const char *cmd, struct drill_opts *o);

/* struct cli_boot_args with the defaults, for mode m (enum drill_mode). */
#define CLI_BOOT_ARGS_INIT(m)                                                          \
	{ .o = { .marker = DRILL_DEFAULT_MARKER, .timeout_s = DRILL_DEFAULT_TIMEOUT_S, \
		 .cpu_baseline = DRILL_DEFAULT_CPU_BASELINE, .mode = (m) },            \
	  .path = CLI_RECEIVER_CONF }

/* Open rx's store (SIGINT, SIGTERM and SIGHUP trapped: the run ends its
 * waits and still tears down or records the failover), drill_run a->o and
 * print the report on stdout, as JSON with a->json. The exit code. */
int cli_boot_run(struct cli_rx *rx, const struct cli_boot_args *a);

/* --list: the saved reports of group's drills (or failovers) and where
 * their JSON and HTML are, as a table or JSON on stdout. The exit code. */
int cli_boot_list(const struct cli_rx *rx, const char *group, bool failover, bool json);

#endif
