/* Unit tests for replicator/receiver/owner: the decision table, the record's
 * round trip, and a corrupt record refused with a clear error, not replaced. */
#define _GNU_SOURCE
#include "replicator/receiver/owner.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileutil.h"
#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(owner, root, "nestor-owner");

static char rec[160];

static void
mkgroup(const char *g)
{
	char d[128];

	snprintf(d, sizeof(d), "%s/%s", root, g);
	cr_assert_eq(mkdir(d, 0750), 0);
	snprintf(rec, sizeof(rec), "%s/owner.json", d);
}

static void
put(const char *text)
{
	cr_assert_eq(file_write_atomic(rec, text, strlen(text), 0600), 0);
}

static char *
slurp(void)
{
	void *data = NULL;
	size_t len;

	cr_assert_eq(file_read_all(rec, 1 << 16, &data, &len), 0);
	return data;
}

Test(owner, decision_table)
{
	cr_assert_eq(owner_decide(NULL, "a"), OWNER_ADOPT);
	cr_assert_eq(owner_decide("", "a"), OWNER_ADOPT);
	cr_assert_eq(owner_decide("a", "a"), OWNER_OK);
	cr_assert_eq(owner_decide("a", "b"), OWNER_REFUSE);
	cr_assert_eq(owner_decide("agent", "agent2"), OWNER_REFUSE, "a prefix is not the owner");
	cr_assert_eq(owner_decide("Agent", "agent"), OWNER_REFUSE, "CNs compare exactly");
}

Test(owner, round_trip)
{
	char cn[OWNER_CN_MAX + 1];

	mkgroup("g1");
	cr_assert_eq(owner_load(root, "g1", cn), 1, "no record yet");
	cr_assert_str_empty(cn);
	cr_assert_eq(owner_save(root, "g1", "agent one.example"), 0);
	cr_assert_eq(owner_load(root, "g1", cn), 0);
	cr_assert_str_eq(cn, "agent one.example");
	cr_assert_eq(owner_save(root, "g1", "b"), 0, "a hand-over rewrites it");
	cr_assert_eq(owner_load(root, "g1", cn), 0);
	cr_assert_str_eq(cn, "b");
}

Test(owner, save_refuses_bad_cn)
{
	char longcn[OWNER_CN_MAX + 2];

	mkgroup("g1");
	memset(longcn, 'x', sizeof(longcn) - 1);
	longcn[sizeof(longcn) - 1] = '\0';
	cap_start();
	cr_assert_eq(owner_save(root, "g1", ""), -1);
	cr_assert_eq(owner_save(root, "g1", "a\nb"), -1);
	cr_assert_eq(owner_save(root, "g1", longcn), -1);
	free(cap_stop());
	cr_assert_neq(access(rec, F_OK), 0, "nothing was written");
}

Test(owner, check_adopt_ok_refuse)
{
	enum owner_verdict v;
	char why[1100];

	mkgroup("g1");
	cr_assert_eq(owner_check(root, "g1", "a", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, OWNER_ADOPT);
	cr_assert_eq(owner_save(root, "g1", "a"), 0);
	cr_assert_eq(owner_check(root, "g1", "a", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, OWNER_OK);
	cap_start();
	cr_assert_eq(owner_check(root, "g1", "b", &v, why, sizeof(why)), -1);
	char *log = cap_stop();
	assert_logged(log, "group g1: point from agent \"b\" refused");
	free(log);
	cr_assert_str_eq(why, "group g1 belongs to agent a; hand it over with "
		  "`nestor group handover g1 b` on the receiver");
}

/* Each corrupt record: refused (no BEGIN passes), logged naming the file,
 * and left as it was. */
Test(owner, corrupt_record_refused_not_overwritten)
{
	static const char *const bad[] = {
		"{", "[]", "{}", "{\"cn\": 7}", "{\"cn\": \"\"}", "{\"cn\": \"a\\u0001b\"}",
		"{\"cn\": \"a\", \"cn\": \"b\"}",
	};
	enum owner_verdict v;
	char cn[OWNER_CN_MAX + 1];
	char why[1100];

	mkgroup("g1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(bad[i]);
		cap_start();
		cr_assert_eq(owner_load(root, "g1", cn), -1, "record %s", bad[i]);
		cr_assert_eq(owner_check(root, "g1", "a", &v, why, sizeof(why)), -1,
			     "record %s", bad[i]);
		char *log = cap_stop();
		assert_logged(log, rec);
		assert_logged(log, "nestor group handover g1 CN");
		free(log);
		cr_assert(strstr(why, "owner record of group g1 is unreadable"), "%s", why);
		char *now = slurp();
		cr_assert_str_eq(now, bad[i], "the record was left alone");
		free(now);
	}
}
