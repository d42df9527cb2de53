/* A group's sources committed at point F without sending it (reprotect.h):
 * the agent's own sources, begun full, listed, committed. */
#include "failback/reprotect.h"

#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>

#include "common/log.h"
#include "replicator/agent/sources.h"
#include "replicator/config.h"
#include "snapshot/source.h"

/* Every extent of every disk listed (the sources' commit precondition;
 * raw disks hash their blocks while they are listed). */
static int
list_all(struct snapshot *snap, const char *group)
{
	struct snap_extent e;
	uint64_t n = 0;
	int r;

	for (size_t i = 0; i < snapshot_ndisks(snap); i++) {
		while ((r = snapshot_next_extent(snap, i, UINT64_C(1) << 30, &e)) == 1)
			n++;
		if (r < 0) {
			log_error("failback: group %s disk %s: cannot list its extents", group,
				  snapshot_disk_name(snap, i));
			return -1;
		}
	}
	log_debug("failback: group %s: %" PRIu64 " extents listed, none read", group, n);
	return 0;
}

int
failback_sources_at(const struct agent_group_cfg *g, const char *state_dir, uint64_t f)
{
	struct snapshot *snap = NULL;
	json_t *vm_meta = NULL;
	char sdir[4096];
	int rc = -1;

	if ((size_t)snprintf(sdir, sizeof(sdir), "%s/%s", state_dir, g->name) >= sizeof(sdir)) {
		log_error("failback: state directory %s: path too long", state_dir);
		return -1;
	}
	snap = sources_begin(g, sdir, 0, &vm_meta);
	if (!snap || list_all(snap, g->name) < 0)
		goto out;
	(void)snapshot_consistency(snap);
	snapshot_reads_done(snap, f);
	if (snapshot_commit(snap, f) < 0)
		goto out;
	log_info("failback: group %s: change tracking restarted, committed at point %" PRIu64
		 ": the next cycle is an incremental from it", g->name, f);
	rc = 0;
out:
	snapshot_free(snap);
	json_decref(vm_meta);
	return rc;
}
