/* Shared by the conn suites (test-conn.c, test-conn-refused.c): one event
 * loop with a listener and two conn sides (W), throwaway PKIs made once per
 * run by deploy/nestor-pki.sh, setup/teardown fixtures, and message
 * builders. Everything in W is owned by the fixture (teardown frees it);
 * SSL_CTX from ctx_for is the caller's. */
#ifndef NESTOR_TESTS_UNIT_CONN_HARNESS_H
#define NESTOR_TESTS_UNIT_CONN_HARNESS_H

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

static inline void
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

static inline void
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
static inline int
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

static inline void
path(char *buf, size_t cap, const char *ca, const char *file)
{
	snprintf(buf, cap, "%s/%s/%s", W.dir, ca, file);
}

static inline SSL_CTX *
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

static inline void
side_ready(struct conn *c, void *arg)
{
	struct side *s = arg;

	s->ready++;
	snprintf(s->peer, sizeof(s->peer), "%s", conn_peer_name(c));
	if (s->on_ready)
		s->on_ready(s);
}

static inline void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (W.srv.c)
		conn_resume_read(W.srv.c);
}

static inline int
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

static inline void
side_drain(struct conn *c, void *arg)
{
	struct side *s = arg;

	(void)c;
	s->drains++;
}

static inline void
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

static inline void
on_accept(int fd, void *arg)
{
	(void)arg;
	W.accepts++;
	cr_assert_null(W.srv.c, "one connection per test");
	W.srv.c = conn_accept(W.base, W.sctx, fd, &side_cbs, &W.srv);
	cr_assert_not_null(W.srv.c);
}

static inline double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Run the loop in short bounded slices until pred() or the deadline. */
static inline bool
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

static inline void
run_for(double secs)
{
	static const struct timeval slice = { 0, 20000 };
	double end = now_s() + secs;

	while (now_s() < end) {
		event_base_loopexit(W.base, &slice);
		event_base_dispatch(W.base);
	}
}

static inline bool both_ready(void) { return W.srv.ready && W.cli.ready; }
static inline bool both_closed(void) { return W.srv.closed && W.cli.closed; }
static inline bool both_closed_srv(void) { return W.srv.closed; }

static inline void
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

static inline void
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

static inline struct conn *
dial(SSL_CTX *ctx, const char *server_name)
{
	W.cli.c = conn_connect(W.base, ctx, "127.0.0.1", listener_port(W.lis), server_name,
			       &side_cbs, &W.cli);
	cr_assert_not_null(W.cli.c);
	return W.cli.c;
}

static inline void
connect_ok(void)
{
	dial(W.cctx, "receiver");
	cr_assert_str_empty(conn_peer_name(W.cli.c), "no identity before the handshake");
	cr_assert(run_until(both_ready, RUN_S), "handshake did not complete: srv=%s cli=%s",
		  W.srv.reason, W.cli.reason);
}

/* ---- messages ---------------------------------------------------------- */

static inline struct proto_msg
m_hello(void)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "agent1 test");
	return m;
}

static inline struct proto_msg
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

static inline struct proto_msg
m_committed(uint64_t id)
{
	struct proto_msg m = { .type = PROTO_COMMITTED };

	m.u.committed.point_id = id;
	return m;
}

static inline void
send_ok(struct conn *c, struct proto_msg m)
{
	cr_assert_eq(conn_send(c, &m), 0, "conn_send type %u", m.type);
}

#endif
