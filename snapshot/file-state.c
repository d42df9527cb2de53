/* The file source's per-disk records: the committed state, the block
 * hashes of raw images, the attempt fingerprint; and what they allow
 * (incremental, reuse of an attempt's data). */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "snapshot/blockscan.h"
#include "snapshot/file-priv.h"
#include "snapshot/image.h"
#include "snapshot/srcstate.h"

/* Loads state_dir/<disk>.json; a missing file is "no state" (0), a bad one is
 * logged and ignored (full copy), not fatal. */
int
file_state_load(struct file_disk *d)
{
	json_t *root = NULL;
	const char *fmt, *img;
	json_t *size, *gen;
	int r;

	d->have_state = 0;
	if ((r = srcstate_load("disk", d->name, d->state_path, &root)) <= 0)
		return r; /* none (0) or an I/O error */
	fmt = json_string_value(json_object_get(root, "format"));
	img = json_string_value(json_object_get(root, "image"));
	size = json_object_get(root, "size");
	gen = json_object_get(root, "gen");
	if (json_integer_value(json_object_get(root, "version")) != FILE_STATE_VER ||
	    !fmt || !img || !json_is_integer(size) || json_integer_value(size) < 0 ||
	    srcstate_get_u64(root, "point", &d->st_point) < 0 ||
	    (strcmp(fmt, "qcow2") == 0 &&
	     (!json_is_integer(gen) || json_integer_value(gen) <= 0)) ||
	    strcmp(fmt, file_fmt_name(d->fmt)) != 0) {
		log_warn("disk %s: %s: state is malformed or for another format, "
			 "ignoring it", d->name, d->state_path);
		json_decref(root);
		return 0;
	}
	d->st_image = strdup(img);
	if (!d->st_image) {
		json_decref(root);
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	d->st_size = (uint64_t)json_integer_value(size);
	d->st_gen = json_is_integer(gen) ? (uint64_t)json_integer_value(gen) : 0;
	d->have_state = 1;
	json_decref(root);
	return 0;
}

int
file_state_save(struct file_disk *d, uint64_t point, uint64_t gen)
{
	json_t *root = json_pack("{s:i, s:s, s:s, s:I}", "version", FILE_STATE_VER,
				 "format", file_fmt_name(d->fmt), "image", d->path,
				 "size", (json_int_t)d->size);

	if (srcstate_set_u64(root, "point", point) < 0 ||
	    (d->fmt == FILE_QCOW2 &&
	     json_object_set_new(root, "gen", json_integer((json_int_t)gen)) < 0)) {
		json_decref(root);
		root = NULL;
	}
	return srcstate_save("disk", d->name, d->state_path, root,
			     JSON_INDENT(1) | JSON_SORT_KEYS);
}

int
file_state_remove(struct file_disk *d, const char *state_dir)
{
	if (unlink(d->state_path) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("disk %s: %s: unlink: %m", d->name, d->state_path);
		return -1;
	}
	return dir_fsync(state_dir);
}

static void
file_put_u32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
file_put_u64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t
file_get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t
file_get_u64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Loads the block hashes committed with the state; 1 if usable, 0 if not
 * (the reason is logged by the caller as a full copy), -1 on error. */
static int
file_hashes_load(struct file_disk *d)
{
	unsigned char hdr[FILE_HASH_HDR];
	struct stat st;
	uint64_t want;
	int fd = -1, ret = -1;

	fd = open(d->hash_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			ret = 0;
			goto out;
		}
		log_error("disk %s: %s: open: %m", d->name, d->hash_path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		log_error("disk %s: %s: fstat: %m", d->name, d->hash_path);
		goto out;
	}
	if (__builtin_mul_overflow(d->nblocks, 8, &want) ||
	    __builtin_add_overflow(want, FILE_HASH_HDR, &want) ||
	    (uint64_t)st.st_size != want ||
	    fd_pread_all(fd, hdr, sizeof(hdr), 0) < 0 ||
	    memcmp(hdr, FILE_HASH_MAGIC, 8) != 0 ||
	    file_get_u32(hdr + 8) != FILE_HASH_VER ||
	    file_get_u32(hdr + 12) != FILE_BLOCK ||
	    file_get_u64(hdr + 16) != d->size ||
	    file_get_u64(hdr + 24) != d->st_point) {
		ret = 0;
		goto out;
	}
	d->old_hashes = malloc(d->nblocks ? d->nblocks * 8 : 1);
	if (!d->old_hashes) {
		log_error("disk %s: out of memory for %" PRIu64 " block hashes",
			  d->name, d->nblocks);
		goto out;
	}
	if (fd_pread_all(fd, d->old_hashes, d->nblocks * 8, FILE_HASH_HDR) < 0) {
		log_error("disk %s: %s: read: %m", d->name, d->hash_path);
		goto out;
	}
	for (uint64_t i = 0; i < d->nblocks; i++)
		d->old_hashes[i] = le64toh(d->old_hashes[i]);
	ret = 1;
out:
	if (fd >= 0)
		close(fd);
	if (ret != 1) {
		free(d->old_hashes);
		d->old_hashes = NULL;
	}
	return ret;
}

/* An attempt file records, for a begun but not committed snapshot, the base
 * it was taken against and the image's identity and timestamps right after
 * our own changes to it (bitmap rotation). If the next begin finds the same
 * base and the same stat, nobody wrote the image in between, so the data the
 * receiver already holds from that attempt is still right. */
static void
file_fingerprint(const struct stat *st, uint64_t fp[5])
{
	fp[0] = (uint64_t)st->st_dev;
	fp[1] = (uint64_t)st->st_ino;
	fp[2] = (uint64_t)st->st_size;
	fp[3] = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
	fp[4] = (uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec;
}

/* 1 if the attempt file names base_point and the image's current stat. */
int
file_attempt_matches(struct file_disk *d, uint64_t base_point)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	uint64_t fp[5];
	char want[160];
	int r;

	if (stat(d->path, &st) < 0 || access(d->attempt_path, F_OK) < 0)
		return 0;
	if (file_read_all(d->attempt_path, 4096, (void **)&text, &len) < 0)
		return 0;
	file_fingerprint(&st, fp);
	snprintf(want, sizeof(want), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		 " %" PRIu64 " %" PRIu64 "\n", base_point, fp[0], fp[1], fp[2], fp[3], fp[4]);
	r = strcmp(text, want) == 0;
	free(text);
	return r;
}

void
file_attempt_check(struct file_disk *d, uint64_t base_point)
{
	d->unchanged = file_attempt_matches(d, base_point);
	if (!d->unchanged && access(d->attempt_path, F_OK) == 0)
		log_info("disk %s: %s: changed since the interrupted attempt (or "
			 "another base); its pending data is not reused", d->name, d->path);
}

int
file_attempt_save(struct file_disk *d, uint64_t base_point)
{
	struct stat st;
	uint64_t fp[5];
	char buf[160];
	int n;

	if (stat(d->path, &st) < 0) {
		log_error("disk %s: %s: %m", d->name, d->path);
		return -1;
	}
	file_fingerprint(&st, fp);
	n = snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		     " %" PRIu64 " %" PRIu64 "\n", base_point, fp[0], fp[1], fp[2], fp[3], fp[4]);
	return file_write_atomic(d->attempt_path, buf, (size_t)n, 0600);
}

const char *
file_full_reason(void *disk)
{
	struct file_disk *d = disk;
	struct file_bitmap *b;
	int r;

	if (strcmp(d->st_image, d->path) != 0)
		return "image path changed";
	if (d->st_size != d->size)
		return "size changed";
	if (d->fmt != FILE_QCOW2) {
		r = file_hashes_load(d);
		if (r <= 0)
			return r < 0 ? "hash file unreadable" : "hash file missing or stale";
		return NULL;
	}
	b = file_bitmap_find(d, d->st_gen);
	if (!b)
		return "bitmap missing";
	if (b->in_use)
		return "bitmap inconsistent";
	if (!b->enabled)
		return "bitmap was disabled (changes may be untracked)";
	return NULL;
}

/* new_buf as the hash file of point_id: header, little-endian hashes. */
static void
file_raw_seal(struct file_disk *d, uint64_t point_id)
{
	memcpy(d->new_buf, FILE_HASH_MAGIC, 8);
	file_put_u32(d->new_buf + 8, FILE_HASH_VER);
	file_put_u32(d->new_buf + 12, FILE_BLOCK);
	file_put_u64(d->new_buf + 16, d->size);
	file_put_u64(d->new_buf + 24, point_id);
	for (uint64_t i = 0; i < d->nblocks; i++)
		d->new_hashes[i] = htole64(d->new_hashes[i]);
}

/* The hashes back in host order (no-ops on a little-endian host). */
static void
file_raw_unseal(struct file_disk *d)
{
	for (uint64_t i = 0; i < d->nblocks; i++)
		d->new_hashes[i] = le64toh(d->new_hashes[i]);
}

/* The new hashes as the hash file of point_id, handed to write
 * (file_stage or file_write_atomic: both log). 0 / -1. */
static int
file_raw_write(struct file_disk *d, uint64_t point_id,
	       int (*write)(const char *path, const void *data, size_t len, mode_t mode))
{
	int r;

	blockscan_free(d->scan); /* normally gone already, at the end of the pass */
	d->scan = NULL;
	file_raw_seal(d, point_id);
	r = write(d->hash_path, d->new_buf, FILE_HASH_HDR + (size_t)d->nblocks * 8, 0600);
	file_raw_unseal(d);
	return r;
}

int
file_raw_stage(struct file_disk *d, uint64_t point_id)
{
	int r = file_raw_write(d, point_id, file_stage);

	d->staged_point = r == 0 ? point_id : 0;
	return r;
}

void
file_raw_unstage(struct file_disk *d)
{
	if (d->staged_point)
		file_unstage(d->hash_path);
	d->staged_point = 0;
}

int
file_raw_commit(struct file_disk *d, uint64_t point_id)
{
	int r;

	/* Hashes first: they name their point, so a crash before the state
	 * is written leaves a mismatch (full copy), never a wrong base. The
	 * state's directory fsync makes a staged file's rename durable too. */
	if (d->staged_point == point_id) {
		r = file_publish(d->hash_path);
	} else {
		file_raw_unstage(d); /* staged for another point */
		r = file_raw_write(d, point_id, file_write_atomic);
	}
	d->staged_point = 0;
	if (r < 0 || file_state_save(d, point_id, 0) < 0)
		return -1;
	image_free(d->img);
	d->img = NULL;
	return 0;
}
