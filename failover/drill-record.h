/* What a drill or failover run records (struct drill, failover/drill-run.h):
 * the report's identity, RPO/RTO and verdict, the saved report, and a
 * failover's marker. */
#ifndef NESTOR_FAILOVER_DRILL_RECORD_H
#define NESTOR_FAILOVER_DRILL_RECORD_H

#include <stdbool.h>
#include <stdint.h>

struct drill;

/* Zero d->r and fill its identity (id, start time) and the options it
 * reports; starts the clock RTO is measured on. */
void drill_record_begin(struct drill *d);
/* The point the run boots, with the RPO it has now and its consistency
 * (enum consistency). */
void drill_record_point(struct drill *d, uint64_t point, uint64_t point_time_ns,
			int consistency);
/* A failover's marker (the receiver refuses points from now on). 0 / -1
 * (logged). */
int drill_record_marker(struct drill *d);
/* The verdict (every VM passed, teardown_ok) and the duration, and save
 * the report in the group's directory. 0 pass / -1. */
int drill_record_finish(struct drill *d, bool teardown_ok);

#endif
