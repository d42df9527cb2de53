/* Writing a committed point in place, for a targeted repair (issue 13,
 * item 3): the point's own files, under the group lock, where its last
 * scrub found bad bytes. Local backend only: a Ceph point is an RBD
 * snapshot, which cannot be written (Ceph's deep scrub repairs its own
 * objects). */
#ifndef NESTOR_RECEIVER_STORE_REPAIR_H
#define NESTOR_RECEIVER_STORE_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "replicator/receiver/store.h"

struct store_repair;

/* Take group's lock and open committed point for writing (no process
 * starts before the first write). Refused, with the reason in why[cap]:
 * STORE_ERR_NOTFOUND the point is not committed; STORE_ERR_CONFLICT the
 * backend cannot rewrite points, or a drill or failover uses the point
 * (its files are a running chain's backing), or another session holds the
 * group. *out owned by the caller (store_repair_free). 0 / -1 (*err). */
int store_repair_open(struct store *st, const char *group, uint64_t point,
		      struct store_repair **out, int *err, char *why, size_t cap);
/* The point as the catalog lists it; borrowed from r. */
const struct store_point_info *store_repair_point(const struct store_repair *r);
/* The group directory; borrowed from r. */
const char *store_repair_gdir(const struct store_repair *r);
/* Write data / zeros into disk (an index of the point's disks) at off,
 * within the disk (checked). 0 / -1 (logged; *err STORE_ERR_IO, errno
 * ENOSPC when full, or STORE_ERR_INVALID). */
int store_repair_write(struct store_repair *r, uint16_t disk, uint64_t off, const void *buf,
		       size_t len, int *err);
int store_repair_zero(struct store_repair *r, uint16_t disk, uint64_t off, uint64_t len,
		      int *err);
/* Flush and close every disk written, fsync its file: the repair is
 * durable. The lock stays held. 0 / -1 (logged, *err). */
int store_repair_seal(struct store_repair *r, int *err);
/* Close what is open (qemu-nbd flushes as it exits) and release the lock.
 * NULL ok. */
void store_repair_free(struct store_repair *r);

#endif
