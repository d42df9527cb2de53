/* Where a failback lands on-prem (docs/failback-design.md): the target
 * store of an agent's group, local qcow2 overlays over the group's own
 * disks (replicator/receiver/store-target.h), under
 * <state_dir>/failback/<group>/. Image files and the file disks of the
 * group's libvirt domains (failback/ondomains.h); RBD disks not yet. */
#ifndef NESTOR_FAILBACK_TARGET_H
#define NESTOR_FAILBACK_TARGET_H

#include <stddef.h>

#include "replicator/config.h"
#include "replicator/receiver/store-target.h"

/* The on-prem disks of a group as the target store takes them. */
struct failback_disks {
	size_t n;
	/* names borrowed from the group's configuration (image files) or
	 * in dname (a domain's "<domain>.<target>"), paths and formats owned
	 * (failback_disks_clear) */
	struct store_target_disk v[STORE_MAX_DISKS];
	char *path[STORE_MAX_DISKS];
	char *given[STORE_MAX_DISKS]; /* the path as configured or defined: the
				       * forward file source's name of it */
	char format[STORE_MAX_DISKS][STORE_TARGET_FORMAT_MAX];
	char dname[STORE_MAX_DISKS][66];
};

/* Fill *out from group g's disks: each disk file's absolute path (it must
 * exist) and its format (the configured one, else probed); then the disks
 * of its domains as their inactive definitions on the on-prem libvirtd
 * name them, whatever the domains' state (ondomains.h). A group with an
 * RBD disk is refused (not supported yet). 0 / -1 (logged, *out
 * cleared). */
int failback_disks_of(const struct agent_group_cfg *g, struct failback_disks *out);
/* Append one on-prem disk to d (name copied): its absolute path (it must
 * exist) and format (fmt "raw" or "qcow2", else probed). 0 / -1
 * (logged). */
int failback_disks_add(struct failback_disks *d, const char *group, const char *name,
		       const char *path, const char *fmt);
/* Free what *d owns and empty it. NULL ok. */
void failback_disks_clear(struct failback_disks *d);

/* Group `group` of cfg (borrowed from it), or NULL (logged: no such
 * group in the agent's configuration). */
const struct agent_group_cfg *failback_group_of(const struct agent_config *cfg,
						const char *group);

/* <state_dir>/failback, the target stores' root (malloc'd; NULL out of
 * memory, logged). Group G's target is its directory G below it. */
char *failback_root(const struct agent_config *cfg);

/* <state_dir>/failback/<group>, made durably (the directories and their
 * names in their parents) when missing (malloc'd; NULL on error, logged). */
char *failback_target_dir(const struct agent_config *cfg, const char *group);

/* Open the target store of group (a group of cfg) rooted at
 * failback_root(cfg), making <state_dir>/failback/<group>/ durably first
 * (the directories and their names in their parents). Its disks are the
 * group's on-prem disks, or the new disks recorded there (newdisks.h) in
 * a failback to new disks. The caller frees
 * the store with store_free; the store's group is `group`. NULL on error
 * (logged: no such group, a disk it cannot take, the directories). */
struct store *failback_target_open(const struct agent_config *cfg, const char *group);

#endif
