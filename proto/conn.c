/* Framed protocol connection over TLS 1.3 with mutual certificates:
 * libevent bufferevent_openssl for I/O, proto/codec.h for the frames. */
#include "proto/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/clock.h"
#include "common/log.h"
#include "proto/addr.h"
#include "proto/outstall.h"

#define CONN_READ_HIGH           CONN_INPUT_MAX
#define CONN_CLOSE_TIMEOUT_S     5
#define CONN_HANDSHAKE_TIMEOUT_S 30 /* default; conn_set_handshake_timeout */
#define CONN_LINGER_S            2
#define CONN_OPTS                (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

enum conn_state {
	CONN_HANDSHAKE,  /* TLS handshake running */
	CONN_CONFIRMING, /* client: handshake done, server has not yet shown it accepted our cert */
	CONN_READY,
	CONN_CLOSING,    /* flushing output, bounded by the timer */
	CONN_CLOSED,     /* on_close queued or delivered */
};

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer;   /* handshake deadline, then flush deadline */
	struct conn_cbs cbs;
	void *arg;
	enum conn_state state;
	bool server;
	bool paused;
	bool confirmed;        /* client: server sent a session ticket or data */
	bool failed;           /* closed by an error (logged as a warning) */
	bool flushed;          /* output fully written before close: send close_notify */
	bool close_via_once;   /* an event_base_once for on_close is queued */
	bool free_pending;     /* conn_free came before that once: it frees */
	bool linger;           /* after an ERROR frame: half-close, drain the peer */
	bool half_closed;      /* our side shut down for writing, waiting for EOF */
	size_t low_water;
	unsigned hs_timeout_s;   /* handshake (and client confirmation) deadline */
	unsigned idle_timeout_s; /* READY with no frame either way; 0 = none */
	unsigned stall_timeout_s; /* READY, output pending, none written; 0 = none */
	struct outstall *stall;
	uint64_t last_active_ns; /* monotonic: last frame in or out, or output drained */
	char name[320];        /* host:port, for logs */
	char peer[PROTO_PEER_MAX + 1];
	char reason[512];
};

static void conn_process(struct conn *c);

/* ---- lifetime ---------------------------------------------------------- */

static void
conn_set_reason(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
conn_set_reason(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	/* The first cause wins: an EOF after our ERROR frame is not news. */
	if (c->reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

/* Close the TLS session and socket. close_notify only after an orderly
 * flush: OpenSSL forbids SSL_shutdown after a fatal error. */
static void
conn_drop_bev(struct conn *c, bool orderly)
{
	SSL *ssl;

	outstall_free(c->stall); /* before the buffer it watches goes */
	c->stall = NULL;
	if (!c->bev)
		return;
	ssl = bufferevent_openssl_get_ssl(c->bev);
	if (orderly && ssl && SSL_is_init_finished(ssl)) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
}

static void
conn_deliver_close(struct conn *c)
{
	conn_drop_bev(c, c->flushed);
	if (c->cbs.on_close)
		c->cbs.on_close(c, c->reason, c->arg); /* may conn_free(c) */
}

static void
conn_once_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->close_via_once = false;
	if (c->free_pending) {
		free(c);
		return;
	}
	conn_deliver_close(c);
}

/* Enter CLOSED now and deliver on_close from the loop, so no callback of
 * this conn ever sees it re-entrantly. */
static void
conn_finish(struct conn *c)
{
	static const struct timeval now = { 0, 0 };
	/* A server's failed handshakes are the owner's to log (rate-limited). */
	bool owner_logs = c->server && c->state < CONN_READY;

	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	if (!c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "closed");
	if (c->failed && !owner_logs)
		log_warn("conn %s%s%s: %s", c->name, c->peer[0] ? " " : "", c->peer, c->reason);
	else
		log_debug("conn %s%s%s: closed: %s", c->name, c->peer[0] ? " " : "",
			  c->peer, c->reason);
	evtimer_del(c->timer);
	outstall_free(c->stall);
	c->stall = NULL;
	if (c->bev) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	if (event_base_once(c->base, -1, EV_TIMEOUT, conn_once_cb, c, &now) == 0) {
		c->close_via_once = true;
		return;
	}
	/* No memory for the once event: the conn's own timer, which conn_free
	 * can still cancel, delivers instead. */
	log_warn("conn %s: event_base_once failed; delivering close by timer", c->name);
	evtimer_add(c->timer, &now);
}

/* Output is flushed. After an ERROR frame the peer may still be sending:
 * closing now would make our kernel answer its data with a RST, which can
 * destroy the ERROR frame in the peer's receive queue before it is read.
 * So shut down writing and drain until the peer closes (bounded). */
static void
conn_flushed(struct conn *c)
{
	static const struct timeval linger = { CONN_LINGER_S, 0 };

	c->flushed = true;
	if (!c->linger || !c->bev) {
		conn_finish(c);
		return;
	}
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
		conn_finish(c);
		return;
	}
	c->half_closed = true;
	c->flushed = false; /* no close_notify after our FIN */
	c->state = CONN_CLOSING;
	bufferevent_enable(c->bev, EV_READ);
	evtimer_del(c->timer);
	evtimer_add(c->timer, &linger);
}

/* Stop decoding; flush what is queued (bounded), then finish. */
static void
conn_begin_close(struct conn *c)
{
	static const struct timeval flush = { CONN_CLOSE_TIMEOUT_S, 0 };

	if (c->state >= CONN_CLOSING)
		return;
	/* Nothing can be flushed before the handshake is done. */
	if (c->state == CONN_HANDSHAKE || !c->bev) {
		conn_finish(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_flushed(c);
		return;
	}
	c->state = CONN_CLOSING;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* Keep reading (and discarding) so a peer blocked writing to us can
	 * still drain our output. */
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evtimer_add(c->timer, &flush);
}

static void
conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Close at once because of an error; reason is logged once in conn_finish. */
static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->reason[0]) {
		va_start(ap, fmt);
		vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
		va_end(ap);
	}
	c->failed = true;
	conn_finish(c);
}

/* The idle timer is armed lazily: activity only stamps the time, and the
 * timer, when it fires, either closes or re-arms for what is left. */
static void
conn_idle_arm(struct conn *c, uint64_t after_ns)
{
	struct timeval tv = { (time_t)(after_ns / 1000000000u),
			      (suseconds_t)(after_ns % 1000000000u / 1000u) };

	if (c->idle_timeout_s && c->state == CONN_READY)
		evtimer_add(c->timer, &tv);
}

static void
conn_touch(struct conn *c)
{
	c->last_active_ns = clock_mono_ns();
}

static void
conn_idle_check(struct conn *c)
{
	uint64_t limit = (uint64_t)c->idle_timeout_s * 1000000000u;
	uint64_t quiet = clock_mono_ns() - c->last_active_ns;

	if (!c->idle_timeout_s)
		return;
	/* While we hold its input (conn_pause_read) the silence is ours. */
	if (c->paused || quiet < limit) {
		conn_idle_arm(c, c->paused ? limit : limit - quiet);
		return;
	}
	conn_fail(c, "idle for %u s (no frame either way)", c->idle_timeout_s);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_HANDSHAKE:
		conn_fail(c, "TLS handshake not completed within %u s", c->hs_timeout_s);
		break;
	case CONN_CONFIRMING:
		conn_fail(c, "server did not confirm our certificate within %u s",
			  c->hs_timeout_s);
		break;
	case CONN_CLOSING: {
		size_t len = strlen(c->reason);

		if (c->half_closed) {
			conn_finish(c); /* the peer did not close in time */
			break;
		}

		c->failed = true;
		snprintf(c->reason + len, sizeof(c->reason) - len,
			 "; output not flushed within %d s, %zu bytes dropped", CONN_CLOSE_TIMEOUT_S,
			 c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0);
		conn_finish(c);
		break;
	}
	case CONN_CLOSED:
		conn_deliver_close(c); /* fallback path of conn_finish */
		break;
	case CONN_READY:
		conn_idle_check(c);
		break;
	}
}

/* A peer that never reads its answers would otherwise hold the session
 * for ever: while our reading is paused by back-pressure the idle timer
 * does not run. */
static void
conn_stalled(void *arg, size_t pending)
{
	struct conn *c = arg;

	conn_fail(c, "peer did not read for %u s (%zu bytes unsent)", c->stall_timeout_s, pending);
}

static void
conn_stall_start(struct conn *c)
{
	outstall_free(c->stall);
	c->stall = NULL;
	if (c->stall_timeout_s && c->bev && c->state == CONN_READY)
		c->stall = outstall_new(c->base, c->bev, c->stall_timeout_s, conn_stalled, c);
}

/* ---- handshake and identity -------------------------------------------- */

static void
conn_become_ready(struct conn *c)
{
	char why[sizeof(c->reason)];

	if (tls_peer_name(bufferevent_openssl_get_ssl(c->bev), c->peer, sizeof(c->peer), why,
			  sizeof(why)) < 0) {
		conn_fail(c, "%s", why);
		return;
	}
	evtimer_del(c->timer);
	c->state = CONN_READY;
	conn_touch(c);
	conn_idle_arm(c, (uint64_t)c->idle_timeout_s * 1000000000u);
	conn_stall_start(c);
	bufferevent_setwatermark(c->bev, EV_WRITE, c->low_water, 0);
	if (c->paused)
		bufferevent_disable(c->bev, EV_READ);
	log_debug("conn %s: TLS ready, peer %s", c->name, c->peer);
	if (c->cbs.on_ready)
		c->cbs.on_ready(c, c->arg);
}

/* Client side: a NewSessionTicket arrives only after the server accepted
 * our certificate, which TLS 1.3 does not otherwise show the client. */
static void
conn_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
	    SSL *ssl, void *arg)
{
	struct conn *c = arg;
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
	    p[0] != SSL3_MT_NEWSESSION_TICKET || c->confirmed)
		return;
	c->confirmed = true;
	/* We are inside SSL_read; the deferred read callback makes us ready. */
	if (c->bev)
		bufferevent_trigger(c->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- I/O callbacks ----------------------------------------------------- */

static void
conn_error_event(struct conn *c)
{
	int err = EVUTIL_SOCKET_ERROR();
	char buf[sizeof(c->reason)];
	unsigned long e;
	size_t n = 0;
	SSL *ssl;
	long vr;
	int w;

	w = snprintf(buf, sizeof(buf), "%s error",
		     c->state < CONN_READY ? "TLS handshake" : "connection");
	n = w > 0 ? (size_t)w : 0;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		char s[256];

		/* libevent also stores SSL_get_error()'s small code: not text. */
		if (ERR_GET_LIB(e) == 0)
			continue;
		ERR_error_string_n(e, s, sizeof(s));
		if (n < sizeof(buf)) {
			w = snprintf(buf + n, sizeof(buf) - n, ": %s", s);
			n += w > 0 ? (size_t)w : 0;
		}
	}
	ssl = bufferevent_openssl_get_ssl(c->bev);
	vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (vr != X509_V_OK && n < sizeof(buf)) {
		w = snprintf(buf + n, sizeof(buf) - n, ": certificate verify: %s",
			     X509_verify_cert_error_string(vr));
		n += w > 0 ? (size_t)w : 0;
	}
	if (err != 0 && err != EAGAIN && err != EINPROGRESS && n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(err));
	conn_fail(c, "%s", buf);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	size_t pending;

	if (c->state == CONN_CLOSED)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->server || c->confirmed)
			conn_become_ready(c);
		else
			c->state = CONN_CONFIRMING;
		if (c->state == CONN_READY && !c->paused &&
		    evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			conn_process(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		conn_error_event(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		pending = evbuffer_get_length(bufferevent_get_input(bev));
		if (c->state == CONN_CLOSING) {
			conn_finish(c);
		} else if (c->state != CONN_READY) {
			conn_fail(c, "peer closed the connection during the TLS handshake");
		} else if (pending > 0) {
			conn_fail(c, "peer closed the connection inside a frame (%zu bytes pending)",
				  pending);
		} else {
			conn_set_reason(c, "peer closed the connection");
			conn_finish(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_fail(c, "timeout");
}

/* A peer that breaks the protocol is told why and dropped. */
static void
conn_protocol_error(struct conn *c, const char *what, int status)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->failed = true;
	evbuffer_drain(in, evbuffer_get_length(in));
	conn_send_error(c, PROTO_ERR_PROTOCOL, "%s: %s", what, proto_strerror(status));
}

/* Decode and deliver every complete frame in the input buffer. */
static void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t hbuf[PROTO_HDR_SIZE];
	struct proto_msg msg;
	struct proto_hdr hdr;
	size_t total;
	uint8_t *frame;
	int r;

	while (c->state == CONN_READY && !c->paused) {
		if (evbuffer_get_length(in) < PROTO_HDR_SIZE)
			return;
		if (evbuffer_copyout(in, hbuf, sizeof(hbuf)) != (ev_ssize_t)sizeof(hbuf)) {
			conn_fail(c, "cannot read frame header from input buffer");
			return;
		}
		/* Judge the header before buffering its payload. */
		r = proto_hdr_decode(hbuf, sizeof(hbuf), &hdr);
		if (r < 0) {
			conn_protocol_error(c, "bad frame header", r);
			return;
		}
		if (__builtin_add_overflow((size_t)PROTO_HDR_SIZE, (size_t)hdr.length, &total) ||
		    total > CONN_READ_HIGH) {
			conn_protocol_error(c, "bad frame header", PROTO_E_TOOBIG);
			return;
		}
		if (evbuffer_get_length(in) < total)
			return; /* the high watermark leaves room for the rest */
		frame = evbuffer_pullup(in, (ev_ssize_t)total);
		if (!frame) {
			conn_fail(c, "out of memory assembling a %zu-byte frame", total);
			return;
		}
		r = proto_decode(&hdr, frame + PROTO_HDR_SIZE, &msg);
		if (r < 0) {
			char what[64];

			snprintf(what, sizeof(what), "bad frame of type %u", hdr.type);
			conn_protocol_error(c, what, r);
			return;
		}
		conn_touch(c);
		r = c->cbs.on_msg ? c->cbs.on_msg(c, &msg, c->arg) : 0;
		if (r > 0)
			return; /* not taken (the callee paused): it stays first in the input */
		/* msg borrowed from frame until here. */
		if (c->bev)
			evbuffer_drain(in, total);
		if (r < 0)
			return;
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->state) {
	case CONN_CLOSING:
	case CONN_CLOSED:
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	case CONN_HANDSHAKE:
		return;
	case CONN_CONFIRMING:
		/* Data from the server proves acceptance as well as a ticket. */
		if (!c->confirmed && evbuffer_get_length(in) == 0)
			return;
		c->confirmed = true;
		conn_become_ready(c);
		break;
	case CONN_READY:
		break;
	}
	conn_process(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_CLOSING) {
		if (!c->half_closed && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_flushed(c);
		return;
	}
	if (c->state == CONN_READY)
		conn_touch(c); /* the peer reads what we send */
	if (c->state == CONN_READY && c->cbs.on_drain)
		c->cbs.on_drain(c, c->arg);
}

/* ---- construction ------------------------------------------------------ */

static struct conn *
conn_alloc(struct event_base *base, const struct conn_cbs *cbs, void *arg, bool server)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		log_error("conn: out of memory");
		return NULL;
	}
	c->base = base;
	c->cbs = *cbs;
	c->arg = arg;
	c->server = server;
	c->state = CONN_HANDSHAKE;
	c->low_water = CONN_LOW_WATER_DEFAULT;
	c->hs_timeout_s = CONN_HANDSHAKE_TIMEOUT_S;
	c->timer = evtimer_new(base, conn_timer_cb, c);
	if (!c->timer) {
		log_error("conn: cannot create timer");
		free(c);
		return NULL;
	}
	return c;
}

static int
conn_setup_bev(struct conn *c)
{
	struct timeval hs = { (time_t)c->hs_timeout_s, 0 };

	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIGH);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		log_error("conn %s: cannot enable bufferevent", c->name);
		return -1;
	}
	evtimer_add(c->timer, &hs);
	return 0;
}

struct conn *
conn_accept(struct event_base *base, SSL_CTX *ctx, int fd, const struct conn_cbs *cbs,
	    void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct conn *c = NULL;
	struct conn *ret = NULL;
	SSL *ssl = NULL;
	char err[512];

	c = conn_alloc(base, cbs, arg, true);
	if (!c)
		goto out;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_format((struct sockaddr *)&ss, c->name, sizeof(c->name));
	else
		snprintf(c->name, sizeof(c->name), "fd %d", fd);
	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("conn %s: cannot make socket non-blocking: %m", c->name);
		goto out;
	}
	addr_sock_opts(c->name, fd);
	ssl = SSL_new(ctx);
	if (!ssl) {
		tls_errors(err, sizeof(err));
		log_error("conn %s: SSL_new: %s", c->name, err);
		goto out;
	}
	c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						CONN_OPTS);
	if (!c->bev) {
		/* libevent may or may not have freed ssl and closed fd: leak
		 * rather than risk a double free on this out-of-memory path. */
		log_error("conn %s: cannot create TLS bufferevent", c->name);
		ssl = NULL;
		fd = -1;
		goto out;
	}
	/* Both owned by the bufferevent now (BEV_OPT_CLOSE_ON_FREE). */
	ssl = NULL;
	fd = -1;
	if (conn_setup_bev(c) < 0)
		goto out;
	ret = c;
	c = NULL;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	conn_free(c);
	return ret;
}

struct conn *
conn_connect(struct event_base *base, SSL_CTX *ctx, const char *host, uint16_t port,
	     const char *server_name, const struct conn_cbs *cbs, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct conn *c = NULL;
	struct conn *ret = NULL;
	char what[sizeof(c->name) + 8];
	SSL *ssl = NULL;
	char err[512];

	c = conn_alloc(base, cbs, arg, false);
	if (!c)
		goto out;
	snprintf(c->name, sizeof(c->name), "%s:%u", host, port);
	if (!server_name || !server_name[0]) {
		log_error("conn %s: a server name to verify is required", c->name);
		goto out;
	}
	/* Blocking resolution: connections are rare and configured hosts are
	 * usually numeric or in /etc/hosts. */
	snprintf(what, sizeof(what), "conn %s", c->name);
	if (addr_resolve(what, host, port, false, &ss, &sl) < 0)
		goto out;

	ssl = SSL_new(ctx);
	if (!ssl) {
		tls_errors(err, sizeof(err));
		log_error("conn %s: SSL_new: %s", c->name, err);
		goto out;
	}
	if (tls_set_server_name(ssl, server_name) < 0) {
		tls_errors(err, sizeof(err));
		log_error("conn %s: cannot set server name %s: %s", c->name, server_name, err);
		goto out;
	}
	SSL_set_msg_callback(ssl, conn_msg_cb);
	SSL_set_msg_callback_arg(ssl, c);

	c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						CONN_OPTS);
	if (!c->bev) {
		/* See conn_accept: ownership of ssl is unclear on failure. */
		ssl = NULL;
		log_error("conn %s: cannot create TLS bufferevent", c->name);
		goto out;
	}
	ssl = NULL; /* owned by the bufferevent (BEV_OPT_CLOSE_ON_FREE) */
	if (conn_setup_bev(c) < 0)
		goto out;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)sl) < 0) {
		log_error("conn %s: connect: %m", c->name);
		goto out;
	}
	if (bufferevent_getfd(c->bev) >= 0)
		addr_sock_opts(c->name, bufferevent_getfd(c->bev));
	ret = c;
	c = NULL;
out:
	SSL_free(ssl);
	conn_free(c);
	return ret;
}

/* ---- public operations ------------------------------------------------- */

/* What conn_send_ref's release needs, freed with the reference. */
struct conn_ref {
	void (*release)(void *arg);
	void *arg;
};

static void
conn_ref_cleanup(const void *data, size_t len, void *extra)
{
	struct conn_ref *ref = extra;

	(void)data;
	(void)len;
	ref->release(ref->arg);
	free(ref);
}

/* Queue msg; with ref, its bulk bytes by reference (ref is then the
 * buffer's, freed by conn_ref_cleanup; on -1 it stays the caller's). */
static int
conn_queue(struct conn *c, const struct proto_msg *msg, struct conn_ref *ref)
{
	uint8_t head[PROTO_HEAD_MAX];
	const uint8_t *bulk = NULL;
	struct evbuffer *out;
	size_t hlen = 0, blen = 0, total;
	int r;

	r = proto_encode_head(msg, head, sizeof(head), &hlen, &blen);
	if (r < 0) {
		log_error("conn %s: cannot encode frame of type %u: %s", c->name, msg->type,
			  proto_strerror(r));
		return -1;
	}
	proto_msg_bulk(msg, &bulk, &blen);
	if (blen > 0 && !bulk) {
		log_error("conn %s: frame of type %u has %zu bulk bytes but no data", c->name,
			  msg->type, blen);
		return -1;
	}
	if (__builtin_add_overflow(hlen, blen, &total)) {
		log_error("conn %s: frame size overflow", c->name);
		return -1;
	}
	out = bufferevent_get_output(c->bev);
	/* Reserve first so a frame is never queued half-way (a referenced
	 * payload needs only its chain; the header goes before it). */
	if (evbuffer_expand(out, ref ? hlen : total) < 0 || evbuffer_add(out, head, hlen) < 0 ||
	    (blen > 0 && !ref && evbuffer_add(out, bulk, blen) < 0) ||
	    (blen > 0 && ref &&
	     evbuffer_add_reference(out, bulk, blen, conn_ref_cleanup, ref) < 0)) {
		log_error("conn %s: out of memory queueing a %zu-byte frame", c->name, total);
		/* A partial frame may be queued: the stream is unusable. */
		c->failed = true;
		conn_set_reason(c, "out of memory queueing a frame");
		conn_finish(c);
		return -1;
	}
	conn_touch(c);
	return 0;
}

/* A send on a connection that is closing is refused (debug only: the
 * close was logged). */
static bool
conn_closing(const struct conn *c, const struct proto_msg *msg)
{
	if (c->state < CONN_CLOSING && c->bev)
		return false;
	log_debug("conn %s: send of type %u on a closing connection", c->name, msg->type);
	return true;
}

int
conn_send(struct conn *c, const struct proto_msg *msg)
{
	return conn_closing(c, msg) ? -1 : conn_queue(c, msg, NULL);
}

int
conn_send_ref(struct conn *c, const struct proto_msg *msg, void (*release)(void *arg),
	      void *arg)
{
	const uint8_t *bulk = NULL;
	struct conn_ref *ref;
	size_t blen = 0;

	proto_msg_bulk(msg, &bulk, &blen);
	if (blen == 0) {
		if (conn_send(c, msg) < 0)
			return -1;
		release(arg);
		return 0;
	}
	if (conn_closing(c, msg))
		return -1;
	ref = malloc(sizeof(*ref));
	if (!ref) {
		log_error("conn %s: out of memory queueing a frame", c->name);
		return -1;
	}
	*ref = (struct conn_ref){ .release = release, .arg = arg };
	if (conn_queue(c, msg, ref) < 0) {
		free(ref);
		return -1;
	}
	return 0;
}

int
conn_send_error(struct conn *c, uint32_t code, const char *fmt, ...)
{
	struct proto_msg msg;
	va_list ap;
	int r;

	if (c->state >= CONN_CLOSING || !c->bev)
		return -1;
	memset(&msg, 0, sizeof(msg));
	msg.type = PROTO_ERROR;
	msg.u.error.code = code;
	va_start(ap, fmt);
	vsnprintf(msg.u.error.text, sizeof(msg.u.error.text), fmt, ap);
	va_end(ap);
	if (!msg.u.error.text[0])
		snprintf(msg.u.error.text, sizeof(msg.u.error.text), "error");
	conn_set_reason(c, "sent ERROR %u: %s", code, msg.u.error.text);
	if (code == PROTO_ERR_PROTOCOL)
		c->failed = true;
	r = c->state == CONN_HANDSHAKE ? -1 : conn_queue(c, &msg, NULL);
	c->linger = true;
	conn_begin_close(c);
	return r;
}

size_t
conn_out_pending(const struct conn *c)
{
	if (!c->bev)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
conn_set_low_water(struct conn *c, size_t bytes)
{
	c->low_water = bytes;
	if (c->bev && c->state == CONN_READY)
		bufferevent_setwatermark(c->bev, EV_WRITE, bytes, 0);
}

void
conn_set_handshake_timeout(struct conn *c, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	c->hs_timeout_s = seconds;
	if (c->state == CONN_HANDSHAKE || c->state == CONN_CONFIRMING)
		evtimer_add(c->timer, &tv); /* a pending timer is rescheduled */
}

void
conn_set_idle_timeout(struct conn *c, unsigned seconds)
{
	c->idle_timeout_s = seconds;
	if (c->state == CONN_READY) {
		conn_touch(c);
		evtimer_del(c->timer);
		conn_idle_arm(c, (uint64_t)seconds * 1000000000u);
	}
}

void
conn_set_stall_timeout(struct conn *c, unsigned seconds)
{
	c->stall_timeout_s = seconds;
	conn_stall_start(c);
}

void
conn_pause_read(struct conn *c)
{
	c->paused = true;
	/* During the handshake libevent must keep reading. */
	if (c->bev && c->state == CONN_READY)
		bufferevent_disable(c->bev, EV_READ);
}

void
conn_resume_read(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	conn_touch(c); /* the pause was our silence, not the peer's */
	if (!c->bev || c->state != CONN_READY)
		return;
	bufferevent_enable(c->bev, EV_READ);
	/* Frames already buffered produce no new read event: decode them from
	 * the loop, not from inside the caller. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

const char *
conn_peer_name(const struct conn *c)
{
	return c->state >= CONN_READY ? c->peer : "";
}

void
conn_close(struct conn *c)
{
	conn_set_reason(c, "closed locally");
	conn_begin_close(c);
}

void
conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	conn_drop_bev(c, false);
	if (c->close_via_once) {
		/* The queued once event still holds c; it frees it. */
		c->free_pending = true;
		return;
	}
	free(c);
}
