/* What each protection group looks like right now, on the agent (daemon
 * status files) or on the receiver (replica store), for `nestor status`. */
#ifndef NESTOR_RECEIVER_STATUS_H
#define NESTOR_RECEIVER_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "replicator/revstate.h"

struct agent_config;
struct store;

/* One group as the receiver sees it (plain data). */
struct status_rx_group {
	char name[65];
	size_t points;
	uint64_t last_point;              /* 0 = no point yet */
	uint64_t last_point_time_ns;      /* snapshot instant of the newest point */
	uint64_t last_point_committed_ns;
	uint64_t last_point_bytes;        /* payload bytes of the newest point */
	int last_point_consistency;       /* enum consistency of the newest point */
	uint64_t pending_point;           /* 0 = nothing in flight */
	uint64_t pending_durable_bytes;   /* sum of the disks' durable offsets */
	unsigned pending_disks, pending_disks_done;
	bool failed_over;
	int drill_result;                 /* 1 pass, 0 fail, -1 no drill yet */
	char drill_id[128];
	double drill_rto_s;               /* longest VM RTO; -1 unknown */
	uint64_t drill_started_ns;
	char scrub[32];                   /* the newest point's scrub state (scrubstate.h) */
	size_t scrub_bad_points;          /* points whose own last scrub failed */
	uint64_t rpo_target_s;            /* receiver.conf's rpo; 0 = not set (status_rx_targets) */
	bool failing_back;                /* failed over and a reverse stream of this failover ran */
	struct revstate reverse;          /* its reverse points (when failing_back) */
};

struct receiver_config;

/* Set each group's rpo_target_s from cfg (receiver_config_rpo). */
void status_rx_targets(struct status_rx_group *g, size_t n, const struct receiver_config *cfg);

/* The RPO of g at now: its newest point's age in seconds, -1 without a
 * point. The one figure status, /metrics and the dashboard show. */
double status_rx_rpo(const struct status_rx_group *g, uint64_t now);

/* g's RPO against its target at now: "ok" (under 80 % of it), "warn" (up
 * to it), "breached" (over it), "none" (no point yet), "unknown" (no
 * target). A static string. */
const char *status_rx_state(const struct status_rx_group *g, uint64_t now);

/* What a drill's or failover's JSON report says (failover/report.c). */
struct status_run {
	char id[128];
	bool pass;
	bool failover;       /* "mode": "failover" */
	uint64_t point;
	uint64_t started_ns;
	double rpo_s;        /* -1 unknown */
	double rto_s;        /* the slowest VM's; -1 unknown */
};

/* Read the report at path (bounded) into out. -1 when it cannot be read
 * or is not JSON (logged as a warning): callers skip it. */
int status_run_load(const char *path, struct status_run *out);

/* Every group directory of the store at store_dir, by name. *out is
 * malloc'd (caller frees). A group whose catalog cannot be read is an
 * error (logged). 0 / -1. */
int status_rx_groups(struct store *st, const char *store_dir,
		     struct status_rx_group **out, size_t *n);

/* The receiver's view as one JSON object {role, store, now_ns, groups: [...]}
 * of the n groups g (nestor-status(8)); RPOs measured at now, with
 * rpo_target_seconds and rpo_state when the targets were set. New reference
 * (caller decrefs) or NULL (out of memory). */
json_t *status_rx_json(const char *store_dir, const struct status_rx_group *g, size_t n,
		       uint64_t now);

/* The agent's view as one JSON object {role, agent, now_ns, groups: [...]}:
 * each configured group from its daemon status file, RPO recomputed for now,
 * or state "never ran". New reference (caller decrefs) or NULL (logged). */
json_t *status_agent_json(const struct agent_config *cfg, uint64_t now);

/* A reverse stream's figures as status shows them: {points, last_point,
 * last_point_time_ns, rpo_seconds (at now), last_point_bytes,
 * bytes_total}, or JSON null without a point. New reference. */
json_t *status_reverse_json(const struct revstate *rs, uint64_t now);

/* Integer member key of o when positive, else 0. */
uint64_t status_json_u64(json_t *o, const char *key);

#endif
