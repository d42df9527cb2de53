/* XXH3-64 compiled for AVX2 (the Makefile builds this file with -mavx2 on
 * x86-64); hash.c calls it only on CPUs that have AVX2. XXH3's result does
 * not depend on the vector width, so both paths give the same hashes. */
#include "common/hash-avx2.h"

#ifdef __AVX2__
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t
hash64_avx2(const void *p, size_t n)
{
	return (uint64_t)XXH3_64bits(p, n);
}

void
hash_update_avx2(void *state, const void *p, size_t n)
{
	(void)XXH3_64bits_update(state, p, n);
}
#endif
