/* The receiver's session state machine (session.h): hello -> query/begin ->
 * extents -> disk done -> commit, writing into the replica store. Every
 * extent is checked (range, checksum) before a byte of it is written. */
#include "replicator/receiver/session-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "replicator/config.h"
#include "common/workpool.h"
#include "replicator/receiver/beginjob.h"
#include "replicator/receiver/extentjob.h"
#include "replicator/receiver/hashjob.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/owner.h"
#include "replicator/receiver/planned.h"
#include "replicator/receiver/repairjob.h"
#include "replicator/receiver/retention.h"
#include "replicator/receiver/rxmetrics.h"
#include "replicator/receiver/spacemsg.h"
#include "replicator/receiver/store.h"

/* The store speaks its own limits; they must be the wire's. */
_Static_assert(STORE_NAME_MAX == PROTO_NAME_MAX, "store and wire name limits differ");
_Static_assert(STORE_MAX_DISKS == PROTO_MAX_DISKS, "store and wire disk counts differ");
_Static_assert(STORE_MAX_DISK_SIZE == PROTO_MAX_DISK_SIZE, "store and wire disk sizes differ");
_Static_assert(STORE_MAX_META == PROTO_MAX_META, "store and wire metadata sizes differ");
_Static_assert(STORE_MAX_HASHES == PROTO_MAX_HASHES, "store and wire hash counts differ");
_Static_assert(STORE_MAX_WRITE == PROTO_MAX_EXTENT, "store queue and wire extents differ");

struct session_env *
session_env_new(const struct receiver_config *cfg, struct store *store,
		struct rxmetrics *metrics)
{
	struct session_env *env = calloc(1, sizeof(*env));

	if (!env)
		goto fail;
	env->cfg = cfg;
	env->store = store;
	env->metrics = metrics;
	env->plain = malloc(PROTO_MAX_EXTENT);
	env->zd = zdecomp_new();
	if (!env->plain || !env->zd)
		goto fail;
	return env;
fail:
	log_error("receiver: out of memory");
	session_env_free(env);
	return NULL;
}

void
session_env_set_pool(struct session_env *env, struct workpool *pool)
{
	/* Extent jobs, four per worker: enough to keep every worker busy
	 * with one running and three waiting, and a bound on the memory of
	 * all extents in flight. Kept for a later pool: jobs may be out. */
	if (pool && !env->xcache && !(env->xcache = extentcache_new(4 * workpool_workers(pool))))
		pool = NULL; /* logged; extents run inline */
	env->pool = pool;
}

void
session_env_free(struct session_env *env)
{
	if (!env)
		return;
	extentcache_free(env->xcache);
	zdecomp_free(env->zd);
	free(env->plain);
	free(env);
}

const char *
session_peer(const struct session *s)
{
	return s->io->peer_name(s->io_arg);
}

void
session_error(struct session *s, uint32_t code, const char *fmt, ...)
{
	char text[PROTO_TEXT_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	s->io->send_error(s->io_arg, code, text);
}

/* The pool's queue is full: refuse rather than block the loop; the agent
 * retries later, as it does when a connection cap refuses it. */
int
session_busy(struct session *s)
{
	log_warn("agent %s: work queue full (work_queue_max %llu): request refused",
		 session_peer(s), (unsigned long long)s->env->cfg->work_queue_max);
	session_error(s, PROTO_ERR_CONFLICT, "receiver busy: retry later");
	return -1;
}

static int
group_busy(const struct session *self, const char *group)
{
	const struct session *s;

	for (s = self->env->sessions; s; s = s->next) {
		if (s != self &&
		    (s->state == S_POINT || s->state == S_REPAIR || s->bjob || s->pjob) &&
		    strcmp(s->group, group) == 0)
			return 1;
	}
	return 0;
}

int
session_check_group(struct session *s, const char *group)
{
	const char *peer = session_peer(s);

	if (!name_valid(group, strlen(group))) {
		log_error("peer %s: invalid group name refused", peer);
		session_error(s, PROTO_ERR_PROTOCOL, "invalid group name");
		return -1;
	}
	if (!receiver_config_allows(s->env->cfg, peer, group)) {
		log_error("peer %s: not authorised for group %s", peer, group);
		session_error(s, PROTO_ERR_AUTH,
				"not authorised for group %s", group);
		return -1;
	}
	return 0;
}

static int
on_hello(struct session *s, const struct proto_hello *h)
{
	if (h->version_min > PROTO_VERSION || h->version_max < PROTO_VERSION) {
		session_error(s, PROTO_ERR_PROTOCOL,
				"protocol versions %u..%u not supported (need %u)",
				h->version_min, h->version_max, PROTO_VERSION);
		return -1;
	}
	log_info("agent %s connected (%s)", session_peer(s), h->peer);
	s->state = S_READY;
	return 0;
}

uint32_t
session_store_err(int err)
{
	switch (err) {
	case STORE_ERR_INVALID: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_SEQUENCE: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_FUTURE: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_PAST: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_IO: return PROTO_ERR_STORE;
	case STORE_ERR_CONFLICT: return PROTO_ERR_CONFLICT;
	case STORE_ERR_NOTFOUND: return PROTO_ERR_NOTFOUND;
	default: return PROTO_ERR_INTERNAL;
	}
}

static int
send_progress(struct session *s, const char *group, uint32_t flags)
{
	struct proto_msg m = { .type = PROTO_PROGRESS };
	struct proto_progress *p = &m.u.progress;
	struct store_progress *sp = malloc(sizeof(*sp));

	if (!sp || store_progress(s->env->store, group, sp) < 0) {
		free(sp);
		session_error(s, PROTO_ERR_STORE, "cannot read catalog of %s",
				group);
		return -1;
	}
	snprintf(p->group, sizeof(p->group), "%s", sp->group);
	p->flags = flags;
	p->last_point = sp->last_point;
	p->pending_point = sp->pending_point;
	p->pending_base = sp->pending_base;
	p->ndisks = (uint16_t)sp->ndisks;
	for (size_t i = 0; i < sp->ndisks; i++) {
		snprintf(p->disks[i].name, sizeof(p->disks[i].name), "%s", sp->disks[i].name);
		p->disks[i].durable_offset = sp->disks[i].durable_offset;
		p->disks[i].done = sp->disks[i].done;
	}
	free(sp);
	return s->io->send(s->io_arg, &m);
}

static int
on_progress_query(struct session *s, const struct proto_progress_query *q)
{
	enum planned_answer a;

	if (session_check_group(s, q->group) < 0)
		return -1;
	/* Said before the agent begins a snapshot: one begun and then refused
	 * would already have changed the on-prem disks' tracking state. */
	if (failover_group_is_failed_over(s->env->cfg->store_dir, q->group))
		return send_progress(s, q->group, PROTO_FLAG_PROGRESS_FAILED_OVER);
	a = planned_on_query(s->env->cfg->store_dir, q->group, session_peer(s));
	if (a == PLANNED_ANSWER_PLANNED)
		snprintf(s->planned, sizeof(s->planned), "%s", q->group);
	return send_progress(s, q->group, a == PLANNED_ANSWER_PLANNED ? PROTO_FLAG_PROGRESS_PLANNED
					  : a == PLANNED_ANSWER_ABANDONED ? PROTO_FLAG_PROGRESS_ABANDONED
									  : 0);
}

/* The loop's half of a begin, after the store's (beginjob): the point is
 * the session's, or the peer is told why not. */
static int
begin_finish(struct session *s, struct beginjob *j)
{
	const struct store_begin *b = beginjob_request(j);
	const char *why;
	uint32_t code;
	int err, rc = beginjob_take(j, &s->point, &s->limits, &code, &why, &err);

	if (rc == 1) {
		session_error(s, code, "point %llu of group %s refused: %s",
			      (unsigned long long)b->point_id, b->group, why);
		return -1;
	}
	if (rc < 0) {
		session_error(s, session_store_err(err), "cannot begin point %llu of group %s: %s",
			      (unsigned long long)b->point_id, b->group, store_strerror(err));
		return -1;
	}
	/* A group without an owner record is its first agent's, once a
	 * begin of it went through (a refused one leaves nothing behind). */
	if (s->adopt_owner &&
	    owner_save(s->env->cfg->store_dir, b->group, session_peer(s)) == 0)
		log_info("group %s: agent %s recorded as its owner", b->group, session_peer(s));
	s->adopt_owner = false;
	/* An ordinary point: its agent resumed after an abandoned planned
	 * failover (it heard the flag), so the record has done its work. */
	if (!s->final)
		planned_on_point(s->env->cfg->store_dir, b->group, session_peer(s));
	snprintf(s->group, sizeof(s->group), "%s", b->group);
	s->point_id = b->point_id;
	s->ndisks = (uint16_t)b->ndisks;
	for (uint16_t i = 0; i < s->ndisks; i++) {
		s->disk_size[i] = b->disks[i].size;
		s->disk_done[i] = store_point_disk_was_done(s->point, i) ? DISK_DONE_BEFORE : 0;
	}
	s->since_checkpoint = 0;
	s->bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->begun);
	s->state = S_POINT;
	log_info("group %s: receiving point %llu (base %llu, %zu disks)", b->group,
		 (unsigned long long)b->point_id, (unsigned long long)b->base_id,
		 b->ndisks);
	/* Tell the agent what is really durable now: the store may have had to
	 * start the point over, and the agent must not skip anything then. */
	return send_progress(s, b->group, 0);
}

static void
begin_done(void *arg, int cancelled)
{
	struct beginjob *j = arg;
	struct session *s = beginjob_owner(j);

	if (s) {
		s->bjob = NULL;
		s->group[0] = '\0';
		if (cancelled)
			session_error(s, PROTO_ERR_INTERNAL, "the receiver is stopping");
		else if (begin_finish(s, j) == 0)
			s->io->resume(s->io_arg);
	}
	beginjob_free(j);
}

/* A POINT_BEGIN of a group that another session still writes waits for
 * that session to end, at most GROUP_WAIT_MS, checking every
 * GROUP_WAIT_POLL_MS: an agent that restarts after a crash (or a kill -9)
 * finds its old connection still draining what the dead process had sent,
 * megabytes of socket buffers written at the store's pace. Refused with
 * CONFLICT after that, as at once before. Only the group's owner gets
 * here (the owner check comes first), so no other agent parks on it. */
#define GROUP_WAIT_MS 10000u
#define GROUP_WAIT_POLL_MS 20u

static void
group_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	s->gwaiting = false;
	s->io->resume(s->io_arg); /* the BEGIN is given again */
}

/* 2: the BEGIN waits (given again when the timer fires); -1: refused. */
static int
group_wait(struct session *s, const char *group)
{
	static const struct timeval poll = { 0, GROUP_WAIT_POLL_MS * 1000 };
	struct event_base *base = s->io->base ? s->io->base(s->io_arg) : NULL;
	uint64_t now = clock_mono_ns();

	if (!s->gwait_deadline_ns) {
		s->gwait_deadline_ns = now + GROUP_WAIT_MS * 1000000ull;
		if (base && s->io->resume)
			log_info("agent %s: group %s: its begin waits for the session still writing "
				 "the group (at most %u s)", session_peer(s), group,
				 GROUP_WAIT_MS / 1000);
	}
	if (base && s->io->resume && now < s->gwait_deadline_ns &&
	    (s->gwait_ev || (s->gwait_ev = evtimer_new(base, group_wait_cb, s))) &&
	    evtimer_add(s->gwait_ev, &poll) == 0) {
		s->gwaiting = true;
		return 2;
	}
	session_error(s, PROTO_ERR_CONFLICT, "group %s is being written by another session",
		      group);
	return -1;
}

static int
on_point_begin(struct session *s, const struct proto_point_begin *b)
{
	struct session_env *env = s->env;
	struct beginjob *j;
	enum owner_verdict own;
	char why[PROTO_TEXT_MAX + 1];
	int rc;

	if (session_check_group(s, b->group) < 0)
		return -1;
	for (uint16_t i = 0; i < b->ndisks; i++) {
		if (!name_valid(b->disks[i].name, strlen(b->disks[i].name))) {
			log_error("group %s: invalid disk name refused", b->group);
			session_error(s, PROTO_ERR_PROTOCOL, "invalid disk name");
			return -1;
		}
	}
	if (failover_group_is_failed_over(env->cfg->store_dir, b->group)) {
		log_warn("group %s is failed over: point refused", b->group);
		session_error(s, PROTO_ERR_CONFLICT, "group %s is failed over", b->group);
		return -1;
	}
	if (owner_check(env->cfg->store_dir, b->group, session_peer(s), &own, why,
			sizeof(why)) < 0) {
		session_error(s, PROTO_ERR_CONFLICT, "%s", why);
		return -1;
	}
	if (group_busy(s, b->group))
		return group_wait(s, b->group);
	s->gwait_deadline_ns = 0;
	if (b->flags & PROTO_FLAG_BEGIN_REPAIR) { /* an old point: no history, no adoption */
		snprintf(s->group, sizeof(s->group), "%s", b->group);
		s->point_id = b->point_id;
		return session_repair_begin(s, b);
	}
	s->adopt_owner = own == OWNER_ADOPT;
	s->final = (b->flags & PROTO_FLAG_BEGIN_FINAL) != 0;
	/* The limits' usage figure and the store's begin (catalog, lock,
	 * image files) run on a worker; the group counts as busy meanwhile. */
	j = beginjob_new(env->cfg, env->store, b, s);
	if (!j) {
		session_error(s, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (!env->pool) {
		beginjob_run(j);
		rc = begin_finish(s, j);
		beginjob_free(j);
		return rc;
	}
	if (workpool_submit(env->pool, beginjob_run, begin_done, j) < 0) {
		beginjob_free(j);
		return session_busy(s);
	}
	snprintf(s->group, sizeof(s->group), "%s", b->group);
	s->bjob = j;
	return 1;
}

/* Retention after a commit, on a worker once COMMITTED is sent (issue 17:
 * the acknowledgement never waits for a merge). It takes the group lock
 * itself (ours is released); the store counts it as the group's
 * background work, so the agent's next BEGIN waits for it in
 * store_point_begin instead of failing on the lock. The session does not
 * wait for it. */
struct retjob {
	const struct receiver_config *cfg;
	struct store *store;
	char group[PROTO_NAME_MAX + 1];
	uint64_t point_id;
};

static void
retjob_run(void *arg)
{
	struct retjob *j = arg;

	retention_after_commit(j->cfg, j->store, j->group);
}

int
session_send_committed(struct session *s, uint64_t point_id)
{
	struct proto_msg m = { .type = PROTO_COMMITTED };

	m.u.committed.point_id = point_id;
	return s->io->send(s->io_arg, &m);
}

static void
retjob_done(void *arg, int cancelled)
{
	struct retjob *j = arg;

	store_background_leave(j->store, j->group);
	/* Said once per point: what tests (and operators) wait for, now that
	 * COMMITTED no longer means retention is done. */
	if (!cancelled) /* else retried after the next point; the commit stands */
		log_info("group %s: retention after point %llu done", j->group,
			 (unsigned long long)j->point_id);
	free(j);
}

static int
session_retain(struct session *s, uint64_t point_id)
{
	struct retjob *j = NULL;

	if (session_send_committed(s, point_id) < 0)
		return -1;
	if (!s->env->pool) {
		retention_after_commit(s->env->cfg, s->env->store, s->group);
		return 0;
	}
	if (!(j = calloc(1, sizeof(*j))) || store_background_enter(s->env->store, s->group) < 0) {
		free(j);
		log_warn("group %s: out of memory: retention deferred to the next point",
			 s->group);
		return 0;
	}
	*j = (struct retjob){ s->env->cfg, s->env->store, "", point_id };
	snprintf(j->group, sizeof(j->group), "%s", s->group);
	if (workpool_submit(s->env->pool, retjob_run, retjob_done, j) < 0) {
		store_background_leave(j->store, j->group);
		free(j);
		/* Retention is retried after the next point; the commit stands. */
		log_warn("group %s: work queue full: retention deferred to the next point",
			 s->group);
	}
	return 0;
}

static int
on_commit(struct session *s, const struct proto_point_commit *c)
{
	struct proto_msg m = { .type = PROTO_COMMITTED };
	int err = STORE_ERR_INTERNAL;

	if (c->point_id != s->point_id) {
		session_error(s, PROTO_ERR_PROTOCOL, "commit of point %llu, expected %llu",
				(unsigned long long)c->point_id,
				(unsigned long long)s->point_id);
		return -1;
	}
	if (store_point_commit(s->point, c->meta, c->meta_len, &err) < 0) {
		char full[512];

		/* A full store at commit (metadata, catalog) says so like a full
		 * store at a write does: where, and how much is free. */
		session_error(s, session_store_err(err), "commit of point %llu failed%s",
			      (unsigned long long)c->point_id,
			      spacemsg_full(s->env->cfg, s->env->store, s->group, errno,
					    s->disk_size, s->ndisks, full, sizeof(full)));
		return -1;
	}
	store_point_free(s->point);
	s->point = NULL;
	s->state = S_COMMITTED;
	if (s->env->metrics) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		rxmetrics_point_committed(s->env->metrics, s->group, s->bytes,
					(double)(now.tv_sec - s->begun.tv_sec) +
					(double)(now.tv_nsec - s->begun.tv_nsec) / 1e9);
	}
	log_info("group %s: point %llu committed", s->group,
		 (unsigned long long)c->point_id);
	if (s->final)
		planned_on_final(s->env->cfg->store_dir, s->group, session_peer(s), c->point_id);
	if (receiver_config_retention(s->env->cfg, s->group))
		return session_retain(s, c->point_id);
	m.u.committed.point_id = c->point_id;
	return s->io->send(s->io_arg, &m);
}

/* Send a finished query's answer, or tell the peer why there is none. */
static int
hash_answer(struct session *s, const struct hashjob *j)
{
	const struct proto_hash_query *q = hashjob_query(j);
	struct proto_msg m;
	int err;

	if (hashjob_answer(j, &m, &err) < 0) {
		session_error(s, session_store_err(err),
			      err == STORE_ERR_NOTFOUND ? "no point %llu in group %s"
							: "no hashes of point %llu of group %s",
			      (unsigned long long)q->point_id, q->group);
		return -1;
	}
	return s->io->send(s->io_arg, &m);
}

/* On the loop thread, once the worker is done: the session (if still
 * there) answers and takes messages again. */
static void
hash_done(void *arg, int cancelled)
{
	struct hashjob *j = arg;
	struct session *s = hashjob_owner(j);

	if (s) {
		s->job = NULL;
		if (cancelled)
			session_error(s, PROTO_ERR_INTERNAL, "the receiver is stopping");
		else if (hash_answer(s, j) == 0)
			s->io->resume(s->io_arg);
	}
	hashjob_free(j);
}

static int
on_hash_query(struct session *s, const struct proto_hash_query *q)
{
	struct session_env *env = s->env;
	struct hashjob *j;
	int rc;

	if (session_check_group(s, q->group) < 0)
		return -1;
	if (!name_valid(q->disk, strlen(q->disk))) {
		session_error(s, PROTO_ERR_PROTOCOL, "invalid disk name");
		return -1;
	}
	/* A point that is not committed (never was, or retention removed it)
	 * has no hashes: an empty answer would read as "all zeros" and make a
	 * resync send everything against data that is not there. A disk the
	 * point lacks has none either (it reads as zeros). One catalog load
	 * tells them apart; the work is bounded by max_hash_bytes_per_query,
	 * a longer query gets a partial answer. It runs on a worker: reading
	 * and hashing take tens of milliseconds that the other sessions'
	 * frames must not wait for (issue 12, section 3). */
	j = hashjob_new(env->store, q, env->cfg->max_hash_bytes, s);
	if (!j) {
		session_error(s, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (!env->pool) {
		hashjob_run(j);
		rc = hash_answer(s, j);
		hashjob_free(j);
		return rc;
	}
	if (workpool_submit(env->pool, hashjob_run, hash_done, j) < 0) {
		hashjob_free(j);
		return session_busy(s);
	}
	s->job = j;
	return 1;
}

int
session_on_msg(struct session *s, const struct proto_msg *msg)
{
	int rc;

	if (s->job || s->bjob || s->pjob || s->xwait || s->gwaiting) {
		/* The caller must hold our input until io->resume. */
		log_error("agent %s: message while a job runs", session_peer(s));
		session_error(s, PROTO_ERR_INTERNAL, "internal error: out of order");
		return -1;
	}
	if (s->state == S_REVERSE && msg->type != PROTO_ERROR)
		return session_reverse_msg(s, msg);
	if ((rc = session_extents_wait(s, msg)) != 0)
		return rc;
	if (msg->type == PROTO_ERROR) {
		log_error("agent %s reported error %u: %s", session_peer(s),
			  msg->u.error.code, msg->u.error.text);
		if (s->planned[0]) /* its reason for not shutting down */
			planned_on_error(s->env->cfg->store_dir, s->planned, session_peer(s),
					 msg->u.error.text);
		s->io->close(s->io_arg);
		return -1;
	}
	if (s->state == S_HELLO) {
		if (msg->type != PROTO_HELLO)
			goto bad;
		return on_hello(s, &msg->u.hello);
	}
	switch (msg->type) {
	case PROTO_REPAIR_QUERY:
		if (s->state == S_POINT || s->state == S_REPAIR)
			goto bad;
		return session_repair_query(s, &msg->u.rquery);
	case PROTO_PROGRESS_QUERY:
		if (s->state == S_POINT || s->state == S_REPAIR)
			goto bad;
		return on_progress_query(s, &msg->u.pquery);
	case PROTO_POINT_BEGIN:
		if (s->state == S_POINT || s->state == S_REPAIR)
			goto bad;
		return on_point_begin(s, &msg->u.begin);
	case PROTO_EXTENT:
		if (s->state == S_REPAIR)
			return session_repair_msg(s, msg);
		if (s->state != S_POINT)
			goto bad;
		return session_on_extent(s, &msg->u.extent);
	case PROTO_DISK_DONE:
		if (s->state != S_POINT)
			goto bad;
		return session_on_disk_done(s, &msg->u.done);
	case PROTO_POINT_COMMIT:
		if (s->state == S_REPAIR)
			return session_repair_msg(s, msg);
		if (s->state != S_POINT)
			goto bad;
		return on_commit(s, &msg->u.commit);
	case PROTO_HASH_QUERY:
		/* Also during a point: a resync compares with its base. */
		return on_hash_query(s, &msg->u.hquery);
	case PROTO_REVERSE_BEGIN:
		if (s->state == S_POINT || s->state == S_REPAIR)
			goto bad;
		return session_reverse_begin(s, &msg->u.rbegin);
	case PROTO_REVERSE_FINISH:
		return session_reverse_msg(s, msg);
	default:
		break;
	}
bad:
	log_error("agent %s: unexpected message type %u", session_peer(s), msg->type);
	session_error(s, PROTO_ERR_PROTOCOL, "unexpected message type %u", msg->type);
	return -1;
}

void
session_on_ready(struct session *s)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "nestor-receiver");
	(void)s->io->send(s->io_arg, &m);
}

void
session_on_drain(struct session *s)
{
	if (s->state == S_REVERSE && s->rev)
		s->rev_ops->on_drain(s->rev);
}

void
session_on_close(struct session *s, const char *reason)
{
	session_reverse_end(s, reason);
	if (s->state == S_POINT)
		rxmetrics_session_failed(s->env->metrics, s->group, s->bytes);
	if (s->state != S_COMMITTED && s->state != S_READY && s->state != S_REVERSE)
		log_warn("agent %s: connection closed: %s", session_peer(s), reason);
	else
		log_debug("agent %s: connection closed: %s", session_peer(s), reason);
}

struct session *
session_new(struct session_env *env, const struct session_io *io, void *io_arg)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		log_error("out of memory accepting a connection");
		return NULL;
	}
	s->env = env;
	s->io = io;
	s->io_arg = io_arg;
	s->next = env->sessions;
	env->sessions = s;
	return s;
}

static void
session_unlink(struct session *s)
{
	struct session **pp;

	for (pp = &s->env->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
}

void
session_free(struct session *s)
{
	int err = 0;

	if (!s)
		return;
	session_reverse_end(s, "session freed");
	session_extents_abort(s); /* not written: not made durable either */
	if (s->point) {
		/* Keep whatever arrived durable, so the agent resumes from here. */
		if (s->state == S_POINT)
			(void)store_point_checkpoint(s->point, &err);
		store_point_free(s->point);
	}
	if (s->job)
		hashjob_disown(s->job); /* its done callback frees it */
	if (s->bjob)
		beginjob_disown(s->bjob);
	repair_free(s->repair);
	if (s->pjob)
		repairjob_disown(s->pjob); /* its done callback frees it */
	if (s->gwait_ev)
		event_free(s->gwait_ev);
	session_unlink(s);
	free(s);
}
