/* The memory of a parsed catalog (catalog.h), so that it costs what it
 * holds: the disk lists of its points live out of line in an append-only
 * arena (consecutive points with the same disks share one list), and a
 * loaded catalog's points can be frozen into a reference-counted,
 * immutable body that the cache (catcache.h) and every load share instead
 * of copying. Internal to catalog.c, catlog.c and catcache.c; thread-safe. */
#ifndef NESTOR_RECEIVER_CATMEM_H
#define NESTOR_RECEIVER_CATMEM_H

#include <stddef.h>

#include "replicator/receiver/store.h"

struct catdisks; /* an arena of disk lists: entries never move nor change */
struct catbody;  /* points shared read-only, with their arena */

/* A new empty arena (one reference), NULL when out of memory (not logged). */
struct catdisks *catdisks_new(void);
/* One more reference / one less (NULL ok; the last frees every list). */
struct catdisks *catdisks_ref(struct catdisks *a);
void catdisks_unref(struct catdisks *a);
/* A copy of disks[0..n) (n >= 1) in the arena: valid while a reference to
 * a is held. NULL when out of memory (not logged). */
const struct store_disk_info *catdisks_add(struct catdisks *a,
					   const struct store_disk_info *disks, size_t n);
/* Bytes the arena holds (cache accounting). */
size_t catdisks_bytes(const struct catdisks *a);

/* A body taking pts (malloc'd: owned from now on, freed with the body)
 * whose disk lists lie in dl (a reference taken). One reference; NULL
 * when out of memory (pts is then still the caller's). */
struct catbody *catbody_new(struct store_point_info *pts, struct catdisks *dl);
struct catbody *catbody_ref(struct catbody *b);
void catbody_unref(struct catbody *b);
/* The body's points, borrowed: never written. */
struct store_point_info *catbody_points(const struct catbody *b);

#endif
