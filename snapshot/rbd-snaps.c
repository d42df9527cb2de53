/* The rbd source's snapshots: nestor-<gen> on every image, listed,
 * created back to back, opened read-only, pruned. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "snapshot/rbd-priv.h"

void
rbd_snap_name(char *buf, size_t len, uint64_t gen)
{
	snprintf(buf, len, RBD_SNAP_PREFIX "%" PRIu64, gen);
}

/* Lists the nestor-<gen> snapshots of the image head. */
int
rbd_snaps_list(struct rbd_disk *d)
{
	rbd_snap_info_t *v = NULL;
	int max = 16, n, ret = -1;

	free(d->snaps);
	d->snaps = NULL;
	d->nsnaps = 0;
	for (;;) {
		free(v);
		v = calloc((size_t)max, sizeof(*v));
		if (!v) {
			log_error("disk %s: out of memory", d->name);
			return -1;
		}
		n = sym_rbd_snap_list(d->wimg, v, &max);
		if (n != -ERANGE)
			break;
		if (max <= 0 || max > 1 << 20) {
			log_error("disk %s: %s/%s: implausible snapshot count %d",
				  d->name, d->pool, d->image, max);
			goto out_free;
		}
	}
	if (n < 0) {
		errno = -n;
		log_error("disk %s: %s/%s: cannot list snapshots: %m", d->name,
			  d->pool, d->image);
		goto out_free;
	}
	d->snaps = calloc((size_t)n + 1, sizeof(*d->snaps));
	if (!d->snaps) {
		log_error("disk %s: out of memory", d->name);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint64_t gen;

		if (!v[i].name || strncmp(v[i].name, RBD_SNAP_PREFIX,
					  strlen(RBD_SNAP_PREFIX)) != 0 ||
		    parse_u64(v[i].name + strlen(RBD_SNAP_PREFIX), &gen) < 0 ||
		    gen == 0)
			continue; /* somebody else's snapshot */
		d->snaps[d->nsnaps++] = (struct rbd_snapinfo){ gen, v[i].id,
							       v[i].size };
	}
	ret = 0;
out:
	sym_rbd_snap_list_end(v);
out_free:
	free(v);
	return ret;
}

struct rbd_snapinfo *
rbd_snap_find(struct rbd_disk *d, uint64_t gen)
{
	for (size_t i = 0; gen && i < d->nsnaps; i++)
		if (d->snaps[i].gen == gen)
			return &d->snaps[i];
	return NULL;
}

int
rbd_snap_rm(struct rbd_disk *d, const char *snap)
{
	int r = sym_rbd_snap_remove(d->wimg, snap);

	if (r < 0 && r != -ENOENT) {
		errno = -r;
		log_warn("disk %s: %s/%s: cannot remove snapshot %s: %m", d->name,
			 d->pool, d->image, snap);
		return -1;
	}
	return 0;
}

/* Removes nestor-* snapshots other than the committed base and keep_gen:
 * leftovers of interrupted attempts or of a commit cut short. */
void
rbd_snaps_prune(struct rbd_disk *d, uint64_t keep_gen)
{
	char name[32];

	for (size_t i = 0; i < d->nsnaps; i++) {
		uint64_t g = d->snaps[i].gen;

		if ((d->have_state && g == d->st_gen) || g == keep_gen)
			continue;
		rbd_snap_name(name, sizeof(name), g);
		log_info("disk %s: %s/%s: removing stale snapshot %s", d->name,
			 d->pool, d->image, name);
		(void)rbd_snap_rm(d, name);
	}
}

/* Creates the new snapshot of every disk back to back, so they cover one
 * instant as closely as librbd allows. */
int
rbd_create_snaps(struct rbd_snapshot *rs)
{
	uint64_t t0 = clock_mono_ns();
	int r;

	for (size_t i = 0; i < rs->base.ndisks; i++) {
		struct rbd_disk *d = &rs->d[i];

		/* flags 0 without a progress callback crashes librbd 16.2; the
		 * guest-agent freeze, when there is one, is done by the caller. */
		r = sym_rbd_snap_create2(d->wimg, d->snap_name,
				     RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
		if (r < 0) {
			errno = -r;
			log_error("disk %s: %s/%s: cannot create snapshot %s: %m",
				  d->name, d->pool, d->image, d->snap_name);
			return -1;
		}
		d->created = 1;
	}
	log_debug("snapshot: %zu rbd snapshots within %.1f ms", rs->base.ndisks,
		  (double)(clock_mono_ns() - t0) / 1e6);
	for (size_t i = 0; i < rs->base.ndisks; i++) {
		struct rbd_disk *d = &rs->d[i];

		r = sym_rbd_snap_get_id(d->wimg, d->snap_name, &d->snap_id);
		if (r < 0) {
			errno = -r;
			log_error("disk %s: %s/%s: snapshot %s: %m", d->name,
				  d->pool, d->image, d->snap_name);
			return -1;
		}
	}
	return 0;
}

/* Whether the whole-object pass may trust the object map: fast-diff on and
 * valid on the new snapshot and (incremental) on the base. */
static int
rbd_fast_ok(struct rbd_disk *d)
{
	uint64_t features = 0, flags = 0;
	int r;

	if (sym_rbd_get_features(d->rimg, &features) < 0 ||
	    !(features & RBD_FEATURE_FAST_DIFF))
		return 0;
	if (sym_rbd_get_flags(d->rimg, &flags) < 0 ||
	    (flags & (RBD_FLAG_FAST_DIFF_INVALID | RBD_FLAG_OBJECT_MAP_INVALID)))
		return 0;
	if (!d->incremental)
		return 1;
	r = sym_rbd_snap_set(d->rimg, d->base_name);
	if (r == 0 && sym_rbd_get_flags(d->rimg, &flags) < 0)
		flags = RBD_FLAG_FAST_DIFF_INVALID;
	if (sym_rbd_snap_set(d->rimg, d->snap_name) < 0) {
		log_error("disk %s: %s/%s: cannot go back to snapshot %s", d->name,
			  d->pool, d->image, d->snap_name);
		return -1;
	}
	return r == 0 && !(flags & (RBD_FLAG_FAST_DIFF_INVALID |
				    RBD_FLAG_OBJECT_MAP_INVALID));
}

/* Opens the new snapshot for diffs and reads. */
int
rbd_open_snap(struct rbd_disk *d)
{
	int r;

	r = sym_rbd_open_read_only(d->io, d->image, &d->rimg, d->snap_name);
	if (r >= 0)
		r = sym_rbd_get_size(d->rimg, &d->size);
	if (r < 0) {
		errno = -r;
		log_error("disk %s: %s/%s@%s: cannot open snapshot: %m", d->name,
			  d->pool, d->image, d->snap_name);
		return -1;
	}
	if (d->incremental && d->size != d->st_size) {
		log_error("disk %s: %s/%s: resized while snapshotting", d->name,
			  d->pool, d->image);
		return -1;
	}
	r = rbd_fast_ok(d);
	if (r < 0)
		return -1;
	d->fast = r;
	if (!d->fast)
		log_info("disk %s: %s/%s: no valid fast-diff object map; listing "
			 "changes exactly (slower)", d->name, d->pool, d->image);
	d->coarse.max = RBD_COARSE_OBJS + 2;
	d->coarse.cap = d->coarse.max;
	d->coarse.v = calloc(d->coarse.cap, sizeof(*d->coarse.v));
	d->fine.max = RBD_SPANS_MAX;
	d->fine.cap = 256; /* grows up to max */
	d->fine.v = calloc(d->fine.cap, sizeof(*d->fine.v));
	if (!d->coarse.v || !d->fine.v) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	return 0;
}
