/* "rbd" change source: Ceph RBD images. Each point is an rbd snapshot
 * nestor-<n>; changes since the base come from rbd_diff_iterate2.
 * This file: connect, prepare / take / finish, reads, commit, free; the
 * records are in rbd-state.c, the snapshots in rbd-snaps.c, the changed
 * extents in rbd-diff.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "snapshot/rbd.h"
#include "snapshot/rbd-priv.h"
#include "snapshot/srcstate.h"

static const struct snapshot_ops rbd_ops;

/* ---- begin ------------------------------------------------------------------ */

static int
rbd_disk_init(struct rbd_snapshot *rs, size_t i, const struct snap_rbd_image *in,
	      const char *state_dir)
{
	struct rbd_disk *d = &rs->d[i];
	rbd_image_info_t info;
	int r;

	if (snapshot_name_disk(&rs->base, i, in->name, "rbd") < 0)
		return -1;
	d->name = rs->base.disks[i].name;
	if (!in->pool || !in->image || !*in->pool || !*in->image ||
	    strlen(in->pool) > RBD_NAME_MAX || strlen(in->image) > RBD_NAME_MAX ||
	    strchr(in->image, '@')) {
		log_error("disk %s: missing or invalid rbd pool / image name",
			  in->name);
		return -1;
	}
	d->pool = strdup(in->pool);
	d->image = strdup(in->image);
	if (!d->pool || !d->image ||
	    asprintf(&d->state_path, "%s/%s.json", state_dir, in->name) < 0 ||
	    asprintf(&d->attempt_path, "%s/%s.attempt", state_dir, in->name) < 0) {
		d->state_path = d->attempt_path = NULL;
		log_error("disk %s: out of memory", in->name);
		return -1;
	}
	r = sym_rados_ioctx_create(rs->cluster, d->pool, &d->io);
	if (r < 0) {
		d->io = NULL;
		errno = -r;
		log_error("disk %s: rbd pool %s: %m", d->name, d->pool);
		return -1;
	}
	r = sym_rbd_open(d->io, d->image, &d->wimg, NULL);
	if (r < 0) {
		d->wimg = NULL;
		errno = -r;
		log_error("disk %s: rbd image %s/%s: %m", d->name, d->pool, d->image);
		return -1;
	}
	r = sym_rbd_get_id(d->wimg, d->image_id, sizeof(d->image_id));
	if (r >= 0)
		r = sym_rbd_get_size(d->wimg, &d->head_size);
	if (r >= 0)
		r = sym_rbd_stat(d->wimg, &info, sizeof(info));
	if (r < 0) {
		errno = -r;
		log_error("disk %s: rbd image %s/%s: cannot read its metadata: %m",
			  d->name, d->pool, d->image);
		return -1;
	}
	d->obj_size = info.obj_size ? info.obj_size : 4u << 20;
	if (rbd_snaps_list(d) < 0 || rbd_state_load(d) < 0 ||
	    rbd_attempt_load(d) < 0)
		return -1;
	return 0;
}

/* One rados connection for the group. */
static int
rbd_connect(struct rbd_snapshot *rs, const char *ceph_conf, const char *client_id)
{
	int r;

	r = sym_rados_create(&rs->cluster, client_id);
	if (r < 0) {
		errno = -r;
		log_error("snapshot: rados client %s: %m", client_id ? client_id : "admin");
		return -1;
	}
	r = sym_rados_conf_read_file(rs->cluster, ceph_conf);
	if (r >= 0)
		/* CEPH_ARGS, as the rbd tool honours it */
		r = sym_rados_conf_parse_env(rs->cluster, NULL);
	if (r >= 0)
		/* librados' default is to wait 5 minutes for the monitors. */
		r = sym_rados_conf_set(rs->cluster, "client_mount_timeout", "30");
	if (r >= 0)
		r = sym_rados_connect(rs->cluster);
	if (r < 0) {
		errno = -r;
		log_error("snapshot: cannot connect to ceph (%s, client %s): %m",
			  ceph_conf ? ceph_conf : "default ceph.conf",
			  client_id ? client_id : "admin");
		return -1;
	}
	rs->connected = 1;
	return 0;
}

/* Names every disk's new snapshot: the interrupted attempt's (reuse) or
 * nestor-<gen + 1>; removes what is not kept. */
static void
rbd_name_snaps(struct rbd_snapshot *rs, int reuse, uint64_t gen, int allow_reuse)
{
	for (size_t i = 0; i < rs->base.ndisks; i++) {
		struct rbd_disk *d = &rs->d[i];

		if (reuse) {
			d->gen = d->at_gen;
			d->snap_id = d->at_snap_id;
			d->created = 1;
		} else {
			if (d->have_attempt)
				log_info("disk %s: %s/%s: interrupted attempt %s; not "
					 "reused", d->name, d->pool, d->image,
					 allow_reuse ? "is for another base or its "
					 "snapshot is gone" : "is not of this instant");
			srcstate_remove(d->name, d->attempt_path);
			d->gen = gen + 1;
		}
		rbd_snap_name(d->snap_name, sizeof(d->snap_name), d->gen);
		rbd_snaps_prune(d, reuse ? d->gen : 0);
	}
}

/* Connects, inspects every disk and decides; without reuse, also clears
 * what interrupted attempts left, so that take only creates snapshots. */
static struct rbd_snapshot *
rbd_prepare(const char *ceph_conf, const char *client_id,
	    const struct snap_rbd_image *imgs, size_t n, const char *state_dir,
	    uint64_t base_point, int allow_reuse)
{
	struct rbd_snapshot *rs = NULL;
	int incremental = 1, reuse = allow_reuse, ok = 0;
	uint64_t gen = 0;

	if (!imgs || n == 0 || n > SNAP_MAX_DISKS || !state_dir) {
		log_error("snapshot: rbd source: need 1..%d images and a state "
			  "directory", SNAP_MAX_DISKS);
		return NULL;
	}
	if (ceph_dl_load() < 0)
		return NULL;
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		log_error("snapshot: out of memory");
		return NULL;
	}
	rs->base.ops = &rbd_ops;
	rs->base.consistency = CONS_CRASH; /* an rbd snapshot is one instant */
	rs->base_point = base_point;
	if (mkdir_p(state_dir, 0700) < 0)
		goto out;
	if (rbd_connect(rs, ceph_conf, client_id) < 0)
		goto out;

	/* Inspect every disk first: the group is incremental only if every
	 * disk is, since the receiver starts all disks afresh for a full copy. */
	for (size_t i = 0; i < n; i++) {
		rs->base.ndisks = i + 1;
		if (rbd_disk_init(rs, i, &imgs[i], state_dir) < 0)
			goto out;
		incremental &= srcstate_decide(rs->d[i].have_state, rs->d[i].st_point, base_point,
					       rbd_full_reason, &rs->d[i], &rs->d[i].incremental,
					       &rs->d[i].full_reason);
	}
	for (size_t i = 0; i < n; i++) {
		struct rbd_disk *d = &rs->d[i];

		srcstate_join_group(incremental, &d->incremental, &d->full_reason);
		if (!d->incremental)
			log_info("disk %s: %s/%s: full copy: %s", d->name, d->pool,
				 d->image, d->full_reason);
		/* The whole group reuses an interrupted attempt or none does:
		 * a mix would not be one instant. */
		reuse &= rbd_attempt_matches(d, base_point);
		for (size_t k = 0; k < d->nsnaps; k++)
			if (d->snaps[k].gen > gen)
				gen = d->snaps[k].gen;
		if (d->have_state && d->st_gen > gen)
			gen = d->st_gen;
	}
	rbd_name_snaps(rs, reuse, gen, allow_reuse);
	rs->base.incremental = incremental;
	rs->base.resumable = reuse;
	ok = 1;
out:
	if (!ok) {
		snapshot_free(&rs->base);
		return NULL;
	}
	return rs;
}

struct snapshot *
snapshot_rbd_prepare(const char *ceph_conf, const char *client_id,
		     const struct snap_rbd_image *imgs, size_t n,
		     const char *state_dir, uint64_t base_point)
{
	/* not resumable: its snapshots are taken later, in the caller's window */
	return (struct snapshot *)rbd_prepare(ceph_conf, client_id, imgs, n, state_dir,
					      base_point, 0);
}

struct rbd_snapshot *
rbd_snapshot_of(struct snapshot *snap)
{
	return snap && snap->ops == &rbd_ops ? (struct rbd_snapshot *)snap : NULL;
}

int
snapshot_rbd_take(struct snapshot *snap)
{
	struct rbd_snapshot *rs = rbd_snapshot_of(snap);
	struct timespec ts;

	if (!rs || rs->taken) {
		log_error("snapshot: rbd take on a snapshot not freshly prepared");
		return -1;
	}
	rs->taken = 1;
	if (rs->base.resumable) {
		if (sym_rbd_snap_get_timestamp(rs->d[0].wimg, rs->d[0].snap_id, &ts) < 0)
			rs->base.time_ns = clock_now_ns();
		else
			rs->base.time_ns = (uint64_t)ts.tv_sec * 1000000000ull +
					   (uint64_t)ts.tv_nsec;
		log_info("snapshot: resuming the interrupted attempt with its "
			 "snapshots %s", rs->d[0].snap_name);
	} else {
		rs->base.time_ns = clock_now_ns();
		if (rbd_create_snaps(rs) < 0)
			return -1;
	}
	return 0;
}

int
snapshot_rbd_finish(struct snapshot *snap)
{
	struct rbd_snapshot *rs = rbd_snapshot_of(snap);

	if (!rs || !rs->taken || rs->finished) {
		log_error("snapshot: rbd finish without a take");
		return -1;
	}
	rs->finished = 1;
	for (size_t i = 0; i < rs->base.ndisks && !rs->base.resumable; i++)
		if (rbd_attempt_save(&rs->d[i], rs->base_point) < 0)
			return -1;
	for (size_t i = 0; i < rs->base.ndisks; i++) {
		if (rbd_open_snap(&rs->d[i]) < 0)
			return -1;
		rs->base.disks[i].size = rs->d[i].size;
	}
	return 0;
}

struct snapshot *
snapshot_rbd_begin(const char *ceph_conf, const char *client_id,
		   const struct snap_rbd_image *imgs, size_t n,
		   const char *state_dir, uint64_t base_point)
{
	struct rbd_snapshot *rs = rbd_prepare(ceph_conf, client_id, imgs, n,
					      state_dir, base_point, 1);

	if (!rs)
		return NULL;
	if (snapshot_rbd_take(&rs->base) < 0 || snapshot_rbd_finish(&rs->base) < 0) {
		snapshot_free(&rs->base);
		return NULL;
	}
	return &rs->base;
}

/* One read of the disk's new snapshot (a struct rbd_disk); librbd image
 * handles take concurrent I/O from several threads. */
static ssize_t
rbd_read_piece(void *arg, uint64_t offset, void *buf, size_t n)
{
	struct rbd_disk *d = arg;
	ssize_t r = sym_rbd_read2(d->rimg, offset, n, buf, 0);

	if (r <= 0) {
		errno = r < 0 ? (int)-r : ENODATA;
		log_error("disk %s: %s/%s@%s: read of %zu bytes at %" PRIu64 ": %m", d->name,
			  d->pool, d->image, d->snap_name, n, offset);
		return -1;
	}
	return r;
}

static int
rbd_read_op(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	    size_t len)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;

	return snapshot_read_pieces(offset, buf, len, RBD_READ_MAX, rbd_read_piece, &rs->d[disk]);
}

/* ---- commit / abort ----------------------------------------------------------- */

static int
rbd_commit(struct snapshot *snap, uint64_t point_id)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct rbd_disk *d = &rs->d[i];
		char old[32];

		sym_rbd_close(d->rimg);
		d->rimg = NULL;
		/* The state names the new base before the old one goes: a
		 * crash in between leaves a stray that the next begin prunes. */
		if (rbd_state_save(d, point_id) < 0) {
			log_error("disk %s: commit of point %" PRIu64 " failed",
				  d->name, point_id);
			return -1;
		}
		d->committed = 1;
		d->created = 0;
		srcstate_remove(d->name, d->attempt_path);
		if (d->have_state && d->st_gen != d->gen &&
		    rbd_snap_find(d, d->st_gen)) {
			rbd_snap_name(old, sizeof(old), d->st_gen);
			if (rbd_snap_rm(d, old) < 0)
				log_warn("disk %s: old base %s kept; removed next "
					 "time", d->name, old);
		}
	}
	log_debug("snapshot: committed point %" PRIu64 " (%zu rbd disks)",
		  point_id, snap->ndisks);
	return 0;
}

static void
rbd_free(struct snapshot *snap)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct rbd_disk *d = &rs->d[i];

		if (d->rimg)
			sym_rbd_close(d->rimg);
		if (d->created && !d->committed && d->wimg) {
			/* Abort: the old base stays the base. */
			if (rbd_snap_rm(d, d->snap_name) == 0)
				srcstate_remove(d->name, d->attempt_path);
		}
		if (d->wimg)
			sym_rbd_close(d->wimg);
		if (d->io)
			sym_rados_ioctx_destroy(d->io);
		free(d->pool);
		free(d->image);
		free(d->state_path);
		free(d->attempt_path);
		free(d->snaps);
		json_decref(d->st);
		json_decref(d->at);
		free(d->coarse.v);
		free(d->fine.v);
	}
	if (rs->cluster)
		sym_rados_shutdown(rs->cluster);
	free(rs);
}

SNAPSHOT_OPS(rbd_ops, "rbd", rbd_next_extent, rbd_read_op, rbd_commit, rbd_free);
