/* Unit tests of the reorder ring (reorder.h): items that finish out of
 * order are applied in arrival order, a failed apply stops every later
 * one, and clearing hands each item back with whether it finished. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>

#include "replicator/receiver/reorder.h"

static int applied[REORDER_MAX * 2];
static size_t napplied;
static int fail_at = -1;

static int
apply(void *arg, void *item)
{
	int v = *(int *)item;

	(void)arg;
	applied[napplied++] = v;
	return v == fail_at ? -1 : 0;
}

static int dropped[REORDER_MAX];
static bool dropped_finished[REORDER_MAX];
static size_t ndropped;

static void
drop(void *arg, void *item, bool finished)
{
	(void)arg;
	dropped_finished[ndropped] = finished;
	dropped[ndropped++] = *(int *)item;
}

static void
reset(void)
{
	napplied = ndropped = 0;
	fail_at = -1;
}

TestSuite(reorder, .init = reset);

Test(reorder, out_of_order_finishes_apply_in_arrival_order)
{
	static int v[5] = { 0, 1, 2, 3, 4 };
	struct reorder r;

	reorder_init(&r, 8);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(reorder_push(&r, &v[i]), (uint64_t)i);
	cr_assert_eq(reorder_count(&r), 5);
	cr_assert(reorder_finish(&r, 3));
	cr_assert(reorder_finish(&r, 1));
	cr_assert_eq(reorder_apply(&r, apply, NULL), 0, "0 has not finished: nothing applies");
	cr_assert_eq(napplied, 0);
	cr_assert(reorder_finish(&r, 0));
	cr_assert_eq(reorder_apply(&r, apply, NULL), 2, "0 and 1, then 2 is missing");
	cr_assert(reorder_finish(&r, 4));
	cr_assert(reorder_finish(&r, 2));
	cr_assert_eq(reorder_apply(&r, apply, NULL), 3);
	cr_assert_eq(napplied, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(applied[i], i, "applied[%d] = %d", i, applied[i]);
	cr_assert_eq(reorder_count(&r), 0);
	cr_assert(!reorder_finish(&r, 2), "an applied item is not in the ring");
	cr_assert(!reorder_finish(&r, 5), "nor one never pushed");
}

Test(reorder, a_failure_stops_every_later_item)
{
	static int v[4] = { 10, 11, 12, 13 };
	struct reorder r;

	reorder_init(&r, 4);
	for (int i = 0; i < 4; i++)
		(void)reorder_push(&r, &v[i]);
	fail_at = 11;
	for (uint64_t i = 0; i < 4; i++)
		cr_assert(reorder_finish(&r, 3 - i));
	cr_assert_eq(reorder_apply(&r, apply, NULL), -1);
	cr_assert_eq(napplied, 2, "10, then 11 fails: 12 and 13 are not applied");
	cr_assert_eq(applied[1], 11);
	cr_assert_eq(reorder_count(&r), 2, "the failed item left the ring, the later stay");
	reorder_clear(&r, drop, NULL);
	cr_assert_eq(ndropped, 2);
	cr_assert_eq(dropped[0], 12);
	cr_assert_eq(dropped[1], 13);
	cr_assert_eq(reorder_count(&r), 0);
}

Test(reorder, clear_says_which_items_still_run)
{
	static int v[3] = { 0, 1, 2 };
	struct reorder r;

	reorder_init(&r, 3);
	for (int i = 0; i < 3; i++)
		(void)reorder_push(&r, &v[i]);
	cr_assert(reorder_full(&r));
	cr_assert(reorder_finish(&r, 1));
	reorder_clear(&r, drop, NULL);
	cr_assert_eq(ndropped, 3);
	cr_assert(!dropped_finished[0]);
	cr_assert(dropped_finished[1]);
	cr_assert(!dropped_finished[2]);
	cr_assert(!reorder_full(&r));
}

Test(reorder, capacity_is_clamped_and_numbers_wrap_the_slots)
{
	static int v[REORDER_MAX * 2];
	struct reorder r;

	reorder_init(&r, 0);
	cr_assert_eq(r.cap, 1);
	reorder_init(&r, 1000);
	cr_assert_eq(r.cap, REORDER_MAX);
	/* Many rounds through the slots, finished newest first each time. */
	reorder_init(&r, 5);
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 5; i++) {
			v[(round * 5 + i) % (REORDER_MAX * 2)] = round * 5 + i;
			(void)reorder_push(&r, &v[(round * 5 + i) % (REORDER_MAX * 2)]);
		}
		cr_assert(reorder_full(&r));
		for (int i = 4; i >= 0; i--)
			cr_assert(reorder_finish(&r, (uint64_t)(round * 5 + i)));
		napplied = 0;
		cr_assert_eq(reorder_apply(&r, apply, NULL), 5);
		for (int i = 0; i < 5; i++)
			cr_assert_eq(applied[i], round * 5 + i);
	}
}
