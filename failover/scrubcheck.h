/* The scrub gate of drills and failovers (issue 13, item 3): a point that
 * failed its last scrub, or whose base chain holds such a point
 * (scrubstate.h), is not booted unless forced. */
#ifndef NESTOR_FAILOVER_SCRUBCHECK_H
#define NESTOR_FAILOVER_SCRUBCHECK_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct report;

/* Point of group (in st, rooted at store_dir) may boot: 0. Bad and not
 * force: -1 with r->error saying which point, disk and range and that
 * --force boots it anyway (logged). Bad and force: 0 with
 * r->scrub_forced and r->scrub_warning set (logged as a warning). An
 * unreadable scrub.json counts as no verdict (logged). */
int scrubcheck_point(struct store *st, const char *store_dir, const char *group,
		     uint64_t point, bool force, struct report *r);

#endif
