/* W of a failback (docs/failback-design.md): what a failed-over VM wrote,
 * the allocation of its failover overlay's own (top) layer. */
#ifndef NESTOR_FAILBACK_WSET_H
#define NESTOR_FAILBACK_WSET_H

struct range_set;

/* Add to rs every range the qcow2 overlay at path allocates in its top
 * layer (data or zero clusters; its backing chain's are not W), from
 * `qemu-img map --output=json -U`, read while the VM runs. 0 / -1
 * (logged: the command, a malformed answer, too many ranges). */
int failback_overlay_ranges(const char *path, struct range_set *rs);

#endif
