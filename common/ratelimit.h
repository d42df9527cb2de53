/* A log rate limit: at most one line per interval for one kind of event,
 * the next line saying how many were held back. Plain data, no clock of its
 * own (the caller passes the time), so it is testable without sleeping. */
#ifndef NESTOR_COMMON_RATELIMIT_H
#define NESTOR_COMMON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t interval_ns; /* set by the owner; 0 = every event passes */
	uint64_t next_ns;     /* first time the next line may be logged */
	unsigned held;        /* events held back since the last line */
};

/* May the event at now_ns (monotonic) be logged? If so, *held gets how many
 * were held back before it (and the count restarts); if not, it is counted. */
bool ratelimit_pass(struct ratelimit *rl, uint64_t now_ns, unsigned *held);
/* The events held back so far (the count restarts): for a summary line
 * when no new event comes to carry it. */
unsigned ratelimit_take_held(struct ratelimit *rl);

#endif
