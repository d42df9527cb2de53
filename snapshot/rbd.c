/* "rbd" change source: Ceph RBD images. Each point is an rbd snapshot
 * nestor-<n>; changes since the base come from rbd_diff_iterate2. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/ceph-dl.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "snapshot/rbd.h"
#include "snapshot/coalesce.h"
#include "snapshot/source.h"

#define RBD_SNAP_PREFIX   "nestor-"
#define RBD_STATE_VER     1
#define RBD_STATE_MAX     (64u * 1024)   /* state / attempt JSON size cap */
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
	char *st_pool, *st_image, *st_image_id;

	/* interrupted attempt (have_attempt = 0: none or unusable) */
	int have_attempt, at_incremental;
	uint64_t at_base_point, at_base_snap_id, at_gen, at_snap_id;
	char *at_image_id;

	/* the new snapshot */
	uint64_t gen, snap_id;
	char snap_name[32], base_name[32];
	int created; /* ours to remove on abort */
	int fast;    /* object map usable for the whole-object pass */

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

static const struct snapshot_ops rbd_ops;

static void
rbd_snap_name(char *buf, size_t len, uint64_t gen)
{
	snprintf(buf, len, RBD_SNAP_PREFIX "%" PRIu64, gen);
}

/* ---- state and attempt files ------------------------------------------- */

static int
rbd_json_u64(json_t *root, const char *key, uint64_t *out)
{
	const char *s = json_string_value(json_object_get(root, key));

	/* Kept as text: JSON integers are signed 64-bit. */
	return s && parse_u64(s, out) == 0 ? 0 : -1;
}

static int
rbd_json_set_u64(json_t *root, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_set_new(root, key, json_string(buf));
}

/* Loads a small JSON file; 1 with *root, 0 if missing or unreadable
 * (logged as a warning: the caller falls back to a full copy), -1. */
static int
rbd_json_load(struct rbd_disk *d, const char *path, json_t **root)
{
	void *data = NULL;
	size_t len = 0;
	json_error_t jerr;

	*root = NULL;
	if (access(path, F_OK) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("disk %s: %s: %m", d->name, path);
		return -1;
	}
	if (file_read_all(path, RBD_STATE_MAX, &data, &len) < 0)
		return -1;
	*root = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!*root || !json_is_object(*root)) {
		log_warn("disk %s: %s: unreadable (%s), ignoring it", d->name, path,
			 *root ? "not an object" : jerr.text);
		json_decref(*root);
		*root = NULL;
		return 0;
	}
	return 1;
}

static int
rbd_state_load(struct rbd_disk *d)
{
	json_t *root = NULL;
	const char *pool, *image, *id, *src;
	int r;

	d->have_state = 0;
	r = rbd_json_load(d, d->state_path, &root);
	if (r <= 0)
		return r;
	src = json_string_value(json_object_get(root, "source"));
	pool = json_string_value(json_object_get(root, "pool"));
	image = json_string_value(json_object_get(root, "image"));
	id = json_string_value(json_object_get(root, "image_id"));
	if (json_integer_value(json_object_get(root, "version")) != RBD_STATE_VER ||
	    !src || strcmp(src, "rbd") != 0 || !pool || !image || !id ||
	    rbd_json_u64(root, "point", &d->st_point) < 0 ||
	    rbd_json_u64(root, "gen", &d->st_gen) < 0 || d->st_gen == 0 ||
	    rbd_json_u64(root, "snap_id", &d->st_snap_id) < 0 ||
	    rbd_json_u64(root, "size", &d->st_size) < 0) {
		log_warn("disk %s: %s: state is malformed or not an rbd state, "
			 "ignoring it", d->name, d->state_path);
		json_decref(root);
		return 0;
	}
	d->st_pool = strdup(pool);
	d->st_image = strdup(image);
	d->st_image_id = strdup(id);
	json_decref(root);
	if (!d->st_pool || !d->st_image || !d->st_image_id) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	d->have_state = 1;
	return 0;
}

static int
rbd_state_save(struct rbd_disk *d, uint64_t point)
{
	json_t *root = NULL;
	char *txt = NULL;
	int ret = -1;

	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "version", RBD_STATE_VER,
			 "source", "rbd", "pool", d->pool, "image", d->image,
			 "image_id", d->image_id, "snap", d->snap_name);
	if (!root || rbd_json_set_u64(root, "point", point) < 0 ||
	    rbd_json_set_u64(root, "gen", d->gen) < 0 ||
	    rbd_json_set_u64(root, "snap_id", d->snap_id) < 0 ||
	    rbd_json_set_u64(root, "size", d->size) < 0) {
		log_error("disk %s: cannot build state", d->name);
		goto out;
	}
	txt = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!txt) {
		log_error("disk %s: cannot serialise state", d->name);
		goto out;
	}
	if (file_write_atomic(d->state_path, txt, strlen(txt), 0600) < 0)
		goto out;
	ret = 0;
out:
	free(txt);
	json_decref(root);
	return ret;
}

/* The attempt file names the snapshot begun but not yet committed and what
 * it was taken against: a later begin against the same base may reuse it
 * (an rbd snapshot never changes, so what the receiver holds from that
 * attempt is still right). */
static int
rbd_attempt_load(struct rbd_disk *d)
{
	json_t *root = NULL;
	const char *id;
	int r;

	d->have_attempt = 0;
	r = rbd_json_load(d, d->attempt_path, &root);
	if (r <= 0)
		return r;
	id = json_string_value(json_object_get(root, "image_id"));
	if (json_integer_value(json_object_get(root, "version")) != RBD_STATE_VER ||
	    !id || !json_is_boolean(json_object_get(root, "incremental")) ||
	    rbd_json_u64(root, "base_point", &d->at_base_point) < 0 ||
	    rbd_json_u64(root, "base_snap_id", &d->at_base_snap_id) < 0 ||
	    rbd_json_u64(root, "gen", &d->at_gen) < 0 ||
	    rbd_json_u64(root, "snap_id", &d->at_snap_id) < 0) {
		log_warn("disk %s: %s: malformed, ignoring it", d->name,
			 d->attempt_path);
		json_decref(root);
		return 0;
	}
	d->at_incremental = json_is_true(json_object_get(root, "incremental"));
	d->at_image_id = strdup(id);
	json_decref(root);
	if (!d->at_image_id) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	d->have_attempt = 1;
	return 0;
}

static int
rbd_attempt_save(struct rbd_disk *d, uint64_t base_point)
{
	json_t *root = NULL;
	char *txt = NULL;
	int ret = -1;

	root = json_pack("{s:i, s:s, s:b}", "version", RBD_STATE_VER,
			 "image_id", d->image_id, "incremental", d->incremental);
	if (!root || rbd_json_set_u64(root, "base_point", base_point) < 0 ||
	    rbd_json_set_u64(root, "base_snap_id",
			     d->incremental ? d->st_snap_id : 0) < 0 ||
	    rbd_json_set_u64(root, "gen", d->gen) < 0 ||
	    rbd_json_set_u64(root, "snap_id", d->snap_id) < 0 ||
	    !(txt = json_dumps(root, JSON_SORT_KEYS))) {
		log_error("disk %s: cannot build attempt record", d->name);
		goto out;
	}
	if (file_write_atomic(d->attempt_path, txt, strlen(txt), 0600) < 0)
		goto out;
	ret = 0;
out:
	free(txt);
	json_decref(root);
	return ret;
}

static void
rbd_attempt_remove(struct rbd_disk *d)
{
	if (unlink(d->attempt_path) < 0 && errno != ENOENT)
		log_warn("disk %s: %s: unlink: %m", d->name, d->attempt_path);
}

/* ---- snapshots ------------------------------------------------------------ */

/* Lists the nestor-<gen> snapshots of the image head. */
static int
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

static struct rbd_snapinfo *
rbd_snap_find(struct rbd_disk *d, uint64_t gen)
{
	for (size_t i = 0; gen && i < d->nsnaps; i++)
		if (d->snaps[i].gen == gen)
			return &d->snaps[i];
	return NULL;
}

static int
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
static void
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

/* ---- begin ------------------------------------------------------------------ */

/* Decides (without changing anything) whether this disk can be incremental. */
static void
rbd_decide(struct rbd_disk *d, uint64_t base_point)
{
	struct rbd_snapinfo *b;

	d->incremental = 0;
	if (!d->have_state) {
		d->full_reason = "first run (no committed state)";
		return;
	}
	if (base_point == 0 || d->st_point != base_point) {
		d->full_reason = "base mismatch (receiver's point is not the "
				 "committed one)";
		return;
	}
	if (strcmp(d->st_pool, d->pool) != 0 || strcmp(d->st_image, d->image) != 0) {
		d->full_reason = "the disk now names another image";
		return;
	}
	if (strcmp(d->st_image_id, d->image_id) != 0) {
		snprintf(d->reason_buf, sizeof(d->reason_buf),
			 "image was recreated (id %s, base taken on id %s)",
			 d->image_id, d->st_image_id);
		d->full_reason = d->reason_buf;
		return;
	}
	b = rbd_snap_find(d, d->st_gen);
	if (!b || b->id != d->st_snap_id) {
		snprintf(d->reason_buf, sizeof(d->reason_buf),
			 "base snapshot " RBD_SNAP_PREFIX "%" PRIu64 " is %s",
			 d->st_gen, b ? "another snapshot (recreated)" : "missing");
		d->full_reason = d->reason_buf;
		return;
	}
	if (b->size != d->st_size || d->head_size != d->st_size) {
		d->full_reason = "size changed";
		return;
	}
	rbd_snap_name(d->base_name, sizeof(d->base_name), d->st_gen);
	d->incremental = 1;
}

/* 1 if the interrupted attempt's snapshot can stand for this attempt. */
static int
rbd_attempt_matches(struct rbd_disk *d, uint64_t base_point)
{
	struct rbd_snapinfo *s;

	if (!d->have_attempt || d->at_base_point != base_point ||
	    d->at_incremental != d->incremental ||
	    strcmp(d->at_image_id, d->image_id) != 0 ||
	    (d->incremental && d->at_base_snap_id != d->st_snap_id))
		return 0;
	s = rbd_snap_find(d, d->at_gen);
	if (!s || s->id != d->at_snap_id ||
	    (d->incremental && (s->size != d->st_size || s->gen <= d->st_gen)))
		return 0;
	return 1;
}

static int
rbd_disk_init(struct rbd_snapshot *rs, size_t i, const struct snap_rbd_image *in,
	      const char *state_dir)
{
	struct rbd_disk *d = &rs->d[i];
	rbd_image_info_t info;
	size_t nlen;
	int r;

	if (!in->name || !name_valid(in->name, strlen(in->name)) ||
	    (nlen = strlen(in->name)) >= sizeof(rs->base.disks[i].name)) {
		log_error("snapshot: rbd disk %zu: invalid disk name", i);
		return -1;
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(rs->base.disks[j].name, in->name) == 0) {
			log_error("snapshot: disk %s: listed twice", in->name);
			return -1;
		}
	memcpy(rs->base.disks[i].name, in->name, nlen + 1);
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

/* Creates the new snapshot of every disk back to back, so they cover one
 * instant as closely as librbd allows. */
static int
rbd_create_snaps(struct rbd_snapshot *rs)
{
	struct timespec t0, t1;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
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
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("snapshot: %zu rbd snapshots within %.1f ms", rs->base.ndisks,
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		  (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
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
static int
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

/* Connects, inspects every disk and decides; without reuse, also clears
 * what interrupted attempts left, so that take only creates snapshots. */
static struct rbd_snapshot *
rbd_prepare(const char *ceph_conf, const char *client_id,
	    const struct snap_rbd_image *imgs, size_t n, const char *state_dir,
	    uint64_t base_point, int allow_reuse)
{
	struct rbd_snapshot *rs = NULL;
	int incremental = 1, reuse = allow_reuse, ok = 0, r;
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
	rs->base_point = base_point;
	if (mkdir_p(state_dir, 0700) < 0)
		goto out;
	r = sym_rados_create(&rs->cluster, client_id);
	if (r < 0) {
		errno = -r;
		log_error("snapshot: rados client %s: %m", client_id ? client_id : "admin");
		goto out;
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
		goto out;
	}
	rs->connected = 1;

	/* Inspect every disk first: the group is incremental only if every
	 * disk is, since the receiver starts all disks afresh for a full copy. */
	for (size_t i = 0; i < n; i++) {
		rs->base.ndisks = i + 1;
		if (rbd_disk_init(rs, i, &imgs[i], state_dir) < 0)
			goto out;
		rbd_decide(&rs->d[i], base_point);
		incremental &= rs->d[i].incremental;
	}
	for (size_t i = 0; i < n; i++) {
		struct rbd_disk *d = &rs->d[i];

		if (!incremental && d->incremental) {
			d->incremental = 0;
			d->full_reason = "another disk of the group needs a full copy";
		}
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
	for (size_t i = 0; i < n; i++) {
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
			rbd_attempt_remove(d);
			d->gen = gen + 1;
		}
		rbd_snap_name(d->snap_name, sizeof(d->snap_name), d->gen);
		rbd_snaps_prune(d, reuse ? d->gen : 0);
	}
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
	struct rbd_snapshot *rs = rbd_prepare(ceph_conf, client_id, imgs, n,
					      state_dir, base_point, 0);

	return rs ? &rs->base : NULL;
}

static struct rbd_snapshot *
rbd_of(struct snapshot *snap)
{
	return snap && snap->ops == &rbd_ops ? (struct rbd_snapshot *)snap : NULL;
}

int
snapshot_rbd_take(struct snapshot *snap)
{
	struct rbd_snapshot *rs = rbd_of(snap);
	struct timespec ts;

	if (!rs || rs->taken) {
		log_error("snapshot: rbd take on a snapshot not freshly prepared");
		return -1;
	}
	rs->taken = 1;
	if (rs->base.resumable) {
		if (sym_rbd_snap_get_timestamp(rs->d[0].wimg, rs->d[0].snap_id, &ts) < 0)
			clock_gettime(CLOCK_REALTIME, &ts);
		log_info("snapshot: resuming the interrupted attempt with its "
			 "snapshots %s", rs->d[0].snap_name);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (rbd_create_snaps(rs) < 0)
			return -1;
	}
	rs->base.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

int
snapshot_rbd_finish(struct snapshot *snap)
{
	struct rbd_snapshot *rs = rbd_of(snap);

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

/* ---- extents ------------------------------------------------------------------ */

static int
rbd_span_cmp(const void *a, const void *b)
{
	const struct rbd_span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* rbd_diff_iterate2 callback. Extents come in offset order with the default
 * striping; fancy striping may break that, which the caller sorts out. */
static int
rbd_span_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct rbd_spans *s = arg;
	struct rbd_span *last = s->n ? &s->v[s->n - 1] : NULL;
	int kind = exists ? SNAP_DATA : SNAP_ZERO;
	uint64_t end;

	if (__builtin_add_overflow(off, (uint64_t)len, &end))
		return -ERANGE;
	if (off < s->lo)
		off = s->lo;
	if (end > s->hi)
		end = s->hi;
	if (end <= off)
		return 0;
	if (last && off < last->off + last->len)
		s->unsorted = 1;
	if (last && !s->unsorted && last->kind == kind &&
	    last->off + last->len == off) {
		last->len = end - last->off;
		return 0;
	}
	if (s->n == s->max) {
		/* Bounded memory: one data span over everything so far. */
		uint64_t lo = off, hi = end;

		for (size_t i = 0; i < s->n; i++) {
			if (s->v[i].off < lo)
				lo = s->v[i].off;
			if (s->v[i].off + s->v[i].len > hi)
				hi = s->v[i].off + s->v[i].len;
		}
		s->v[0] = (struct rbd_span){ lo, hi - lo, SNAP_DATA };
		s->n = 1;
		s->unsorted = 0;
		return 0;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct rbd_span *nv;

		if (ncap > s->max)
			ncap = s->max;
		nv = realloc(s->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = (struct rbd_span){ off, end - off, kind };
	return 0;
}

/* After an out-of-order diff: sort and merge; overlaps of different kinds
 * become data (read from the snapshot, so right either way). */
static void
rbd_spans_normalise(struct rbd_spans *s)
{
	size_t w = 0;

	if (!s->unsorted || s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(*s->v), rbd_span_cmp);
	for (size_t i = 1; i < s->n; i++) {
		struct rbd_span *p = &s->v[w], *c = &s->v[i];
		uint64_t pend = p->off + p->len, cend = c->off + c->len;

		if (c->off < pend || (c->off == pend && c->kind == p->kind)) {
			if (c->off < pend && c->kind != p->kind)
				p->kind = SNAP_DATA;
			if (cend > pend)
				p->len = cend - p->off;
		} else {
			s->v[++w] = *c;
		}
	}
	s->n = w + 1;
	s->unsorted = 0;
}

static int
rbd_diff(struct rbd_disk *d, struct rbd_spans *s, uint64_t off, uint64_t len,
	 int whole_object)
{
	int r;

	s->n = s->i = 0;
	s->unsorted = 0;
	s->lo = off;
	s->hi = off + len;
	r = sym_rbd_diff_iterate2(d->rimg, d->incremental ? d->base_name : NULL, off,
			      len, 1, (uint8_t)whole_object, rbd_span_cb, s);
	if (r < 0) {
		errno = -r;
		log_error("disk %s: %s/%s: diff %s..%s at %" PRIu64 "+%" PRIu64
			  ": %m", d->name, d->pool, d->image,
			  d->incremental ? d->base_name : "(none)", d->snap_name,
			  off, len);
		return -1;
	}
	rbd_spans_normalise(s);
	return 0;
}

/* Produces the next batch of exact spans in d->fine. 1 if it made progress
 * (the batch may be empty), 0 at the end of the disk, -1 on error. */
static int
rbd_fill(struct rbd_disk *d)
{
	struct rbd_span *run;
	uint64_t len;

	d->fine.n = d->fine.i = 0;
	if (d->coarse.i == d->coarse.n) {
		if (d->pos >= d->size)
			return 0;
		if (d->fast) {
			/* Whole objects from the object maps: cheap, and it
			 * keeps the exact pass off objects that did not change. */
			len = d->obj_size * RBD_COARSE_OBJS;
			if (len > d->size - d->pos)
				len = d->size - d->pos;
			if (rbd_diff(d, &d->coarse, d->pos, len, 1) < 0)
				return -1;
		} else {
			len = d->size - d->pos < RBD_FINE_MAX ? d->size - d->pos
							     : RBD_FINE_MAX;
			d->coarse.v[0] = (struct rbd_span){ d->pos, len, SNAP_DATA };
			d->coarse.n = 1;
			d->coarse.i = 0;
		}
		d->pos += len;
		return 1;
	}
	run = &d->coarse.v[d->coarse.i];
	if (run->kind == SNAP_ZERO) {
		/* The object is gone from the snapshot: all of it reads as
		 * zeros now. */
		d->coarse.i++;
		d->fine.v[0] = *run;
		d->fine.n = 1;
		return 1;
	}
	len = run->len < RBD_FINE_MAX ? run->len : RBD_FINE_MAX;
	if (rbd_diff(d, &d->fine, run->off, len, 0) < 0)
		return -1;
	run->off += len;
	run->len -= len;
	if (run->len == 0)
		d->coarse.i++;
	return 1;
}

static int
rbd_next_span(struct rbd_disk *d, struct rbd_span *sp)
{
	int r;

	while (d->fine.i == d->fine.n) {
		r = rbd_fill(d);
		if (r <= 0)
			return r;
	}
	*sp = d->fine.v[d->fine.i++];
	return 1;
}

static int
rbd_coalesce_cb(void *arg, struct snap_extent *sp)
{
	struct rbd_span rsp;
	int r = rbd_next_span(arg, &rsp);

	if (r == 1)
		*sp = (struct snap_extent){ rsp.off, rsp.len, rsp.kind };
	return r;
}

static int
rbd_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		struct snap_extent *ext)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;

	return coalesce_next(&rs->d[disk].pending, max_len, rbd_coalesce_cb, &rs->d[disk], ext);
}

static int
rbd_read_op(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	    size_t len)
{
	struct rbd_snapshot *rs = (struct rbd_snapshot *)snap;
	struct rbd_disk *d = &rs->d[disk];
	char *p = buf;

	/* librbd image handles take concurrent I/O from several threads. */
	while (len > 0) {
		size_t n = len < RBD_READ_MAX ? len : RBD_READ_MAX;
		ssize_t r = sym_rbd_read2(d->rimg, offset, n, p, 0);

		if (r <= 0) {
			errno = r < 0 ? (int)-r : ENODATA;
			log_error("disk %s: %s/%s@%s: read of %zu bytes at %" PRIu64
				  ": %m", d->name, d->pool, d->image, d->snap_name,
				  n, offset);
			return -1;
		}
		offset += (uint64_t)r;
		p += r;
		len -= (size_t)r;
	}
	return 0;
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
		rbd_attempt_remove(d);
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
				rbd_attempt_remove(d);
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
		free(d->st_pool);
		free(d->st_image);
		free(d->st_image_id);
		free(d->at_image_id);
		free(d->coarse.v);
		free(d->fine.v);
	}
	if (rs->cluster)
		sym_rados_shutdown(rs->cluster);
	free(rs);
}

static const struct snapshot_ops rbd_ops = {
	.name = "rbd",
	.next_extent = rbd_next_extent,
	.read = rbd_read_op,
	.commit = rbd_commit,
	.free = rbd_free,
};
