/* A failback to new disks (docs/failback.md, "On-prem disks lost"): the
 * mapping of `failback start --new-disks`, checked once and recorded in
 * the target's directory (newdisks.json) before the first reverse point;
 * every later command of that failback reads the record, not argv. */
#ifndef NESTOR_FAILBACK_NEWDISKS_H
#define NESTOR_FAILBACK_NEWDISKS_H

#include "failback/target.h"
#include "replicator/config.h"

/* The record's name in the target's directory. */
#define FAILBACK_NEWDISKS_FILE "newdisks.json"

/* Parse spec, "NAME=PATH[:FORMAT][,NAME=PATH[:FORMAT]...]" naming every
 * disk of group g once (FORMAT raw or qcow2, else told by PATH's
 * extension: .qcow2, or .raw / .img), into *out (create set; names
 * borrowed from g, paths owned: failback_disks_clear). Pure: nothing is
 * looked at on disk. 0 / -1 (logged: what is wrong with which part). */
int failback_newdisks_parse(const struct agent_group_cfg *g, const char *spec,
			    struct failback_disks *out);

/* Record spec for the target directory gdir of group g, durably. With a
 * record there already, spec must map the same disks to the same paths
 * and formats (nothing else is checked: the images are the target's).
 * Without one: a target that already holds a point over the on-prem
 * disks is refused (abort it first), and so is a new path that is not
 * absolute, whose directory is missing, or that exists and is not an
 * empty regular file (nothing is overwritten). 0 / -1 (logged). */
int failback_newdisks_record(const struct agent_group_cfg *g, const char *gdir,
			     const char *spec);

/* The recorded new disks of the target in gdir into *out (create set):
 * 1, 0 with no record (a failback over the on-prem disks), -1 (logged:
 * unreadable, or not every disk of g). */
int failback_newdisks_load(const struct agent_group_cfg *g, const char *gdir,
			   struct failback_disks *out);

/* Before the cutover commits into the new disks: every disk of g as the
 * agent's configuration names it is its recorded new disk (the same
 * file, the same format when one is configured), so that forward
 * replication protects them from F on. 0 (or no record) / -1 (logged:
 * which disk, and what to write in agent.conf). */
int failback_newdisks_configured(const struct agent_group_cfg *g, const char *gdir);

#endif
