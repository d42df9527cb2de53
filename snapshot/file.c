/* "file" change source: offline disk image files. qcow2 changes come from
 * persistent dirty bitmaps (nestor.<gen>), raw changes from per-block hashes. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "snapshot/blockscan.h"
#include "snapshot/coalesce.h"
#include "snapshot/image.h"
#include "snapshot/source.h"

#define FILE_BLOCK        (64u * 1024)  /* raw hash block */
#define FILE_WINDOW       (1ull << 30)  /* block status window */
#define FILE_STATE_MAX    (64u * 1024)  /* state JSON size cap */
#define FILE_STATE_VER    1
#define FILE_HASH_MAGIC   "NESTHASH"
#define FILE_HASH_VER     1u
#define FILE_HASH_HDR     32u           /* magic, version, block, size, point */
#define FILE_BM_PREFIX    "nestor."

enum file_fmt { FILE_RAW, FILE_QCOW2 };

/* nestor.* bitmaps of a qcow2 image, per `qemu-img info`. */
struct file_bitmap {
	char *name;
	uint64_t gen; /* 0 if the suffix is not a number */
	int enabled, in_use;
};

struct file_disk {
	const char *name; /* points into snap->base.disks[] */
	char *path, *tpath, *state_path, *hash_path, *attempt_path;
	char *state_dir;
	int unchanged; /* image untouched since the interrupted attempt */
	enum file_fmt fmt;
	uint64_t size;
	struct image *img;
	int incremental;
	const char *full_reason;

	/* committed state as loaded (have_state = 0: none/unusable) */
	int have_state;
	uint64_t st_point, st_gen, st_size;
	char *st_image;

	/* qcow2 */
	struct file_bitmap *bms;
	size_t nbms;
	uint64_t gen;  /* bitmap read (incremental); 0 for a full copy */
	int rotated;   /* nestor.<gen+1> exists for this snapshot */

	/* raw: hash file buffer = header + nblocks LE uint64 */
	uint64_t nblocks;
	uint64_t *old_hashes;
	unsigned char *new_buf;
	uint64_t *new_hashes; /* inside new_buf */
	struct blockscan *scan; /* hashes new_hashes ahead of the extent iterator */
	uint64_t zero_hash, zero_hash_tail;

	struct coalesce_queue q; /* extent iterator */
	int committed;
};

struct file_snapshot {
	struct snapshot base; /* first: the generic code casts */
	struct file_disk d[SNAP_MAX_DISKS];
	uint64_t base_point;
};

static const struct snapshot_ops file_ops;

static const char *
file_fmt_name(enum file_fmt f)
{
	return f == FILE_QCOW2 ? "qcow2" : "raw";
}

/* ---- qemu-img helpers ---------------------------------------------------- */

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

static void
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

/* Format, size and (qcow2) nestor.* bitmaps from `qemu-img info`. */
static int
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

static struct file_bitmap *
file_bitmap_find(struct file_disk *d, uint64_t gen)
{
	for (size_t i = 0; gen && i < d->nbms; i++)
		if (d->bms[i].gen == gen)
			return &d->bms[i];
	return NULL;
}

/* ---- state files ---------------------------------------------------------- */

/* Loads state_dir/<disk>.json; a missing file is "no state" (0), a bad one is
 * logged and ignored (full copy), not fatal. */
static int
file_state_load(struct file_disk *d)
{
	void *data = NULL;
	size_t len = 0;
	json_t *root = NULL;
	json_error_t jerr;
	const char *fmt, *img, *point;
	json_t *size, *gen, *ver;

	d->have_state = 0;
	if (access(d->state_path, F_OK) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("disk %s: %s: %m", d->name, d->state_path);
		return -1;
	}
	if (file_read_all(d->state_path, FILE_STATE_MAX, &data, &len) < 0)
		return -1;
	root = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!root) {
		log_warn("disk %s: %s: unreadable state (%s), ignoring it",
			 d->name, d->state_path, jerr.text);
		return 0;
	}
	ver = json_object_get(root, "version");
	fmt = json_string_value(json_object_get(root, "format"));
	img = json_string_value(json_object_get(root, "image"));
	point = json_string_value(json_object_get(root, "point"));
	size = json_object_get(root, "size");
	gen = json_object_get(root, "gen");
	if (json_integer_value(ver) != FILE_STATE_VER || !fmt || !img || !point ||
	    !json_is_integer(size) || json_integer_value(size) < 0 ||
	    parse_u64(point, &d->st_point) < 0 ||
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

static int
file_state_save(struct file_disk *d, uint64_t point, uint64_t gen)
{
	json_t *root = NULL;
	char *txt = NULL, pbuf[24];
	int ret = -1;

	snprintf(pbuf, sizeof(pbuf), "%" PRIu64, point);
	/* Point ids are kept as text: JSON integers here are signed. */
	root = json_pack("{s:i, s:s, s:s, s:I, s:s}", "version", FILE_STATE_VER,
			 "format", file_fmt_name(d->fmt), "image", d->path,
			 "size", (json_int_t)d->size, "point", pbuf);
	if (!root || (d->fmt == FILE_QCOW2 &&
		      json_object_set_new(root, "gen",
					  json_integer((json_int_t)gen)) < 0)) {
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

static int
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

/* ---- attempts ------------------------------------------------------------ */

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
static int
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

static void
file_attempt_check(struct file_disk *d, uint64_t base_point)
{
	d->unchanged = file_attempt_matches(d, base_point);
	if (!d->unchanged && access(d->attempt_path, F_OK) == 0)
		log_info("disk %s: %s: changed since the interrupted attempt (or "
			 "another base); its pending data is not reused", d->name, d->path);
}

static int
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

static void
file_attempt_remove(struct file_disk *d)
{
	if (unlink(d->attempt_path) < 0 && errno != ENOENT)
		log_warn("disk %s: %s: unlink: %m", d->name, d->attempt_path);
}

/* ---- begin ----------------------------------------------------------------- */

/* qcow2: finish what an interrupted snapshot left behind so no change is
 * lost: nestor.<gen+1> collected writes since that snapshot began. */
static int
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

/* Decides (without changing anything) whether this disk can be incremental. */
static void
file_decide(struct file_disk *d, uint64_t base_point)
{
	struct file_bitmap *b;

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
	if (strcmp(d->st_image, d->path) != 0) {
		d->full_reason = "image path changed";
		return;
	}
	if (d->st_size != d->size) {
		d->full_reason = "size changed";
		return;
	}
	if (d->fmt == FILE_QCOW2) {
		b = file_bitmap_find(d, d->st_gen);
		if (!b) {
			d->full_reason = "bitmap missing";
			return;
		}
		if (b->in_use) {
			d->full_reason = "bitmap inconsistent";
			return;
		}
		if (!b->enabled) {
			d->full_reason = "bitmap was disabled (changes may be untracked)";
			return;
		}
	} else {
		int r = file_hashes_load(d);
		if (r <= 0) {
			d->full_reason = r < 0 ? "hash file unreadable"
					       : "hash file missing or stale";
			return;
		}
	}
	d->incremental = 1;
}

static int
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
	if (!d->img) {
		log_error("disk %s: %s: cannot open image", d->name, d->path);
		return -1;
	}
	return 0;
}

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
	d->img = image_open(d->path, "raw");
	if (!d->img) {
		log_error("disk %s: %s: cannot open image", d->name, d->path);
		return -1;
	}
	return 0;
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
	size_t nlen;

	if (!in->name || !in->path ||
	    !name_valid(in->name, strlen(in->name)) ||
	    (nlen = strlen(in->name)) >= sizeof(fs->base.disks[i].name)) {
		log_error("snapshot: disk %zu: invalid name or missing path", i);
		return -1;
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(fs->base.disks[j].name, in->name) == 0) {
			log_error("snapshot: disk %s: listed twice", in->name);
			return -1;
		}
	if (in->format && strcmp(in->format, "qcow2") != 0 &&
	    strcmp(in->format, "raw") != 0) {
		log_error("disk %s: %s: unsupported format %s", in->name, in->path,
			  in->format);
		return -1;
	}
	memcpy(fs->base.disks[i].name, in->name, nlen + 1);
	d->name = fs->base.disks[i].name;
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
	if (d->fmt == FILE_QCOW2 && file_qcow2_recover(d) < 0)
		return -1;
	return 0;
}

struct snapshot *
snapshot_file_begin(const struct snap_file_disk *disks, size_t ndisks,
		    const char *state_dir, uint64_t base_point)
{
	struct file_snapshot *fs = NULL;
	struct timespec ts;
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
	clock_gettime(CLOCK_REALTIME, &ts);
	fs->base.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (mkdir_p(state_dir, 0700) < 0)
		goto out;

	/* Inspect every disk first: the group is incremental only if every
	 * disk is, since the receiver starts all disks afresh for a full copy. */
	for (size_t i = 0; i < ndisks; i++) {
		fs->base.ndisks = i + 1;
		if (file_disk_init(fs, i, &disks[i], state_dir, base_point) < 0)
			goto out;
		file_decide(&fs->d[i], base_point);
		incremental &= fs->d[i].incremental;
	}
	for (size_t i = 0; i < ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		if (!incremental && d->incremental) {
			d->incremental = 0;
			d->full_reason = "another disk of the group needs a full copy";
		}
		if (!d->incremental)
			log_info("disk %s: %s: full copy: %s", d->name, d->path,
				 d->full_reason);
		if (d->fmt == FILE_QCOW2 ? file_qcow2_setup(d, state_dir) < 0
					 : file_raw_setup(d) < 0)
			goto out;
		if (image_size(d->img) != d->size) {
			log_error("disk %s: %s: size changed while opening", d->name,
				  d->path);
			goto out;
		}
		/* The first disk's hashing starts now, while the receiver
		 * opens the point; later disks start when they are reached. */
		if (i == 0 && d->fmt == FILE_RAW && file_raw_scan_start(d) < 0)
			goto out;
		if (file_attempt_save(d, base_point) < 0)
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

static int
file_span_add(struct file_disk *d, uint64_t off, uint64_t len, int kind)
{
	if (coalesce_queue_add(&d->q, off, len, kind) < 0) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	return 0;
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

static int
file_qcow2_fill(struct file_disk *d)
{
	int64_t n = image_extents(d->img, d->q.pos, FILE_WINDOW, file_qcow2_cb, d);

	if (n <= 0)
		return -1;
	d->q.pos += (uint64_t)n;
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
	return image_pread(fs->d[disk].img, buf, len, offset);
}

/* ---- commit / abort --------------------------------------------------------- */

static int
file_raw_commit(struct file_disk *d, uint64_t point_id)
{
	size_t len = FILE_HASH_HDR + (size_t)d->nblocks * 8;

	blockscan_free(d->scan); /* normally gone already, at the end of the pass */
	d->scan = NULL;
	memcpy(d->new_buf, FILE_HASH_MAGIC, 8);
	file_put_u32(d->new_buf + 8, FILE_HASH_VER);
	file_put_u32(d->new_buf + 12, FILE_BLOCK);
	file_put_u64(d->new_buf + 16, d->size);
	file_put_u64(d->new_buf + 24, point_id);
	for (uint64_t i = 0; i < d->nblocks; i++)
		d->new_hashes[i] = htole64(d->new_hashes[i]);
	/* Hashes first: they name their point, so a crash before the state
	 * is written leaves a mismatch (full copy), never a wrong base. */
	if (file_write_atomic(d->hash_path, d->new_buf, len, 0600) < 0 ||
	    file_state_save(d, point_id, 0) < 0) {
		for (uint64_t i = 0; i < d->nblocks; i++)
			d->new_hashes[i] = le64toh(d->new_hashes[i]);
		return -1;
	}
	image_free(d->img);
	d->img = NULL;
	return 0;
}

static int
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

static int
file_commit(struct snapshot *snap, uint64_t point_id)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		if ((d->fmt == FILE_QCOW2 ? file_qcow2_commit(d, point_id)
					  : file_raw_commit(d, point_id)) < 0) {
			log_error("disk %s: commit of point %" PRIu64 " failed",
				  d->name, point_id);
			return -1;
		}
		d->committed = 1;
		file_attempt_remove(d);
	}
	log_debug("snapshot: committed point %" PRIu64 " (%zu disks)", point_id,
		  snap->ndisks);
	return 0;
}

/* Abort of a qcow2 incremental: fold writes made since begin back into the
 * base bitmap, which again becomes the one collecting writes. */
static void
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

static void
file_free(struct snapshot *snap)
{
	struct file_snapshot *fs = (struct file_snapshot *)snap;

	for (size_t i = 0; i < snap->ndisks; i++) {
		struct file_disk *d = &fs->d[i];

		blockscan_free(d->scan); /* before what it borrows */
		d->scan = NULL;
		image_free(d->img);
		d->img = NULL;
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
	.name = "file",
	.next_extent = file_next_extent,
	.read = file_read,
	.commit = file_commit,
	.free = file_free,
};
