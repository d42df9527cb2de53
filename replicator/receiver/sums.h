/* Per-extent checksums the receiver keeps of every point it commits (issue
 * 13, item 3): the file <group>/sums/<point>/<disk>.sums and its I/O. What
 * a scrub re-reads and compares, and what a targeted repair will re-fetch.
 *
 * File: a 16-byte header (magic "NSUMS1\0\0", u32 version, u32 record
 * size, little-endian) then fixed 24-byte little-endian records
 *   u64 offset; u64 length_and_flags; u64 hash
 * length_and_flags: bit 63 = ZERO range, bit 62 = UNKNOWN range, bits
 * 56..61 reserved (0), the low 56 bits the length (> 0). hash: XXH3-64
 * (hash64) of the plaintext of a DATA range, the value the receiver
 * verified against the extent's checksum before writing it; 0 for a ZERO
 * or UNKNOWN range. An UNKNOWN range (made only by sums_merge) is one whose
 * bytes the point holds but no record describes: a merged-in DATA record
 * that the point's own records overlap in part cannot be kept (its hash
 * covers bytes the point changed), yet what it leaves uncovered must still
 * hide every older record of those bytes from later merges; a scrub does
 * not check it. Records come in the order the
 * extents arrived: increasing offsets on one disk, as the agent sends them
 * (sorted by offset after a removal merged them, sums_merge). A point's
 * records cover the bytes that point wrote (plus, after a merge, what it
 * took over from a removed base), never bytes it reads from a base. */
#ifndef NESTOR_RECEIVER_SUMS_H
#define NESTOR_RECEIVER_SUMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUMS_MAGIC        "NSUMS1\0\0"
#define SUMS_VERSION      1u
#define SUMS_HEADER_SIZE  16u
#define SUMS_RECORD_SIZE  24u
#define SUMS_FLAG_ZERO    (UINT64_C(1) << 63)
#define SUMS_FLAG_UNKNOWN (UINT64_C(1) << 62)
#define SUMS_LEN_MASK     ((UINT64_C(1) << 56) - 1)
/* A DATA record's range is read whole to be hashed again: longer ones are
 * refused (the wire caps a DATA extent at 1 MiB). */
#define SUMS_MAX_DATA     (16u << 20)

/* One record, decoded. */
struct sums_rec {
	uint64_t offset;
	uint64_t length; /* 1..SUMS_LEN_MASK */
	bool zero;       /* ZERO range: reads back as zeros; hash 0 */
	uint64_t hash;   /* DATA: hash64 of the plaintext */
	bool unknown;    /* UNKNOWN range (see the head): not checked; hash 0 */
};

/* Records a disk of disk_size bytes may hold: disk_size / 512 + 65536. An
 * extent past it is refused ("too many extents"). */
uint64_t sums_max_records(uint64_t disk_size);

/* <gdir>/sums, <gdir>/sums/<point>, <gdir>/sums/<point>/<disk>.sums:
 * malloc'd (caller frees), NULL when out of memory (logged). */
char *sums_root(const char *gdir);
char *sums_dir(const char *gdir, uint64_t point);
char *sums_path(const char *gdir, uint64_t point, const char *disk);

/* 24 bytes out of r / r out of 24 bytes. sums_decode: -1 for a record
 * that cannot be (reserved bits, length 0 or past SUMS_LEN_MASK, range
 * past 2^64, a ZERO with a hash, a DATA over SUMS_MAX_DATA). Pure. */
void sums_encode(const struct sums_rec *r, unsigned char out[SUMS_RECORD_SIZE]);
int sums_decode(const unsigned char in[SUMS_RECORD_SIZE], struct sums_rec *r);

/* Appending to one disk's file while its point is received. */
struct sums_writer;
/* Open (create) path for appending at most max_records records. keep_end:
 * UINT64_MAX keeps every record already there (a disk resumed as done);
 * otherwise only the leading records ending at or before keep_end stay
 * (a resume: what pending.json holds durable; 0 = start afresh), and a
 * torn trailing partial record goes too. A file that is not ours is
 * refused. ctx names the disk in log lines (copied). A new file is
 * fdatasynced; *was_created (may be NULL) tells the caller, which must
 * fsync the directory before any progress counts on it (one fsync for a
 * point's files). NULL on error (logged). */
struct sums_writer *sums_writer_open(const char *path, uint64_t keep_end,
				     uint64_t max_records, const char *ctx,
				     bool *was_created);
/* Buffer one record (written out when the buffer fills). -1 with errno
 * E2BIG past max_records or for a bad record (logged: "too many extents"),
 * else -1 with the I/O errno (logged). */
int sums_writer_add(struct sums_writer *w, const struct sums_rec *r);
/* Write the buffer and fdatasync (not when nothing was written since the
 * last one): what was added is durable. 0 / -1. */
int sums_writer_sync(struct sums_writer *w);
/* Records in the file and the buffer. */
uint64_t sums_writer_count(const struct sums_writer *w);
/* Close; records still buffered are dropped (never durable: see
 * sums_writer_sync). NULL ok. */
void sums_writer_free(struct sums_writer *w);

/* Read path whole: *recs malloc'd (caller frees), in file order. 0; 1 when
 * path does not exist (nothing logged); -1 (logged) for an I/O error, a
 * file that is not ours, a bad record or more than max_records. A torn
 * trailing partial record (a crash mid-append) is ignored. */
int sums_load(const char *path, uint64_t max_records, struct sums_rec **recs, size_t *n);
/* Replace path with recs durably (tmp, fsync, rename, fsync dir). 0 / -1. */
int sums_save(const char *path, const struct sums_rec *recs, size_t n);

/* Sort recs by offset, then length. */
void sums_sort(struct sums_rec *recs, size_t n);

/* The removal of a point (retention) or a settle: its child's records
 * plus the removed point's records that no child record overlaps, sorted
 * by offset. A ZERO or UNKNOWN record of the removed point is split around
 * the child's; a DATA record that a child record overlaps even in part (or
 * that reaches past disk_size) is replaced by UNKNOWN records of its pieces
 * no child record covers, so that an older record of those bytes merged
 * next stays out. Pieces at or past disk_size (the child's disk) are
 * dropped. Inputs in any order.
 * *out malloc'd (caller frees). 0 / -1 (out of memory, logged). */
int sums_merge(const struct sums_rec *child, size_t nc, const struct sums_rec *parent,
	       size_t np, uint64_t disk_size, struct sums_rec **out, size_t *nout);

/* A range of bytes [off, end). */
struct sums_span {
	uint64_t off, end;
};
/* The bytes recs (sorted by offset) cover, as sorted disjoint spans
 * (touching ones joined); known_only: UNKNOWN records left out (the bytes
 * some record vouches for, e.g. for a bad range a scrub must keep).
 * *spans malloc'd (caller frees; NULL when none). 0 / -1 (out of memory,
 * logged). */
int sums_cover(const struct sums_rec *recs, size_t n, bool known_only, struct sums_span **spans,
	       size_t *ns);
/* Call fn for each piece of [off, off+len) outside every span of cover
 * (sums_cover's), in increasing order; fn returning -1 stops it. 0 / -1. */
int sums_uncovered(const struct sums_span *cover, size_t nc, uint64_t off, uint64_t len,
		   int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg);

/* Remove <gdir>/sums/<id>/ and its files for every id that keep says no
 * to (keep(arg, id) false), and temp files left by sums_save; durable.
 * A missing sums/ is fine. 0 / -1 (logged). */
int sums_prune(const char *gdir, bool (*keep)(void *arg, uint64_t id), void *arg);
/* Remove one point's sums directory (absent is fine). 0 / -1 (logged). */
int sums_remove_point(const char *gdir, uint64_t point);

#endif
