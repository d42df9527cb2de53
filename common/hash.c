/* Block hashing and zero detection used by change tracking and the sender. */
#include "common/hash.h"
#include "common/hash-avx2.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The shared libxxhash is built for the x86-64 baseline (SSE2); its AVX2
 * code path hashes about 2.5x faster here, which matters because every raw
 * incremental hashes the whole allocated image. */
uint64_t
hash64(const void *p, size_t n)
{
#ifdef HASH_HAVE_AVX2
	if (__builtin_cpu_supports("avx2"))
		return hash64_avx2(p, n);
#endif
	return (uint64_t)XXH3_64bits(p, n);
}

/* The state is libxxhash's; the AVX2 build updates it with the same
 * layout (one header), and XXH3's result does not depend on the path. */
struct hash_stream {
	XXH3_state_t *st;
};

struct hash_stream *
hash_stream_new(void)
{
	struct hash_stream *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	h->st = XXH3_createState();
	if (!h->st) {
		free(h);
		return NULL;
	}
	XXH3_64bits_reset(h->st);
	return h;
}

void
hash_stream_reset(struct hash_stream *h)
{
	XXH3_64bits_reset(h->st);
}

void
hash_stream_update(struct hash_stream *h, const void *p, size_t n)
{
#ifdef HASH_HAVE_AVX2
	if (__builtin_cpu_supports("avx2")) {
		hash_update_avx2(h->st, p, n);
		return;
	}
#endif
	XXH3_64bits_update(h->st, p, n);
}

uint64_t
hash_stream_digest(const struct hash_stream *h)
{
	return (uint64_t)XXH3_64bits_digest(h->st);
}

void
hash_stream_free(struct hash_stream *h)
{
	if (!h)
		return;
	XXH3_freeState(h->st);
	free(h);
}

bool
buf_is_zero(const void *p, size_t n)
{
	static const unsigned char zero[16];
	const unsigned char *b = p;

	if (n <= sizeof(zero))
		return n == 0 || memcmp(b, zero, n) == 0;
	/* Once the head is known zero, "every byte equals the byte 16 earlier"
	 * makes the whole buffer zero, and memcmp runs that at memory speed. */
	if (memcmp(b, zero, sizeof(zero)) != 0)
		return false;
	return memcmp(b, b + sizeof(zero), n - sizeof(zero)) == 0;
}

int
range_is_zero(int (*rd)(void *arg, void *buf, size_t n, uint64_t off), void *arg, uint64_t off,
	      uint64_t len, void *buf, size_t cap)
{
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < cap ? (size_t)(len - done) : cap;

		if (rd(arg, buf, n, off + done) < 0)
			return -1;
		if (!buf_is_zero(buf, n))
			return 0;
		done += n;
	}
	return 1;
}
