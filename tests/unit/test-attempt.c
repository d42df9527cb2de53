/* Unit tests for replicator/agent/attempt: which pending point an agent
 * may resume, and its record taken away before a new attempt. */
#define _GNU_SOURCE
#include "replicator/agent/attempt.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tmpdir.h"

struct pick_case {
	const char *why;
	uint64_t last_point, pending, pending_base, base;
	bool resumable, known;
	uint64_t rec_point, rec_base;
	uint64_t want;
	bool want_resume;
};

static const struct pick_case cases[] = {
	{ "our last attempt's point", 4, 5, 4, 4, true, true, 5, 4, 5, true },
	{ "a point bumped past an older pending one", 4, 7, 4, 4, true, true, 7, 4, 7, true },
	{ "the source changed since", 4, 5, 4, 4, false, true, 5, 4, 6, false },
	/* it died before its POINT_BEGIN reached the receiver: the pending
	 * point is older than the source the sources vouch for */
	{ "the last attempt asked for another point", 4, 5, 4, 4, true, true, 6, 4, 6, false },
	{ "no record: the last attempt died before it", 4, 5, 4, 4, true, false, 0, 0, 6, false },
	{ "the pending point has another base", 4, 5, 3, 4, true, true, 5, 4, 6, false },
	{ "the record has another base", 4, 5, 4, 4, true, true, 5, 0, 6, false },
	{ "nothing pending", 4, 0, 0, 4, true, true, 5, 4, 5, false },
	{ "a first point", 0, 0, 0, 0, false, false, 0, 0, 1, false },
};

Test(attempt, which_pending_point_is_resumed)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pick_case *c = &cases[i];
		struct attempt_point a = { c->known, c->rec_point, c->rec_base };
		bool r = !c->want_resume;
		uint64_t id = attempt_point_id(c->last_point, c->pending, c->pending_base, c->base,
					       c->resumable, &a, &r);

		cr_expect_eq(id, c->want, "%s: point %" PRIu64 ", want %" PRIu64, c->why, id,
			     c->want);
		cr_expect_eq(r, c->want_resume, "%s: resume %d", c->why, r);
	}
}

TMPDIR_SUITE(attempt_file, dir, "nestor-attempt");

Test(attempt_file, recorded_then_taken_once)
{
	struct attempt_point a = { true, 9, 9 };
	char path[128];

	cr_assert_eq(attempt_take(dir, &a), 0);
	cr_assert(!a.known, "no record yet");
	cr_assert_eq(attempt_record(dir, 12, 11), 0);
	cr_assert_eq(attempt_take(dir, &a), 0);
	cr_assert(a.known && a.point == 12 && a.base == 11);
	cr_assert_eq(attempt_take(dir, &a), 0);
	cr_assert(!a.known, "a record vouches for one attempt only");
	/* A damaged record vouches for nothing and is removed. */
	snprintf(path, sizeof(path), "%s/.attempt-point", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f && fputs("{\"point\": -1}", f) >= 0);
	fclose(f);
	cr_assert_eq(attempt_take(dir, &a), 0);
	cr_assert(!a.known);
	cr_assert_eq(access(path, F_OK), -1);
}
