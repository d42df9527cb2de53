/* The CPU floor of a seed (bench/seed.sh): the thread CPU time the work
 * Nestor cannot avoid costs over an image's data, with Nestor's own
 * helpers: XXH3 (common/hash), zstd at the agent's level (proto/compress),
 * AES-128-GCM (OpenSSL EVP, the TLS 1.3 cipher), and the receiver's
 * decrypt, decompress and verify. No I/O beyond reading the image from
 * the page cache, no copies between stages.
 *
 * usage: floor IMAGE LEVEL -> one line of key=seconds on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/hash.h"
#include "proto/compress.h"

#define CHUNK (1u << 20) /* Nestor's extent size at most */

enum stage { S_READ, S_ZERO, S_HASH, S_ZSTD, S_SEAL, S_OPEN, S_UNZSTD, S_VERIFY, S_N };
static const char *const stage_name[S_N] = {
	"read", "zero_check", "xxh3", "zstd", "aes_gcm_seal", "aes_gcm_open", "unzstd", "xxh3_verify",
};

struct floor {
	double t[S_N];
	uint64_t bytes_data, bytes_zstd;
	EVP_CIPHER_CTX *enc, *dec;
	struct zcomp *zc;
	struct zdecomp *zd;
	unsigned char *buf, *cbuf, *ebuf, *dbuf;
	unsigned char key[16], iv[12];
};

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One AES-128-GCM record over len bytes of in (seal or open by ctx). */
static int
floor_gcm(struct floor *f, EVP_CIPHER_CTX *ctx, int enc, const unsigned char *in, size_t len,
	  unsigned char *out)
{
	unsigned char tag[16] = { 0 };
	int n = 0, fin = 0;

	if (EVP_CipherInit_ex(ctx, NULL, NULL, f->key, f->iv, enc) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		return -1;
	if (enc)
		return EVP_CipherFinal_ex(ctx, out + n, &fin) == 1 &&
		       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1 ? 0 : -1;
	/* The tag is not the sealer's: only the work is measured here. */
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
	EVP_CipherFinal_ex(ctx, out + n, &fin);
	return 0;
}

/* The stages over one chunk, each timed on its own. */
static int
floor_chunk(struct floor *f, size_t len)
{
	const unsigned char *payload = f->buf;
	size_t plen = len, clen = 0;
	double t = cpu_now(), u;
	uint64_t h;
	int r;

	if (buf_is_zero(f->buf, len)) { /* a ZERO extent: no payload */
		f->t[S_ZERO] += cpu_now() - t;
		return 0;
	}
	u = cpu_now();
	f->t[S_ZERO] += u - t;
	h = hash64(f->buf, len);
	t = cpu_now();
	f->t[S_HASH] += t - u;
	r = zcomp_compress(f->zc, f->buf, len, f->cbuf, CHUNK, &clen);
	if (r < 0)
		return -1;
	if (r == 0) {
		payload = f->cbuf;
		plen = clen;
	}
	u = cpu_now();
	f->t[S_ZSTD] += u - t;
	if (floor_gcm(f, f->enc, 1, payload, plen, f->ebuf) < 0)
		return -1;
	t = cpu_now();
	f->t[S_SEAL] += t - u;
	if (floor_gcm(f, f->dec, 0, f->ebuf, plen, f->dbuf) < 0)
		return -1;
	u = cpu_now();
	f->t[S_OPEN] += u - t;
	if (r == 0 && zdecomp_decompress(f->zd, f->cbuf, clen, f->dbuf, len) < 0)
		return -1;
	t = cpu_now();
	f->t[S_UNZSTD] += t - u;
	if (hash64(r == 0 ? f->dbuf : f->buf, len) != h)
		return -1;
	f->t[S_VERIFY] += cpu_now() - t;
	f->bytes_data += len;
	f->bytes_zstd += plen;
	return 0;
}

/* Every data chunk of the file (holes skipped, as Nestor's scan does). */
static int
floor_file(struct floor *f, int fd)
{
	off_t off = 0, end;

	while ((off = lseek(fd, off, SEEK_DATA)) >= 0) {
		if ((end = lseek(fd, off, SEEK_HOLE)) < 0)
			return -1;
		while (off < end) {
			size_t len = (size_t)(end - off) < CHUNK ? (size_t)(end - off) : CHUNK;
			double t = cpu_now();
			ssize_t n = pread(fd, f->buf, len, off);

			f->t[S_READ] += cpu_now() - t;
			if (n <= 0 || floor_chunk(f, (size_t)n) < 0)
				return -1;
			off += n;
		}
	}
	return errno == ENXIO ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct floor f = { 0 };
	long level = 0;
	char *end = NULL;
	int fd = -1, ret = 1;
	double total = 0;

	if (argc == 3) {
		errno = 0;
		level = strtol(argv[2], &end, 10);
	}
	if (argc != 3 || errno || end == argv[2] || *end || level < ZCOMP_LEVEL_MIN || level > 19) {
		fprintf(stderr, "usage: floor IMAGE LEVEL (%d..19)\n", ZCOMP_LEVEL_MIN);
		return 2;
	}
	if ((fd = open(argv[1], O_RDONLY)) < 0) {
		fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	f.buf = malloc(CHUNK);
	f.cbuf = malloc(CHUNK);
	f.ebuf = malloc(CHUNK);
	f.dbuf = malloc(CHUNK);
	f.enc = EVP_CIPHER_CTX_new();
	f.dec = EVP_CIPHER_CTX_new();
	f.zc = zcomp_new((int)level);
	f.zd = zdecomp_new();
	if (!f.buf || !f.cbuf || !f.ebuf || !f.dbuf || !f.enc || !f.dec || !f.zc || !f.zd ||
	    EVP_CipherInit_ex(f.enc, EVP_aes_128_gcm(), NULL, NULL, NULL, 1) != 1 ||
	    EVP_CipherInit_ex(f.dec, EVP_aes_128_gcm(), NULL, NULL, NULL, 0) != 1) {
		fprintf(stderr, "floor: set-up failed\n");
		goto out;
	}
	memset(f.key, 0x5a, sizeof(f.key));
	if (floor_file(&f, fd) < 0) {
		fprintf(stderr, "floor: %s: read or round trip failed\n", argv[1]);
		goto out;
	}
	for (int i = 0; i < S_N; i++) {
		printf("%s=%.3f ", stage_name[i], f.t[i]);
		total += f.t[i];
	}
	printf("total=%.3f data_mib=%.0f zstd_mib=%.0f\n", total, (double)f.bytes_data / 1048576.0,
	       (double)f.bytes_zstd / 1048576.0);
	ret = 0;
out:
	zcomp_free(f.zc);
	zdecomp_free(f.zd);
	EVP_CIPHER_CTX_free(f.enc);
	EVP_CIPHER_CTX_free(f.dec);
	free(f.buf);
	free(f.cbuf);
	free(f.ebuf);
	free(f.dbuf);
	close(fd);
	return ret;
}
