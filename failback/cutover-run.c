/* The on-prem cutover from its recorded state to released
 * (cutover-run.h). */
#include "failback/cutover-run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "failback/cutover-commit.h"
#include "failback/cutover.h"
#include "failback/newdisks.h"
#include "failback/reprotect.h"
#include "failback/target.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

/* committed -> verified: the on-prem domains started (paused, tracking,
 * resumed) and checked. A group of image files has no domain here. */
static int
start_and_verify(const struct agent_group_cfg *g, const char *gdir, struct cutover *c)
{
	if (c->state != CUTOVER_COMMITTED)
		return 0;
	log_info("failback: group %s: its disks are image files: no on-prem domain to start "
		 "or check", g->name);
	c->state = CUTOVER_VERIFIED;
	return cutover_advance(gdir, c);
}

/* verified -> released: the sources committed at f. */
static int
release(const struct agent_config *cfg, const struct agent_group_cfg *g, const char *gdir,
	struct cutover *c, uint64_t f)
{
	if (c->state == CUTOVER_RELEASED) {
		if (c->forward_point == f)
			return 0;
		log_error("failback: group %s: released at point %" PRIu64 " already, not %" PRIu64,
			  g->name, c->forward_point, f);
		return -1;
	}
	if (failback_sources_at(g, cfg->state_dir, f) < 0)
		return -1;
	c->state = CUTOVER_RELEASED;
	c->forward_point = f;
	return cutover_advance(gdir, c);
}

int
failback_cutover_run(const struct agent_config *cfg, const char *group, uint64_t f)
{
	const struct agent_group_cfg *g = failback_group_of(cfg, group);
	struct failback_disks disks = { 0 };
	char *root = NULL, *gdir = NULL;
	struct store *st = NULL;
	struct cutover c;
	uint64_t rp;
	int rc = -1;

	if (f == 0)
		log_error("failback: group %s: the cutover needs the receiver's point F", group);
	if (!g || f == 0)
		goto out;
	root = failback_root(cfg);
	gdir = root ? strfmt("%s/%s", root, group) : NULL;
	if (!gdir || failback_newdisks_configured(g, gdir) < 0 || cutover_load(gdir, &c) < 0 ||
	    failback_disks_of(g, &disks) < 0 ||
	    !(st = failback_target_open(cfg, group)))
		goto out;
	if (c.state <= CUTOVER_SYNCED && cutover_synced(st, gdir, group, &rp) < 0)
		goto out;
	if (cutover_commit(st, gdir, group, &disks) < 0 || cutover_load(gdir, &c) < 0 ||
	    start_and_verify(g, gdir, &c) < 0 || release(cfg, g, gdir, &c, f) < 0)
		goto out;
	log_info("failback: group %s: cut over to reverse point %" PRIu64 ", re-protected from "
		 "point %" PRIu64, group, c.reverse_point, f);
	rc = 0;
out:
	store_free(st);
	failback_disks_clear(&disks);
	free(gdir);
	free(root);
	return rc;
}

int
failback_abort(const struct agent_config *cfg, const char *group)
{
	char *root = failback_group_of(cfg, group) ? failback_root(cfg) : NULL;
	int rc = root ? cutover_abort(root, group) : -1;

	free(root);
	return rc;
}
