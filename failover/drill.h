/* DR drill: boot a recovery point's VMs on copy-on-write overlays in an
 * isolated network, verify them, report RPO/RTO, tear everything down. */
#ifndef NESTOR_FAILOVER_DRILL_H
#define NESTOR_FAILOVER_DRILL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/vmxml.h"
#include "failover/report.h"

struct receiver_network_cfg;
struct store;

/* AUTO: the host's remembered verdict, else a KVM probe (failover/accel.h);
 * PROBE: a fresh probe whatever is remembered. */
enum drill_accel { DRILL_ACCEL_AUTO = 0, DRILL_ACCEL_TCG, DRILL_ACCEL_KVM, DRILL_ACCEL_PROBE };
enum drill_mode { DRILL_MODE_DRILL = 0, DRILL_MODE_FAILOVER };

struct drill_opts {
	const char *group;
	uint64_t point;        /* 0 = newest committed */
	bool keep;             /* leave domains, network and overlays running */
	const char *uri;       /* libvirt URI, NULL = DRILL_DEFAULT_URI */
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
	bool force;               /* boot a point that failed its scrub (scrubcheck.h) */
	/* [receiver] drill_max_memory (bytes; 0 = half of this host's RAM),
	 * drill_max_vcpus (0 = the online CPUs), drill_max_devices: a drill
	 * refuses a VM over them, a failover reports it (domxml-size.h) */
	uint64_t max_memory;
	uint64_t max_vcpus;
	uint64_t max_devices;
	/* [network NAME]s of receiver.conf (issue 15, docs/network.md): a
	 * failover's NICs whose source is one of theirs join them; a drill's
	 * never do */
	const struct receiver_network_cfg *networks;
	size_t nnetworks;
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

/* Destination of source network src in map ("a=b,c=d"), or NULL; the
 * returned string is static storage valid until the next call. */
const char *drill_network_map_lookup(const char *map, const char *src);
/* Is map a well-formed "src=dst[,src=dst...]" of plain names? */
bool drill_network_map_valid(const char *map);

/* `nestor drill --cleanup GROUP`: remove what each drill of group that no
 * longer runs left behind, those run with --keep too (failover/drill-sweep.h;
 * a drill's start sweeps the others by itself). uri: libvirt, NULL =
 * DRILL_DEFAULT_URI. The number of drills swept, or -1 (logged). */
int drill_cleanup(struct store *st, const char *store_dir, const char *group, const char *uri);

/* Signal handler: ends the waits of a running drill_run (async-signal-safe). */
void drill_on_signal(int sig);

#endif
