/* Per-disk records of the change sources, small JSON files in a source's
 * state directory: the committed state (what the next snapshot is relative
 * to) and the attempt begun but not committed. A lost or bad record only
 * costs a full copy, so reading one is forgiving; writing one is durable. */
#ifndef NESTOR_SNAPSHOT_SRCSTATE_H
#define NESTOR_SNAPSHOT_SRCSTATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest record read. */
#define SRCSTATE_MAX (64u * 1024)

/* Records belong to an object named "<kind> <name>" in the log ("disk
 * web.vda", "libvirt: domain web").
 * Loads path: 1 with *root (an object; the caller decrefs it); 0 when it
 * is missing, or unreadable (warned: the caller falls back to a full
 * copy); -1 on an I/O error (logged). */
int srcstate_load(const char *kind, const char *name, const char *path, json_t **root);

/* Replaces path with root (jansson encode flags) durably, mode 0600, and
 * releases root. root NULL: the record could not be built (out of memory).
 * 0 / -1 (logged). */
int srcstate_save(const char *kind, const char *name, const char *path, json_t *root,
		  size_t flags);

/* Unsigned 64-bit values are kept as decimal text: JSON integers are
 * signed. get: 0, or -1 if missing or not a number (not logged). set: 0 /
 * -1 (out of memory). */
int srcstate_get_u64(const json_t *root, const char *key, uint64_t *out);
/* root NULL is an error (so that a failed json_pack falls through). */
int srcstate_set_u64(json_t *root, const char *key, uint64_t v);

/* Removes path, a record of disk; a missing one is fine, a failure is
 * warned. */
void srcstate_remove(const char *disk, const char *path);

/* A disk's incremental decision, changing nothing: the disk may be
 * incremental when its committed state is usable (have_state), was
 * committed at base_point (st_point), and then the source's own check(disk)
 * finds no reason for a full copy (returns NULL; else why, in static or
 * the disk's storage). Sets *incremental, and *reason (NULL when
 * incremental); returns *incremental. */
int srcstate_decide(int have_state, uint64_t st_point, uint64_t base_point,
		    const char *(*check)(void *disk), void *disk, int *incremental,
		    const char **reason);

/* A point is incremental for every disk of the group or for none: a disk
 * that could be (*incremental) in a group that cannot (group 0) is copied
 * in full, and *reason says why. */
void srcstate_join_group(int group, int *incremental, const char **reason);

#endif
