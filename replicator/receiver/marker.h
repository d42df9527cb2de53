/* The durable "failed over" marker of a protection group:
 * <store>/<group>/failover.json. While it exists the receiver refuses new
 * points for the group, because the failed-over VMs are the truth now. */
#ifndef NESTOR_RECEIVER_MARKER_H
#define NESTOR_RECEIVER_MARKER_H

#include <stdbool.h>

#include <jansson.h>

/* Path of group's marker (malloc'd, caller frees; NULL: out of memory,
 * logged), for messages. */
char *failover_marker_path(const char *store_dir, const char *group);

/* Does group have a marker? Anything but a clean "no such file" counts as
 * yes (logged): refusing a point is safe, accepting one by mistake is not.
 * Depends on libc only, so the receiver can call it per point. */
bool failover_group_is_failed_over(const char *store_dir, const char *group);

/* Write m durably (tmp + fsync + rename + dir fsync). 0 / -1 (logged). */
int failover_marker_save(const char *store_dir, const char *group, json_t *m);
/* The marker as JSON (caller decrefs); NULL if there is none (*absent set)
 * or it cannot be read (logged). */
json_t *failover_marker_load(const char *store_dir, const char *group, bool *absent);
/* Remove the marker durably. 0 / -1 (logged). */
int failover_marker_remove(const char *store_dir, const char *group);

#endif
