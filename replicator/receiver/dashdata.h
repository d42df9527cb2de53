/* The dashboard's data (docs/dashboard.md): each view as one JSON object,
 * what /api/... answers and what the HTML pages (dashhtml.h) are drawn
 * from. Figures come from status.h, as `nestor status` shows them. */
#ifndef NESTOR_RECEIVER_DASHDATA_H
#define NESTOR_RECEIVER_DASHDATA_H

#include <stdint.h>

#include <jansson.h>

struct receiver_config;
struct store;

/* Where the views read from; borrowed. */
struct dash_src {
	struct store *st;
	const struct receiver_config *cfg;
};

/* Bounds of a page, whatever the store holds. */
#define DASH_MAX_POINTS   500 /* newest points listed on a group's page */
#define DASH_MAX_RUNS     10  /* newest drills, and newest failovers */
#define DASH_CHART_SLOTS  336 /* records of a chart at most (7 d: one per 30 min) */

/* Every group, its state against its RPO target and its last 24 h of RPO
 * history, at now. New reference (caller decrefs); NULL on error (logged). */
json_t *dashdata_overview(const struct dash_src *s, uint64_t now);

/* One group: status, 24 h and 7 d history, points with their retention
 * tiers, recent drills and failovers, the failover marker. NULL with
 * *status = 404 when there is no such group, 500 on error (logged). */
json_t *dashdata_group(const struct dash_src *s, const char *group, uint64_t now, int *status);

/* One point: disks, bytes, consistency and the VMs its metadata names.
 * NULL with *status 404 / 500 as above. */
json_t *dashdata_point(const struct dash_src *s, const char *group, uint64_t point,
		       int *status);

/* Set group object g's "direction" (as the agent's nestor_agent_direction
 * names it) from its status members: "reverse" while failing_back (a
 * failback streams the failed-over VMs home), "failed_over", else
 * "forward". Both views carry it. */
void dashdata_direction(json_t *g);

/* Record the cycle that just committed group's newest point at now in
 * its RPO history (rpohist.h), bounded by cfg's rpo_history_size. A
 * failure is logged; the point stays committed. */
void dashdata_record_commit(const struct dash_src *s, const char *group, uint64_t now);

#endif
