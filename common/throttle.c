/* Token bucket (common/throttle.h). Tokens are kept as a double: at the
 * rates we limit to, the fractions matter between two calls. */
#include "common/throttle.h"

#include <stdlib.h>

#include "common/log.h"

struct throttle {
	uint64_t rate;     /* bytes/s */
	double burst;      /* bucket size, bytes */
	double tokens;
	uint64_t last_ns;  /* 0 = never refilled */
};

struct throttle *
throttle_new(uint64_t rate, uint64_t min_burst)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (!t) {
		log_error("throttle: out of memory");
		return NULL;
	}
	t->rate = rate;
	t->burst = (double)rate / 10.0;
	if (t->burst < (double)min_burst)
		t->burst = (double)min_burst;
	return t;
}

void
throttle_free(struct throttle *t)
{
	free(t);
}

double
throttle_take(struct throttle *t, uint64_t cost, uint64_t now_ns)
{
	if (!t->last_ns)
		t->last_ns = now_ns;
	t->tokens += (double)(now_ns - t->last_ns) / 1e9 * (double)t->rate;
	if (t->tokens > t->burst)
		t->tokens = t->burst;
	t->last_ns = now_ns;
	if (t->tokens >= (double)cost) {
		t->tokens -= (double)cost;
		return 0;
	}
	return ((double)cost - t->tokens) / (double)t->rate;
}
