/* The reorder ring (reorder.h): numbers modulo the capacity index the
 * slots, so pushing, finishing and applying are O(1). */
#include "replicator/receiver/reorder.h"

#include <string.h>

void
reorder_init(struct reorder *r, unsigned cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap < 1 ? 1 : cap > REORDER_MAX ? REORDER_MAX : cap;
}

unsigned
reorder_count(const struct reorder *r)
{
	return (unsigned)(r->tail - r->head);
}

bool
reorder_full(const struct reorder *r)
{
	return reorder_count(r) >= r->cap;
}

uint64_t
reorder_push(struct reorder *r, void *item)
{
	uint64_t seq = r->tail++;

	r->item[seq % REORDER_MAX] = item;
	r->done[seq % REORDER_MAX] = false;
	return seq;
}

bool
reorder_finish(struct reorder *r, uint64_t seq)
{
	if (seq < r->head || seq >= r->tail)
		return false;
	r->done[seq % REORDER_MAX] = true;
	return true;
}

static void *
reorder_pop(struct reorder *r)
{
	unsigned i = (unsigned)(r->head++ % REORDER_MAX);
	void *item = r->item[i];

	r->item[i] = NULL;
	r->done[i] = false;
	return item;
}

int
reorder_apply(struct reorder *r, int (*apply)(void *arg, void *item), void *arg)
{
	int n = 0;

	while (r->head < r->tail && r->done[r->head % REORDER_MAX]) {
		if (apply(arg, reorder_pop(r)) < 0)
			return -1;
		n++;
	}
	return n;
}

void
reorder_clear(struct reorder *r, void (*drop)(void *arg, void *item, bool finished), void *arg)
{
	while (r->head < r->tail) {
		bool finished = r->done[r->head % REORDER_MAX];

		drop(arg, reorder_pop(r), finished);
	}
}
