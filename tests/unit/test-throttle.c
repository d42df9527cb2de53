/* Unit tests for the token bucket: starts empty, refills at the rate, caps
 * at 100 ms of traffic (or the minimum burst), says how long to wait. */
#include <criterion/criterion.h>

#include "common/throttle.h"

#define MS 1000000ull
#define S  1000000000ull

Test(throttle, starts_empty_and_says_how_long_to_wait)
{
	struct throttle *t = throttle_new(1000000, 1000);

	cr_assert(t);
	/* First call: no tokens yet; 1000 bytes at 1 MB/s = 1 ms. */
	cr_assert_float_eq(throttle_take(t, 1000, 5 * S), 0.001, 1e-9);
	throttle_free(t);
}

Test(throttle, refills_at_the_rate)
{
	struct throttle *t = throttle_new(1000000, 1000);

	cr_assert(t);
	cr_assert_gt(throttle_take(t, 1000, 1 * S), 0);
	/* 10 ms later: 10000 tokens. */
	cr_assert_eq(throttle_take(t, 6000, 1 * S + 10 * MS), 0);
	cr_assert_eq(throttle_take(t, 4000, 1 * S + 10 * MS), 0);
	/* Empty again: 500 bytes need 0.5 ms. */
	cr_assert_float_eq(throttle_take(t, 500, 1 * S + 10 * MS), 0.0005, 1e-9);
	throttle_free(t);
}

Test(throttle, holds_at_most_100_ms)
{
	struct throttle *t = throttle_new(1000000, 1000);

	cr_assert(t);
	(void)throttle_take(t, 1, 1 * S);
	/* An idle minute buys 100 ms of traffic, not a minute's. */
	cr_assert_eq(throttle_take(t, 100000, 61 * S), 0);
	cr_assert_gt(throttle_take(t, 1, 61 * S), 0);
	throttle_free(t);
}

Test(throttle, min_burst_lets_the_largest_send_through)
{
	/* 100 ms at 1000 B/s is 100 bytes; the minimum burst is 4096. */
	struct throttle *t = throttle_new(1000, 4096);

	cr_assert(t);
	(void)throttle_take(t, 1, 1 * S);
	cr_assert_eq(throttle_take(t, 4096, 100 * S), 0);
	cr_assert_float_eq(throttle_take(t, 1000, 100 * S), 1.0, 1e-9);
	throttle_free(t);
}

Test(throttle, refused_take_keeps_the_tokens)
{
	struct throttle *t = throttle_new(1000000, 1000);

	cr_assert(t);
	(void)throttle_take(t, 1, 1 * S);
	cr_assert_gt(throttle_take(t, 5000, 1 * S + 2 * MS), 0); /* 2000 held */
	cr_assert_eq(throttle_take(t, 2000, 1 * S + 2 * MS), 0);
	throttle_free(t);
}

Test(throttle, free_null)
{
	throttle_free(NULL);
}
