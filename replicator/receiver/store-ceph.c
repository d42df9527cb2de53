/* Ceph store backend: each replicated disk is the RBD image
 * "<group>+<disk>" of the pool (store-rbd.c wraps librbd); a point being
 * received is written into the image's head, a committed point is the
 * snapshot "p<id>" taken after every extent was flushed; clones are
 * copy-on-write RBD clones of a point's snapshot (docs/rbd.md). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-rbd.h"

struct ceph {
	struct store_backend be;
	char *conf, *client, *pool;
	pthread_mutex_t mu;
	struct srbd *rbd; /* connected on first use */
};

struct store_bdisk {
	char image[SRBD_NAME_MAX];
	struct srbd_img *img; /* the image head */
};

struct store_reader {
	struct srbd_img *img; /* the point's snapshot, read-only */
};

static struct ceph *
ceph_of(const struct store_backend *be)
{
	return (struct ceph *)be;
}

/* The connection, made on first use so that commands that only read the
 * catalog (status, points) work while the cluster is down. */
static struct srbd *
ceph_rbd(struct store_backend *be)
{
	struct ceph *c = ceph_of(be);
	struct srbd *r;

	pthread_mutex_lock(&c->mu);
	if (!c->rbd)
		c->rbd = srbd_connect(c->conf, c->client, c->pool);
	r = c->rbd;
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* The connection plus the image and snapshot names of disk in point. NULL
 * on error (logged). */
static struct srbd *
point_rbd(struct store_backend *be, const char *group, const char *disk, uint64_t point,
	  char image[SRBD_NAME_MAX], char snap[32])
{
	srbd_snap_name(snap, point);
	if (srbd_image_name(image, group, disk) < 0)
		return NULL;
	return ceph_rbd(be);
}

static void
ceph_free(struct store_backend *be)
{
	struct ceph *c = ceph_of(be);

	if (!c)
		return;
	srbd_free(c->rbd);
	pthread_mutex_destroy(&c->mu);
	free(c->conf);
	free(c->client);
	free(c->pool);
	free(c);
}

/* ---- the point being received --------------------------------------------- */

static int
ceph_disk_init(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	d->io = calloc(1, sizeof(*d->io));
	if (!d->io) {
		log_error("store: out of memory");
		return -1;
	}
	if (srbd_image_name(d->io->image, w->group, d->name) < 0)
		return -1;
	d->path = strfmt("%s/%s", ceph_of(be)->pool, d->io->image);
	return d->path ? 0 : -1;
}

static int
ceph_disk_open(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	struct srbd *c = ceph_rbd(be);

	(void)w;
	d->io->img = c ? srbd_open(c, d->io->image) : NULL;
	return d->io->img ? 0 : -1;
}

static int
ceph_disk_create(struct store_backend *be, const struct store_where *w, struct store_disk *d,
		 uint64_t base_id)
{
	struct srbd *c = ceph_rbd(be);
	char snap[32];

	(void)w;
	srbd_snap_name(snap, base_id);
	d->io->img = c ? srbd_prepare(c, d->io->image, d->size, base_id ? snap : NULL) : NULL;
	return d->io->img ? 0 : -1;
}

static int
ceph_disk_write(struct store_backend *be, const struct store_where *w, struct store_disk *d,
		uint64_t off, const void *buf, size_t len)
{
	(void)be;
	(void)w;
	return srbd_write(d->io->img, off, buf, len);
}

static int
ceph_disk_zero(struct store_backend *be, const struct store_where *w, struct store_disk *d,
	       uint64_t off, uint64_t len)
{
	(void)be;
	(void)w;
	return srbd_zero(d->io->img, off, len);
}

static int
ceph_disk_flush(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	(void)be;
	(void)w;
	return d->io->img ? srbd_flush(d->io->img) : 0;
}

/* Flushed before: the snapshot holds every extent of the point. */
static int
ceph_disk_seal(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char snap[32];

	(void)be;
	srbd_snap_name(snap, w->point);
	if (srbd_snap_create(d->io->img, snap) < 0)
		return -1;
	srbd_close(d->io->img);
	d->io->img = NULL;
	return 0;
}

static void
ceph_disk_close(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	(void)be;
	(void)w;
	if (!d->io)
		return;
	srbd_close(d->io->img);
	d->io->img = NULL;
}

static void
ceph_disk_free(struct store_disk *d)
{
	free(d->io);
	d->io = NULL;
}

/* ---- committed points ------------------------------------------------------ */

struct keep_ctx {
	const struct catalog *cat;
	uint64_t keep_id;
};

static bool
keep_snap(void *arg, uint64_t id)
{
	const struct keep_ctx *k = arg;

	return id == k->keep_id || catalog_has(k->cat, id);
}

static int
ceph_prune(struct store_backend *be, const struct store_where *w, const struct catalog *cat,
	   uint64_t keep_id)
{
	struct keep_ctx k = { cat, keep_id };
	struct srbd *c = ceph_rbd(be);

	return c && srbd_prune(c, w->group, keep_snap, &k) == 0 ? 0 : -1;
}

/* qemu's rbd syntax. */
static int
ceph_disk_path(struct store_backend *be, const struct store_where *w, const char *disk,
	       char **path)
{
	char image[SRBD_NAME_MAX], snap[32];

	*path = NULL;
	srbd_snap_name(snap, w->point);
	if (srbd_image_name(image, w->group, disk) < 0)
		return -1;
	*path = strfmt("rbd:%s/%s@%s", ceph_of(be)->pool, image, snap);
	return *path ? 0 : -1;
}

static bool
ceph_has_disk(struct store_backend *be, const struct store_where *w, const char *disk)
{
	char image[SRBD_NAME_MAX], snap[32];
	struct srbd *c = point_rbd(be, w->group, disk, w->point, image, snap);

	return c && srbd_snap_exists(c, image, snap) == 1;
}

static struct store_reader *
ceph_reader_open(struct store_backend *be, const struct store_where *w, const char *disk)
{
	char image[SRBD_NAME_MAX], snap[32];
	struct srbd *c = point_rbd(be, w->group, disk, w->point, image, snap);
	struct store_reader *r;

	if (!c)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("store: out of memory");
		return NULL;
	}
	r->img = srbd_open_snap(c, image, snap);
	if (!r->img) {
		free(r);
		return NULL;
	}
	return r;
}

static int
ceph_reader_pread(struct store_reader *r, void *buf, size_t len, uint64_t off)
{
	return srbd_read(r->img, off, buf, len);
}

static void
ceph_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	srbd_close(r->img);
	free(r);
}

static void
ceph_drop(struct store_backend *be, const struct store_where *w,
	  const struct store_point_info *victim)
{
	for (size_t i = 0; i < victim->ndisks; i++) {
		char image[SRBD_NAME_MAX], snap[32];
		struct srbd *c = point_rbd(be, w->group, victim->disks[i].name, victim->id,
					   image, snap);

		if (!c || srbd_snap_remove(c, image, snap) < 0)
			log_warn("store: group %s: snapshot of removed point %" PRIu64
				 " is left as a stray", w->group, victim->id);
	}
}

static int
ceph_clone(struct store_backend *be, const struct store_where *w, const char *disk,
	   const struct store_clone_names *names, char **source)
{
	char image[SRBD_NAME_MAX], snap[32];
	const char *pool = ceph_of(be)->pool;
	struct timespec t0, t1;
	struct srbd *c;

	*source = NULL;
	if (!store_name_ok(names->image)) {
		log_error("store: refusing clone name \"%s\"", names->image);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = point_rbd(be, w->group, disk, w->point, image, snap);
	if (!c || srbd_clone(c, image, snap, names->image) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*source = strfmt("rbd:%s/%s", pool, names->image);
	if (!*source) {
		(void)srbd_remove(c, names->image);
		return -1;
	}
	log_info("store: group %s point %" PRIu64 ": disk %s cloned as rbd %s/%s in %.0f ms",
		 w->group, w->point, disk, pool, names->image,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

/* source: "rbd:POOL/IMAGE" as ceph_clone made it. */
static int
ceph_clone_remove(struct store_backend *be, const char *source)
{
	const char *image = strncmp(source, "rbd:", 4) == 0 ? strchr(source, '/') : NULL;
	struct srbd *c;

	if (!image || !store_name_ok(image + 1)) {
		log_error("store: refusing to remove clone \"%s\"", source);
		return -1;
	}
	c = ceph_rbd(be);
	return c && srbd_remove(c, image + 1) == 0 ? 0 : -1;
}

/* The image of source "rbd:POOL/IMAGE" when POOL is the store's pool and
 * IMAGE a valid name (borrowed from source); NULL otherwise. */
static const char *
clone_image(const struct store_backend *be, const char *source)
{
	const char *pool = ceph_of(be)->pool, *slash;
	size_t plen = strlen(pool);

	if (strncmp(source, "rbd:", 4) != 0 || strncmp(source + 4, pool, plen) != 0)
		return NULL;
	slash = source + 4 + plen;
	return *slash == '/' && store_name_ok(slash + 1) ? slash + 1 : NULL;
}

static int
ceph_clone_stat(struct store_backend *be, const char *group, const char *source,
		struct store_clone_info *out)
{
	const char *image = clone_image(be, source), *disk;
	char parent[SRBD_NAME_MAX], psnap[32];
	struct srbd *c = image ? ceph_rbd(be) : NULL;
	struct srbd_img *im;
	size_t glen = strlen(group);
	int rc = 0;

	if (!image)
		return 0;
	if (!c || !(im = srbd_open_clone(c, image, parent, psnap)))
		return -1;
	disk = parent + glen + 1;
	if (strncmp(parent, group, glen) == 0 && parent[glen] == '+' && !strchr(disk, '+') &&
	    store_name_ok(disk) && (out->point = srbd_snap_point(psnap)) != 0) {
		snprintf(out->disk, sizeof(out->disk), "%s", disk);
		rc = srbd_size(im, &out->size) < 0 || srbd_print(im, &out->print) < 0 ? -1 : 1;
	}
	srbd_close(im);
	return rc;
}

static struct store_reader *
ceph_clone_reader(struct store_backend *be, const char *source)
{
	const char *image = clone_image(be, source);
	char parent[SRBD_NAME_MAX], psnap[32];
	struct srbd *c = image ? ceph_rbd(be) : NULL;
	struct store_reader *r;

	if (!image) {
		log_error("store: \"%s\" is no rbd image of pool %s", source, ceph_of(be)->pool);
		return NULL;
	}
	if (!c || !(r = calloc(1, sizeof(*r)))) {
		if (c)
			log_error("store: out of memory");
		return NULL;
	}
	r->img = srbd_open_clone(c, image, parent, psnap);
	if (!r->img) {
		free(r);
		return NULL;
	}
	return r;
}

static int
ceph_clone_own(struct store_reader *r, int (*fn)(void *arg, uint64_t off, uint64_t len),
	       void *arg)
{
	return srbd_own_extents(r->img, fn, arg);
}

static const char *
ceph_clone_conf(const struct store_backend *be)
{
	return ceph_of(be)->conf;
}

static const struct store_backend_ops ceph_ops = {
	.name = "ceph",
	.free = ceph_free,
	.disk_init = ceph_disk_init,
	.disk_open = ceph_disk_open,
	.disk_create = ceph_disk_create,
	.disk_write = ceph_disk_write,
	.disk_zero = ceph_disk_zero,
	.disk_flush = ceph_disk_flush,
	.disk_seal = ceph_disk_seal,
	.disk_close = ceph_disk_close,
	.disk_free = ceph_disk_free,
	.prune = ceph_prune,
	.disk_path = ceph_disk_path,
	.has_disk = ceph_has_disk,
	.reader_open = ceph_reader_open,
	.reader_pread = ceph_reader_pread,
	.reader_close = ceph_reader_close,
	.drop = ceph_drop,
	.clone = ceph_clone,
	.clone_remove = ceph_clone_remove,
	.clone_conf = ceph_clone_conf,
	.clone_stat = ceph_clone_stat,
	.clone_reader = ceph_clone_reader,
	.clone_own = ceph_clone_own,
};

static char *
dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct store_backend *
store_ceph_new(const struct store_ceph_opts *opts)
{
	struct ceph *c = calloc(1, sizeof(*c));
	bool oom = false;

	if (!c) {
		log_error("store: out of memory");
		return NULL;
	}
	c->be.ops = &ceph_ops;
	pthread_mutex_init(&c->mu, NULL);
	c->conf = dup_opt(opts->conf, &oom);
	c->client = dup_opt(opts->client, &oom);
	c->pool = dup_opt(opts->pool ? opts->pool : "rbd", &oom);
	if (oom) {
		log_error("store: out of memory");
		ceph_free(&c->be);
		return NULL;
	}
	return &c->be;
}
