/* The reverse direction's summary files (replicator/revstate.h) as the
 * failback keeps them: the agent's from its target store's catalog after
 * each reverse point and at the cutover's release, the DR side's at each
 * reverse point's COMMITTED. A failure is logged and only loses a figure
 * of status and /metrics, never a point. */
#ifndef NESTOR_FAILBACK_REVSTAT_H
#define NESTOR_FAILBACK_REVSTAT_H

#include <stdint.h>

#include <jansson.h>

#include "replicator/config.h"

struct store;

/* Agent: <state_dir>/failback/<group>/reverse.json from the reverse
 * points target lists. 0 / -1 (logged). */
int failback_revstat_agent(const struct agent_config *cfg, const char *group,
			   struct store *target);

/* Agent: the cutover reached released: the direction is forward again.
 * 0 / -1 (logged). */
int failback_revstat_released(const struct agent_config *cfg, const char *group);

/* Receiver: reverse point `point` of group (snapshot instant time_ns,
 * bytes payload) committed on-prem, for the failover named in marker.
 * 0 / -1 (logged). */
int failback_revstat_rx(const char *store_dir, const char *group, const json_t *marker,
			uint64_t point, uint64_t time_ns, uint64_t bytes);

#endif
