/* One log line per interval per kind of event (common/ratelimit.h). */
#include "common/ratelimit.h"

bool
ratelimit_pass(struct ratelimit *rl, uint64_t now_ns, unsigned *held)
{
	if (rl->next_ns != 0 && now_ns < rl->next_ns) {
		if (rl->held < UINT32_MAX)
			rl->held++;
		return false;
	}
	*held = rl->held;
	rl->held = 0;
	rl->next_ns = now_ns + rl->interval_ns;
	if (rl->next_ns == 0)
		rl->next_ns = 1; /* 0 means "never logged" */
	return true;
}

unsigned
ratelimit_take_held(struct ratelimit *rl)
{
	unsigned held = rl->held;

	rl->held = 0;
	return held;
}
