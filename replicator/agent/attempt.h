/* Which pending point an agent may resume: the one its last attempt asked
 * the receiver for, on the same base, while the sources vouch that the
 * image did not change since that attempt began (snapshot_resumable). A
 * pending point left by an older attempt may hold an older state of the
 * source: resuming it would skip its stale durable ranges. The record is
 * <state_dir>/<group>/.attempt-point (no disk's state file starts so). */
#ifndef NESTOR_REPLICATOR_AGENT_ATTEMPT_H
#define NESTOR_REPLICATOR_AGENT_ATTEMPT_H

#include <stdbool.h>
#include <stdint.h>

struct attempt_point {
	bool known;    /* false: no record (none, or unreadable) */
	uint64_t point, base;
};

/* The record of the last attempt (known false if none), then the record
 * removed durably, before the sources record the new attempt: an attempt
 * killed in between must not vouch for an older point. 0 / -1 (logged). */
int attempt_take(const char *gdir, struct attempt_point *last);
/* Record that this attempt asks for point on base (durable) before its
 * POINT_BEGIN is sent. 0 / -1 (logged). */
int attempt_record(const char *gdir, uint64_t point, uint64_t base);

/* The point id to ask for: the pending point itself when it may be resumed
 * (*resume true), else the next after the newest point and after any
 * pending one (the receiver then discards that). Pure. */
uint64_t attempt_point_id(uint64_t last_point, uint64_t pending_point, uint64_t pending_base,
			  uint64_t base, bool resumable, const struct attempt_point *last,
			  bool *resume);

#endif
