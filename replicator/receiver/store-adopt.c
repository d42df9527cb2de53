/* A qcow2 image made a disk of the point being received (store.h,
 * store_point_adopt): a failback's promotion of a failover overlay into a
 * forward point. The file is copied into the point's layout, rebased onto
 * the point's base, made durable, and its checksums are computed from its
 * own allocation, as the forward path records what it writes. On a ceph
 * store, an RBD clone of the base's disk instead: what of its own extents
 * differs from the base is written into the point as received data. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/imginfo.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-sums.h"

/* A DATA record's length: what the wire caps an extent at, so a scrub or a
 * repair reads adopted records as it reads received ones. */
#define ADOPT_CHUNK (1u << 20)

/* Do the backing files of a and b (qemu-img info) name the same file? */
static bool
same_backing(const struct imginfo *a, const struct imginfo *b)
{
	char *ra = a->backing_full ? realpath(a->backing_full, NULL) : NULL;
	char *rb = b->backing_full ? realpath(b->backing_full, NULL) : NULL;
	bool same = ra && rb && strcmp(ra, rb) == 0;

	free(ra);
	free(rb);
	return same;
}

/* tmp (a copy of the source) onto the backing file of dst, the file the
 * point's begin created. Over the same file already (the failover's clone
 * of the base point): the name alone changes (relative, as every point's).
 * Otherwise qemu-img's safe mode copies in what differs, so tmp reads the
 * same before and after. */
static int
adopt_rebase(const char *tmp, const char *dst, uint64_t size, const char *ctx)
{
	struct imginfo *ti = imginfo_read(tmp, NULL, ctx);
	struct imginfo *di = ti ? imginfo_read(dst, NULL, ctx) : NULL;
	const char *bname, *bfmt;
	int rc = -1;

	if (!di)
		goto out;
	if (strcmp(ti->format, "qcow2") != 0 || ti->virtual_size != size) {
		log_error("%s: %s is not a qcow2 image of the disk's size %" PRIu64, ctx, tmp,
			  size);
		goto out;
	}
	bname = di->backing;
	bfmt = di->backing_format ?: "qcow2";
	{
		const char *unsafe[] = { "qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b",
					 bname, "-F", bfmt, tmp, NULL };
		const char *safe[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", bname,
				       "-F", bfmt, tmp, NULL };
		const char *none[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", "", tmp,
				       NULL };

		if (!bname)
			rc = spawn_cmd(ctx, none, NULL);
		else
			rc = spawn_cmd(ctx, same_backing(ti, di) ? unsafe : safe, NULL);
	}
out:
	imginfo_free(ti);
	imginfo_free(di);
	return rc;
}

/* The copy tmp of src names src's backing file by its absolute path: a
 * relative name meant src's directory, not tmp's. */
static int
adopt_anchor(const char *src, const char *tmp, const char *ctx)
{
	struct imginfo *si = imginfo_read(src, NULL, ctx);
	const char *full, *fmt;
	int rc = -1;

	if (!si)
		return -1;
	full = si->backing_full;
	fmt = si->backing_format ?: "qcow2";
	{
		const char *argv[] = { "qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", full,
				       "-F", fmt, tmp, NULL };

		rc = full ? spawn_cmd(ctx, argv, NULL) : 0;
	}
	imginfo_free(si);
	return rc;
}

/* src copied to tmp (sharing extents where the file system can, holes
 * kept), rebased, made durable and renamed over dst. */
static int
adopt_file(const char *src, const char *dst, uint64_t size, const char *ctx)
{
	char *tmp = strfmt("%s.adopt", dst), *dir = NULL;
	const char *cp[] = { "cp", "--reflink=auto", "--sparse=always", src, tmp, NULL };
	int rc = -1;

	if (!tmp)
		return -1;
	if ((unlink(tmp) < 0 && errno != ENOENT) || spawn_cmd(ctx, cp, NULL) < 0 ||
	    adopt_anchor(src, tmp, ctx) < 0 || adopt_rebase(tmp, dst, size, ctx) < 0 ||
	    store_fsync_path(tmp) < 0)
		goto out;
	if (rename(tmp, dst) < 0) {
		log_error("%s: rename %s: %m", ctx, tmp);
		goto out;
	}
	dir = strdup(dst);
	if (!dir || dir_fsync(dirname(dir)) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		(void)unlink(tmp);
	free(dir);
	free(tmp);
	return rc;
}

/* One top-layer extent of qemu-img map: its checksum records, DATA read
 * back through r in ADOPT_CHUNK pieces. */
static int
adopt_extent(struct store_backend *be, struct store_reader *r, struct store_sums *sums,
	     uint16_t disk, uint64_t off, uint64_t len, bool zero, void *buf, uint64_t *bytes,
	     int *err)
{
	if (zero)
		return store_sums_add(sums, disk, off, len, true, 0, err);
	while (len > 0) {
		size_t n = len < ADOPT_CHUNK ? (size_t)len : ADOPT_CHUNK;

		if (be->ops->reader_pread(r, buf, n, off) < 0) {
			*err = STORE_ERR_IO;
			return -1;
		}
		if (store_sums_add(sums, disk, off, n, false, hash64(buf, n), err) < 0)
			return -1;
		*bytes += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* The checksums of d from its own allocation (depth 0 of qemu-img map):
 * what the point holds itself, never what it reads from its base. */
static int
adopt_sums(const struct store_point_view *v, struct store_disk *d, uint16_t disk,
	   uint64_t *bytes, const char *ctx, int *err)
{
	const char *argv[] = { "qemu-img", "map", "--output=json", "-f", "qcow2", d->path, NULL };
	struct store_backend *be = v->st->be;
	struct store_reader *r = NULL;
	char *out = NULL;
	void *buf = NULL;
	json_error_t je;
	json_t *map = NULL, *e;
	size_t i;
	int rc = -1;

	*err = STORE_ERR_IO;
	if (spawn_cmd(ctx, argv, &out) < 0)
		goto out;
	map = json_loads(out, 0, &je);
	if (!json_is_array(map)) {
		log_error("%s: qemu-img map: unreadable output: %s", ctx, je.text);
		goto out;
	}
	buf = malloc(ADOPT_CHUNK);
	r = buf ? be->ops->reader_open(be, v->w, d->name) : NULL;
	if (!r)
		goto out;
	json_array_foreach(map, i, e) {
		json_int_t s = json_integer_value(json_object_get(e, "start"));
		json_int_t l = json_integer_value(json_object_get(e, "length"));

		if (json_integer_value(json_object_get(e, "depth")) != 0 ||
		    !json_is_true(json_object_get(e, "present")))
			continue;
		if (s < 0 || l <= 0 || (uint64_t)s > d->size || (uint64_t)l > d->size - (uint64_t)s) {
			log_error("%s: qemu-img map: extent %" PRId64 "+%" PRId64 " out of the disk",
				  ctx, (int64_t)s, (int64_t)l);
			goto out;
		}
		if (adopt_extent(be, r, v->sums, disk, (uint64_t)s, (uint64_t)l,
				 json_is_true(json_object_get(e, "zero")), buf, bytes, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (r)
		be->ops->reader_close(r);
	free(buf);
	json_decref(map);
	free(out);
	return rc;
}

/* ---- a ceph store: an RBD clone of the base's disk ---- */

#define ADOPT_CMP_BLOCK (64u << 10) /* the unit kept or left as the base's */

struct clone_adopt {
	struct store_point *pt;
	struct store_backend *be;
	struct store_reader *clone, *base;
	uint16_t disk;
	uint64_t size;
	unsigned char *a, *b, *run; /* a block of each; the run being gathered */
	uint64_t run_off, run_len;  /* run_len 0: none */
	bool run_zero;
	uint64_t bytes;
	int *err;
};

static int
run_flush(struct clone_adopt *ca)
{
	int rc;

	if (ca->run_len == 0)
		return 0;
	rc = ca->run_zero ? store_point_zero(ca->pt, ca->disk, ca->run_off, ca->run_len, ca->err)
			  : store_point_write(ca->pt, ca->disk, ca->run_off, ca->run, ca->run_len,
					      ca->err);
	if (!ca->run_zero)
		ca->bytes += ca->run_len;
	ca->run_len = 0;
	return rc;
}

/* Block [off, off + n) of the clone (in ca->a) differs from the base. */
static int
run_add(struct clone_adopt *ca, uint64_t off, uint64_t n)
{
	bool zero = ca->a[0] == 0 && memcmp(ca->a, ca->a + 1, n - 1) == 0;

	if (ca->run_len && (ca->run_off + ca->run_len != off || ca->run_zero != zero ||
			    (!zero && ca->run_len + n > ADOPT_CHUNK)) && run_flush(ca) < 0)
		return -1;
	if (ca->run_len == 0) {
		ca->run_off = off;
		ca->run_zero = zero;
	}
	if (!zero)
		memcpy(ca->run + ca->run_len, ca->a, n);
	ca->run_len += n;
	return 0;
}

/* One of the clone's own extents: its blocks compared with the base. */
static int
clone_extent(void *arg, uint64_t off, uint64_t len)
{
	struct clone_adopt *ca = arg;
	uint64_t end = off + len < ca->size ? off + len : ca->size, n;

	for (uint64_t o = off; o < end; o += n) {
		n = ADOPT_CMP_BLOCK - o % ADOPT_CMP_BLOCK;
		n = n < end - o ? n : end - o;
		if (ca->be->ops->reader_pread(ca->clone, ca->a, n, o) < 0 ||
		    ca->be->ops->reader_pread(ca->base, ca->b, n, o) < 0) {
			*ca->err = STORE_ERR_IO;
			return -1;
		}
		if (memcmp(ca->a, ca->b, n) != 0 && run_add(ca, o, n) < 0)
			return -1;
	}
	return 0;
}

/* Disk d of pt (view v) made of the clone src of the base's disk. */
static int
adopt_clone(struct store_point *pt, uint16_t disk, const struct store_point_view *v,
	    const struct store_disk *d, const char *src, uint64_t *bytes, const char *ctx,
	    int *err)
{
	struct store_backend *be = v->st->be;
	struct store_where bw = { v->w->group, v->w->gdir, v->base };
	struct clone_adopt ca = { .pt = pt, .be = be, .disk = disk, .size = d->size, .err = err };
	struct store_clone_info ci;
	int k, rc = -1;

	*err = STORE_ERR_INVALID;
	if ((k = store_clone_stat(v->st, v->w->group, src, &ci)) < 0)
		return -1;
	if (k == 0 || v->base == 0 || ci.point != v->base || strcmp(ci.disk, d->name) != 0 ||
	    ci.size != d->size) {
		log_error("%s: %s is no clone of this disk at point %" PRIu64 ", of its size %"
			  PRIu64 ", the point's base: refused", ctx, src, v->base, d->size);
		return -1;
	}
	*err = STORE_ERR_IO;
	ca.a = malloc(ADOPT_CMP_BLOCK);
	ca.b = malloc(ADOPT_CMP_BLOCK);
	ca.run = malloc(ADOPT_CHUNK);
	if (!ca.a || !ca.b || !ca.run) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	if (!(ca.clone = be->ops->clone_reader(be, src)) ||
	    !(ca.base = be->ops->reader_open(be, &bw, d->name)) ||
	    be->ops->clone_own(ca.clone, clone_extent, &ca) < 0 || run_flush(&ca) < 0)
		goto out;
	*bytes = ca.bytes;
	rc = 0;
out:
	if (ca.clone)
		be->ops->reader_close(ca.clone);
	if (ca.base)
		be->ops->reader_close(ca.base);
	free(ca.a);
	free(ca.b);
	free(ca.run);
	return rc;
}

bool
store_points_are_files(const struct store *st)
{
	return st->be->ops->rewrite_points;
}

int
store_point_adopt(struct store_point *pt, uint16_t disk, const char *src, uint64_t *bytes,
		  int *err)
{
	struct store_point_view v;
	struct store_disk *d = store_point_view(pt, disk, &v, err);
	char ctx[STORE_CTX_MAX];

	*bytes = 0;
	if (!d)
		return -1;
	store_ctx(ctx, sizeof(ctx), v.w, d->name);
	*err = STORE_ERR_INVALID;
	if (d->written_end != 0) {
		log_error("%s: written already: an image cannot replace it", ctx);
		return -1;
	}
	if (v.st->be->ops->clone_reader) {
		if (adopt_clone(pt, disk, &v, d, src, bytes, ctx, err) < 0)
			return -1;
	} else if (!v.st->be->ops->rewrite_points) {
		log_error("%s: the %s backend cannot take an image as a point's disk", ctx,
			  v.st->be->ops->name);
		return -1;
	} else {
		*err = STORE_ERR_IO;
		if (v.st->be->ops->disk_close)
			v.st->be->ops->disk_close(v.st->be, v.w, d);
		if (adopt_file(src, d->path, d->size, ctx) < 0 ||
		    adopt_sums(&v, d, disk, bytes, ctx, err) < 0)
			return -1;
	}
	log_info("%s: took %s (%" PRIu64 " bytes of its own data)", ctx, src, *bytes);
	store_point_add_bytes(pt, *bytes);
	return store_point_disk_done(pt, disk, err);
}
