/* The reverse direction's summary files as the failback keeps them
 * (revstat.h). */
#include "failback/revstat.h"

#include <stdlib.h>

#include "common/log.h"
#include "replicator/receiver/store.h"
#include "replicator/revstate.h"

int
failback_revstat_agent(const struct agent_config *cfg, const char *group, struct store *target)
{
	struct store_point_info *pts = NULL;
	struct revstate rs = { 0 };
	char *path = revstate_agent_path(cfg->state_dir, group);
	size_t n = 0;
	int rc = -1;

	/* Counted from the catalog, not added up: a crash between a commit
	 * and this write is made good by the next point. */
	if (!path || store_list_points(target, group, &pts, &n) < 0)
		goto out;
	rs.bytes_total = store_points_bytes(pts, n);
	rs.points = n;
	if (n) {
		rs.last_point = pts[n - 1].id;
		rs.last_time_ns = pts[n - 1].time_ns;
		rs.last_bytes = pts[n - 1].bytes_received;
	}
	rc = revstate_save(path, &rs);
out:
	free(pts);
	free(path);
	return rc;
}

int
failback_revstat_released(const struct agent_config *cfg, const char *group)
{
	char *path = revstate_agent_path(cfg->state_dir, group);
	struct revstate rs;
	int rc = -1;

	/* No summary: no reverse stream ran here (a cutover by hand). */
	if (path && revstate_load(path, &rs) == 0) {
		rs.released = true;
		rc = revstate_save(path, &rs);
	}
	free(path);
	return rc;
}

int
failback_revstat_rx(const char *store_dir, const char *group, const json_t *marker,
		    uint64_t point, uint64_t time_ns, uint64_t bytes)
{
	const char *fo = json_string_value(json_object_get(marker, "failover"));
	char *path = revstate_rx_path(store_dir, group);
	int rc = path ? revstate_note(path, point, time_ns, bytes, fo ? fo : "") : -1;

	free(path);
	return rc;
}
