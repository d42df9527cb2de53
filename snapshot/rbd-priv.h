/* Inside the "rbd" change source: its private structs and the steps its
 * files share (rbd.c: begin, reads, commit; rbd-state.c: the per-disk state
 * and attempt records and the incremental decision; rbd-snaps.c: the
 * nestor-<n> snapshots; rbd-diff.c: the changed extents). Not for use
 * outside snapshot/rbd*.c. */
#ifndef NESTOR_SNAPSHOT_RBD_PRIV_H
#define NESTOR_SNAPSHOT_RBD_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/ceph-dl.h"
#include "snapshot/source.h"

#define RBD_SNAP_PREFIX   "nestor-"
#define RBD_STATE_VER     1
#define RBD_NAME_MAX      1024           /* pool / image name length cap */
#define RBD_COARSE_OBJS   1024           /* objects per whole-object window */
#define RBD_FINE_MAX      (64ull << 20)  /* range of one exact diff call */
#define RBD_SPANS_MAX     65536          /* spans kept per exact diff call */
#define RBD_READ_MAX      (64u << 20)    /* bytes per rbd_read2 call */

/* A classified range: SNAP_DATA or SNAP_ZERO. */
struct rbd_span {
	uint64_t off, len;
	int kind;
};

/* Spans collected by one rbd_diff_iterate2 call, clipped to [lo, hi). At
 * most max are kept: beyond that, ranges are folded into one data span,
 * which is always right because reads come from the snapshot itself. */
struct rbd_spans {
	struct rbd_span *v;
	size_t n, i, cap, max;
	uint64_t lo, hi;
	int unsorted;
};

/* A nestor-<gen> snapshot found on an image. */
struct rbd_snapinfo {
	uint64_t gen, id, size;
};

struct rbd_disk {
	const char *name; /* points into snap->base.disks[] */
	char *pool, *image, *state_path, *attempt_path;
	rados_ioctx_t io;
	rbd_image_t wimg; /* head: snapshot create / remove */
	rbd_image_t rimg; /* read-only at the new snapshot: diffs and reads */
	char image_id[64];
	uint64_t head_size, size, obj_size;
	struct rbd_snapinfo *snaps;
	size_t nsnaps;
	int incremental;
	const char *full_reason;
	char reason_buf[160];

	/* committed state (have_state = 0: none or unusable) */
	int have_state;
	uint64_t st_point, st_gen, st_snap_id, st_size;
	const char *st_pool, *st_image, *st_image_id; /* in st */
	json_t *st;

	/* interrupted attempt (have_attempt = 0: none or unusable) */
	int have_attempt, at_incremental;
	uint64_t at_base_point, at_base_snap_id, at_gen, at_snap_id;
	const char *at_image_id; /* in at */
	json_t *at;

	/* the new snapshot */
	uint64_t gen, snap_id;
	char snap_name[32], base_name[32];
	int created; /* ours to remove on abort */
	int fast;    /* object map usable for the whole-object pass */
	int own;     /* diffs list the image's own extents (snapshot_rbd_own_ranges) */

	/* extent iterator */
	uint64_t pos; /* next whole-object window */
	struct rbd_spans coarse, fine;
	struct snap_extent pending;
	int committed;
};

struct rbd_snapshot {
	struct snapshot base; /* first: the generic code casts */
	struct rbd_disk d[SNAP_MAX_DISKS];
	rados_t cluster;
	uint64_t base_point;
	int connected;
	int taken, finished; /* snapshot_rbd_take / _finish done */
};

/* rbd-state.c: state_dir/<disk>.json and <disk>.attempt. Load: 0 (missing
 * or unusable records are none), -1 on error; save: 0 / -1 (logged). */
int rbd_state_load(struct rbd_disk *d);
int rbd_state_save(struct rbd_disk *d, uint64_t point);
int rbd_attempt_load(struct rbd_disk *d);
int rbd_attempt_save(struct rbd_disk *d, uint64_t base_point);
/* srcstate_decide's check of a struct rbd_disk: why it needs a full copy
 * (static storage or d->reason_buf), NULL when it may be incremental (then
 * d->base_name names the base snapshot). */
const char *rbd_full_reason(void *disk);
/* 1 if the interrupted attempt may be reused at base_point. */
int rbd_attempt_matches(struct rbd_disk *d, uint64_t base_point);

/* rbd-snaps.c */
void rbd_snap_name(char *buf, size_t len, uint64_t gen);
/* Lists the nestor-<gen> snapshots of d's image head into d->snaps. */
int rbd_snaps_list(struct rbd_disk *d);
struct rbd_snapinfo *rbd_snap_find(struct rbd_disk *d, uint64_t gen);
int rbd_snap_rm(struct rbd_disk *d, const char *snap);
/* Removes every nestor-* snapshot but the base and keep_gen. */
void rbd_snaps_prune(struct rbd_disk *d, uint64_t keep_gen);
/* Creates every disk's new snapshot back to back. 0 / -1. */
int rbd_create_snaps(struct rbd_snapshot *rs);
/* Opens d's new snapshot read-only for diffs and reads. 0 / -1. */
int rbd_open_snap(struct rbd_disk *d);

/* rbd.c: snap as the rbd source's, NULL when it is another source's. */
struct rbd_snapshot *rbd_snapshot_of(struct snapshot *snap);

/* rbd-diff.c: the ops' next_extent. */
int rbd_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		    struct snap_extent *ext);

#endif
