/* Re-protection without a seed (docs/failback-design.md, "released"): the
 * change tracking of an agent's group restarted at the cutover and
 * recorded as committed at the receiver's point F, which the on-prem disks
 * now equal, so the next forward cycle is an incremental from F. */
#ifndef NESTOR_FAILBACK_REPROTECT_H
#define NESTOR_FAILBACK_REPROTECT_H

#include <stdint.h>

struct agent_group_cfg;

/* Every source of group g (its state under <state_dir>/<group>, as the
 * agent's cycle keeps it) begun as for a full point, which restarts its
 * tracking (file qcow2: a new dirty bitmap; raw: the block hashes of the
 * disk as it is; libvirt: a new checkpoint), its extents listed to the end
 * but never read or sent, then committed as point f: exactly the state a
 * forward cycle that sent f would have left. The disks must equal f and
 * take no writes meanwhile (their VMs paused or off), and no cycle of the
 * group may run. 0 / -1 (logged; the old state then is either kept or
 * gone, which costs the next cycle a full copy, never a wrong increment). */
int failback_sources_at(const struct agent_group_cfg *g, const char *state_dir, uint64_t f);

#endif
