/* "file" change source: offline disk image files. qcow2 changes come from
 * persistent dirty bitmaps (nestor.<gen>), raw changes from per-block hashes.
 * This file: begin, extents, reads, commit, free; the per-disk records are
 * in file-state.c, the qcow2 bitmaps in file-qcow2.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "snapshot/blockscan.h"
#include "snapshot/file-priv.h"
#include "snapshot/image.h"
#include "snapshot/srcstate.h"

static const struct snapshot_ops file_ops;

const char *
file_fmt_name(enum file_fmt f)
{
	return f == FILE_QCOW2 ? "qcow2" : "raw";
}

int
file_opened(struct file_disk *d)
{
	if (d->img)
		return 0;
	log_error("disk %s: %s: cannot open image", d->name, d->path);
	return -1;
}

/* ---- begin ----------------------------------------------------------------- */

static int
file_raw_setup(struct file_disk *d)
{
	uint64_t bytes;
	static const unsigned char zero[FILE_BLOCK];

	if (__builtin_mul_overflow(d->nblocks, 8, &bytes) ||
	    __builtin_add_overflow(bytes, FILE_HASH_HDR, &bytes) ||
	    bytes > SIZE_MAX) {
		log_error("disk %s: too large for a hash table", d->name);
		return -1;
	}
	d->new_buf = calloc(1, (size_t)bytes);
	if (!d->new_buf) {
		log_error("disk %s: out of memory for %" PRIu64 " block hashes",
			  d->name, d->nblocks);
		return -1;
	}
	d->new_hashes = (uint64_t *)(void *)(d->new_buf + FILE_HASH_HDR);
	d->zero_hash = hash64(zero, FILE_BLOCK);
	d->zero_hash_tail = d->size % FILE_BLOCK
		? hash64(zero, d->size % FILE_BLOCK) : d->zero_hash;
	{
		char clone[64];
		const char *path = file_clone_begin(d, clone, sizeof(clone));

		if (!path)
			return -1;
		d->img = image_open(path, "raw");
	}
	return file_opened(d);
}

static int
file_raw_scan_start(struct file_disk *d)
{
	d->scan = blockscan_start(d->img, d->size, FILE_BLOCK, d->new_hashes, d->zero_hash,
				  d->zero_hash_tail, d->name);
	return d->scan ? 0 : -1;
}

static int
file_disk_init(struct file_snapshot *fs, size_t i, const struct snap_file_disk *in,
	       const char *state_dir, uint64_t base_point)
{
	struct file_disk *d = &fs->d[i];

	if (snapshot_name_disk(&fs->base, i, in->name, "file") < 0)
		return -1;
	if (!in->path) {
		log_error("disk %s: no image path", in->name);
		return -1;
	}
	if (in->format && strcmp(in->format, "qcow2") != 0 &&
	    strcmp(in->format, "raw") != 0) {
		log_error("disk %s: %s: unsupported format %s", in->name, in->path,
			  in->format);
		return -1;
	}
	d->name = fs->base.disks[i].name;
	d->clone_mode = in->clone;
	d->path = strdup(in->path);
	d->tpath = image_tool_path(in->path);
	if (!d->path || !d->tpath ||
	    asprintf(&d->state_path, "%s/%s.json", state_dir, in->name) < 0 ||
	    asprintf(&d->hash_path, "%s/%s.hashes", state_dir, in->name) < 0 ||
	    asprintf(&d->attempt_path, "%s/%s.attempt", state_dir, in->name) < 0 ||
	    !(d->state_dir = strdup(state_dir))) {
		log_error("disk %s: out of memory", in->name);
		return -1;
	}
	if (access(in->path, R_OK) < 0) {
		log_error("disk %s: %s: %m", in->name, in->path);
		return -1;
	}
	if (file_info(d, in->format) < 0)
		return -1;
	fs->base.disks[i].size = d->size;
	fs->base_point = base_point;
	/* Before any change of ours to the image. */
	file_attempt_check(d, base_point);
	d->nblocks = d->size / FILE_BLOCK + (d->size % FILE_BLOCK != 0);
	if (file_state_load(d) < 0)
		return -1;
	if (fs->readonly) {
		/* An interrupted snapshot's writes sit in nestor.<gen+1>, which
		 * only a recovery (a write) would fold back: not ours to do. */
		if (d->have_state && file_bitmap_find(d, d->st_gen + 1))
			d->have_state = 0;
		return 0;
	}
	if (d->fmt == FILE_QCOW2 && file_qcow2_recover(d) < 0)
		return -1;
	return 0;
}

/* A listing only: the base's bitmap read as it is (an enabled bitmap may
 * be exported read-only), nothing added, disabled or removed. */
static int
file_readonly_setup(struct file_disk *d)
{
	char name[40];

	if (d->fmt != FILE_QCOW2)
		return file_raw_setup(d);
	snprintf(name, sizeof(name), FILE_BM_PREFIX "%" PRIu64, d->st_gen);
	d->gen = d->incremental ? d->st_gen : 0;
	d->img = d->incremental ? image_open_bitmap(d->path, "qcow2", name)
				: image_open(d->path, "qcow2");
	return file_opened(d);
}

static struct snapshot *
file_begin(const struct snap_file_disk *disks, size_t ndisks, const char *state_dir,
	   uint64_t base_point, int readonly)
{
	struct file_snapshot *fs = NULL;
	int incremental = 1, ok = 0;

	if (!disks || ndisks == 0 || ndisks > SNAP_MAX_DISKS || !state_dir) {
		log_error("snapshot: file source: need 1..%d disks and a state "
			  "directory", SNAP_MAX_DISKS);
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		log_error("snapshot: out of memory");
		return NULL;
	}
	fs->base.ops = &file_ops;
	fs->base.time_ns = clock_now_ns();
	fs->readonly = readonly;
	for (size_t i = 0; i < SNAP_MAX_DISKS; i++)
		fs->d[i].clone_fd = -1;
	if (mkdir_p(state_dir, 0700) < 0)
		goto out;

	/* Inspect every disk first: the group is incremental only if every
	 * disk is, since the receiver starts all disks afresh for a full copy. */
	for (size_t i = 0; i < ndisks; i++) {
		fs->base.ndisks = i + 1;
		if (file_disk_init(fs, i, &disks[i], state_dir, base_point) < 0)
			goto out;
		incremental &= srcstate_decide(fs->d[i].have_state, fs->d[i].st_point, base_point,
					       file_full_reason, &fs->d[i], &fs->d[i].incremental,
					       &fs->d[i].full_reason);
	}
	for (size_t i = 0; i < ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		srcstate_join_group(incremental, &d->incremental, &d->full_reason);
		if (!d->incremental)
			log_info("disk %s: %s: full copy: %s", d->name, d->path,
				 d->full_reason);
		if (readonly ? file_readonly_setup(d) < 0
			     : d->fmt == FILE_QCOW2 ? file_qcow2_setup(d, state_dir) < 0
						    : file_raw_setup(d) < 0)
			goto out;
		if (image_size(d->img) != d->size) {
			log_error("disk %s: %s: size changed while opening", d->name,
				  d->path);
			goto out;
		}
		if (file_marks_begin(d) < 0)
			goto out;
		/* The first disk's hashing starts now, while the receiver
		 * opens the point; later disks start when they are reached. */
		if (i == 0 && d->fmt == FILE_RAW && file_raw_scan_start(d) < 0)
			goto out;
		if (!readonly && file_attempt_save(d, base_point) < 0)
			goto out;
	}
	fs->base.incremental = incremental;
	fs->base.resumable = 1;
	for (size_t i = 0; i < ndisks; i++)
		fs->base.resumable &= fs->d[i].unchanged;
	ok = 1;
out:
	if (!ok) {
		snapshot_free(&fs->base);
		return NULL;
	}
	return &fs->base;
}

/* ---- extents ----------------------------------------------------------------- */

int
file_span_add(struct file_disk *d, uint64_t off, uint64_t len, int kind)
{
	if (coalesce_queue_add(&d->q, off, len, kind) < 0) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	return 0;
}

/* Classifies one raw block given its new hash. */
static int
file_raw_block(struct file_disk *d, uint64_t b, uint64_t h, int zero)
{
	uint64_t off = b * FILE_BLOCK;
	uint64_t len = d->size - off < FILE_BLOCK ? d->size - off : FILE_BLOCK;
	int kind;

	d->new_hashes[b] = h; /* the scan's own value, or a hole's zero hash */
	if (d->incremental)
		kind = h == d->old_hashes[b] ? 0 : zero ? SNAP_ZERO : SNAP_DATA;
	else
		kind = zero ? 0 : SNAP_DATA; /* the receiver starts from zeros */
	return file_span_add(d, off, len, kind);
}

/* Classifies the next chunk of blocks, hashed by the block scan (which may
 * be ahead of us on its helper thread). */
static int
file_raw_fill(struct file_disk *d)
{
	uint64_t b = d->q.pos / FILE_BLOCK;
	uint32_t n, zmask;

	if (!d->scan && file_raw_scan_start(d) < 0)
		return -1;
	if (blockscan_wait(d->scan, b, &n, &zmask) < 0)
		return -1; /* logged where the read failed */
	for (uint32_t i = 0; i < n; i++)
		if (file_raw_block(d, b + i, d->new_hashes[b + i], (zmask >> i) & 1) < 0)
			return -1;
	d->q.pos = b + n >= d->nblocks ? d->size : (b + n) * FILE_BLOCK;
	__atomic_store_n(&d->scanned_end, d->q.pos, __ATOMIC_RELEASE);
	if (d->q.pos >= d->size) {
		blockscan_free(d->scan); /* done: the helper thread ends */
		d->scan = NULL;
	}
	return 0;
}

static int
file_fill(void *arg)
{
	struct file_disk *d = arg;

	return d->fmt == FILE_QCOW2 ? file_qcow2_fill(d) : file_raw_fill(d);
}

static int
file_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		 struct snap_extent *ext)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;
	struct file_disk *d = &fs->d[disk];
	int r = coalesce_queue_next(&d->q, d->size, max_len, file_fill, d, ext);

	if (r < 0)
		log_error("disk %s: %s: cannot list changed extents", d->name, d->path);
	return r;
}

static int
file_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	  size_t len)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	if (image_pread(fs->d[disk].img, buf, len, offset) < 0)
		return -1;
	file_read_check(&fs->d[disk], offset, buf, len);
	return 0;
}

static int
file_consistency(struct snapshot *snap, size_t disk)
{
	return file_level(&((struct file_snapshot *)snap)->d[disk]);
}

struct snapshot *
snapshot_file_begin(const struct snap_file_disk *disks, size_t ndisks,
		    const char *state_dir, uint64_t base_point)
{
	return file_begin(disks, ndisks, state_dir, base_point, 0);
}

struct snapshot *
snapshot_file_changes(const struct snap_file_disk *disks, size_t ndisks,
		      const char *state_dir, uint64_t base_point)
{
	return file_begin(disks, ndisks, state_dir, base_point, 1);
}

/* ---- commit / abort --------------------------------------------------------- */

static int
file_commit(struct snapshot *snap, uint64_t point_id)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	if (fs->readonly) {
		log_error("snapshot: a listing of changes is never committed");
		return -1;
	}

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		if ((d->fmt == FILE_QCOW2 ? file_qcow2_commit(d, point_id)
					  : file_raw_commit(d, point_id)) < 0) {
			log_error("disk %s: commit of point %" PRIu64 " failed",
				  d->name, point_id);
			return -1;
		}
		d->committed = 1;
		srcstate_remove(d->name, d->attempt_path);
	}
	log_debug("snapshot: committed point %" PRIu64 " (%zu disks)", point_id,
		  snap->ndisks);
	return 0;
}

/* Every block was read and sent: a raw disk's new hashes are written and
 * fsynced beside the hash file while the receiver commits, so the commit
 * only renames them into place (~10 ms less per cycle here). A disk whose
 * staging fails is written by the commit as before. */
static void
file_reads_done(struct snapshot *snap, uint64_t point_id)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	if (fs->readonly)
		return;
	for (size_t i = 0; i < snap->ndisks; i++)
		if (fs->d[i].fmt == FILE_RAW)
			(void)file_raw_stage(&fs->d[i], point_id); /* logged */
}

static void
file_free(struct snapshot *snap)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		blockscan_free(d->scan); /* before what it borrows */
		d->scan = NULL;
		file_raw_unstage(d); /* a no-op after the commit */
		image_free(d->img);
		d->img = NULL;
		file_clone_end(d);
		if (d->fmt == FILE_QCOW2 && d->rotated && !d->committed) {
			/* Nobody wrote during the attempt: after our own abort
			 * changes, record the image again so the attempt stays
			 * resumable; otherwise leave the stale record. */
			int clean = file_attempt_matches(d, fs->base_point);

			file_qcow2_abort(d);
			if (clean)
				(void)file_attempt_save(d, fs->base_point);
		}
		file_bitmaps_clear(d);
		free(d->path);
		free(d->tpath);
		free(d->state_path);
		free(d->hash_path);
		free(d->attempt_path);
		free(d->state_dir);
		free(d->st_image);
		free(d->old_hashes);
		free(d->new_buf);
		coalesce_queue_free(&d->q);
	}
	free(fs);
}

static const struct snapshot_ops file_ops = {
	.name = "file", .next_extent = file_next_extent, .read = file_read,
	.commit = file_commit, .free = file_free, .consistency = file_consistency,
	.reads_done = file_reads_done,
};
