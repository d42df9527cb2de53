/* The local store's chain layout (issue 17, "Many points stay cheap"): which
 * point a point's qcow2 file backs on once it is settled, and which backing
 * each child of a removed point takes. Pure: ids in, ids out. The layout
 * itself, the files' headers, is store-chain.h's. */
#ifndef NESTOR_RECEIVER_CHAIN_H
#define NESTOR_RECEIVER_CHAIN_H

#include <stddef.h>
#include <stdint.h>

/* Points newer than the newest this many stay as their commit wrote them
 * (over their logical base): docs/architecture.md, "Chain layout". */
#define CHAIN_SETTLE_LAG 8
/* A physical chain longer than this is refused (a loop, a damaged header):
 * the layout keeps chains near popcount(id) deep, at most 64 + lag. */
#define CHAIN_MAX_DEPTH 256

/* The skip ancestor of point id: id with its lowest set bit cleared (0 for
 * a power of two: no point, the chain's bottom then). */
uint64_t chain_skip_target(uint64_t id);

/* popcount(id): the depth a settled point id has at most when the group's
 * ids are consecutive (the files under it, its own excluded). */
unsigned chain_depth_bound(uint64_t id);

/* chain: the physical chain a new point id is committed over, its logical
 * base first, then that file's backing point, and so on down to the
 * chain's bottom (n >= 1, ids decreasing). The index of the point id is to
 * back on: the first whose id <= chain_skip_target(id), else the bottom
 * (n - 1). */
size_t chain_pick(uint64_t id, const uint64_t *chain, size_t n);

/* A removed point's children (the points whose files back on it, ids
 * increasing, n >= 1) and its own backing (0: none, the chain's bottom):
 * out[i] is child i's new backing. With a backing, every child takes it;
 * at the bottom the oldest child becomes the bottom (0) and the others
 * back on it, so that one file, not every child, absorbs the whole disk. */
void chain_adopt(uint64_t victim_backing, const uint64_t *children, size_t n, uint64_t *out);

#endif
