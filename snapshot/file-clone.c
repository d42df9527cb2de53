/* The file source's consistency: a reflink copy of a raw image taken at the
 * snapshot (FICLONE into an unnamed O_TMPFILE on the same filesystem, so a
 * kill leaves nothing behind), or, reading in place, the change markers
 * before and after the read and a check of every block read against its
 * scan. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/consistency.h"
#include "common/hash.h"
#include "common/log.h"
#include "snapshot/file-priv.h"

/* The state directory when it shares the image's filesystem (a clone
 * cannot cross filesystems), else the image's own directory. */
static int
clone_dir(const struct file_disk *d, char *dir, size_t len)
{
	struct stat a, b;
	char *copy;

	if (stat(d->path, &a) == 0 && stat(d->state_dir, &b) == 0 && a.st_dev == b.st_dev) {
		snprintf(dir, len, "%s", d->state_dir);
		return 0;
	}
	copy = strdup(d->path);
	if (!copy) {
		log_error("disk %s: out of memory", d->name);
		return -1;
	}
	snprintf(dir, len, "%s", dirname(copy));
	free(copy);
	return 0;
}

/* 1 cloned, 0 the filesystem cannot (*why: errno, dir: where it tried), -1
 * error (logged). */
static int
clone_try(struct file_disk *d, char *dir, size_t dirlen, int *why)
{
	struct stat st;
	int src = -1, dst = -1, ret = -1;

	if (clone_dir(d, dir, dirlen) < 0)
		return -1;
	src = open(d->path, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		log_error("disk %s: %s: %m", d->name, d->path);
		goto out;
	}
	dst = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (dst < 0) {
		ret = 0;
		*why = errno;
		goto out;
	}
	if (ioctl(dst, FICLONE, src) < 0) {
		if (errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL &&
		    errno != ENOTTY && errno != EPERM) {
			log_error("disk %s: %s: reflink copy into %s: %m", d->name, d->path, dir);
			goto out;
		}
		ret = 0;
		*why = errno;
		goto out;
	}
	if (fstat(dst, &st) < 0 || (uint64_t)st.st_size != d->size) {
		log_error("disk %s: %s: size changed before its reflink copy", d->name, d->path);
		goto out;
	}
	d->clone_fd = dst;
	dst = -1;
	ret = 1;
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return ret;
}

const char *
file_clone_begin(struct file_disk *d, char *buf, size_t len)
{
	char dir[4096];
	struct stat st;
	int r, why = 0;

	if (d->clone_mode == SNAP_CLONE_NONE)
		return d->path;
	if (stat(d->path, &st) < 0) {
		log_error("disk %s: %s: %m", d->name, d->path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A block device has no reflink: its counters tell. */
		if (d->clone_mode == SNAP_CLONE_REFLINK) {
			log_error("disk %s: %s: snapshot = reflink needs a regular file", d->name,
				  d->path);
			return NULL;
		}
		return d->path;
	}
	r = clone_try(d, dir, sizeof(dir), &why);
	if (r < 0)
		return NULL;
	if (r == 0) {
		errno = why;
		if (d->clone_mode == SNAP_CLONE_REFLINK) {
			log_error("disk %s: %s: snapshot = reflink, but no reflink copy into %s: "
				  "%m (use auto or read)", d->name, d->path, dir);
			return NULL;
		}
		/* auto: read in place, with the markers */
		log_debug("disk %s: %s: no reflink copy into %s: %m", d->name, d->path, dir);
		return d->path;
	}
	log_debug("disk %s: %s: reading a reflink copy", d->name, d->path);
	snprintf(buf, len, "/proc/self/fd/%d", d->clone_fd);
	return buf;
}

int
file_marks_begin(struct file_disk *d)
{
	if (d->clone_fd >= 0)
		return 0;
	return filemarks_take(d->path, true, &d->marks0, d->name);
}

void
file_read_check(struct file_disk *d, uint64_t offset, const void *buf, size_t len)
{
	uint64_t end = offset + len, scanned = __atomic_load_n(&d->scanned_end, __ATOMIC_ACQUIRE);
	uint64_t b = (offset + FILE_BLOCK - 1) / FILE_BLOCK;

	if (d->fmt != FILE_RAW || d->clone_fd >= 0 || !d->new_hashes)
		return;
	/* Whole blocks the scan already hashed: the others are its to hash. */
	for (; b < d->nblocks; b++) {
		uint64_t off = b * FILE_BLOCK;
		uint64_t blen = d->size - off < FILE_BLOCK ? d->size - off : FILE_BLOCK;
		uint64_t h;

		if (off + blen > end || off + blen > scanned)
			break;
		h = hash64((const char *)buf + (off - offset), (size_t)blen);
		if (h != d->new_hashes[b]) {
			/* The base must describe what the receiver holds. */
			d->new_hashes[b] = h;
			__atomic_store_n(&d->torn, 1, __ATOMIC_RELEASE);
		}
	}
}

int
file_level(struct file_disk *d)
{
	struct filemarks now;

	if (d->level)
		return d->level;
	if (d->clone_fd >= 0) {
		d->level = CONS_CRASH; /* the copy is one instant */
		return d->level;
	}
	if (filemarks_take(d->path, false, &now, d->name) < 0 ||
	    __atomic_load_n(&d->torn, __ATOMIC_ACQUIRE) || !filemarks_same(&d->marks0, &now)) {
		log_warn("disk %s: %s was written while it was read: this point is not "
			 "point-in-time (the next incremental sends what changed)", d->name, d->path);
		d->level = CONS_NOT_PIT;
		return d->level;
	}
	d->level = CONS_CRASH; /* nobody wrote it during the read */
	return d->level;
}

void
file_clone_end(struct file_disk *d)
{
	if (d->clone_fd >= 0)
		close(d->clone_fd); /* an unnamed file: its blocks go with it */
	d->clone_fd = -1;
}
