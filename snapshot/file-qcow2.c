/* The file source's qcow2 side: `qemu-img info`, the nestor.<gen>
 * persistent dirty bitmaps (rotate, recover, merge back on abort) and the
 * extents they mark. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/parse.h"
#include "snapshot/file-priv.h"
#include "snapshot/image.h"

/* qemu-img bitmap OP [ARG [ARG]] -f qcow2 IMAGE BITMAP; unused args NULL
 * (e.g. "--merge", SRC, "--enable" or "--add", "--enable", NULL). */
static int
file_bitmap_op(struct file_disk *d, const char *bitmap, const char *op,
	       const char *arg1, const char *arg2)
{
	const char *args[10];
	size_t n = 0;

	args[n++] = "bitmap";
	args[n++] = op;
	if (arg1)
		args[n++] = arg1;
	if (arg2)
		args[n++] = arg2;
	args[n++] = "-f";
	args[n++] = "qcow2";
	args[n++] = d->tpath;
	args[n++] = bitmap;
	args[n] = NULL;
	if (image_qemu_img(args, NULL) < 0) {
		log_error("disk %s: %s: bitmap %s update failed", d->name, d->path,
			  bitmap);
		return -1;
	}
	return 0;
}

void
file_bitmaps_clear(struct file_disk *d)
{
	for (size_t i = 0; i < d->nbms; i++)
		free(d->bms[i].name);
	free(d->bms);
	d->bms = NULL;
	d->nbms = 0;
}

static int
file_flags_has(json_t *flags, const char *flag)
{
	size_t i;
	json_t *v;

	json_array_foreach(flags, i, v) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, flag) == 0)
			return 1;
	}
	return 0;
}

/* Format, size and (qcow2) nestor.* bitmaps from `qemu-img info`; a disk
 * configured as raw is measured directly. */
int
file_info(struct file_disk *d, const char *want_fmt)
{
	const char *args[8];
	size_t n = 0, i;
	char *txt = NULL;
	json_t *root = NULL, *bms, *v;
	json_error_t jerr;
	const char *fmt;
	json_int_t size;
	int ret = -1;

	file_bitmaps_clear(d);
	if (want_fmt && strcmp(want_fmt, "raw") == 0) {
		/* A raw image's size is its file's or device's: no qemu-img
		 * run (a process start, 15-20 ms before every raw cycle). */
		struct image *img = image_open(d->path, "raw");

		if (!img)
			return -1; /* logged with the path */
		d->fmt = FILE_RAW;
		d->size = image_size(img);
		image_free(img);
		return 0;
	}
	args[n++] = "info";
	args[n++] = "-U";
	args[n++] = "--output=json";
	if (want_fmt) {
		args[n++] = "-f";
		args[n++] = want_fmt;
	}
	args[n++] = d->tpath;
	args[n] = NULL;
	if (image_qemu_img(args, &txt) < 0) {
		log_error("disk %s: %s: cannot inspect image", d->name, d->path);
		goto out;
	}
	root = json_loads(txt, 0, &jerr);
	if (!root || !json_is_object(root)) {
		log_error("disk %s: %s: qemu-img info output: %s", d->name, d->path,
			  root ? "not an object" : jerr.text);
		goto out;
	}
	fmt = json_string_value(json_object_get(root, "format"));
	if (fmt && strcmp(fmt, "qcow2") == 0) {
		d->fmt = FILE_QCOW2;
	} else if (fmt && strcmp(fmt, "raw") == 0) {
		d->fmt = FILE_RAW;
	} else {
		log_error("disk %s: %s: unsupported image format %s", d->name,
			  d->path, fmt ? fmt : "(none)");
		goto out;
	}
	v = json_object_get(root, "virtual-size");
	size = json_integer_value(v);
	if (!json_is_integer(v) || size < 0) {
		log_error("disk %s: %s: qemu-img info has no valid virtual-size",
			  d->name, d->path);
		goto out;
	}
	d->size = (uint64_t)size;

	bms = json_object_get(json_object_get(json_object_get(root,
				"format-specific"), "data"), "bitmaps");
	if (d->fmt == FILE_QCOW2 && json_is_array(bms) && json_array_size(bms)) {
		d->bms = calloc(json_array_size(bms), sizeof(*d->bms));
		if (!d->bms) {
			log_error("disk %s: out of memory", d->name);
			goto out;
		}
		json_array_foreach(bms, i, v) {
			const char *name = json_string_value(json_object_get(v, "name"));
			json_t *flags = json_object_get(v, "flags");
			struct file_bitmap *b = &d->bms[d->nbms];

			if (!name || strncmp(name, FILE_BM_PREFIX,
					     strlen(FILE_BM_PREFIX)) != 0)
				continue; /* somebody else's bitmap */
			b->name = strdup(name);
			if (!b->name) {
				log_error("disk %s: out of memory", d->name);
				goto out;
			}
			d->nbms++;
			if (parse_u64(name + strlen(FILE_BM_PREFIX), &b->gen) < 0)
				b->gen = 0;
			b->enabled = file_flags_has(flags, "auto");
			b->in_use = file_flags_has(flags, "in-use");
		}
	}
	ret = 0;
out:
	json_decref(root);
	free(txt);
	return ret;
}

struct file_bitmap *
file_bitmap_find(struct file_disk *d, uint64_t gen)
{
	for (size_t i = 0; gen && i < d->nbms; i++)
		if (d->bms[i].gen == gen)
			return &d->bms[i];
	return NULL;
}

/* qcow2: finish what an interrupted snapshot left behind so no change is
 * lost: nestor.<gen+1> collected writes since that snapshot began. */
int
file_qcow2_recover(struct file_disk *d)
{
	struct file_bitmap *cur, *next;
	char curname[40], nextname[40];

	if (!d->have_state)
		return 0;
	cur = file_bitmap_find(d, d->st_gen);
	next = file_bitmap_find(d, d->st_gen + 1);
	if (!next || !cur)
		return 0; /* nothing to merge back; a missing cur means full */
	snprintf(curname, sizeof(curname), FILE_BM_PREFIX "%" PRIu64, d->st_gen);
	snprintf(nextname, sizeof(nextname), FILE_BM_PREFIX "%" PRIu64, d->st_gen + 1);
	log_warn("disk %s: %s: merging %s back into %s after an interrupted "
		 "snapshot", d->name, d->path, nextname, curname);
	if (file_bitmap_op(d, curname, "--merge", nextname, "--enable") < 0 ||
	    file_bitmap_op(d, nextname, "--remove", NULL, NULL) < 0)
		return -1;
	return file_info(d, "qcow2");
}

int
file_qcow2_setup(struct file_disk *d, const char *state_dir)
{
	char name[40], nextname[40];

	if (d->incremental) {
		d->gen = d->st_gen;
		for (size_t i = 0; i < d->nbms; i++)
			if (d->bms[i].gen != d->gen &&
			    file_bitmap_op(d, d->bms[i].name, "--remove", NULL, NULL) < 0)
				return -1;
		snprintf(name, sizeof(name), FILE_BM_PREFIX "%" PRIu64, d->gen);
		snprintf(nextname, sizeof(nextname), FILE_BM_PREFIX "%" PRIu64,
			 d->gen + 1);
		/* Add the next one before freezing this one: a crash in between
		 * leaves two bitmaps that recovery merges, never a gap. */
		if (file_bitmap_op(d, nextname, "--add", "--enable", NULL) < 0)
			return -1;
		d->rotated = 1;
		if (file_bitmap_op(d, name, "--disable", NULL, NULL) < 0)
			return -1;
		d->img = image_open_bitmap(d->path, "qcow2", name);
	} else {
		/* The old state no longer describes the bitmaps once they go. */
		if (file_state_remove(d, state_dir) < 0)
			return -1;
		for (size_t i = 0; i < d->nbms; i++)
			if (file_bitmap_op(d, d->bms[i].name, "--remove", NULL, NULL) < 0)
				return -1;
		if (file_bitmap_op(d, FILE_BM_PREFIX "1", "--add", "--enable",
				   NULL) < 0)
			return -1;
		d->gen = 0;
		d->img = image_open(d->path, "qcow2");
	}
	return file_opened(d);
}

static int
file_qcow2_cb(void *opaque, uint64_t off, uint64_t len, unsigned flags)
{
	struct file_disk *d = opaque;
	int kind;

	if (d->incremental)
		kind = !(flags & IMAGE_EXT_DIRTY) ? 0
			: (flags & (IMAGE_EXT_HOLE | IMAGE_EXT_ZERO)) ? SNAP_ZERO
			: SNAP_DATA;
	else
		kind = (flags & (IMAGE_EXT_HOLE | IMAGE_EXT_ZERO)) ? 0 : SNAP_DATA;
	return file_span_add(d, off, len, kind);
}

int
file_qcow2_fill(struct file_disk *d)
{
	int64_t n = image_extents(d->img, d->q.pos, FILE_WINDOW, file_qcow2_cb, d);

	if (n <= 0)
		return -1;
	d->q.pos += (uint64_t)n;
	return 0;
}

int
file_qcow2_commit(struct file_disk *d, uint64_t point_id)
{
	uint64_t newgen = d->incremental ? d->gen + 1 : 1;
	char name[40];

	/* qemu-nbd must let go of the image before qemu-img may change it. */
	image_free(d->img);
	d->img = NULL;
	if (file_state_save(d, point_id, newgen) < 0)
		return -1;
	d->rotated = 0;
	if (d->incremental) {
		snprintf(name, sizeof(name), FILE_BM_PREFIX "%" PRIu64, d->gen);
		/* The state already names the new bitmap; a leftover old one is
		 * a stray that the next begin removes. */
		if (file_bitmap_op(d, name, "--remove", NULL, NULL) < 0)
			log_warn("disk %s: %s: old bitmap %s kept; removed next time",
				 d->name, d->path, name);
	}
	return 0;
}

/* Abort of a qcow2 incremental: fold writes made since begin back into the
 * base bitmap, which again becomes the one collecting writes. */
void
file_qcow2_abort(struct file_disk *d)
{
	char name[40], nextname[40];

	snprintf(name, sizeof(name), FILE_BM_PREFIX "%" PRIu64, d->gen);
	snprintf(nextname, sizeof(nextname), FILE_BM_PREFIX "%" PRIu64, d->gen + 1);
	if (file_bitmap_op(d, name, "--merge", nextname, "--enable") < 0 ||
	    file_bitmap_op(d, nextname, "--remove", NULL, NULL) < 0)
		log_warn("disk %s: %s: abort incomplete; the next snapshot "
			 "recovers the bitmaps", d->name, d->path);
}
