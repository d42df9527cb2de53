/* zstd helpers for extent payloads. Opaque contexts, reused across calls;
 * a context is not thread-safe (use one per thread). */
#ifndef NESTOR_PROTO_COMPRESS_H
#define NESTOR_PROTO_COMPRESS_H

#include <stddef.h>

struct zcomp;
struct zdecomp;

/* level 1..19; NULL on error (logged). */
/* Fastest level accepted: negative levels are zstd's --fast=N. */
#define ZCOMP_LEVEL_MIN (-7)
struct zcomp *zcomp_new(int level);
void zcomp_free(struct zcomp *z);
/* The level of the next frames (same range as zcomp_new). 0 / -1 (logged:
 * the level is out of range, the old one stays). */
int zcomp_set_level(struct zcomp *z, int level);

/* 0: compressed into dst, *out_len < len. 1: not worth it (the output would
 * not be smaller than len - len/64, or would not fit cap); send raw.
 * -1: error (logged). Never writes past dst + cap. */
int zcomp_compress(struct zcomp *z, const void *src, size_t len,
		   void *dst, size_t cap, size_t *out_len);

/* NULL on error (logged). */
struct zdecomp *zdecomp_new(void);
void zdecomp_free(struct zdecomp *z);

/* Decompress one zstd frame of exactly len bytes into exactly expected_len
 * (1..PROTO_MAX_EXTENT) bytes at dst. -1 if the frame is invalid, does not
 * declare its content size, declares a different one, is followed by extra
 * bytes, or produces more/less. Never writes past dst + expected_len.
 * Failures are not logged: they come from the peer; the caller reports. */
int zdecomp_decompress(struct zdecomp *z, const void *src, size_t len,
		       void *dst, size_t expected_len);

#endif
