/* Change markers of an image file or block device: taken before a read and
 * after it, they tell whether anybody wrote it meanwhile (a torn read). */
#ifndef NESTOR_SNAPSHOT_FILEMARKS_H
#define NESTOR_SNAPSHOT_FILEMARKS_H

#include <stdbool.h>
#include <stdint.h>

/* Plain data. Files: identity, size and the kernel's timestamps. Block
 * devices also the sectors written and discarded of
 * /sys/dev/block/MAJ:MIN/stat (writes that reached the device;
 * filemarks_take flushes the device's cache so buffered writes are counted
 * too). Not the I/O counts: a flush counts as a write I/O of no sector. */
struct filemarks {
	uint64_t dev, ino, rdev, size, mtime_ns, ctime_ns;
	bool blk;
	uint64_t wr_sectors, discard_sectors; /* block devices */
};

/* Marks of path now. settle: the "before" marks; when the file's last
 * change falls in the current tick of the coarse clock the kernel stamps
 * with, wait for the next tick (a few ms, bounded) so that a write right
 * after this call moves the timestamps. 0 / -1 (logged, with what). */
int filemarks_take(const char *path, bool settle, struct filemarks *m, const char *what);

/* Whether b shows no change since a. */
bool filemarks_same(const struct filemarks *a, const struct filemarks *b);

/* Parses the text of a /sys/dev/block/.../stat file: the sectors written
 * and discarded (0 on kernels without discard fields). 0, or -1 if it has
 * fewer than the 11 classic fields. */
int filemarks_parse_blkstat(const char *text, uint64_t *wr_sectors, uint64_t *discard_sectors);

#endif
