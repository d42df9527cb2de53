/* Reading committed points of the store: disk paths, hashes for a resync,
 * metadata, clones for drills and failovers. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/store-backend.h"

/* Read a whole file of at most cap bytes (NUL appended).
 * 0 / 1 = does not exist / -1. */
static int
read_capped(const char *path, size_t cap, char **buf, size_t *len)
{
	void *data = NULL;

	*buf = NULL;
	*len = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (file_read_all(path, cap, &data, len) < 0)
		return -1;
	*buf = data;
	return 0;
}

/* ---- reading committed points ------------------------------------------------- */

/* The catalog entry of point (0 = newest) and, if disk, that it has disk.
 * w gets group, gdir (malloc'd, caller frees) and the point's id. A point
 * or disk that is not there is logged unless quiet (NOTFOUND either way). */
static int
lookup_point(struct store *st, const char *group, uint64_t point, const char *disk,
	     struct catalog *cat, const struct store_point_info **pi, struct store_where *w,
	     int *err, bool quiet)
{
	char *gdir;

	*err = STORE_ERR_INVALID;
	memset(w, 0, sizeof(*w));
	*pi = NULL;
	if (disk && !store_name_ok(disk)) {
		log_error("store: refusing disk name \"%.*s\"", STORE_NAME_MAX, disk);
		return -1;
	}
	gdir = store_group_dir(st, group);
	if (!gdir)
		return -1;
	w->group = group;
	w->gdir = gdir;
	*err = STORE_ERR_IO;
	if (catalog_load_listing(gdir, cat, false) < 0)
		return -1;
	*err = STORE_ERR_NOTFOUND;
	*pi = catalog_find(cat, point);
	if (!*pi) {
		if (!quiet)
			log_error("store: group %s: no point %" PRIu64, group, point);
		return -1;
	}
	w->point = (*pi)->id;
	if (disk && catalog_point_disk(*pi, disk) < 0) {
		if (!quiet)
			log_error("store: group %s point %" PRIu64 ": no disk %s", group,
				  (*pi)->id, disk);
		return -1;
	}
	*err = STORE_OK;
	return 0;
}

static int
lookup(struct store *st, const char *group, uint64_t point, const char *disk,
       struct catalog *cat, const struct store_point_info **pi, struct store_where *w,
       int *err)
{
	return lookup_point(st, group, point, disk, cat, pi, w, err, false);
}

static void
lookup_done(struct catalog *cat, struct store_where *w)
{
	catalog_free(cat);
	free((char *)w->gdir);
	w->gdir = NULL;
}

char *
store_point_disk_path(struct store *st, const char *group, uint64_t point,
		      const char *disk)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w;
	char *path = NULL;
	int err;

	if (lookup(st, group, point, disk, &cat, &pi, &w, &err) == 0)
		(void)st->be->ops->disk_path(st->be, &w, disk, &path);
	lookup_done(&cat, &w);
	return path;
}

int
store_point_clone(struct store *st, const char *group, uint64_t point, const char *disk,
		  const struct store_clone_names *names, char **source)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w;
	int err, rc = -1;

	*source = NULL;
	if (lookup(st, group, point, disk, &cat, &pi, &w, &err) == 0)
		rc = st->be->ops->clone(st->be, &w, disk, names, source);
	lookup_done(&cat, &w);
	return rc;
}

const char *
store_clone_conf(const struct store *st)
{
	return st->be->ops->clone_conf(st->be);
}

int
store_clone_remove(struct store *st, const char *source)
{
	return st->be->ops->clone_remove(st->be, source);
}

int
store_clone_stat(struct store *st, const char *group, const char *source,
		 struct store_clone_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!st->be->ops->clone_stat || !store_name_ok(group))
		return 0;
	return st->be->ops->clone_stat(st->be, group, source, out);
}

int
store_group_usage(struct store *st, const char *group, bool committed_only, uint64_t *bytes)
{
	const struct store_backend_ops *ops = st->be->ops;
	struct catalog cat = { 0 };
	struct store_where w = { group, NULL, 0 };
	struct pending *pd = NULL;
	char *gdir = store_group_dir(st, group);
	int rc = -1;

	*bytes = 0;
	w.gdir = gdir;
	if (!gdir || catalog_load(gdir, &cat) < 0)
		goto out;
	if (ops->usage) {
		rc = ops->usage(st->be, &w, &cat, committed_only, bytes);
		goto out;
	}
	/* No allocation figure from the backend: what the receiver counted. */
	*bytes = store_points_bytes(cat.pts, cat.n);
	pd = committed_only ? NULL : malloc(sizeof(*pd));
	if (pd && pending_load(gdir, pd) == 0 && !catalog_has(&cat, pd->point))
		*bytes += pd->bytes;
	rc = 0;
out:
	free(pd);
	catalog_free(&cat);
	free(gdir);
	return rc;
}

static bool
hash_query_ok(const char *group, uint64_t offset, uint32_t block_size, uint32_t count)
{
	if (block_size < 4096 || block_size > STORE_MAX_HASH_BLOCK ||
	    (block_size & (block_size - 1)) != 0 || count == 0 || count > STORE_MAX_HASHES ||
	    offset % block_size != 0) {
		log_error("store: group %.*s: bad hash query (offset %" PRIu64 ", block %" PRIu32
			  ", count %" PRIu32 ")", STORE_NAME_MAX, group, offset, block_size, count);
		return false;
	}
	return true;
}

/* One block of a size above STORE_HASH_CHUNK into *hash: its len bytes at
 * off read a chunk at a time into buf and hashed as one stream. */
static int
hash_large_block(const struct store_backend_ops *ops, struct store_reader *r,
		 struct hash_stream *hs, uint8_t *buf, uint64_t off, uint64_t len, uint64_t *hash)
{
	hash_stream_reset(hs);
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < STORE_HASH_CHUNK ? (size_t)(len - done) : STORE_HASH_CHUNK;

		if (ops->reader_pread(r, buf, n, off + done) < 0)
			return -1;
		hash_stream_update(hs, buf, n);
		done += n;
	}
	*hash = hash_stream_digest(hs);
	return 0;
}

/* Hash the blocks of disk of point pi (w) from offset: at most count, and
 * at most max_bytes read; *more when max_bytes stopped it before the end.
 * Reads go through one STORE_HASH_CHUNK buffer whatever the block size. */
static int
hash_blocks(struct store *st, const struct store_where *w, const struct store_point_info *pi,
	    const char *disk, const struct store_hash_req *q, uint64_t *hashes,
	    struct store_hash_res *res, int *err)
{
	const struct store_backend_ops *ops = st->be->ops;
	uint64_t size = pi->disks[catalog_point_disk(pi, disk)].size, off = q->offset;
	uint64_t max_blocks = q->max_bytes / q->block_size;
	uint32_t count = q->count, i = 0;
	bool large = q->block_size > STORE_HASH_CHUNK;
	struct hash_stream *hs = NULL;
	struct store_reader *r = NULL;
	uint8_t *buf = NULL;
	int rc = -1;

	if (off >= size)
		return 0;
	if (max_blocks == 0)
		max_blocks = 1;
	if (count > max_blocks) {
		count = (uint32_t)max_blocks;
		res->more = off + (uint64_t)count * q->block_size < size;
	}
	*err = STORE_ERR_IO;
	buf = malloc(STORE_HASH_CHUNK);
	if (!buf || (large && !(hs = hash_stream_new()))) {
		log_error("store: group %s point %" PRIu64 " disk %s: out of memory", w->group,
			  pi->id, disk);
		goto out;
	}
	if (!(r = ops->reader_open(st->be, w, disk)))
		goto out;
	while (i < count && off < size) {
		uint64_t want;
		size_t n, pos = 0;

		if (large) {
			n = (size_t)(size - off < q->block_size ? size - off : q->block_size);
			if (hash_large_block(ops, r, hs, buf, off, n, &hashes[i]) < 0)
				goto out;
			i++;
			off += n;
			continue;
		}
		/* Small blocks are read a chunk at a time: one NBD round trip
		 * per 4 KiB block made a query of 64 MiB cost half a second. */
		want = (uint64_t)(count - i) * q->block_size;
		n = (size_t)(want < STORE_HASH_CHUNK ? want : STORE_HASH_CHUNK);
		if (n > size - off)
			n = (size_t)(size - off);
		if (ops->reader_pread(r, buf, n, off) < 0)
			goto out;
		for (; pos < n; i++) {
			size_t len = n - pos < q->block_size ? n - pos : q->block_size;

			hashes[i] = hash64(buf + pos, len);
			pos += len;
		}
		off += n;
	}
	res->got = i;
	*err = STORE_OK;
	rc = 0;
out:
	if (r)
		ops->reader_close(r);
	hash_stream_free(hs);
	free(buf);
	return rc;
}

int
store_point_hashes(struct store *st, const char *group, uint64_t point, const char *disk,
		   uint64_t offset, uint32_t block_size, uint32_t count, uint64_t *hashes,
		   uint32_t *got, int *err)
{
	struct store_hash_req q = { group, disk, point, offset, block_size, count, UINT64_MAX };
	struct store_hash_res res = { 0 };
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w = { 0 };
	int rc = -1;

	*got = 0;
	*err = STORE_ERR_INVALID;
	if (hash_query_ok(group, offset, block_size, count) &&
	    lookup(st, group, point, disk, &cat, &pi, &w, err) == 0)
		rc = hash_blocks(st, &w, pi, disk, &q, hashes, &res, err);
	*got = res.got;
	lookup_done(&cat, &w);
	return rc;
}

int
store_hash_query(struct store *st, const struct store_hash_req *q, uint64_t *hashes,
		 struct store_hash_res *res, int *err)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w = { 0 };
	int rc = -1;

	memset(res, 0, sizeof(*res));
	*err = STORE_ERR_INVALID;
	pthread_rwlock_rdlock(&st->readers);
	if (!store_name_ok(q->disk) ||
	    !hash_query_ok(q->group, q->offset, q->block_size, q->count) ||
	    lookup(st, q->group, q->point, NULL, &cat, &pi, &w, err) < 0)
		goto out;
	res->point = pi->id;
	rc = 0;
	/* A disk the point does not have reads as zeros: no hashes. */
	if (catalog_point_disk(pi, q->disk) >= 0 && st->be->ops->has_disk(st->be, &w, q->disk))
		rc = hash_blocks(st, &w, pi, q->disk, q, hashes, res, err);
out:
	pthread_rwlock_unlock(&st->readers);
	lookup_done(&cat, &w);
	return rc;
}

int
store_reader_open(struct store *st, const char *group, uint64_t point, const char *disk,
		  struct store_reader **out, int *err)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w = { 0 };

	*out = NULL;
	/* Readers race with retention: a point gone is the caller's to judge. */
	if (lookup_point(st, group, point, disk, &cat, &pi, &w, err, true) == 0) {
		*err = STORE_ERR_IO;
		*out = st->be->ops->reader_open(st->be, &w, disk);
		if (*out)
			*err = STORE_OK;
	}
	lookup_done(&cat, &w);
	return *out ? 0 : -1;
}

int
store_reader_pread(struct store *st, struct store_reader *r, void *buf, size_t len,
		   uint64_t off)
{
	return st->be->ops->reader_pread(r, buf, len, off);
}

void
store_reader_close(struct store *st, struct store_reader *r)
{
	if (r)
		st->be->ops->reader_close(r);
}

/* <gdir>/meta/<id>.bin into *meta. 0 / -1 (logged). */
static int
read_meta(const char *gdir, const char *group, uint64_t id, void **meta, size_t *len)
{
	char *path = strfmt("%s/meta/%" PRIu64 ".bin", gdir, id), *buf = NULL;
	int rc = -1;

	*meta = NULL;
	*len = 0;
	if (!path)
		return -1;
	rc = read_capped(path, STORE_MAX_META, &buf, len);
	if (rc == 1) {
		log_error("store: group %s point %" PRIu64 ": metadata %s is missing", group,
			  id, path);
		rc = -1;
	}
	if (rc == 0)
		*meta = buf;
	else
		free(buf);
	free(path);
	return rc;
}

int
store_point_meta(struct store *st, const char *group, uint64_t point, void **meta,
		 size_t *len)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct store_where w;
	int err, rc = -1;

	*meta = NULL;
	*len = 0;
	if (lookup(st, group, point, NULL, &cat, &pi, &w, &err) == 0)
		rc = read_meta(w.gdir, group, pi->id, meta, len);
	lookup_done(&cat, &w);
	return rc;
}

int
store_listed_point_meta(struct store *st, const char *group, uint64_t point, void **meta,
			size_t *len)
{
	char *gdir = store_name_ok(group) ? store_group_dir(st, group) : NULL;
	int rc = gdir ? read_meta(gdir, group, point, meta, len) : -1;

	free(gdir);
	return rc;
}

