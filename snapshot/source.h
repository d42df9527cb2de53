/* Change sources: a consistent snapshot of a set of disks, the extents that
 * changed since the last committed base, reads of them, and commit (the
 * receiver committed: this snapshot becomes the new base) or abort (free
 * without commit: the old base is kept, nothing is lost).
 *
 * Sources implement struct snapshot_ops (nbdcopy-style ops table); callers
 * use only the functions below. */
#ifndef NESTOR_SNAPSHOT_SOURCE_H
#define NESTOR_SNAPSHOT_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum snap_kind { SNAP_DATA = 1, SNAP_ZERO = 2, SNAP_DISCARD = 3 }; /* == proto kinds */

struct snap_extent {
	uint64_t offset;
	uint64_t length;
	int kind; /* enum snap_kind */
};

/* How a raw image file is read: through a reflink copy taken at the
 * snapshot (one real instant, crash-consistent) or in place (its change
 * markers tell whether it was written meanwhile). */
enum snap_clone {
	SNAP_CLONE_AUTO = 0, /* reflink where the filesystem can, else in place */
	SNAP_CLONE_REFLINK,  /* reflink or fail */
	SNAP_CLONE_NONE,     /* in place */
};

/* A disk image file to protect. Strings are borrowed for the call. */
struct snap_file_disk {
	const char *name;   /* validated disk name, unique in the group */
	const char *path;   /* image file */
	const char *format; /* "qcow2", "raw" or NULL = probe */
	int clone;          /* enum snap_clone (raw images; qcow2 keep bitmaps) */
};

struct snapshot;

/* Begin a snapshot of offline disk image files (snapshot/file.c).
 * state_dir: directory owned by this source for this group (created if
 * missing) where per-disk change-tracking state lives.
 * base_point: the newest point the receiver holds (0 = none). If the
 * source's tracking state was committed at exactly that point, extents are
 * incremental; otherwise (first run, lost state, other point) they cover
 * every allocated range (full). qcow2: persistent dirty bitmaps through
 * qemu-img/qemu-nbd + libnbd; raw: per-block XXH3 hashes of the last
 * committed state (block = 64 KiB).
 * Returns NULL on error (logged). */
struct snapshot *snapshot_file_begin(const struct snap_file_disk *disks,
				     size_t ndisks, const char *state_dir,
				     uint64_t base_point);

/* What the disks changed since base_point, listed without a write: no
 * bitmap added or rotated, no state or attempt record written, the images
 * only read (a failback's X: what on-prem changed after the failover's
 * point). Incremental (snapshot_is_incremental) only when the tracking
 * state was committed at base_point; else it lists every allocated range.
 * Never committed (refused); free it. NULL on error (logged). */
struct snapshot *snapshot_file_changes(const struct snap_file_disk *disks, size_t ndisks,
				       const char *state_dir, uint64_t base_point);

size_t snapshot_ndisks(const struct snapshot *snap);
const char *snapshot_disk_name(const struct snapshot *snap, size_t disk);
uint64_t snapshot_disk_size(const struct snapshot *snap, size_t disk);
/* 1 if extents are relative to base_point, 0 for a full copy. */
int snapshot_is_incremental(const struct snapshot *snap);
/* Snapshot instant (unix ns). */
uint64_t snapshot_time_ns(const struct snapshot *snap);
/* 1 if the source proves that nothing changed since an interrupted attempt
 * at the same base_point: the receiver's durable part of that attempt's
 * pending point may be kept and only the rest sent. 0 otherwise: the
 * pending point must be discarded (its data may be stale). */
int snapshot_resumable(const struct snapshot *snap);

/* Next changed extent of `disk`, in increasing offset order, non-overlapping,
 * each at most max_len bytes. Returns 1 with *ext filled, 0 at the end, -1 on
 * error. Extents of a full copy never cover holes (holes are not reported at
 * all: the receiver's new image reads as zeros there). */
int snapshot_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
			 struct snap_extent *ext);

/* Read len bytes at offset of disk's snapshot into buf. 0 / -1. Thread-safe
 * for concurrent calls on different buffers (sources serialise internally
 * where their handles need it). */
int snapshot_read(struct snapshot *snap, size_t disk, uint64_t offset,
		  void *buf, size_t len);

/* The receiver durably committed this snapshot as point_id: make it the new
 * base (rotate bitmaps / store hashes), durably. 0 / -1. */
int snapshot_commit(struct snapshot *snap, uint64_t point_id);

/* Every extent was read and sent for point_id (after snapshot_consistency):
 * the source may release what only reading needed while the receiver
 * commits, instead of after it (the libvirt source ends its backup jobs:
 * issue 17, RPO), and write ahead what snapshot_commit(point_id) will make
 * durable without making it valid (the file source stages its hash and
 * state files). Listing and reading fail from here on; commit and free
 * follow as before (a commit of another id, or a free, discards what was
 * staged). A no-op before every disk was listed to its end, or after a
 * commit. */
void snapshot_reads_done(struct snapshot *snap, uint64_t point_id);

/* Release; without a prior commit this aborts (old base kept). NULL ok. */
void snapshot_free(struct snapshot *snap);

/* The point's consistency (common/consistency.h), the weakest over its
 * disks. Call it once every extent was read (before the commit): a source
 * that reads a live file compares its change markers now, logs a warning
 * naming the file that was written during the read, and keeps the answer.
 * A disk marked quiesced (its VM shut down cleanly) counts as
 * app-consistent when its source saw one quiet instant. */
int snapshot_consistency(struct snapshot *snap);
int snapshot_disk_consistency(struct snapshot *snap, size_t disk);
/* Nothing was in flight on this disk at the snapshot (see above). */
void snapshot_mark_quiesced(struct snapshot *snap, size_t disk);

/* ---- for source implementations ---- */
struct snapshot_ops {
	const char *name;
	int (*next_extent)(struct snapshot *snap, size_t disk, uint64_t max_len,
			   struct snap_extent *ext);
	int (*read)(struct snapshot *snap, size_t disk, uint64_t offset,
		    void *buf, size_t len);
	int (*commit)(struct snapshot *snap, uint64_t point_id);
	void (*free)(struct snapshot *snap);
	/* Optional: a disk's level, for sources that only know it after the
	 * read; NULL = snap->consistency, set at begin. */
	int (*consistency)(struct snapshot *snap, size_t disk);
	/* Optional: every extent was read; let go of what only reading needed
	 * and stage the commit of point_id (snapshot_reads_done). Commit and
	 * free still follow. */
	void (*reads_done)(struct snapshot *snap, uint64_t point_id);
};

/* Defines a source's ops table var (static) from its four functions. */
#define SNAPSHOT_OPS(var, source_name, next_extent_fn, read_fn, commit_fn, free_fn) \
	static const struct snapshot_ops var = {                                   \
		.name = (source_name), .next_extent = (next_extent_fn),             \
		.read = (read_fn), .commit = (commit_fn), .free = (free_fn),        \
	}

/* For read ops whose library caps one request: reads len bytes at offset
 * into buf in pieces of at most max bytes, each by piece(arg, ...), which
 * returns how many bytes it read (> 0, at most n) or -1 after logging.
 * 0 / -1. */
typedef ssize_t (*snapshot_piece_fn)(void *arg, uint64_t offset, void *buf, size_t n);
int snapshot_read_pieces(uint64_t offset, void *buf, size_t len, size_t max,
			 snapshot_piece_fn piece, void *arg);

#define SNAP_MAX_DISKS 64

/* Embedded first in each source's private struct (zero-initialised). The
 * generic code (snapshot.c) owns `listed` and `commit_tried`: sources never
 * see a listing or read after a commit, nor a commit before every disk was
 * listed to its end, nor a second commit. */
struct snapshot {
	const struct snapshot_ops *ops;
	size_t ndisks;
	int incremental;
	int resumable;
	uint64_t time_ns;
	int commit_tried;
	int reads_done; /* snapshot_reads_done was called */
	int consistency; /* enum consistency of every disk, unless ops->consistency */
	struct {
		char name[65];
		uint64_t size;
		int listed; /* next_extent returned 0 */
		int quiesced;
	} disks[SNAP_MAX_DISKS];
};

/* For sources: names disk i of snap (i < snap->ndisks) after name, which
 * must be a valid name (common/names.h) not given to disks 0..i-1 (the
 * messages say which source, e.g. "rbd"). 0 / -1 (logged). */
int snapshot_name_disk(struct snapshot *snap, size_t i, const char *name,
		       const char *source);

#endif
