/* The on-prem steps of `failback finish` after the final reverse point
 * (docs/failback-design.md, "Cutover"), run from wherever cutover.json
 * says the group stands, and the abort of a failback before them. */
#ifndef NESTOR_FAILBACK_CUTOVER_RUN_H
#define NESTOR_FAILBACK_CUTOVER_RUN_H

#include <stdint.h>

struct agent_config;
struct ondomains_opts;

/* From the state recorded in <state_dir>/failback/<group>/cutover.json to
 * released: synced (the target's newest point), committing and committed
 * (cutover-commit.h; refused while a domain of the group runs on-prem),
 * started (the sources committed at f, the receiver's point that holds
 * the failed-over VMs' final disks: reprotect.h; the group's domains
 * started paused before and resumed after, unless o->no_start: o NULL is
 * --no-start), verified (the drill's checks of the started domains:
 * ondomains.h; a failure stops at started, a re-run checks again),
 * released. Each step is recorded before the next; a re-run after a crash
 * takes up where it stopped; released on f already is a no-op, on another
 * point an error. 0 / -1 (logged). */
int failback_cutover_run(const struct agent_config *cfg, const char *group, uint64_t f,
			 const struct ondomains_opts *o);

/* Abandon group's failback before committing (cutover-commit.h,
 * cutover_abort). 0 / -1 (logged). */
int failback_abort(const struct agent_config *cfg, const char *group);

#endif
