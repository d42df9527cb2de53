/* Which AIO engine a local store's qemu-nbd writes O_DIRECT images with:
 * native AIO while the kernel has AIO events to spare, else threads
 * (issue 17: hundreds of points written at once). Internal to store-local. */
#ifndef NESTOR_RECEIVER_STORE_AIO_H
#define NESTOR_RECEIVER_STORE_AIO_H

#include <stdbool.h>

/* "native" or "threads" (static strings). retry: a start of this image
 * just failed, perhaps for want of an AIO context: threads then. */
const char *store_aio_mode(bool retry);

#endif
