/* A committed point written in place for a targeted repair
 * (store-repair.h): the backend's disk calls on the point's own files, the
 * group lock held from open to free. */
#include "replicator/receiver/store-repair.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/store-backend.h"

struct store_repair {
	struct store *st;
	char group[STORE_NAME_MAX + 1];
	struct store_held h;
	struct store_where w;
	struct store_point_info pi;
	struct store_disk disks[STORE_MAX_DISKS];
	bool inited[STORE_MAX_DISKS];
};

const struct store_point_info *
store_repair_point(const struct store_repair *r)
{
	return &r->pi;
}

const char *
store_repair_gdir(const struct store_repair *r)
{
	return r->h.gdir;
}

/* Refuse what cannot be written in place; 0 when the point may be. */
static int
repair_admit(struct store_repair *r, const char *group, uint64_t point, int *err, char *why,
	     size_t cap)
{
	const struct store_point_info *pi;
	uint64_t pinned;

	if (!r->st->be->ops->rewrite_points) {
		snprintf(why, cap, "the %s backend cannot rewrite a committed point (its points "
			 "are snapshots; Ceph's deep scrub repairs its own objects)",
			 r->st->be->ops->name);
		*err = STORE_ERR_CONFLICT;
		return -1;
	}
	if ((pi = catalog_find(&r->h.cat, point)) == NULL) {
		snprintf(why, cap, "point %" PRIu64 " of group %s is not committed", point, group);
		*err = STORE_ERR_NOTFOUND;
		return -1;
	}
	/* A drill or failover boots a chain that reads through this point's
	 * files (the pin of a point holds every older one): no writes under it. */
	pinned = groupstate_pinned_max(store_root(r->st), group);
	if (pinned != 0 && pinned >= point) {
		snprintf(why, cap, "point %" PRIu64 " of group %s is in use by a drill or failover",
			 point, group);
		*err = STORE_ERR_CONFLICT;
		return -1;
	}
	r->pi = *pi;
	return 0;
}

int
store_repair_open(struct store *st, const char *group, uint64_t point,
		  struct store_repair **out, int *err, char *why, size_t cap)
{
	struct store_repair *r = calloc(1, sizeof(*r));
	struct store_backend *be = st->be;
	int rc;

	*out = NULL;
	*err = STORE_ERR_INTERNAL;
	snprintf(why, cap, "internal error");
	if (!r) {
		log_error("store: out of memory");
		return -1;
	}
	r->st = st;
	r->h.lock_fd = -1;
	rc = store_hold(st, group, true, &r->h);
	if (rc != 0) {
		*err = rc == 1 ? STORE_ERR_NOTFOUND : STORE_ERR_CONFLICT;
		snprintf(why, cap, rc == 1 ? "no group %s" : "group %s is busy or unreadable",
			 group);
		goto fail;
	}
	if (repair_admit(r, group, point, err, why, cap) < 0)
		goto fail;
	snprintf(r->group, sizeof(r->group), "%s", group);
	r->w = (struct store_where){ .group = r->group, .gdir = r->h.gdir, .point = point };
	for (size_t i = 0; i < r->pi.ndisks; i++) {
		struct store_disk *d = &r->disks[i];

		snprintf(d->name, sizeof(d->name), "%s", r->pi.disks[i].name);
		d->size = r->pi.disks[i].size;
		r->inited[i] = true; /* what disk_init allocates is freed even if it fails */
		if (be->ops->disk_init(be, &r->w, d) < 0)
			goto io;
		if (be->ops->disk_open(be, &r->w, d) < 0)
			goto io;
	}
	*err = STORE_OK;
	*out = r;
	return 0;
io:
	*err = STORE_ERR_IO;
	snprintf(why, cap, "cannot open point %" PRIu64 " of group %s", point, group);
fail:
	store_repair_free(r);
	return -1;
}

static struct store_disk *
repair_disk(struct store_repair *r, uint16_t disk, uint64_t off, uint64_t len, int *err)
{
	uint64_t end;

	if (disk >= r->pi.ndisks || __builtin_add_overflow(off, len, &end) ||
	    end > r->disks[disk].size) {
		log_error("store: group %s point %" PRIu64 ": repair write %" PRIu64 "+%" PRIu64
			  " of disk %u out of range", r->w.group, r->w.point, off, len, disk);
		*err = STORE_ERR_INVALID;
		return NULL;
	}
	r->disks[disk].started = true;
	return &r->disks[disk];
}

int
store_repair_write(struct store_repair *r, uint16_t disk, uint64_t off, const void *buf,
		   size_t len, int *err)
{
	struct store_backend *be = r->st->be;
	struct store_disk *d = repair_disk(r, disk, off, len, err);

	if (!d)
		return -1;
	if (be->ops->disk_write(be, &r->w, d, off, buf, len) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	return 0;
}

int
store_repair_zero(struct store_repair *r, uint16_t disk, uint64_t off, uint64_t len, int *err)
{
	struct store_backend *be = r->st->be;
	struct store_disk *d = repair_disk(r, disk, off, len, err);

	if (!d)
		return -1;
	if (be->ops->disk_zero(be, &r->w, d, off, len) < 0) {
		*err = STORE_ERR_IO;
		return -1;
	}
	return 0;
}

int
store_repair_seal(struct store_repair *r, int *err)
{
	struct store_backend *be = r->st->be;

	for (size_t i = 0; i < r->pi.ndisks; i++) {
		struct store_disk *d = &r->disks[i];

		if (!d->started)
			continue;
		if (be->ops->disk_flush(be, &r->w, d) < 0 || be->ops->disk_seal(be, &r->w, d) < 0) {
			*err = STORE_ERR_IO;
			return -1;
		}
		d->started = false;
	}
	return 0;
}

void
store_repair_free(struct store_repair *r)
{
	struct store_backend *be;

	if (!r)
		return;
	be = r->st->be;
	for (size_t i = 0; i < STORE_MAX_DISKS; i++) {
		if (!r->inited[i])
			continue;
		if (be->ops->disk_close)
			be->ops->disk_close(be, &r->w, &r->disks[i]);
		be->ops->disk_free(&r->disks[i]);
		free(r->disks[i].path);
	}
	store_release(&r->h);
	free(r);
}
