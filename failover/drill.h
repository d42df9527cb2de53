/* DR drill: boot a recovery point's VMs on copy-on-write overlays in an
 * isolated network, verify them, report RPO/RTO, tear everything down. */
#ifndef NESTOR_FAILOVER_DRILL_H
#define NESTOR_FAILOVER_DRILL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/vmxml.h"
#include "failover/report.h"

struct store;

enum drill_accel { DRILL_ACCEL_AUTO = 0, DRILL_ACCEL_TCG, DRILL_ACCEL_KVM };
enum drill_mode { DRILL_MODE_DRILL = 0, DRILL_MODE_FAILOVER };

struct drill_opts {
	const char *group;
	uint64_t point;        /* 0 = newest committed */
	bool keep;             /* leave domains, network and overlays running */
	const char *uri;       /* libvirt URI, NULL = default (see drill_main) */
	const char *marker;    /* serial line proving the boot */
	unsigned timeout_s;    /* per VM: start -> marker; also per check */
	const char *check_cmd; /* optional command sent over the console */
	enum drill_accel accel;
	const char *cpu_baseline; /* KVM: model when host-model cannot start */
	const char *boot_order;   /* "vm1,vm2": these first; NULL = point order */
	unsigned boot_delay_s;    /* between one VM's verification and the next start */
	unsigned tcp_port;        /* 0 = none: guest must answer on this port */
	bool guest_agent;         /* qemu-guest-agent must answer */
	const char *script;       /* host script: SCRIPT VM ADDRESS, rc 0 = pass */
	/* failover: VMs stay up under their names, persistent domains, marker */
	enum drill_mode mode;
	const char *network_map;  /* "src=dst,...": source network -> this host's */
	bool planned;             /* refuse when an incomplete point is pending */
};

/* Run one drill (or failover, o->mode) of o->group from the store rooted at
 * store_dir. Fills r (report_clear frees it) and saves it as
 * <store>/<group>/drills/<id>.json (failover: failover/<id>.json).
 * Returns 0 when every VM passed and teardown succeeded, -1 otherwise
 * (logged). A drill tears down in every case unless o->keep; a failover
 * keeps its VMs up and marks the group failed over, unless no VM started. */
int drill_run(struct store *st, const char *store_dir, const struct drill_opts *o,
	      struct report *r);

#define DRILL_DEFAULT_URI VMXML_DEFAULT_URI
#define DRILL_DEFAULT_MARKER "NESTOR-BOOT-OK"
#define DRILL_DEFAULT_CPU_BASELINE "qemu64"
#define DRILL_DEFAULT_TIMEOUT_S 120

/* Options shared by `nestor drill` and `nestor failover` (getopt_long
 * table entries, their values and usage lines). */
enum drill_opt {
	DRILL_OPT_URI = 400, DRILL_OPT_MARKER, DRILL_OPT_TIMEOUT, DRILL_OPT_CHECK,
	DRILL_OPT_ACCEL, DRILL_OPT_CPU, DRILL_OPT_ORDER, DRILL_OPT_DELAY, DRILL_OPT_TCP,
	DRILL_OPT_AGENT, DRILL_OPT_SCRIPT,
};
#define DRILL_COMMON_OPTIONS                                                    \
	{ "uri", required_argument, NULL, DRILL_OPT_URI },                      \
	{ "marker", required_argument, NULL, DRILL_OPT_MARKER },                \
	{ "timeout", required_argument, NULL, DRILL_OPT_TIMEOUT },              \
	{ "check-cmd", required_argument, NULL, DRILL_OPT_CHECK },              \
	{ "accel", required_argument, NULL, DRILL_OPT_ACCEL },                  \
	{ "cpu-baseline", required_argument, NULL, DRILL_OPT_CPU },             \
	{ "boot-order", required_argument, NULL, DRILL_OPT_ORDER },             \
	{ "boot-delay", required_argument, NULL, DRILL_OPT_DELAY },             \
	{ "tcp-port", required_argument, NULL, DRILL_OPT_TCP },                 \
	{ "guest-agent", no_argument, NULL, DRILL_OPT_AGENT },                  \
	{ "script", required_argument, NULL, DRILL_OPT_SCRIPT }
#define DRILL_COMMON_USAGE                                                              \
	"      --uri URI       libvirt URI (default: $LIBVIRT_DEFAULT_URI, else "          \
	DRILL_DEFAULT_URI ")\n"                                                          \
	"      --marker TEXT   console line proving the boot (default "                   \
	DRILL_DEFAULT_MARKER ")\n"                                                       \
	"      --timeout S     seconds per VM for the marker and for each check (default "\
	"120)\n"                                                                         \
	"      --check-cmd CMD one-line command sent over each VM's serial console after\n"\
	"                      the marker; the guest answers 'NESTOR-DONE <rc>' (nestor\n" \
	"                      test-guest protocol); rc != 0 fails the VM\n"               \
	"      --accel MODE    auto (KVM when /dev/kvm boots the first VM within 20 s,\n"  \
	"                      else TCG; default), tcg, or kvm\n"                          \
	"      --cpu-baseline M  KVM: CPU model when host-model cannot start (default "   \
	DRILL_DEFAULT_CPU_BASELINE ")\n"                                                 \
	"      --boot-order L  comma-separated VM names booted first, in that order;\n"   \
	"                      the others follow in the point's order\n"                   \
	"      --boot-delay S  seconds between one VM's verification and the next start\n"\
	"      --tcp-port PORT each VM must accept TCP connections on PORT from this\n"   \
	"                      host (the isolated network then gets DHCP; address from\n"\
	"                      its leases)\n"                                              \
	"      --guest-agent   each VM's qemu-guest-agent must answer (a channel is "      \
	"added)\n"                                                                       \
	"      --script PATH   run PATH VM ADDRESS on this host per VM; exit 0 = pass\n"

/* Handle option c of DRILL_COMMON_OPTIONS: 0 done, -1 bad value (message
 * printed, exit 2), 1 not a common option. */
int drill_parse_common(int c, const char *arg, const char *cmd, struct drill_opts *o);

/* Destination of source network src in map ("a=b,c=d"), or NULL; the
 * returned string is static storage valid until the next call. */
const char *drill_network_map_lookup(const char *map, const char *src);
/* Is map a well-formed "src=dst[,src=dst...]" of plain names? */
bool drill_network_map_valid(const char *map);

/* Signal handler: ends the waits of a running drill_run (async-signal-safe). */
void drill_on_signal(int sig);

/* `nestor drill ...` (argv[0] = "drill"); exit code 0 / 1 / 2 (usage). */
int drill_main(int argc, char **argv);

#endif
