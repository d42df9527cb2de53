/* The on-prem disk steps of a cutover (cutover.h): the target store's
 * final reverse point recorded as synced, its chain committed into the
 * on-prem disks, and an abandoned failback's target removed. */
#ifndef NESTOR_FAILBACK_CUTOVER_COMMIT_H
#define NESTOR_FAILBACK_CUTOVER_COMMIT_H

#include <stdint.h>

struct store;
struct failback_disks;

/* synced: the target store's newest committed point is the final reverse
 * point; recorded in <gdir>/cutover.json (gdir: the group's directory of
 * the target store; requested or none before, or synced already on the
 * same point). *point: that point. -1 (logged) when the target holds no
 * point, or the state is past synced on another point. */
int cutover_synced(struct store *target, const char *gdir, const char *group,
		   uint64_t *point);

/* committing, then committed: each disk of the synced reverse point's
 * chain committed into its on-prem disk (disks: failback_disks_of), down
 * the whole chain, the overlays left as they are (qemu-img commit -d), the
 * on-prem file fsynced. committing is recorded before the first on-prem
 * byte changes; a crash anywhere in it re-runs every disk from the start,
 * which converges because the overlays are never changed and read the
 * same whatever the on-prem disk held before. Already committed (or
 * later): nothing to do. Before synced: refused. 0 / -1 (logged). */
int cutover_commit(struct store *target, const char *gdir, const char *group,
		   const struct failback_disks *disks);

/* Abandon the failback of group: the new disks its target made, if any
 * (store_target_unmake: only those, as recorded), then its target
 * directory <root>/<group> (the reverse points, pending data,
 * cutover.json) removed durably; refused from committing on (roll
 * forward). The on-prem disks are never touched. Nothing there: 0.
 * 0 / -1 (logged). */
int cutover_abort(const char *root, const char *group);

#endif
