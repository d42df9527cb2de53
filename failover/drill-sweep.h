/* The run record of a drill (<group>/drills/<id>/run.json: its domains,
 * overlays, networks and DR network copies, written before they are made)
 * and its lock (run.lock, held while the drill runs); the sweep that removes
 * what dead drills left. */
#ifndef NESTOR_FAILOVER_DRILL_SWEEP_H
#define NESTOR_FAILOVER_DRILL_SWEEP_H

#include <stdbool.h>

#include <jansson.h>

#include "common/virt-dl.h"

struct store;

/* Take the lock of the run whose work dir is workdir. The fd (close it to
 * release), or -1 (logged). */
int drill_sweep_lock(const char *workdir);
/* Save rec as workdir's run record, durably. 0 / -1 (logged). */
int drill_sweep_save(const char *workdir, const json_t *rec);
/* Remove workdir's run record (absent is fine). 0 / -1 (logged). */
int drill_sweep_remove(const char *workdir);

/* Remove what every drill of group that no longer runs left behind: its
 * DR network copies, domains, isolated network, overlays (with st; NULL:
 * left) and pin, then its record. A drill run with --keep is left alone
 * unless kept_too. The number of drills swept, or -1 when one could not
 * be (logged; its record stays for the next sweep). */
int drill_sweep(virConnectPtr conn, struct store *st, const char *root, const char *group,
		bool kept_too);

#endif
