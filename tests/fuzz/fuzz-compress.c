/* libFuzzer harness for the zstd helpers: the first 4 bytes pick the
 * expected length, the rest is fed to the decompressor as a frame; the whole
 * input is also round-tripped through the compressor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "proto/codec.h"
#include "proto/compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zcomp *zc;
static struct zdecomp *zd;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *dst = NULL, *c = NULL, *back = NULL;
	size_t expected, clen = 0, cap;
	int r;

	if (zc == NULL && (zc = zcomp_new(3)) == NULL)
		abort();
	if (zd == NULL && (zd = zdecomp_new()) == NULL)
		abort();
	if (size < 4 || size - 4 > PROTO_MAX_EXTENT)
		return 0;

	expected = ((size_t)data[0] << 24 | (size_t)data[1] << 16 |
		    (size_t)data[2] << 8 | data[3]) % (PROTO_MAX_EXTENT + 2);
	/* Exact-size output so ASan catches a write past expected_len. */
	dst = malloc(expected ? expected : 1);
	if (dst == NULL)
		goto out;
	(void)zdecomp_decompress(zd, data + 4, size - 4, dst, expected);

	cap = ZSTD_compressBound(size);
	if ((c = malloc(cap)) == NULL || (back = malloc(size ? size : 1)) == NULL)
		goto out;
	r = zcomp_compress(zc, data, size, c, cap, &clen);
	if (r < 0)
		abort();
	if (r == 0) {
		if (clen >= size - size / 64)
			abort();
		if (zdecomp_decompress(zd, c, clen, back, size) != 0 ||
		    memcmp(back, data, size) != 0)
			abort();
	}
out:
	free(back);
	free(c);
	free(dst);
	return 0;
}
