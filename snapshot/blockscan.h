/* Block hashing of a raw image ahead of its reader: a helper thread and the
 * caller share the work chunk by chunk, so a raw incremental's full hash
 * pass uses two cores while results are still consumed in disk order. */
#ifndef NESTOR_SNAPSHOT_BLOCKSCAN_H
#define NESTOR_SNAPSHOT_BLOCKSCAN_H

#include <stdint.h>

struct image;
struct blockscan;

/* Blocks per chunk: the unit of work and of blockscan_wait(). */
#define BLOCKSCAN_CHUNK_BLOCKS 16u

/* Starts hashing `img` (`size` bytes, raw: read with image_pread, holes found
 * with image_extents) in blocks of `block` bytes. hashes[i] receives
 * hash64() of block i (the last block may be short); blocks inside a hole get
 * zero_hash (zero_hash_tail for a short last block) without being read.
 * img, hashes (ceil(size / block) entries) and name are borrowed and must
 * outlive the scan. NULL on error (logged). */
struct blockscan *blockscan_start(struct image *img, uint64_t size, uint32_t block,
				  uint64_t *hashes, uint64_t zero_hash,
				  uint64_t zero_hash_tail, const char *name);

/* Waits until the chunk holding block `first` (a multiple of
 * BLOCKSCAN_CHUNK_BLOCKS) is hashed, hashing other chunks meanwhile. Then
 * hashes[first .. first + *count) are final and bit i of *zero_mask says
 * whether block first + i reads as zeros. 0, or -1 if the chunk could not be
 * read (logged once). */
int blockscan_wait(struct blockscan *s, uint64_t first, uint32_t *count,
		   uint32_t *zero_mask);

/* Stops the helper thread and frees the scan; NULL is a no-op. */
void blockscan_free(struct blockscan *s);

#endif
