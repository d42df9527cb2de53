/* The on-prem disk steps of a cutover (cutover-commit.h): synced, the
 * commit of the target chains, abort. */
#define _GNU_SOURCE
#include "failback/cutover-commit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "failback/cutover.h"
#include "failback/target.h"
#include "replicator/receiver/store-target.h"
#include "replicator/receiver/store.h"

int
cutover_synced(struct store *target, const char *gdir, const char *group, uint64_t *point)
{
	struct cutover c;

	if (store_last_point(target, group, point) < 0 || cutover_load(gdir, &c) < 0)
		return -1;
	if (*point == 0) {
		log_error("failback: group %s: the target holds no reverse point: nothing to "
			  "cut over to", group);
		return -1;
	}
	if (c.state > CUTOVER_SYNCED) {
		if (c.reverse_point == *point)
			return 0;
		log_error("failback: group %s: cutover %s on reverse point %" PRIu64 ", the target's "
			  "newest is %" PRIu64, group, cutover_state_name(c.state),
			  c.reverse_point, *point);
		return -1;
	}
	if (c.state < CUTOVER_REQUESTED &&
	    cutover_advance(gdir, &(struct cutover){ CUTOVER_REQUESTED, 0, 0, false }) < 0)
		return -1;
	return cutover_advance(gdir, &(struct cutover){ CUTOVER_SYNCED, *point, 0, false });
}

/* fsync path (the on-prem disk after qemu-img wrote it). */
static int
fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd >= 0 ? fsync(fd) : -1;

	if (rc < 0)
		log_error("failback: fsync %s: %m", path);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* One disk: point's chain of disk into the on-prem image d. */
static int
commit_disk(struct store *target, const char *group, uint64_t point, const char *disk,
	    const char *onprem, const char *fmt)
{
	char *top = store_point_disk_path(target, group, point, disk);
	char *ctx = strfmt("failback: group %s disk %s", group, disk);
	const char *argv[] = { "qemu-img", "commit", "-q", "-d", "-f", "qcow2", "-b", onprem,
			       top, NULL };
	uint64_t t0 = clock_mono_ns();
	int rc = -1;

	if (!top || !ctx) {
		log_error("failback: group %s disk %s: no file of reverse point %" PRIu64, group,
			  disk, point);
		goto out;
	}
	if (spawn_cmd(ctx, argv, NULL) < 0 || fsync_file(onprem) < 0)
		goto out;
	log_info("%s: reverse point %" PRIu64 " committed into %s (%s) in %.1f s", ctx, point,
		 onprem, fmt, (double)(clock_mono_ns() - t0) / 1e9);
	rc = 0;
out:
	free(ctx);
	free(top);
	return rc;
}

int
cutover_commit(struct store *target, const char *gdir, const char *group,
	       const struct failback_disks *disks)
{
	struct cutover c;

	if (cutover_load(gdir, &c) < 0)
		return -1;
	if (c.state >= CUTOVER_COMMITTED)
		return 0;
	if (c.state < CUTOVER_SYNCED) {
		log_error("failback: group %s: cutover %s: the final reverse point is not synced "
			  "yet; the on-prem disks are left alone", group, cutover_state_name(c.state));
		return -1;
	}
	c.state = CUTOVER_COMMITTING;
	if (cutover_advance(gdir, &c) < 0)
		return -1;
	testhook_at("cutover-committing");
	for (size_t i = 0; i < disks->n; i++) {
		if (commit_disk(target, group, c.reverse_point, disks->v[i].name, disks->v[i].path,
				disks->v[i].format) < 0)
			return -1;
		testhook_at("cutover-commit-disk");
	}
	c.state = CUTOVER_COMMITTED;
	return cutover_advance(gdir, &c);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT) {
		log_error("failback: remove %s: %m", path);
		return -1;
	}
	return 0;
}

int
cutover_abort(const char *root, const char *group)
{
	char *gdir = strfmt("%s/%s", root, group), *gone = NULL, *ctx = NULL;
	struct cutover c;
	int rc = -1;

	if (!gdir)
		return -1;
	if (access(gdir, F_OK) < 0) {
		log_info("failback: group %s: no failback target: nothing to abort", group);
		rc = 0;
		goto out;
	}
	if (cutover_load(gdir, &c) < 0)
		goto out;
	if (!cutover_abortable(c.state)) {
		log_error("failback: group %s: cutover %s: the on-prem disks are being changed, no "
			  "abort past committing: finish it (roll forward)", group,
			  cutover_state_name(c.state));
		goto out;
	}
	/* The new disks the target made (a failback to new disks) first:
	 * their records are in gdir, which a crash here leaves for the
	 * next abort. */
	if (!(ctx = strfmt("failback: group %s", group)) || store_target_unmake(gdir, ctx) < 0)
		goto out;
	/* One rename makes it gone for good: a crash in the removal leaves a
	 * directory no failback opens, removed by the next abort. */
	gone = strfmt("%s/.%s.aborted", root, group);
	if (!gone || (nftw(gone, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT))
		goto out;
	if (rename(gdir, gone) < 0) {
		log_error("failback: group %s: rename %s: %m", group, gdir);
		goto out;
	}
	if (dir_fsync(root) < 0 || nftw(gone, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		goto out;
	log_info("failback: group %s: target %s removed; the on-prem disks are as they were",
		 group, gdir);
	rc = 0;
out:
	free(ctx);
	free(gone);
	free(gdir);
	return rc;
}
