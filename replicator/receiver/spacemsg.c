/* The "store is full" message (spacemsg.h): free space from statvfs, the
 * point's remaining bytes from its durable progress in the catalog. */
#include "replicator/receiver/spacemsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

#define MIB (1024u * 1024u)

uint64_t
spacemsg_needed_mib(const uint64_t *size, const uint64_t *durable, const bool *done, size_t n)
{
	uint64_t mib = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t left = done[i] || durable[i] >= size[i] ? 0 : size[i] - durable[i];

		/* Sizes are bounded by STORE_MAX_DISK_SIZE: no overflow. */
		mib += (left + MIB - 1) / MIB;
	}
	return mib;
}

const char *
spacemsg_full(const struct receiver_config *cfg, struct store *st, const char *group, int e,
	      const uint64_t *size, size_t n, char *buf, size_t cap)
{
	uint64_t durable[STORE_MAX_DISKS] = { 0 };
	bool done[STORE_MAX_DISKS] = { false };
	struct store_progress *sp;
	struct statvfs vfs;
	uint64_t need;

	if (e != ENOSPC)
		return "";
	if (n > STORE_MAX_DISKS)
		n = STORE_MAX_DISKS;
	/* The durable offsets of the pending point; without them (catalog
	 * unreadable) every disk counts whole, which is still an upper bound. */
	sp = malloc(sizeof(*sp));
	if (sp && store_progress(st, group, sp) == 0 && sp->ndisks == n) {
		for (size_t i = 0; i < n; i++) {
			durable[i] = sp->disks[i].durable_offset;
			done[i] = sp->disks[i].done;
		}
	}
	free(sp);
	/* Every disk done: what is left is the commit's metadata and catalog,
	 * a few KiB; still at least 1 MiB to be of use. */
	need = spacemsg_needed_mib(size, durable, done, n);
	if (need == 0)
		need = 1;
	if (cfg->store_ceph) {
		snprintf(buf, cap, ": the replica store is full: Ceph pool %s is out of space, "
			 "this point needs at least %" PRIu64 " MiB more (disk sizes minus durable "
			 "progress)", cfg->ceph_pool ? cfg->ceph_pool : "?", need);
	} else if (statvfs(cfg->store_dir, &vfs) == 0) {
		snprintf(buf, cap, ": the replica store is full: %s has %" PRIu64 " MiB free, this "
			 "point needs at least %" PRIu64 " MiB more (disk sizes minus durable "
			 "progress)", cfg->store_dir,
			 (uint64_t)vfs.f_bavail * vfs.f_frsize / MIB, need);
	} else {
		snprintf(buf, cap, ": the replica store is full: %s (free space unknown: %s), this "
			 "point needs at least %" PRIu64 " MiB more (disk sizes minus durable "
			 "progress)", cfg->store_dir, strerror(errno), need);
	}
	log_error("group %s%s", group, buf);
	return buf;
}
