/* The webhook's queue (issue 16): a bounded FIFO of event bodies that
 * drops its oldest when full and counts what it dropped. Pure, no lock:
 * notify.c holds one around it. */
#ifndef NESTOR_RECEIVER_NOTIFYQ_H
#define NESTOR_RECEIVER_NOTIFYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct notifyq;

/* A queue of at most cap (>= 1) events. NULL on error (logged). */
struct notifyq *notifyq_new(size_t cap);
/* Frees the queue and every body in it. NULL ok. */
void notifyq_free(struct notifyq *q);

/* Append body, which the queue owns from now on (freed when popped,
 * dropped or with the queue). A full queue drops its oldest first:
 * returns true then. Each event gets the next sequence number. */
bool notifyq_push(struct notifyq *q, char *body);
/* The oldest event's body (borrowed: valid until the next push or pop)
 * and its sequence number; NULL when empty. */
const char *notifyq_head(const struct notifyq *q, uint64_t *seq);
/* Remove the oldest event if it is still seq (a push may have dropped it
 * while it was being sent). True if it was removed. */
bool notifyq_pop(struct notifyq *q, uint64_t seq);

size_t notifyq_len(const struct notifyq *q);
/* Events dropped because the queue was full, since it was made. */
uint64_t notifyq_dropped(const struct notifyq *q);

#endif
