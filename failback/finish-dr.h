/* The DR side's steps of `nestor failback finish` (docs/failback.md): the
 * failed-over VMs shut down and started again paused (the reverse source
 * then reads their final disks with no guest running), point F made of
 * them once the final reverse point is on-prem, and the failover released
 * when the agent says its VMs are verified. Blocking: run on a worker. */
#ifndef NESTOR_FAILBACK_FINISH_DR_H
#define NESTOR_FAILBACK_FINISH_DR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct store;

/* Point F of a finish as REVERSE_DONE carries it. */
struct finish_point {
	uint64_t point, base, bytes;
};

/* Shut every domain of the failover marker m down (guest agent or ACPI,
 * at most timeout_s, then destroy; a paused one, which cannot answer, is
 * destroyed at once: a re-run finds the domains this step left paused),
 * then start each again paused. 0 / -1 (logged; why for the agent). */
int finish_dr_quiesce(const json_t *m, const char *group, uint64_t timeout_s, char *why,
		      size_t cap);

/* Destroy the domains of m that run (the paused ones finish_dr_quiesce
 * started: no guest ran in them). 0 / -1 (logged). */
int finish_dr_stop(const json_t *m, const char *group);

/* The marker's F when the catalog lists it and the failover's overlays
 * are as when it was made: 1 with *out. 0 when F is not made; also when
 * the overlays changed since (a VM started again after an abandoned
 * finish): then promote_point is taken out of m and the marker saved, so
 * the next F is made of them as they are now. -1 (logged). */
int finish_dr_made(struct store *st, json_t *m, const char *store_dir, const char *group,
		   struct finish_point *out);

/* F is made: what the failover's overlays (a ceph store: its RBD clones,
 * their snapshots and whether they were written since the newest) are
 * now, recorded in the marker beside promote_point (finish_dr_made answers
 * F only while they stay so). 0 / -1 (logged). */
int finish_dr_record(struct store *st, const char *store_dir, const char *group);

/* Make F of the failover's final disks (failover_promote_point, domains
 * stopped first), the group left failed over, and record what the
 * overlays were (finish_dr_made). 0 / -1 (logged). */
int finish_dr_promote(struct store *st, const char *store_dir, const char *group,
		      struct finish_point *out);

/* End the failover of m (failover_release: domains undefined, DR
 * networks removed, marker gone; the overlays stay). 0 / -1 (logged). */
int finish_dr_release(const char *store_dir, const char *group, const json_t *m);

/* Is point f of group a promoted point (its metadata names promoted_from)?
 * A release asked again after it was done: 1 with *out; 0 not; -1
 * (logged). */
int finish_dr_promoted(struct store *st, const char *group, uint64_t f, struct finish_point *out);

/* <store>/<group>/reverse/<domain>.json exists for every domain of m
 * and, on a ceph store (ceph), the rbd source's state of its clones,
 * reverse/rbd/<domain>.<target>.json: a reverse stream ran (failback
 * start), its checkpoints or reverse snapshots can be followed. */
bool finish_dr_has_reverse(const char *store_dir, const char *group, const json_t *m, bool ceph);

#endif
