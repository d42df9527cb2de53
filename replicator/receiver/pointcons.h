/* The consistency level an agent claims for a point, read from the point's
 * metadata blob (peer input: bounded, and anything but the three known
 * names is "unknown"; the point is committed either way). */
#ifndef NESTOR_RECEIVER_POINTCONS_H
#define NESTOR_RECEIVER_POINTCONS_H

#include <stddef.h>

/* enum consistency (common/consistency.h) of meta's "consistency" member;
 * CONS_UNKNOWN when meta is not a JSON object or the value is absent,
 * not a string or not a known name. Pure. */
int pointcons_from_meta(const void *meta, size_t len);

#endif
