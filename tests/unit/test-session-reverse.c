/* Unit tests of the session's side of reverse replication (failback, issue
 * 14): who may hand a connection to the reverse handler, and what the
 * session passes on once it did. A fake handler records its calls. */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "proto/codec.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/owner.h"
#include "replicator/receiver/session.h"
#include "fakepeer.h"
#include "sessenv.h"
#include "tmpdir.h"

/* The fake handler. */
struct fake {
	int created, msgs, drains, closes;
	int last_type;
	char group[PROTO_NAME_MAX + 1];
	uint32_t flags;
	int finish;         /* the request was a REVERSE_FINISH */
	uint32_t finish_flags, shutdown_s;
	uint64_t finish_point;
	const char *refuse; /* non-NULL: refuse with it */
};

static char root[64];
static struct receiver_config *cfg;
static struct store *st;
static struct session_env *env;
static struct fake fk;
static int fake_conn, fake_base; /* their addresses stand for the transport */

static void
setup(void)
{
	sessenv_up(root, sizeof(root), "nestor-sessrev",
		   "[client agent1]\ngroups = g1 g2\n\n[client agent2]\ngroups = g2\n", &cfg,
		   &st, &env);
	memset(&fk, 0, sizeof(fk));
}

static void
teardown(void)
{
	sessenv_down(root, cfg, st, env);
}

TestSuite(session_reverse, .init = setup, .fini = teardown, .timeout = 60);

static struct conn *
io_conn(void *arg)
{
	(void)arg;
	return (struct conn *)&fake_conn;
}

static struct event_base *
io_base(void *arg)
{
	(void)arg;
	return (struct event_base *)&fake_base;
}

static const struct session_io io = {
	.send = fakepeer_send, .send_error = fakepeer_send_error, .close = fakepeer_close,
	.peer_name = fakepeer_name, .conn = io_conn, .base = io_base,
};

static int
fake_msg(void *h, const struct proto_msg *m)
{
	struct fake *f = h;

	f->msgs++;
	f->last_type = m->type;
	return 0;
}

static void
fake_drain(void *h)
{
	((struct fake *)h)->drains++;
}

static void
fake_close(void *h, const char *reason)
{
	(void)reason;
	((struct fake *)h)->closes++;
}

static const struct session_reverse_ops fake_ops = { fake_msg, fake_drain, fake_close };

static void *
fake_serve(void *arg, const struct session_reverse_req *req,
	   const struct session_reverse_ops **ops, char *why, size_t whycap)
{
	struct fake *f = arg;

	cr_assert_eq(req->conn, (struct conn *)&fake_conn);
	cr_assert_eq(req->base, (struct event_base *)&fake_base);
	cr_assert_eq(req->store, st);
	cr_assert_str_eq(req->peer, "agent1");
	f->created++;
	snprintf(f->group, sizeof(f->group), "%s", req->group);
	f->flags = req->flags;
	f->finish = req->finish != NULL;
	if (req->finish) {
		f->finish_flags = req->finish->flags;
		f->shutdown_s = req->finish->shutdown_s;
		f->finish_point = req->finish->point;
	}
	if (f->refuse) {
		snprintf(why, whycap, "%s", f->refuse);
		return NULL;
	}
	*ops = &fake_ops;
	return f;
}

static struct session *
connect_as(struct fakepeer *p, const char *name, const struct session_io *sio)
{
	return fakepeer_connect(env, sio, p, name);
}

static int
rbegin(struct session *s, const char *group)
{
	struct proto_msg m = { .type = PROTO_REVERSE_BEGIN };

	m.u.rbegin.flags = PROTO_FLAG_REVERSE_RANGES;
	snprintf(m.u.rbegin.group, sizeof(m.u.rbegin.group), "%s", group);
	return session_on_msg(s, &m);
}

static void
fail_over(const char *group)
{
	char *dir = NULL;
	json_t *m = json_pack("{s:i, s:s, s:I}", "version", 1, "group", group, "point", 1);

	cr_assert(asprintf(&dir, "%s/%s", root, group) > 0);
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
	cr_assert_eq(failover_marker_save(root, group, m), 0);
	json_decref(m);
	free(dir);
}

Test(session_reverse, refused_without_a_failover)
{
	struct fakepeer p;
	struct session *s;

	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rbegin(s, "g1"), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(p.err_text, "not failed over"), "%s", p.err_text);
	cr_assert_eq(fk.created, 0);
	fakepeer_end(s);
}

Test(session_reverse, refused_to_an_agent_not_authorised)
{
	struct fakepeer p;
	struct session *s;

	fail_over("g1");
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent2", &io); /* g2 only */
	cr_assert_eq(rbegin(s, "g1"), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_AUTH);
	cr_assert_eq(fk.created, 0);
	fakepeer_end(s);
}

Test(session_reverse, refused_to_an_agent_not_owning_the_group)
{
	struct fakepeer p;
	struct session *s;

	fail_over("g2");
	cr_assert_eq(owner_save(root, "g2", "agent1"), 0);
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent2", &io); /* authorised for g2, not its owner */
	cr_assert_eq(rbegin(s, "g2"), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(p.err_text, "agent1"), "%s", p.err_text);
	cr_assert_eq(fk.created, 0);
	fakepeer_end(s);
}

Test(session_reverse, refused_where_not_served)
{
	struct fakepeer p;
	struct session *s;

	fail_over("g1");
	s = connect_as(&p, "agent1", &io); /* no handler installed */
	cr_assert_eq(rbegin(s, "g1"), -1);
	cr_assert(strstr(p.err_text, "does not serve reverse"), "%s", p.err_text);
	fakepeer_end(s);
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &fakepeer_io); /* no transport to hand over */
	cr_assert_eq(rbegin(s, "g1"), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_CONFLICT);
	cr_assert_eq(fk.created, 0);
	fakepeer_end(s);
}

Test(session_reverse, the_handler_refuses)
{
	struct fakepeer p;
	struct session *s;

	fail_over("g1");
	fk.refuse = "no VMs";
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rbegin(s, "g1"), -1);
	cr_assert_eq(fk.created, 1);
	cr_assert(strstr(p.err_text, "no VMs"), "%s", p.err_text);
	cr_assert_eq(fk.closes, 0);
	fakepeer_end(s);
}

static int
rfinish(struct session *s, const char *group, uint64_t release)
{
	struct proto_msg m = { .type = PROTO_REVERSE_FINISH };

	snprintf(m.u.rfinish.group, sizeof(m.u.rfinish.group), "%s", group);
	if (release) {
		m.u.rfinish.flags = PROTO_FLAG_FINISH_RELEASE;
		m.u.rfinish.point = release;
	} else {
		m.u.rfinish.shutdown_s = 42;
	}
	return session_on_msg(s, &m);
}

/* REVERSE_FINISH was refused "not served yet" while codec-only; failback
 * finish (issue 14) hands it to the handler after the REVERSE_BEGIN
 * checks. */
Test(session_reverse, finish_handed_over)
{
	struct fakepeer p, q;
	struct session *s, *s2;

	fail_over("g1");
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rfinish(s, "g1", 0), 0);
	cr_assert_eq(fk.created, 1);
	cr_assert_eq(fk.finish, 1);
	cr_assert_eq(fk.shutdown_s, 42);
	cr_assert_eq(fk.finish_flags, 0);
	cr_assert_str_eq(fk.group, "g1");
	/* Twice at once: the second finish (or a reverse stream) is refused. */
	s2 = connect_as(&q, "agent1", &io);
	cr_assert_eq(rfinish(s2, "g1", 0), -1);
	cr_assert_eq(q.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(q.err_text, "failback finish of it is running"), "%s", q.err_text);
	fakepeer_end(s2);
	cr_assert_eq(fk.created, 1);
	fakepeer_end(s);
	cr_assert_eq(fk.closes, 1);
}

Test(session_reverse, finish_refused_like_begin)
{
	struct fakepeer p;
	struct session *s;

	session_env_set_reverse(env, fake_serve, &fk);
	/* Not failed over. */
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rfinish(s, "g1", 0), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(p.err_text, "not failed over"), "%s", p.err_text);
	fakepeer_end(s);
	/* Another agent's group. */
	fail_over("g1");
	s = connect_as(&p, "agent2", &io);
	cr_assert_eq(rfinish(s, "g1", 0), -1);
	cr_assert_eq(p.err_code, PROTO_ERR_AUTH);
	fakepeer_end(s);
	cr_assert_eq(fk.created, 0);
}

/* A release asked again once done finds no marker: the handler, not the
 * session, tells that from a group never failed over. */
Test(session_reverse, release_reaches_the_handler_without_marker)
{
	struct fakepeer p;
	struct session *s;

	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rfinish(s, "g1", 7), 0);
	cr_assert_eq(fk.created, 1);
	cr_assert_eq(fk.finish_flags, PROTO_FLAG_FINISH_RELEASE);
	cr_assert_eq(fk.finish_point, 7);
	fakepeer_end(s);
}

Test(session_reverse, handed_over_then_passed_on)
{
	struct proto_msg m = { .type = PROTO_PROGRESS };
	struct fakepeer p, q;
	struct session *s, *s2;

	fail_over("g1");
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rbegin(s, "g1"), 0);
	cr_assert_eq(fk.created, 1);
	cr_assert_str_eq(fk.group, "g1");
	cr_assert_eq(fk.flags, PROTO_FLAG_REVERSE_RANGES);
	cr_assert_eq(p.closed, 0);
	/* Anything now goes to the handler, even frames a forward session
	 * would refuse here. */
	snprintf(m.u.progress.group, sizeof(m.u.progress.group), "g1");
	cr_assert_eq(session_on_msg(s, &m), 0);
	cr_assert_eq(fk.msgs, 1);
	cr_assert_eq(fk.last_type, PROTO_PROGRESS);
	session_on_drain(s);
	cr_assert_eq(fk.drains, 1);
	/* One reverse stream per group. */
	s2 = connect_as(&q, "agent1", &io);
	cr_assert_eq(rbegin(s2, "g1"), -1);
	cr_assert(strstr(q.err_text, "another reverse"), "%s", q.err_text);
	fakepeer_end(s2);
	/* The close reaches the handler once. */
	session_on_close(s, "peer gone");
	cr_assert_eq(fk.closes, 1);
	session_free(s);
	cr_assert_eq(fk.closes, 1);
}

Test(session_reverse, freed_without_a_close)
{
	struct fakepeer p;
	struct session *s;

	fail_over("g1");
	session_env_set_reverse(env, fake_serve, &fk);
	s = connect_as(&p, "agent1", &io);
	cr_assert_eq(rbegin(s, "g1"), 0);
	session_free(s);
	cr_assert_eq(fk.closes, 1);
}
