/* A bandwidth pacer on an agent connection's event loop: a token bucket
 * (common/throttle) and the timer that calls its owner back once the bytes
 * it asked to send may go. Used by the sender and by repair. */
#ifndef NESTOR_AGENT_PACE_H
#define NESTOR_AGENT_PACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pace;

/* rate bytes/s (> 0) on base (borrowed: it outlives the pacer); again(arg)
 * runs on the loop when a refused send may be tried again. NULL when out
 * of memory (logged). */
struct pace *pace_new(struct event_base *base, uint64_t rate, void (*again)(void *arg),
		      void *arg);
/* May cost bytes go now? true (counted), or false: again() runs when they
 * may. A NULL pacer allows everything. */
bool pace_allow(struct pace *p, size_t cost);
/* NULL ok. */
void pace_free(struct pace *p);

#endif
