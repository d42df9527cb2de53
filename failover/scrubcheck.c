/* Refusing to boot a point that failed its scrub (scrubcheck.h). */
#include "failover/scrubcheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "failover/report.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"

int
scrubcheck_point(struct store *st, const char *store_dir, const char *group, uint64_t point,
		 bool force, struct report *r)
{
	struct store_point_info *pts = NULL;
	struct scrubstate ss = { 0 };
	const struct scrub_entry *bad;
	char *gdir = strfmt("%s/%s", store_dir, group), *why = NULL;
	size_t n = 0;
	int rc = 0;

	if (!gdir || store_list_points(st, group, &pts, &n) < 0)
		goto out; /* drill_run meets the same failure next and reports it */
	scrubstate_peek(gdir, &ss);
	bad = scrubstate_chain_bad(&ss, pts, n, point);
	if (!bad)
		goto out;
	why = strfmt("point %" PRIu64 "%s%s failed its scrub: disk %s bytes %" PRIu64 "..%" PRIu64
		     "%s", bad->point, bad->point == point ? "" : ", in the base chain of this "
		     "point,", "", bad->nbad ? bad->bad[0].disk : "?",
		     bad->nbad ? bad->bad[0].offset : 0,
		     bad->nbad ? bad->bad[0].offset + bad->bad[0].length - 1 : 0,
		     bad->bad_count > 1 ? " and more (nestor scrub --point to list them)" : "");
	if (!why)
		goto out;
	if (force) {
		log_warn("group %s point %" PRIu64 ": %s; booting it anyway (--force)", group,
			 point, why);
		r->scrub_forced = true;
		r->scrub_warning = why;
		why = NULL;
		goto out;
	}
	log_error("group %s point %" PRIu64 ": %s; refused: its data is corrupt at rest. "
		  "Boot an older good point, or run again with --force to boot it anyway",
		  group, point, why);
	free(r->error);
	r->error = strfmt("refused: %s (--force boots it anyway)", why);
	rc = -1;
out:
	scrubstate_free(&ss);
	free(why);
	free(pts);
	free(gdir);
	return rc;
}
