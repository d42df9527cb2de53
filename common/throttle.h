/* A token bucket for bandwidth limits: callers ask whether `cost` bytes may
 * go now and, if not, how long to wait. Pure arithmetic on the caller's
 * clock, no timers: usable from any event loop (agent or receiver). */
#ifndef NESTOR_COMMON_THROTTLE_H
#define NESTOR_COMMON_THROTTLE_H

#include <stdint.h>

struct throttle;

/* A bucket refilled at rate bytes/s. It holds at most 100 ms of traffic,
 * but never less than min_burst bytes (so the largest single send fits and
 * the rate holds over any second). It starts empty. rate must be > 0.
 * Returns NULL when out of memory (logged); throttle_free(NULL) is a no-op. */
struct throttle *throttle_new(uint64_t rate, uint64_t min_burst);
void throttle_free(struct throttle *t);

/* May `cost` bytes go at now_ns (any monotonic-enough ns clock)? 0 when
 * they may (the tokens are taken); otherwise the seconds to wait (> 0)
 * until they may, nothing taken. */
double throttle_take(struct throttle *t, uint64_t cost, uint64_t now_ns);

#endif
