/* Unit tests for replicator/receiver/notifyq: the webhook's bounded queue
 * (issue 16): FIFO order, drop-oldest with its counter, pops by sequence. */
#include "replicator/receiver/notifyq.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
ev(int i)
{
	char *s = malloc(16);

	cr_assert_not_null(s);
	snprintf(s, 16, "e%d", i);
	return s;
}

Test(notifyq, fifo_and_pop_by_seq)
{
	struct notifyq *q = notifyq_new(4);
	uint64_t s1, s2;

	cr_assert_not_null(q);
	cr_assert_null(notifyq_head(q, &s1));
	cr_assert(!notifyq_pop(q, 1), "pop of an empty queue");
	cr_assert(!notifyq_push(q, ev(1)));
	cr_assert(!notifyq_push(q, ev(2)));
	cr_assert_str_eq(notifyq_head(q, &s1), "e1");
	cr_assert(!notifyq_pop(q, s1 + 1), "a sequence that is not the head's");
	cr_assert_eq(notifyq_len(q), 2);
	cr_assert(notifyq_pop(q, s1));
	cr_assert_str_eq(notifyq_head(q, &s2), "e2");
	cr_assert_eq(s2, s1 + 1);
	cr_assert(!notifyq_pop(q, s1), "popped twice");
	cr_assert_eq(notifyq_len(q), 1);
	cr_assert_eq(notifyq_dropped(q), 0);
	notifyq_free(q);
	notifyq_free(NULL);
}

/* Full: the oldest goes, counted; the ring wraps around many times. */
Test(notifyq, bounded_drops_oldest_and_counts)
{
	struct notifyq *q = notifyq_new(3);
	uint64_t seq, head_seq;
	char want[16];

	cr_assert_not_null(q);
	for (int i = 1; i <= 3; i++)
		cr_assert(!notifyq_push(q, ev(i)));
	cr_assert_str_eq(notifyq_head(q, &head_seq), "e1");
	for (int i = 4; i <= 1000; i++)
		cr_assert(notifyq_push(q, ev(i)), "push %d into a full queue", i);
	cr_assert_eq(notifyq_len(q), 3, "never more than its bound");
	cr_assert_eq(notifyq_dropped(q), 997);
	/* the event being sent (e1) was dropped meanwhile: its pop is refused */
	cr_assert(!notifyq_pop(q, head_seq));
	for (int i = 998; i <= 1000; i++) {
		snprintf(want, sizeof(want), "e%d", i);
		cr_assert_str_eq(notifyq_head(q, &seq), want);
		cr_assert(notifyq_pop(q, seq));
	}
	cr_assert_null(notifyq_head(q, &seq));
	cr_assert_eq(notifyq_dropped(q), 997, "pops are not drops");
	/* free with events still queued frees them (ASan run) */
	cr_assert(!notifyq_push(q, ev(1)));
	cr_assert(!notifyq_push(q, ev(2)));
	notifyq_free(q);
}

Test(notifyq, zero_capacity_refused)
{
	cr_assert_null(notifyq_new(0));
}
