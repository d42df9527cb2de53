/* Targeted repair, the agent's side (issue 13, item 3): ask the receiver
 * which checksum records of a point failed its last scrub (REPAIR_QUERY),
 * read each range from the source as it is now, and send back, as a
 * REPAIR point, those whose content still hashes to the record; a range
 * whose source changed since the point cannot be recovered from it and is
 * reported. The disks are read as verify reads them (verify.h). */
#ifndef NESTOR_AGENT_REPAIR_H
#define NESTOR_AGENT_REPAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct agent_config;

/* Repair point (0 = every point of group whose last scrub failed, newest
 * first); prints each repaired, unrecoverable and still-bad range, then a
 * summary (json: one object) on out. 0 everything listed was repaired, 1
 * something is left, -1 error (logged). */
int agent_repair_run(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
		     FILE *out);

#endif
