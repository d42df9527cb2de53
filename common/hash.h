/* Fast non-cryptographic block hashing (XXH3-64) and zero-block detection. */
#ifndef NESTOR_COMMON_HASH_H
#define NESTOR_COMMON_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XXH3 64-bit hash of p[0..n); stable across runs and hosts. */
uint64_t hash64(const void *p, size_t n);
/* XXH3-64 of bytes fed in pieces: hash_stream_digest after updates with
 * p[0..a), p[a..b), ... equals hash64(p, total). Lets a large block be
 * hashed through a small buffer. Owned by the caller; new returns NULL
 * when out of memory (not logged); free(NULL) is a no-op. */
struct hash_stream;
struct hash_stream *hash_stream_new(void);
void hash_stream_reset(struct hash_stream *h);
void hash_stream_update(struct hash_stream *h, const void *p, size_t n);
uint64_t hash_stream_digest(const struct hash_stream *h);
void hash_stream_free(struct hash_stream *h);
/* True if all n bytes are zero (true for n == 0); any alignment. */
bool buf_is_zero(const void *p, size_t n);
/* Whether [off, off+len) reads as zeros, read through rd (0 / -1) in
 * pieces of at most cap bytes into buf: 1 yes, 0 no (stops at the first
 * nonzero piece), -1 a read failed (rd's error). */
int range_is_zero(int (*rd)(void *arg, void *buf, size_t n, uint64_t off), void *arg,
		  uint64_t off, uint64_t len, void *buf, size_t cap);

#endif
