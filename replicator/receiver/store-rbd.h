/* Ceph half of the replica store (store backend "ceph"): each replicated disk
 * is one RBD image "<group>+<disk>" in the store's pool; a point being
 * received is written into the image's head, and a committed point is the
 * snapshot "p<id>" taken after every extent was flushed. Internal to the
 * store; store.c keeps the catalog and decides what is committed. */
#ifndef NESTOR_RECEIVER_STORE_RBD_H
#define NESTOR_RECEIVER_STORE_RBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srbd;     /* rados connection + pool I/O context */
struct srbd_img; /* an open image: the writable head or a read-only snapshot */

/* Image and snapshot names ('+' is outside the group/disk name alphabet,
 * so "<group>+<disk>" is unambiguous). 0 / -1 (too long). */
#define SRBD_NAME_MAX 160
int srbd_image_name(char out[SRBD_NAME_MAX], const char *group, const char *disk);
void srbd_snap_name(char out[32], uint64_t point);

/* Connect to the cluster (conf NULL = librados' default search, client NULL
 * = "admin") and open pool. NULL on error (logged). */
struct srbd *srbd_connect(const char *conf, const char *client, const char *pool);
void srbd_free(struct srbd *c);

/* Open image's head for a new point of size bytes: created if missing,
 * reset to snapshot base (rolled back only if the head differs from it) or,
 * base NULL, to all zeros; then resized to size. */
struct srbd_img *srbd_prepare(struct srbd *c, const char *image, uint64_t size,
			      const char *base);
/* Open an existing head as it is (resuming a pending point). */
struct srbd_img *srbd_open(struct srbd *c, const char *image);
/* Open snapshot snap of image read-only. */
struct srbd_img *srbd_open_snap(struct srbd *c, const char *image, const char *snap);
void srbd_close(struct srbd_img *im);

/* I/O: 0 / -1 with errno set from librbd (ENOSPC: the cluster is full).
 * Zeroed ranges read back as zeros, also where a snapshot holds data. */
int srbd_write(struct srbd_img *im, uint64_t off, const void *buf, size_t len);
int srbd_zero(struct srbd_img *im, uint64_t off, uint64_t len);
int srbd_read(struct srbd_img *im, uint64_t off, void *buf, size_t len);
int srbd_flush(struct srbd_img *im);
/* Snapshot the head as snap, replacing a leftover of that name. */
int srbd_snap_create(struct srbd_img *im, const char *snap);

/* 1 exists / 0 not / -1 error. */
int srbd_snap_exists(struct srbd *c, const char *image, const char *snap);
/* Remove snapshot (absent is fine). 0 / -1. */
int srbd_snap_remove(struct srbd *c, const char *image, const char *snap);
/* Remove every point snapshot "p<id>" of the group's images for which
 * keep(arg, id) is false. 0 / -1. */
int srbd_prune(struct srbd *c, const char *group, bool (*keep)(void *arg, uint64_t id),
	       void *arg);

/* Copy-on-write clone of image@snap named clone (format 2, clone v2: the
 * snapshot need not be protected). 0 / -1. */
int srbd_clone(struct srbd *c, const char *image, const char *snap, const char *clone);
/* Remove an image (absent is fine). 0 / -1. */
int srbd_remove(struct srbd *c, const char *image);

/* Point id of a snapshot name "p<id>"; 0 when it is not one. */
uint64_t srbd_snap_point(const char *snap);

/* Open image, a clone, read-only at its head (the VM that wrote it is
 * off): its parent's image and snapshot names into parent and psnap (""
 * when it has none, or one in another pool). NULL on error (logged). */
struct srbd_img *srbd_open_clone(struct srbd *c, const char *image, char parent[SRBD_NAME_MAX],
				 char psnap[32]);
/* Size of the open image (head or snapshot). 0 / -1 (logged). */
int srbd_size(struct srbd_img *im, uint64_t *size);
/* fn(arg, off, len) for each extent the open head holds itself, its
 * parent left out (rbd_diff_iterate2 against nothing), offset order,
 * overlaps merged; fn's -1 stops the walk. 0 / -1 (logged, or fn's). */
int srbd_own_extents(struct srbd_img *im, int (*fn)(void *arg, uint64_t off, uint64_t len),
		     void *arg);
/* What the open head is, as a hash: its size, its snapshots (ids and
 * names) and whether it differs from the newest of them. Writing the
 * image changes it, once a snapshot was taken after the write before;
 * a write since its newest snapshot changes it too. 0 / -1 (logged). */
int srbd_print(struct srbd_img *im, uint64_t *out);

#endif
