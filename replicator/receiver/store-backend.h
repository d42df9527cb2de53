/* The interface between the store's orchestration (store.c) and its data
 * backends: local qcow2 chains (store-local.c), their variant over on-prem
 * disks (store-target.c) and Ceph RBD (store-ceph.c).
 * nbdcopy-style: each backend embeds struct store_backend first in its
 * private struct and fills one static const ops table. Internal to the
 * store. Backends log their own failures once; I/O failures return -1 with
 * errno set (ENOSPC: the store is full). */
#ifndef NESTOR_RECEIVER_STORE_BACKEND_H
#define NESTOR_RECEIVER_STORE_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strfmt.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/store.h"

struct wbudget;
struct store_settler;
struct store_sweep;

struct store_backend {
	const struct store_backend_ops *ops;
	unsigned max_nbd; /* qemu-nbd processes at once in this process, 0 = no bound */
};

struct store {
	char *root;
	struct store_backend *be;
	unsigned max_disks_busy; /* disks of a point written at once, 0 = no bound */
	struct wbudget *wbufs; /* write-queue buffers of all points; NULL = no bound */
	struct store_settler *settler; /* store-settle.c; NULL = none */
	store_rules_fn rules; /* NULL = the defaults */
	const void *rules_arg;
	/* Hash queries run on worker threads while the loop (or another
	 * worker) may remove a point they read through: readers hold it
	 * shared, a removal exclusive (writer-preferring, so a flood of
	 * queries cannot starve retention). Within this process only; other
	 * processes meet the group's flock and qemu's image locks. */
	pthread_rwlock_t readers;
	struct store_busy *busy; /* store-busy.h: background work a begin waits for */
	struct store_sweep *sweep; /* store-sweep.h: groups swept clean of strays */
	struct store_hot *hot; /* store-hot.h: disks the groups' last points wrote */
};

/* A point of a group, for a backend call (strings borrowed). */
/* Points whose files back on one removed point, at most (retention can
 * leave many on one: the points between them gone, chain.h). */
#define STORE_MAX_KIDS 16384

struct store_where {
	const char *group;
	const char *gdir; /* <root>/<group> */
	uint64_t point;
};

struct store_bdisk;  /* a backend's state of one disk of the point being received */
struct store_reader; /* a backend's read-only view of one disk of a committed point */

/* A disk of the point being received, owned by store.c. */
struct store_disk {
	char name[STORE_NAME_MAX + 1];
	uint64_t size;
	/* Extents of a disk arrive in increasing offset order, so the end of the
	 * highest extent written bounds everything the agent has sent. */
	uint64_t written_end;
	uint64_t durable; /* written_end as of the last flush that was persisted */
	bool done;
	bool started;            /* written in this session (disk_idle at done) */
	bool hot;                /* the group's last point wrote it: disk_create
				  * may start its writer at once (a hint) */
	bool open;               /* io is connected and takes writes */
	char *path;              /* for logs: the file, or pool/image */
	struct store_bdisk *io;  /* the backend's; freed by disk_free */
};

struct store_backend_ops {
	const char *name;
	/* A committed point's disks can be opened (disk_init, disk_open) and
	 * written in place: a targeted repair (store-repair.h). Local: a point
	 * is its own overlay file; ceph: a snapshot cannot be written. */
	bool rewrite_points;
	void (*free)(struct store_backend *be);

	/* -- the point being received -- */
	/* Name d (d->path, its directory made) and give it closed state. */
	int (*disk_init)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d);
	/* Resume: open d as it is (its data kept). */
	int (*disk_open)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d);
	/* Start d afresh over base_id's disk (0 = no base: all zeros), open. */
	int (*disk_create)(struct store_backend *be, const struct store_where *w,
			   struct store_disk *d, uint64_t base_id);
	/* Synchronous I/O (ZERO reads back as zeros, also over a base). */
	int (*disk_write)(struct store_backend *be, const struct store_where *w,
			  struct store_disk *d, uint64_t off, const void *buf, size_t len);
	int (*disk_zero)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d, uint64_t off, uint64_t len);
	int (*disk_flush)(struct store_backend *be, const struct store_where *w,
			  struct store_disk *d);
	/* Optional asynchronous writes (NULL: the writer runs disk_write):
	 * aio_write returns a cookie > 0 or -1; aio_check 1 done / 0 in flight /
	 * -1 failed; aio_wait blocks until some command progresses; aio_dead:
	 * the connection is gone and in-flight commands never complete. Only
	 * the writer thread calls them, for one disk at a time. */
	int64_t (*aio_write)(struct store_backend *be, const struct store_where *w,
			     struct store_disk *d, uint64_t off, const void *buf, size_t len);
	int (*aio_check)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d, uint64_t off, uint64_t len, int64_t cookie);
	void (*aio_wait)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d);
	bool (*aio_dead)(struct store_disk *d);
	/* All data flushed: make it durable and part of point w->point for
	 * good, then close. */
	int (*disk_seal)(struct store_backend *be, const struct store_where *w,
			 struct store_disk *d);
	/* Close without sealing (data kept for a resume); NULL ok. */
	void (*disk_close)(struct store_backend *be, const struct store_where *w,
			   struct store_disk *d);
	/* Optional: d is flushed and done, it takes no more writes before its
	 * seal: release what it holds (local: its qemu-nbd). */
	void (*disk_idle)(struct store_backend *be, const struct store_where *w,
			  struct store_disk *d);
	void (*disk_free)(struct store_disk *d);

	/* -- committed points -- */
	/* Remove data of points neither in cat nor keep_id. */
	int (*prune)(struct store_backend *be, const struct store_where *w,
		     const struct catalog *cat, uint64_t keep_id);
	/* *path: malloc'd path of disk of point w->point (what qemu opens).
	 * 0 / -1. */
	int (*disk_path)(struct store_backend *be, const struct store_where *w,
			 const char *disk, char **path);
	bool (*has_disk)(struct store_backend *be, const struct store_where *w,
			 const char *disk);
	/* Bytes the group's disk data takes on the backend, of the points in
	 * cat only when committed_only, else of every point present (the
	 * pending one too). NULL: the store counts received bytes instead. */
	int (*usage)(struct store_backend *be, const struct store_where *w,
		     const struct catalog *cat, bool committed_only, uint64_t *bytes);
	struct store_reader *(*reader_open)(struct store_backend *be,
					    const struct store_where *w, const char *disk);
	int (*reader_pread)(struct store_reader *r, void *buf, size_t len, uint64_t off);
	void (*reader_close)(struct store_reader *r);
	/* Before point victim leaves the catalog: child (NULL = none based on
	 * it) and every other point that reads through it must read the same
	 * without it; those others (local: files settled on it,
	 * store-chain.h) go into kids, ids increasing, at most
	 * STORE_MAX_KIDS. NULL = nothing to do. */
	int (*unchain)(struct store_backend *be, const struct store_where *w,
		       const struct catalog *cat, const struct store_point_info *victim,
		       const struct store_point_info *child, uint64_t *kids, size_t *nkids);
	/* Optional: the points other than child whose data backs on victim
	 * (what unchain will rebase), listed before anything changes. */
	int (*kids)(struct store_backend *be, const struct store_where *w,
		    const struct catalog *cat, const struct store_point_info *victim,
		    const struct store_point_info *child, uint64_t *kids, size_t *nkids);
	/* Optional: rebuild committed point pi's files on the layout that
	 * keeps chains shallow (store-chain.h, store_chain_settle's returns). */
	int (*settle)(struct store_backend *be, const struct store_where *w,
		      const struct catalog *cat, const struct store_point_info *pi);
	/* victim left the catalog: delete its data; failures leave strays
	 * (logged as warnings). */
	void (*drop)(struct store_backend *be, const struct store_where *w,
		     const struct store_point_info *victim);
	int (*clone)(struct store_backend *be, const struct store_where *w, const char *disk,
		     const struct store_clone_names *names, char **source);
	int (*clone_remove)(struct store_backend *be, const char *source);
	const char *(*clone_conf)(const struct store_backend *be);
	/* Optional (ceph), a failover's clones made a point (store_clone_stat,
	 * store_point_adopt of a clone): clone_stat as store_clone_stat;
	 * clone_reader, the clone's head read-only (reader_pread,
	 * reader_close), NULL (logged); clone_own, the extents it holds
	 * itself (srbd_own_extents). */
	int (*clone_stat)(struct store_backend *be, const char *group, const char *source,
			  struct store_clone_info *out);
	struct store_reader *(*clone_reader)(struct store_backend *be, const char *source);
	int (*clone_own)(struct store_reader *r, int (*fn)(void *arg, uint64_t off, uint64_t len),
			 void *arg);
};

/* Backends: NULL on error (logged). */
struct store_backend *store_local_new(void);
struct store_backend *store_ceph_new(const struct store_ceph_opts *opts);
/* store-target.h: disks are copied. */
struct store_target_disk;
struct store_backend *store_target_new(const struct store_target_disk *disks, size_t ndisks);
/* A store over be (taken: freed on failure too; NULL is a failure) rooted
 * at the existing directory root. NULL on error (logged). */
struct store *store_open_backend(const char *root, struct store_backend *be);

/* What store-adopt.c needs of the point being received around one of its
 * disks (borrowed from the point). */
struct store_sums;
struct store_point_view {
	struct store *st;
	const struct store_where *w;
	struct store_sums *sums;
	uint64_t base; /* the point's base, 0 = full */
};
/* Disk #disk of pt with *v filled, after the checks of a write (not
 * committed, a known disk, not done, connected); NULL with *err (logged). */
struct store_disk *store_point_view(struct store_point *pt, uint16_t disk,
				    struct store_point_view *v, int *err);

/* Shared helpers of store.c for the backends. */
/* "store: group G point P disk D" into buf (for log lines). */
const char *store_ctx(char *buf, size_t cap, const struct store_where *w, const char *disk);
#define STORE_CTX_MAX (STORE_NAME_MAX * 2 + 64)
/* mkdir, or a directory already there: its entry made durable by syncing
 * the parent. */
int store_mkdir_durable(const char *path);
int store_fsync_path(const char *path);
/* unlink, absent is fine; logs. 0 / -1. */
int store_unlink(const char *path);
/* Remove <dir>/<id><suffix> durably (unlink, fsync dir; absent is fine).
 * dir NULL (its strfmt failed) is -1 too. 0 / -1 (logged): the caller
 * says what is left as a stray. */
int store_unlink_id(const char *dir, uint64_t id, const char *suffix);
/* <root>/<group> (malloc'd), NULL for an invalid group name (logged). */
char *store_group_dir(struct store *st, const char *group);
/* flock of <gdir>/lock: one writer per group (also within this process:
 * flock is per open file). The fd, or -1 (logged). */
int store_group_lock(const char *gdir, const char *group);
/* A group held for a change of its catalog: directory, lock and catalog. */
struct store_held {
	char *gdir;
	int lock_fd;
	struct catalog cat;
};
/* Lock group and load its catalog into *h. 0; 1 when absent_ok and the
 * group directory does not exist (nothing locked); -1 (logged). Call
 * store_release(h) in every case. */
int store_hold(struct store *st, const char *group, bool absent_ok, struct store_held *h);
void store_release(struct store_held *h);
/* Remove meta/<id>.bin and its temp files of points neither in cat nor
 * keep_id (strays). 0 / -1 (logged). */
int store_remove_stray_meta(const char *gdir, const struct catalog *cat, uint64_t keep_id);
/* Valid group/disk/clone name (NUL-terminated, within the limit). */
bool store_name_ok(const char *s);
/* Strict decimal id of a file name "<id><suffix>"; 0 if it is not one. */
uint64_t store_file_id(const char *name, const char *suffix);

#endif
