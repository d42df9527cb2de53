/* A group's catalog (catalog.json, the snapshot, plus catalog.log, its
 * journal: catlog.h; together the committed points, the only truth)
 * and pending state (pending.json: the point being received and its durable
 * progress): pure JSON <-> struct conversion with every value bounded, plus
 * loads with a size cap and durable atomic replaces. No qemu, no ceph. */
#ifndef NESTOR_RECEIVER_CATALOG_H
#define NESTOR_RECEIVER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "replicator/receiver/store.h"

/* catalog.json / pending.json larger than this are refused. */
#define CATALOG_JSON_MAX (16u << 20)
/* Ids, times and byte counts go through JSON, whose integers are signed. */
#define CATALOG_U64_MAX  ((uint64_t)INT64_MAX)
#define CATALOG_VERSION  1

struct catbody;
struct catdisks;

/* Committed points, oldest first, ids strictly increasing (catalog_free
 * releases them). A point costs sizeof(struct store_point_info): its disks
 * lie in dl, shared by consecutive points with the same disks (catmem.h).
 * A load shares the points of the cache's copy (body, read-only: cap 0)
 * until the catalog is changed (catalog_append, catalog_drop: then pts is
 * its own, cap > 0); never write pts directly. The rest says where the
 * journal stood when the catalog was loaded (catlog.h); zero for a
 * catalog built in memory. */
struct catalog {
	struct store_point_info *pts;
	size_t n;
	size_t cap;          /* allocated entries of pts, 0 = borrowed from body */
	struct catbody *body; /* the shared points pts borrows, or NULL */
	struct catdisks *dl; /* the disk lists of pts, or NULL */
	uint64_t seq;        /* last change folded in (snapshot's log_seq or a record) */
	uint64_t log_end;    /* bytes of catalog.log up to its last whole record */
	uint64_t log_size;   /* its size: more than log_end = a torn tail */
	size_t log_records;  /* whole records in catalog.log */
	bool snapshot;       /* catalog.json exists */
};

/* The point being received (plain data). */
struct pending {
	uint64_t point;
	uint64_t base;
	uint64_t time_ns;
	uint64_t received_ns; /* 0 in pending state written before it existed */
	uint64_t bytes;
	size_t ndisks;
	struct {
		char name[STORE_NAME_MAX + 1];
		uint64_t size;
		uint64_t durable;
		bool done;
	} disks[STORE_MAX_DISKS];
};

/* The pure halves. from_json: what names the source in messages;
 * malformed or out-of-range input is refused with one logged reason, cat
 * left empty. A point without "received_ns" (a catalog from before it
 * existed) gets its committed_ns, the receiver's own clock. 0 / -1. to_json: a new reference, NULL on error (logged). */
int catalog_from_json(const json_t *root, const char *what, struct catalog *cat);
json_t *catalog_to_json(const struct catalog *cat);
/* <gdir>/catalog.json (at most CATALOG_JSON_MAX bytes) with catalog.log
 * replayed over it: a missing one is an empty group. Takes no lock: when a
 * writer compacted the journal meanwhile (the snapshot's identity changed
 * between before and after, or the records do not follow its log_seq) it
 * reads again, a few times at most. 0 / -1. */
int catalog_load(const char *gdir, struct catalog *cat);
/* catalog_load for readers that change nothing (listings, lookups; never a
 * writer: what it gives is never cached, and writers load under the group
 * lock with catalog_load): a load the cache cannot serve is served by
 * catalog.idx (catidx.h) when that is the catalog of these very
 * catalog.json and catalog.log, the journal's newer records replayed over
 * it; else by the catalog. The index is then rewritten (best effort: a
 * reader that cannot write leaves it) when it was of no use or lags more
 * than CATIDX_LAG_MAX records; with refresh also when the cache served
 * the load and the index is due (the receiver after each point: a header
 * read). 0 / -1. */
int catalog_load_listing(const char *gdir, struct catalog *cat, bool refresh);
/* cat as the whole truth: durable atomic replace of <gdir>/catalog.json
 * (its log_seq = cat->seq), then catalog.log emptied durably (what a
 * compaction does; a crash between leaves records the snapshot already
 * holds, skipped by seq). The caller holds the group lock. 0 / -1. */
int catalog_save(const char *gdir, const struct catalog *cat);
/* Releases pts; cat becomes empty. */
void catalog_free(struct catalog *cat);
/* dst (empty) = the same catalog as src: its points shared when src's are
 * (a load, frozen), copied when src changed them. 0 / -1 (out of memory,
 * not logged: the cache's callers fall back to a load). */
int catalog_share(struct catalog *dst, const struct catalog *src);
/* Make cat's own points the shared, read-only ones (catalog_share then
 * costs nothing); a later change copies them first. 0 / -1 (as above). */
int catalog_freeze(struct catalog *cat);
/* Bytes cat's points and disk lists take (the cache's bound). */
size_t catalog_bytes(const struct catalog *cat);
/* The points as one malloc'd block with their disk lists after them
 * (store_list_points' form: free(*out) releases all). 0 / -1 (logged). */
int catalog_export(const struct catalog *cat, struct store_point_info **out, size_t *n);

/* One point as JSON and back (the catalog's and the journal's form);
 * to_json: a new reference, NULL when out of memory (not logged); from_json:
 * malformed input is -1, logged once naming what and the point's index i;
 * pi's disks are written to room (STORE_MAX_DISKS entries). */
json_t *catalog_point_to_json(const struct store_point_info *pi);
int catalog_point_from_json(const json_t *p, const char *what, size_t i,
			    struct store_point_info *pi, struct store_disk_info *room);
/* Whether a and b say the same (every field, disk names by value). */
bool catalog_point_same(const struct store_point_info *a, const struct store_point_info *b);
/* Forget pts[idx] (never the newest): its child, when based on it, gets
 * its base (the data was merged first: store_point_remove). 0 / -1 (out
 * of memory, logged). */
int catalog_drop(struct catalog *cat, size_t idx);
/* Index of id in cat, -1 if absent (binary search). */
ssize_t catalog_index(const struct catalog *cat, uint64_t id);

bool catalog_has(const struct catalog *cat, uint64_t id);
/* Point id (0 = newest), borrowed from cat; NULL if none. */
const struct store_point_info *catalog_find(const struct catalog *cat, uint64_t id);
/* Newest id, 0 if empty. */
uint64_t catalog_last(const struct catalog *cat);
/* Append pi (newer than every listed point; its disks are copied, or
 * shared with the newest point's when the same). 0 / -1 (logged). */
int catalog_append(struct catalog *cat, const struct store_point_info *pi);
/* Index of disk in pi, -1 if pi has no such disk. */
int catalog_point_disk(const struct store_point_info *pi, const char *disk);

/* As above, for pending state. */
int pending_from_json(const json_t *root, const char *what, struct pending *pd);
json_t *pending_to_json(const struct pending *pd);
/* <gdir>/pending.json: 0 / 1 = none / -1 = unreadable or malformed
 * (pending state is never the truth: callers may start over). */
int pending_load(const char *gdir, struct pending *pd);
int pending_save(const char *gdir, const struct pending *pd);
/* Remove <gdir>/pending.json durably (absent is fine). 0 / -1. */
int pending_remove(const char *gdir);
/* The same, not durably: for a pending.json of a point the catalog lists
 * already, which every reader ignores by its id if it comes back. */
int pending_unlink(const char *gdir);

#endif
