/* The store's side of the per-extent checksums (sums.h): one writer per
 * disk of the point being received, made durable with the data it
 * describes (checkpoint, disk done, commit); stray checksum directories
 * pruned with the points' files; and a removal handing the removed
 * point's checksums and bad scrub verdicts to its child. Internal to the
 * store (store.c, store-remove.c). */
#ifndef NESTOR_RECEIVER_STORE_SUMS_H
#define NESTOR_RECEIVER_STORE_SUMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replicator/receiver/catalog.h"
#include "replicator/receiver/store-backend.h"

struct store_sums;

/* Open the checksum files of point's n disks under gdir. resumed: each
 * disk keeps the records its pending state holds durable (d->durable,
 * all of them when d->done); a resumed disk whose file is missing or not
 * ours (the point was begun before checksums existed) keeps none from then
 * on (scrub: no checksums). Else every file starts empty. *out owned by
 * the caller (store_sums_free). 0 / -1 (logged). */
int store_sums_begin(const char *gdir, uint64_t point, const struct store_disk *disks,
		     size_t n, bool resumed, struct store_sums **out);
/* Record the extent just accepted for disk: a DATA range and the hash64
 * the session verified, or a ZERO range (hash 0). 0 / -1 with *err
 * STORE_ERR_INVALID (too many extents, logged) or STORE_ERR_IO. */
int store_sums_add(struct store_sums *s, uint16_t disk, uint64_t off, uint64_t len, bool zero,
		   uint64_t hash, int *err);
/* disk's records are durable (before pending.json counts on them). */
int store_sums_sync(struct store_sums *s, uint16_t disk);
/* Every file and the directories durable: before the catalog lists the
 * point. 0 / -1. */
int store_sums_commit(struct store_sums *s);
/* NULL ok. */
void store_sums_free(struct store_sums *s);

/* Remove the checksums of points neither in cat nor keep_id. 0 / -1. */
int store_sums_prune(const char *gdir, const struct catalog *cat, uint64_t keep_id);

/* Point victim is being removed, child (NULL = none: the next point) and
 * kids (the other points whose files backed on it, store-chain.h) read
 * through it: for each of them, the victim's bad scrub ranges that its own
 * records do not overlap become its own (scrub.json), then each of its
 * disk files becomes the merge of its records and the victim's
 * (sums_merge); the victim's own verdict stays (store_sums_forget).
 * Holds the scrub lock from then on: *scrub_lock (scrubstate_unlock it
 * after the catalog is replaced, and on failure too). An unreadable scrub.json is warned about and left
 * alone. 0 / -1 (logged; nothing the catalog says changed). */
int store_sums_on_remove(const char *gdir, const struct store_point_info *victim,
			 const struct store_point_info *child,
			 const struct store_point_info *const *kids, size_t nkids, int *scrub_lock);
/* The removed point's own verdict goes from scrub.json (under the scrub
 * lock store_sums_on_remove took), once nothing can keep it any more.
 * 0 / -1 (logged). */
int store_sums_forget(const char *gdir, uint64_t victim);
/* Point pi's file of disk was settled over the points absorbed (of cat,
 * newest first) that it read through before: its records of disk become
 * the merge of its own and theirs, as a removal of them would have made
 * them. A disk without checksums keeps none. 0 / -1 (logged). */
/* Whether point pi's records of disk can take in those of the points
 * absorbed (of cat): each of them that has the disk keeps checksums of it,
 * or pi keeps none itself. A settle over a point without checksums would
 * leave pi's records short of bytes it holds, and a later removal below
 * would hand it records those bytes overwrote. */
bool store_sums_complete(const char *gdir, const struct catalog *cat,
			 const struct store_point_info *pi, const char *disk,
			 const uint64_t *absorbed, size_t n);
int store_sums_on_settle(const char *gdir, const struct catalog *cat,
			 const struct store_point_info *pi, const char *disk,
			 const uint64_t *absorbed, size_t n);
/* After the catalog dropped victim: its checksum directory. A failure
 * leaves a stray (warned). */
void store_sums_drop(const char *gdir, uint64_t victim);

#endif
