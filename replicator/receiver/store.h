/* Replica store: recovery points of protection groups on the receiver.
 * The orchestration (store.c: group lock, begin/commit/remove, strays,
 * progress) keeps the catalog (catalog.c) and drives one backend through
 * struct store_backend_ops (store-backend.h):
 * - local (store-local.c): per disk a qcow2 chain (a point = one overlay on
 *   top of its base point), written through qemu-nbd (spawned by libnbd
 *   with systemd socket activation);
 * - ceph (store-ceph.c over store-rbd.c): disk data in RBD images
 *   "<group>+<disk>" of the pool, a point being the snapshot "p<id>" of each
 *   of its disks (docs/rbd.md); catalog and metadata stay under root.
 * A point is listed in the catalog only after every extent of every disk
 * was flushed: then its line is appended to the catalog's journal and
 * fdatasynced (catlog.h; or the catalog is atomically replaced: tmp +
 * fsync + rename + dir fsync).
 *
 * Layout under root:
 *   <group>/catalog.json            committed points (snapshot) and
 *   <group>/catalog.log             its journal: together the only truth
 *   <group>/disks/<disk>/<id>.qcow2 one file per point and disk (local)
 *   <group>/meta/<id>.bin           opaque point metadata
 *   <group>/pending.json            the point being received + durable progress
 *   <group>/sums/<id>/<disk>.sums   per-extent checksums of the point (sums.h),
 *                                   under root for both backends
 *   <group>/scrub.json              last scrub verdicts (scrubstate.h)
 *   <group>/drills/, failover.json  group state (groupstate.h)
 * Files of a point absent from the catalog are pending or garbage. */
#ifndef NESTOR_RECEIVER_STORE_H
#define NESTOR_RECEIVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The store's own limits; receiver.c checks that they match the wire's. */
#define STORE_NAME_MAX      64            /* group / disk names */
#define STORE_MAX_DISKS     64
#define STORE_MAX_DISK_SIZE (1ull << 50)  /* 1 PiB */
#define STORE_MAX_META      (1u << 20)    /* point metadata blob */
#define STORE_MAX_HASHES    16384         /* per store_point_hashes call */
#define STORE_MAX_WRITE     (1u << 20)    /* writes up to this size are queued */
#define STORE_QUEUE_BYTES   (8u * STORE_MAX_WRITE) /* a point's write queue (buffers) */
#define STORE_MAX_HASH_BLOCK (16u << 20)  /* block size of a hash query */
#define STORE_HASH_CHUNK     (1u << 20)   /* bytes a hash query reads at a time */

/* Error codes given through the `int *err` of the calls below (0 = none);
 * receiver.c maps them to wire codes. */
enum store_err {
	STORE_OK = 0,
	STORE_ERR_INVALID = -1,  /* malformed request or out of sequence */
	STORE_ERR_IO = -2,       /* storage failure (errno ENOSPC: the store is full) */
	STORE_ERR_CONFLICT = -3, /* base/point mismatch, group busy */
	STORE_ERR_NOTFOUND = -4, /* no such point or disk */
	STORE_ERR_INTERNAL = -5, /* out of memory and the like */
	/* A BEGIN that breaks the group's history rules (history.h): */
	STORE_ERR_SEQUENCE = -6, /* point id neither next nor the pending one */
	STORE_ERR_FUTURE = -7,   /* snapshot time beyond the receiver's clock + skew */
	STORE_ERR_PAST = -8,     /* snapshot time not after the newest point's */
};

/* Static text for a STORE_ERR_* code. */
const char *store_strerror(int err);

struct store;
struct store_point;
struct store_reader;

/* One disk of a committed point. */
struct store_disk_info {
	char name[STORE_NAME_MAX + 1];
	uint64_t size;
};

struct store_point_info {
	uint64_t id;
	uint64_t base_id;        /* 0 = full */
	uint64_t time_ns;        /* snapshot instant given by the agent */
	uint64_t received_ns;    /* the receiver's clock at the point's first BEGIN:
				  * what retention and immutability count on */
	uint64_t committed_ns;   /* when the receiver committed it */
	uint64_t bytes_received; /* payload bytes received for this point */
	int consistency;         /* enum consistency the agent claimed, 0 unknown */
	size_t ndisks;
	/* ndisks entries, out of line so that a point costs what it holds
	 * (consecutive points with the same disks share one list): borrowed
	 * from where the point came from (the catalog, the block of
	 * store_list_points) and valid as long as that; store_point_copy
	 * makes a point that outlives it. */
	const struct store_disk_info *disks;
};

/* *dst = *src with its disks copied into room (STORE_MAX_DISKS entries,
 * the caller's: dst->disks points there). */
static inline void
store_point_copy(struct store_point_info *dst, struct store_disk_info *room,
		 const struct store_point_info *src)
{
	*dst = *src;
	for (size_t i = 0; i < src->ndisks && i < STORE_MAX_DISKS; i++)
		room[i] = src->disks[i];
	dst->disks = room;
}

/* A point to receive (names already validated). */
struct store_begin {
	char group[STORE_NAME_MAX + 1];
	uint64_t point_id; /* > 0 */
	uint64_t base_id;  /* 0 = full */
	uint64_t time_ns;
	size_t ndisks;     /* 1..STORE_MAX_DISKS */
	struct {
		char name[STORE_NAME_MAX + 1];
		uint64_t size; /* 1..STORE_MAX_DISK_SIZE */
	} disks[STORE_MAX_DISKS];
};

/* Where a group stands: its newest point and the pending point's durable
 * progress. */
struct store_progress {
	char group[STORE_NAME_MAX + 1];
	uint64_t last_point;    /* 0 = none */
	uint64_t pending_point; /* 0 = none */
	uint64_t pending_base;
	size_t ndisks;          /* disks of the pending point */
	struct {
		char name[STORE_NAME_MAX + 1];
		uint64_t durable_offset;
		bool done;
	} disks[STORE_MAX_DISKS];
};

/* Ceph backend settings; strings are copied. */
struct store_ceph_opts {
	const char *conf;   /* ceph.conf, NULL = librados' default search */
	const char *client; /* cephx id without "client.", NULL = "admin" */
	const char *pool;   /* NULL = "rbd" */
};

/* Open a store rooted at an existing directory; ceph NULL = local qcow2
 * backend. The ceph connection is made on first use. NULL on error. */
struct store *store_open(const char *root, const struct store_ceph_opts *ceph);

/* A group's history rules, enforced by the store itself (so no caller can
 * forget them): a BEGIN's snapshot time at most max_skew_ns ahead of the
 * receiver's clock; no point received less than immutable_ns ago removed
 * (0 = off). */
struct store_rules {
	uint64_t max_skew_ns;
	uint64_t immutable_ns;
};
#define STORE_DEFAULT_SKEW_NS (300ull * 1000000000ull)
/* fn fills a group's rules (arg borrowed); until it is set every group has
 * STORE_DEFAULT_SKEW_NS and no immutability window. */
typedef void (*store_rules_fn)(const void *arg, const char *group, struct store_rules *out);
void store_set_rules(struct store *st, store_rules_fn fn, const void *arg);
void store_group_rules(const struct store *st, const char *group, struct store_rules *out);
void store_free(struct store *st);
/* Bounds on what receiving points may run (issue 12, section 3):
 * nbd_total qemu-nbd processes at once in this process (local backend:
 * writers and hash readers), disks_busy disks of one point written at
 * once (begun and not done); 0 = no bound. A write past either fails:
 * STORE_ERR_IO with errno EMFILE, STORE_ERR_INVALID (logged). */
void store_set_limits(struct store *st, unsigned nbd_total, unsigned disks_busy);
/* Queued writes of all points being received hold at most total bytes of
 * buffers (>= STORE_MAX_WRITE); a write that does not fit waits for the
 * writers. Without this call there is no bound but a point's queue. Once,
 * before the first point. 0 / -1 (logged). */
int store_set_write_buffers(struct store *st, uint64_t total);
/* The root directory (absolute), borrowed. */
const char *store_root(const struct store *st);
/* Settling (issue 17, docs/architecture.md "Chain layout"): a thread that,
 * after each commit, rebuilds the group's committed points up to the
 * newest but a few on a layout that keeps every point's chain shallow,
 * in the background and at a low CPU priority (the content of a point
 * never changes). A backend without such a layout (ceph): nothing. The
 * receiver starts it; store_free stops it. 0 / -1 (logged). */
int store_settle_start(struct store *st);
void store_settle_stop(struct store *st);
/* Queue group for the thread (no thread: nothing). Never blocks for long. */
void store_settle_kick(struct store *st, const char *group);
/* The thread's work, inline: settle group's points newer than *done (0:
 * all of them) up to the newest but the lag, oldest first;
 * *done becomes the last one tried. stop (NULL ok) ends it between
 * points. 0 / -1 (logged: a point left deeper, or no catalog). */
int store_settle_group(struct store *st, const char *group, uint64_t *done,
		       const _Atomic bool *stop);

/* Committed points of group, oldest first, ids strictly increasing (the
 * catalog's order: the newest is (*out)[*n - 1]). *out is one malloc'd
 * block (the points and their disk lists): the caller frees it with
 * free(*out); the points' disks live in it. A group with no catalog
 * yields *n = 0. 0 / -1. */
int store_list_points(struct store *st, const char *group,
		      struct store_point_info **out, size_t *n);
/* The payload bytes received for the n points pts (a listing's total). */
static inline uint64_t
store_points_bytes(const struct store_point_info *pts, size_t n)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += pts[i].bytes_received;
	return total;
}
/* Rewrite the group's catalog index (catalog.idx, what a new process's
 * listing reads instead of the catalog: catidx.h) when it is missing,
 * stale or lags: the receiver after each point, off the commit path.
 * Best effort (failures logged). */
void store_index_refresh(struct store *st, const char *group);
/* Newest committed point id (0 if none). 0 / -1. */
int store_last_point(struct store *st, const char *group, uint64_t *id);
/* Is point committed in group? 1 yes / 0 no / -1 (catalog unreadable). */
int store_point_exists(struct store *st, const char *group, uint64_t point);

/* Bytes group's data takes in the store, as the receiver measures it
 * (never a figure from the agent): local, the allocated blocks of its disk
 * files; ceph, the payload bytes received for its points. Only committed
 * points when committed_only, else also the pending point. A group that
 * does not exist takes 0. 0 / -1 (logged). */
int store_group_usage(struct store *st, const char *group, bool committed_only,
		      uint64_t *bytes);

/* Progress answer for an agent: last point and the pending point's durable
 * progress (pending_point = 0 if none). 0 / -1. */
int store_progress(struct store *st, const char *group,
		   struct store_progress *out);

/* Start receiving a point. If a pending point with the same id, base and
 * disks exists, it is resumed (its durable data kept); any other pending
 * point is discarded first. begin->base_id must be 0 or the newest committed
 * point; point_id and time_ns must pass history_check_begin against the
 * group (checked before anything is created, and again under the group
 * lock): STORE_ERR_SEQUENCE / _FUTURE / _PAST otherwise. The point's
 * receiver time is the clock now, or the resumed pending point's. Names
 * must already be validated.
 * Returns NULL on error (logged); *err gets a STORE_ERR_* code. */
struct store_point *store_point_begin(struct store *st,
				      const struct store_begin *begin,
				      int *err);

/* Write plaintext data / zeros (ZERO and DISCARD both read back as zeros
 * afterwards, also over a backing file). Offsets within disk size (checked).
 * 0 / -1 (*err as above; a full store gives STORE_ERR_IO with errno
 * ENOSPC). */
int store_point_write(struct store_point *pt, uint16_t disk, uint64_t offset,
		      const void *data, size_t len, int *err);
int store_point_zero(struct store_point *pt, uint16_t disk, uint64_t offset,
		     uint64_t len, int *err);
/* store_point_write of data whose XXH3-64 (hash64) the caller verified
 * already (the session checks each extent's checksum): the value becomes
 * the range's checksum record (sums.h) without hashing again;
 * store_point_write computes it. Every write and zero appends a record;
 * past sums_max_records of the disk: -1, STORE_ERR_INVALID with errno
 * E2BIG ("too many extents", logged). */
int store_point_write_sum(struct store_point *pt, uint16_t disk, uint64_t offset,
			  const void *data, size_t len, uint64_t hash, int *err);
/* A write buffer of len bytes (<= STORE_MAX_WRITE) from the write-buffer
 * budget (store_set_write_buffers), taken ahead of the write so that a
 * worker fills it (issue 17: the plaintext is decompressed where it is
 * written from, not copied on the event loop): NULL, without waiting and
 * nothing logged, when the budget has no room now or len is larger; NULL
 * also when out of memory (logged). The caller's until given to
 * store_point_write_owned or back with store_wbuf_put (buf NULL ok). Any
 * thread. */
void *store_wbuf_try(struct store *st, size_t len);
void store_wbuf_put(struct store *st, void *buf, size_t len);
/* store_point_write_sum of buf, a store_wbuf_try(len) buffer of pt's
 * store, which becomes the store's in every case (queued as it is, no
 * copy; freed on failure). 0 / -1 as store_point_write_sum. */
int store_point_write_owned(struct store_point *pt, uint16_t disk, uint64_t offset,
			    void *buf, size_t len, uint64_t hash, int *err);
/* Make src, a qcow2 image that reads as disk #disk's new content (a
 * failover's overlay over a point of this group: docs/failback-design.md,
 * re-protection), that disk of pt instead of writing it: copied into the
 * point's layout (extents shared where the file system can), rebased onto
 * the point's base (qemu-img's safe mode unless src lies over that very
 * file already), made durable, its checksum records computed from its own
 * allocation (*bytes: its DATA bytes, added to the point's), then the disk
 * is done. src is only read. Nothing may have been written to the disk.
 * Backends whose points are files (local, target) take an image file; a
 * ceph store takes an RBD clone "rbd:POOL/IMAGE" of this very disk's
 * snapshot of the point's base (store_point_clone; refused otherwise):
 * the 64 KiB blocks of the clone's own extents (its parent left out) that
 * read otherwise than the base are written into the point, all-zero ones
 * as zero extents, with their checksum records (*bytes: the data bytes).
 * 0 / -1 (*err, logged). */
int store_point_adopt(struct store_point *pt, uint16_t disk, const char *src,
		      uint64_t *bytes, int *err);
/* Whether st's points are image files that store_point_adopt can take
 * (local, target), not snapshots (ceph). */
bool store_points_are_files(const struct store *st);
/* Flush the disk and mark it done. */
int store_point_disk_done(struct store_point *pt, uint16_t disk, int *err);
/* Whether a resumed point holds the disk done already (pending.json said
 * so: flushed to its end before it was recorded). false for a bad index. */
bool store_point_disk_was_done(const struct store_point *pt, uint16_t disk);
/* Flush every disk and persist the durable progress (pending.json).
 * Called by the receiver every few MiB / seconds. */
int store_point_checkpoint(struct store_point *pt, int *err);
/* All disks flushed and done; write meta, then the catalog. 0 / -1. */
int store_point_commit(struct store_point *pt, const void *meta,
		       size_t meta_len, int *err);
/* Payload bytes accounted to the point (for the catalog). */
void store_point_add_bytes(struct store_point *pt, uint64_t n);
/* Close the point's NBD connections; a not-committed point stays pending
 * (resumable). NULL ok. */
void store_point_free(struct store_point *pt);

/* Called by store_point_remove after the data merge and before the catalog
 * changes: nonzero keeps the point after all (e.g. a drill started using it
 * meanwhile). */
typedef int (*store_remove_veto)(void *arg, uint64_t point);

/* Remove committed point `point` of group without changing the content of
 * any other point. The newest point is never removed (-1), nor one inside
 * the group's immutability window (store_rules; 2, logged, nothing
 * touched). If the next
 * point (the child) has it as base, the backend unchains it first (local:
 * each of the child's disks backed by the point's file is rebased,
 * qemu-img rebase in safe mode, onto the point's own base file or onto
 * nothing; ceph: nothing to do, a snapshot holds its whole content): the
 * child's content stays the same at every step. Then veto is asked (NULL = none), the catalog is replaced
 * atomically (the child's base becomes the point's base) and the point's
 * files and metadata are deleted. A crash leaves either the old catalog
 * (child already rebased, same content; removing again finishes the job) or
 * the new one plus stray files (removed by the next point's begin). Takes
 * the group lock. 0 removed / 1 vetoed (nothing listed changed) / 2
 * immutable / -1. */
int store_point_remove(struct store *st, const char *group, uint64_t point,
		       store_remove_veto veto, void *arg);

/* Work of this process on group's committed points after a commit
 * (retention, once COMMITTED is sent): between enter and leave a
 * store_point_begin of the group waits for it (at most
 * STORE_BACKGROUND_WAIT_NS) instead of failing on the group's lock.
 * enter: 0 / -1 (out of memory, logged: the work runs unannounced). */
#define STORE_BACKGROUND_WAIT_NS (60ull * 1000000000ull)
int store_background_enter(struct store *st, const char *group);
void store_background_leave(struct store *st, const char *group);

/* Remove pending data of group (files not in the catalog). 0 / -1. */
int store_discard_pending(struct store *st, const char *group);

/* XXH3-64 of each block_size block of disk in point (0 = newest), from
 * offset; *got <= count (short at the end of the disk). The last partial
 * block is hashed over its real length. 0 / -1 (*err NOTFOUND etc). */
int store_point_hashes(struct store *st, const char *group, uint64_t point,
		       const char *disk, uint64_t offset, uint32_t block_size,
		       uint32_t count, uint64_t *hashes, uint32_t *got, int *err);

/* A HASH_QUERY as the store takes it (strings borrowed). */
struct store_hash_req {
	const char *group;
	const char *disk;
	uint64_t point;      /* 0 = newest */
	uint64_t offset;
	uint32_t block_size;
	uint32_t count;
	uint64_t max_bytes;  /* read at most this much (at least one block is) */
};
struct store_hash_res {
	uint64_t point; /* the point hashed */
	uint32_t got;
	bool more;      /* max_bytes stopped it before the disk's end */
};
/* A hash query answered from one catalog load: a point that is not
 * committed is -1 with *err STORE_ERR_NOTFOUND; a point without that disk
 * is 0 with got 0 (it reads as zeros); else the hashes as
 * store_point_hashes, at most max_bytes read. 0 / -1 (*err). */
int store_hash_query(struct store *st, const struct store_hash_req *q, uint64_t *hashes,
		     struct store_hash_res *res, int *err);

/* Path of disk's top image in point (0 = newest); malloc'd; NULL if none.
 * Ceph backend: "rbd:<pool>/<image>@<snap>" (qemu's rbd syntax). */
char *store_point_disk_path(struct store *st, const char *group,
			    uint64_t point, const char *disk);

/* Names for a clone; each backend uses its own. */
struct store_clone_names {
	const char *file;  /* local: the qcow2 overlay file to create */
	const char *image; /* ceph: the RBD image to create (a valid name) */
};

/* Writable copy-on-write clone of disk of point (0 = newest) for a drill or
 * a failover; writes to it never change the point. Local: a qcow2 overlay
 * over the point's file; ceph: an RBD clone of its snapshot (fast whatever
 * the size). *source: what a domain XML boots (the overlay path, or
 * "rbd:POOL/IMAGE"), malloc'd, caller frees. 0 / -1 (logged). */
int store_point_clone(struct store *st, const char *group, uint64_t point, const char *disk,
		      const struct store_clone_names *names, char **source);
/* ceph.conf that clones' domain XML names (NULL: qemu's default or not
 * ceph); borrowed from the store. */
const char *store_clone_conf(const struct store *st);
/* Remove a clone by its source string (absent is fine). 0 / -1 (logged). */
int store_clone_remove(struct store *st, const char *source);
/* What a clone store_point_clone made is now (a failback's point F is
 * made of a failover's clones: failover/promote.c). */
struct store_clone_info {
	char disk[STORE_NAME_MAX + 1]; /* the group's disk it is a clone of */
	uint64_t point;                /* ... at this point */
	uint64_t size;                 /* its size now */
	uint64_t print;                /* changes when it is written or snapshotted */
};
/* 1 with *out when source (a domain's disk source, "rbd:POOL/IMAGE") is a
 * clone of a point snapshot of group's disk in this store; 0 when it is
 * none (another pool or group, no clone; a local store: always). -1
 * (logged). */
int store_clone_stat(struct store *st, const char *group, const char *source,
		     struct store_clone_info *out);

/* *out: a read-only view of disk of committed point (0 = newest) through
 * its whole chain, as hash queries read it (local: qemu-nbd, read-only;
 * ceph: the point's snapshot); the caller closes it. 0 / -1 with *err:
 * NOTFOUND when the point or its disk is gone (e.g. removed by retention
 * meanwhile: not logged, the caller says what it means), else logged. */
int store_reader_open(struct store *st, const char *group, uint64_t point, const char *disk,
		      struct store_reader **out, int *err);
/* Read len bytes at off (within the disk). 0 / -1 (logged). */
int store_reader_pread(struct store *st, struct store_reader *r, void *buf, size_t len,
		       uint64_t off);
/* NULL ok. */
void store_reader_close(struct store *st, struct store_reader *r);

/* Point metadata blob; *meta malloc'd. 0 / -1. */
int store_point_meta(struct store *st, const char *group, uint64_t point,
		     void **meta, size_t *len);
/* The same for a point the caller has just listed (store_list_points):
 * no catalog read, so that showing every point reads the catalog once
 * (a point removed meanwhile: its metadata is missing, -1 logged). */
int store_listed_point_meta(struct store *st, const char *group, uint64_t point,
			    void **meta, size_t *len);

#endif
