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
#include "failback/ondomains.h"
#include "failback/target.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

/* verified -> released: nothing left on-prem (the sources were committed
 * at f when the domains started). */
static int
release(const struct agent_group_cfg *g, const char *gdir, struct cutover *c, uint64_t f)
{
	if (c->state == CUTOVER_RELEASED) {
		if (c->forward_point == f)
			return 0;
		log_error("failback: group %s: released at point %" PRIu64 " already, not %" PRIu64,
			  g->name, c->forward_point, f);
		return -1;
	}
	c->state = CUTOVER_RELEASED;
	c->forward_point = f;
	return cutover_advance(gdir, c);
}

/* Up to committed: the domains off, the final reverse point synced and
 * committed into the on-prem disks. */
static int
commit_steps(const struct agent_config *cfg, const struct agent_group_cfg *g,
	     const char *gdir, const struct cutover *c)
{
	struct failback_disks disks = { 0 };
	struct store *st = NULL;
	uint64_t rp;
	int rc = -1;

	if (c->state >= CUTOVER_COMMITTED)
		return 0;
	if (ondomains_off(g, "the cutover") < 0 || failback_disks_of(g, &disks) < 0 ||
	    !(st = failback_target_open(cfg, g->name)))
		goto out;
	if (c->state <= CUTOVER_SYNCED && cutover_synced(st, gdir, g->name, &rp) < 0)
		goto out;
	rc = cutover_commit(st, gdir, g->name, &disks);
out:
	store_free(st);
	failback_disks_clear(&disks);
	return rc;
}

int
failback_cutover_run(const struct agent_config *cfg, const char *group, uint64_t f,
		     const struct ondomains_opts *o)
{
	static const struct ondomains_opts no_start = { .no_start = true };
	const struct agent_group_cfg *g = failback_group_of(cfg, group);
	char *root = NULL, *gdir = NULL;
	struct cutover c;
	int rc = -1;

	if (f == 0)
		log_error("failback: group %s: the cutover needs the receiver's point F", group);
	if (!g || f == 0)
		goto out;
	if (!o)
		o = &no_start;
	root = failback_root(cfg);
	gdir = root ? strfmt("%s/%s", root, group) : NULL;
	if (!gdir || failback_newdisks_configured(g, gdir) < 0 || cutover_load(gdir, &c) < 0 ||
	    commit_steps(cfg, g, gdir, &c) < 0 ||
	    cutover_load(gdir, &c) < 0 || ondomains_start(g, cfg->state_dir, gdir, &c, f, o) < 0 ||
	    ondomains_verify(g, gdir, &c, o) < 0 || release(g, gdir, &c, f) < 0)
		goto out;
	log_info("failback: group %s: cut over to reverse point %" PRIu64 ", re-protected from "
		 "point %" PRIu64, group, c.reverse_point, f);
	rc = 0;
out:
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
