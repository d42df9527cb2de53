/* Read-only access to a disk image file (raw through pread, qcow2 through a
 * private qemu-nbd + libnbd), plus the qemu-img runner the file source uses. */
#ifndef NESTOR_SNAPSHOT_IMAGE_H
#define NESTOR_SNAPSHOT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct image;

/* Open path read-only. format: "qcow2", "raw" or NULL (probe with
 * `qemu-img info`). Returns NULL on error (logged). */
struct image *image_open(const char *path, const char *format);
/* Same, exporting the qcow2 persistent dirty bitmap `bitmap` so that
 * image_extents() can report it (qcow2 only; bitmap NULL = none). */
struct image *image_open_bitmap(const char *path, const char *format,
				const char *bitmap);
uint64_t image_size(const struct image *img);
/* "qcow2" or "raw"; owned by img. */
const char *image_format(const struct image *img);
/* Read exactly len bytes at off (must lie inside the image). 0 / -1.
 * Thread-safe. */
int image_pread(struct image *img, void *buf, size_t len, uint64_t off);
void image_free(struct image *img);

/* Flags of an image_extents() range. */
#define IMAGE_EXT_HOLE  1u /* unallocated, reads as zeros */
#define IMAGE_EXT_ZERO  2u /* reads as zeros */
#define IMAGE_EXT_DIRTY 4u /* set in the exported bitmap (if any) */

/* Allocation (and dirty-bitmap) status from off onwards, for at most len
 * bytes: calls cb for consecutive ranges starting at off, in order. The
 * ranges may stop short of off+len (callers loop); they never go past it.
 * Returns the number of bytes described (> 0) or -1 on error.
 * Raw images report data/hole via SEEK_DATA/SEEK_HOLE and never DIRTY. */
typedef int (*image_extent_cb)(void *opaque, uint64_t off, uint64_t len,
			       unsigned flags);
int64_t image_extents(struct image *img, uint64_t off, uint64_t len,
		      image_extent_cb cb, void *opaque);

/* Run qemu-img with args (NULL-terminated, without argv[0]), no shell.
 * On success returns 0 and, if out != NULL, its stdout as a malloc'd
 * NUL-terminated string (caller frees). On failure (spawn error or non-zero
 * exit) logs the command and qemu-img's stderr, returns -1. */
int image_qemu_img(const char *const *args, char **out);

/* Path as given to qemu tools: relative paths get a "./" prefix so that a
 * name with ':' or a leading '-' is never parsed as a protocol or option.
 * malloc'd; NULL on allocation failure. */
char *image_tool_path(const char *path);

#endif
