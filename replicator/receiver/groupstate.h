/* State of a protection group kept beside its catalog in <store>/<group>/:
 * drills' pins on points (honoured by retention), the failover marker
 * (marker.h) and the reports of drills and failovers. The one place that
 * knows these names; the layout is fixed (existing stores keep working):
 *   <group>/drills/<id>/point   a running drill's pin: "<point id>\n"
 *   <group>/drills/<id>.json    a drill's report; drills/<id>/ its work dir
 *   <group>/failover/<id>.json  a failover's report; failover/<id>/ work dir
 *   <group>/failover.json       the failover marker (marker.c) */
#ifndef NESTOR_RECEIVER_GROUPSTATE_H
#define NESTOR_RECEIVER_GROUPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Work directory of run id (a drill, or a failover): malloc'd path, caller
 * frees; NULL on error (logged). Not created here. */
char *groupstate_run_dir(const char *store_dir, const char *group, bool failover,
			 const char *id);
/* Where run id's report is saved; as above. */
char *groupstate_report_path(const char *store_dir, const char *group, bool failover,
			     const char *id);

/* Pin point for drill id (its work dir must exist): retention keeps the
 * point and every older one until groupstate_unpin. Durable. 0 / -1. */
int groupstate_pin(const char *store_dir, const char *group, const char *id, uint64_t point);
/* Drop the pin; a failure is logged (retention then keeps the point). */
void groupstate_unpin(const char *store_dir, const char *group, const char *id,
		      uint64_t point);
/* Newest point in use: the highest pin of a drill or the failed-over
 * point; 0 = none. Anything unreadable protects every point (UINT64_MAX,
 * logged): keeping too much is safe. */
uint64_t groupstate_pinned_max(const char *store_dir, const char *group);

/* Is <store_dir>/<group> a group (a catalog, pending state or a failover
 * marker in it)? */
bool groupstate_is_group(const char *store_dir, const char *group);
/* Paths of the group's max newest drill (or failover) reports, by
 * modification time, newest first: *out malloc'd, each path too (caller
 * frees them all). A group without any has *n = 0. 0 / -1 (logged). */
int groupstate_recent_reports(const char *store_dir, const char *group, bool failover, size_t max,
			      char ***out, size_t *n);
/* Path of the group's newest drill report (by modification time), malloc'd;
 * NULL if there is none. */
char *groupstate_last_drill_report(const char *store_dir, const char *group);

#endif
