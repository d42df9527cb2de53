/* DR drill: boot a recovery point's VMs on copy-on-write overlays in an
 * isolated network, verify them, report RPO/RTO, tear everything down. */
#ifndef NESTOR_FAILOVER_DRILL_H
#define NESTOR_FAILOVER_DRILL_H

#include <stdbool.h>
#include <stdint.h>

#include "failover/report.h"

struct store;

enum drill_accel { DRILL_ACCEL_AUTO = 0, DRILL_ACCEL_TCG, DRILL_ACCEL_KVM };

struct drill_opts {
	const char *group;
	uint64_t point;        /* 0 = newest committed */
	bool keep;             /* leave domains, network and overlays running */
	const char *uri;       /* libvirt URI, NULL = default (see drill_main) */
	const char *marker;    /* serial line proving the boot */
	unsigned timeout_s;    /* per VM: start -> marker; also per check command */
	const char *check_cmd; /* optional command sent over the console */
	enum drill_accel accel;
};

/* Run one drill of o->group from the store rooted at store_dir. Fills r
 * (report_clear frees it) and saves it as <store>/<group>/drills/<id>.json.
 * Returns 0 when every VM passed and teardown succeeded, -1 otherwise
 * (logged). Teardown happens in every case unless o->keep. */
int drill_run(struct store *st, const char *store_dir, const struct drill_opts *o,
	      struct report *r);

/* `nestor drill ...` (argv[0] = "drill"); exit code 0 / 1 / 2 (usage). */
int drill_main(int argc, char **argv);

#endif
