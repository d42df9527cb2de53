/* Empty qcow2 images without qemu-img (qcow2new.h). The layout is the one
 * qemu-img 7.2 writes (docs/interop/qcow2.txt in qemu): cluster 0 the
 * header, 1 the refcount table, 2 its one refcount block, from 3 the L1
 * table (all zero: nothing allocated), the file ending with the table. */
#define _GNU_SOURCE
#include "common/qcow2new.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"

#define Q_CLUSTER_BITS 16
#define Q_CLUSTER      (1u << Q_CLUSTER_BITS)
/* One L2 table maps Q_CLUSTER / 8 clusters: 512 MiB per L1 entry. */
#define Q_L1_SPAN      ((uint64_t)(Q_CLUSTER / 8) << Q_CLUSTER_BITS)
#define Q_REFTABLE_OFF ((uint64_t)Q_CLUSTER)
#define Q_REFBLOCK_OFF (2 * (uint64_t)Q_CLUSTER)
#define Q_L1_OFF       (3 * (uint64_t)Q_CLUSTER)
#define Q_HEADER_LEN   112 /* v3 with the compression type byte, padded to 8 */
#define Q_REFCOUNT_ORDER 4 /* 16-bit refcounts: 32768 per block */
#define Q_EXT_BACKING_FMT 0xe2792acau
/* The largest first cluster written: header, the format extension (a
 * format name of at most 8 bytes), the end extension, the backing name. */
#define Q_HEAD_MAX (Q_HEADER_LEN + 16 + 8 + QCOW2NEW_BACKING_MAX)

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Virtual size as qemu-img rounds it, and the L1 entries it needs; false
 * when out of range. */
static bool
q_sizes(uint64_t size, uint64_t *vsize, uint64_t *l1_size)
{
	if (size == 0 || size > QCOW2NEW_MAX_SIZE)
		return false;
	*vsize = (size + 511) & ~511ull;
	*l1_size = (*vsize + Q_L1_SPAN - 1) / Q_L1_SPAN;
	return true;
}

size_t
qcow2new_header(uint8_t *buf, size_t cap, uint64_t size, const char *backing,
		const char *backing_fmt)
{
	size_t blen = backing ? strlen(backing) : 0, flen = 0, n = Q_HEADER_LEN;
	uint64_t vsize, l1_size;

	if (!q_sizes(size, &vsize, &l1_size) || blen > QCOW2NEW_BACKING_MAX ||
	    (backing && (blen == 0 || !backing_fmt ||
			 (strcmp(backing_fmt, "qcow2") != 0 && strcmp(backing_fmt, "raw") != 0))))
		return 0;
	flen = backing ? strlen(backing_fmt) : 0;
	if (cap < Q_HEAD_MAX)
		return 0;
	memset(buf, 0, Q_HEAD_MAX);
	memcpy(buf, "QFI\xfb", 4);
	put32(buf + 4, 3);                      /* version */
	put32(buf + 20, Q_CLUSTER_BITS);
	put64(buf + 24, vsize);
	put32(buf + 36, (uint32_t)l1_size);     /* <= 2^21 by QCOW2NEW_MAX_SIZE */
	put64(buf + 40, Q_L1_OFF);
	put64(buf + 48, Q_REFTABLE_OFF);
	put32(buf + 56, 1);                     /* refcount table clusters */
	put32(buf + 96, Q_REFCOUNT_ORDER);
	put32(buf + 100, Q_HEADER_LEN);
	/* Features, snapshots, encryption, compression type (zlib): zero. */
	if (backing) {
		put32(buf + n, Q_EXT_BACKING_FMT);
		put32(buf + n + 4, (uint32_t)flen);
		memcpy(buf + n + 8, backing_fmt, flen);
		n += 8 + ((flen + 7) & ~(size_t)7);
	}
	n += 8; /* the end of the extensions: type 0, length 0 */
	if (backing) {
		put64(buf + 8, n);
		put32(buf + 16, (uint32_t)blen);
		memcpy(buf + n, backing, blen);
		n += blen;
	}
	return n;
}

/* lseek + write all. 0 / -1 with errno. */
static int
q_write_at(int fd, uint64_t off, const void *buf, size_t len)
{
	if (lseek(fd, (off_t)off, SEEK_SET) < 0)
		return -1;
	return fd_write_all(fd, buf, len);
}

int
qcow2new_create(const char *ctx, const char *path, uint64_t size, const char *backing,
		const char *backing_fmt)
{
	return qcow2new_write(ctx, path, size, backing, backing_fmt, true);
}

int
qcow2new_write(const char *ctx, const char *path, uint64_t size, const char *backing,
	       const char *backing_fmt, bool sync)
{
	uint8_t head[Q_HEAD_MAX], entry[8];
	/* Refcount 1 for the header, the tables and each L1 cluster: at most
	 * 3 + 256 clusters at QCOW2NEW_MAX_SIZE. */
	uint8_t refs[2 * (3 + ((QCOW2NEW_MAX_SIZE / Q_L1_SPAN) * 8 / Q_CLUSTER))];
	uint64_t vsize, l1_size, nref;
	size_t hlen = qcow2new_header(head, sizeof(head), size, backing, backing_fmt);
	int fd = -1, rc = -1;

	if (hlen == 0 || !q_sizes(size, &vsize, &l1_size)) {
		log_error("%s: cannot make qcow2 image %s of %llu bytes over %s", ctx, path,
			  (unsigned long long)size, backing ? backing : "nothing");
		return -1;
	}
	nref = 3 + (l1_size * 8 + Q_CLUSTER - 1) / Q_CLUSTER;
	for (uint64_t i = 0; i < nref; i++) {
		refs[2 * i] = 0;
		refs[2 * i + 1] = 1;
	}
	put64(entry, Q_REFBLOCK_OFF);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_write_all(fd, head, hlen) < 0 ||
	    q_write_at(fd, Q_REFTABLE_OFF, entry, sizeof(entry)) < 0 ||
	    q_write_at(fd, Q_REFBLOCK_OFF, refs, 2 * nref) < 0 ||
	    ftruncate(fd, (off_t)(Q_L1_OFF + l1_size * 8)) < 0 || (sync && fsync(fd) < 0)) {
		log_error("%s: cannot write qcow2 image %s: %m", ctx, path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		log_error("%s: cannot write qcow2 image %s: %m", ctx, path);
		rc = -1;
	}
	if (rc < 0 && fd >= 0)
		(void)unlink(path); /* half an image is nobody's */
	return rc;
}
