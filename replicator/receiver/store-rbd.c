/* Ceph half of the replica store: RBD images, heads and point snapshots
 * through librbd; store.c decides what is committed. */
#include "replicator/receiver/store-rbd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ceph-dl.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/parse.h"

/* librbd's per-call length is a size_t but its internal bookkeeping splits
 * by object; a bound keeps a single huge zeroing from monopolising the OSD. */
#define SRBD_ZERO_CHUNK (1ull << 30)
#define SRBD_SNAP_PREFIX 'p'
/* Waiting for a dead owner's lock: its watch times out after 30 s by
 * default (osd_client_watch_timeout). */
#define SRBD_AIO_MAX 16
#define SRBD_AIO_BYTES (8u << 20)
#define SRBD_LOCK_TRIES 180
#define SRBD_LOCK_WAIT_US 250000

struct srbd {
	rados_t cluster;
	rados_ioctx_t io;
	bool connected;
	char pool[128];
};

/* A write or zeroing in flight (buf: our copy of the data, NULL for zeros). */
struct srbd_aio {
	rbd_completion_t c;
	void *buf;
	uint64_t off, len;
};

struct srbd_img {
	struct srbd *c;
	rbd_image_t img;
	char name[SRBD_NAME_MAX];
	char snap[32]; /* "" = head */
	/* Writes are pipelined: up to SRBD_AIO_MAX operations or
	 * SRBD_AIO_BYTES of data in flight, completed in order; the first
	 * failure sticks and fails every later write and the flush. */
	struct srbd_aio aio[SRBD_AIO_MAX];
	size_t aio_head, aio_n;
	uint64_t aio_bytes;
	int aio_err;
};

int
srbd_image_name(char out[SRBD_NAME_MAX], const char *group, const char *disk)
{
	int n = snprintf(out, SRBD_NAME_MAX, "%s+%s", group, disk);

	if (n < 0 || n >= SRBD_NAME_MAX) {
		log_error("store: ceph image name for %s/%s is too long", group, disk);
		return -1;
	}
	return 0;
}

void
srbd_snap_name(char out[32], uint64_t point)
{
	snprintf(out, 32, "%c%" PRIu64, SRBD_SNAP_PREFIX, point);
}

uint64_t
srbd_snap_point(const char *snap)
{
	uint64_t id;

	if (snap[0] != SRBD_SNAP_PREFIX || snap[1] < '1' || snap[1] > '9')
		return 0;
	if (parse_u64(snap + 1, &id) < 0)
		return 0;
	return id;
}

struct srbd *
srbd_connect(const char *conf, const char *client, const char *pool)
{
	struct srbd *c;
	int r;

	if (ceph_dl_load() < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("store: out of memory");
		return NULL;
	}
	if (snprintf(c->pool, sizeof(c->pool), "%s", pool) >= (int)sizeof(c->pool)) {
		log_error("store: ceph pool name %s is too long", pool);
		goto fail;
	}
	r = sym_rados_create(&c->cluster, client ? client : "admin");
	if (r < 0) {
		log_error("store: ceph client %s: %s", client ? client : "admin", strerror(-r));
		goto fail;
	}
	c->connected = true; /* rados_shutdown is due from here on */
	r = sym_rados_conf_read_file(c->cluster, conf);
	if (r < 0) {
		log_error("store: ceph config %s: %s", conf ? conf : "(default search)",
			  strerror(-r));
		goto fail;
	}
	/* CEPH_ARGS is honoured, as by the rbd tool. */
	r = sym_rados_conf_parse_env(c->cluster, NULL);
	if (r < 0) {
		log_error("store: CEPH_ARGS: %s", strerror(-r));
		goto fail;
	}
	/* A dead cluster must fail the point, not hang the receiver forever. */
	if (sym_rados_conf_set(c->cluster, "client_mount_timeout", "30") < 0 ||
	    sym_rados_conf_set(c->cluster, "rados_osd_op_timeout", "120") < 0 ||
	    sym_rados_conf_set(c->cluster, "rados_mon_op_timeout", "60") < 0) {
		log_error("store: cannot set ceph client timeouts");
		goto fail;
	}
	r = sym_rados_connect(c->cluster);
	if (r < 0) {
		log_error("store: cannot connect to ceph (%s): %s",
			  conf ? conf : "default config", strerror(-r));
		goto fail;
	}
	r = sym_rados_ioctx_create(c->cluster, pool, &c->io);
	if (r < 0) {
		log_error("store: ceph pool %s: %s", pool, strerror(-r));
		goto fail;
	}
	return c;
fail:
	srbd_free(c);
	return NULL;
}

void
srbd_free(struct srbd *c)
{
	if (!c)
		return;
	if (c->io)
		sym_rados_ioctx_destroy(c->io);
	if (c->connected)
		sym_rados_shutdown(c->cluster);
	free(c);
}

static struct srbd_img *
img_new(struct srbd *c, const char *image, const char *snap)
{
	struct srbd_img *im = calloc(1, sizeof(*im));

	if (!im) {
		log_error("store: out of memory");
		return NULL;
	}
	im->c = c;
	snprintf(im->name, sizeof(im->name), "%s", image);
	snprintf(im->snap, sizeof(im->snap), "%s", snap ? snap : "");
	return im;
}

static int aio_drain(struct srbd_img *im);

void
srbd_close(struct srbd_img *im)
{
	if (!im)
		return;
	if (im->img) {
		int r;

		(void)aio_drain(im); /* a failure was logged; nothing more to do */
		r = sym_rbd_close(im->img);

		if (r < 0)
			log_warn("store: close of rbd image %s/%s: %s", im->c->pool, im->name,
				 strerror(-r));
	}
	free(im);
}

static int
fail_io(const struct srbd_img *im, const char *op, uint64_t off, uint64_t len, int r)
{
	log_error("store: rbd image %s/%s%s%s: %s of %" PRIu64 " bytes at %" PRIu64
		  " failed: %s%s", im->c->pool, im->name, im->snap[0] ? "@" : "", im->snap,
		  op, len, off, strerror(-r), r == -ENOSPC ? " (ceph store is full)" : "");
	errno = -r;
	return -1;
}

/* Every snapshot of the open image: *out malloc'd (free with snaps_free),
 * *n entries. 0 / -1. */
static int
snaps_get(struct srbd_img *im, rbd_snap_info_t **out, int *n)
{
	rbd_snap_info_t *snaps = NULL;
	int max = 16, r;

	*out = NULL;
	*n = 0;
	for (;;) {
		rbd_snap_info_t *grown = realloc(snaps, (size_t)max * sizeof(*snaps));

		if (!grown) {
			free(snaps);
			log_error("store: out of memory");
			return -1;
		}
		snaps = grown;
		r = sym_rbd_snap_list(im->img, snaps, &max);
		if (r != -ERANGE)
			break;
	}
	if (r < 0) {
		free(snaps);
		return fail_io(im, "snapshot list", 0, 0, r);
	}
	*out = snaps;
	*n = r;
	return 0;
}

static void
snaps_free(rbd_snap_info_t *snaps, int n)
{
	if (n > 0)
		sym_rbd_snap_list_end(snaps);
	free(snaps);
}

static int
diff_any(uint64_t off, size_t len, int exists, void *arg)
{
	(void)off;
	(void)len;
	(void)exists;
	*(bool *)arg = true;
	return -EEXIST; /* one change is enough: stop iterating */
}

/* Does the head differ from snapshot base (contents or size)? */
static int
head_differs(struct srbd_img *im, const char *base, bool *differs)
{
	rbd_snap_info_t *snaps;
	int n, r;
	uint64_t size, snap_size = UINT64_MAX;

	*differs = false;
	r = sym_rbd_get_size(im->img, &size);
	if (r < 0)
		return fail_io(im, "stat", 0, 0, r);
	if (snaps_get(im, &snaps, &n) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(snaps[i].name, base) == 0)
			snap_size = snaps[i].size;
	snaps_free(snaps, n);
	if (snap_size == UINT64_MAX) {
		log_error("store: rbd image %s/%s has no base snapshot %s", im->c->pool,
			  im->name, base);
		errno = ENOENT;
		return -1;
	}
	if (snap_size != size) {
		*differs = true;
		return 0;
	}
	r = sym_rbd_diff_iterate2(im->img, base, 0, size, 1, 1, diff_any, differs);
	if (r < 0 && r != -EEXIST)
		return fail_io(im, "diff against the base snapshot", 0, size, r);
	return 0;
}

/* Break the exclusive lock of whoever else holds the image (librbd
 * blocklists that client). Such an owner is a receiver that died with the
 * lock (kill -9, power loss): without this, maintenance operations fail with
 * EROFS until the OSDs time its watch out (osd_client_watch_timeout, 30 s by
 * default), and the receiver's event loop would wait that long. 0 / -1. */
static int
break_stale_lock(struct srbd_img *im)
{
	rbd_lock_mode_t mode;
	char *owners[4];
	size_t n = 4;
	int r = sym_rbd_lock_get_owners(im->img, &mode, owners, &n);

	if (r == -ENOENT)
		return 0; /* nobody holds it (any more) */
	if (r < 0)
		return fail_io(im, "lock owner lookup", 0, 0, r);
	for (size_t i = 0; i < n && r >= 0; i++) {
		log_warn("store: rbd image %s/%s: breaking the lock of %s, a previous "
			 "receiver that did not release it", im->c->pool, im->name, owners[i]);
		r = sym_rbd_lock_break(im->img, mode, owners[i]);
		if (r == -ENOENT)
			r = 0;
	}
	sym_rbd_lock_get_owners_cleanup(owners, n);
	if (r < 0)
		return fail_io(im, "lock break", 0, 0, r);
	return 0;
}

/* Own the image's exclusive lock for as long as it is open: maintenance
 * operations (rollback, resize, snapshots) need it. Every caller holds the
 * group's flock (store.c), so no other Nestor process of this store uses
 * the group's images: a lock held by someone else is stale and is broken
 * at once (once); if it is taken again meanwhile, wait for it a while. */
static int
lock_head(struct srbd_img *im)
{
	bool broken = false;

	for (int i = 0;; i++) {
		int r = sym_rbd_lock_acquire(im->img, RBD_LOCK_MODE_EXCLUSIVE);

		if (r == 0 || r == -EINVAL) /* -EINVAL: no exclusive-lock feature */
			return 0;
		if ((r != -EROFS && r != -EBUSY && r != -EAGAIN) || i >= SRBD_LOCK_TRIES)
			return fail_io(im, "exclusive lock", 0, 0, r);
		if (!broken) {
			if (break_stale_lock(im) < 0)
				return -1;
			broken = true;
			continue;
		}
		if (i == 1)
			log_info("store: rbd image %s/%s: waiting for its lock", im->c->pool,
				 im->name);
		usleep(SRBD_LOCK_WAIT_US);
	}
}

static int
open_head(struct srbd_img *im)
{
	int r = sym_rbd_open(im->c->io, im->name, &im->img, NULL);

	if (r < 0) {
		log_error("store: open of rbd image %s/%s: %s", im->c->pool, im->name,
			  strerror(-r));
		im->img = NULL;
		errno = -r;
		return -1;
	}
	return lock_head(im);
}

static int
create_image(struct srbd *c, const char *image, uint64_t size)
{
	int order = 0;
	int r = sym_rbd_create(c->io, image, size, &order);

	if (r < 0) {
		log_error("store: create of rbd image %s/%s (%" PRIu64 " bytes): %s", c->pool,
			  image, size, strerror(-r));
		errno = -r;
		return -1;
	}
	return 0;
}

/* A fresh, empty image (nothing committed lives in the old one). */
static struct srbd_img *
recreate(struct srbd *c, const char *image, uint64_t size)
{
	if (srbd_remove(c, image) < 0 || create_image(c, image, size) < 0)
		return NULL;
	return srbd_open(c, image);
}

struct srbd_img *
srbd_prepare(struct srbd *c, const char *image, uint64_t size, const char *base)
{
	struct srbd_img *im = img_new(c, image, NULL);
	rbd_snap_info_t *snaps;
	uint64_t cur;
	int r, nsnaps;

	if (!im)
		return NULL;
	r = sym_rbd_open(c->io, image, &im->img, NULL);
	if (r == 0 && lock_head(im) < 0)
		goto fail;
	if (r == -ENOENT) {
		im->img = NULL;
		srbd_close(im);
		if (base) {
			log_error("store: rbd image %s/%s holding base snapshot %s is gone",
				  c->pool, image, base);
			return NULL;
		}
		return create_image(c, image, size) == 0 ? srbd_open(c, image) : NULL;
	}
	if (r < 0) {
		im->img = NULL;
		log_error("store: open of rbd image %s/%s: %s", c->pool, image, strerror(-r));
		goto fail;
	}
	if (base) {
		bool differs;

		if (head_differs(im, base, &differs) < 0)
			goto fail;
		/* Only an interrupted point leaves the head different from its
		 * newest snapshot; rollback rewrites every object, so skip it
		 * when there is nothing to undo. */
		if (differs) {
			log_info("store: rbd image %s/%s: rolling the head back to %s", c->pool,
				 image, base);
			r = sym_rbd_snap_rollback(im->img, base);
			if (r < 0) {
				fail_io(im, "rollback", 0, 0, r);
				goto fail;
			}
		}
	} else {
		if (snaps_get(im, &snaps, &nsnaps) < 0)
			goto fail;
		snaps_free(snaps, nsnaps);
		if (nsnaps == 0) {
			srbd_close(im);
			return recreate(c, image, size);
		}
		/* Older points keep their snapshots; the head starts empty. */
		r = sym_rbd_get_size(im->img, &cur);
		if (r < 0) {
			fail_io(im, "stat", 0, 0, r);
			goto fail;
		}
		if (srbd_zero(im, 0, cur) < 0 || aio_drain(im) < 0)
			goto fail;
	}
	r = sym_rbd_get_size(im->img, &cur);
	if (r < 0) {
		fail_io(im, "stat", 0, 0, r);
		goto fail;
	}
	if (cur != size) {
		r = sym_rbd_resize(im->img, size);
		if (r < 0) {
			fail_io(im, "resize", 0, size, r);
			goto fail;
		}
	}
	return im;
fail:
	srbd_close(im);
	return NULL;
}

struct srbd_img *
srbd_open(struct srbd *c, const char *image)
{
	struct srbd_img *im = img_new(c, image, NULL);

	if (im && open_head(im) < 0) {
		srbd_close(im);
		im = NULL;
	}
	return im;
}

struct srbd_img *
srbd_open_snap(struct srbd *c, const char *image, const char *snap)
{
	struct srbd_img *im = img_new(c, image, snap);
	int r;

	if (!im)
		return NULL;
	r = sym_rbd_open_read_only(c->io, image, &im->img, snap);
	if (r < 0) {
		im->img = NULL;
		log_error("store: open of rbd snapshot %s/%s@%s: %s", c->pool, image, snap,
			  strerror(-r));
		srbd_close(im);
		errno = -r;
		return NULL;
	}
	return im;
}

/* Complete the oldest operation in flight. */
static void
aio_reap(struct srbd_img *im)
{
	struct srbd_aio *a = &im->aio[im->aio_head];
	ssize_t r;

	sym_rbd_aio_wait_for_complete(a->c);
	r = sym_rbd_aio_get_return_value(a->c);
	sym_rbd_aio_release(a->c);
	if (r < 0 && !im->aio_err) {
		im->aio_err = (int)-r;
		fail_io(im, a->buf ? "write" : "zero", a->off, a->len, (int)r);
	}
	im->aio_bytes -= a->buf ? a->len : 0;
	free(a->buf);
	memset(a, 0, sizeof(*a));
	im->aio_head = (im->aio_head + 1) % SRBD_AIO_MAX;
	im->aio_n--;
}

/* The first failure of a reaped operation, as -1 with errno; else 0. */
static int
aio_status(const struct srbd_img *im)
{
	if (im->aio_err) {
		errno = im->aio_err;
		return -1;
	}
	return 0;
}

static int
aio_drain(struct srbd_img *im)
{
	while (im->aio_n > 0)
		aio_reap(im);
	return aio_status(im);
}

/* Make room for an operation on [off, off+len) carrying data bytes; an
 * operation overlapping one in flight waits for everything before it, so
 * writes to the same range land in the order they were made. */
static int
aio_room(struct srbd_img *im, uint64_t off, uint64_t len, uint64_t data)
{
	for (size_t i = 0; i < im->aio_n; i++) {
		const struct srbd_aio *a = &im->aio[(im->aio_head + i) % SRBD_AIO_MAX];

		if (off < a->off + a->len && a->off < off + len)
			return aio_drain(im);
	}
	while (im->aio_n == SRBD_AIO_MAX ||
	       (im->aio_n > 0 && im->aio_bytes + data > SRBD_AIO_BYTES))
		aio_reap(im);
	return aio_status(im);
}

/* Start one operation: buf (taken over, may be NULL for zeros). */
static int
aio_start(struct srbd_img *im, uint64_t off, uint64_t len, void *buf)
{
	struct srbd_aio *a = &im->aio[(im->aio_head + im->aio_n) % SRBD_AIO_MAX];
	int r = sym_rbd_aio_create_completion(NULL, NULL, &a->c);

	if (r == 0)
		r = buf ? sym_rbd_aio_write2(im->img, off, (size_t)len, buf, a->c, 0)
			: sym_rbd_aio_write_zeroes(im->img, off, (size_t)len, a->c, 0, 0);
	if (r < 0) {
		const char *op = buf ? "write" : "zero";

		if (a->c)
			sym_rbd_aio_release(a->c);
		a->c = NULL;
		free(buf);
		return fail_io(im, op, off, len, r);
	}
	a->buf = buf;
	a->off = off;
	a->len = len;
	im->aio_bytes += buf ? len : 0;
	im->aio_n++;
	return 0;
}

int
srbd_write(struct srbd_img *im, uint64_t off, const void *buf, size_t len)
{
	void *copy;

	if (aio_room(im, off, len, len) < 0)
		return -1;
	copy = malloc(len ? len : 1);
	if (!copy) {
		log_error("store: out of memory");
		errno = ENOMEM;
		return -1;
	}
	memcpy(copy, buf, len);
	return aio_start(im, off, len, copy);
}

int
srbd_zero(struct srbd_img *im, uint64_t off, uint64_t len)
{
	while (len > 0) {
		uint64_t n = len < SRBD_ZERO_CHUNK ? len : SRBD_ZERO_CHUNK;

		if (aio_room(im, off, n, 0) < 0 || aio_start(im, off, n, NULL) < 0)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

int
srbd_read(struct srbd_img *im, uint64_t off, void *buf, size_t len)
{
	ssize_t r = sym_rbd_read2(im->img, off, len, buf, 0);

	if (r < 0)
		return fail_io(im, "read", off, len, (int)r);
	if ((size_t)r != len)
		return fail_io(im, "read", off, len, -EIO);
	return 0;
}

int
srbd_flush(struct srbd_img *im)
{
	int r;

	if (aio_drain(im) < 0)
		return -1;
	r = sym_rbd_flush(im->img);

	if (r < 0)
		return fail_io(im, "flush", 0, 0, r);
	return 0;
}

int
srbd_snap_create(struct srbd_img *im, const char *snap)
{
	bool exists = false;
	int r;

	if (aio_drain(im) < 0)
		return -1;
	r = sym_rbd_snap_exists(im->img, snap, &exists);
	if (r < 0)
		return fail_io(im, "snapshot lookup", 0, 0, r);
	/* A commit interrupted after its snapshots but before the catalog
	 * leaves one; the head may have moved on since (resumed point). */
	if (exists) {
		r = sym_rbd_snap_remove(im->img, snap);
		if (r < 0)
			return fail_io(im, "removal of leftover snapshot", 0, 0, r);
	}
	r = sym_rbd_snap_create(im->img, snap);
	if (r < 0)
		return fail_io(im, "snapshot", 0, 0, r);
	return 0;
}

/* Open image's head; 1 = absent (*out NULL), 0 = open, -1 = error. */
static int
open_maybe(struct srbd *c, const char *image, bool ro, struct srbd_img **out)
{
	struct srbd_img *im = img_new(c, image, NULL);
	int r;

	*out = NULL;
	if (!im)
		return -1;
	r = ro ? sym_rbd_open_read_only(c->io, image, &im->img, NULL)
	       : sym_rbd_open(c->io, image, &im->img, NULL);
	if (r < 0) {
		im->img = NULL;
		srbd_close(im);
		if (r == -ENOENT)
			return 1;
		log_error("store: open of rbd image %s/%s: %s", c->pool, image, strerror(-r));
		return -1;
	}
	if (!ro && lock_head(im) < 0) {
		srbd_close(im);
		return -1;
	}
	*out = im;
	return 0;
}

int
srbd_snap_exists(struct srbd *c, const char *image, const char *snap)
{
	struct srbd_img *im;
	bool exists = false;
	int r = open_maybe(c, image, true, &im);

	if (r != 0)
		return r == 1 ? 0 : -1;
	r = sym_rbd_snap_exists(im->img, snap, &exists);
	if (r < 0)
		fail_io(im, "snapshot lookup", 0, 0, r);
	srbd_close(im);
	return r < 0 ? -1 : exists ? 1 : 0;
}

int
srbd_snap_remove(struct srbd *c, const char *image, const char *snap)
{
	struct srbd_img *im;
	int r = open_maybe(c, image, false, &im);

	if (r != 0)
		return r == 1 ? 0 : -1;
	r = sym_rbd_snap_remove(im->img, snap);
	if (r < 0 && r != -ENOENT)
		log_error("store: removal of rbd snapshot %s/%s@%s: %s", c->pool, image, snap,
			  strerror(-r));
	srbd_close(im);
	return r < 0 && r != -ENOENT ? -1 : 0;
}

static int
prune_image(struct srbd *c, const char *image, bool (*keep)(void *, uint64_t), void *arg)
{
	struct srbd_img *im;
	rbd_snap_info_t *snaps = NULL;
	char (*doomed)[32] = NULL;
	int n = 0, ndoomed = 0, r, rc = -1;

	r = open_maybe(c, image, false, &im);
	if (r != 0)
		return r == 1 ? 0 : -1;
	if (snaps_get(im, &snaps, &n) < 0)
		goto out;
	doomed = calloc((size_t)n + 1, sizeof(*doomed));
	if (!doomed) {
		log_error("store: out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint64_t id = srbd_snap_point(snaps[i].name);

		if (id != 0 && !keep(arg, id))
			snprintf(doomed[ndoomed++], sizeof(doomed[0]), "%s", snaps[i].name);
	}
	for (int i = 0; i < ndoomed; i++) {
		r = sym_rbd_snap_remove(im->img, doomed[i]);
		if (r < 0 && r != -ENOENT) {
			log_error("store: removal of stray rbd snapshot %s/%s@%s: %s", c->pool,
				  image, doomed[i], strerror(-r));
			goto out;
		}
		log_info("store: removed stray rbd snapshot %s/%s@%s", c->pool, image,
			 doomed[i]);
	}
	rc = 0;
out:
	snaps_free(snaps, n);
	free(doomed);
	srbd_close(im);
	return rc;
}

int
srbd_prune(struct srbd *c, const char *group, bool (*keep)(void *, uint64_t), void *arg)
{
	rbd_image_spec_t *imgs = NULL;
	size_t max = 64, glen = strlen(group);
	int r, rc = -1;

	for (;;) {
		rbd_image_spec_t *grown = realloc(imgs, max * sizeof(*imgs));

		if (!grown) {
			log_error("store: out of memory");
			goto out;
		}
		imgs = grown;
		r = sym_rbd_list2(c->io, imgs, &max);
		if (r != -ERANGE)
			break;
	}
	if (r < 0) {
		log_error("store: listing rbd images of pool %s: %s", c->pool, strerror(-r));
		max = 0;
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < max && rc == 0; i++)
		if (strncmp(imgs[i].name, group, glen) == 0 && imgs[i].name[glen] == '+' &&
		    !strchr(imgs[i].name + glen + 1, '+'))
			rc = prune_image(c, imgs[i].name, keep, arg);
	sym_rbd_image_spec_list_cleanup(imgs, max);
out:
	free(imgs);
	return rc;
}

int
srbd_clone(struct srbd *c, const char *image, const char *snap, const char *clone)
{
	rbd_image_options_t opts;
	int r;

	sym_rbd_image_options_create(&opts);
	r = sym_rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
	if (r == 0)
		r = sym_rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
	if (r == 0)
		r = sym_rbd_clone3(c->io, image, snap, c->io, clone, opts);
	sym_rbd_image_options_destroy(opts);
	if (r < 0) {
		log_error("store: clone of rbd snapshot %s/%s@%s as %s: %s", c->pool, image,
			  snap, clone, strerror(-r));
		errno = -r;
		return -1;
	}
	return 0;
}

int
srbd_remove(struct srbd *c, const char *image)
{
	int r = sym_rbd_remove(c->io, image);

	if (r < 0 && r != -ENOENT) {
		log_error("store: removal of rbd image %s/%s: %s", c->pool, image, strerror(-r));
		errno = -r;
		return -1;
	}
	return 0;
}

struct srbd_img *
srbd_open_clone(struct srbd *c, const char *image, char parent[SRBD_NAME_MAX], char psnap[32])
{
	struct srbd_img *im = img_new(c, image, NULL);
	rbd_linked_image_spec_t pimg;
	rbd_snap_spec_t ps;
	int r;

	parent[0] = psnap[0] = '\0';
	if (!im)
		return NULL;
	r = sym_rbd_open_read_only(c->io, image, &im->img, NULL);
	if (r < 0) {
		im->img = NULL;
		log_error("store: open of rbd image %s/%s: %s", c->pool, image, strerror(-r));
		srbd_close(im);
		errno = -r;
		return NULL;
	}
	r = sym_rbd_get_parent(im->img, &pimg, &ps);
	if (r == -ENOENT)
		return im; /* no parent */
	if (r < 0) {
		fail_io(im, "parent lookup", 0, 0, r);
		srbd_close(im);
		return NULL;
	}
	if (pimg.pool_name && strcmp(pimg.pool_name, c->pool) == 0 &&
	    (!pimg.pool_namespace || !pimg.pool_namespace[0]) && !pimg.trash) {
		snprintf(parent, SRBD_NAME_MAX, "%s", pimg.image_name ? pimg.image_name : "");
		snprintf(psnap, 32, "%s", ps.name ? ps.name : "");
	}
	sym_rbd_linked_image_spec_cleanup(&pimg);
	sym_rbd_snap_spec_cleanup(&ps);
	return im;
}

int
srbd_size(struct srbd_img *im, uint64_t *size)
{
	int r = sym_rbd_get_size(im->img, size);

	return r < 0 ? fail_io(im, "stat", 0, 0, r) : 0;
}

/* Extents of a diff, collected (librbd's callback must not read the
 * image), at most SRBD_SPANS_MAX before they merge into one. */
#define SRBD_SPANS_MAX (1u << 20)
struct spans {
	uint64_t (*v)[2];
	size_t n, cap;
};

static int
span_add(uint64_t off, size_t len, int exists, void *arg)
{
	struct spans *s = arg;

	(void)exists; /* a hole the clone made over its parent's data is its own too */
	if (len == 0)
		return 0;
	if (s->n == SRBD_SPANS_MAX) { /* bounded: one span over them all */
		uint64_t lo = off, hi = off + len;

		for (size_t i = 0; i < s->n; i++) {
			lo = s->v[i][0] < lo ? s->v[i][0] : lo;
			hi = s->v[i][0] + s->v[i][1] > hi ? s->v[i][0] + s->v[i][1] : hi;
		}
		s->v[0][0] = lo;
		s->v[0][1] = hi - lo;
		s->n = 1;
		return 0;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t (*nv)[2] = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n][0] = off;
	s->v[s->n][1] = len;
	s->n++;
	return 0;
}

static int
span_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

int
srbd_own_extents(struct srbd_img *im, int (*fn)(void *arg, uint64_t off, uint64_t len),
		 void *arg)
{
	struct spans s = { 0 };
	uint64_t size, lo = 0, hi = 0;
	int r, rc = -1;

	if (srbd_size(im, &size) < 0)
		return -1;
	r = sym_rbd_diff_iterate2(im->img, NULL, 0, size, 0, 0, span_add, &s);
	if (r < 0) {
		fail_io(im, "own extents (diff, parent excluded)", 0, size, r);
		goto out;
	}
	qsort(s.v, s.n, sizeof(*s.v), span_cmp);
	for (size_t i = 0; i < s.n; i++) {
		if (hi > lo && s.v[i][0] <= hi) { /* touches or overlaps: merge */
			hi = s.v[i][0] + s.v[i][1] > hi ? s.v[i][0] + s.v[i][1] : hi;
			continue;
		}
		if (hi > lo && fn(arg, lo, hi - lo) < 0)
			goto out;
		lo = s.v[i][0];
		hi = lo + s.v[i][1];
	}
	if (hi > lo && fn(arg, lo, hi - lo) < 0)
		goto out;
	rc = 0;
out:
	free(s.v);
	return rc;
}

static int
print_span(uint64_t off, size_t len, int exists, void *arg)
{
	uint64_t v[4] = { *(uint64_t *)arg, off, len, (uint64_t)exists };

	*(uint64_t *)arg = hash64(v, sizeof(v));
	return 0;
}

int
srbd_print(struct srbd_img *im, uint64_t *out)
{
	rbd_snap_info_t *snaps;
	const char *newest = NULL;
	uint64_t size, h, newest_id = 0;
	bool differs = false;
	int n, r;

	if (srbd_size(im, &size) < 0 || snaps_get(im, &snaps, &n) < 0)
		return -1;
	h = hash64(&size, sizeof(size));
	for (int i = 0; i < n; i++) {
		uint64_t v[2] = { h, snaps[i].id };

		h = hash64(v, sizeof(v)) ^ hash64(snaps[i].name, strlen(snaps[i].name));
		if (!newest || snaps[i].id > newest_id) {
			newest = snaps[i].name;
			newest_id = snaps[i].id;
		}
	}
	if (newest) {
		r = head_differs(im, newest, &differs) < 0 ? -1 : 0;
		h ^= differs ? 0x5bd1e995u : 0;
	} else { /* no snapshot: the objects it holds itself */
		r = sym_rbd_diff_iterate2(im->img, NULL, 0, size, 0, 1, print_span, &h);
		if (r < 0)
			r = fail_io(im, "own objects", 0, size, r);
	}
	snaps_free(snaps, n);
	*out = h;
	return r;
}
