/* Groups whose committed points the receiver itself is changing in the
 * background (retention after a commit, once COMMITTED is sent): a begin
 * of such a group waits for that work instead of failing on the group's
 * lock (issue 17: the agent's acknowledgement never waits for a merge,
 * and its next point does not fail because of one). Within this process
 * only; thread-safe. Internal to the store. */
#ifndef NESTOR_RECEIVER_STORE_BUSY_H
#define NESTOR_RECEIVER_STORE_BUSY_H

#include <stdint.h>

struct store_busy;

/* NULL when out of memory (logged). */
struct store_busy *store_busy_new(void);
/* NULL ok; no group may be busy any more. */
void store_busy_free(struct store_busy *b);
/* group's background work starts / ends (every enter is left). enter: 0 /
 * -1 (out of memory, logged: the work then runs unannounced). */
int store_busy_enter(struct store_busy *b, const char *group);
void store_busy_leave(struct store_busy *b, const char *group);
/* Wait until group has no background work, at most timeout_ns. 0 idle /
 * -1 still busy after the timeout (the caller goes on: the lock decides). */
int store_busy_wait(struct store_busy *b, const char *group, uint64_t timeout_ns);

#endif
