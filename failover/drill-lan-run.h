/* A drill run's side of its DR network copies (failover/drill-lan.h): which
 * NICs join them, their DHCP reservations from the point's NICs, the run
 * record written before anything is made (failover/drill-sweep.h), and
 * their removal at teardown. Private to failover/drill*.c. */
#ifndef NESTOR_FAILOVER_DRILL_LAN_RUN_H
#define NESTOR_FAILOVER_DRILL_LAN_RUN_H

#include <stdbool.h>
#include <stddef.h>

struct checks_lan;
struct drill;
struct drill_lans;

/* The run's LANs, holding the lock of its work dir (its run is alive while
 * held). Caller frees (drill_lans_free); NULL on failure (logged). */
struct drill_lans *drill_lans_new(const char *workdir);
/* The isolated copy a drill NIC with on-prem source src joins: that of the
 * [network] listing src (added to d->lans on first use), else NULL; borrowed
 * from d->lans. */
const char *drill_lans_map(struct drill *d, const char *src);
/* The reservations, the run record (domains, overlays, networks), then
 * each LAN made. 0 / -1 (logged; what was made is removed by
 * drill_lans_down or a sweep). */
int drill_lans_up(struct drill *d);
/* Remove the LANs (the run record stays: drill_sweep_remove once the rest
 * of the run is gone too). 0 / -1. */
int drill_lans_down(struct drill *d);
/* Where the checks reach VM i (failover/checks.h): its first NIC on one of
 * the copies, into *out. false: none of its NICs is on a copy (the host
 * reaches it on the drill's checked network). */
bool drill_lans_where(const struct drill *d, size_t i, struct checks_lan *out);
/* Free, releasing the lock (NULL is fine). */
void drill_lans_free(struct drill_lans *l);

#endif
