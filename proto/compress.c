/* zstd compression of extent payloads, with the "is it worth it" rule and a
 * strict decompressor that trusts nothing the peer declares. */
#include "proto/compress.h"

#include <stdbool.h>
#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "common/log.h"
#include "proto/codec.h"

/* A sample of an extent compressed first (see zcomp_compress). */
#define ZCOMP_SAMPLE 4096u

struct zcomp {
	ZSTD_CCtx *cctx;
	int level;
	bool last_raw; /* the last extent did not compress */
	unsigned char sample[ZCOMP_SAMPLE];
};

struct zcomp *
zcomp_new(int level)
{
	struct zcomp *z = NULL, *ret = NULL;
	size_t r;

	/* Negative levels are zstd's fast ones (zstd --fast=N): about twice
	 * level 1's speed for ~10% more bytes on OS binaries. */
	if (level < ZCOMP_LEVEL_MIN || level > 19 || level == 0) {
		log_error("zstd: compression level %d outside %d..-1, 1..19", level,
			  ZCOMP_LEVEL_MIN);
		goto out;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL) {
		log_error("zstd: allocating compressor: %m");
		goto out;
	}
	z->level = level;
	if ((z->cctx = ZSTD_createCCtx()) == NULL) {
		log_error("zstd: ZSTD_createCCtx failed");
		goto out;
	}
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	/* The decompressor insists on a declared size. The frame checksum
	 * (4 bytes) lets it reject corruption itself instead of handing the
	 * caller plausible wrong bytes of the right length. */
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(r)) {
		log_error("zstd: setting compression parameters: %s",
			  ZSTD_getErrorName(r));
		goto out;
	}
	ret = z;
	z = NULL;
out:
	zcomp_free(z);
	return ret;
}

int
zcomp_set_level(struct zcomp *z, int level)
{
	size_t r;

	if (level == z->level)
		return 0;
	if (level < ZCOMP_LEVEL_MIN || level > 19 || level == 0) {
		log_error("zstd: compression level %d outside %d..-1, 1..19", level,
			  ZCOMP_LEVEL_MIN);
		return -1;
	}
	/* Between frames the parameter applies to the next one; the context's
	 * tables are resized by zstd when the level needs other ones. */
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(r)) {
		log_error("zstd: setting compression level %d: %s", level, ZSTD_getErrorName(r));
		return -1;
	}
	z->level = level;
	return 0;
}

void
zcomp_free(struct zcomp *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->cctx);
	free(z);
}

/* Whether ZCOMP_SAMPLE bytes at src compress by the same 1/64 as a whole
 * extent must: 1 yes, 0 no, -1 error (logged). */
static int
zcomp_sample_shrinks(struct zcomp *z, const unsigned char *src)
{
	size_t r = ZSTD_compress2(z->cctx, z->sample, ZCOMP_SAMPLE - ZCOMP_SAMPLE / 64 - 1,
				  src, ZCOMP_SAMPLE);

	if (!ZSTD_isError(r))
		return 1;
	if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
		return 0;
	log_error("zstd: compressing a sample at level %d: %s", z->level, ZSTD_getErrorName(r));
	return -1;
}

int
zcomp_compress(struct zcomp *z, const void *src, size_t len,
	       void *dst, size_t cap, size_t *out_len)
{
	size_t limit, r;
	int s;

	/* After an extent that did not compress (random, media or encrypted
	 * data), two samples, its head and its middle, are tried first: if
	 * neither shrinks, the extent goes as it is, for an eighth of zstd's
	 * work on it at most (a 1% incremental's changed blocks are random
	 * here: each was compressed in full for nothing). A stream that
	 * compresses never pays for samples. */
	if (z->last_raw && len >= 8 * ZCOMP_SAMPLE) {
		const unsigned char *p = src;

		if ((s = zcomp_sample_shrinks(z, p)) == 0)
			s = zcomp_sample_shrinks(z, p + len / 2 - ZCOMP_SAMPLE / 2);
		if (s <= 0)
			return s < 0 ? -1 : 1;
	}
	/* Worth it only below len - len/64; capping dst there lets zstd stop
	 * as soon as it knows the answer is "no". */
	limit = len - len / 64;
	if (limit <= 1)
		return 1;
	limit--;
	if (cap < limit)
		limit = cap;
	r = ZSTD_compress2(z->cctx, dst, limit, src, len);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall) {
			log_error("zstd: compressing %zu bytes at level %d: %s", len,
				  z->level, ZSTD_getErrorName(r));
			return -1;
		}
		z->last_raw = true;
		return 1;
	}
	z->last_raw = false;
	*out_len = r;
	return 0;
}

/* A decompressor keeps nothing but zstd's context, so the handle is that
 * context itself: struct zdecomp is never defined, only converted back. */
static ZSTD_DCtx *
zdecomp_dctx(struct zdecomp *z)
{
	return (ZSTD_DCtx *)(void *)z;
}

struct zdecomp *
zdecomp_new(void)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();

	if (dctx == NULL)
		log_error("zstd: ZSTD_createDCtx failed");
	return (struct zdecomp *)(void *)dctx;
}

void
zdecomp_free(struct zdecomp *z)
{
	ZSTD_freeDCtx(zdecomp_dctx(z)); /* NULL is a no-op */
}

int
zdecomp_decompress(struct zdecomp *z, const void *src, size_t len,
		   void *dst, size_t expected_len)
{
	unsigned long long declared;
	size_t r;

	if (expected_len == 0 || expected_len > PROTO_MAX_EXTENT || len == 0)
		return -1;
	declared = ZSTD_getFrameContentSize(src, len);
	if (declared == ZSTD_CONTENTSIZE_ERROR ||
	    declared == ZSTD_CONTENTSIZE_UNKNOWN || declared != expected_len)
		return -1;
	/* Exactly one frame: ZSTD_decompressDCtx would otherwise append the
	 * content of following frames (bounded by dst, but still wrong). */
	r = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(r) || r != len)
		return -1;
	/* Single-shot into a flat buffer: zstd bounds every write by the
	 * capacity and checks the declared size against what it produced. */
	r = ZSTD_decompressDCtx(zdecomp_dctx(z), dst, expected_len, src, len);
	if (ZSTD_isError(r) || r != expected_len)
		return -1;
	return 0;
}
