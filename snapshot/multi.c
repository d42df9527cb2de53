/* A group snapshot made of several sources' snapshots (e.g. the file disks
 * and the RBD disks of one VM): disks are concatenated in part order; the
 * whole is incremental or resumable only if every part is. */
#include "snapshot/multi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct multi_snapshot {
	struct snapshot base; /* first: the generic code casts */
	size_t nparts;
	struct snapshot **parts;
	/* per disk of the whole: which part and which disk of it */
	size_t part_of[SNAP_MAX_DISKS];
	size_t disk_of[SNAP_MAX_DISKS];
};

static const struct snapshot_ops multi_ops;

static int
multi_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
		  struct snap_extent *ext)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;

	return snapshot_next_extent(m->parts[m->part_of[disk]], m->disk_of[disk], max_len, ext);
}

static int
multi_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf, size_t len)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;

	return snapshot_read(m->parts[m->part_of[disk]], m->disk_of[disk], offset, buf, len);
}

static int
multi_commit(struct snapshot *snap, uint64_t point_id)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;
	int ret = 0;

	/* Every part must learn the new base even if one fails: a part that
	 * failed falls back to a full copy next time, the others stay cheap. */
	for (size_t i = 0; i < m->nparts; i++)
		if (snapshot_commit(m->parts[i], point_id) < 0)
			ret = -1;
	return ret;
}

static int
multi_consistency(struct snapshot *snap, size_t disk)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;

	return snapshot_disk_consistency(m->parts[m->part_of[disk]], m->disk_of[disk]);
}

static void
multi_reads_done(struct snapshot *snap, uint64_t point_id)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;

	for (size_t i = 0; i < m->nparts; i++)
		snapshot_reads_done(m->parts[i], point_id);
}

static void
multi_free(struct snapshot *snap)
{
	struct multi_snapshot *m = (struct multi_snapshot *)snap;

	for (size_t i = 0; i < m->nparts; i++)
		snapshot_free(m->parts[i]);
	free(m->parts);
	free(m);
}

static const struct snapshot_ops multi_ops = {
	.name = "multi", .next_extent = multi_next_extent, .read = multi_read,
	.commit = multi_commit, .free = multi_free, .consistency = multi_consistency,
	.reads_done = multi_reads_done,
};

struct snapshot *
snapshot_multi(struct snapshot **parts, size_t nparts)
{
	struct multi_snapshot *m = NULL;
	size_t total = 0;

	if (nparts == 1)
		return parts[0];
	m = calloc(1, sizeof(*m));
	if (m)
		m->parts = calloc(nparts, sizeof(*m->parts));
	if (!m || !m->parts) {
		log_error("snapshot: out of memory");
		goto fail;
	}
	m->base.ops = &multi_ops;
	m->base.incremental = 1;
	m->base.resumable = 1;
	for (size_t i = 0; i < nparts; i++) {
		size_t n = snapshot_ndisks(parts[i]);

		if (total + n > SNAP_MAX_DISKS) {
			log_error("snapshot: more than %d disks in one group", SNAP_MAX_DISKS);
			goto fail;
		}
		for (size_t d = 0; d < n; d++) {
			for (size_t e = 0; e < total; e++) {
				if (strcmp(m->base.disks[e].name, snapshot_disk_name(parts[i], d)) == 0) {
					log_error("snapshot: disk %s appears twice in the group",
						  m->base.disks[e].name);
					goto fail;
				}
			}
			snprintf(m->base.disks[total].name, sizeof(m->base.disks[total].name), "%s",
				 snapshot_disk_name(parts[i], d));
			m->base.disks[total].size = snapshot_disk_size(parts[i], d);
			m->part_of[total] = i;
			m->disk_of[total] = d;
			total++;
		}
		if (snapshot_is_incremental(parts[i]) != snapshot_is_incremental(parts[0])) {
			log_error("snapshot: some disks of the group are incremental, others need a full copy");
			goto fail;
		}
		m->base.incremental &= snapshot_is_incremental(parts[i]);
		m->base.resumable &= snapshot_resumable(parts[i]);
		if (i == 0 || snapshot_time_ns(parts[i]) < m->base.time_ns)
			m->base.time_ns = snapshot_time_ns(parts[i]);
	}
	m->base.ndisks = total;
	memcpy(m->parts, parts, nparts * sizeof(*parts));
	m->nparts = nparts;
	return &m->base;
fail:
	for (size_t i = 0; i < nparts; i++)
		snapshot_free(parts[i]);
	if (m)
		free(m->parts);
	free(m);
	return NULL;
}

const struct snapshot *
snapshot_part(const struct snapshot *snap, const char *source_name)
{
	const struct multi_snapshot *m = (const struct multi_snapshot *)snap;

	if (!snap)
		return NULL;
	if (strcmp(snap->ops->name, source_name) == 0)
		return snap;
	if (snap->ops != &multi_ops)
		return NULL;
	for (size_t i = 0; i < m->nparts; i++)
		if (strcmp(m->parts[i]->ops->name, source_name) == 0)
			return m->parts[i];
	return NULL;
}
