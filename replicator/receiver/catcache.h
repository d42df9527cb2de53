/* A process-wide cache of parsed catalogs, catalog_load's fast path: the
 * receiver loads a group's catalog several times per point (progress,
 * begin, commit), and parsing catalog.json costs O(points) (0.2 s at
 * 10,000 points). An entry is the catalog of one group directory as it
 * was when catalog.json and catalog.log had the identities stored with it
 * (device, inode, size, mtime, ctime): an identical pair shares its points; the
 * same snapshot with a journal that only grew replays the new records
 * only; anything else is a miss and a full load. Only loads verified
 * unchanged across their read are stored, never a writer's in-memory
 * state. Bounded in entries and bytes (least recently used evicted);
 * thread-safe. Internal to catalog.c and catlog.c. */
#ifndef NESTOR_RECEIVER_CATCACHE_H
#define NESTOR_RECEIVER_CATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fileutil.h"
#include "replicator/receiver/catalog.h"

#define CATCACHE_MAX_ENTRIES 64
#define CATCACHE_MAX_BYTES   (128u << 20) /* of points and disk lists, all entries */

enum catcache_hit {
	CATCACHE_MISS = 0,
	CATCACHE_EXACT = 1, /* cat is the catalog */
	CATCACHE_TAIL = 2,  /* cat is the catalog up to cat->log_end: replay the rest */
};

/* Look gdir up for catalog.json = snap, catalog.log = log. A hit fills
 * cat with the cached catalog, its points shared (catalog_share: no copy
 * of them; the caller frees cat with catalog_free); a miss or no memory
 * leaves it empty. */
enum catcache_hit catcache_get(const char *gdir, const struct file_id *snap,
			       const struct file_id *log, struct catalog *cat);
/* Remember cat (shared: catalog_share; frozen first by the caller so
 * that it costs no copy), loaded from catalog.json = snap and catalog.log
 * = log (the journal's whole length read). Best effort: silent when it
 * does not fit. */
void catcache_put(const char *gdir, const struct file_id *snap, const struct file_id *log,
		  const struct catalog *cat);
struct catcache_stats {
	size_t entries;
	size_t bytes; /* of points held */
	uint64_t exact, tail, miss;
};
/* Counters since the start or the last catcache_clear (tests, bench). */
void catcache_stats(struct catcache_stats *out);
/* Forget every entry (tests; a store whose files were replaced wholesale). */
void catcache_clear(void);

#endif
