/* Inside the "file" change source: its private structs and the steps its
 * files share (file.c: begin, extents, commit; file-state.c: the per-disk
 * state, block hashes and attempt records, and the incremental decision;
 * file-qcow2.c: qemu-img info and the nestor.<gen> dirty bitmaps). Not for
 * use outside snapshot/file*.c. */
#ifndef NESTOR_SNAPSHOT_FILE_PRIV_H
#define NESTOR_SNAPSHOT_FILE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/coalesce.h"
#include "snapshot/filemarks.h"
#include "snapshot/source.h"

struct image;
struct blockscan;

#define FILE_BLOCK        (64u * 1024)  /* raw hash block */
#define FILE_WINDOW       (1ull << 30)  /* block status window */
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
	uint64_t staged_point;  /* <hash_path>.tmp holds this point's hashes; 0 none */
	uint64_t zero_hash, zero_hash_tail;

	struct coalesce_queue q; /* extent iterator */
	int committed;

	/* consistency (file-clone.c) */
	int clone_mode;         /* enum snap_clone */
	int clone_fd;           /* reflink copy being read (O_TMPFILE), -1 none */
	struct filemarks marks0; /* in place: before the first read */
	int torn;               /* a read block differed from its scan (atomic) */
	uint64_t scanned_end;   /* raw: blocks below are hashed (atomic) */
	int level;              /* enum consistency once known, 0 before */
};

struct file_snapshot {
	struct snapshot base; /* first: the generic code casts */
	struct file_disk d[SNAP_MAX_DISKS];
	uint64_t base_point;
	int readonly; /* snapshot_file_changes: list only, nothing written */
};

/* file.c */
const char *file_fmt_name(enum file_fmt f);
/* 0 if d->img is open, else -1 (logged). */
int file_opened(struct file_disk *d);
/* Queues a classified span of d. 0 / -1 (logged). */
int file_span_add(struct file_disk *d, uint64_t off, uint64_t len, int kind);

/* file-state.c: state_dir/<disk>.json, .hashes and .attempt. */
/* 0 (a missing or bad state is none), -1 on error. */
int file_state_load(struct file_disk *d);
int file_state_save(struct file_disk *d, uint64_t point, uint64_t gen);
int file_state_remove(struct file_disk *d, const char *state_dir);
/* Whether the image is unchanged since an interrupted attempt against
 * base_point (sets d->unchanged, logs when not). */
void file_attempt_check(struct file_disk *d, uint64_t base_point);
int file_attempt_matches(struct file_disk *d, uint64_t base_point);
int file_attempt_save(struct file_disk *d, uint64_t base_point);
/* srcstate_decide's check of a struct file_disk: why it needs a full copy
 * (static storage), NULL when it may be incremental. */
const char *file_full_reason(void *disk);
/* Raw, once every block was read: the new block hashes of point_id written
 * and fsynced beside the hash file (.tmp), not yet in its place. 0 / -1
 * (logged; the commit then writes them itself). */
int file_raw_stage(struct file_disk *d, uint64_t point_id);
/* Raw: the new block hashes (the staged ones when staged for point_id),
 * then the state, durably. 0 / -1. */
int file_raw_commit(struct file_disk *d, uint64_t point_id);
/* Raw: a staged hash file that will not be committed is removed. */
void file_raw_unstage(struct file_disk *d);

/* file-clone.c */
/* Raw disks: the path to read (a reflink copy's /proc/self/fd path in buf,
 * or d->path) after trying the clone d->clone_mode asks for. NULL on error
 * (logged). */
const char *file_clone_begin(struct file_disk *d, char *buf, size_t len);
/* Before the first read of an in-place disk: its change markers. 0 / -1. */
int file_marks_begin(struct file_disk *d);
/* After a read of [offset, offset + len) of a raw disk into buf: blocks
 * that differ from their scan make the disk torn and take the hash of what
 * was read (what the receiver gets). */
void file_read_check(struct file_disk *d, uint64_t offset, const void *buf, size_t len);
/* The disk's level (enum consistency), decided on the first call after the
 * reads: logs a warning when it was written during the read. */
int file_level(struct file_disk *d);
void file_clone_end(struct file_disk *d);

/* file-qcow2.c */
/* Format and size of d's image per `qemu-img info` (and its nestor.*
 * bitmaps); a disk configured as raw is measured directly. 0 / -1. */
int file_info(struct file_disk *d, const char *want_fmt);
void file_bitmaps_clear(struct file_disk *d);
struct file_bitmap *file_bitmap_find(struct file_disk *d, uint64_t gen);
/* Repairs what an interrupted rotation left. 0 / -1. */
int file_qcow2_recover(struct file_disk *d);
/* Rotates the bitmaps and opens the image for extents. 0 / -1. */
int file_qcow2_setup(struct file_disk *d, const char *state_dir);
/* Queues the next window's spans of a qcow2 disk. 0 / -1. */
int file_qcow2_fill(struct file_disk *d);
int file_qcow2_commit(struct file_disk *d, uint64_t point_id);
void file_qcow2_abort(struct file_disk *d);

#endif
