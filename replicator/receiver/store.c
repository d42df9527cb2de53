/* Replica store orchestration: opening, receiving a point (begin, writes
 * through the writer queue, checkpoints, commit) and progress. The
 * catalog lives in catalog.c, the data in a backend behind struct
 * store_backend_ops (store-local.c, store-ceph.c); reading committed
 * points is store-read.c, removing one store-remove.c, strays
 * store-sweep.c. */
#include "replicator/receiver/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/catlog.h"
#include "replicator/receiver/pointcons.h"
#include "replicator/receiver/history.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-busy.h"
#include "replicator/receiver/store-chain.h"
#include "replicator/receiver/store-hot.h"
#include "replicator/receiver/store-sums.h"
#include "replicator/receiver/store-sweep.h"
#include "replicator/receiver/store-writer.h"
#include "replicator/receiver/wbudget.h"

struct store_point {
	struct store *st;
	char group[STORE_NAME_MAX + 1];
	char *gdir;
	struct store_where w; /* group, gdir, id: for the backend */
	uint64_t id;
	uint64_t base_id;
	uint64_t time_ns;
	uint64_t received_ns; /* the receiver's clock at the first BEGIN */
	uint64_t bytes;
	size_t ndisks;
	int lock_fd; /* flock on <group>/lock: one writer per group */
	bool committed;
	struct store_wq *wq; /* started by the first queued write */
	struct store_sums *sums; /* per-extent checksums (store-sums.h) */
	struct store_disk disks[STORE_MAX_DISKS];
};

/* ---- store ------------------------------------------------------------------ */

struct store *
store_open(const char *root, const struct store_ceph_opts *ceph)
{
	return store_open_backend(root, ceph ? store_ceph_new(ceph) : store_local_new());
}

struct store *
store_open_backend(const char *root, struct store_backend *be)
{
	struct store *st = calloc(1, sizeof(*st));
	pthread_rwlockattr_t ra;
	struct stat sb;

	if (!st) {
		log_error("store: out of memory");
		if (be)
			be->ops->free(be);
		return NULL;
	}
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->readers, &ra);
	pthread_rwlockattr_destroy(&ra);
	st->be = be;
	st->busy = store_busy_new();
	st->sweep = store_sweep_new();
	st->hot = store_hot_new();
	if (!st->be || !st->busy || !st->sweep || !st->hot)
		goto fail;
	/* Absolute paths keep qemu from reading "x:" prefixes as protocols. */
	st->root = realpath(root, NULL);
	if (!st->root) {
		log_error("store: root %s: %m", root);
		goto fail;
	}
	if (stat(st->root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_error("store: root %s is not a directory", st->root);
		goto fail;
	}
	return st;
fail:
	store_free(st);
	return NULL;
}

void
store_free(struct store *st)
{
	if (!st)
		return;
	store_settle_stop(st);
	if (st->be)
		st->be->ops->free(st->be);
	free(st->root);
	store_busy_free(st->busy);
	store_sweep_free(st->sweep);
	store_hot_free(st->hot);
	pthread_rwlock_destroy(&st->readers);
	wbudget_free(st->wbufs);
	free(st);
}

void
store_set_limits(struct store *st, unsigned nbd_total, unsigned disks_busy)
{
	st->be->max_nbd = nbd_total;
	st->max_disks_busy = disks_busy;
}

const char *
store_root(const struct store *st)
{
	return st->root;
}

/* The group's catalog for a reader (shared with the cache: no copy of its
 * points; in a new process, from catalog.idx: catalog_load_listing). */
static int
load_catalog(struct store *st, const char *group, struct catalog *cat, bool refresh)
{
	char *gdir = store_group_dir(st, group);
	int rc = gdir ? catalog_load_listing(gdir, cat, refresh) : -1;

	free(gdir);
	return rc;
}

void
store_index_refresh(struct store *st, const char *group)
{
	struct catalog cat = { 0 };

	(void)load_catalog(st, group, &cat, true);
	catalog_free(&cat);
}

int
store_list_points(struct store *st, const char *group, struct store_point_info **out,
		  size_t *n)
{
	struct catalog cat = { 0 };
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (load_catalog(st, group, &cat, false) == 0)
		rc = catalog_export(&cat, out, n);
	catalog_free(&cat);
	return rc;
}

int
store_last_point(struct store *st, const char *group, uint64_t *id)
{
	struct catalog cat = { 0 };

	*id = 0;
	if (load_catalog(st, group, &cat, false) < 0)
		return -1;
	*id = catalog_last(&cat);
	catalog_free(&cat);
	return 0;
}

int
store_point_exists(struct store *st, const char *group, uint64_t point)
{
	struct catalog cat = { 0 };
	int found;

	if (load_catalog(st, group, &cat, false) < 0)
		return -1;
	found = catalog_has(&cat, point);
	catalog_free(&cat);
	return found;
}

int
store_progress(struct store *st, const char *group, struct store_progress *out)
{
	struct catalog cat = { 0 };
	struct pending *pd = NULL;
	char *gdir = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	gdir = store_group_dir(st, group);
	if (!gdir || catalog_load(gdir, &cat) < 0)
		goto out;
	snprintf(out->group, sizeof(out->group), "%s", group);
	out->last_point = catalog_last(&cat);
	pd = malloc(sizeof(*pd));
	if (!pd) {
		log_error("store: out of memory");
		goto out;
	}
	/* A pending.json at or below the last point is left over from a commit
	 * interrupted after the catalog rename. */
	if (pending_load(gdir, pd) == 0 && pd->point > out->last_point) {
		out->pending_point = pd->point;
		out->pending_base = pd->base;
		out->ndisks = pd->ndisks;
		for (size_t i = 0; i < pd->ndisks; i++) {
			snprintf(out->disks[i].name, sizeof(out->disks[i].name), "%s",
				 pd->disks[i].name);
			out->disks[i].durable_offset = pd->disks[i].durable;
			out->disks[i].done = pd->disks[i].done;
		}
	}
	rc = 0;
out:
	free(pd);
	catalog_free(&cat);
	free(gdir);
	return rc;
}

int
store_discard_pending(struct store *st, const char *group)
{
	struct store_held h;
	int rc = store_hold(st, group, true, &h);

	if (rc == 0 && (pending_remove(h.gdir) < 0 ||
			store_sweep_full(st, group, h.gdir, &h.cat, 0) < 0))
		rc = -1;
	store_release(&h);
	return rc < 0 ? -1 : 0;
}

/* ---- point being received --------------------------------------------------- */

static void
point_close_disks(struct store_point *pt)
{
	const struct store_backend_ops *ops = pt->st->be->ops;

	store_wq_free(pt->wq);
	pt->wq = NULL;
	for (size_t i = 0; i < pt->ndisks; i++) {
		if (pt->disks[i].io)
			ops->disk_close(pt->st->be, &pt->w, &pt->disks[i]);
		pt->disks[i].open = false;
	}
}

void
store_point_free(struct store_point *pt)
{
	if (!pt)
		return;
	point_close_disks(pt);
	for (size_t i = 0; i < pt->ndisks; i++) {
		if (pt->disks[i].io)
			pt->st->be->ops->disk_free(&pt->disks[i]);
		free(pt->disks[i].path);
	}
	store_sums_free(pt->sums);
	if (pt->lock_fd >= 0)
		close(pt->lock_fd);
	free(pt->gdir);
	free(pt);
}

static struct pending *
point_pending(const struct store_point *pt, struct pending *pd)
{
	memset(pd, 0, sizeof(*pd));
	pd->point = pt->id;
	pd->base = pt->base_id;
	pd->time_ns = pt->time_ns;
	pd->received_ns = pt->received_ns;
	pd->bytes = pt->bytes;
	pd->ndisks = pt->ndisks;
	for (size_t i = 0; i < pt->ndisks; i++) {
		snprintf(pd->disks[i].name, sizeof(pd->disks[i].name), "%s", pt->disks[i].name);
		pd->disks[i].size = pt->disks[i].size;
		pd->disks[i].durable = pt->disks[i].durable;
		pd->disks[i].done = pt->disks[i].done;
	}
	return pd;
}

static int
point_save_pending(const struct store_point *pt)
{
	struct pending *pd = malloc(sizeof(*pd));
	int rc = -1;

	if (!pd)
		log_error("store: out of memory");
	else
		rc = pending_save(pt->gdir, point_pending(pt, pd));
	free(pd);
	return rc;
}

static bool
pending_matches(const struct pending *pd, const struct store_begin *b)
{
	if (pd->point != b->point_id || pd->base != b->base_id || pd->ndisks != b->ndisks)
		return false;
	for (size_t i = 0; i < pd->ndisks; i++)
		if (strcmp(pd->disks[i].name, b->disks[i].name) != 0 ||
		    pd->disks[i].size != b->disks[i].size)
			return false;
	return true;
}

static int
point_resume(struct store_point *pt, const struct pending *pd)
{
	struct store_backend *be = pt->st->be;

	for (size_t i = 0; i < pt->ndisks; i++) {
		struct store_disk *d = &pt->disks[i];

		if (be->ops->disk_open(be, &pt->w, d) < 0)
			return -1;
		d->open = true;
		d->durable = d->written_end = pd->disks[i].durable;
		d->done = pd->disks[i].done;
	}
	pt->bytes = pd->bytes;
	/* The point's receiver time is when it was first begun. */
	if (pd->received_ns && pd->received_ns < pt->received_ns)
		pt->received_ns = pd->received_ns;
	return 0;
}

static bool
begin_valid(const struct store_begin *b)
{
	if (!store_name_ok(b->group)) {
		log_error("store: refusing group name \"%.*s\"", STORE_NAME_MAX, b->group);
		return false;
	}
	if (b->point_id == 0 || b->point_id > CATALOG_U64_MAX || b->time_ns > CATALOG_U64_MAX ||
	    b->base_id >= b->point_id || b->ndisks == 0 || b->ndisks > STORE_MAX_DISKS) {
		log_error("store: group %s: bad point %" PRIu64 " base %" PRIu64 " disks %zu",
			  b->group, b->point_id, b->base_id, b->ndisks);
		return false;
	}
	for (size_t i = 0; i < b->ndisks; i++) {
		if (!store_name_ok(b->disks[i].name) || b->disks[i].size == 0 ||
		    b->disks[i].size > STORE_MAX_DISK_SIZE) {
			log_error("store: group %s point %" PRIu64 ": bad disk #%zu", b->group,
				  b->point_id, i);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(b->disks[i].name, b->disks[j].name) == 0) {
				log_error("store: group %s point %" PRIu64 ": disk %s listed twice",
					  b->group, b->point_id, b->disks[i].name);
				return false;
			}
		}
	}
	return true;
}

static struct store_point *
point_new(struct store *st, const struct store_begin *b)
{
	struct store_point *pt = calloc(1, sizeof(*pt));

	if (!pt) {
		log_error("store: out of memory");
		return NULL;
	}
	pt->lock_fd = -1;
	pt->st = st;
	snprintf(pt->group, sizeof(pt->group), "%s", b->group);
	pt->id = b->point_id;
	pt->base_id = b->base_id;
	pt->time_ns = b->time_ns;
	pt->received_ns = clock_now_ns();
	pt->ndisks = b->ndisks;
	for (size_t i = 0; i < pt->ndisks; i++) {
		snprintf(pt->disks[i].name, sizeof(pt->disks[i].name), "%s", b->disks[i].name);
		pt->disks[i].size = b->disks[i].size;
	}
	pt->w.group = pt->group;
	pt->w.point = pt->id;
	return pt;
}

/* The group's history rules for the new point (history.h), against cat
 * and the pending state. 0 / -1 with *err set (logged). */
static int
begin_rules(struct store_point *pt, const struct catalog *cat, int *err)
{
	const struct store_point_info *last = catalog_find(cat, 0);
	struct history_group h = { 0 };
	struct store_rules r;
	struct pending *pd;
	int code;

	if (last) {
		h.last_id = last->id;
		h.last_time_ns = last->time_ns;
		h.last_received_ns = last->received_ns;
	}
	if ((pt->base_id != 0 && pt->base_id != h.last_id) || pt->id <= h.last_id) {
		log_error("store: group %s: point %" PRIu64 " on base %" PRIu64
			  " does not follow the newest point %" PRIu64, pt->group, pt->id,
			  pt->base_id, h.last_id);
		*err = STORE_ERR_CONFLICT;
		return -1;
	}
	pd = malloc(sizeof(*pd));
	if (!pd) {
		log_error("store: out of memory");
		*err = STORE_ERR_INTERNAL;
		return -1;
	}
	if (pending_load(pt->gdir, pd) == 0 && pd->point > h.last_id)
		h.pending_id = pd->point;
	free(pd);
	store_group_rules(pt->st, pt->group, &r);
	code = history_check_begin(&h, pt->id, pt->time_ns, pt->received_ns, r.max_skew_ns);
	if (code == STORE_OK)
		return 0;
	log_error("store: group %s: point %" PRIu64 " refused: %s (snapshot time %" PRIu64
		  " ns, receiver clock %" PRIu64 " ns, newest point %" PRIu64 " at %" PRIu64
		  " ns, pending point %" PRIu64 ")", pt->group, pt->id, store_strerror(code),
		  pt->time_ns, pt->received_ns, h.last_id, h.last_time_ns, h.pending_id);
	*err = code;
	return -1;
}

/* Step 1 of begin: the group directory, its lock and the catalog; the new
 * point must follow the newest one by the history rules, checked before
 * anything is created and again under the lock. */
static int
begin_lock(struct store_point *pt, struct catalog *cat, int *err)
{
	*err = STORE_ERR_IO;
	pt->gdir = store_group_dir(pt->st, pt->group);
	pt->w.gdir = pt->gdir;
	if (!pt->gdir || catalog_load(pt->gdir, cat) < 0)
		return -1;
	if (begin_rules(pt, cat, err) < 0)
		return -1;
	catalog_free(cat);
	*err = STORE_ERR_IO;
	if (store_mkdir_durable(pt->gdir) < 0)
		return -1;
	/* Retention after the last commit may hold the lock: wait for it. */
	if (store_busy_wait(pt->st->busy, pt->group, STORE_BACKGROUND_WAIT_NS) < 0)
		log_warn("store: group %s: retention after the last point still runs",
			 pt->group);
	pt->lock_fd = store_group_lock(pt->gdir, pt->group);
	if (pt->lock_fd < 0) {
		*err = STORE_ERR_CONFLICT;
		return -1;
	}
	return catalog_load(pt->gdir, cat) < 0 || begin_rules(pt, cat, err) < 0 ? -1 : 0;
}

/* Step 2: disks/ and meta/, and each disk named by the backend. */
static int
begin_layout(struct store_point *pt)
{
	struct store_backend *be = pt->st->be;
	char *dir = strfmt("%s/disks", pt->gdir);
	int rc = -1;

	if (!dir || store_mkdir_durable(dir) < 0)
		goto out;
	free(dir);
	dir = strfmt("%s/meta", pt->gdir);
	if (!dir || store_mkdir_durable(dir) < 0)
		goto out;
	for (size_t i = 0; i < pt->ndisks; i++)
		if (be->ops->disk_init(be, &pt->w, &pt->disks[i]) < 0)
			goto out;
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Step 3: resume a matching pending point. 1 resumed / 0 start afresh /
 * -1 error. */
static int
begin_resume(struct store_point *pt, const struct store_begin *b, const struct catalog *cat)
{
	struct pending *pd = malloc(sizeof(*pd));
	int pr, rc = -1;

	if (!pd) {
		log_error("store: out of memory");
		return -1;
	}
	pr = pending_load(pt->gdir, pd);
	if (pr == 0 && pending_matches(pd, b)) {
		/* Strays first: the ceph backend removes stray snapshots through
		 * their own image handles, which must not wait for the lock the
		 * resumed head holds. */
		if (store_sweep_full(pt->st, pt->group, pt->gdir, cat, pt->id) < 0)
			goto out;
		if (point_resume(pt, pd) == 0) {
			log_info("store: group %s: resuming point %" PRIu64 " on base %" PRIu64,
				 pt->group, pt->id, pt->base_id);
			rc = 1;
			goto out;
		}
		log_warn("store: group %s: cannot resume point %" PRIu64 ", starting over",
			 pt->group, pt->id);
		point_close_disks(pt);
		for (size_t i = 0; i < pt->ndisks; i++) {
			pt->disks[i].durable = pt->disks[i].written_end = 0;
			pt->disks[i].done = false;
		}
		pt->bytes = 0;
	} else if (pr == 0) {
		log_info("store: group %s: discarding pending point %" PRIu64
			 " for point %" PRIu64, pt->group, pd->point, pt->id);
	}
	rc = 0;
out:
	free(pd);
	return rc;
}

/* Step 4: start afresh over the base point. */
static int
begin_create(struct store_point *pt, const struct catalog *cat)
{
	struct store_backend *be = pt->st->be;
	const struct store_point_info *base = pt->base_id ? catalog_find(cat, 0) : NULL;
	size_t hot = 0;

	if (store_sweep_begin(pt->st, pt->group, pt->gdir, cat) < 0)
		return -1;
	for (size_t i = 0; i < pt->ndisks; i++) {
		struct store_disk *d = &pt->disks[i];
		uint64_t base_id = base && catalog_point_disk(base, d->name) >= 0 ? base->id : 0;

		/* At most as many early writers as disks may be written at once. */
		d->hot = base_id && (!pt->st->max_disks_busy || hot < pt->st->max_disks_busy) &&
			 store_hot_get(pt->st->hot, pt->group, d->name);
		hot += d->hot;
		if (be->ops->disk_create(be, &pt->w, d, base_id) < 0)
			return -1;
		d->open = true;
	}
	if (point_save_pending(pt) < 0)
		return -1;
	log_info("store: group %s: receiving point %" PRIu64 " on base %" PRIu64 " (%zu disks)",
		 pt->group, pt->id, pt->base_id, pt->ndisks);
	return 0;
}

/* Debug log: a step of a point and its time since *t, which moves on
 * (bench/live.sh prints them with LIVE_VERBOSE: issue 17, RPO). */
static void
point_step(const struct store_point *pt, const char *what, uint64_t *t)
{
	uint64_t now = clock_mono_ns();

	log_debug("store: group %s: %s: %.1f ms", pt->group, what, (double)(now - *t) / 1e6);
	*t = now;
}

struct store_point *
store_point_begin(struct store *st, const struct store_begin *b, int *err)
{
	struct store_point *pt = NULL, *ret = NULL;
	struct catalog cat = { 0 };
	uint64_t t = clock_mono_ns();
	bool made = false;
	int r;

	*err = STORE_ERR_INVALID;
	if (!begin_valid(b))
		goto out;
	*err = STORE_ERR_INTERNAL;
	pt = point_new(st, b);
	if (!pt || begin_lock(pt, &cat, err) < 0)
		goto out;
	*err = STORE_ERR_IO;
	made = true;
	if (begin_layout(pt) < 0 || (r = begin_resume(pt, b, &cat)) < 0 ||
	    (r == 0 && begin_create(pt, &cat) < 0) ||
	    store_sums_begin(pt->gdir, pt->id, pt->disks, pt->ndisks, r == 1, &pt->sums) < 0)
		goto out;
	point_step(pt, "begin", &t);
	ret = pt;
	pt = NULL;
	*err = STORE_OK;
out:
	/* A begin that failed on the way may leave files of its point that no
	 * pending.json names. */
	if (pt && made)
		store_sweep_dirty(st->sweep, pt->group);
	store_point_free(pt);
	catalog_free(&cat);
	return ret;
}

static struct store_disk *
point_disk(struct store_point *pt, uint16_t disk, uint64_t offset, uint64_t len,
	   const char *op, int *err)
{
	struct store_disk *d;

	*err = STORE_ERR_INVALID;
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": %s after commit", pt->group,
			  pt->id, op);
		return NULL;
	}
	if (disk >= pt->ndisks) {
		log_error("store: group %s point %" PRIu64 ": %s on unknown disk #%u",
			  pt->group, pt->id, op, disk);
		return NULL;
	}
	d = &pt->disks[disk];
	if (d->done) {
		log_error("store: group %s point %" PRIu64 " disk %s: %s after disk done",
			  pt->group, pt->id, d->name, op);
		return NULL;
	}
	if (len > d->size || offset > d->size - len) {
		log_error("store: group %s point %" PRIu64 " disk %s: %s of %" PRIu64
			  " bytes at %" PRIu64 " is beyond the disk size %" PRIu64,
			  pt->group, pt->id, d->name, op, len, offset, d->size);
		return NULL;
	}
	if (!d->open) {
		*err = STORE_ERR_IO;
		log_error("store: group %s point %" PRIu64 " disk %s: %s without a connection",
			  pt->group, pt->id, d->name, op);
		return NULL;
	}
	*err = STORE_OK;
	return d;
}

/* The first write to d in this session: at most max_disks_busy disks of
 * the point are written at once (each may hold a qemu-nbd until done). */
static int
point_start_disk(struct store_point *pt, struct store_disk *d, int *err)
{
	size_t busy = 0;

	if (d->started)
		return 0;
	for (size_t i = 0; i < pt->ndisks; i++)
		busy += pt->disks[i].started && !pt->disks[i].done;
	if (pt->st->max_disks_busy && busy >= pt->st->max_disks_busy) {
		log_error("store: group %s point %" PRIu64 " disk %s: %zu disks of the point "
			  "are being written already (max_nbd_per_session)", pt->group, pt->id,
			  d->name, busy);
		*err = STORE_ERR_INVALID;
		return -1;
	}
	d->started = true;
	return 0;
}

static int
point_push(struct store_point *pt, uint16_t disk, uint64_t offset, const void *data,
	   uint64_t len, int *err)
{
	if (!pt->wq && !(pt->wq = store_wq_new(pt->st->be, &pt->w, pt->disks, pt->st->wbufs))) {
		*err = STORE_ERR_INTERNAL;
		return -1;
	}
	return store_wq_push(pt->wq, disk, offset, data, len, err);
}

int
store_point_write(struct store_point *pt, uint16_t disk, uint64_t offset,
		  const void *data, size_t len, int *err)
{
	return store_point_write_sum(pt, disk, offset, data, len, hash64(data, len), err);
}

int
store_point_write_sum(struct store_point *pt, uint16_t disk, uint64_t offset,
		      const void *data, size_t len, uint64_t hash, int *err)
{
	struct store_disk *d = point_disk(pt, disk, offset, len, "write", err);
	struct store_backend *be = pt->st->be;

	if (!d || point_start_disk(pt, d, err) < 0 ||
	    store_sums_add(pt->sums, disk, offset, len, false, hash, err) < 0)
		return -1;
	if (len <= STORE_MAX_WRITE) {
		if (point_push(pt, disk, offset, data, len, err) < 0)
			return -1;
	} else if (store_wq_drain(pt->wq, err) < 0) {
		return -1;
	} else if (be->ops->disk_write(be, &pt->w, d, offset, data, len) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	if (offset + len > d->written_end)
		d->written_end = offset + len;
	return 0;
}

void *
store_wbuf_try(struct store *st, size_t len)
{
	return len <= STORE_MAX_WRITE ? wbudget_tryget(st->wbufs, len) : NULL;
}

void
store_wbuf_put(struct store *st, void *buf, size_t len)
{
	wbudget_put(st->wbufs, buf, len);
}

int
store_point_write_owned(struct store_point *pt, uint16_t disk, uint64_t offset, void *buf,
			size_t len, uint64_t hash, int *err)
{
	struct store_disk *d = point_disk(pt, disk, offset, len, "write", err);

	if (!d || point_start_disk(pt, d, err) < 0 ||
	    store_sums_add(pt->sums, disk, offset, len, false, hash, err) < 0)
		goto fail;
	if (!pt->wq && !(pt->wq = store_wq_new(pt->st->be, &pt->w, pt->disks, pt->st->wbufs))) {
		*err = STORE_ERR_INTERNAL;
		goto fail;
	}
	/* The queue's now, whatever the push answers. */
	if (store_wq_push_owned(pt->wq, disk, offset, buf, len, err) < 0)
		return -1;
	if (offset + len > d->written_end)
		d->written_end = offset + len;
	return 0;
fail:
	store_wbuf_put(pt->st, buf, len);
	return -1;
}

int
store_point_zero(struct store_point *pt, uint16_t disk, uint64_t offset, uint64_t len,
		 int *err)
{
	struct store_disk *d = point_disk(pt, disk, offset, len, "zero", err);

	if (!d || point_start_disk(pt, d, err) < 0 ||
	    store_sums_add(pt->sums, disk, offset, len, true, 0, err) < 0)
		return -1;
	if (point_push(pt, disk, offset, NULL, len, err) < 0)
		return -1;
	if (offset + len > d->written_end)
		d->written_end = offset + len;
	return 0;
}

/* Everything queued before is executed and then flushed. */
static int
disk_flush(struct store_point *pt, struct store_disk *d, int *err)
{
	struct store_backend *be = pt->st->be;

	if (store_wq_drain(pt->wq, err) < 0)
		return -1;
	if (d->open && be->ops->disk_flush(be, &pt->w, d) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	return 0;
}

int
store_point_disk_done(struct store_point *pt, uint16_t disk, int *err)
{
	struct store_disk *d = point_disk(pt, disk, 0, 0, "disk done", err);
	uint64_t t = clock_mono_ns();

	if (!d)
		return -1;
	if (disk_flush(pt, d, err) < 0)
		return -1;
	point_step(pt, "disk done, writes and flush", &t);
	if (store_sums_sync(pt->sums, disk) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	d->done = true;
	if (pt->st->be->ops->disk_idle)
		pt->st->be->ops->disk_idle(pt->st->be, &pt->w, d);
	d->written_end = d->durable = d->size;
	point_step(pt, "disk done, checksums and close", &t);
	/* A disk this session never wrote has nothing new to resume from: its
	 * done flag goes with the next pending.json (another disk's done, a
	 * checkpoint) or never (the commit removes the file). A resume that
	 * lacks it lists the disk again and finds the same nothing. Saves a
	 * rewrite and two cache flushes per unwritten disk per point (issue
	 * 17: a guest's boot disk is unwritten in most points). */
	if (d->started && point_save_pending(pt) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	point_step(pt, "disk done, pending.json", &t);
	*err = STORE_OK;
	return 0;
}

bool
store_point_disk_was_done(const struct store_point *pt, uint16_t disk)
{
	return disk < pt->ndisks && pt->disks[disk].done;
}

struct store_disk *
store_point_view(struct store_point *pt, uint16_t disk, struct store_point_view *v, int *err)
{
	struct store_disk *d;

	*v = (struct store_point_view){ pt->st, &pt->w, pt->sums, pt->base_id };
	d = point_disk(pt, disk, 0, 0, "adopt", err);
	if (d)
		d->started = true; /* its file is replaced: done is saved */
	return d;
}

int
store_point_checkpoint(struct store_point *pt, int *err)
{
	uint64_t flushed[STORE_MAX_DISKS];
	uint64_t t = clock_mono_ns();

	*err = STORE_ERR_INVALID;
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": checkpoint after commit",
			  pt->group, pt->id);
		return -1;
	}
	/* Snapshot the ends before flushing: only what preceded the flush is
	 * known durable. */
	for (size_t i = 0; i < pt->ndisks; i++) {
		flushed[i] = pt->disks[i].written_end;
		if (!pt->disks[i].done && disk_flush(pt, &pt->disks[i], err) < 0)
			return -1;
		if (store_sums_sync(pt->sums, (uint16_t)i) < 0) {
			*err = STORE_ERR_IO;
			return -1;
		}
	}
	point_step(pt, "checkpoint, writes, flush and checksums", &t);
	for (size_t i = 0; i < pt->ndisks; i++)
		pt->disks[i].durable = flushed[i];
	if (point_save_pending(pt) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	point_step(pt, "checkpoint, pending.json", &t);
	*err = STORE_OK;
	return 0;
}

void
store_point_add_bytes(struct store_point *pt, uint64_t n)
{
	if (__builtin_add_overflow(pt->bytes, n, &pt->bytes) || pt->bytes > CATALOG_U64_MAX)
		pt->bytes = CATALOG_U64_MAX;
}

/* Commit step 1: the request is complete. */
static int
commit_check(const struct store_point *pt, const void *meta, size_t meta_len)
{
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": committed twice", pt->group, pt->id);
		return -1;
	}
	if (meta_len > STORE_MAX_META || (!meta && meta_len > 0)) {
		log_error("store: group %s point %" PRIu64 ": bad metadata of %zu bytes",
			  pt->group, pt->id, meta_len);
		return -1;
	}
	for (size_t i = 0; i < pt->ndisks; i++) {
		if (!pt->disks[i].done) {
			log_error("store: group %s point %" PRIu64 ": commit before disk %s is done",
				  pt->group, pt->id, pt->disks[i].name);
			return -1;
		}
	}
	return 0;
}

/* Commit step 2: data before metadata: every disk flushed and sealed into
 * the point, then its metadata file. */
static int
commit_data(struct store_point *pt, const void *meta, size_t meta_len, int *err)
{
	struct store_backend *be = pt->st->be;
	char *path = NULL;
	int rc = -1;

	for (size_t i = 0; i < pt->ndisks; i++)
		if (disk_flush(pt, &pt->disks[i], err) < 0)
			return -1;
	for (size_t i = 0; i < pt->ndisks; i++) {
		pt->disks[i].open = false;
		if (be->ops->disk_seal(be, &pt->w, &pt->disks[i]) < 0)
			return -1;
	}
	if (store_sums_commit(pt->sums) < 0)
		return -1;
	path = strfmt("%s/meta/%" PRIu64 ".bin", pt->gdir, pt->id);
	if (path && file_write_atomic(path, meta_len ? meta : "", meta_len, 0640) == 0)
		rc = 0;
	free(path);
	return rc;
}

/* Commit step 3: the catalog lists the point from now on. */
static int
commit_catalog(struct store_point *pt, const void *meta, size_t meta_len, int *err)
{
	struct store_disk_info disks[STORE_MAX_DISKS];
	struct store_point_info pi = { .disks = disks };
	struct catalog cat = { 0 };
	int rc = -1;

	if (catalog_load(pt->gdir, &cat) < 0)
		goto out;
	if (catalog_last(&cat) >= pt->id) {
		log_error("store: group %s: point %" PRIu64 " is no longer newer than %" PRIu64,
			  pt->group, pt->id, catalog_last(&cat));
		*err = STORE_ERR_CONFLICT;
		goto out;
	}
	pi.id = pt->id;
	pi.base_id = pt->base_id;
	pi.time_ns = pt->time_ns;
	pi.received_ns = pt->received_ns;
	pi.committed_ns = clock_now_ns();
	pi.bytes_received = pt->bytes;
	pi.consistency = pointcons_from_meta(meta, meta_len);
	pi.ndisks = pt->ndisks;
	for (size_t i = 0; i < pt->ndisks; i++) {
		snprintf(disks[i].name, sizeof(disks[i].name), "%s", pt->disks[i].name);
		disks[i].size = pt->disks[i].size;
	}
	/* One journal line, fdatasynced (catlog.h): O(1) bytes per commit. */
	if (catlog_commit(pt->gdir, &cat, &pi) < 0)
		goto out;
	rc = 0;
out:
	catalog_free(&cat);
	return rc;
}

int
store_point_commit(struct store_point *pt, const void *meta, size_t meta_len, int *err)
{
	uint64_t t0 = clock_mono_ns(), t = t0; /* logged: bench/points.sh reads it */

	*err = STORE_ERR_INVALID;
	if (commit_check(pt, meta, meta_len) < 0)
		return -1;
	*err = STORE_ERR_IO;
	testhook_at("commit"); /* test-power-loss.sh cuts the power at these */
	if (commit_data(pt, meta, meta_len, err) < 0)
		return -1;
	point_step(pt, "commit, data sealed and metadata", &t);
	testhook_at("commit-data");
	if (commit_catalog(pt, meta, meta_len, err) < 0)
		return -1;
	point_step(pt, "commit, catalog", &t);
	testhook_at("commit-catalog");
	pt->committed = true;
	for (size_t i = 0; i < pt->ndisks; i++)
		store_hot_set(pt->st->hot, pt->group, pt->disks[i].name, pt->disks[i].started);
	/* The point is committed now; a stale pending.json is ignored by id,
	 * so its removal need not be durable (one cache flush less). */
	if (pending_unlink(pt->gdir) < 0)
		log_warn("store: group %s: pending.json of committed point %" PRIu64
			 " not removed", pt->group, pt->id);
	log_info("store: group %s: committed point %" PRIu64 " (base %" PRIu64 ", %" PRIu64
		 " bytes, %.1f ms)", pt->group, pt->id, pt->base_id, pt->bytes,
		 (double)(clock_mono_ns() - t0) / 1e6);
	store_settle_kick(pt->st, pt->group);
	*err = STORE_OK;
	return 0;
}
