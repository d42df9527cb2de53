/* A console screenshot made PNG: what libvirt's screenshot stream carries
 * (PPM from QEMU's screendump, or PNG) checked, bounded and written anew
 * with libpng, so the report inlines one well-formed image format. */
#ifndef NESTOR_FAILOVER_SHOTPNG_H
#define NESTOR_FAILOVER_SHOTPNG_H

#include <stddef.h>

/* Bounds of a screenshot: a 4K screen fits; the input is what libvirt's
 * stream may carry (a 16-bit PPM of the largest image, with its header). */
#define SHOTPNG_MAX_DIM    8192u
#define SHOTPNG_MAX_PIXELS (8u << 20)
#define SHOTPNG_MAX_INPUT  (64u << 20)

/* Convert len bytes of an image of MIME type mime ("image/x-portable-
 * pixmap" or "image/png"; NULL: told by its first bytes) to a new PNG in
 * *png (malloc'd, caller frees), *png_len bytes, its size in *w x *h
 * (either may be NULL). Images larger than the bounds above, malformed
 * input and other formats are refused. 0, or -1 with the reason in
 * why[whylen] (nothing logged: the caller names the VM). */
int shotpng_convert(const char *mime, const void *data, size_t len, void **png,
		    size_t *png_len, unsigned *w, unsigned *h, char *why, size_t whylen);

#endif
