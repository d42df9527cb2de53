/* The session's side of reverse replication (failback, issue 14): the
 * checks of a REVERSE_BEGIN or a REVERSE_FINISH and the hand-off of the
 * connection to the handler the receiver's owner installed
 * (session_env_set_reverse), whose messages the session passes on from
 * then on. */
#include "replicator/receiver/session-int.h"

#include <string.h>

#include "common/log.h"
#include "proto/codec.h"
#include "replicator/config.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/owner.h"

void
session_env_set_reverse(struct session_env *env, session_reverse_fn fn, void *arg)
{
	env->reverse = fn;
	env->reverse_arg = arg;
}

bool
session_reverse_busy(const struct session *self, const char *group)
{
	for (const struct session *s = self->env->sessions; s; s = s->next)
		if (s != self && s->state == S_REVERSE && strcmp(s->group, group) == 0)
			return true;
	return false;
}

/* Everything that must hold before the connection is handed over; the
 * peer is told which did not. 0 / -1. */
static int
reverse_allowed(struct session *s, const char *group, bool release)
{
	const struct session_env *env = s->env;
	enum owner_verdict own;
	char why[PROTO_TEXT_MAX + 1];

	if (session_check_group(s, group) < 0)
		return -1;
	/* The same owner rule as a forward point: only the group's agent may
	 * take its failed-over VMs' disks. */
	if (owner_check(env->cfg->store_dir, group, session_peer(s), &own, why,
			sizeof(why)) < 0) {
		log_error("agent %s: reverse replication of group %s refused: %s",
			  session_peer(s), group, why);
		session_error(s, PROTO_ERR_CONFLICT, "%s", why);
		return -1;
	}
	/* A release asked again after it was done finds no marker: the
	 * handler tells it from a group never failed over. */
	if (!release && !failover_group_is_failed_over(env->cfg->store_dir, group)) {
		log_error("agent %s: reverse replication of group %s refused: not failed over",
			  session_peer(s), group);
		session_error(s, PROTO_ERR_CONFLICT,
			      "group %s is not failed over: there is nothing to send back",
			      group);
		return -1;
	}
	if (session_reverse_busy(s, group)) {
		session_error(s, PROTO_ERR_CONFLICT,
			      "group %s: another reverse replication or failback finish of it is "
			      "running", group);
		return -1;
	}
	if (!env->reverse || !s->io->conn || !s->io->base) {
		log_error("agent %s: reverse replication of group %s refused: not served here",
			  session_peer(s), group);
		session_error(s, PROTO_ERR_CONFLICT,
			      "this receiver does not serve reverse replication");
		return -1;
	}
	return 0;
}

/* Hand the connection to the handler for req. 0 / -1 (the agent told). */
static int
reverse_hand_over(struct session *s, struct session_reverse_req *req)
{
	struct session_env *env = s->env;
	char why[PROTO_TEXT_MAX + 1] = "";
	void *h;

	req->peer = session_peer(s);
	req->cfg = env->cfg;
	req->store = env->store;
	req->pool = env->pool;
	req->conn = s->io->conn(s->io_arg);
	req->base = s->io->base(s->io_arg);
	h = env->reverse(env->reverse_arg, req, &s->rev_ops, why, sizeof(why));
	if (!h) {
		session_error(s, PROTO_ERR_CONFLICT, "group %s: %s refused: %s", req->group,
			      req->finish ? "failback finish" : "reverse replication",
			      why[0] ? why : "see the receiver's log");
		return -1;
	}
	snprintf(s->group, sizeof(s->group), "%s", req->group);
	s->rev = h;
	s->state = S_REVERSE;
	log_info("agent %s: %s of group %s begins", session_peer(s),
		 req->finish ? "failback finish" : "reverse replication", req->group);
	return 0;
}

int
session_reverse_begin(struct session *s, const struct proto_reverse_begin *b)
{
	struct session_reverse_req req = { .group = b->group, .flags = b->flags };

	if (reverse_allowed(s, b->group, false) < 0)
		return -1;
	return reverse_hand_over(s, &req);
}

/* REVERSE_FINISH: the same checks as a REVERSE_BEGIN (a release also once
 * the failover is gone), then the same hand-off. */
static int
session_reverse_finish(struct session *s, const struct proto_reverse_finish *f)
{
	struct session_reverse_req req = { .group = f->group, .finish = f };

	if (reverse_allowed(s, f->group, (f->flags & PROTO_FLAG_FINISH_RELEASE) != 0) < 0)
		return -1;
	return reverse_hand_over(s, &req);
}

int
session_reverse_msg(struct session *s, const struct proto_msg *msg)
{
	if (msg->type == PROTO_REVERSE_FINISH && s->state != S_REVERSE)
		return session_reverse_finish(s, &msg->u.rfinish);
	return s->rev_ops->on_msg(s->rev, msg);
}

void
session_reverse_end(struct session *s, const char *reason)
{
	void *h = s->rev;

	if (!h)
		return;
	s->rev = NULL;
	s->rev_ops->on_close(h, reason);
}
