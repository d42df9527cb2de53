/* `nestor failback finish` (finish.h): the order is chosen so that a kill
 * at any moment is continued by the next run. cutover.json says where the
 * on-prem side stands; the receiver answers a REVERSE_FINISH with F at once
 * once F is made (the failover marker records it), so every round is safe
 * to ask again; the release is asked last and answered again once done. */
#include "failback/finish.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "failback/cutover-run.h"
#include "failback/cutover.h"
#include "failback/newdisks.h"
#include "failback/ondomains.h"
#include "failback/start.h"
#include "failback/target.h"
#include "replicator/receiver/store.h"

/* Before the first REVERSE_FINISH: a reverse point is in the target (the
 * finish sends only the last changes), then requested. 0 / -1 (logged). */
static int
finish_request(const struct agent_config *cfg, const char *group, const char *gdir,
	       const struct cutover *c)
{
	struct cutover next = { .state = CUTOVER_REQUESTED };
	struct store *st = NULL;
	uint64_t last = 0;
	int rc = -1;

	if (c->state == CUTOVER_REQUESTED)
		return 0;
	if (!(st = failback_target_open(cfg, group)) || store_last_point(st, group, &last) < 0)
		goto out;
	if (last == 0) {
		log_error("failback: group %s: no reverse point in the target yet: run nestor "
			  "failback start %s first", group, group);
		goto out;
	}
	rc = cutover_advance(gdir, &next);
out:
	store_free(st);
	return rc;
}

/* The receiver's F: shut down, final point and promotion on its side (or
 * F at once when made). 0 / -1 (logged). */
static int
finish_f(const struct agent_config *cfg, const struct failback_finish_opts *o,
	 const struct cutover *c, struct failback_done *d)
{
	struct failback_opts fo = { .group = o->group, .finish = true,
				    .shutdown_s = o->shutdown_s, .done = d,
				    .no_point = c->state >= CUTOVER_SYNCED };

	if (failback_finish_round(cfg, &fo) < 0)
		return -1;
	if (d->reverse_point)
		log_info("failback: group %s: final reverse point %" PRIu64 " committed on-prem",
			 o->group, d->reverse_point);
	log_info("failback: group %s: point %" PRIu64 " (base %" PRIu64 ") holds the cloud "
		 "VMs' final disks", o->group, d->point, d->base);
	return 0;
}

/* The release of F on the DR side, asked again until it is answered. */
static int
finish_release(const struct agent_config *cfg, const char *group, uint64_t f,
	       struct failback_done *d)
{
	struct failback_opts fo = { .group = group, .finish = true, .release = f, .done = d };

	if (failback_finish_round(cfg, &fo) < 0) {
		log_error("failback: group %s: the on-prem side is cut over at point %" PRIu64
			  " but the DR side did not release its failover: run failback finish "
			  "again", group, f);
		return -1;
	}
	return 0;
}

int
failback_finish(const struct agent_config *cfg, const struct failback_finish_opts *o,
		json_t **report)
{
	const struct agent_group_cfg *g = failback_group_of(cfg, o->group);
	struct failback_done d = { 0 }, rel = { 0 };
	char *root = NULL, *gdir = NULL;
	struct cutover c;
	json_t *rep = NULL, *ver = NULL, *vms;
	const char *summary;
	const char *found;
	int rc = -1;

	*report = NULL;
	root = g ? failback_root(cfg) : NULL;
	gdir = root ? strfmt("%s/%s", root, o->group) : NULL;
	/* New disks: the configuration names them before anything is asked. */
	if (!gdir || failback_newdisks_configured(g, gdir) < 0 || cutover_load(gdir, &c) < 0)
		goto out;
	found = cutover_state_name(c.state);
	/* Before the cloud VMs are shut down for it: the cutover would refuse. */
	if (c.state < CUTOVER_COMMITTED && ondomains_off(g, "failback finish") < 0)
		goto out;
	if (c.state < CUTOVER_RELEASED) {
		if ((c.state <= CUTOVER_REQUESTED && finish_request(cfg, o->group, gdir, &c) < 0) ||
		    finish_f(cfg, o, &c, &d) < 0)
			goto out;
		/* F is made and answered, nothing on-prem changed yet. */
		testhook_at("failback-finish-f");
		if (failback_cutover_run(cfg, o->group, d.point, &o->on) < 0 || cutover_load(gdir, &c) < 0)
			goto out;
	}
	if (finish_release(cfg, o->group, c.forward_point, &rel) < 0)
		goto out;
	ver = ondomains_report(gdir);
	vms = json_object_get(ver, "vms");
	vms = json_is_array(vms) ? json_incref(vms) : json_array();
	summary = json_string_value(json_object_get(ver, "summary"));
	rep = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:b}", "group", o->group,
			"resumed_from", found, "reverse_point", (json_int_t)c.reverse_point,
			"point", (json_int_t)rel.point, "base", (json_int_t)rel.base, "bytes",
			(json_int_t)rel.bytes, "domains", summary ? summary : "unknown", "vms",
			vms, "released", rel.released);
	if (!rep) {
		log_error("failback: group %s: out of memory", o->group);
		goto out;
	}
	log_info("failback: group %s: finished: on-prem at point %" PRIu64 ", failover released, "
		 "forward replication continues from it", o->group, rel.point);
	*report = rep;
	rc = 0;
out:
	json_decref(ver);
	free(gdir);
	free(root);
	return rc;
}
