/* A group's history rules: BEGIN admission by point id and snapshot time,
 * the immutability window, and the configuration behind them. */
#include "replicator/receiver/history.h"

#include "replicator/config.h"
#include "replicator/receiver/store.h"

#define NS_PER_S 1000000000ull

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

int
history_check_begin(const struct history_group *h, uint64_t id, uint64_t time_ns,
		    uint64_t now_ns, uint64_t max_skew_ns)
{
	uint64_t top = h->pending_id > h->last_id ? h->pending_id : h->last_id;
	uint64_t floor_ns;

	/* Ids move by one per BEGIN at most: no jump can reach the integer
	 * limit and leave the group without a next id. */
	if (id <= h->last_id || id > top + 1)
		return STORE_ERR_SEQUENCE;
	if (time_ns > add_sat(now_ns, max_skew_ns))
		return STORE_ERR_FUTURE;
	floor_ns = h->last_time_ns;
	if (h->last_id && floor_ns > add_sat(h->last_received_ns, max_skew_ns))
		floor_ns = add_sat(h->last_received_ns, max_skew_ns);
	if (h->last_id && time_ns <= floor_ns)
		return STORE_ERR_PAST;
	return STORE_OK;
}

bool
history_immutable(uint64_t received_ns, uint64_t now_ns, uint64_t window_ns)
{
	if (window_ns == 0)
		return false;
	return received_ns >= now_ns || now_ns - received_ns < window_ns;
}

static void
rules_of(const void *arg, const char *group, struct store_rules *out)
{
	struct receiver_history_cfg h;

	receiver_config_history(arg, group, &h);
	out->max_skew_ns = h.max_clock_skew_s * NS_PER_S;
	out->immutable_ns = h.immutable_s * NS_PER_S;
}

void
history_attach(struct store *st, const struct receiver_config *cfg)
{
	store_set_rules(st, rules_of, cfg);
}
