/* The agent's side of a failback's reverse replication
 * (docs/failback-design.md): `nestor failback start` connects out to the
 * receiver as the agent does, asks for the failed-over VMs of a group
 * (REVERSE_BEGIN), sends X (what the on-prem disks changed since the
 * failover's point), then runs the receiver's session over the target
 * store (failback/target.h) on its side of the connection: reverse points
 * land in overlays over the on-prem disks, with the forward direction's
 * durable progress and resume. `failback status` lists them. */
#ifndef NESTOR_FAILBACK_START_H
#define NESTOR_FAILBACK_START_H

#include <stdbool.h>
#include <stdio.h>

#include "replicator/config.h"

/* REVERSE_DONE's answer to a finish (failback/finish.h). */
struct failback_done {
	uint64_t point, base, bytes; /* F as the receiver holds it */
	bool released;               /* the failover is released */
	uint64_t reverse_point;      /* the final reverse point this round committed, 0 none */
};

struct failback_opts {
	const char *group;
	bool once;             /* one reverse point, then return */
	FILE *json;            /* NULL, or one JSON object per point here */
	const volatile int *stop; /* set non-zero: stop (within a second) */
	/* NULL, or start: the failback goes to new disks, "NAME=PATH[:FORMAT],..."
	 * (failback/newdisks.h), recorded before the first point */
	const char *new_disks;
	/* failback finish (failback_finish_round): REVERSE_FINISH instead of
	 * REVERSE_BEGIN, then at most one (final) reverse point, then the
	 * receiver's REVERSE_DONE into *done. */
	bool finish;
	uint32_t shutdown_s;   /* the DR side's wait for its VMs to shut down */
	uint64_t release;      /* non-zero: ask the release of this point F */
	bool no_point;         /* refuse a reverse point: only F may come back */
	struct failback_done *done;
};

/* Reverse points of o->group until *o->stop (or one with o->once), the
 * next one the group's min_interval (at least 10 s) after the last began.
 * 0 when every point was committed (or a stop came between points), -1
 * (logged) at the first that failed (a supervisor sees it; the next run
 * resumes from the target's durable progress). */
int failback_start(const struct agent_config *cfg, const struct failback_opts *o);

/* One finish round over one connection (o->finish set): REVERSE_FINISH,
 * the final reverse point when the receiver sends one, REVERSE_DONE. 0
 * with *o->done / -1 (logged). */
int failback_finish_round(const struct agent_config *cfg, const struct failback_opts *o);

/* The reverse points the target store of group holds, oldest first, and
 * their bytes: text or one JSON object on out. 0 / -1 (logged). */
int failback_status(const struct agent_config *cfg, const char *group, bool json, FILE *out);

#endif
