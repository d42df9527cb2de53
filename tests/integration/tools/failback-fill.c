/* Test helper of test-failback-cutover.sh: fill the failback target of an
 * agent's group as the reverse sync would, with the view of the receiver's
 * point F (what the failed-over VMs left), so that the cutover can be
 * proven before the reverse protocol exists. Usage:
 *   failback-fill AGENT_CONF GROUP RECEIVER_STORE F
 * Prints {"point": N, "bytes": B}: the target's new point and its own data
 * bytes (the blocks where F differs from the on-prem disks). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/parse.h"
#include "failback/target.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

/* The target's next point, disk by disk a clone of F taken by the store. */
static int
fill(struct store *rx, struct store *tgt, const char *group, const struct store_point_info *f,
     const char *tmpdir, uint64_t *id, uint64_t *total)
{
	struct store_begin b = { .time_ns = clock_now_ns(), .ndisks = f->ndisks };
	struct store_point *pt;
	uint64_t last = 0, bytes;
	int err;

	if (store_last_point(tgt, group, &last) < 0)
		return -1;
	snprintf(b.group, sizeof(b.group), "%s", group);
	b.point_id = *id = last + 1;
	b.base_id = last;
	for (size_t i = 0; i < f->ndisks; i++) {
		snprintf(b.disks[i].name, sizeof(b.disks[i].name), "%s", f->disks[i].name);
		b.disks[i].size = f->disks[i].size;
	}
	if (!(pt = store_point_begin(tgt, &b, &err)))
		return -1;
	for (size_t i = 0; i < f->ndisks; i++) {
		char file[4096], *src = NULL;
		struct store_clone_names names = { .file = file };
		int r;

		snprintf(file, sizeof(file), "%s/fill.%s.qcow2", tmpdir, f->disks[i].name);
		r = store_point_clone(rx, group, f->id, f->disks[i].name, &names, &src);
		if (r == 0)
			r = store_point_adopt(pt, (uint16_t)i, src, &bytes, &err);
		if (src)
			(void)store_clone_remove(rx, src);
		free(src);
		if (r < 0) {
			store_point_free(pt);
			return -1;
		}
		*total += bytes;
	}
	err = store_point_commit(pt, "", 0, &err);
	store_point_free(pt);
	return err;
}

int
main(int argc, char **argv)
{
	struct agent_config *cfg = NULL;
	struct store *rx = NULL, *tgt = NULL;
	struct store_point_info *pts = NULL;
	const struct store_point_info *f = NULL;
	uint64_t fid, id = 0, total = 0;
	char tmpdir[] = "/tmp/failback-fill.XXXXXX";
	size_t n = 0;
	int rc = 1;

	if (argc != 5 || parse_u64(argv[4], &fid) < 0) {
		fprintf(stderr, "usage: failback-fill AGENT_CONF GROUP RECEIVER_STORE F\n");
		return 2;
	}
	if (!mkdtemp(tmpdir) || agent_config_load(argv[1], &cfg) < 0 ||
	    !(rx = store_open(argv[3], NULL)) || !(tgt = failback_target_open(cfg, argv[2])) ||
	    store_list_points(rx, argv[2], &pts, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (pts[i].id == fid)
			f = &pts[i];
	if (!f) {
		fprintf(stderr, "failback-fill: no point %" PRIu64 "\n", fid);
		goto out;
	}
	if (fill(rx, tgt, argv[2], f, tmpdir, &id, &total) < 0)
		goto out;
	printf("{\"point\": %" PRIu64 ", \"bytes\": %" PRIu64 "}\n", id, total);
	rc = 0;
out:
	rmdir(tmpdir);
	free(pts);
	store_free(tgt);
	store_free(rx);
	agent_config_free(cfg);
	return rc;
}
