/* Group snapshot from the configured sources: file disks through the file
 * source, RBD disks through the rbd source, joined by snapshot_multi. */
#include "replicator/sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replicator/config.h"
#include "snapshot/multi.h"
#include "snapshot/rbd.h"
#include "snapshot/source.h"

#define DEFAULT_CEPH_CONF "/etc/ceph/ceph.conf"

/* rbd specs are "pool/image" (validated by the config loader). */
struct rbd_spec {
	char pool[65], image[65];
};

static int
begin_parts(const struct agent_group_cfg *g, const char *state_dir, uint64_t base,
	    struct snapshot **parts, size_t *nparts)
{
	struct snap_file_disk fd[SNAP_MAX_DISKS];
	struct snap_rbd_image ri[SNAP_MAX_DISKS];
	struct rbd_spec rs[SNAP_MAX_DISKS];
	size_t nf = 0, nr = 0;

	*nparts = 0;
	if (g->ndisks > SNAP_MAX_DISKS) {
		log_error("group %s: more than %d disks", g->name, SNAP_MAX_DISKS);
		return -1;
	}
	for (size_t i = 0; i < g->ndisks; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];

		if (d->path) {
			fd[nf].name = d->name;
			fd[nf].path = d->path;
			fd[nf].format = d->format;
			nf++;
			continue;
		}
		if (sscanf(d->rbd, "%64[^/]/%64s", rs[nr].pool, rs[nr].image) != 2) {
			log_error("group %s disk %s: bad rbd spec '%s'", g->name, d->name, d->rbd);
			return -1;
		}
		ri[nr].name = d->name;
		ri[nr].pool = rs[nr].pool;
		ri[nr].image = rs[nr].image;
		nr++;
	}
	if (nf) {
		parts[*nparts] = snapshot_file_begin(fd, nf, state_dir, base);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	if (nr) {
		parts[*nparts] = snapshot_rbd_begin(g->ceph_conf ? g->ceph_conf : DEFAULT_CEPH_CONF,
						    g->ceph_client, ri, nr, state_dir, base);
		if (!parts[*nparts])
			return -1;
		(*nparts)++;
	}
	return 0;
}

static void
free_parts(struct snapshot **parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snapshot_free(parts[i]);
}

/* The group's disk order: the multi snapshot lists file disks first, then
 * rbd disks; the receiver only needs a stable order, which this is. */
struct snapshot *
sources_begin(const struct agent_group_cfg *g, const char *state_dir, uint64_t base_point)
{
	struct snapshot *parts[2];
	size_t n = 0;
	int incr = 0, full = 0;

	if (begin_parts(g, state_dir, base_point, parts, &n) < 0) {
		free_parts(parts, n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (snapshot_is_incremental(parts[i]))
			incr = 1;
		else
			full = 1;
	}
	if (incr && full) {
		log_info("group %s: some disks need a full copy: copying every disk in full",
			 g->name);
		free_parts(parts, n); /* abort: the incremental bases stay */
		if (begin_parts(g, state_dir, 0, parts, &n) < 0) {
			free_parts(parts, n);
			return NULL;
		}
	}
	return snapshot_multi(parts, n);
}
