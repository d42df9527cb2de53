/* Read-only image-file source (replicator/agent/readonly.h): the generic
 * snapshot code checks ranges; reads go straight to the image. */
#include "replicator/agent/readonly.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "snapshot/image.h"
#include "snapshot/source.h"

struct readonly {
	struct snapshot snap; /* first: the generic code's view */
	struct image *img;
};

static int
readonly_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		     struct snap_extent *ext)
{
	(void)snap;
	(void)disk;
	(void)max_len;
	(void)ext;
	return 0; /* no base to differ from */
}

static int
readonly_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf, size_t len)
{
	struct readonly *ro = (struct readonly *)snap;

	(void)disk;
	return image_pread(ro->img, buf, len, offset);
}

static int
readonly_commit(struct snapshot *snap, uint64_t point_id)
{
	(void)point_id;
	log_error("disk %s: a read-only source has no base to commit", snap->disks[0].name);
	return -1;
}

static void
readonly_free(struct snapshot *snap)
{
	/* snap is the first member of struct readonly. */
	image_free(((struct readonly *)snap)->img);
	free(snap);
}

static const struct snapshot_ops readonly_ops = {
	.name = "readonly", .next_extent = readonly_next_extent, .read = readonly_read,
	.commit = readonly_commit, .free = readonly_free,
};

struct snapshot *
readonly_file_open(const char *name, const char *path, const char *format)
{
	struct image *img = image_open(path, format);
	struct readonly *ro;

	if (!img)
		return NULL;
	ro = calloc(1, sizeof(*ro));
	if (!ro) {
		log_error("disk %s: out of memory", name);
		image_free(img);
		return NULL;
	}
	ro->img = img;
	ro->snap.ops = &readonly_ops;
	ro->snap.ndisks = 1;
	snprintf(ro->snap.disks[0].name, sizeof(ro->snap.disks[0].name), "%s", name);
	ro->snap.disks[0].size = image_size(img);
	return &ro->snap;
}
