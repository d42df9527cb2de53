/* The catalog's journal, <group>/catalog.log: one JSON line per change
 * since catalog.json (the snapshot) was written, so a commit appends one
 * line and fdatasyncs instead of rewriting every point. Writers hold the
 * group lock; readers replay it through catalog_load.
 *
 * Records: {"seq":N,"op":"commit","point":{...}} (a point's whole entry, as
 * in catalog.json) and {"seq":N,"op":"remove","id":I} (retention: the
 * child based on I gets I's base, as store_point_remove did). seq counts
 * every change of the group; catalog.json's "log_seq" is the last one it
 * holds.
 *
 * Replay over the snapshot is idempotent:
 * - a record with seq <= log_seq is skipped (a crash between writing the
 *   snapshot and emptying the journal leaves records the snapshot holds;
 *   ids alone cannot say so, a removal rebases the child);
 * - the records after it must be log_seq + 1, + 2, ... (a gap is a
 *   compaction that ran while an unlocked reader read: catalog_load reads
 *   again);
 * - a commit of an id already listed is skipped when identical, an error
 *   otherwise; one older than the newest and absent is an error; a removal
 *   of an absent id does nothing; a removal of the newest is an error.
 * A torn last line (no newline, or invalid JSON on the last line: a power
 * cut during an append that was never acknowledged) is ignored and cut by
 * the next writer; any other malformed line makes the catalog unreadable,
 * as a malformed catalog.json does.
 *
 * Compaction: when the journal holds max(CATLOG_COMPACT_RECORDS, points/4)
 * records or CATLOG_COMPACT_BYTES, or there is no snapshot yet (a group's
 * first commit), the writer saves the whole catalog as the snapshot
 * (catalog_save: durable replace, then the journal emptied durably) instead
 * of appending: amortised O(1) bytes written per change. */
#ifndef NESTOR_RECEIVER_CATLOG_H
#define NESTOR_RECEIVER_CATLOG_H

#include <stdint.h>

#include "replicator/receiver/catalog.h"

#define CATLOG_RECORD_MAX      (64u << 10)   /* one line: 64 disks fit 5 times */
#define CATLOG_MAX             (16u << 20)   /* larger journals are refused */
#define CATLOG_COMPACT_RECORDS 256
#define CATLOG_COMPACT_BYTES   (4u << 20)

/* Replay <gdir>/catalog.log over cat, just loaded from the snapshot (its
 * seq = the snapshot's log_seq); sets cat's log_* fields. A missing journal
 * is empty. 0 / 1 = the records do not follow the snapshot (not logged) /
 * -1 (logged once, naming the file and the line). */
int catlog_replay(const char *gdir, struct catalog *cat);
/* The same for the records after cat->log_end only: cat is the catalog up
 * to there (a cached load, catcache.h) and the journal only grew since. */
int catlog_replay_tail(const char *gdir, struct catalog *cat);

/* Under the group lock, cat loaded under it: pi (newer than every listed
 * point) joins cat and the journal (one line, fdatasync; the group's
 * directory too when the journal is new), or the compacted snapshot. The
 * point is committed once this returns 0. On -1 (logged) cat no longer
 * matches the disk: drop it. */
int catlog_commit(const char *gdir, struct catalog *cat, const struct store_point_info *pi);
/* The same for removing point id (listed, not the newest). */
int catlog_remove(const char *gdir, struct catalog *cat, uint64_t id);
/* Empty <gdir>/catalog.log durably (absent is fine): after a snapshot that
 * holds every record. A failure is only a warning: the records it leaves
 * are skipped by seq. */
void catlog_truncate(const char *gdir);

#endif
