/* Tests for proto/conn.c and proto/listener.c: TLS 1.3 mutual auth over
 * loopback with throwaway PKIs from deploy/nestor-pki.sh, frame delivery,
 * and refusal of every kind of bad peer. Runs from the repository root. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <xxhash.h>

#include "common/log.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "proto/listener.h"

#define MAX_SEEN 2048
#define RUN_S    10.0

struct side {
	struct conn *c;
	int ready;
	int closed;
	int nmsg;
	int bad; /* messages whose content was not what was sent */
	char peer[PROTO_PEER_MAX + 1];
	char reason[512];
	uint16_t types[MAX_SEEN];
	uint64_t ids[MAX_SEEN]; /* offset / point id / code, per type */
	/* test hooks */
	int (*on_msg)(struct side *s, const struct proto_msg *m);
	void (*on_ready)(struct side *s);
	int pause_every;   /* pause reading after each message, resume by timer */
	int drains;
};

static struct {
	char dir[64];
	struct event_base *base;
	struct event *resume_ev;
	SSL_CTX *sctx;
	SSL_CTX *cctx;
	struct listener *lis;
	struct side srv, cli;
	int accepts;
} W;

static uint8_t *big; /* 1 MiB pattern */

/* ---- harness ----------------------------------------------------------- */

static void
pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

/* CA A: receiver, agent1, expired agent-old; CA B: intruder. */
static int
make_pki(const char *dir)
{
	static const char *const steps[] = {
		"a ca", "a receiver receiver", "a agent agent1", "a agent agent-old --expired",
		"b ca", "b agent intruder",
	};
	char cmd[512];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(cmd, sizeof(cmd), "deploy/nestor-pki.sh %s/%s 2>/dev/null", dir, steps[i]);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/* Key generation is the slow part: one PKI for the whole run, made in the
 * runner and handed to each test process through the environment. */
#define PKI_ENV "NESTOR_TEST_CONN_PKI"
static bool shared_pki;
static char run_pki[64];

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	snprintf(run_pki, sizeof(run_pki), "/tmp/nestor-test-conn-XXXXXX");
	if (!mkdtemp(run_pki)) {
		run_pki[0] = '\0';
		return;
	}
	if (make_pki(run_pki) == 0)
		setenv(PKI_ENV, run_pki, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char cmd[128];

	(void)stats;
	if (!run_pki[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_pki);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", run_pki);
}

static void
path(char *buf, size_t cap, const char *ca, const char *file)
{
	snprintf(buf, cap, "%s/%s/%s", W.dir, ca, file);
}

static SSL_CTX *
ctx_for(bool server, const char *cadir, const char *certdir, const char *name)
{
	char ca[256], crt[256], key[256], f1[64], f2[64];
	struct tls_files f = { ca, crt, key };

	path(ca, sizeof(ca), cadir, "ca.crt");
	snprintf(f1, sizeof(f1), "%s.crt", name);
	snprintf(f2, sizeof(f2), "%s.key", name);
	path(crt, sizeof(crt), certdir, f1);
	path(key, sizeof(key), certdir, f2);
	return server ? tls_server_ctx_new(&f) : tls_client_ctx_new(&f);
}

static void
side_ready(struct conn *c, void *arg)
{
	struct side *s = arg;

	s->ready++;
	snprintf(s->peer, sizeof(s->peer), "%s", conn_peer_name(c));
	if (s->on_ready)
		s->on_ready(s);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (W.srv.c)
		conn_resume_read(W.srv.c);
}

static int
side_msg(struct conn *c, const struct proto_msg *m, void *arg)
{
	struct side *s = arg;
	static const struct timeval later = { 0, 2000 };

	(void)c;
	if (s->nmsg < MAX_SEEN) {
		s->types[s->nmsg] = m->type;
		switch (m->type) {
		case PROTO_EXTENT: s->ids[s->nmsg] = m->u.extent.offset; break;
		case PROTO_COMMITTED: s->ids[s->nmsg] = m->u.committed.point_id; break;
		case PROTO_ERROR: s->ids[s->nmsg] = m->u.error.code; break;
		default: break;
		}
	}
	s->nmsg++;
	if (s->pause_every) {
		conn_pause_read(s->c);
		evtimer_add(W.resume_ev, &later);
	}
	return s->on_msg ? s->on_msg(s, m) : 0;
}

static void
side_drain(struct conn *c, void *arg)
{
	struct side *s = arg;

	(void)c;
	s->drains++;
}

static void
side_close(struct conn *c, const char *reason, void *arg)
{
	struct side *s = arg;

	s->closed++;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	cr_assert_eq(c, s->c);
	conn_free(c);
	s->c = NULL;
}

static const struct conn_cbs side_cbs = {
	.on_ready = side_ready,
	.on_msg = side_msg,
	.on_drain = side_drain,
	.on_close = side_close,
};

static void
on_accept(int fd, void *arg)
{
	(void)arg;
	W.accepts++;
	cr_assert_null(W.srv.c, "one connection per test");
	W.srv.c = conn_accept(W.base, W.sctx, fd, &side_cbs, &W.srv);
	cr_assert_not_null(W.srv.c);
}

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Run the loop in short bounded slices until pred() or the deadline. */
static bool
run_until(bool (*pred)(void), double secs)
{
	static const struct timeval slice = { 0, 20000 };
	double end = now_s() + secs;

	while (!pred()) {
		if (now_s() > end)
			return false;
		event_base_loopexit(W.base, &slice);
		event_base_dispatch(W.base);
	}
	return true;
}

static void
run_for(double secs)
{
	static const struct timeval slice = { 0, 20000 };
	double end = now_s() + secs;

	while (now_s() < end) {
		event_base_loopexit(W.base, &slice);
		event_base_dispatch(W.base);
	}
}

static bool both_ready(void) { return W.srv.ready && W.cli.ready; }
static bool both_closed(void) { return W.srv.closed && W.cli.closed; }
static bool both_closed_srv(void) { return W.srv.closed; }

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN); /* a peer may vanish while we write */
	log_set_level(LOG_LVL_ERROR);
	memset(&W, 0, sizeof(W));
	if (getenv(PKI_ENV) && strlen(getenv(PKI_ENV)) < sizeof(W.dir)) {
		snprintf(W.dir, sizeof(W.dir), "%s", getenv(PKI_ENV));
		shared_pki = true;
	} else {
		snprintf(W.dir, sizeof(W.dir), "/tmp/nestor-test-conn-XXXXXX");
		cr_assert_not_null(mkdtemp(W.dir));
		cr_assert_eq(make_pki(W.dir), 0, "deploy/nestor-pki.sh failed");
	}

	W.base = event_base_new();
	cr_assert_not_null(W.base);
	W.resume_ev = evtimer_new(W.base, resume_cb, NULL);
	W.sctx = ctx_for(true, "a", "a", "receiver");
	cr_assert_not_null(W.sctx);
	W.cctx = ctx_for(false, "a", "a", "agent1");
	cr_assert_not_null(W.cctx);
	W.lis = listener_new(W.base, "127.0.0.1", 0, on_accept, NULL);
	cr_assert_not_null(W.lis);
	cr_assert_neq(listener_port(W.lis), 0);
	big = malloc(PROTO_MAX_EXTENT);
	cr_assert_not_null(big);
	pattern(big, PROTO_MAX_EXTENT, 42);
}

static void
teardown(void)
{
	conn_free(W.srv.c);
	conn_free(W.cli.c);
	W.srv.c = W.cli.c = NULL;
	listener_free(W.lis);
	/* Let queued close events run so nothing is left holding memory. */
	if (W.base)
		event_base_loop(W.base, EVLOOP_NONBLOCK);
	if (W.resume_ev)
		event_free(W.resume_ev);
	SSL_CTX_free(W.sctx);
	SSL_CTX_free(W.cctx);
	if (W.base)
		event_base_free(W.base);
	free(big);
	if (W.dir[0] && !shared_pki)
		sh("rm -rf %s", W.dir);
}

static struct conn *
dial(SSL_CTX *ctx, const char *server_name)
{
	W.cli.c = conn_connect(W.base, ctx, "127.0.0.1", listener_port(W.lis), server_name,
			       &side_cbs, &W.cli);
	cr_assert_not_null(W.cli.c);
	return W.cli.c;
}

static void
connect_ok(void)
{
	dial(W.cctx, "receiver");
	cr_assert_str_empty(conn_peer_name(W.cli.c), "no identity before the handshake");
	cr_assert(run_until(both_ready, RUN_S), "handshake did not complete: srv=%s cli=%s",
		  W.srv.reason, W.cli.reason);
}

/* ---- messages ---------------------------------------------------------- */

static struct proto_msg
m_hello(void)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	m.u.hello.version_min = 1;
	m.u.hello.version_max = 1;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "agent1 test");
	return m;
}

static struct proto_msg
m_extent(uint64_t offset, const uint8_t *data, size_t len)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.disk = 0;
	m.u.extent.offset = offset;
	m.u.extent.length = len;
	if (data) {
		m.u.extent.kind = PROTO_KIND_DATA;
		m.u.extent.comp = PROTO_COMP_NONE;
		m.u.extent.data = data;
		m.u.extent.data_len = len;
		m.u.extent.checksum = XXH3_64bits(data, len);
	} else {
		m.u.extent.kind = PROTO_KIND_ZERO;
	}
	return m;
}

static struct proto_msg
m_committed(uint64_t id)
{
	struct proto_msg m = { .type = PROTO_COMMITTED };

	m.u.committed.point_id = id;
	return m;
}

static void
send_ok(struct conn *c, struct proto_msg m)
{
	cr_assert_eq(conn_send(c, &m), 0, "conn_send type %u", m.type);
}

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

/* ---- tests: refused peers ---------------------------------------------- */

static bool srv_closed_and_cli_closed(void) { return W.srv.closed && W.cli.closed; }

static void
expect_refused(SSL_CTX *ctx, const char *server_name)
{
	dial(ctx, server_name);
	/* Queued before the handshake: must never be decoded by the server. */
	send_ok(W.cli.c, m_hello());
	cr_assert(run_until(srv_closed_and_cli_closed, RUN_S),
		  "not refused: srv closed=%d ready=%d (%s) cli closed=%d ready=%d (%s)",
		  W.srv.closed, W.srv.ready, W.srv.reason, W.cli.closed, W.cli.ready,
		  W.cli.reason);
	run_for(0.2); /* late callbacks would show up here */
	cr_assert_eq(W.srv.ready, 0);
	cr_assert_eq(W.cli.ready, 0, "client became ready: %s", W.cli.reason);
	cr_assert_eq(W.srv.nmsg, 0);
	cr_assert_eq(W.cli.nmsg, 0);
	cr_assert_eq(W.srv.closed, 1);
	cr_assert_eq(W.cli.closed, 1);
	cr_assert_str_not_empty(W.srv.reason);
	cr_assert_str_not_empty(W.cli.reason);
	cr_log_info("refused: server: %s | client: %s", W.srv.reason, W.cli.reason);
}

static SSL_CTX *
raw_client_ctx(bool with_cert, int max_version)
{
	char ca[256], crt[256], key[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	cr_assert_not_null(ctx);
	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "a", "agent1.crt");
	path(key, sizeof(key), "a", "agent1.key");
	cr_assert_eq(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (with_cert) {
		cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, crt), 1);
		cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	if (max_version)
		cr_assert_eq(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	return ctx;
}

Test(conn, refuses_client_without_certificate)
{
	SSL_CTX *ctx = raw_client_ctx(false, 0);

	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "certificate"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn, refuses_certificate_from_other_ca)
{
	char ca[256], crt[256], key[256];
	struct tls_files f = { ca, crt, key };
	SSL_CTX *ctx;

	/* Trusts our receiver, but its own cert comes from CA B. */
	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "b", "intruder.crt");
	path(key, sizeof(key), "b", "intruder.key");
	ctx = tls_client_ctx_new(&f);
	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "verify"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn, refuses_expired_certificate)
{
	SSL_CTX *ctx = ctx_for(false, "a", "a", "agent-old");

	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "expired"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn, refuses_tls12)
{
	SSL_CTX *ctx = raw_client_ctx(true, TLS1_2_VERSION);

	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "protocol"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn, refuses_server_with_wrong_name)
{
	expect_refused(W.cctx, "backup.example.com");
	cr_assert(strstr(W.cli.reason, "verify"), "%s", W.cli.reason);
}

Test(conn, refuses_receiver_cert_used_as_agent)
{
	/* serverAuth-only certificate from the right CA: wrong purpose. */
	SSL_CTX *ctx = ctx_for(false, "a", "a", "receiver");

	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	SSL_CTX_free(ctx);
}

Test(conn, ctx_rejects_mismatched_key)
{
	char ca[256], crt[256], key[256];
	struct tls_files f = { ca, crt, key };

	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "a", "agent1.crt");
	path(key, sizeof(key), "a", "receiver.key");
	cr_assert_null(tls_client_ctx_new(&f));
	path(key, sizeof(key), "a", "missing.key");
	cr_assert_null(tls_server_ctx_new(&f));
}

/* ---- tests: raw TLS peers that break the protocol ---------------------- */

struct raw {
	struct bufferevent *bev;
	struct evbuffer *got;
	const uint8_t *send;
	size_t send_len;
	int connected;
	int done; /* EOF or error */
};

static struct raw R;

static void
raw_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(R.got, bufferevent_get_input(bev));
}

static void
raw_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		R.connected = 1;
		bufferevent_write(bev, R.send, R.send_len);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		evbuffer_add_buffer(R.got, bufferevent_get_input(bev));
		R.done = 1;
	}
}

static bool raw_done(void) { return R.done && W.srv.closed; }

static void
raw_exchange(const uint8_t *bytes, size_t len, struct proto_msg *reply)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct proto_hdr hdr;
	uint8_t *p;
	SSL *ssl;
	int r;

	memset(&R, 0, sizeof(R));
	R.got = evbuffer_new();
	R.send = bytes;
	R.send_len = len;
	ssl = SSL_new(W.cctx);
	cr_assert_not_null(ssl);
	SSL_set1_host(ssl, "receiver");
	R.bev = bufferevent_openssl_socket_new(W.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					       BEV_OPT_CLOSE_ON_FREE);
	cr_assert_not_null(R.bev);
	bufferevent_openssl_set_allow_dirty_shutdown(R.bev, 1);
	bufferevent_setcb(R.bev, raw_read, NULL, raw_event, NULL);
	bufferevent_enable(R.bev, EV_READ | EV_WRITE);
	sin.sin_port = htons(listener_port(W.lis));
	sin.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bufferevent_socket_connect(R.bev, (struct sockaddr *)&sin, sizeof(sin)), 0);

	/* Only the header is sent: a refusal must not wait for a payload. */
	cr_assert(run_until(raw_done, 5), "raw peer not dropped: done=%d srv closed=%d",
		  R.done, W.srv.closed);
	cr_assert_eq(R.connected, 1);
	cr_assert_eq(W.srv.nmsg, 0);
	cr_assert_geq(evbuffer_get_length(R.got), PROTO_HDR_SIZE, "no ERROR frame received");
	p = evbuffer_pullup(R.got, -1);
	r = proto_hdr_decode(p, evbuffer_get_length(R.got), &hdr);
	cr_assert_eq(r, 0, "%s", proto_strerror(r));
	cr_assert_eq(hdr.type, PROTO_ERROR);
	cr_assert_eq(evbuffer_get_length(R.got), PROTO_HDR_SIZE + hdr.length,
		     "nothing may follow the ERROR frame");
	r = proto_decode(&hdr, p + PROTO_HDR_SIZE, reply);
	cr_assert_eq(r, 0, "%s", proto_strerror(r));
	bufferevent_free(R.bev);
	evbuffer_free(R.got);
}

Test(conn, garbage_gets_error_frame_and_close)
{
	static const uint8_t junk[PROTO_HDR_SIZE] = "GET / HTTP/1.1\r";
	struct proto_msg reply;

	raw_exchange(junk, sizeof(junk), &reply);
	cr_assert_eq(reply.u.error.code, PROTO_ERR_PROTOCOL);
	cr_assert(strstr(reply.u.error.text, proto_strerror(PROTO_E_MAGIC)), "%s",
		  reply.u.error.text);
	cr_assert(strstr(W.srv.reason, proto_strerror(PROTO_E_MAGIC)), "%s", W.srv.reason);
}

Test(conn, oversize_length_refused_before_buffering)
{
	uint8_t h[PROTO_HDR_SIZE];
	uint32_t len = PROTO_MAX_PAYLOAD + 1;
	struct proto_msg reply;

	h[0] = 'N'; h[1] = 'S'; h[2] = 'T'; h[3] = 'R';
	h[4] = 0; h[5] = PROTO_VERSION;
	h[6] = 0; h[7] = PROTO_EXTENT;
	h[8] = h[9] = h[10] = h[11] = 0;
	h[12] = (uint8_t)(len >> 24);
	h[13] = (uint8_t)(len >> 16);
	h[14] = (uint8_t)(len >> 8);
	h[15] = (uint8_t)len;
	raw_exchange(h, sizeof(h), &reply);
	cr_assert_eq(reply.u.error.code, PROTO_ERR_PROTOCOL);
	cr_assert(strstr(reply.u.error.text, proto_strerror(PROTO_E_TOOBIG)), "%s",
		  reply.u.error.text);
}

/* ---- listener ---------------------------------------------------------- */

Test(conn, listener_refuses_taken_port)
{
	/* The port is taken (no SO_REUSEPORT): binding twice fails. */
	cr_assert_null(listener_new(W.base, "127.0.0.1", listener_port(W.lis), on_accept, NULL));
}
