/* catalog.idx: a group's catalog (catalog.json + a prefix of catalog.log)
 * in a binary form that loads without parsing JSON, so that a new process
 * that lists the points (`nestor points`, `prune --dry-run`, a drill's
 * lookup) pays the same at 100 and 10,000 points (issue 17). Derived, never
 * the truth: it names the exact catalog.json (device, inode, size, mtime,
 * ctime) and the journal prefix (device, inode, length, hash of its last
 * record) it was built from, and a reader uses it only while those are
 * still there, replaying the journal's newer records over it with the
 * journal's own seq rules; anything else (missing, stale, torn, a checksum
 * or a bound that fails) is a miss and the catalog is read. Written as
 * every durable file (temp, fsync, rename, fsync dir) from a catalog read
 * whole, after the journal was made durable. Internal to catalog.c. */
#ifndef NESTOR_RECEIVER_CATIDX_H
#define NESTOR_RECEIVER_CATIDX_H

#include <stddef.h>
#include <stdint.h>

#include "common/fileutil.h"
#include "replicator/receiver/catalog.h"

#define CATIDX_NAME    "catalog.idx"
/* Larger index files are refused (about 250,000 points of one disk). */
#define CATIDX_MAX     (32u << 20)
/* Journal records an index may lag behind before it is rewritten: what a
 * reader replays from JSON at most. */
#define CATIDX_LAG_MAX 64

/* The catalog of gdir from its index, when catalog.json = snap and
 * catalog.log = log (identities taken just before: the caller checks they
 * still hold after) are what it was built from, with the journal's records
 * after it replayed. 0 (cat filled; *lag = records replayed) / 1 = no
 * usable index (cat empty; logged at debug level with the reason) / -1
 * (the journal after it is malformed: logged; cat empty). */
int catidx_read(const char *gdir, const struct file_id *snap, const struct file_id *log,
		struct catalog *cat, size_t *lag);
/* Whether gdir's index is missing, stale for snap / log, or lags cat (the
 * catalog they hold) by more than CATIDX_LAG_MAX records: reads its header
 * only. */
int catidx_due(const char *gdir, const struct file_id *snap, const struct file_id *log,
	       const struct catalog *cat);
/* Write gdir's index for cat, the whole catalog of catalog.json = snap and
 * catalog.log = log read to its end (no torn tail): the journal is
 * fdatasynced first, so the index never holds a record a power cut can
 * take back. 0 / -1 (logged: at debug level when the directory is not
 * writable, a reader without the receiver's rights). */
int catidx_save(const char *gdir, const struct catalog *cat, const struct file_id *snap,
		const struct file_id *log);

#endif
