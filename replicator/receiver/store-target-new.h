/* The new disks of a target (store-target.h, a failback to new disks):
 * made empty by the first point's begin, each under a record kept in the
 * target's group directory before the image exists, so that an abort
 * removes exactly the images the target made (store_target_unmake). */
#ifndef NESTOR_RECEIVER_STORE_TARGET_NEW_H
#define NESTOR_RECEIVER_STORE_TARGET_NEW_H

#include <stdint.h>

/* Make disk `name`'s new disk at path (format "raw" or "qcow2") an empty
 * image of size bytes (raw: sparse), recorded in gdir/made-<name>.json:
 * the record first (durably), then the image under a hidden name beside
 * path (.<base>.nestor-new), its device and inode recorded, then renamed
 * to path (never over a file that appeared there since; over the empty
 * file the operator gave, which the abort puts back). The image the
 * record names found at path is taken as it is (a later begin); any
 * other non-empty file there is refused. 0 / -1 (logged with ctx). */
int store_target_make(const char *gdir, const char *name, const char *path,
		      const char *format, uint64_t size, const char *ctx);

#endif
