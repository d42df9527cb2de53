/* The last scrub verdict of each point of a group: <group>/scrub.json
 * (durable writes, under <group>/scrub.lock), what `points`, `status`, a
 * drill and a failover read, and what a removal hands to the child. A
 * point's state counts as bad when it or any point of its base chain is
 * bad: the bad bytes are read through it. */
#ifndef NESTOR_RECEIVER_SCRUBSTATE_H
#define NESTOR_RECEIVER_SCRUBSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "replicator/receiver/store.h"
#include "replicator/receiver/sums.h"

#define SCRUBSTATE_MAX_BAD 1000      /* bad ranges kept per point (and a count) */
#define SCRUBSTATE_JSON_MAX (64u << 20)

enum scrub_verdict { SCRUB_UNCHECKED = 0, SCRUB_OK, SCRUB_BAD };

struct scrub_range {
	char disk[STORE_NAME_MAX + 1];
	uint64_t offset, length;
};

/* One point's last scrub (plain data; bad owned by its state). */
struct scrub_entry {
	uint64_t point;
	uint64_t time_ns;        /* wall clock of the scrub */
	enum scrub_verdict verdict; /* UNCHECKED: the point has no checksums */
	uint64_t checked_bytes;
	uint64_t bad_count;      /* ranges found; the first SCRUBSTATE_MAX_BAD kept */
	struct scrub_range *bad;
	size_t nbad;
};

struct scrubstate {
	struct scrub_entry *e;
	size_t n;
};

/* "ok", "bad", "unchecked". */
const char *scrub_verdict_name(enum scrub_verdict v);

/* Blocking flock of <gdir>/scrub.lock, held while scrub.json is read and
 * replaced; the fd, or -1 (logged). scrubstate_unlock(-1) is a no-op. */
int scrubstate_lock(const char *gdir);
void scrubstate_unlock(int fd);

/* <gdir>/scrub.json into *ss (a missing file is an empty state). 0 / -1
 * (logged; malformed is -1). scrubstate_free frees the entries. */
int scrubstate_load(const char *gdir, struct scrubstate *ss);
int scrubstate_save(const char *gdir, const struct scrubstate *ss);
void scrubstate_free(struct scrubstate *ss);

/* Entry of point, borrowed; NULL if none. */
struct scrub_entry *scrubstate_find(const struct scrubstate *ss, uint64_t point);
/* Entry of point, created (UNCHECKED, nothing checked) if absent; NULL when
 * out of memory (logged). */
struct scrub_entry *scrubstate_get(struct scrubstate *ss, uint64_t point);
/* Remove point's entry (absent is fine). */
void scrubstate_drop(struct scrubstate *ss, uint64_t point);
/* Reset e to a new scrub's result: verdict, time, no bad ranges. */
void scrubstate_reset(struct scrub_entry *e, enum scrub_verdict v, uint64_t time_ns);
/* Add a bad range to e (verdict becomes BAD): joined to the last one when
 * it continues it on the same disk; past SCRUBSTATE_MAX_BAD only counted.
 * 0 / -1 (out of memory, logged). */
int scrubstate_add_bad(struct scrub_entry *e, const char *disk, uint64_t off, uint64_t len);

/* Add to e the pieces of [off, off+len) of disk that no span of cover
 * (sums_cover's: the records of a point) overlaps: bad bytes that those
 * records cannot vouch for. 0 / -1 (out of memory, logged). */
int scrubstate_add_uncovered(struct scrub_entry *e, const char *disk, uint64_t off,
			     uint64_t len, const struct sums_span *cover, size_t nc);

/* The first bad point of point's chain (point itself, then its base, its
 * base's base...) in pts (a catalog, oldest first); NULL when none is bad. */
const struct scrub_entry *scrubstate_chain_bad(const struct scrubstate *ss,
					       const struct store_point_info *pts, size_t n,
					       uint64_t point);
/* The scrub state of point as `points` and `status` show it: text into buf
 * ("ok", "bad", "bad (base 7)", "unchecked", "-" when never scrubbed) and,
 * if json, a new object {verdict, chain_bad_point, scrubbed_ns,
 * checked_bytes, bad_count} (caller decrefs; NULL when out of memory). */
const char *scrubstate_describe(const struct scrubstate *ss, const struct store_point_info *pts,
				size_t n, uint64_t point, char *buf, size_t cap, json_t **json);
/* For `status`: the newest of pts's scrub state as text into buf ("-"
 * without points) and *bad_points, the points whose own scrub failed; from
 * st's <group>/scrub.json, read without the lock. */
void scrubstate_summary(struct store *st, const char *group, const struct store_point_info *pts,
			size_t n, char *buf, size_t cap, size_t *bad_points);
/* The same from the files, for one caller that loads nothing else: group
 * gdir's scrub.json read without the lock (a reader sees the old or the
 * new file); an unreadable one leaves *ss empty (logged). */
void scrubstate_peek(const char *gdir, struct scrubstate *ss);

#endif
