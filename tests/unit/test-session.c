/* Unit tests of the receiver's session state machine (session.h) without a
 * socket: decoded messages in, a recording io out, a real local store
 * (qemu-img / qemu-nbd) in a scratch directory. */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "replicator/config.h"
#include "replicator/receiver/owner.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/planned.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"
#include "fakepeer.h"
#include "sessenv.h"
#include "tmpdir.h"

#define T0 1767225600000000000ull /* 2026-01-01 */

static char root[64];
static struct receiver_config *cfg;
static struct store *st;
static struct session_env *env;

static void
setup(void)
{
	sessenv_up(root, sizeof(root), "nestor-session",
		   "[client agent1]\ngroups = g1 g2\n\n[client agent2]\ngroups = g2\n", &cfg,
		   &st, &env);
}

static void
teardown(void)
{
	sessenv_down(root, cfg, st, env);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 60);

/* No worker pool here: the session runs its heavy steps inline and never
 * asks to be resumed. */
static struct session *
connect_as(struct fakepeer *p, const char *name)
{
	return fakepeer_connect(env, &fakepeer_io, p, name);
}

static int
begin(struct session *s, const char *group, uint64_t point)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };

	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "%s", group);
	m.u.begin.point_id = point;
	m.u.begin.time_ns = T0 + point;
	m.u.begin.ndisks = 1;
	snprintf(m.u.begin.disks[0].name, sizeof(m.u.begin.disks[0].name), "d0");
	m.u.begin.disks[0].size = 1 << 20;
	return session_on_msg(s, &m);
}

static int
extent(struct session *s, uint64_t off, const uint8_t *data, size_t len)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.kind = PROTO_KIND_DATA;
	m.u.extent.offset = off;
	m.u.extent.length = len;
	m.u.extent.checksum = hash64(data, len);
	m.u.extent.data = data;
	m.u.extent.data_len = len;
	return session_on_msg(s, &m);
}

static int
msg_disk(struct session *s, uint16_t type, uint64_t point)
{
	struct proto_msg m = { .type = type };

	if (type == PROTO_DISK_DONE)
		m.u.done.disk = 0;
	else
		m.u.commit.point_id = point;
	return session_on_msg(s, &m);
}

/* A PROGRESS_QUERY of group is refused with code and text. */
static void
assert_query_refused(struct session *s, struct fakepeer *p, const char *group, uint32_t code,
		     const char *text)
{
	struct proto_msg m = { .type = PROTO_PROGRESS_QUERY };

	snprintf(m.u.pquery.group, sizeof(m.u.pquery.group), "%s", group);
	cr_assert_eq(session_on_msg(s, &m), -1);
	cr_assert_eq(p->err_code, code);
	cr_assert_str_eq(p->err_text, text);
	fakepeer_end(s);
}

Test(session, message_before_hello_is_refused)
{
	struct fakepeer p = { .name = "agent1" };

	assert_query_refused(session_new(env, &fakepeer_io, &p), &p, "g1", PROTO_ERR_PROTOCOL,
			     "unexpected message type 16");
}

Test(session, group_of_another_peer_is_refused)
{
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent2");

	assert_query_refused(s, &p, "g1", PROTO_ERR_AUTH, "not authorised for group g1");
}

Test(session, cycle_commits_a_listed_point)
{
	static uint8_t data[65536];
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent1");

	memset(data, 0x5a, sizeof(data));
	cr_assert_eq(begin(s, "g1", 1), 0);
	cr_assert_eq(p.sent[p.nsent - 1], PROTO_PROGRESS);
	cr_assert_eq(extent(s, 0, data, sizeof(data)), 0);
	cr_assert_eq(msg_disk(s, PROTO_DISK_DONE, 0), 0);
	cr_assert_eq(msg_disk(s, PROTO_POINT_COMMIT, 1), 0);
	cr_assert_eq(p.committed, 1);
	cr_assert_eq(store_point_exists(st, "g1", 1), 1);
	cr_assert_eq(p.closed, 0);
	fakepeer_end(s);
}

/* A second connection of the group's own agent: with an event loop its
 * BEGIN waits for the first session to end (test-resume); this io has
 * none, so it is refused at once. Another agent is refused by the owner
 * check, which comes first, and so never waits on the group. */
Test(session, second_writer_of_a_group_is_refused)
{
	struct fakepeer a, b, c;
	struct session *sa = connect_as(&a, "agent1");
	struct session *sb = connect_as(&b, "agent1");
	struct session *sc = connect_as(&c, "agent2");

	cr_assert_eq(begin(sa, "g2", 1), 0);
	cr_assert_eq(begin(sb, "g2", 1), -1);
	cr_assert_eq(b.err_code, PROTO_ERR_CONFLICT);
	cr_assert_str_eq(b.err_text, "group g2 is being written by another session");
	cr_assert_eq(begin(sc, "g2", 1), -1);
	cr_assert_eq(c.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(c.err_text, "group g2 belongs to agent agent1") != NULL, "%s", c.err_text);
	fakepeer_end(sc);
	fakepeer_end(sb);
	cr_assert_eq(a.closed, 0);
	fakepeer_end(sa);
}

/* Issue 13, item 5: a group belongs to the agent whose point created it;
 * another authorised agent may query it but not write it until handed over. */
Test(session, another_agent_of_an_owned_group_is_refused)
{
	struct store_progress pr;
	struct proto_msg q = { .type = PROTO_PROGRESS_QUERY };
	struct fakepeer a, b;
	struct session *sa = connect_as(&a, "agent1");
	struct session *sb;

	cr_assert_eq(begin(sa, "g2", 1), 0);
	cr_assert_eq(msg_disk(sa, PROTO_DISK_DONE, 0), 0);
	cr_assert_eq(msg_disk(sa, PROTO_POINT_COMMIT, 1), 0);
	fakepeer_end(sa);
	sb = connect_as(&b, "agent2");
	snprintf(q.u.pquery.group, sizeof(q.u.pquery.group), "g2");
	cr_assert_eq(session_on_msg(sb, &q), 0, "queries stay allowed");
	cr_assert_eq(b.sent[b.nsent - 1], PROTO_PROGRESS);
	cr_assert_eq(begin(sb, "g2", 2), -1);
	cr_assert_eq(b.err_code, PROTO_ERR_CONFLICT);
	cr_assert_str_eq(b.err_text, "group g2 belongs to agent agent1; hand it over with "
			 "`nestor group handover g2 agent2` on the receiver");
	fakepeer_end(sb);
	cr_assert_eq(store_progress(st, "g2", &pr), 0);
	cr_assert_eq(pr.pending_point, 0, "nothing was begun for the refused agent");
	cr_assert_eq(owner_save(root, "g2", "agent2"), 0); /* nestor group handover */
	sb = connect_as(&b, "agent2");
	cr_assert_eq(begin(sb, "g2", 2), 0);
	fakepeer_end(sb);
	sa = connect_as(&a, "agent1");
	cr_assert_eq(begin(sa, "g2", 2), -1);
	cr_assert_str_eq(a.err_text, "group g2 belongs to agent agent2; hand it over with "
			 "`nestor group handover g2 agent1` on the receiver");
	fakepeer_end(sa);
}

/* A session that ends mid-point keeps what arrived: the next one resumes. */
Test(session, free_mid_point_keeps_progress)
{
	static uint8_t data[65536];
	struct store_progress pr;
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent1");

	memset(data, 0xa5, sizeof(data));
	cr_assert_eq(begin(s, "g1", 1), 0);
	cr_assert_eq(extent(s, 0, data, sizeof(data)), 0);
	fakepeer_end(s);
	cr_assert_eq(store_progress(st, "g1", &pr), 0);
	cr_assert_eq(pr.pending_point, 1);
	cr_assert_eq(pr.disks[0].durable_offset, sizeof(data));
}

/* Issue 14, item 5: a planned failover's request reaches the agent as the
 * PLANNED flag of its PROGRESS, and its FINAL point is recorded. */
static void
planned_query(struct session *s, const char *group)
{
	struct proto_msg q = { .type = PROTO_PROGRESS_QUERY };

	snprintf(q.u.pquery.group, sizeof(q.u.pquery.group), "%s", group);
	cr_assert_eq(session_on_msg(s, &q), 0);
}

Test(session, planned_request_flags_progress_and_final_point)
{
	static uint8_t data[4096];
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };
	struct planned pl;
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent1");
	char dir[128];

	planned_query(s, "g1");
	cr_assert_eq(p.progress_flags, 0, "no request: no flag");
	snprintf(dir, sizeof(dir), "%s/g1", root);
	cr_assert_eq(mkdir_p(dir, 0750), 0);
	cr_assert_eq(planned_request(root, "g1", 60000000000ull, &pl), 0);
	planned_query(s, "g1");
	cr_assert_eq(p.progress_flags, PROTO_FLAG_PROGRESS_PLANNED);
	cr_assert_eq(planned_load(root, "g1", &pl), 0);
	cr_assert_eq(pl.state, PLANNED_ACKNOWLEDGED);
	cr_assert_str_eq(pl.agent, "agent1");

	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "g1");
	m.u.begin.flags = PROTO_FLAG_BEGIN_FINAL;
	m.u.begin.point_id = 1;
	m.u.begin.time_ns = T0 + 1;
	m.u.begin.ndisks = 1;
	snprintf(m.u.begin.disks[0].name, sizeof(m.u.begin.disks[0].name), "d0");
	m.u.begin.disks[0].size = 1 << 20;
	cr_assert_eq(session_on_msg(s, &m), 0);
	cr_assert_eq(p.progress_flags, 0, "a begin's answer never carries the flag");
	memset(data, 0x11, sizeof(data));
	cr_assert_eq(extent(s, 0, data, sizeof(data)), 0);
	cr_assert_eq(msg_disk(s, PROTO_DISK_DONE, 0), 0);
	cr_assert_eq(planned_load(root, "g1", &pl), 0);
	cr_assert_eq(pl.state, PLANNED_ACKNOWLEDGED, "final only once committed");
	cr_assert_eq(msg_disk(s, PROTO_POINT_COMMIT, 1), 0);
	cr_assert_eq(p.committed, 1);
	cr_assert_eq(planned_load(root, "g1", &pl), 0);
	cr_assert_eq(pl.state, PLANNED_FINAL);
	cr_assert_eq(pl.point, 1);
	fakepeer_end(s);
}

Test(session, planned_refusal_recorded_from_agent_error)
{
	struct proto_msg e = { .type = PROTO_ERROR };
	struct planned pl;
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent1");
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/g1", root);
	cr_assert_eq(mkdir_p(dir, 0750), 0);
	cr_assert_eq(planned_request(root, "g1", 60000000000ull, &pl), 0);
	planned_query(s, "g1");
	cr_assert_eq(p.progress_flags, PROTO_FLAG_PROGRESS_PLANNED);
	e.u.error.code = PROTO_ERR_CONFLICT;
	snprintf(e.u.error.text, sizeof(e.u.error.text), "VM web still running");
	cr_assert_eq(session_on_msg(s, &e), -1);
	cr_assert_eq(planned_load(root, "g1", &pl), 0);
	cr_assert_eq(pl.state, PLANNED_REFUSED);
	cr_assert_str_eq(pl.reason, "VM web still running");
	fakepeer_end(s);
}

/* Issue 14: a failed-over group's PROGRESS says so, so that the agent
 * begins no snapshot (the on-prem disks stay as of the failover); it wins
 * over a planned request, which has nothing left to switch. */
static void
failed_over_with_request(const char *group, struct planned *pl)
{
	json_t *m = json_pack("{s:I}", "point", (json_int_t)1);
	char *dir = NULL;

	cr_assert_neq(asprintf(&dir, "%s/%s", root, group), -1);
	cr_assert_eq(mkdir_p(dir, 0750), 0);
	cr_assert_eq(planned_request(root, group, 60000000000ull, pl), 0);
	cr_assert_eq(failover_marker_save(root, group, m), 0);
	json_decref(m);
	free(dir);
}

Test(session, failed_over_flags_progress)
{
	struct planned pl;
	struct fakepeer p;
	struct session *s = connect_as(&p, "agent1");

	failed_over_with_request("g1", &pl);
	planned_query(s, "g1");
	cr_assert_eq(p.progress_flags, PROTO_FLAG_PROGRESS_FAILED_OVER);
	cr_assert_eq(planned_load(root, "g1", &pl), 0);
	cr_assert_eq(pl.state, PLANNED_REQUESTED, "a failed-over group's request is not acted on");
	planned_query(s, "g2");
	cr_assert_eq(p.progress_flags, 0, "only the failed-over group is flagged");
	cr_assert_eq(failover_marker_remove(root, "g1"), 0);
	planned_query(s, "g1");
	cr_assert_eq(p.progress_flags, PROTO_FLAG_PROGRESS_PLANNED, "released: back to normal");
	fakepeer_end(s);
}
