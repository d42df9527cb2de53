/* Tests for the deadlines of proto/conn.c (handshake, idle) and for the
 * listener surviving EMFILE: it backs off while established connections go
 * on, and accepts again once descriptors are free (issue 12, section 3).
 * Runs from the repository root. */
#include "tests/unit/conn-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/fileutil.h"
#include "tests/unit/capture.h"

TestSuite(conn_deadlines, .init = setup, .fini = teardown, .timeout = 60);

/* A plain TCP socket connected to port, non-blocking, sending nothing. */
static int
tcp_open(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static int srv_timeout_s;

static void
accept_with_deadline(int fd, void *arg)
{
	(void)arg;
	W.accepts++;
	W.srv.c = conn_accept(W.base, W.sctx, fd, &side_cbs, &W.srv);
	cr_assert_not_null(W.srv.c);
	conn_set_handshake_timeout(W.srv.c, (unsigned)srv_timeout_s);
}

static bool srv_closed(void) { return W.srv.closed > 0; }

/* A listener whose conns get a handshake deadline of secs, and a silent
 * TCP peer connected to it. */
static int
silent_peer(int secs)
{
	int fd;

	listener_free(W.lis);
	W.lis = listener_new(W.base, "127.0.0.1", 0, accept_with_deadline, NULL);
	cr_assert_not_null(W.lis);
	srv_timeout_s = secs;
	fd = tcp_open(listener_port(W.lis));
	cr_assert_geq(fd, 0);
	return fd;
}

/* Reads until EOF / reset (true) or secs pass (false). */
static bool
peer_sees_eof(int fd, double secs)
{
	double end = now_s() + secs;
	char buf[256];

	while (now_s() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
		run_for(0.02);
	}
	return false;
}

Test(conn_deadlines, silent_peer_dropped_at_the_handshake_deadline)
{
	int fd = silent_peer(1);
	double t0 = now_s();

	cr_assert(run_until(srv_closed, 5.0), "server kept a silent peer");
	cr_assert_geq(now_s() - t0, 0.9, "closed before the deadline");
	cr_assert_lt(now_s() - t0, 2.5, "closed long after the deadline");
	cr_assert(strstr(W.srv.reason, "handshake not completed within 1 s"), "reason: %s",
		  W.srv.reason);
	cr_assert_eq(W.srv.ready, 0);
	cr_assert(peer_sees_eof(fd, 2.0), "the silent peer was not closed");
	close(fd);
}

Test(conn_deadlines, deadline_is_rescheduled_not_added)
{
	int fd = silent_peer(3);

	/* The 30 s default set at accept must not survive the 3 s one. */
	cr_assert(run_until(srv_closed, 6.0), "deadline of 3 s not applied");
	cr_assert(strstr(W.srv.reason, "within 3 s"), "reason: %s", W.srv.reason);
	close(fd);
}

Test(conn_deadlines, idle_session_closed)
{
	double t0;

	connect_ok();
	conn_set_idle_timeout(W.srv.c, 1);
	t0 = now_s();
	cr_assert(run_until(both_closed, 5.0), "idle session kept");
	cr_assert_geq(now_s() - t0, 0.9);
	cr_assert_lt(now_s() - t0, 2.5);
	cr_assert(strstr(W.srv.reason, "idle for 1 s"), "reason: %s", W.srv.reason);
}

Test(conn_deadlines, frames_keep_a_session_alive)
{
	struct proto_msg m = m_committed(7);

	connect_ok();
	conn_set_idle_timeout(W.srv.c, 1);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(conn_send(W.cli.c, &m), 0);
		run_for(0.4);
		cr_assert_eq(W.srv.closed, 0, "closed while frames arrive every 0.4 s");
	}
	cr_assert_eq(W.srv.nmsg, 8);
	/* Then silence: it goes. */
	cr_assert(run_until(srv_closed, 3.0));
	cr_assert(strstr(W.srv.reason, "idle"), "reason: %s", W.srv.reason);
}

Test(conn_deadlines, paused_reading_is_not_idleness)
{
	connect_ok();
	conn_pause_read(W.srv.c);
	conn_set_idle_timeout(W.srv.c, 1);
	run_for(2.5);
	cr_assert_eq(W.srv.closed, 0, "closed while our side held the input");
	conn_resume_read(W.srv.c);
	cr_assert(run_until(srv_closed, 3.0), "idle after resume not closed");
}

/* ---- EMFILE ------------------------------------------------------------ */

static int emfile_accepts;
static int emfile_fd = -1;

static void
count_accept(int fd, void *arg)
{
	(void)arg;
	emfile_accepts++;
	if (emfile_fd >= 0)
		close(emfile_fd);
	emfile_fd = fd;
}

static bool one_accepted(void) { return emfile_accepts > 0; }
static bool srv_got_frame(void) { return W.srv.nmsg > 0; }

Test(conn_deadlines, listener_survives_emfile)
{
	struct rlimit old, low;
	struct listener *l;
	struct proto_msg m = m_committed(1);
	int fill[512], nfill = 0, client;
	char *log;

	connect_ok(); /* the established session that must keep working */
	l = listener_new(W.base, "127.0.0.1", 0, count_accept, NULL);
	cr_assert_not_null(l);
	log_set_level(LOG_LVL_WARN);
	cap_start();
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < (int)(sizeof(fill) / sizeof(fill[0]))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			cr_assert_eq(errno, EMFILE);
			break;
		}
		fill[nfill++] = fd;
	}
	cr_assert_gt(nfill, 0);
	close(fill[--nfill]); /* room for the client's socket only */
	client = tcp_open(listener_port(l));
	cr_assert_geq(client, 0);
	run_for(0.5);
	cr_assert_eq(emfile_accepts, 0, "accepted without a descriptor?");
	/* Out of descriptors, the established session still works. */
	cr_assert_eq(conn_send(W.cli.c, &m), 0);
	cr_assert(run_until(srv_got_frame, 3.0), "session stalled while accept failed");
	for (int i = 0; i < 8 && nfill > 0; i++)
		close(fill[--nfill]);
	cr_assert(run_until(one_accepted, 5.0), "listener did not resume after EMFILE");
	while (nfill > 0)
		close(fill[--nfill]);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	log = cap_stop();
	cr_assert(strstr(log, "Too many open files"), "log: %s", log);
	cr_assert(strstr(log, "pausing"), "log: %s", log);
	free(log);
	close(client);
	if (emfile_fd >= 0)
		close(emfile_fd);
	listener_free(l);
}

/* ---- output stall (issue 13 item 5) ------------------------------------ */

/* Queue extents on the server until mib MiB are pending. */
static void
srv_fill(size_t mib)
{
	uint64_t off = 0;

	while (W.srv.c && conn_out_pending(W.srv.c) < mib << 20) {
		struct proto_msg m = m_extent(off, big, PROTO_MAX_EXTENT);

		cr_assert_eq(conn_send(W.srv.c, &m), 0);
		off += PROTO_MAX_EXTENT;
	}
}

Test(conn_deadlines, peer_that_stops_reading_is_dropped)
{
	double t0;

	connect_ok();
	conn_pause_read(W.srv.c); /* back-pressure: the idle timer does not run */
	conn_set_idle_timeout(W.srv.c, 1);
	conn_set_stall_timeout(W.srv.c, 1);
	conn_pause_read(W.cli.c); /* the peer stops reading */
	srv_fill(32);
	t0 = now_s();
	cr_assert(run_until(srv_closed, 6.0), "a peer that never reads kept the session");
	/* The socket buffers take a few MiB first; then 1 s without progress. */
	cr_assert_geq(now_s() - t0, 0.9);
	cr_assert_lt(now_s() - t0, 4.0);
	cr_assert(strstr(W.srv.reason, "peer did not read for 1 s"), "reason: %s", W.srv.reason);
}

static int sip_got;
static bool cli_sipped(void) { return W.cli.nmsg > sip_got; }

Test(conn_deadlines, slow_reader_is_not_dropped)
{
	int got = 0;

	connect_ok();
	conn_pause_read(W.srv.c);
	conn_set_stall_timeout(W.srv.c, 2);
	conn_pause_read(W.cli.c);
	/* 4 s (twice the stall timeout) of a reader that takes a sip every
	 * 0.5 s, output always pending. The margins (a sip may take 1 s to
	 * come, 2 s without one closes) keep it true on a loaded machine
	 * under ASan; the stop below still has to close it. */
	for (int i = 0; i < 8; i++) {
		srv_fill(32);
		sip_got = got;
		conn_resume_read(W.cli.c);
		cr_assert(run_until(cli_sipped, 1.0), "the reader made no progress");
		conn_pause_read(W.cli.c);
		run_for(0.5);
		cr_assert_eq(W.srv.closed, 0, "closed a reader that progresses: %s", W.srv.reason);
		cr_assert_gt(conn_out_pending(W.srv.c), 0);
		got = W.cli.nmsg;
	}
	/* Then it stops: now it goes. */
	cr_assert(run_until(srv_closed, 8.0), "stalled reader kept");
	cr_assert(strstr(W.srv.reason, "did not read"), "reason: %s", W.srv.reason);
}
