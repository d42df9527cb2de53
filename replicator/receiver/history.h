/* The rules that keep a group's history out of its agent's hands (issue 12,
 * section 1; docs/retention.md): which POINT_BEGIN the store accepts (point
 * id, snapshot time against the receiver's own clock) and which committed
 * point is inside the immutability window. The checks are pure; history_attach
 * hands a receiver configuration's per-group values to a store. */
#ifndef NESTOR_RECEIVER_HISTORY_H
#define NESTOR_RECEIVER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct receiver_config;

/* What a BEGIN is checked against. */
struct history_group {
	uint64_t last_id;          /* newest committed point, 0 = none */
	uint64_t last_time_ns;     /* its snapshot time (agent clock) */
	uint64_t last_received_ns; /* its receiver time */
	uint64_t pending_id;       /* the pending point if above last_id, else 0 */
};

/* May a BEGIN of point id with snapshot time time_ns follow h, the
 * receiver's clock reading now_ns? The id must be above the newest and at
 * most one above max(newest, pending) (what the agent's protocol asks: the
 * next point, the pending one resumed, or the one after a discarded pending
 * point); the time at most max_skew_ns ahead of now_ns and after the newest
 * point's (that one capped at its receiver time + max_skew_ns, so a point
 * stored before the rule existed cannot lock the group out). STORE_OK or
 * STORE_ERR_SEQUENCE / _FUTURE / _PAST (store_strerror says why). Pure. */
int history_check_begin(const struct history_group *h, uint64_t id, uint64_t time_ns,
			uint64_t now_ns, uint64_t max_skew_ns);

/* Is a point received at received_ns inside a window of window_ns at now_ns
 * (0 = no window)? A receiver time ahead of now_ns (the clock stepped back)
 * counts as inside. Pure. */
bool history_immutable(uint64_t received_ns, uint64_t now_ns, uint64_t window_ns);

/* Make st enforce cfg's per-group max_clock_skew and immutable (cfg must
 * outlive st). */
void history_attach(struct store *st, const struct receiver_config *cfg);

#endif
