/* Unit tests for replicator/receiver/planned (issue 14, item 5): the
 * request's life (requested -> acknowledged -> final / refused), the flag
 * never due after the deadline, one live request at a time, removal; the
 * command's duration text. */
#define _GNU_SOURCE
#include "replicator/receiver/planned.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "failover/planned-wait.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(planned, root, "nestor-planned");

#define SEC 1000000000ull

static void
mkgroup(const char *g)
{
	char d[128];

	snprintf(d, sizeof(d), "%s/%s", root, g);
	cr_assert_eq(mkdir(d, 0750), 0);
}

static bool
file_exists(const char *g)
{
	char p[160];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s/planned.json", root, g);
	return stat(p, &sb) == 0;
}

Test(planned, flag_due_table)
{
	struct planned p = { .state = PLANNED_REQUESTED, .deadline_ns = 100 };

	cr_assert(planned_flag_due(&p, 99));
	cr_assert_not(planned_flag_due(&p, 100));
	p.state = PLANNED_ACKNOWLEDGED;
	cr_assert(planned_flag_due(&p, 50));
	p.state = PLANNED_REFUSED;
	cr_assert_not(planned_flag_due(&p, 50));
	p.state = PLANNED_FINAL;
	cr_assert_not(planned_flag_due(&p, 50));
}

Test(planned, none_is_quiet)
{
	struct planned p;

	mkgroup("g");
	cr_assert_eq(planned_load(root, "g", &p), 1);
	cr_assert_not(planned_on_query(root, "g", "agent-a"));
	planned_on_error(root, "g", "agent-a", "x");
	cr_assert_not(file_exists("g"));
	cr_assert_eq(planned_remove(root, "g"), 0);
}

Test(planned, request_ack_final)
{
	struct planned p, q;

	mkgroup("g");
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(p.state, PLANNED_REQUESTED);
	cr_assert(p.deadline_ns > p.requested_ns);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REQUESTED);
	cr_assert_str_eq(q.id, p.id);
	cr_assert_eq(q.deadline_ns, p.deadline_ns);
	/* a second request while this one lives is refused */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), -1);

	cr_assert(planned_on_query(root, "g", "agent-a"));
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ACKNOWLEDGED);
	cr_assert_str_eq(q.agent, "agent-a");
	cr_assert_neq(q.acknowledged_ns, 0);
	/* asked again (the agent's cycle after its shutdown): still due */
	cr_assert(planned_on_query(root, "g", "agent-a"));

	planned_on_final(root, "g", "agent-a", 17);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_FINAL);
	cr_assert_eq(q.point, 17);
	/* final: no more flags, and no new request until it is removed */
	cr_assert_not(planned_on_query(root, "g", "agent-a"));
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), -1);
	cr_assert_eq(planned_remove(root, "g"), 0);
	cr_assert_not(file_exists("g"));
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), 0);
}

Test(planned, refused_records_reason)
{
	struct planned p, q;

	mkgroup("g");
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	/* an error from an agent never told is not a refusal */
	planned_on_error(root, "g", "agent-a", "early");
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REQUESTED);
	cr_assert(planned_on_query(root, "g", "agent-a"));
	planned_on_error(root, "g", "agent-b", "not me");
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ACKNOWLEDGED);
	planned_on_error(root, "g", "agent-a", "VM web still running after 5m0s");
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REFUSED);
	cr_assert_str_eq(q.reason, "VM web still running after 5m0s");
	cr_assert_not(planned_on_query(root, "g", "agent-a"));
	/* a refused request may be replaced */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), 0);
}

Test(planned, expired_never_due)
{
	struct planned p, q;

	mkgroup("g");
	cr_assert_eq(planned_request(root, "g", 1, &p), 0);
	usleep(1000);
	/* a command killed before its deadline leaves the file: once the
	 * deadline passed, no agent contact is told to shut down */
	cr_assert_not(planned_on_query(root, "g", "agent-a"));
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REQUESTED);
	/* a final point committed is recorded even late: the point exists */
	planned_on_final(root, "g", "agent-a", 3);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_FINAL, "a committed final point is recorded");
	cr_assert_eq(planned_remove(root, "g"), 0);
	cr_assert_eq(planned_request(root, "g", 1, &q), 0);
	usleep(1000);
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), 0, "expired: replaced");
}

Test(planned, malformed_refused)
{
	char p[160];
	struct planned q;
	FILE *f;

	mkgroup("g");
	snprintf(p, sizeof(p), "%s/g/planned.json", root);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("{\"state\": \"bogus\", \"id\": \"x\", \"requested_ns\": 1, \"deadline_ns\": 2}", f);
	fclose(f);
	cr_assert_eq(planned_load(root, "g", &q), -1);
	cr_assert_not(planned_on_query(root, "g", "agent-a"));
	cr_assert_eq(planned_request(root, "g", SEC, &q), -1);
}

/* The deadline as the command prints it ("within 10m0s"). */
Test(planned, duration_text)
{
	char b[32];

	planned_fmt_duration(20 * SEC, b, sizeof(b));
	cr_assert_str_eq(b, "20s");
	planned_fmt_duration(600 * SEC, b, sizeof(b));
	cr_assert_str_eq(b, "10m0s");
	planned_fmt_duration(3723 * SEC + 999999999ull, b, sizeof(b));
	cr_assert_str_eq(b, "1h2m3s");
}
