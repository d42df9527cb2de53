/* Test helper: run a worker pool's done callbacks on the test's thread
 * until n ran, waiting on its descriptor. Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_POOLWAIT_H
#define NESTOR_TESTS_UNIT_POOLWAIT_H

#include <poll.h>

#include "common/workpool.h"

static inline void
poolwait_dispatch(struct workpool *wp, size_t n)
{
	size_t ran = 0;

	while (ran < n) {
		struct pollfd p = { .fd = workpool_fd(wp), .events = POLLIN };

		cr_assert_eq(poll(&p, 1, 20000), 1, "the pool did not signal in 20 s");
		ran += workpool_dispatch(wp);
	}
	cr_assert_eq(ran, n, "more done callbacks than expected");
}

#endif
