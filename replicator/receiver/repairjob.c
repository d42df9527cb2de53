/* A repair's begin or commit on a worker (repairjob.h), and the session's
 * glue of a targeted repair (session-int.h). */
#include "replicator/receiver/repairjob.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/workpool.h"
#include "proto/codec.h"
#include "replicator/receiver/session-int.h"

struct repairjob {
	const struct receiver_config *cfg;
	struct store *st;
	struct proto_point_begin *b; /* a begin's request; NULL for a commit */
	struct repair *r;            /* the begun repair, or the one to commit */
	void *owner;
	int rc;
	struct repair_why why;
};

static struct repairjob *
job_new(void *owner)
{
	struct repairjob *j = calloc(1, sizeof(*j));

	if (!j)
		log_error("receiver: out of memory");
	else
		j->owner = owner;
	return j;
}

struct repairjob *
repairjob_begin(const struct receiver_config *cfg, struct store *st,
		const struct proto_point_begin *b, void *owner)
{
	struct repairjob *j = job_new(owner);

	if (j && !(j->b = malloc(sizeof(*j->b)))) {
		log_error("receiver: out of memory");
		free(j);
		return NULL;
	}
	if (j) {
		*j->b = *b;
		j->cfg = cfg;
		j->st = st;
	}
	return j;
}

struct repairjob *
repairjob_commit(struct repair *r, void *owner)
{
	struct repairjob *j = job_new(owner);

	if (!j)
		repair_free(r);
	else
		j->r = r;
	return j;
}

void
repairjob_run(void *job)
{
	struct repairjob *j = job;

	if (j->b)
		j->rc = repair_begin(j->cfg, j->st, j->b, &j->r, &j->why);
	else
		j->rc = repair_commit(j->r, &j->why) == 0 ? 1 : -1;
}

int
repairjob_take(struct repairjob *j, struct repair **out, struct repair_why *why)
{
	*out = NULL;
	if (j->rc < 0)
		*why = j->why;
	else if (j->rc == 0) {
		*out = j->r;
		j->r = NULL;
	}
	return j->rc;
}

void *
repairjob_owner(const struct repairjob *j)
{
	return j->owner;
}

void
repairjob_disown(struct repairjob *j)
{
	j->owner = NULL;
}

void
repairjob_free(struct repairjob *j)
{
	if (!j)
		return;
	repair_free(j->r);
	free(j->b);
	free(j);
}

/* The session's side of a targeted repair. */

/* The loop's half of a repair's begin or commit (repairjob). */
static int
repair_finish(struct session *s, struct repairjob *j)
{
	struct repair_why why;
	int rc = repairjob_take(j, &s->repair, &why);

	if (rc < 0) {
		session_error(s, why.code, "%s%s", s->state == S_REPAIR ? "" : "repair refused: ",
			      why.text);
		return -1;
	}
	s->state = rc == 0 ? S_REPAIR : S_COMMITTED;
	return rc == 0 ? 0 : session_send_committed(s, s->point_id);
}

static void
repair_done(void *arg, int cancelled)
{
	struct repairjob *j = arg;
	struct session *s = repairjob_owner(j);

	if (s) {
		s->pjob = NULL;
		if (cancelled)
			session_error(s, PROTO_ERR_INTERNAL, "the receiver is stopping");
		else if (repair_finish(s, j) == 0)
			s->io->resume(s->io_arg);
	}
	repairjob_free(j);
}

/* A targeted repair (repair.h): the same door as a point (group, owner,
 * limits), then extents that must each be one of the point's bad records,
 * written inline (one extent, <= 1 MiB, per message); its begin and commit
 * run on the pool like a point's begin (inline without one). */
static int
repair_submit(struct session *s, struct repairjob *j)
{
	int rc;

	if (!j) {
		session_error(s, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (!s->env->pool) {
		repairjob_run(j);
		rc = repair_finish(s, j);
		repairjob_free(j);
		return rc;
	}
	if (workpool_submit(s->env->pool, repairjob_run, repair_done, j) < 0) {
		repairjob_free(j);
		return session_busy(s);
	}
	s->pjob = j;
	return 1;
}

int
session_repair_msg(struct session *s, const struct proto_msg *msg)
{
	struct repair_why why;
	struct repairjob *j;

	if (msg->type == PROTO_EXTENT) {
		if (repair_extent(s->repair, &msg->u.extent, s->env->zd, s->env->plain, &why) == 0)
			return 0;
	} else if (msg->u.commit.point_id != s->point_id || msg->u.commit.meta_len != 0) {
		why.code = PROTO_ERR_PROTOCOL;
		snprintf(why.text, sizeof(why.text), "a repair commits its own point, no metadata");
	} else {
		j = repairjob_commit(s->repair, s);
		s->repair = NULL; /* the job's now */
		return repair_submit(s, j);
	}
	session_error(s, why.code, "%s", why.text);
	return -1;
}

int
session_repair_query(struct session *s, const struct proto_repair_query *q)
{
	struct repair_why why = { PROTO_ERR_INTERNAL, "out of memory" };
	uint8_t *buf = NULL;
	struct proto_msg m;
	int r = -1;

	if (session_check_group(s, q->group) < 0)
		return -1;
	buf = malloc((size_t)PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE);
	if (buf && repair_list(s->env->store, q, &m, buf, &why) == 0)
		r = s->io->send(s->io_arg, &m);
	else
		session_error(s, why.code, "%s", why.text);
	free(buf);
	return r;
}


int
session_repair_begin(struct session *s, const struct proto_point_begin *b)
{
	return repair_submit(s, repairjob_begin(s->env->cfg, s->env->store, b, s));
}
