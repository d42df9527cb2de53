/* What `qemu-img info -U --output=json` says of one disk image: its format,
 * virtual size, backing file and qcow2 bitmaps. One reader for the
 * snapshot sources and the receiver's store. */
#ifndef NESTOR_COMMON_IMGINFO_H
#define NESTOR_COMMON_IMGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A persistent dirty bitmap of a qcow2 image. */
struct imginfo_bitmap {
	char *name;
	bool in_use; /* flag "in-use": QEMU stopped without storing it */
};

/* Plain data; every string and the bitmap array belong to the struct and
 * go with imginfo_free. Optional strings are NULL when qemu-img omits
 * them. */
struct imginfo {
	char *format;               /* "raw", "qcow2"...: always set */
	uint64_t virtual_size;      /* always set */
	char *backing;              /* backing-filename, as written in the image */
	char *backing_full;         /* full-backing-filename (resolved) */
	char *backing_format;       /* backing-filename-format */
	struct imginfo_bitmap *bitmaps; /* format-specific.data.bitmaps */
	size_t nbitmaps;
};

/* Parse qemu-img info's JSON text (one image, no --backing-chain). Pure:
 * no logging. A non-object, a missing or non-string "format", a missing or
 * negative "virtual-size", or a wrongly typed optional key is -1 with the
 * reason in err (errlen bytes, may be 0); otherwise 0 and *out is the
 * caller's (imginfo_free). */
int imginfo_parse(const char *text, struct imginfo **out, char *err, size_t errlen);

/* Run `qemu-img info -U --output=json [-f format] PATH` (format NULL:
 * qemu-img probes it; a relative path is given as ./PATH so it is never
 * read as a protocol) and parse it. Failures are logged once, as "CTX:
 * ..." (ctx may be NULL). The result is the caller's (imginfo_free);
 * NULL on error. */
struct imginfo *imginfo_read(const char *path, const char *format, const char *ctx);

/* The bitmap called name, or NULL. Borrowed from info. */
const struct imginfo_bitmap *imginfo_bitmap(const struct imginfo *info, const char *name);

void imginfo_free(struct imginfo *info);

#endif
