/* A failback's reverse direction as each side last saw it (issue 14): a
 * small JSON summary of the reverse points, written at each reverse
 * point's commit (agent: from the target's catalog; receiver: counted at
 * its COMMITTED) and read by `nestor status` and both /metrics pages.
 * Plain data; paths returned are malloc'd, owned by the caller. */
#ifndef NESTOR_REPLICATOR_REVSTATE_H
#define NESTOR_REPLICATOR_REVSTATE_H

#include <stdbool.h>
#include <stdint.h>

struct revstate {
	uint64_t points;       /* reverse points committed */
	uint64_t last_point;   /* the newest of them, 0 none */
	uint64_t last_time_ns; /* its snapshot instant */
	uint64_t last_bytes;   /* its payload bytes */
	uint64_t bytes_total;  /* payload bytes of them all */
	bool released;         /* agent: the cutover reached released */
	char failover[128];    /* receiver: the failover id it belongs to, "" unknown */
};

/* <state_dir>/failback/<group>/reverse.json (beside the target store). */
char *revstate_agent_path(const char *state_dir, const char *group);
/* <store_dir>/<group>/reverse-stream.json (beside the failover marker). */
char *revstate_rx_path(const char *store_dir, const char *group);

/* path into *out: 0; 1 when it does not exist (*out zeroed, not logged);
 * -1 unreadable or malformed (logged, *out zeroed). */
int revstate_load(const char *path, struct revstate *out);
/* rs into path durably (temp, fsync, rename, fsync dir). 0 / -1 (logged). */
int revstate_save(const char *path, const struct revstate *rs);

/* Reverse point `point` committed (at time_ns, bytes payload) into path's
 * counts; the same point noted twice counts once. 0 / -1 (logged). */
int revstate_note(const char *path, uint64_t point, uint64_t time_ns, uint64_t bytes,
		  const char *failover);

/* The direction of a group: "reverse" while a failback streams back (rs
 * has points and is not released), else "failed_over" when failed_over,
 * else "forward". rs may be NULL (none). Static string. */
const char *revstate_direction(const struct revstate *rs, bool failed_over);

/* The reverse RPO at now: seconds since the newest reverse point's
 * snapshot instant, -1 without one. */
double revstate_rpo(const struct revstate *rs, uint64_t now);

#endif
