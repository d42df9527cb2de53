/* The DR side of a reverse replication (reverse.h): X from the agent, then
 * the agent's cycle run the other way over the receiver's connection (an
 * adopted channel): HELLO, PROGRESS_QUERY, POINT_BEGIN, the sender's
 * extents, POINT_COMMIT; the reverse source commits at COMMITTED. */
#include "failback/reverse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "common/workpool.h"
#include "failback/finish-dr.h"
#include "failback/revsrc.h"
#include "failback/revstat.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/agent/agent.h"
#include "replicator/agent/attempt.h"
#include "replicator/agent/channel.h"
#include "replicator/agent/sender.h"
#include "replicator/config.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"
#include "snapshot/libvirt.h"
#include "snapshot/ranges.h"
#include "snapshot/source.h"

#define REV_COMPRESS   3   /* zstd level, the agent's default */
#define REV_TIMEOUT_S  300 /* the on-prem side's silence allowed */

/* R_QUIESCE, R_PROMOTE, R_RELEASE: a failback finish's job runs. */
enum rev_state { R_X, R_QUIESCE, R_HELLO, R_QUERY, R_BEGIN, R_SENDING, R_WAIT_COMMIT,
		 R_PROMOTE, R_RELEASE, R_DONE, R_FAILED };

struct rev {
	const struct receiver_config *cfg;
	struct store *store;
	struct conn *conn;
	struct event_base *base;
	char group[PROTO_NAME_MAX + 1];
	char peer[PROTO_PEER_MAX + 1];
	enum rev_state state;
	json_t *marker;
	struct store_point_info p;      /* the failover's point */
	struct store_disk_info p_disks[STORE_MAX_DISKS]; /* its disks */
	struct range_set *x[PROTO_MAX_DISKS];
	bool x_done[PROTO_MAX_DISKS];
	int x_open;                     /* disk whose list goes on (MORE), -1 none */
	bool full;                      /* REVERSE_FULL: new on-prem disks, X whole */
	struct channel *ch;
	struct snapshot *snap;
	struct sender *snd;
	struct agent_cycle_stats st;
	uint64_t t0_ns;
	char sdir[4096];
	struct workpool *pool;          /* the receiver's, NULL: inline */
	struct proto_progress prog;     /* the target's, for the snapshot job */
	struct attempt_point last;
	int snap_rc;
	bool snap_job;                  /* a job (snapshot, finish) runs on a worker */
	uint64_t recovered;             /* the target's newest, committed without our COMMITTED */
	bool gone;                      /* the connection went meanwhile */
	/* failback finish (REVERSE_FINISH): */
	bool finish;
	uint32_t shutdown_s;
	bool paused;                    /* the domains are held paused by us */
	struct finish_point fp;         /* F, for REVERSE_DONE */
	char why[PROTO_TEXT_MAX - 64];  /* a job's failure, for the agent */
};

static void
rev_end(struct rev *r, enum rev_state st)
{
	if (r->state != R_DONE)
		r->state = st;
	sender_halt(r->snd);
	channel_end(r->ch);
}

/* Refuse in the X phase (no channel yet): ERROR, then the close. -1. */
static int
rev_refuse(struct rev *r, uint32_t code, const char *what)
{
	log_error("failback: group %s: agent %s: %s", r->group, r->peer, what);
	(void)conn_send_error(r->conn, code, "%s", what);
	r->state = R_FAILED;
	return -1;
}

static int
x_disk(const struct rev *r, const char *name)
{
	for (size_t i = 0; i < r->p.ndisks; i++)
		if (strcmp(r->p.disks[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* X is complete: the roles invert; we open with our HELLO. */
static const struct channel_cbs rev_cbs;

static int
rev_x_end(struct rev *r)
{
	r->ch = channel_adopt(r->base, r->conn, r->group, "nestor-receiver (reverse)",
			      REV_TIMEOUT_S, &rev_cbs, r);
	if (!r->ch || channel_send_hello(r->ch) < 0)
		return rev_refuse(r, PROTO_ERR_INTERNAL, "cannot start the reverse stream");
	r->state = R_HELLO;
	return 0;
}

/* One REVERSE_RANGES: its ranges into the disk's X, each bounded by the
 * disk's size and its count by disk_size / 512 + 65536. */
static int
rev_on_ranges(struct rev *r, const struct proto_reverse_ranges *x)
{
	char what[PROTO_TEXT_MAX - 64];
	uint64_t off, len;
	int d;

	if (x->disk[0] == '\0') /* the bare end */
		return r->x_open >= 0 ? rev_refuse(r, PROTO_ERR_PROTOCOL, "X ended inside a disk")
				      : rev_x_end(r);
	if (r->full)
		return rev_refuse(r, PROTO_ERR_PROTOCOL, "REVERSE_RANGES after a full "
				  "REVERSE_BEGIN (new on-prem disks): X is every disk whole, "
				  "only the bare end may follow");
	d = x_disk(r, x->disk);
	if (d < 0 || r->x_done[d] || (r->x_open >= 0 && r->x_open != d)) {
		snprintf(what, sizeof(what), "REVERSE_RANGES of disk %s: %s", x->disk,
			 d < 0 ? "not a disk of the failover's point" : "out of order");
		return rev_refuse(r, PROTO_ERR_PROTOCOL, what);
	}
	for (uint32_t i = 0; i < x->count; i++) {
		proto_range_get(x, i, &off, &len);
		if (off + len > r->p.disks[d].size) { /* the codec ruled out a wrap */
			snprintf(what, sizeof(what), "disk %s: range %llu+%llu past its end",
				 x->disk, (unsigned long long)off, (unsigned long long)len);
			return rev_refuse(r, PROTO_ERR_PROTOCOL, what);
		}
		if (range_set_add(r->x[d], off, len) < 0) {
			snprintf(what, sizeof(what), "disk %s: %s", x->disk,
				 errno == E2BIG ? "too many ranges" : "cannot keep its ranges");
			return rev_refuse(r, errno == E2BIG ? PROTO_ERR_PROTOCOL : PROTO_ERR_INTERNAL,
					  what);
		}
	}
	r->x_open = (x->flags & PROTO_FLAG_RANGES_MORE) ? d : -1;
	r->x_done[d] = !(x->flags & PROTO_FLAG_RANGES_MORE);
	if (x->flags & PROTO_FLAG_RANGES_END)
		return rev_x_end(r);
	return 0;
}

static char *
rev_meta(const struct rev *r, size_t *len)
{
	json_t *root = json_pack("{s:i, s:s, s:s, s:s?, s:I, s:s, s:b}", "version", 1,
				 "source", "reverse", "group", r->group,
				 "failover", json_string_value(json_object_get(r->marker, "failover")),
				 "failover_point", (json_int_t)r->p.id, "consistency",
				 consistency_name(r->st.consistency), "final", r->finish);
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (s)
		*len = strlen(s);
	return s;
}

static void
rev_send_commit(void *arg)
{
	struct rev *r = arg;
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };
	size_t len = 0;
	char *meta;

	r->st.consistency = snapshot_consistency(r->snap);
	meta = rev_meta(r, &len);
	m.u.commit.point_id = r->st.point_id;
	m.u.commit.meta = (const uint8_t *)meta;
	m.u.commit.meta_len = len;
	if (!meta || conn_send(r->conn, &m) < 0) {
		free(meta);
		rev_end(r, R_FAILED);
		return;
	}
	free(meta);
	r->state = R_WAIT_COMMIT;
}

static void
rev_send_failed(void *arg)
{
	rev_end(arg, R_FAILED);
}

/* Our last attempt's point is the target's newest, but the reverse source
 * is still at that attempt's base: the point's COMMITTED never came back
 * (the receiver went in between). What changed since that base covers
 * what the point holds (a stale checkpoint's bitmap merges into its
 * parent's), so the next point is that incremental, on the target's
 * newest, rather than W u X again. */
static void
rev_recover(struct rev *r, struct revsrc_in *in)
{
	uint64_t at = 0, k = r->prog.last_point;

	if (!r->last.known || k == 0 || r->last.point != k ||
	    failback_revsrc_committed(in, &at) != 1 || at != r->last.base || at == k)
		return;
	log_info("failback: group %s: reverse point %llu was committed on-prem, its answer was "
		 "lost: the next point goes on it, with what changed since point %llu", r->group,
		 (unsigned long long)k, (unsigned long long)at);
	in->base_point = at;
	r->recovered = k;
}

/* The reverse snapshot (libvirt checkpoints and backup jobs, qemu-img map
 * for W): seconds of blocking work, on a worker when the receiver has a
 * pool, so the other sessions' frames go on meanwhile. Touches only what
 * the loop leaves alone until rev_snap_done. */
static void
rev_snap_run(void *arg)
{
	struct rev *r = arg;
	const struct proto_progress *p = &r->prog;
	struct snap_libvirt_ceph ceph = { r->cfg->ceph_conf, r->cfg->ceph_client, NULL };
	struct revsrc_in in = { r->cfg->store_dir, r->group, r->marker, &r->p, r->x,
				p->last_point, r->cfg->store_ceph ? &ceph : NULL, r->store };
	bool incr = false, resume;

	r->snap_rc = -1;
	if (attempt_take(r->sdir, &r->last) < 0)
		return;
	rev_recover(r, &in);
	if (!(r->snap = failback_revsrc_begin(&in, &incr)))
		return;
	r->st.incremental = incr;
	r->st.base_id = incr ? p->last_point : 0;
	r->st.point_id = attempt_point_id(p->last_point, p->pending_point, p->pending_base,
					  r->st.base_id, snapshot_resumable(r->snap), &r->last,
					  &resume);
	if (attempt_record(r->sdir, r->st.point_id, r->st.base_id) == 0)
		r->snap_rc = 0;
}

/* Back on the loop: POINT_BEGIN, or the agent told why not. */
static int
rev_snap_finish(struct rev *r)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };

	if (r->snap_rc < 0) {
		/* The usual cause is on this side (a failed-over VM shut off). */
		(void)conn_send_error(r->conn, PROTO_ERR_CONFLICT,
				      "group %s: the reverse snapshot of the failed-over VMs could "
				      "not begin (are they running?): see the receiver's log",
				      r->group);
		r->state = R_FAILED;
		return -1;
	}
	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "%s", r->group);
	m.u.begin.point_id = r->st.point_id;
	m.u.begin.base_id = r->st.base_id;
	m.u.begin.time_ns = snapshot_time_ns(r->snap);
	m.u.begin.ndisks = (uint16_t)snapshot_ndisks(r->snap);
	for (size_t i = 0; i < m.u.begin.ndisks; i++) {
		snprintf(m.u.begin.disks[i].name, sizeof(m.u.begin.disks[i].name), "%s",
			 snapshot_disk_name(r->snap, i));
		m.u.begin.disks[i].size = snapshot_disk_size(r->snap, i);
	}
	log_info("failback: group %s: reverse point %llu (%s, base %llu)", r->group,
		 (unsigned long long)r->st.point_id,
		 r->st.incremental ? "incremental"
		 : r->full	   ? "full, into new on-prem disks"
				   : "W u X over the on-prem disks",
		 (unsigned long long)r->st.base_id);
	r->t0_ns = clock_now_ns();
	r->state = R_BEGIN;
	if (conn_send(r->conn, &m) < 0) {
		rev_end(r, R_FAILED);
		return -1;
	}
	return 0;
}

static void rev_free(struct rev *r);

/* A job is back on the loop: 0 go on, -1 the handler was freed (the
 * connection went while the worker ran). */
static int
rev_job_back(struct rev *r, int cancelled)
{
	r->snap_job = false;
	if (r->gone) {
		rev_free(r);
		return -1;
	}
	if (cancelled)
		r->snap_rc = -1;
	return 0;
}

static void
rev_snap_done(void *arg, int cancelled)
{
	struct rev *r = arg;

	if (rev_job_back(r, cancelled) < 0)
		return;
	if (r->state == R_QUERY)
		(void)rev_snap_finish(r);
}

/* The target's progress: the snapshot (on a worker), then POINT_BEGIN. */
static int
rev_on_progress(struct rev *r, const struct proto_progress *p)
{
	if (strcmp(p->group, r->group) != 0 ||
	    snprintf(r->sdir, sizeof(r->sdir), "%s/%s/reverse", r->cfg->store_dir, r->group) >=
		    (int)sizeof(r->sdir))
		return -1;
	r->prog = *p;
	if (r->pool && workpool_submit(r->pool, rev_snap_run, rev_snap_done, r) == 0) {
		r->snap_job = true;
		return 0;
	}
	rev_snap_run(r); /* no pool, or its queue is full: here */
	return rev_snap_finish(r);
}

/* The target began the point: what of it is durable, then the sender. */
static int
rev_on_begin_ack(struct rev *r, const struct proto_progress *p)
{
	uint64_t resume_off[PROTO_MAX_DISKS] = { 0 };
	struct sender_cfg sc = {
		.group = r->group, .ch = r->ch, .snap = r->snap, .compress_level = REV_COMPRESS,
		.resume_off = resume_off, .st = &r->st, .on_sent = rev_send_commit,
		.on_fail = rev_send_failed, .arg = r,
	};

	if (p->pending_point != r->st.point_id || p->ndisks != snapshot_ndisks(r->snap)) {
		log_error("failback: group %s: the target did not open point %llu as asked",
			  r->group, (unsigned long long)r->st.point_id);
		return -1;
	}
	for (size_t i = 0; i < p->ndisks; i++) {
		if (strcmp(p->disks[i].name, snapshot_disk_name(r->snap, i)) != 0)
			return -1;
		resume_off[i] = p->disks[i].done ? UINT64_MAX : p->disks[i].durable_offset;
		r->st.resumed |= resume_off[i] != 0;
	}
	if (!(r->snd = sender_new(&sc)))
		return -1;
	r->state = R_SENDING;
	sender_pump(r->snd);
	/* The point begun on-prem, its extents streaming: the moment
	 * test-failback kills the receiver at. */
	testhook_at("failback-sending");
	return 0;
}

static int rev_finish_promote(struct rev *r);

static int
rev_committed(struct rev *r, const struct proto_committed *c)
{
	if (c->point_id != r->st.point_id)
		return -1;
	testhook_at("failback-committed"); /* on-prem committed, our source not yet */
	if (snapshot_commit(r->snap, c->point_id) < 0)
		return -1;
	log_info("failback: group %s: reverse point %llu committed on-prem: %llu bytes data, "
		 "%llu zero, %llu skipped, %llu on the wire, %.2f s", r->group,
		 (unsigned long long)c->point_id, (unsigned long long)r->st.bytes_data,
		 (unsigned long long)r->st.bytes_zero, (unsigned long long)r->st.bytes_skipped,
		 (unsigned long long)r->st.bytes_wire, (double)(clock_now_ns() - r->t0_ns) / 1e9);
	if (r->recovered) /* counted late: its bytes were never known here */
		(void)failback_revstat_rx(r->cfg->store_dir, r->group, r->marker, r->recovered,
					  snapshot_time_ns(r->snap), 0);
	(void)failback_revstat_rx(r->cfg->store_dir, r->group, r->marker, c->point_id,
				  snapshot_time_ns(r->snap), r->st.bytes_data);
	if (r->finish)
		return rev_finish_promote(r);
	rev_end(r, R_DONE);
	return 0;
}

static int
rev_step(void *arg, const struct proto_msg *msg)
{
	struct rev *r = arg;
	struct proto_msg q = { .type = PROTO_PROGRESS_QUERY };
	int rc = -1;

	if (channel_refused(r->ch, msg)) {
		rev_end(r, R_FAILED);
		return -1;
	}
	if (r->state == R_HELLO && msg->type == PROTO_HELLO) {
		snprintf(q.u.pquery.group, sizeof(q.u.pquery.group), "%s", r->group);
		r->state = R_QUERY;
		rc = channel_hello_ok(msg) < 0 ? -1 : conn_send(r->conn, &q);
	} else if (r->state == R_QUERY && msg->type == PROTO_PROGRESS && !r->snap_job) {
		if (rev_on_progress(r, &msg->u.progress) < 0)
			return -1; /* the agent was told */
		rc = 0;
	} else if (r->state == R_BEGIN && msg->type == PROTO_PROGRESS) {
		rc = rev_on_begin_ack(r, &msg->u.progress);
	} else if (r->state == R_WAIT_COMMIT && msg->type == PROTO_COMMITTED) {
		rc = rev_committed(r, &msg->u.committed);
	} else {
		r->state = R_FAILED;
		sender_halt(r->snd);
		return channel_unexpected(r->ch, msg);
	}
	if (rc < 0)
		rev_end(r, R_FAILED);
	return rc < 0 ? -1 : 0;
}

static void
rev_drain(void *arg)
{
	struct rev *r = arg;

	if (r->state == R_SENDING)
		sender_pump(r->snd);
}

static void
rev_closed(void *arg, const char *reason)
{
	struct rev *r = arg;

	sender_halt(r->snd);
	if (r->state != R_DONE)
		log_error("failback: group %s: reverse stream to agent %s ended: %s", r->group,
			  r->peer, reason);
	if (r->state != R_DONE)
		r->state = R_FAILED;
}

static void
rev_tick(void *arg)
{
	struct rev *r = arg;

	if (r->state != R_DONE && r->state != R_FAILED && channel_idle(r->ch))
		rev_end(r, R_FAILED);
}

static const struct channel_cbs rev_cbs = {
	.on_msg = rev_step, .on_drain = rev_drain, .on_close = rev_closed, .on_tick = rev_tick,
};

/* ---- the session's side (session_reverse_ops) ---- */

static int
rev_on_msg(void *h, const struct proto_msg *m)
{
	struct rev *r = h;

	if (r->state == R_FAILED || r->state == R_DONE)
		return -1;
	if (r->ch)
		return channel_deliver(r->ch, m);
	if (r->state != R_X)
		return rev_refuse(r, PROTO_ERR_PROTOCOL,
				  "a message while the failback finish works: wait for its answer");
	if (m->type == PROTO_REVERSE_RANGES)
		return rev_on_ranges(r, &m->u.rranges);
	if (m->type == PROTO_REVERSE_FINISH)
		return rev_refuse(r, PROTO_ERR_PROTOCOL,
				  "REVERSE_FINISH inside a reverse stream: a failback finish opens "
				  "its own connection");
	return rev_refuse(r, PROTO_ERR_PROTOCOL, "expected REVERSE_RANGES");
}

static void
rev_on_drain(void *h)
{
	struct rev *r = h;

	if (r->ch)
		channel_drained(r->ch);
}

static void
rev_free(struct rev *r)
{
	sender_free(r->snd);
	snapshot_free(r->snap); /* not committed: the reverse source keeps its base */
	/* A finish that did not get to F: no paused qemu is left behind; the
	 * next finish shuts down (nothing runs) and starts them again. */
	if (r->paused)
		(void)finish_dr_stop(r->marker, r->group);
	channel_free(r->ch);
	for (size_t i = 0; i < PROTO_MAX_DISKS; i++)
		range_set_free(r->x[i]);
	json_decref(r->marker);
	free(r);
}

static void
rev_on_close(void *h, const char *reason)
{
	struct rev *r = h;

	if (r->ch)
		channel_closed(r->ch, reason);
	if (r->snap_job) /* the job's done callback frees it */
		r->gone = true;
	else
		rev_free(r);
}

static const struct session_reverse_ops rev_ops = {
	.on_msg = rev_on_msg, .on_drain = rev_on_drain, .on_close = rev_on_close,
};

/* The failover's point and the marker; X's sets. 0 / -1 with why. */
static int
rev_prepare(struct rev *r, char *why, size_t whycap)
{
	struct store_point_info *pts = NULL;
	json_t *pt;
	bool absent = false;
	size_t n = 0;
	int ret = -1;

	r->marker = failover_marker_load(r->cfg->store_dir, r->group, &absent);
	pt = json_object_get(r->marker, "point");
	if (!json_is_integer(pt)) {
		snprintf(why, whycap, "the group's failover marker is %s", absent ? "gone" : "unreadable");
		return -1;
	}
	if (store_list_points(r->store, r->group, &pts, &n) < 0) {
		snprintf(why, whycap, "cannot read the group's catalog");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (pts[i].id == (uint64_t)json_integer_value(pt))
			store_point_copy(&r->p, r->p_disks, &pts[i]);
	if (r->p.id == 0) {
		snprintf(why, whycap, "the failover's point %lld is not in the catalog",
			 (long long)json_integer_value(pt));
		goto out;
	}
	for (size_t i = 0; i < r->p.ndisks; i++) {
		r->x[i] = range_set_new(r->p.disks[i].name, range_set_max_for(r->p.disks[i].size));
		/* New on-prem disks hold nothing: X is the whole disk, so the
		 * first point lists P's data too and the holes as zeros. */
		if (!r->x[i] || (r->full && range_set_add(r->x[i], 0, r->p.disks[i].size) < 0)) {
			snprintf(why, whycap, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	free(pts);
	return ret;
}

/* PROGRESS naming P: the agent's X is what its disks changed since. */
static int
rev_send_p(struct rev *r)
{
	struct proto_msg m = { .type = PROTO_PROGRESS };

	snprintf(m.u.progress.group, sizeof(m.u.progress.group), "%s", r->group);
	m.u.progress.last_point = r->p.id;
	return conn_send(r->conn, &m);
}

/* ---- failback finish (REVERSE_FINISH): jobs on the pool ---- */

/* run on a worker, done back on the loop (both here without a pool). */
static void
rev_submit(struct rev *r, workpool_fn run, workpool_done done)
{
	if (r->pool && workpool_submit(r->pool, run, done, r) == 0) {
		r->snap_job = true;
		return;
	}
	run(r);
	done(r, 0);
}

static int
rev_send_done(struct rev *r, uint32_t flags)
{
	struct proto_msg m = { .type = PROTO_REVERSE_DONE };

	m.u.rdone.flags = flags;
	snprintf(m.u.rdone.group, sizeof(m.u.rdone.group), "%s", r->group);
	m.u.rdone.point = r->fp.point;
	m.u.rdone.base = r->fp.base;
	m.u.rdone.bytes = r->fp.bytes;
	return conn_send(r->conn, &m);
}

static void
rev_quiesce_run(void *arg)
{
	struct rev *r = arg;

	r->snap_rc = finish_dr_quiesce(r->marker, r->group, r->shutdown_s, r->why,
				       sizeof(r->why));
	r->paused = r->snap_rc == 0;
}

/* The VMs are off and held paused: P, then X and the final point as for
 * a REVERSE_BEGIN. */
static void
rev_quiesce_done(void *arg, int cancelled)
{
	struct rev *r = arg;

	if (rev_job_back(r, cancelled) < 0)
		return;
	if (r->snap_rc < 0) {
		(void)rev_refuse(r, PROTO_ERR_CONFLICT,
				 r->why[0] ? r->why : "the failed-over VMs could not be shut down");
		return;
	}
	testhook_at("finish-quiesced"); /* the VMs off and held paused, no final point yet */
	r->state = R_X;
	if (rev_send_p(r) < 0)
		(void)rev_refuse(r, PROTO_ERR_INTERNAL, "cannot answer");
}

static void
rev_promote_run(void *arg)
{
	struct rev *r = arg;

	r->snap_rc = finish_dr_promote(r->store, r->cfg->store_dir, r->group, &r->fp);
	if (r->snap_rc == 0)
		r->paused = false; /* stopped before the promotion */
}

static void
rev_promote_done(void *arg, int cancelled)
{
	struct rev *r = arg;

	if (rev_job_back(r, cancelled) < 0)
		return;
	if (r->snap_rc < 0) {
		(void)conn_send_error(r->conn, PROTO_ERR_STORE,
				      "group %s: the final reverse point is on-prem, but point F "
				      "could not be made: see the receiver's log, then run failback "
				      "finish again", r->group);
		r->state = R_FAILED;
		return;
	}
	log_info("failback: group %s: point %llu (base %llu, %llu bytes of its own) holds the "
		 "failed-over VMs' final disks; the failover stays until the agent's release",
		 r->group, (unsigned long long)r->fp.point, (unsigned long long)r->fp.base,
		 (unsigned long long)r->fp.bytes);
	rev_end(r, rev_send_done(r, 0) < 0 ? R_FAILED : R_DONE);
}

/* The final reverse point is committed on-prem: F, then REVERSE_DONE. */
static int
rev_finish_promote(struct rev *r)
{
	r->state = R_PROMOTE;
	rev_submit(r, rev_promote_run, rev_promote_done);
	return 0;
}

static void
rev_release_run(void *arg)
{
	struct rev *r = arg;

	r->snap_rc = finish_dr_release(r->cfg->store_dir, r->group, r->marker);
}

static void
rev_release_done(void *arg, int cancelled)
{
	struct rev *r = arg;

	if (rev_job_back(r, cancelled) < 0)
		return;
	if (r->snap_rc < 0) {
		(void)rev_refuse(r, PROTO_ERR_STORE, "the failover could not be released: see "
				 "the receiver's log, then run failback finish again");
		return;
	}
	log_info("failback: group %s: failover released after the agent verified point %llu "
		 "on-prem", r->group, (unsigned long long)r->fp.point);
	r->state = R_DONE;
	if (rev_send_done(r, PROTO_FLAG_DONE_RELEASED) == 0)
		conn_close(r->conn);
}

/* REVERSE_FINISH with RELEASE of point f: the failover's F released, or
 * told it was (a re-run). 0 / -1 with why. */
static int
rev_release(struct rev *r, uint64_t f, char *why, size_t whycap)
{
	bool absent = false;
	int k;

	r->marker = failover_marker_load(r->cfg->store_dir, r->group, &absent);
	if (!r->marker) {
		if (!absent) {
			snprintf(why, whycap, "the group's failover marker is unreadable");
			return -1;
		}
		if ((k = finish_dr_promoted(r->store, r->group, f, &r->fp)) <= 0) {
			snprintf(why, whycap, k < 0 ? "cannot read the group's catalog"
				 : "group %s is not failed over and point %llu is not a failback's "
				 "point: nothing to release", r->group, (unsigned long long)f);
			return -1;
		}
		log_info("failback: group %s: released already (point %llu)", r->group,
			 (unsigned long long)f);
		r->state = R_DONE;
		if (rev_send_done(r, PROTO_FLAG_DONE_RELEASED) < 0)
			return -1;
		conn_close(r->conn);
		return 0;
	}
	if (finish_dr_made(r->store, r->marker, r->cfg->store_dir, r->group, &r->fp) != 1 ||
	    r->fp.point != f) {
		snprintf(why, whycap, "point %llu does not hold this failover's final disks (failback "
			 "finish makes that point first)", (unsigned long long)f);
		return -1;
	}
	r->state = R_RELEASE;
	rev_submit(r, rev_release_run, rev_release_done);
	return 0;
}

/* REVERSE_FINISH: F at once when it is made, else the VMs shut down (a
 * job), then P. 0 / -1 with why. */
static int
rev_finish(struct rev *r, char *why, size_t whycap)
{
	int k;

	if (!finish_dr_has_reverse(r->cfg->store_dir, r->group, r->marker, r->cfg->store_ceph)) {
		snprintf(why, whycap, "no reverse replication of it ran yet: run nestor failback "
			 "start first (the finish sends only the last changes)");
		return -1;
	}
	if ((k = finish_dr_made(r->store, r->marker, r->cfg->store_dir, r->group, &r->fp)) < 0) {
		snprintf(why, whycap, "cannot read the group's catalog");
		return -1;
	}
	if (k == 1) { /* a re-run after F was made: the same answer */
		log_info("failback: group %s: point %llu was made already", r->group,
			 (unsigned long long)r->fp.point);
		r->state = R_DONE;
		if (rev_send_done(r, 0) < 0)
			return -1;
		conn_close(r->conn);
		return 0;
	}
	log_info("failback: group %s: agent %s finishes the failback: the failed-over VMs are "
		 "shut down (at most %u s, then destroyed)", r->group, r->peer, r->shutdown_s);
	r->state = R_QUIESCE;
	rev_submit(r, rev_quiesce_run, rev_quiesce_done);
	return 0;
}

void *
failback_reverse_serve(void *arg, const struct session_reverse_req *req,
		       const struct session_reverse_ops **ops, char *why, size_t whycap)
{
	const struct proto_reverse_finish *fin = req->finish;
	struct rev *r = NULL;

	(void)arg;
	if (!fin && !(req->flags & (PROTO_FLAG_REVERSE_RANGES | PROTO_FLAG_REVERSE_FULL))) {
		snprintf(why, whycap, "no change list of the on-prem disks (REVERSE_RANGES): the "
			 "hash-compare mode is not built yet");
		goto fail;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		snprintf(why, whycap, "out of memory");
		goto fail;
	}
	*r = (struct rev){ .cfg = req->cfg, .store = req->store, .conn = req->conn,
			   .base = req->base, .pool = req->pool, .x_open = -1,
			   .finish = fin != NULL, .shutdown_s = fin ? fin->shutdown_s : 0,
			   .full = !fin && (req->flags & PROTO_FLAG_REVERSE_FULL) };
	snprintf(r->group, sizeof(r->group), "%s", req->group);
	snprintf(r->peer, sizeof(r->peer), "%s", req->peer);
	*ops = &rev_ops;
	if (fin && (fin->flags & PROTO_FLAG_FINISH_RELEASE)) {
		if (rev_release(r, fin->point, why, whycap) < 0)
			goto fail;
		return r;
	}
	if (rev_prepare(r, why, whycap) < 0)
		goto fail;
	if (fin) {
		if (rev_finish(r, why, whycap) < 0)
			goto fail;
		return r;
	}
	if (rev_send_p(r) < 0) {
		snprintf(why, whycap, "cannot answer");
		goto fail;
	}
	log_info("failback: group %s: agent %s asks for the failed-over VMs (failover at point "
		 "%llu)%s", r->group, r->peer, (unsigned long long)r->p.id,
		 r->full ? " into new on-prem disks: a first point is a full copy" : "");
	return r;
fail:
	log_error("failback: group %s: %s for agent %s refused: %s", req->group,
		  fin ? "failback finish" : "reverse replication", req->peer, why);
	if (r)
		rev_free(r);
	return NULL;
}
