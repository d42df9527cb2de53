/* The accelerator of a drill or failover run (struct drill,
 * failover/drill-run.h): --accel, else this host's remembered verdict
 * (failover/accel.h), else KVM proved by the first VM, whose outcome is then
 * remembered. */
#ifndef NESTOR_FAILOVER_DRILL_ACCEL_H
#define NESTOR_FAILOVER_DRILL_ACCEL_H

#include <stddef.h>

struct drill;

/* Set d->kvm and d->probing (the first VM proves KVM) and the report's
 * accel source; logs the choice and where it came from. Needs d->conn. */
void drill_accel_choose(struct drill *d);
/* After the first VM (index first) booted: keep what its probe proved
 * (KVM: the marker under KVM; TCG: the marker only after the fallback).
 * An inconclusive probe (no marker at all, interrupted) keeps nothing. */
void drill_accel_learn(struct drill *d, size_t first);

#endif
