/* Unit tests for the token bucket: starts empty, refills at the rate, caps
 * at 100 ms of traffic (or the minimum burst), says how long to wait. */
#include <criterion/criterion.h>

#include "common/throttle.h"

#define MS 1000000ull
#define S  1000000000ull

/* 1 MB/s, at least 1000 bytes of burst; first called at 1 s. */
static struct throttle *t;

static void
setup(void)
{
	t = throttle_new(1000000, 1000);
	cr_assert(t);
}

static void
teardown(void)
{
	throttle_free(t);
}

TestSuite(throttle, .init = setup, .fini = teardown);

Test(throttle, starts_empty_and_says_how_long_to_wait)
{
	/* No tokens yet: 1000 bytes at 1 MB/s = 1 ms. */
	cr_assert_float_eq(throttle_take(t, 1000, 1 * S), 0.001, 1e-9);
}

Test(throttle, refills_at_the_rate)
{
	(void)throttle_take(t, 1000, 1 * S);
	/* 10 ms later: 10000 tokens, taken in two sends; then 500 bytes
	 * need 0.5 ms. */
	cr_assert_eq(throttle_take(t, 6000, 1 * S + 10 * MS), 0);
	cr_assert_eq(throttle_take(t, 4000, 1 * S + 10 * MS), 0);
	cr_assert_float_eq(throttle_take(t, 500, 1 * S + 10 * MS), 0.0005, 1e-9);
}

Test(throttle, holds_at_most_100_ms)
{
	(void)throttle_take(t, 1, 1 * S);
	/* An idle minute buys 100 ms of traffic, not a minute's. */
	cr_assert_eq(throttle_take(t, 100000, 61 * S), 0);
	cr_assert_gt(throttle_take(t, 1, 61 * S), 0);
}

Test(throttle, refused_take_keeps_the_tokens)
{
	(void)throttle_take(t, 1, 1 * S);
	cr_assert_gt(throttle_take(t, 5000, 1 * S + 2 * MS), 0); /* 2000 held */
	cr_assert_eq(throttle_take(t, 2000, 1 * S + 2 * MS), 0);
}

Test(throttle_burst, min_burst_lets_the_largest_send_through)
{
	/* 100 ms at 1000 B/s is 100 bytes; the floor is 4096. */
	struct throttle *slow = throttle_new(1000, 4096);

	cr_assert(slow);
	(void)throttle_take(slow, 1, 1 * S);
	cr_assert_eq(throttle_take(slow, 4096, 100 * S), 0);
	cr_assert_float_eq(throttle_take(slow, 1000, 100 * S), 1.0, 1e-9);
	throttle_free(slow);
	throttle_free(NULL);
}
