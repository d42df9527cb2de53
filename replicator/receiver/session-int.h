/* The session's internals, shared by the files that handle its messages:
 * session.c (the state machine), session-extent.c (a point's extents, disk
 * done, checkpoints) and repairjob.c (a targeted repair's glue). Not for
 * other modules: they see session.h. */
#ifndef NESTOR_RECEIVER_SESSION_INT_H
#define NESTOR_RECEIVER_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "proto/codec.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/reorder.h"
#include "replicator/receiver/session.h"

struct beginjob;
struct event;
struct extentcache;
struct hashjob;
struct repair;
struct repairjob;
struct store_point;
struct zdecomp;

/* S_REPAIR: a REPAIR point (repair.h) between its BEGIN and COMMIT.
 * S_REVERSE: the connection was handed to a reverse handler. */
enum sess_state { S_HELLO, S_READY, S_POINT, S_COMMITTED, S_REPAIR, S_REVERSE };
/* disk_done[]: a resumed point's disk done before this session takes one
 * more DISK_DONE (the agent sends one per disk); a second is an error. */
enum { DISK_OPEN = 0, DISK_DONE_HERE = 1, DISK_DONE_BEFORE = 2 };
/* Why a session with extents on workers is not read: its ring is full, or
 * a message waits until every extent before it is written. */
enum xwait { XWAIT_NONE, XWAIT_SLOT, XWAIT_DRAIN };

struct session {
	struct session_env *env;
	const struct session_io *io;
	void *io_arg;
	struct session *next;
	enum sess_state state;
	char group[PROTO_NAME_MAX + 1];
	struct store_point *point;
	uint64_t point_id;
	uint16_t ndisks;
	uint64_t disk_size[PROTO_MAX_DISKS];
	uint8_t disk_done[PROTO_MAX_DISKS];
	uint64_t since_checkpoint;
	uint64_t bytes;       /* payload of the point in this session (metrics) */
	struct timespec begun; /* point begin, for metrics' cycle seconds */
	struct limits_point limits; /* the point against its group's limits */
	struct hashjob *job; /* on a worker; no message is taken meanwhile */
	struct beginjob *bjob; /* a POINT_BEGIN on a worker, of group */
	bool adopt_owner;      /* that begin makes this peer the group's owner */
	struct repair *repair; /* S_REPAIR: the point being repaired, group locked */
	struct repairjob *pjob; /* a repair's begin or commit on a worker */
	bool final;            /* the point is a planned failover's final one */
	char planned[PROTO_NAME_MAX + 1]; /* group told to shut down (planned.h) */
	struct reorder xring;   /* extents on workers, in arrival order */
	enum xwait xwait;       /* not read until io->resume */
	bool xfailed;           /* an extent failed: the session is over */
	void *rev;              /* S_REVERSE: the handler (session-reverse.c) */
	const struct session_reverse_ops *rev_ops;
	/* A POINT_BEGIN waiting for the session still writing its group
	 * (session.c, group_wait): not read until the timer resumes it. */
	struct event *gwait_ev;
	uint64_t gwait_deadline_ns; /* 0: not waiting */
	bool gwaiting;              /* the timer is armed */
};

struct session_env {
	const struct receiver_config *cfg;
	struct store *store;
	struct rxmetrics *metrics; /* NULL = off */
	struct zdecomp *zd;
	uint8_t *plain;    /* PROTO_MAX_EXTENT bytes, decompression target */
	struct workpool *pool; /* NULL = heavy steps inline */
	struct extentcache *xcache; /* spare extent jobs, with the pool */
	struct session *sessions;
	session_reverse_fn reverse; /* NULL: REVERSE_BEGIN refused */
	void *reverse_arg;
};

const char *session_peer(const struct session *s);
/* Tell the peer why it is dropped (the io closes after the flush). */
void session_error(struct session *s, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The pool's queue is full: the peer is told to retry later. -1. */
int session_busy(struct session *s);
/* The group name from the network is valid and the peer may write it;
 * else -1 (the peer told). */
int session_check_group(struct session *s, const char *group);
/* The wire code of a store error (enum store_err). */
uint32_t session_store_err(int err);
int session_send_committed(struct session *s, uint64_t point_id);

/* session-extent.c: the messages of a point being received (S_POINT).
 * Return as session_on_msg. */
int session_on_extent(struct session *s, const struct proto_extent *e);
int session_on_disk_done(struct session *s, const struct proto_disk_done *d);
/* Before any message: 0 to take it, or 2 when extents are in flight and
 * msg is not one: it waits until they are written (session_on_msg). */
int session_extents_wait(struct session *s, const struct proto_msg *msg);
/* Drop the extents not written; those on a worker are disowned. */
void session_extents_abort(struct session *s);

/* session-reverse.c: REVERSE_BEGIN, REVERSE_FINISH (both handed to the
 * handler) and the handler's messages (S_REVERSE). Return as
 * session_on_msg. */
int session_reverse_begin(struct session *s, const struct proto_reverse_begin *b);
int session_reverse_msg(struct session *s, const struct proto_msg *msg);
/* Whether another session serves a reverse stream of group. */
bool session_reverse_busy(const struct session *self, const char *group);
/* The handler (if any) is told the connection is gone, and let go. */
void session_reverse_end(struct session *s, const char *reason);

/* repairjob.c: a targeted repair's messages. Return as session_on_msg. */
int session_repair_begin(struct session *s, const struct proto_point_begin *b);
int session_repair_msg(struct session *s, const struct proto_msg *msg);
int session_repair_query(struct session *s, const struct proto_repair_query *q);

#endif
