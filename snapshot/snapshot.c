/* Generic side of the change-source interface (snapshot/source.h): argument
 * checks, then dispatch to the source's ops table. */
#include <stddef.h>
#include <string.h>

#include "common/consistency.h"
#include "common/log.h"
#include "common/names.h"
#include "snapshot/source.h"

static int
snapshot_disk_ok(const struct snapshot *snap, size_t disk, const char *what)
{
	if (!snap || disk >= snap->ndisks) {
		log_error("snapshot: %s: no disk %zu", what, disk);
		return 0;
	}
	return 1;
}

/* Listing and reading end with the commit: the source has let go of its
 * images (or failed halfway through doing so). */
static int
snapshot_open_ok(const struct snapshot *snap, size_t disk, const char *what)
{
	if (!snapshot_disk_ok(snap, disk, what))
		return 0;
	if (snap->commit_tried) {
		log_error("snapshot %s: %s after the commit", snap->disks[disk].name, what);
		return 0;
	}
	if (snap->reads_done) {
		log_error("snapshot %s: %s after the reads were done", snap->disks[disk].name, what);
		return 0;
	}
	return 1;
}

size_t
snapshot_ndisks(const struct snapshot *snap)
{
	return snap ? snap->ndisks : 0;
}

const char *
snapshot_disk_name(const struct snapshot *snap, size_t disk)
{
	if (!snapshot_disk_ok(snap, disk, "disk name"))
		return NULL;
	return snap->disks[disk].name;
}

uint64_t
snapshot_disk_size(const struct snapshot *snap, size_t disk)
{
	if (!snapshot_disk_ok(snap, disk, "disk size"))
		return 0;
	return snap->disks[disk].size;
}

int
snapshot_is_incremental(const struct snapshot *snap)
{
	return snap ? snap->incremental : 0;
}

int
snapshot_resumable(const struct snapshot *snap)
{
	return snap ? snap->resumable : 0;
}

uint64_t
snapshot_time_ns(const struct snapshot *snap)
{
	return snap ? snap->time_ns : 0;
}

int
snapshot_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		     struct snap_extent *ext)
{
	int r;

	if (!snapshot_open_ok(snap, disk, "next extent") || !ext)
		return -1;
	if (max_len == 0) {
		log_error("snapshot %s: next extent: max_len is 0",
			  snap->disks[disk].name);
		return -1;
	}
	r = snap->ops->next_extent(snap, disk, max_len, ext);
	if (r == 0)
		snap->disks[disk].listed = 1;
	return r;
}

int
snapshot_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	      size_t len)
{
	uint64_t end;

	if (!snapshot_open_ok(snap, disk, "read") || (!buf && len))
		return -1;
	if (__builtin_add_overflow(offset, (uint64_t)len, &end) ||
	    end > snap->disks[disk].size) {
		log_error("snapshot %s: read of %zu bytes at %llu beyond the disk",
			  snap->disks[disk].name, len, (unsigned long long)offset);
		return -1;
	}
	if (len == 0)
		return 0;
	return snap->ops->read(snap, disk, offset, buf, len);
}

int
snapshot_read_pieces(uint64_t offset, void *buf, size_t len, size_t max,
		     snapshot_piece_fn piece, void *arg)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = piece(arg, offset, p, len < max ? len : max);

		if (r < 0)
			return -1;
		offset += (uint64_t)r;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int
snapshot_commit(struct snapshot *snap, uint64_t point_id)
{
	if (!snap)
		return -1;
	if (point_id == 0) {
		log_error("snapshot: commit: point id 0 is reserved for \"none\"");
		return -1;
	}
	if (snap->commit_tried) {
		log_error("snapshot: already committed (or the commit failed)");
		return -1;
	}
	for (size_t i = 0; i < snap->ndisks; i++)
		if (!snap->disks[i].listed) {
			/* Committing unlisted changes would make them part of
			 * the base without ever sending them. */
			log_error("snapshot %s: commit before all extents were listed",
				  snap->disks[i].name);
			return -1;
		}
	snap->commit_tried = 1;
	return snap->ops->commit(snap, point_id);
}

void
snapshot_reads_done(struct snapshot *snap, uint64_t point_id)
{
	if (!snap || snap->commit_tried || snap->reads_done)
		return;
	for (size_t i = 0; i < snap->ndisks; i++)
		if (!snap->disks[i].listed)
			return; /* the reading is not over */
	snap->reads_done = 1;
	if (snap->ops->reads_done)
		snap->ops->reads_done(snap, point_id);
}

void
snapshot_free(struct snapshot *snap)
{
	if (snap)
		snap->ops->free(snap);
}

int
snapshot_name_disk(struct snapshot *snap, size_t i, const char *name, const char *source)
{
	size_t len = name ? strlen(name) : 0;

	if (!name || !name_valid(name, len) || len >= sizeof(snap->disks[i].name)) {
		log_error("snapshot: %s disk %zu: invalid disk name", source, i);
		return -1;
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(snap->disks[j].name, name) == 0) {
			log_error("snapshot: disk %s: listed twice", name);
			return -1;
		}
	memcpy(snap->disks[i].name, name, len + 1);
	return 0;
}

int
snapshot_disk_consistency(struct snapshot *snap, size_t disk)
{
	int level;

	if (!snapshot_disk_ok(snap, disk, "consistency"))
		return CONS_UNKNOWN;
	level = snap->ops->consistency ? snap->ops->consistency(snap, disk) : snap->consistency;
	if (level == CONS_CRASH && snap->disks[disk].quiesced)
		level = CONS_APP;
	return level;
}

int
snapshot_consistency(struct snapshot *snap)
{
	int level = CONS_APP;

	if (!snap || snap->ndisks == 0)
		return CONS_UNKNOWN;
	/* Every disk is asked, so each torn one gets its own warning. */
	for (size_t i = 0; i < snap->ndisks; i++)
		level = consistency_weakest(level, snapshot_disk_consistency(snap, i));
	return level;
}

void
snapshot_mark_quiesced(struct snapshot *snap, size_t disk)
{
	if (snapshot_disk_ok(snap, disk, "mark quiesced"))
		snap->disks[disk].quiesced = 1;
}
