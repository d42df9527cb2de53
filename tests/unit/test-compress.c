/* Unit tests for the zstd helpers: round trips, the "not worth it" rule and
 * a decompressor that rejects anything but one exact, intact frame. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "proto/codec.h"
#include "proto/compress.h"
#include "tests/unit/helpers.h"

#define BIG PROTO_MAX_EXTENT

static uint8_t *plain;   /* compressible: text-like with repeats */
static uint8_t *noise;   /* incompressible */

static uint64_t rng = XORSHIFT_SEED;

static uint64_t
next_rand(void)
{
	return xorshift64(&rng);
}

static void
setup(void)
{
	static const char words[] = "nestor replicates disks to the cloud ";

	plain = malloc(BIG);
	noise = malloc(BIG);
	cr_assert(plain && noise);
	for (size_t i = 0; i < BIG; i++) {
		plain[i] = (uint8_t)words[(i + (next_rand() % 3 == 0)) % (sizeof(words) - 1)];
		noise[i] = (uint8_t)next_rand();
	}
}

static void
teardown(void)
{
	free(plain);
	free(noise);
}

TestSuite(compress, .init = setup, .fini = teardown);

/* Compress with our compressor into an exactly sized heap buffer. */
static uint8_t *
squeeze(const uint8_t *src, size_t len, int level, size_t *clen)
{
	struct zcomp *z = zcomp_new(level);
	size_t cap = ZSTD_compressBound(len);
	uint8_t *dst = malloc(cap), *exact;

	cr_assert_not_null(z);
	cr_assert_not_null(dst);
	cr_assert_eq(zcomp_compress(z, src, len, dst, cap, clen), 0);
	zcomp_free(z);
	exact = malloc(*clen);
	cr_assert_not_null(exact);
	memcpy(exact, dst, *clen);
	free(dst);
	return exact;
}

Test(compress, levels)
{
	cr_assert_null(zcomp_new(0));
	cr_assert_null(zcomp_new(20));
	cr_assert_null(zcomp_new(ZCOMP_LEVEL_MIN - 1));
	zcomp_free(NULL);
	zdecomp_free(NULL);
	for (int l = 1; l <= 19; l += 9) {
		struct zcomp *z = zcomp_new(l);

		cr_assert_not_null(z, "level %d", l);
		zcomp_free(z);
	}
}

/* One context moved between levels (the sender's adaptive level): each
 * frame is what a fresh context at that level makes, a bad level is
 * refused and the old one kept. */
Test(compress, set_level)
{
	static const int levels[] = { 19, ZCOMP_LEVEL_MIN, 3, -1 };
	struct zcomp *z = zcomp_new(1);
	size_t cap = ZSTD_compressBound(BIG), clen = 0, want = 0;
	uint8_t *c = malloc(cap);

	cr_assert(z && c);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		uint8_t *fresh;

		cr_assert_eq(zcomp_set_level(z, levels[i]), 0);
		cr_assert_eq(zcomp_compress(z, plain, BIG, c, cap, &clen), 0);
		fresh = squeeze(plain, BIG, levels[i], &want);
		cr_assert_eq(clen, want, "level %d: %zu bytes, a fresh context %zu", levels[i],
			     clen, want);
		free(fresh);
	}
	cr_assert_eq(zcomp_set_level(z, 0), -1);
	cr_assert_eq(zcomp_set_level(z, 20), -1);
	cr_assert_eq(zcomp_compress(z, plain, BIG, c, cap, &clen), 0);
	cr_assert_eq(clen, want, "still level -1 after the refusals");
	free(c);
	zcomp_free(z);
}

Test(compress, roundtrip)
{
	static const size_t sizes[] = { 1024, 4096, 65536 + 17, BIG };
	static const int levels[] = { ZCOMP_LEVEL_MIN, -1, 1, 3, 19 };
	struct zdecomp *d = zdecomp_new();

	cr_assert_not_null(d);
	for (size_t li = 0; li < sizeof(levels) / sizeof(levels[0]); li++) {
		struct zcomp *z = zcomp_new(levels[li]);
		size_t cap = ZSTD_compressBound(BIG);
		uint8_t *c = malloc(cap), *out = malloc(BIG);

		cr_assert(z && c && out);
		for (size_t si = 0; si < 4; si++) {
			size_t len = sizes[si], clen = 0;

			if (levels[li] == 19 && len == BIG)
				continue; /* slow, and level 3 covers it */
			cr_assert_eq(zcomp_compress(z, plain, len, c, cap, &clen), 0,
				     "level %d len %zu", levels[li], len);
			cr_assert_lt(clen, len - len / 64);
			/* Context reuse: decompress into an exact buffer. */
			uint8_t *exact = malloc(len);
			cr_assert_not_null(exact);
			cr_assert_eq(zdecomp_decompress(d, c, clen, exact, len), 0);
			cr_assert_arr_eq(exact, plain, len);
			free(exact);
		}
		/* All zeros compress far below the bound, even tiny buffers. */
		memset(out, 0, BIG);
		size_t zlen = 0;
		cr_assert_eq(zcomp_compress(z, out, 64, c, cap, &zlen), 0);
		cr_assert_eq(zdecomp_decompress(d, c, zlen, out + 64, 64), 0);
		cr_assert_arr_eq(out + 64, out, 64);
		cr_assert_eq(zcomp_compress(z, out, BIG, c, cap, &zlen), 0);
		cr_assert_lt(zlen, 1024);
		memset(out, 0xff, BIG);
		cr_assert_eq(zdecomp_decompress(d, c, zlen, out, BIG), 0);
		for (size_t i = 0; i < BIG; i++)
			cr_assert_eq(out[i], 0);
		free(c);
		free(out);
		zcomp_free(z);
	}
	zdecomp_free(d);
}

Test(compress, not_worth_it)
{
	struct zcomp *z = zcomp_new(3);
	size_t cap = ZSTD_compressBound(BIG), clen = 12345;
	uint8_t *c = malloc(cap);

	cr_assert(z && c);
	cr_assert_eq(zcomp_compress(z, noise, BIG, c, cap, &clen), 1);
	cr_assert_eq(zcomp_compress(z, noise, 4096, c, cap, &clen), 1);
	cr_assert_eq(clen, 12345, "out_len untouched when not compressed");
	/* Too small to ever win. */
	cr_assert_eq(zcomp_compress(z, plain, 0, c, cap, &clen), 1);
	cr_assert_eq(zcomp_compress(z, plain, 1, c, cap, &clen), 1);

	/* Compressible but only a little: 1/128 of the bytes repeat, the rest
	 * is noise, so the output is above the 63/64 threshold. */
	memcpy(c, noise, 65536);
	memset(c, 0, 512);
	cr_assert_eq(zcomp_compress(z, c, 65536, c + 65536, cap - 65536, &clen), 1);

	free(c);
	zcomp_free(z);
}

/* After an extent that did not compress, samples decide first: noise stays
 * raw, an extent that compresses after noise is still compressed (and
 * decompresses to itself), and one whose sampled head and middle are noise
 * goes raw whatever the rest holds (the samples' trade). */
Test(compress, samples_after_a_raw_extent)
{
	struct zcomp *z = zcomp_new(-1);
	struct zdecomp *d = zdecomp_new();
	size_t cap = ZSTD_compressBound(BIG), clen = 0;
	uint8_t *c = malloc(cap), *mixed = malloc(65536), *back = malloc(65536);

	cr_assert(z && d && c && mixed && back);
	cr_assert_eq(zcomp_compress(z, noise, 65536, c, cap, &clen), 1, "noise: raw");
	cr_assert_eq(zcomp_compress(z, noise + 65536, 65536, c, cap, &clen), 1,
		     "noise after noise: raw (by its samples)");
	cr_assert_eq(zcomp_compress(z, plain, 65536, c, cap, &clen), 0,
		     "text after noise: compressed");
	cr_assert_lt(clen, 65536 - 65536 / 64);
	cr_assert_eq(zdecomp_decompress(d, c, clen, back, 65536), 0);
	cr_assert_eq(memcmp(back, plain, 65536), 0);

	/* noise in the sampled places (head and middle), zeros elsewhere */
	memset(mixed, 0, 65536);
	memcpy(mixed, noise, 4096);
	memcpy(mixed + 32768 - 2048, noise + 4096, 4096);
	cr_assert_eq(zcomp_compress(z, mixed, 65536, c, cap, &clen), 0,
		     "after a compressed extent no sample is taken");
	cr_assert_eq(zcomp_compress(z, noise, 65536, c, cap, &clen), 1);
	cr_assert_eq(zcomp_compress(z, mixed, 65536, c, cap, &clen), 1,
		     "after a raw one the samples decide");
	/* a small extent is never sampled */
	memset(mixed, 0, 16384);
	memcpy(mixed, noise, 4096);
	cr_assert_eq(zcomp_compress(z, mixed, 16384, c, cap, &clen), 0);

	free(back);
	free(mixed);
	free(c);
	zdecomp_free(d);
	zcomp_free(z);
}

/* A too-small cap must be honoured exactly: the byte after it is a canary. */
Test(compress, cap_respected)
{
	struct zcomp *z = zcomp_new(3);
	uint8_t *c = malloc(64 + 1);
	size_t clen = 0;

	cr_assert(z && c);
	c[64] = 0xa5;
	cr_assert_eq(zcomp_compress(z, plain, 65536, c, 64, &clen), 1);
	cr_assert_eq(c[64], 0xa5);
	free(c);
	zcomp_free(z);
}

/* A decompressor and plain[0, len) compressed at level 3, with an output
 * buffer: the subject of the tests of what the decompressor rejects. */
struct squeezed {
	struct zdecomp *d;
	uint8_t *c, *out;
	size_t clen;
};

static void
squeezed_init(struct squeezed *q, size_t len, size_t outlen)
{
	q->d = zdecomp_new();
	q->clen = 0;
	q->c = squeeze(plain, len, 3, &q->clen);
	q->out = malloc(outlen);
	cr_assert(q->d && q->out);
}

static void
squeezed_fini(struct squeezed *q)
{
	free(q->out);
	free(q->c);
	zdecomp_free(q->d);
}

Test(compress, wrong_expected_len)
{
	struct squeezed q;

	squeezed_init(&q, 8192, BIG + 1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, 8191), -1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, 8193), -1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, 0), -1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, BIG + 1), -1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, 0, q.out, 8192), -1);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, 8192), 0);
	cr_assert_arr_eq(q.out, plain, 8192);
	squeezed_fini(&q);
}

Test(compress, truncated_and_trailing)
{
	struct squeezed q;
	uint8_t *longer;

	squeezed_init(&q, 65536, 65536);
	longer = malloc(q.clen + 1);
	cr_assert_not_null(longer);
	for (size_t n = 0; n < q.clen; n++)
		cr_assert_eq(zdecomp_decompress(q.d, q.c, n, q.out, 65536), -1, "prefix %zu", n);
	memcpy(longer, q.c, q.clen);
	longer[q.clen] = 0;
	cr_assert_eq(zdecomp_decompress(q.d, longer, q.clen + 1, q.out, 65536), -1);
	free(longer);
	squeezed_fini(&q);
}

/* No corruption yields wrong bytes: it is rejected (frame checksum, sizes,
 * syntax) or, rarely, only changes the encoding of the same content. */
Test(compress, corrupted)
{
	struct squeezed q;

	squeezed_init(&q, 16384, 16384);
	size_t benign = 0, rejected = 0;
	for (size_t i = 0; i < q.clen; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			q.c[i] ^= (uint8_t)(1u << bit);
			memset(q.out, 0, 16384);
			if (zdecomp_decompress(q.d, q.c, q.clen, q.out, 16384) == 0) {
				cr_assert_arr_eq(q.out, plain, 16384,
						 "flip byte %zu bit %u: wrong bytes accepted",
						 i, bit);
				benign++;
			} else {
				rejected++;
			}
			q.c[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_assert_gt(rejected, 50 * benign, "rejected %zu benign %zu", rejected, benign);
	cr_assert_eq(zdecomp_decompress(q.d, q.c, q.clen, q.out, 16384), 0);
	cr_assert_arr_eq(q.out, plain, 16384);
	squeezed_fini(&q);
}

/* Frames another encoder could send: no declared size, two frames, a frame
 * declaring more than an extent, a skippable frame. */
Test(compress, foreign_frames)
{
	struct zdecomp *d = zdecomp_new();
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(2 * BIG) * 2, n1, n2;
	uint8_t *c = malloc(cap), *out = malloc(2 * BIG), *big = calloc(1, 2 * BIG);

	cr_assert(d && cc && c && out && big);

	/* Unknown content size. */
	cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	n1 = ZSTD_compress2(cc, c, cap, plain, 4096);
	cr_assert(!ZSTD_isError(n1));
	cr_assert_eq(ZSTD_getFrameContentSize(c, n1), ZSTD_CONTENTSIZE_UNKNOWN);
	cr_assert_eq(zdecomp_decompress(d, c, n1, out, 4096), -1);
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);

	/* Two valid frames back to back, each declaring 4096. */
	n1 = ZSTD_compressCCtx(cc, c, cap, plain, 4096, 3);
	cr_assert(!ZSTD_isError(n1));
	n2 = ZSTD_compressCCtx(cc, c + n1, cap - n1, plain, 4096, 3);
	cr_assert(!ZSTD_isError(n2));
	cr_assert_eq(zdecomp_decompress(d, c, n1, out, 4096), 0);
	cr_assert_eq(zdecomp_decompress(d, c, n1 + n2, out, 4096), -1);
	cr_assert_eq(zdecomp_decompress(d, c, n1 + n2, out, 8192), -1);

	/* Declares 2 MiB: above the extent cap whatever the caller expects. */
	n1 = ZSTD_compressCCtx(cc, c, cap, big, 2 * BIG, 3);
	cr_assert(!ZSTD_isError(n1));
	cr_assert_eq(zdecomp_decompress(d, c, n1, out, BIG), -1);

	/* Skippable frame: magic 0x184D2A50, 4-byte length, payload. */
	static const uint8_t skip[] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4 };
	cr_assert_eq(zdecomp_decompress(d, skip, sizeof(skip), out, 4096), -1);

	/* Garbage. */
	cr_assert_eq(zdecomp_decompress(d, noise, 4096, out, 4096), -1);

	free(big);
	free(out);
	free(c);
	ZSTD_freeCCtx(cc);
	zdecomp_free(d);
}
