/* The store's stray sweeps (store-sweep.h, issue 17): when a begin looks
 * at every file of a group, and that strays are still removed whenever
 * something may have left them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <unistd.h>

#include "replicator/receiver/store-sweep.h"
#include "replicator/receiver/store.h"
#include "storebegin.h"
#include "tmpdir.h"

#define DISK (1024u * 1024u)

static char root[64];

static void
setup(void)
{
	tmpdir_make(root, sizeof(root), "nestor-sweep");
}

static void
teardown(void)
{
	tmpdir_remove(root);
}

Test(sweep, due_first_after_failure_and_by_period)
{
	struct store_sweep *s = store_sweep_new();

	cr_assert_not_null(s);
	cr_assert(store_sweep_due(s, "a", 10), "a group never swept is due");
	store_sweep_done(s, "a");
	for (int i = 1; i < STORE_SWEEP_PERIOD_MIN; i++)
		cr_assert(!store_sweep_due(s, "a", 10), "begin %d after a sweep", i);
	cr_assert(store_sweep_due(s, "a", 10), "the period is over");
	store_sweep_done(s, "a");
	cr_assert(!store_sweep_due(s, "a", 10));
	store_sweep_dirty(s, "a");
	cr_assert(store_sweep_due(s, "a", 10), "a failure makes it due");
	cr_assert(store_sweep_due(s, "b", 10), "groups are apart");
	store_sweep_dirty(s, "c"); /* unknown: nothing to remember */
	cr_assert(store_sweep_due(s, "c", 10));
	/* a large group: a quarter of its points */
	store_sweep_done(s, "a");
	for (int i = 1; i < 1000; i++)
		cr_assert(!store_sweep_due(s, "a", 4000), "begin %d of 4000 points", i);
	cr_assert(store_sweep_due(s, "a", 4000));
	store_sweep_free(s);
	store_sweep_free(NULL);
}

static void
touch(const char *rel)
{
	tmpdir_touch(root, rel);
}

static bool
exists(const char *rel)
{
	return tmpdir_exists(root, rel);
}

static void
commit(struct store_point *pt)
{
	int err = -1;

	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "<domain/>", 9, &err), 0, "commit: %d", err);
	store_point_free(pt);
}

TestSuite(store_sweep, .init = setup, .fini = teardown, .timeout = 60);

/* A begin in the steady state leaves the group's other files unread; a
 * pending point left, a failed begin and a new process sweep in full. */
Test(store_sweep, strays_removed_when_they_can_be)
{
	struct store *st = store_open(root, NULL);
	struct store_point *pt;
	struct store_begin b = { .point_id = 4, .base_id = 3 };
	char p[256];
	int err = -1;

	cr_assert_not_null(st);
	commit(store_begin_one(st, 1, 0, "vda", DISK)); /* the first begin sweeps */
	touch("grp/meta/70.bin");
	commit(store_begin_one(st, 2, 1, "vda", DISK));
	cr_assert(exists("grp/meta/70.bin"), "no sweep: nothing could leave a stray");

	/* point 3 begun, then the connection lost: pending.json names it */
	pt = store_begin_one(st, 3, 2, "vda", DISK);
	store_point_free(pt);
	cr_assert(exists("grp/disks/vda/3.qcow2"));
	commit(store_begin_one(st, 3, 2, "vda", DISK)); /* resumed: swept too */
	cr_assert(!exists("grp/meta/70.bin"));

	/* point 4's second disk cannot have its directory: the begin fails
	 * after the first disk's was made, and the next begin sweeps */
	touch("grp/meta/71.bin");
	touch("grp/disks/vdb");
	snprintf(b.group, sizeof(b.group), "grp");
	b.time_ns = 1700000000000000000ull + 4;
	b.ndisks = 2;
	for (int i = 0; i < 2; i++) {
		snprintf(b.disks[i].name, sizeof(b.disks[i].name), "vd%c", 'a' + i);
		b.disks[i].size = DISK;
	}
	cr_assert_null(store_point_begin(st, &b, &err));
	cr_assert(exists("grp/meta/71.bin"));
	snprintf(p, sizeof(p), "%s/grp/disks/vdb", root);
	cr_assert_eq(unlink(p), 0);
	commit(store_begin_one(st, 4, 3, "vda", DISK));
	cr_assert(!exists("grp/meta/71.bin"), "a failed begin makes the sweep due");

	/* a stray left while no store ran: the next process sweeps first */
	store_free(st);
	touch("grp/meta/72.bin");
	touch("grp/disks/vda/72.qcow2");
	st = store_open(root, NULL);
	cr_assert_not_null(st);
	commit(store_begin_one(st, 5, 4, "vda", DISK));
	cr_assert(!exists("grp/meta/72.bin"));
	cr_assert(!exists("grp/disks/vda/72.qcow2"));
	cr_assert(exists("grp/meta/5.bin") && exists("grp/disks/vda/5.qcow2"));
	store_free(st);
}
