/* Unit tests of failback/cutover (the durable state of an on-prem cutover)
 * and failback/cutover-commit (synced, the commit of the target chains
 * into the on-prem disks, kill -9 in the middle and the re-run, abort). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failback/cutover-commit.h"
#include "failback/cutover.h"
#include "failback/target.h"
#include "replicator/config.h"
#include "fbconfig.h"
#include "tmpdir.h"

TMPDIR_SUITE(cutover, dir, "nestor-cutover");

static struct cutover
cut(enum cutover_state s, uint64_t rp, uint64_t fp)
{
	return (struct cutover){ s, rp, fp, false };
}

static enum cutover_state
state_now(const char *gdir)
{
	struct cutover c;

	cr_assert_eq(cutover_load(gdir, &c), 0);
	return c.state;
}

Test(cutover, goes_forward_one_step_at_a_time)
{
	struct cutover c;

	cr_assert_eq(cutover_load(dir, &c), 0, "no file: none");
	cr_assert_eq(c.state, CUTOVER_NONE);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 3, 0, false }), -1,
		     "requested skipped");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }), 0,
		     "a re-run of the same step");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 0, 0, false }), -1,
		     "synced names its reverse point");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 3, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 4, 0, false }), -1,
		     "another reverse point at the same step");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }), -1,
		     "back");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTING, 4, 0, false }), -1,
		     "the reverse point changes");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTING, 3, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 3, 0, false }), -1, "back");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTED, 3, 0, false }), 0);
	/* issue 14 (failback of libvirt domains): started comes between */
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_VERIFIED, 3, 0, false }), -1,
		     "started skipped");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_STARTED, 3, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_VERIFIED, 3, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_RELEASED, 3, 0, false }), -1,
		     "released names F");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_RELEASED, 3, 9, false }), 0);
	cr_assert_eq(cutover_load(dir, &c), 0);
	cr_assert_eq(c.state, CUTOVER_RELEASED);
	cr_assert_eq(c.reverse_point, 3);
	cr_assert_eq(c.forward_point, 9);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_NONE, 0, 0, false }), -1);
	cr_assert_str_eq(cutover_state_name(CUTOVER_COMMITTING), "committing");
	cr_assert(cutover_abortable(CUTOVER_SYNCED));
	cr_assert(!cutover_abortable(CUTOVER_COMMITTING));
}

Test(cutover, domains_started_is_recorded_from_started_on_and_kept)
{
	struct cutover c;

	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_SYNCED, 5, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTING, 5, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTED, 5, 0, true }), -1,
		     "no domain started before started");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_COMMITTED, 5, 0, false }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_STARTED, 5, 0, true }), 0);
	cr_assert_eq(cutover_load(dir, &c), 0);
	cr_assert_eq(c.state, CUTOVER_STARTED);
	cr_assert(c.domains_started, "read back");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_STARTED, 5, 0, false }), -1,
		     "a re-run may not forget the started domains");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_VERIFIED, 5, 0, false }), -1,
		     "nor the next step");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_VERIFIED, 5, 0, true }), 0);
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_RELEASED, 5, 7, true }), 0);
	cr_assert_eq(cutover_load(dir, &c), 0);
	cr_assert(c.domains_started && c.forward_point == 7 && c.state == CUTOVER_RELEASED);
	cr_assert_str_eq(cutover_state_name(CUTOVER_STARTED), "started");
}

Test(cutover, a_state_of_before_started_loads_without_domains_started)
{
	char cmd[512];
	struct cutover c;

	snprintf(cmd, sizeof(cmd),
		 "printf '{\"version\": 1, \"state\": \"committed\", \"reverse_point\": 2, "
		 "\"forward_point\": 0}' > %s/cutover.json", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cutover_load(dir, &c), 0);
	cr_assert(!c.domains_started);
	snprintf(cmd, sizeof(cmd),
		 "printf '{\"version\": 1, \"state\": \"committed\", \"reverse_point\": 2, "
		 "\"forward_point\": 0, \"domains_started\": true}' > %s/cutover.json", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cutover_load(dir, &c), -1, "started domains before started");
	snprintf(cmd, sizeof(cmd),
		 "printf '{\"version\": 1, \"state\": \"started\", \"reverse_point\": 2, "
		 "\"forward_point\": 0, \"domains_started\": 1}' > %s/cutover.json", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cutover_load(dir, &c), -1, "not a boolean");
}

Test(cutover, a_damaged_state_is_an_error_not_a_fresh_start)
{
	char path[128], cmd[256];
	struct cutover c = cut(CUTOVER_RELEASED, 1, 1);

	snprintf(path, sizeof(path), "%s/cutover.json", dir);
	snprintf(cmd, sizeof(cmd), "printf '{\"version\": 1, \"state\": \"bogus\"}' > %s", path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cutover_load(dir, &c), -1);
	cr_assert_eq(c.state, CUTOVER_NONE, "cleared on error");
	cr_assert_eq(cutover_advance(dir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }), -1,
		     "never written over");
	snprintf(cmd, sizeof(cmd),
		 "printf '{\"version\": 1, \"state\": \"committed\", \"reverse_point\": 0, "
		 "\"forward_point\": 0}' > %s", path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cutover_load(dir, &c), -1, "committed without its reverse point");
}

/* ---- the commit step over real images ----------------------------------- */

/* The on-prem disks vda (raw) and vdb (qcow2) of group web. */
static struct agent_config *
config(void)
{
	char groups[1024];

	snprintf(groups, sizeof(groups),
		 "[group web]\n[disk web vda]\npath = %s/a.raw\nformat = raw\n"
		 "[disk web vdb]\npath = %s/b.qcow2\n",
		 dir, dir);
	return fbconfig_load(dir, groups);
}

/* Reverse point id on base id - 1: 64 KiB of byte v at off of each disk. */
static void
reverse_point(struct store *st, uint64_t id, uint8_t v, uint64_t off)
{
	fbconfig_point(st, id, v, off, 65536, 3);
}

/* cmd run in the test's directory: its exit status. */
static int
sh(const char *cmd)
{
	char line[1024];
	int st;

	snprintf(line, sizeof(line), "cd '%s' && %s", dir, cmd);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The on-prem disks equal the target's point 2 view / their state before. */
static void
assert_onprem_is_target(bool yes)
{
	int r1 = sh("qemu-img compare -q -f raw -F qcow2 a.raw "
		    "state/failback/web/disks/vda/2.qcow2");
	int r2 = sh("qemu-img compare -q -f qcow2 -F qcow2 b.qcow2 "
		    "state/failback/web/disks/vdb/2.qcow2");

	cr_assert_eq(r1 == 0 && r2 == 0, yes, "compare: %d %d", r1, r2);
}

struct fixture {
	struct agent_config *cfg;
	struct store *st;
	struct failback_disks disks;
	char gdir[512], root[256];
};

/* A target store of group web with reverse points 1 (0x66 at 64K) and 2
 * (0x77 at 128K) over the on-prem disks, whose sums are in sums. */
static void
fixture(struct fixture *f)
{
	f->cfg = config();
	f->st = failback_target_open(f->cfg, "web");
	cr_assert_not_null(f->st);
	cr_assert_eq(failback_disks_of(&f->cfg->groups[0], &f->disks), 0);
	snprintf(f->root, sizeof(f->root), "%s/state/failback", dir);
	snprintf(f->gdir, sizeof(f->gdir), "%s/web", f->root);
	reverse_point(f->st, 1, 0x66, 65536);
	reverse_point(f->st, 2, 0x77, 131072);
	cr_assert_eq(sh("sha256sum a.raw b.qcow2 > sums"), 0);
}

static void
fixture_free(struct fixture *f)
{
	failback_disks_clear(&f->disks);
	store_free(f->st);
	agent_config_free(f->cfg);
}

static bool
onprem_untouched(void)
{
	return sh("sha256sum -c --quiet sums") == 0;
}

Test(cutover, the_commit_waits_for_synced_then_makes_the_onprem_disks_the_target,
     .timeout = 120)
{
	struct fixture f;
	uint64_t point = 0;

	fixture(&f);
	cr_assert_eq(cutover_commit(f.st, f.gdir, "web", &f.disks), -1, "not synced");
	cr_assert(onprem_untouched(), "nothing on-prem changed before synced");
	assert_onprem_is_target(false);
	cr_assert_eq(cutover_synced(f.st, f.gdir, "web", &point), 0);
	cr_assert_eq(point, 2, "the target's newest point");
	cr_assert_eq(state_now(f.gdir), CUTOVER_SYNCED);
	cr_assert(onprem_untouched(), "synced changes nothing on-prem");
	cr_assert_eq(cutover_commit(f.st, f.gdir, "web", &f.disks), 0);
	cr_assert_eq(state_now(f.gdir), CUTOVER_COMMITTED);
	assert_onprem_is_target(true);
	cr_assert_eq(sh("cmp -s -n 65536 a.raw /dev/zero"), 1,
		     "the on-prem raw disk kept its own bytes below the writes");
	/* Re-run: a no-op; abort refused from now on. */
	cr_assert_eq(cutover_commit(f.st, f.gdir, "web", &f.disks), 0);
	assert_onprem_is_target(true);
	cr_assert_eq(cutover_abort(f.root, "web"), -1);
	cr_assert_eq(access(f.gdir, F_OK), 0, "the target stays");
	fixture_free(&f);
}

/* Run the commit in a child that stops at pause point `at`, kill -9 it
 * there. */
static void
commit_killed_at(struct fixture *f, const char *at)
{
	int status = 0;
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setenv("NESTOR_TEST_PAUSE", at, 1);
		_exit(cutover_commit(f->st, f->gdir, "web", &f->disks) == 0 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(status), "the child stopped at %s", at);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status));
}

Test(cutover, a_commit_killed_in_the_middle_converges_when_run_again, .timeout = 120)
{
	struct fixture f;
	uint64_t point = 0;

	fixture(&f);
	cr_assert_eq(cutover_synced(f.st, f.gdir, "web", &point), 0);
	commit_killed_at(&f, "cutover-committing");
	cr_assert_eq(state_now(f.gdir), CUTOVER_COMMITTING, "recorded before any disk");
	cr_assert(onprem_untouched());
	commit_killed_at(&f, "cutover-commit-disk");
	cr_assert_eq(state_now(f.gdir), CUTOVER_COMMITTING);
	cr_assert(!onprem_untouched(), "the first disk was committed when it was killed");
	cr_assert_eq(cutover_abort(f.root, "web"), -1, "no abort past committing");
	cr_assert_eq(cutover_commit(f.st, f.gdir, "web", &f.disks), 0);
	cr_assert_eq(state_now(f.gdir), CUTOVER_COMMITTED);
	assert_onprem_is_target(true);
	fixture_free(&f);
}

Test(cutover, abort_up_to_synced_removes_the_target_only, .timeout = 120)
{
	struct fixture f;
	uint64_t point = 0;

	fixture(&f);
	cr_assert_eq(cutover_synced(f.st, f.gdir, "web", &point), 0);
	store_free(f.st);
	f.st = NULL;
	cr_assert_eq(cutover_abort(f.root, "web"), 0);
	cr_assert_eq(access(f.gdir, F_OK), -1, "the target is gone");
	cr_assert(onprem_untouched(), "the on-prem disks are as they were");
	cr_assert_eq(cutover_abort(f.root, "web"), 0, "nothing left: fine");
	fixture_free(&f);
}
