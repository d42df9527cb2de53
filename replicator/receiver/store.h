/* Replica store: recovery points of protection groups on the receiver.
 * Ceph backend (store_open with ceph options): the catalog, pending.json and
 * metadata stay under root; disk data lives in RBD images "<group>+<disk>"
 * of the pool, a point being the snapshot "p<id>" of each of its disks,
 * taken after every extent was flushed (docs/rbd.md).
 * Local backend: per disk a qcow2 chain (a point = one overlay on top of its
 * base point), written through qemu-nbd (spawned by libnbd with systemd
 * socket activation). A point is listed in the catalog only after every
 * extent of every disk was flushed (fsync) and the catalog was atomically
 * replaced (tmp + fsync + rename + dir fsync).
 *
 * Layout under root:
 *   <group>/catalog.json            committed points (the only truth)
 *   <group>/disks/<disk>/<id>.qcow2 one file per point and disk
 *   <group>/meta/<id>.bin           opaque point metadata
 *   <group>/pending.json            the point being received + durable progress
 * Files of a point absent from the catalog are pending or garbage. */
#ifndef NESTOR_RECEIVER_STORE_H
#define NESTOR_RECEIVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/codec.h"

struct store;
struct store_point;

struct store_point_info {
	uint64_t id;
	uint64_t base_id;        /* 0 = full */
	uint64_t time_ns;        /* snapshot instant given by the agent */
	uint64_t committed_ns;   /* when the receiver committed it */
	uint64_t bytes_received; /* payload bytes received for this point */
	size_t ndisks;
	struct {
		char name[PROTO_NAME_MAX + 1];
		uint64_t size;
	} disks[PROTO_MAX_DISKS];
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
void store_free(struct store *st);
bool store_is_ceph(const struct store *st);

/* Committed points of group, oldest first. *out is malloc'd, caller frees.
 * A group with no catalog yields *n = 0. 0 / -1. */
int store_list_points(struct store *st, const char *group,
		      struct store_point_info **out, size_t *n);
/* Newest committed point id (0 if none). 0 / -1. */
int store_last_point(struct store *st, const char *group, uint64_t *id);

/* Progress answer for an agent: last point and the pending point's durable
 * progress (pending_point = 0 if none). 0 / -1. */
int store_progress(struct store *st, const char *group,
		   struct proto_progress *out);

/* Start receiving a point. If a pending point with the same id, base and
 * disks exists, it is resumed (its durable data kept); any other pending
 * point is discarded first. begin->base_id must be 0 or the newest committed
 * point; point_id must be above it. Names must already be validated.
 * Returns NULL on error (logged); *err gets a PROTO_ERR_* code. */
struct store_point *store_point_begin(struct store *st,
				      const struct proto_point_begin *begin,
				      int *err);

/* Write plaintext data / zeros (ZERO and DISCARD both read back as zeros
 * afterwards, also over a backing file). Offsets within disk size (checked).
 * 0 / -1 (*err as above; a full store gives PROTO_ERR_STORE with errno
 * ENOSPC). */
int store_point_write(struct store_point *pt, uint16_t disk, uint64_t offset,
		      const void *data, size_t len, int *err);
int store_point_zero(struct store_point *pt, uint16_t disk, uint64_t offset,
		     uint64_t len, int *err);
/* Flush the disk and mark it done. */
int store_point_disk_done(struct store_point *pt, uint16_t disk, int *err);
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
 * any other point. The newest point is never removed (-1). If the next
 * point (the child) has it as base, each of the child's disks backed by the
 * point's file is rebased (qemu-img rebase, safe mode) onto the point's own
 * base file (or onto nothing): the child's content stays the same at every
 * step. Then veto is asked (NULL = none), the catalog is replaced
 * atomically (the child's base becomes the point's base) and the point's
 * files and metadata are deleted. A crash leaves either the old catalog
 * (child already rebased, same content; removing again finishes the job) or
 * the new one plus stray files (removed by the next point's begin). Takes
 * the group lock. 0 removed / 1 vetoed (nothing listed changed) / -1. */
int store_point_remove(struct store *st, const char *group, uint64_t point,
		       store_remove_veto veto, void *arg);

/* Remove pending data of group (files not in the catalog). 0 / -1. */
int store_discard_pending(struct store *st, const char *group);

/* XXH3-64 of each block_size block of disk in point (0 = newest), from
 * offset; *got <= count (short at the end of the disk). The last partial
 * block is hashed over its real length. 0 / -1 (*err NOTFOUND etc). */
int store_point_hashes(struct store *st, const char *group, uint64_t point,
		       const char *disk, uint64_t offset, uint32_t block_size,
		       uint32_t count, uint64_t *hashes, uint32_t *got, int *err);

/* Path of disk's top image in point (0 = newest); malloc'd; NULL if none.
 * Ceph backend: "rbd:<pool>/<image>@<snap>" (qemu's rbd syntax). */
char *store_point_disk_path(struct store *st, const char *group,
			    uint64_t point, const char *disk);
/* Does point (0 = newest) have disk, with its data present? */
bool store_point_has_disk(struct store *st, const char *group, uint64_t point,
			  const char *disk);

/* Where a clone lives, for a domain XML <source protocol='rbd'>. The
 * strings conf/client are borrowed from the store. */
struct store_clone_spec {
	char pool[128];
	char image[PROTO_NAME_MAX + 1];
	const char *conf;   /* may be NULL */
	const char *client; /* cephx id */
};

/* Ceph backend only: copy-on-write RBD clone named clone (a valid name) of
 * disk of point, for a drill or a failover; the point is not changed by
 * writes to the clone. Fast (no data copied). 0 / -1. */
int store_point_clone(struct store *st, const char *group, uint64_t point, const char *disk,
		      const char *clone, struct store_clone_spec *spec);
/* Remove a clone made by store_point_clone (absent is fine). 0 / -1. */
int store_clone_remove(struct store *st, const char *clone);

/* Point metadata blob; *meta malloc'd. 0 / -1. */
int store_point_meta(struct store *st, const char *group, uint64_t point,
		     void **meta, size_t *len);

#endif
