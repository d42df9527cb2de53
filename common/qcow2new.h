/* Empty qcow2 images written directly instead of by a `qemu-img create`
 * child (issue 17: a point's overlay per disk is made on the path from
 * POINT_BEGIN to its answer, and the process cost ~30-80 ms of it).
 * Nothing returned is allocated. */
#ifndef NESTOR_COMMON_QCOW2NEW_H
#define NESTOR_COMMON_QCOW2NEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest virtual size written (qemu's own limit is its 32 MiB L1 table,
 * 2 PiB at 64 KiB clusters) and longest backing name (qemu's). */
#define QCOW2NEW_MAX_SIZE    (1ull << 50)
#define QCOW2NEW_BACKING_MAX 1023

/* Write path (created 0644 less the umask, or truncated) as the empty
 * image `qemu-img create -f qcow2 -o cluster_size=65536,lazy_refcounts=off
 * [-b backing -F backing_fmt] path size` makes: qcow2 v3 (compat 1.1),
 * 16-bit refcounts, zlib, size rounded up to 512 bytes as qemu-img does;
 * only the optional feature name table is left out. backing NULL: none,
 * else a name qemu resolves against path's directory when relative, with
 * backing_fmt "qcow2" or "raw" (not checked to exist). The file is fsynced,
 * its directory is not. ctx prefixes the one error logged. 0 / -1. */
int qcow2new_create(const char *ctx, const char *path, uint64_t size, const char *backing,
		    const char *backing_fmt);

/* The same, fsynced only when sync is true: for a scratch image that
 * means nothing after a crash (a backup job's, snapshot/libvirt-job.c). */
int qcow2new_write(const char *ctx, const char *path, uint64_t size, const char *backing,
		   const char *backing_fmt, bool sync);

/* The bytes of such an image's first cluster that are not zero (header,
 * its extensions, the backing name) into buf: their length, or 0 when the
 * arguments are out of range or cap too small. Pure, for the tests. */
size_t qcow2new_header(uint8_t *buf, size_t cap, uint64_t size, const char *backing,
		       const char *backing_fmt);

#endif
