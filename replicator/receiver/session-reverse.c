/* The session's side of reverse replication (failback, issue 14): the
 * checks of a REVERSE_BEGIN and the hand-off of the connection to the
 * handler the receiver's owner installed (session_env_set_reverse), whose
 * messages the session passes on from then on. */
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
reverse_allowed(struct session *s, const struct proto_reverse_begin *b)
{
	const struct session_env *env = s->env;
	enum owner_verdict own;
	char why[PROTO_TEXT_MAX + 1];

	if (session_check_group(s, b->group) < 0)
		return -1;
	/* The same owner rule as a forward point: only the group's agent may
	 * take its failed-over VMs' disks. */
	if (owner_check(env->cfg->store_dir, b->group, session_peer(s), &own, why,
			sizeof(why)) < 0) {
		log_error("agent %s: reverse replication of group %s refused: %s",
			  session_peer(s), b->group, why);
		session_error(s, PROTO_ERR_CONFLICT, "%s", why);
		return -1;
	}
	if (!failover_group_is_failed_over(env->cfg->store_dir, b->group)) {
		log_error("agent %s: reverse replication of group %s refused: not failed over",
			  session_peer(s), b->group);
		session_error(s, PROTO_ERR_CONFLICT,
			      "group %s is not failed over: there is nothing to send back",
			      b->group);
		return -1;
	}
	if (session_reverse_busy(s, b->group)) {
		session_error(s, PROTO_ERR_CONFLICT,
			      "group %s: another reverse replication of it is running", b->group);
		return -1;
	}
	if (!env->reverse || !s->io->conn || !s->io->base) {
		log_error("agent %s: reverse replication of group %s refused: not served here",
			  session_peer(s), b->group);
		session_error(s, PROTO_ERR_CONFLICT,
			      "this receiver does not serve reverse replication");
		return -1;
	}
	return 0;
}

int
session_reverse_begin(struct session *s, const struct proto_reverse_begin *b)
{
	struct session_env *env = s->env;
	struct session_reverse_req req = {
		.group = b->group, .peer = session_peer(s), .flags = b->flags,
		.cfg = env->cfg, .store = env->store, .pool = env->pool,
	};
	char why[PROTO_TEXT_MAX + 1] = "";
	void *h;

	if (reverse_allowed(s, b) < 0)
		return -1;
	req.conn = s->io->conn(s->io_arg);
	req.base = s->io->base(s->io_arg);
	h = env->reverse(env->reverse_arg, &req, &s->rev_ops, why, sizeof(why));
	if (!h) {
		session_error(s, PROTO_ERR_CONFLICT, "group %s: reverse replication refused: %s",
			      b->group, why[0] ? why : "see the receiver's log");
		return -1;
	}
	snprintf(s->group, sizeof(s->group), "%s", b->group);
	s->rev = h;
	s->state = S_REVERSE;
	log_info("agent %s: reverse replication of group %s begins", session_peer(s), b->group);
	return 0;
}

int
session_reverse_msg(struct session *s, const struct proto_msg *msg)
{
	if (msg->type == PROTO_REVERSE_FINISH && s->state != S_REVERSE) {
		log_error("agent %s: REVERSE_FINISH of group %s refused: not served yet",
			  session_peer(s), msg->u.rfinish.group);
		session_error(s, PROTO_ERR_CONFLICT,
			      "failback finish (REVERSE_FINISH) is not served by this receiver yet");
		return -1;
	}
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
