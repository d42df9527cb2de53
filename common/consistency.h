/* A point's consistency level: its names (in the point metadata, the
 * receiver's catalog, every listing) and the rule that a group is as
 * consistent as its weakest disk. Pure; no allocation. */
#ifndef NESTOR_COMMON_CONSISTENCY_H
#define NESTOR_COMMON_CONSISTENCY_H

#include <stddef.h>

/* Ordered weakest first, so the level of several parts is their minimum. */
enum consistency {
	CONS_UNKNOWN = 0, /* not recorded (a point from before levels existed) */
	CONS_NOT_PIT = 1, /* read while it was written: matches no single instant */
	CONS_CRASH = 2,   /* one real instant, as after a power cut */
	CONS_APP = 3,     /* one instant with nothing in flight (frozen, shut down) */
};

/* Longest name plus its NUL ("not-point-in-time"). */
#define CONSISTENCY_NAME_MAX 18

/* "unknown", "not-point-in-time", "crash-consistent", "app-consistent";
 * static storage. Out-of-range values are "unknown". */
const char *consistency_name(int level);
/* The level a name (len bytes, not NUL-terminated necessarily) stands for;
 * anything else is CONS_UNKNOWN. */
int consistency_parse(const char *name, size_t len);
/* The weaker of a and b. */
int consistency_weakest(int a, int b);

#endif
