/* The agent: replicates protection groups to the receiver (one cycle per
 * group: ask the receiver's progress, snapshot, stream the changed extents,
 * commit), and verifies points against their sources. */
#ifndef NESTOR_AGENT_AGENT_H
#define NESTOR_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct agent_config;
struct channel;
struct snap_libvirt_keep;

/* What one cycle did (the agent's own counters). */
/* Where a cycle's wall time went, in seconds (--json "phases"). snapshot
 * and source_commit are the source host's own steps; the others wait on
 * the network and the receiver. A cycle retried on a fresh connection
 * adds up both tries. */
struct agent_cycle_phases {
	double connect;        /* TCP, TLS and HELLO (0 on a kept connection) */
	double progress;       /* the receiver's answer to the progress query */
	double snapshot;       /* the sources' snapshot begun */
	double begin;          /* the receiver's answer to the point's begin */
	double send;           /* every extent read and sent */
	double commit;         /* the receiver's answer to the commit */
	double source_commit;  /* the sources' commit (bitmaps, checkpoints) */
};

struct agent_cycle_stats {
	uint64_t point_id, base_id;
	int incremental;
	int resumed;             /* continued a pending point */
	int resync;              /* change tracking lost: hash-compared with the base */
	uint64_t extents;
	uint64_t bytes_data;     /* plaintext bytes of DATA extents sent */
	uint64_t bytes_zero;     /* bytes covered by ZERO/DISCARD extents sent */
	uint64_t bytes_skipped;  /* bytes already durable on the receiver (resume) */
	uint64_t bytes_wire;     /* frame bytes queued on the connection */
	double seconds;
	struct agent_cycle_phases phases;
	int consistency;         /* enum consistency of the point sent, 0 before */
	unsigned rereads;        /* passes after a point that was not point-in-time */
	int final;               /* the final point of a planned failover: no
				  * cycle until the group is failed over */
	int failed_over;         /* no point: the group is failed over at the DR
				  * site, nothing on-prem was opened */
};

struct agent_opts {
	const char *group; /* NULL = every configured group */
	FILE *json;        /* NULL, or where to print one JSON object per cycle */
	bool progress;     /* progress line on a terminal */
	/* When set and it becomes non-zero, a cycle in flight is abandoned
	 * (within about a second); the point stays pending and resumable. */
	const volatile int *stop;
	/* When set, a cycle that committed a point leaves its connection here
	 * (open, idle) and the next cycle starts on it instead of a new TLS
	 * handshake; one that finds it closed connects afresh. The owner frees
	 * what is left with channel_free (replicator/agent/channel.h). */
	struct channel **keep;
	/* When set, the group's libvirt source keeps its connection and its
	 * clean state here between cycles (snapshot/libvirt.h); the owner
	 * frees it with snapshot_libvirt_keep_free after the last cycle. */
	struct snap_libvirt_keep *lvkeep;
};

struct agent_group_cfg;

/* One replication cycle of group g. 0 when the point was committed, or
 * when the receiver said the group is failed over (st->failed_over: no
 * snapshot was begun, so the on-prem disks are untouched); *st gets the
 * counters either way (of the last point). When the receiver
 * asks for a planned failover, the group's live VMs are shut down and a
 * final point sent instead (st->final), or -1 when they would not shut
 * down (the receiver is told why). A point committed as
 * not point-in-time is followed at once by up to g's consistency_rereads
 * incrementals, which re-read what changed. Thread-safe for different
 * groups. */
int agent_cycle(const struct agent_config *cfg, const struct agent_group_cfg *g,
		const struct agent_opts *o, struct agent_cycle_stats *st);

enum agent_poll { AGENT_POLL_NONE, AGENT_POLL_PLANNED, AGENT_POLL_FAILED_OVER,
		  AGENT_POLL_ABANDONED };

/* The daemon's light check between cycles: does the receiver ask for a
 * planned failover of g (AGENT_POLL_PLANNED), is g failed over
 * (AGENT_POLL_FAILED_OVER), was the planned failover abandoned after g's
 * final point (AGENT_POLL_ABANDONED: nothing will boot it), or none of
 * these (AGENT_POLL_NONE)? -1 could not ask (logged). */
int agent_control_poll(const struct agent_config *cfg, const struct agent_group_cfg *g,
		       const struct agent_opts *o);

/* One replication cycle for each selected group. 0 if all committed. */
/* Record the qemu-nbd children under <state_dir>/.children and end those
 * a killed agent left behind (common/child.h). 0 / -1 (logged). */
int agent_children_open(const struct agent_config *cfg);
int agent_run_once(const struct agent_config *cfg, const struct agent_opts *o);

/* Compare a point (0 = newest) of group with the source images by block
 * hashes; prints the differing ranges and the verdict on out (text, or one
 * JSON object). 0 identical, 1 differs, -1 error. */
int agent_verify(const struct agent_config *cfg, const char *group,
		 uint64_t point, bool json, FILE *out);

#endif
