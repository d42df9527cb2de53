/* Fast non-cryptographic block hashing (XXH3-64) and zero-block detection. */
#ifndef NESTOR_COMMON_HASH_H
#define NESTOR_COMMON_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XXH3 64-bit hash of p[0..n); stable across runs and hosts. */
uint64_t hash64(const void *p, size_t n);
/* True if all n bytes are zero (true for n == 0); any alignment. */
bool buf_is_zero(const void *p, size_t n);

#endif
