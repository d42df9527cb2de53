/* Unit tests of the local backend's new overlays (store-local.c, written by
 * common/qcow2new since issue 17): what a begin makes checks clean and
 * names its base; a base file that is gone fails the begin, not the first
 * write, and leaves nothing a resume would trust. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replicator/receiver/store.h"
#include "storebegin.h"
#include "tmpdir.h"

#define SIZE (3u << 20)

TMPDIR_SUITE(store_local, root, "nestor-store-local");

/* Point id over base with 64 KiB of byte v at off, committed. */
static void
commit_one(struct store *st, uint64_t id, uint64_t base, uint64_t off, uint8_t v)
{
	struct store_point *pt = store_begin_one(st, id, base, "vda", SIZE);
	uint8_t buf[65536];
	int err = -1;

	memset(buf, v, sizeof(buf));
	cr_assert_eq(store_point_write(pt, 0, off, buf, sizeof(buf), &err), 0);
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, NULL, 0, &err), 0);
	store_point_free(pt);
}

static int
sh(const char *cmd)
{
	int st = system(cmd);

	cr_assert(st != -1 && WIFEXITED(st), "%s", cmd);
	return WEXITSTATUS(st);
}

Test(store_local, overlays_check_clean_and_read_through)
{
	struct store *st = store_open(root, NULL);
	char cmd[512];

	cr_assert_not_null(st);
	commit_one(st, 1, 0, 0, 0x11);
	commit_one(st, 2, 1, 1u << 20, 0x22);
	snprintf(cmd, sizeof(cmd), "cd %s/grp/disks/vda && qemu-img check -q 1.qcow2 && "
		 "qemu-img check -q 2.qcow2 && "
		 "qemu-img info 2.qcow2 | grep -qx 'backing file: 1.qcow2' && "
		 "qemu-io -r -c 'read -P 0x11 0 64k' -c 'read -P 0x22 1M 64k' "
		 "-c 'read -P 0 2M 1M' 2.qcow2 >/dev/null", root);
	cr_assert_eq(sh(cmd), 0, "%s", cmd);
	store_free(st);
}

Test(store_local, begin_over_a_missing_base_file_fails)
{
	struct store *st = store_open(root, NULL);
	struct store_begin b = { .point_id = 2, .base_id = 1, .ndisks = 1 };
	struct store_progress pr;
	char path[256];
	int err = 0;

	cr_assert_not_null(st);
	commit_one(st, 1, 0, 0, 0x11);
	snprintf(path, sizeof(path), "%s/grp/disks/vda/1.qcow2", root);
	cr_assert_eq(unlink(path), 0);
	snprintf(b.group, sizeof(b.group), "grp");
	b.time_ns = 1700000000000000002ull;
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "vda");
	b.disks[0].size = SIZE;
	cr_assert_null(store_point_begin(st, &b, &err));
	cr_assert_eq(err, STORE_ERR_IO);
	snprintf(path, sizeof(path), "%s/grp/disks/vda/2.qcow2", root);
	cr_assert_eq(access(path, F_OK), -1, "an overlay over nothing was made");
	cr_assert_eq(store_progress(st, "grp", &pr), 0);
	cr_assert_eq(pr.pending_point, 0, "pending.json names point %" PRIu64, pr.pending_point);
	store_free(st);
}
