/* A reorder ring: items numbered in arrival order finish in any order (on
 * worker threads) and are handed back in arrival order, so a session
 * applies its extents to the store exactly as they came. Plain data with
 * no locking: every call from the one thread that owns the ring. */
#ifndef NESTOR_RECEIVER_REORDER_H
#define NESTOR_RECEIVER_REORDER_H

#include <stdbool.h>
#include <stdint.h>

#define REORDER_MAX 64u

struct reorder {
	void *item[REORDER_MAX]; /* borrowed: the ring never frees an item */
	bool done[REORDER_MAX];
	uint64_t head;           /* number of the oldest item not applied */
	uint64_t tail;           /* number the next item gets */
	unsigned cap;            /* 1..REORDER_MAX items at once */
};

/* An empty ring holding at most cap items (clamped to 1..REORDER_MAX). */
void reorder_init(struct reorder *r, unsigned cap);
/* Items in the ring (pushed, not yet applied or cleared). */
unsigned reorder_count(const struct reorder *r);
bool reorder_full(const struct reorder *r);
/* Append item (the ring must not be full); returns its number. */
uint64_t reorder_push(struct reorder *r, void *item);
/* Item number seq finished. false when seq is not in the ring. */
bool reorder_finish(struct reorder *r, uint64_t seq);
/* apply(arg, item) for each finished item at the head, oldest first,
 * removing it; stops at the first not finished. When apply returns < 0
 * the item is still removed (apply owns it from the call on) and -1 is
 * returned at once: the later items stay for reorder_clear. Else the
 * number applied. */
int reorder_apply(struct reorder *r, int (*apply)(void *arg, void *item), void *arg);
/* Remove every item, oldest first: drop(arg, item, finished). */
void reorder_clear(struct reorder *r, void (*drop)(void *arg, void *item, bool finished),
		   void *arg);

#endif
