/* Internal to common/hash.c: the AVX2 build of XXH3-64. */
#ifndef NESTOR_COMMON_HASH_AVX2_H
#define NESTOR_COMMON_HASH_AVX2_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(NESTOR_HASH_AVX2)
#define HASH_HAVE_AVX2 1
/* Same result as XXH3_64bits(p, n); only call when the CPU has AVX2. */
uint64_t hash64_avx2(const void *p, size_t n);
/* XXH3_64bits_update(state, p, n) with AVX2; state is an XXH3_state_t. */
void hash_update_avx2(void *state, const void *p, size_t n);
#endif

#endif
