/* The console screenshot of a drilled or failed-over VM, taken after its
 * checks: evidence for the HTML report (failover/report-html.h). Never
 * fails the run: what went wrong is logged and said in the report. */
#ifndef NESTOR_FAILOVER_DRILL_SHOT_H
#define NESTOR_FAILOVER_DRILL_SHOT_H

#include <stddef.h>

struct drill;

/* Screenshot of screen 0 of VM i (running), as PNG into d->r->vms[i]
 * (shot, shot_png, shot_note); a guest without a video device is recorded
 * as headless. */
void drill_shot_take(struct drill *d, size_t i);

#endif
