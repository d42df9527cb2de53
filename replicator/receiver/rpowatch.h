/* Edge detection of what the webhook reports (issue 16): a group's RPO
 * passing its target and coming back within it, a new failed drill, a
 * group becoming failed over. Fed the receiver's status of every group
 * (status.h) at each check; state per group in memory only. Pure. */
#ifndef NESTOR_RECEIVER_RPOWATCH_H
#define NESTOR_RECEIVER_RPOWATCH_H

#include <stddef.h>
#include <stdint.h>

struct rpowatch;
struct status_rx_group;

enum rpowatch_kind { RPOWATCH_BREACH, RPOWATCH_RECOVERED, RPOWATCH_DRILL_FAILED,
		     RPOWATCH_FAILOVER };

/* One event, valid during the emit call only. */
struct rpowatch_event {
	enum rpowatch_kind kind;
	const char *group;
	double rpo_s;       /* age of the newest point now; < 0: no point */
	uint64_t target_s;
	const char *detail; /* one line for people */
};

typedef void (*rpowatch_emit_fn)(const struct rpowatch_event *ev, void *arg);

/* NULL on error (logged). */
struct rpowatch *rpowatch_new(void);
void rpowatch_free(struct rpowatch *w);

/* Compare the n groups g, sorted by name (target_s[i]: group i's RPO target) at now (ns,
 * wall clock) with what was seen before, and emit(ev, arg) once per
 * change. A group seen for the first time emits a breach if it is past
 * its target (after a restart nothing else tells), but no drill or
 * failover event: those it had are history. A failed-over group's RPO is
 * not watched (no point can come). Groups absent from g are forgotten. */
void rpowatch_observe(struct rpowatch *w, const struct status_rx_group *g,
		      const uint64_t *target_s, size_t n, uint64_t now,
		      rpowatch_emit_fn emit, void *arg);

/* "rpo_breach", "rpo_recovered", "drill_failed", "failover". */
const char *rpowatch_kind_name(enum rpowatch_kind k);

#endif
