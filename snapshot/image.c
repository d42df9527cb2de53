/* Read-only disk image accessor: raw files through pread, qcow2 through a
 * qemu-nbd child of ours (common/child.h: socket activation, dies with us,
 * recorded so the next start ends it if it outlived us). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/child.h"
#include "common/imginfo.h"
#include "common/log.h"
#include "common/nbd-dl.h"
#include "common/spawn.h"
#include "snapshot/image.h"
#include "snapshot/nbdstatus.h"

/* qemu-nbd refuses requests above 32 MiB. */
#define IMAGE_NBD_MAX_REQ (32u << 20)
/* Block status is asked for in windows so memory stays bounded. */
#define IMAGE_STATUS_WINDOW (1ull << 30)
/* qemu-img output we are willing to hold (a map of a large image). */
#define IMAGE_TOOL_MAX_OUT (16u << 20)

/* qemu-nbd exits at once after its client; a read-only one has nothing
 * to flush. */
#define IMAGE_CHILD_EXIT_MS 30000

#define IMAGE_DIRTY_PREFIX "qemu:dirty-bitmap:"

_Static_assert(IMAGE_EXT_HOLE == NBDSTATUS_HOLE && IMAGE_EXT_ZERO == NBDSTATUS_ZERO &&
	       IMAGE_EXT_DIRTY == NBDSTATUS_DIRTY &&
	       NBDSTATUS_HOLE == LIBNBD_STATE_HOLE && NBDSTATUS_ZERO == LIBNBD_STATE_ZERO,
	       "image flags mirror the NBD walker's and base:allocation flags");

struct image {
	char *path;
	char format[8];
	uint64_t size;
	int fd;                 /* raw */
	struct nbd_handle *nbd; /* qcow2 */
	struct child *nbd_child; /* its qemu-nbd */
	char *bitmap_ctx;       /* qcow2 with bitmap: meta context name */
};

char *
image_tool_path(const char *path)
{
	char *p = NULL;

	if (path[0] == '/')
		p = strdup(path);
	else if (asprintf(&p, "./%s", path) < 0)
		p = NULL;
	if (!p)
		log_error("image %s: out of memory", path);
	return p;
}

int
image_qemu_img(const char *const *args, char **out)
{
	struct spawn *sp = spawn_new_argv("qemu-img", args);
	int ret = -1;

	if (out)
		*out = NULL;
	if (!sp) {
		log_error("qemu-img: out of memory");
		return -1;
	}
	if (out)
		spawn_set_stdout(sp, SPAWN_IO_CAPTURE, IMAGE_TOOL_MAX_OUT);
	if (spawn_run(sp, NULL) == 0) {
		if (out && !(*out = spawn_take_stdout(sp)))
			log_error("qemu-img: out of memory for its output");
		else
			ret = 0;
	}
	spawn_free(sp);
	return ret;
}

/* Format of path according to `qemu-img info`. */
static int
image_probe(const char *path, char *fmt, size_t fmtlen)
{
	char ctx[16 + PATH_MAX];
	struct imginfo *info;
	int ret = -1;

	snprintf(ctx, sizeof(ctx), "image %s", path);
	if (!(info = imginfo_read(path, NULL, ctx)))
		return -1;
	if (strcmp(info->format, "raw") != 0 && strcmp(info->format, "qcow2") != 0)
		log_error("image %s: unsupported format %s", path, info->format);
	else if (strlen(info->format) < fmtlen) {
		memcpy(fmt, info->format, strlen(info->format) + 1);
		ret = 0;
	}
	imginfo_free(info);
	return ret;
}

static int
image_open_raw(struct image *img)
{
	struct stat st;
	off_t end;

	img->fd = open(img->path, O_RDONLY | O_CLOEXEC);
	if (img->fd < 0) {
		log_error("image %s: open: %m", img->path);
		return -1;
	}
	if (fstat(img->fd, &st) < 0) {
		log_error("image %s: fstat: %m", img->path);
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		img->size = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode)) {
		log_error("image %s: not a regular file or block device", img->path);
		return -1;
	}
	end = lseek(img->fd, 0, SEEK_END);
	if (end < 0) {
		log_error("image %s: lseek: %m", img->path);
		return -1;
	}
	img->size = (uint64_t)end;
	return 0;
}

static int
image_open_qcow2(struct image *img, const char *tpath, const char *bitmap)
{
	char *argv[10];
	size_t n = 0;
	int64_t size;
	int sock = -1;

	img->nbd = nbd_dl_create(img->path);
	if (!img->nbd)
		return -1; /* logged */
	if (sym_nbd_add_meta_context(img->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) {
		log_error("image %s: nbd_add_meta_context: %s", img->path,
			  nbd_dl_error());
		return -1;
	}
	if (bitmap) {
		if (asprintf(&img->bitmap_ctx, IMAGE_DIRTY_PREFIX "%s", bitmap) < 0) {
			img->bitmap_ctx = NULL;
			log_error("image %s: out of memory", img->path);
			return -1;
		}
		if (sym_nbd_add_meta_context(img->nbd, img->bitmap_ctx) < 0) {
			log_error("image %s: nbd_add_meta_context %s: %s", img->path,
				  img->bitmap_ctx, nbd_dl_error());
			return -1;
		}
	}
	argv[n++] = (char *)"qemu-nbd";
	argv[n++] = (char *)"-r";
	argv[n++] = (char *)"-f";
	argv[n++] = (char *)"qcow2";
	if (bitmap) {
		argv[n++] = (char *)"-B";
		argv[n++] = (char *)bitmap;
	}
	argv[n++] = (char *)tpath;
	argv[n] = NULL;
	img->nbd_child = child_start_activated(img->path, argv, &sock);
	if (!img->nbd_child)
		return -1;
	if (sym_nbd_connect_socket(img->nbd, sock) < 0) {
		log_error("image %s: qemu-nbd%s%s: %s", img->path,
			  bitmap ? " -B " : "", bitmap ? bitmap : "", nbd_dl_error());
		return -1;
	}
	if (sym_nbd_can_meta_context(img->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1 ||
	    (bitmap && sym_nbd_can_meta_context(img->nbd, img->bitmap_ctx) != 1)) {
		log_error("image %s: qemu-nbd did not offer block status%s%s",
			  img->path, bitmap ? " for bitmap " : "",
			  bitmap ? bitmap : "");
		return -1;
	}
	size = sym_nbd_get_size(img->nbd);
	if (size < 0) {
		log_error("image %s: nbd_get_size: %s", img->path, nbd_dl_error());
		return -1;
	}
	img->size = (uint64_t)size;
	return 0;
}

struct image *
image_open_bitmap(const char *path, const char *format, const char *bitmap)
{
	struct image *img = NULL;
	char *tpath = NULL;
	int ok = 0;

	img = calloc(1, sizeof(*img));
	if (!img) {
		log_error("image %s: out of memory", path);
		return NULL;
	}
	img->fd = -1;
	img->path = strdup(path);
	tpath = image_tool_path(path);
	if (!img->path || !tpath) {
		log_error("image %s: out of memory", path);
		goto out;
	}
	/* A vanished file would otherwise surface as an obscure qemu error. */
	if (access(path, R_OK) < 0) {
		log_error("image %s: %m", path);
		goto out;
	}
	if (!format) {
		if (image_probe(path, img->format, sizeof(img->format)) < 0)
			goto out;
	} else if (strcmp(format, "raw") == 0 || strcmp(format, "qcow2") == 0) {
		memcpy(img->format, format, strlen(format) + 1);
	} else {
		log_error("image %s: unsupported format %s", path, format);
		goto out;
	}
	if (strcmp(img->format, "raw") == 0) {
		if (bitmap) {
			log_error("image %s: raw images have no bitmaps", path);
			goto out;
		}
		ok = image_open_raw(img) == 0;
	} else {
		ok = image_open_qcow2(img, tpath, bitmap) == 0;
	}
out:
	free(tpath);
	if (!ok) {
		image_free(img);
		return NULL;
	}
	return img;
}

struct image *
image_open(const char *path, const char *format)
{
	return image_open_bitmap(path, format, NULL);
}

uint64_t
image_size(const struct image *img)
{
	return img->size;
}

const char *
image_format(const struct image *img)
{
	return img->format;
}

int
image_pread(struct image *img, void *buf, size_t len, uint64_t off)
{
	uint64_t end;
	char *p = buf;

	if (__builtin_add_overflow(off, (uint64_t)len, &end) || end > img->size) {
		log_error("image %s: read of %zu bytes at %" PRIu64
			  " beyond size %" PRIu64, img->path, len, off, img->size);
		return -1;
	}
	while (len > 0) {
		size_t n = len;
		if (img->nbd) {
			if (n > IMAGE_NBD_MAX_REQ)
				n = IMAGE_NBD_MAX_REQ;
			if (sym_nbd_pread(img->nbd, p, n, off, 0) < 0) {
				log_error("image %s: read at %" PRIu64 ": %s",
					  img->path, off, nbd_dl_error());
				return -1;
			}
		} else {
			ssize_t r = pread(img->fd, p, n, (off_t)off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				log_error("image %s: read at %" PRIu64 ": %m",
					  img->path, off);
				return -1;
			}
			if (r == 0) {
				log_error("image %s: unexpected end of file at %" PRIu64,
					  img->path, off);
				return -1;
			}
			n = (size_t)r;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

void
image_free(struct image *img)
{
	if (!img)
		return;
	if (img->nbd) {
		sym_nbd_shutdown(img->nbd, 0);
		sym_nbd_close(img->nbd);
	}
	/* Closing the handle closed its socket: qemu-nbd exits and lets go
	 * of the image (the file source changes it with qemu-img next). */
	(void)child_finish(img->nbd_child, IMAGE_CHILD_EXIT_MS);
	if (img->fd >= 0)
		close(img->fd);
	free(img->bitmap_ctx);
	free(img->path);
	free(img);
}

/* ---- block status ------------------------------------------------------ */

static int64_t
image_extents_nbd(struct image *img, uint64_t off, uint64_t len,
		  image_extent_cb cb, void *opaque)
{
	char what[320];

	snprintf(what, sizeof(what), "image %s", img->path);
	return nbdstatus_walk(img->nbd, img->bitmap_ctx, off, len, cb, opaque, what);
}

static int64_t
image_extents_raw(struct image *img, uint64_t off, uint64_t len,
		  image_extent_cb cb, void *opaque)
{
	uint64_t end = off + len, next;
	off_t d, h;
	unsigned flags;

	d = lseek(img->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno == ENXIO) {
		/* No data from off on: a trailing hole, or the file shrank
		 * since it was opened (then it must not read as zeros). */
		off_t eof = lseek(img->fd, 0, SEEK_END);

		if (eof >= 0 && (uint64_t)eof < img->size && (uint64_t)eof < end) {
			log_error("image %s: shrank to %lld bytes while in use (was %llu)",
				  img->path, (long long)eof, (unsigned long long)img->size);
			errno = EIO;
			return -1;
		}
		next = end;
		flags = IMAGE_EXT_HOLE | IMAGE_EXT_ZERO;
	} else if (d < 0) {
		/* No hole support (EINVAL) or a block device: all data. */
		next = end;
		flags = 0;
	} else if ((uint64_t)d > off) {
		next = (uint64_t)d < end ? (uint64_t)d : end;
		flags = IMAGE_EXT_HOLE | IMAGE_EXT_ZERO;
	} else {
		h = lseek(img->fd, (off_t)off, SEEK_HOLE);
		next = (h < 0 || (uint64_t)h > end) ? end : (uint64_t)h;
		if (next <= off)
			next = end;
		flags = 0;
	}
	if (cb(opaque, off, next - off, flags) < 0)
		return -1;
	return (int64_t)(next - off);
}

int64_t
image_extents(struct image *img, uint64_t off, uint64_t len,
	      image_extent_cb cb, void *opaque)
{
	if (off >= img->size || len == 0) {
		log_error("image %s: block status at %" PRIu64 " outside the image",
			  img->path, off);
		return -1;
	}
	if (len > img->size - off)
		len = img->size - off;
	if (len > IMAGE_STATUS_WINDOW)
		len = IMAGE_STATUS_WINDOW;
	if (img->nbd)
		return image_extents_nbd(img, off, len, cb, opaque);
	return image_extents_raw(img, off, len, cb, opaque);
}
