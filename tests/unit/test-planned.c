/* Unit tests for replicator/receiver/planned (issue 14, item 5): the
 * request's life (requested -> acknowledged -> final / refused /
 * abandoned), the flag never due after the deadline, one live request at
 * a time, removal, a final point nobody boots told as abandoned; the
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

	int lock;

	mkgroup("g");
	/* the command holds its run lock throughout: its final point is
	 * booted, not abandoned */
	lock = planned_run_lock(root, "g");
	cr_assert_geq(lock, 0);
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(p.state, PLANNED_REQUESTED);
	cr_assert(p.deadline_ns > p.requested_ns);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REQUESTED);
	cr_assert_str_eq(q.id, p.id);
	cr_assert_eq(q.deadline_ns, p.deadline_ns);
	/* a second request while this one lives is refused */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), -1);

	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_PLANNED);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ACKNOWLEDGED);
	cr_assert_str_eq(q.agent, "agent-a");
	cr_assert_neq(q.acknowledged_ns, 0);
	/* asked again (the agent's cycle after its shutdown): still due */
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_PLANNED);

	planned_on_final(root, "g", "agent-a", 17);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_FINAL);
	cr_assert_eq(q.point, 17);
	/* final: no more flags, and no new request until it is removed */
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_NONE);
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), -1);
	cr_assert_eq(planned_remove(root, "g"), 0);
	cr_assert_not(file_exists("g"));
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &q), 0);
	close(lock);
}

/* The agent that sent a final point awaits its boot: when nobody will
 * boot it (the command died: no run lock), it is told ABANDONED until it
 * begins an ordinary point. */
Test(planned, final_without_command_is_abandoned)
{
	struct planned p, q;
	int lock;

	mkgroup("g");
	lock = planned_run_lock(root, "g");
	cr_assert_geq(lock, 0);
	cr_assert_eq(planned_run_lock(root, "g"), -1, "one waiting command per group");
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_PLANNED);
	planned_on_final(root, "g", "agent-a", 17);
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_NONE, "booting");
	close(lock); /* kill -9 of the command */
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_ABANDONED);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ABANDONED);
	cr_assert_eq(q.point, 17);
	cr_assert_neq(q.abandoned_ns, 0);
	cr_assert_str_eq(q.reason, "the failover command ended without booting final point 17");
	/* told until heard: a lost answer is told again */
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_ABANDONED);
	/* a final point is not "heard": only an ordinary begin is */
	cr_assert(file_exists("g"));
	planned_on_point(root, "g", "agent-a");
	cr_assert_not(file_exists("g"));
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_NONE);
	cr_assert_eq(planned_run_lock(root, "g") >= 0, true, "free again");
}

/* The command's side: deadline, failed boot, cancel. */
Test(planned, expire_abandon_cancel)
{
	struct planned p, q;
	int lock;

	mkgroup("g");
	lock = planned_run_lock(root, "g");
	cr_assert_geq(lock, 0);
	cr_assert_eq(planned_abandon(root, "g", "x", &q), 1, "none");
	cr_assert_eq(planned_expire(root, "g", &q), 1, "none");
	/* nobody acted: an untouched request is simply removed */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_expire(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_REQUESTED);
	cr_assert_not(file_exists("g"));
	/* acknowledged at the deadline: abandoned, and a final point begun
	 * before it lands there (its agent is told) */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_PLANNED);
	cr_assert_eq(planned_expire(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ACKNOWLEDGED);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ABANDONED);
	cr_assert_str_eq(q.reason, "no final point within the timeout");
	cr_assert_eq(q.point, 0);
	planned_on_final(root, "g", "agent-a", 9);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ABANDONED, "a late final point is not booted");
	cr_assert_eq(q.point, 9);
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_ABANDONED);
	/* an abandoned request may be replaced by a new one */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_on_query(root, "g", "agent-a"), PLANNED_ANSWER_PLANNED);
	planned_on_final(root, "g", "agent-a", 10);
	/* final at the deadline: kept, the command boots it */
	cr_assert_eq(planned_expire(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_FINAL);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_FINAL);
	/* its boot failed: abandoned with the reason */
	struct planned_wait_opts w = { .store_dir = root, .group = "g" };

	cr_assert_eq(planned_boot_done(&w, 10, false), 0);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ABANDONED);
	cr_assert_str_eq(q.reason, "the failover of final point 10 failed");
	cr_assert_eq(q.point, 10);
	/* cancel of an abandoned one removes it (an older agent cannot read
	 * the flag) */
	cr_assert_eq(planned_cancel(root, "g", NULL, NULL), 0);
	cr_assert_not(file_exists("g"));
	cr_assert_eq(planned_cancel(root, "g", NULL, NULL), -1, "nothing to cancel");
	/* cancel of a final one abandons it; a boot that worked removes it */
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_on_query(root, "g", "agent-b"), PLANNED_ANSWER_PLANNED);
	planned_on_final(root, "g", "agent-b", 11);
	cr_assert_eq(planned_cancel(root, "g", NULL, NULL), 0);
	cr_assert_eq(planned_load(root, "g", &q), 0);
	cr_assert_eq(q.state, PLANNED_ABANDONED);
	cr_assert_str_eq(q.reason, "cancelled by the operator");
	cr_assert_str_eq(q.agent, "agent-b");
	cr_assert_eq(planned_request(root, "g", 60 * SEC, &p), 0);
	cr_assert_eq(planned_on_query(root, "g", "agent-b"), PLANNED_ANSWER_PLANNED);
	planned_on_final(root, "g", "agent-b", 12);
	cr_assert_eq(planned_boot_done(&w, 12, true), 0);
	cr_assert_not(file_exists("g"));
	close(lock);
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
