/* What the receiver says when its store is full (ENOSPC): where, how much is
 * free, and how much more the point being received needs. */
#ifndef NESTOR_RECEIVER_SPACEMSG_H
#define NESTOR_RECEIVER_SPACEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct receiver_config;
struct store;

/* For a store failure with errno e while group's point (disks of size[0..n))
 * is received: when e is ENOSPC, logs and returns ": the replica store is
 * full: DIR has N MiB free, this point needs at least M MiB more (disk sizes
 * minus durable progress)" written into buf; otherwise "". The result is buf
 * or a static "", for appending to an error text. */
const char *spacemsg_full(const struct receiver_config *cfg, struct store *st,
			  const char *group, int e, const uint64_t *size, size_t n, char *buf,
			  size_t cap);

/* The MiB (rounded up) still to store for disks of size[0..n) whose durable
 * offsets are durable[i] (a disk done counts as 0). Pure. */
uint64_t spacemsg_needed_mib(const uint64_t *size, const uint64_t *durable, const bool *done,
			     size_t n);

#endif
