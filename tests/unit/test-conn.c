/* Tests for proto/conn.c and proto/listener.c: TLS 1.3 mutual auth over
 * loopback with throwaway PKIs from deploy/nestor-pki.sh, frame delivery,
 * flow control and closing. Refusal of bad peers is in test-conn-refused.c.
 * Runs from the repository root. */
#include "tests/unit/conn-harness.h"

/* ---- tests: success paths ---------------------------------------------- */

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 60);

Test(conn, handshake_and_identity)
{
	connect_ok();
	cr_assert_eq(W.accepts, 1);
	cr_assert_str_eq(W.srv.peer, "agent1");
	cr_assert_str_eq(W.cli.peer, "receiver");
	cr_assert_str_eq(conn_peer_name(W.srv.c), "agent1");
	cr_assert_eq(W.srv.nmsg + W.cli.nmsg, 0);
	cr_assert_eq(W.srv.closed + W.cli.closed, 0);

	conn_close(W.cli.c);
	cr_assert(run_until(both_closed, RUN_S));
	cr_assert_str_eq(W.cli.reason, "closed locally");
	cr_assert(strstr(W.srv.reason, "peer closed"), "server reason: %s", W.srv.reason);
}

static int
count_fds(void)
{
	char p[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (access(p, F_OK) == 0)
			n++;
	}
	return n;
}

Test(conn, sockets_closed_after_close_and_refusal)
{
	int before = count_fds();
	SSL_CTX *ctx;

	connect_ok();
	conn_close(W.srv.c);
	cr_assert(run_until(both_closed, RUN_S));
	cr_assert_eq(count_fds(), before, "descriptors leaked after a clean close");

	memset(&W.srv, 0, sizeof(W.srv));
	memset(&W.cli, 0, sizeof(W.cli));
	ctx = ctx_for(false, "a", "a", "agent-old");
	dial(ctx, "receiver");
	cr_assert(run_until(both_closed, RUN_S));
	cr_assert_eq(W.cli.ready, 0);
	cr_assert_eq(count_fds(), before, "descriptors leaked after a refusal");
	SSL_CTX_free(ctx);
}

/* conn_free before the queued on_close ran: no callback, no use after free
 * (the ASan build checks the latter). */
Test(conn, free_before_close_is_delivered)
{
	connect_ok();
	conn_close(W.cli.c);
	conn_free(W.cli.c);
	W.cli.c = NULL;
	cr_assert(run_until(both_closed_srv, RUN_S));
	run_for(0.1);
	cr_assert_eq(W.cli.closed, 0, "on_close after conn_free");
}

static void
pause_now(struct side *s)
{
	conn_pause_read(s->c);
}

static bool cli_closed(void) { return W.cli.closed; }

/* A peer that stops reading cannot hold a closing conn for ever. */
Test(conn, close_gives_up_after_bounded_wait)
{
	double t0;

	W.srv.on_ready = pause_now;
	connect_ok();
	for (int i = 0; i < 48; i++)
		send_ok(W.cli.c, m_extent((uint64_t)i * PROTO_MAX_EXTENT, big, PROTO_MAX_EXTENT));
	run_for(0.3);
	cr_assert_gt(conn_out_pending(W.cli.c), 0, "the peer should have stopped reading");
	t0 = now_s();
	conn_close(W.cli.c);
	cr_assert(run_until(cli_closed, 10), "close never gave up");
	cr_assert_geq(now_s() - t0, 4.5);
	cr_assert(strstr(W.cli.reason, "not flushed"), "%s", W.cli.reason);
	cr_assert_eq(W.srv.nmsg, 0);
}

static int
check_frames(struct side *s, const struct proto_msg *m)
{
	const struct proto_extent *x = &m->u.extent;
	static const char meta[] = "<domain>vm1</domain>";

	switch (m->type) {
	case PROTO_HELLO:
		if (m->u.hello.caps != PROTO_CAP_ZSTD || strcmp(m->u.hello.peer, "agent1 test"))
			s->bad++;
		break;
	case PROTO_POINT_BEGIN:
		if (m->u.begin.point_id != 7 || m->u.begin.ndisks != 2 ||
		    strcmp(m->u.begin.disks[1].name, "vdb") || m->u.begin.disks[1].size != 1u << 30)
			s->bad++;
		break;
	case PROTO_EXTENT:
		if (x->kind == PROTO_KIND_DATA) {
			if (x->length != PROTO_MAX_EXTENT || x->data_len != PROTO_MAX_EXTENT ||
			    memcmp(x->data, big, PROTO_MAX_EXTENT) != 0 ||
			    x->checksum != XXH3_64bits(big, PROTO_MAX_EXTENT))
				s->bad++;
		} else if (x->kind != PROTO_KIND_ZERO || x->length != 65536) {
			s->bad++;
		}
		break;
	case PROTO_POINT_COMMIT:
		if (m->u.commit.point_id != 7 || m->u.commit.meta_len != sizeof(meta) ||
		    memcmp(m->u.commit.meta, meta, sizeof(meta)))
			s->bad++;
		/* Answer on the same connection. */
		send_ok(s->c, m_committed(7));
		break;
	default:
		break;
	}
	return 0;
}

static bool frames_done(void) { return W.srv.nmsg >= 7 && W.cli.nmsg >= 1; }

Test(conn, frames_of_several_types_in_order)
{
	static const char meta[] = "<domain>vm1</domain>";
	struct proto_msg m;

	W.srv.on_msg = check_frames;
	connect_ok();

	send_ok(W.cli.c, m_hello());
	m = (struct proto_msg){ .type = PROTO_PROGRESS_QUERY };
	snprintf(m.u.pquery.group, sizeof(m.u.pquery.group), "g1");
	send_ok(W.cli.c, m);
	m = (struct proto_msg){ .type = PROTO_POINT_BEGIN };
	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "g1");
	m.u.begin.point_id = 7;
	m.u.begin.ndisks = 2;
	snprintf(m.u.begin.disks[0].name, sizeof(m.u.begin.disks[0].name), "vda");
	m.u.begin.disks[0].size = 1u << 30;
	snprintf(m.u.begin.disks[1].name, sizeof(m.u.begin.disks[1].name), "vdb");
	m.u.begin.disks[1].size = 1u << 30;
	send_ok(W.cli.c, m);
	send_ok(W.cli.c, m_extent(0, big, PROTO_MAX_EXTENT));
	send_ok(W.cli.c, m_extent(PROTO_MAX_EXTENT, NULL, 65536));
	m = (struct proto_msg){ .type = PROTO_DISK_DONE };
	send_ok(W.cli.c, m);
	m = (struct proto_msg){ .type = PROTO_POINT_COMMIT };
	m.u.commit.point_id = 7;
	m.u.commit.meta = (const uint8_t *)meta;
	m.u.commit.meta_len = sizeof(meta);
	send_ok(W.cli.c, m);
	cr_assert_gt(conn_out_pending(W.cli.c), PROTO_MAX_EXTENT);

	cr_assert(run_until(frames_done, RUN_S), "srv got %d, cli got %d", W.srv.nmsg,
		  W.cli.nmsg);
	static const uint16_t want[] = { PROTO_HELLO, PROTO_PROGRESS_QUERY, PROTO_POINT_BEGIN,
					 PROTO_EXTENT, PROTO_EXTENT, PROTO_DISK_DONE,
					 PROTO_POINT_COMMIT };
	cr_assert_eq(W.srv.nmsg, 7);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(W.srv.types[i], want[i], "frame %d: type %u", i, W.srv.types[i]);
	cr_assert_eq(W.srv.bad, 0, "%d frames arrived altered", W.srv.bad);
	cr_assert_eq(W.cli.types[0], PROTO_COMMITTED);
	cr_assert_eq(W.cli.ids[0], 7);
	cr_assert_eq(W.srv.closed + W.cli.closed, 0);
	cr_assert_eq(conn_out_pending(W.cli.c), 0);
	cr_assert_gt(W.cli.drains, 0, "on_drain never fired");
}

#define MANY 600

static int
check_many(struct side *s, const struct proto_msg *m)
{
	uint8_t buf[4096];
	const struct proto_extent *x = &m->u.extent;
	int i = s->nmsg - 1;

	if (m->type != PROTO_EXTENT || x->offset != (uint64_t)i * sizeof(buf)) {
		s->bad++;
		return 0;
	}
	if (i % 3 == 2) {
		if (x->kind != PROTO_KIND_ZERO || x->length != sizeof(buf))
			s->bad++;
	} else {
		pattern(buf, sizeof(buf), (uint64_t)i);
		if (x->kind != PROTO_KIND_DATA || x->data_len != sizeof(buf) ||
		    memcmp(x->data, buf, sizeof(buf)))
			s->bad++;
	}
	send_ok(s->c, m_committed((uint64_t)i + 1));
	return 0;
}

static bool many_done(void) { return W.srv.nmsg >= MANY && W.cli.nmsg >= MANY; }

Test(conn, hundreds_of_frames_back_to_back)
{
	uint8_t buf[4096];

	W.srv.on_msg = check_many;
	connect_ok();
	for (int i = 0; i < MANY; i++) {
		uint64_t off = (uint64_t)i * sizeof(buf);

		if (i % 3 == 2) {
			send_ok(W.cli.c, m_extent(off, NULL, sizeof(buf)));
		} else {
			pattern(buf, sizeof(buf), (uint64_t)i);
			send_ok(W.cli.c, m_extent(off, buf, sizeof(buf)));
		}
	}
	cr_assert(run_until(many_done, RUN_S), "srv got %d, cli got %d", W.srv.nmsg, W.cli.nmsg);
	cr_assert_eq(W.srv.nmsg, MANY);
	cr_assert_eq(W.srv.bad, 0);
	cr_assert_eq(W.cli.nmsg, MANY);
	for (int i = 0; i < MANY; i++)
		cr_assert_eq(W.cli.ids[i], (uint64_t)i + 1, "reply %d out of order", i);
	cr_assert_eq(W.srv.closed + W.cli.closed, 0);
}

#define BIG_N 24

static int
check_big(struct side *s, const struct proto_msg *m)
{
	if (m->type != PROTO_EXTENT || m->u.extent.data_len != PROTO_MAX_EXTENT ||
	    m->u.extent.offset != (uint64_t)(s->nmsg - 1) * PROTO_MAX_EXTENT ||
	    memcmp(m->u.extent.data, big, PROTO_MAX_EXTENT))
		s->bad++;
	return 0;
}

static bool big_done(void) { return W.srv.nmsg >= BIG_N; }

/* A consumer that pauses after every frame still gets them all, in order:
 * the high watermark stops reading, resume decodes what is buffered. */
Test(conn, pause_and_resume_with_max_frames)
{
	W.srv.on_msg = check_big;
	W.srv.pause_every = 1;
	connect_ok();
	for (int i = 0; i < BIG_N; i++)
		send_ok(W.cli.c, m_extent((uint64_t)i * PROTO_MAX_EXTENT, big, PROTO_MAX_EXTENT));
	cr_assert(run_until(big_done, 30), "srv got %d", W.srv.nmsg);
	cr_assert_eq(W.srv.nmsg, BIG_N);
	cr_assert_eq(W.srv.bad, 0);
	cr_assert_eq(W.srv.closed + W.cli.closed, 0);
}

/* conn_send_ref: payloads by reference, each released once written out. */
static bool out_empty(void) { return W.cli.c && conn_out_pending(W.cli.c) == 0; }
static void count_release(void *arg) { (*(int *)arg)++; }

/* BIG_N max extents of big, then one ZERO extent of 64 KiB. */
static int
check_ref(struct side *s, const struct proto_msg *m)
{
	const struct proto_extent *x = &m->u.extent;
	int i = s->nmsg - 1;

	if (i == BIG_N) {
		if (m->type != PROTO_EXTENT || x->kind != PROTO_KIND_ZERO || x->length != 65536 ||
		    x->data_len != 0)
			s->bad++;
		return 0;
	}
	return check_big(s, m);
}

static bool ref_done(void) { return W.srv.nmsg >= BIG_N + 1; }

Test(conn, referenced_payloads_released_once_written)
{
	int released = 0;

	W.srv.on_msg = check_ref;
	connect_ok();
	for (int i = 0; i < BIG_N; i++) {
		struct proto_msg m = m_extent((uint64_t)i * PROTO_MAX_EXTENT, big, PROTO_MAX_EXTENT);

		cr_assert_eq(conn_send_ref(W.cli.c, &m, count_release, &released), 0);
	}
	/* a frame without payload is queued and released at once */
	struct proto_msg z = m_extent((uint64_t)BIG_N * PROTO_MAX_EXTENT, NULL, 65536);
	int zrel = 0;

	cr_assert_eq(conn_send_ref(W.cli.c, &z, count_release, &zrel), 0);
	cr_assert_eq(zrel, 1);
	cr_assert_eq(released, 0, "released before the loop wrote anything");
	cr_assert_gt(conn_out_pending(W.cli.c), (size_t)BIG_N * PROTO_MAX_EXTENT);
	cr_assert(run_until(ref_done, 30), "srv got %d", W.srv.nmsg);
	cr_assert(run_until(out_empty, RUN_S));
	cr_assert_eq(W.srv.nmsg, BIG_N + 1);
	cr_assert_eq(W.srv.bad, 0, "%d frames arrived altered", W.srv.bad);
	cr_assert_eq(released, BIG_N, "%d of %d released", released, BIG_N);
}

/* Freed with payloads still queued: each is released, once, when libevent
 * frees the output buffer. */
Test(conn, referenced_payloads_released_when_freed)
{
	int n = 0;

	connect_ok();
	for (int i = 0; i < 4; i++) {
		struct proto_msg m = m_extent((uint64_t)i * PROTO_MAX_EXTENT, big, PROTO_MAX_EXTENT);

		cr_assert_eq(conn_send_ref(W.cli.c, &m, count_release, &n), 0);
	}
	cr_assert_eq(n, 0);
	conn_free(W.cli.c);
	W.cli.c = NULL;
	/* libevent frees the buffers on the loop's next turn */
	run_for(0.2);
	cr_assert_eq(n, 4, "%d of 4 released after the free", n);
	run_for(0.2);
	cr_assert_eq(n, 4, "released twice");
}

static void
send_and_close(struct side *s)
{
	send_ok(s->c, m_extent(0, big, PROTO_MAX_EXTENT));
	conn_close(s->c);
	/* Closing: further sends are refused. */
	cr_assert_eq(conn_send(s->c, &(struct proto_msg){ .type = PROTO_COMMITTED }), -1);
}

static int
check_one_big(struct side *s, const struct proto_msg *m)
{
	if (m->type != PROTO_EXTENT || memcmp(m->u.extent.data, big, PROTO_MAX_EXTENT))
		s->bad++;
	return 0;
}

Test(conn, close_flushes_output_first)
{
	W.srv.on_ready = send_and_close;
	W.cli.on_msg = check_one_big;
	connect_ok();
	cr_assert(run_until(both_closed, RUN_S), "srv=%d cli=%d", W.srv.closed, W.cli.closed);
	cr_assert_eq(W.cli.nmsg, 1, "the queued frame must arrive before the close");
	cr_assert_eq(W.cli.bad, 0);
	cr_assert_str_eq(W.srv.reason, "closed locally");
	cr_assert(strstr(W.cli.reason, "peer closed"), "client reason: %s", W.cli.reason);
}

static int
reject_hello(struct side *s, const struct proto_msg *m)
{
	(void)m;
	conn_send_error(s->c, PROTO_ERR_AUTH, "agent %s is not authorised for group %s",
			conn_peer_name(s->c), "g1");
	return -1;
}

Test(conn, send_error_reaches_peer_then_closes)
{
	W.srv.on_msg = reject_hello;
	connect_ok();
	send_ok(W.cli.c, m_hello());
	send_ok(W.cli.c, m_hello()); /* must not be delivered after the error */
	cr_assert(run_until(both_closed, RUN_S));
	cr_assert_eq(W.srv.nmsg, 1);
	cr_assert_eq(W.cli.nmsg, 1);
	cr_assert_eq(W.cli.types[0], PROTO_ERROR);
	cr_assert_eq(W.cli.ids[0], PROTO_ERR_AUTH);
	cr_assert(strstr(W.srv.reason, "not authorised for group g1"), "%s", W.srv.reason);
}

/* ---- listener ---------------------------------------------------------- */

Test(conn, listener_refuses_taken_port)
{
	/* The port is taken (no SO_REUSEPORT): binding twice fails. */
	cr_assert_null(listener_new(W.base, "127.0.0.1", listener_port(W.lis), on_accept, NULL));
}
