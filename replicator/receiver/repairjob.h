/* A targeted repair's heavy steps as jobs for a worker thread (repair.h):
 * its begin (group lock, catalog, scrub state, checksum files, the group's
 * usage) and its commit (flush, fsync, read every repaired record back,
 * scrub.json). The session hands them to its pool and takes no message
 * until they are done, as for a point's begin. */
#ifndef NESTOR_RECEIVER_REPAIRJOB_H
#define NESTOR_RECEIVER_REPAIRJOB_H

#include "replicator/receiver/repair.h"

struct repairjob;

/* The begin of b (copied) on st and cfg (borrowed: they outlive the job). /
 * The commit of r (the job owns r from here). owner is the caller's,
 * handed back by repairjob_owner. NULL when out of memory (logged; a
 * commit's r is freed). */
struct repairjob *repairjob_begin(const struct receiver_config *cfg, struct store *st,
				  const struct proto_point_begin *b, void *owner);
struct repairjob *repairjob_commit(struct repair *r, void *owner);
/* Run it (any thread; a workpool_fn). */
void repairjob_run(void *job);
/* After repairjob_run: a begin: 0 with *out the repair (the caller owns
 * it); a commit: 1; a refusal or failure: -1 with *why. */
int repairjob_take(struct repairjob *j, struct repair **out, struct repair_why *why);
void *repairjob_owner(const struct repairjob *j);
void repairjob_disown(struct repairjob *j);
/* Frees a repair not taken (its group lock released). NULL ok. */
void repairjob_free(struct repairjob *j);

#endif
