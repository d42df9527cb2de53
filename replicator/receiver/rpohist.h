/* The RPO history the dashboard charts (docs/dashboard.md): one record per
 * committed point in <store>/.rpo-history/<group>, appended durably and
 * kept under a size bound by dropping the oldest half when full. */
#ifndef NESTOR_RECEIVER_RPOHIST_H
#define NESTOR_RECEIVER_RPOHIST_H

#include <stddef.h>
#include <stdint.h>

/* One cycle: at its commit the group's RPO fell from peak_ns (the age the
 * previous point had reached) to lag_ns (the new point's age). Plain data,
 * 32 bytes on disk in host order. */
struct rpohist_rec {
	uint64_t at_ns;    /* the receiver's clock at the commit */
	uint64_t point;
	uint64_t peak_ns;  /* at_ns - the previous point's snapshot time (= lag_ns for a first point) */
	uint64_t lag_ns;   /* at_ns - this point's snapshot time */
};

#define RPOHIST_REC_SIZE 32u
#define RPOHIST_MIN_BYTES (4u * 1024)

/* The history file of group: malloc'd (caller frees), NULL on error (logged). */
char *rpohist_path(const char *store_dir, const char *group);

/* Append r to the file at path, which stays at most max_bytes
 * (>= RPOHIST_MIN_BYTES): when r would not fit, the newest half is
 * rewritten atomically with r after it. Durable when it returns 0
 * (fdatasync, or temp file, fsync, rename, fsync of the directory, which
 * is created if missing). -1 on error (logged). */
int rpohist_append(const char *path, const struct rpohist_rec *r, uint64_t max_bytes);

/* The records of path with at_ns >= since_ns, oldest first, at most
 * max_bytes of them; *out malloc'd (caller frees). A missing file is no
 * records; a torn last record is left out. 0 / -1 (logged). */
int rpohist_read(const char *path, uint64_t max_bytes, uint64_t since_ns,
		 struct rpohist_rec **out, size_t *n);

/* Thin in[0..n) (oldest first) to at most buckets records for a chart: as
 * they are when they fit, else the record of highest peak_ns in each of
 * buckets equal slices of [from_ns, to_ns) (empty slices give none).
 * out has room for buckets records; returns how many it holds. Pure. */
size_t rpohist_downsample(const struct rpohist_rec *in, size_t n, uint64_t from_ns,
			  uint64_t to_ns, size_t buckets, struct rpohist_rec *out);

#endif
