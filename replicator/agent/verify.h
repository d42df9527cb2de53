/* Verify: compare a point of a group with its source disks by block hashes
 * the receiver computes on its side; the differing ranges are printed. The
 * disks are read through the snapshot interface (snapshot/source.h). */
#ifndef NESTOR_AGENT_VERIFY_H
#define NESTOR_AGENT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct agent_config;
struct agent_group_cfg;
struct snapshot;

/* Compare point (0 = newest) of group with the group's disks; prints each
 * differing range, then the verdict (json: one object) on out. 0 identical,
 * 1 differs, -1 error (logged). */
int verify_run(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
	       FILE *out);

/* Shared with repair (repair.h), which reads the sources the same way:
 * group in cfg with image-file disks (NULL, logged, if not; borrowed from
 * cfg); disk i of g as a read-only snapshot (NULL, logged; snapshot_free). */
const struct agent_group_cfg *verify_group(const struct agent_config *cfg, const char *group);
struct snapshot *verify_open_disk(const struct agent_group_cfg *g, size_t i);

#endif
