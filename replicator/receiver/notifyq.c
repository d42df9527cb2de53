/* The webhook's bounded queue (replicator/receiver/notifyq.h): a ring of
 * owned strings, the oldest dropped for the newest when full: an operator
 * who missed the start of an outage learns more from its latest events. */
#include "replicator/receiver/notifyq.h"

#include <stdlib.h>

#include "common/log.h"

struct notifyq_item {
	char *body;
	uint64_t seq;
};

struct notifyq {
	struct notifyq_item *ring;
	size_t cap, head, len;
	uint64_t next_seq, dropped;
};

struct notifyq *
notifyq_new(size_t cap)
{
	struct notifyq *q = cap ? calloc(1, sizeof(*q)) : NULL;

	if (q)
		q->ring = calloc(cap, sizeof(*q->ring));
	if (!q || !q->ring) {
		log_error("notify: cannot make a queue of %zu events", cap);
		free(q);
		return NULL;
	}
	q->cap = cap;
	q->next_seq = 1;
	return q;
}

void
notifyq_free(struct notifyq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->len; i++)
		free(q->ring[(q->head + i) % q->cap].body);
	free(q->ring);
	free(q);
}

static void
drop_head(struct notifyq *q)
{
	free(q->ring[q->head].body);
	q->ring[q->head].body = NULL;
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

bool
notifyq_push(struct notifyq *q, char *body)
{
	bool dropped = q->len == q->cap;

	if (dropped) {
		drop_head(q);
		q->dropped++;
	}
	q->ring[(q->head + q->len) % q->cap] = (struct notifyq_item){ body, q->next_seq++ };
	q->len++;
	return dropped;
}

const char *
notifyq_head(const struct notifyq *q, uint64_t *seq)
{
	if (!q->len)
		return NULL;
	*seq = q->ring[q->head].seq;
	return q->ring[q->head].body;
}

bool
notifyq_pop(struct notifyq *q, uint64_t seq)
{
	if (!q->len || q->ring[q->head].seq != seq)
		return false;
	drop_head(q);
	return true;
}

size_t
notifyq_len(const struct notifyq *q)
{
	return q->len;
}

uint64_t
notifyq_dropped(const struct notifyq *q)
{
	return q->dropped;
}
