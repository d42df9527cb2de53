/* Internal to common/hash.c: the AVX2 build of XXH3-64. */
#ifndef NESTOR_COMMON_HASH_AVX2_H
#define NESTOR_COMMON_HASH_AVX2_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(NESTOR_HASH_AVX2)
#define HASH_HAVE_AVX2 1
/* Same result as XXH3_64bits(p, n); only call when the CPU has AVX2. */
uint64_t hash64_avx2(const void *p, size_t n);
#endif

#endif
