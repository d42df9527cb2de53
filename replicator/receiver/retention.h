/* Retention of recovery points on the receiver: a pure policy (which points
 * to keep, given tiers, point times and a reference time) and its
 * application to a group of the replica store. See docs/retention.md. */
#ifndef NESTOR_RECEIVER_RETENTION_H
#define NESTOR_RECEIVER_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replicator/retention-policy.h"

struct store;
struct receiver_config;

/* The tier of p a point of age age_ns falls into (the first whose age is
 * above it), -1 past the last. Pure. */
int retention_tier_of(const struct retention_policy *p, uint64_t age_ns);

/* The policy for points with receiver times times[0..n) (catalog order,
 * oldest first) at reference time now_ns: keep[i] true = keep. A point
 * whose age is below a tier's age falls into the first such tier; with an
 * interval it is kept if the point before it in the list lies in another
 * interval-sized bucket (floor(time / interval)), i.e. the oldest of each
 * bucket is kept. Older than the last tier: removed. The newest min_points
 * points, and the newest point always, are kept. Pure. */
void retention_decide(const struct retention_policy *p, const uint64_t *times, size_t n,
		      uint64_t now_ns, size_t min_points, bool *keep);

/* Outcome of retention_apply: malloc'd id lists (caller frees both). */
struct retention_result {
	uint64_t now_ns;     /* reference time: min(receiver clock, newest receiver time) */
	uint64_t in_use;     /* highest point in use by a drill or failover, 0 = none */
	uint64_t *kept, *removed;
	uint64_t *immutable; /* kept (also listed in kept) only for the immutability window */
	size_t nkept, nremoved, nimmutable;
};

/* Apply p to group on the receiver's clock (the points' received_ns, never
 * the agent's snapshot times): ages are measured up to the receiver's
 * clock or the newest point's receiver time, whichever is earlier (so
 * nothing ages out while replication is stopped); the newest min_points
 * points, points in use by a drill (<store>/<group>/drills/<id>/point) or a
 * failover (<store>/<group>/failover.json) and every older point, and points
 * inside the group's immutability window (store_rules) are kept; the rest
 * that p does not keep is removed with store_point_remove, oldest first.
 * dry_run: decide only. 0 / -1 (logged; points removed before an error stay
 * removed and are reported). */
int retention_apply(struct store *st, const char *store_dir, const char *group,
		    const struct retention_policy *p, size_t min_points, bool dry_run,
		    struct retention_result *res);
/* Frees the lists; NULL lists fine. */
void retention_result_clear(struct retention_result *res);

/* The receiver's hook after each committed point (off the commit path):
 * applies the group's configured policy, if any, then refreshes the
 * group's listing index (store_index_refresh); failures are logged and
 * otherwise ignored. */
void retention_after_commit(const struct receiver_config *cfg, struct store *st,
			    const char *group);

#endif
