/* The webhook's delivery (replicator/receiver/notify.h): one thread takes
 * the oldest queued event, POSTs it over HTTP/1.1 (in TLS for https) with
 * a deadline, and on failure waits a back-off before trying it again.
 * Every wait on the network also watches a pipe, so stopping never waits
 * on a target. */
#define _GNU_SOURCE /* pipe2 */
#include "replicator/receiver/notify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/httpurl.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/strfmt.h"
#include "replicator/receiver/notifyq.h"

#define NOTIFY_TIMEOUT_MS 10000 /* one attempt: resolve aside, connect to answer */
#define NOTIFY_ANSWER_MAX 1024  /* read of the answer: its status line is enough */

struct notify {
	struct httpurl url;
	char *what;   /* the URL, for logs */
	SSL_CTX *tls; /* https only */
	char tls_err[256]; /* the thread's last TLS error, for *why */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	struct notifyq *q;
	bool stop;
	int stop_pipe[2];
	pthread_t th;
	bool running;
	uint64_t sent, rejected, retries;
	struct ratelimit drop_log; /* a flood of events: one line a minute */
};

/* ---- one attempt (the thread, no lock held) --------------------------- */

/* Wait until fd is ready for events, the deadline (monotonic ns) or a stop:
 * 1 ready, 0 timed out, -1 stopping. */
static int
wait_fd(struct notify *n, int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = { { fd, events, 0 }, { n->stop_pipe[0], POLLIN, 0 } };
		uint64_t now = clock_mono_ns();
		int r;

		if (now >= deadline)
			return 0;
		r = poll(p, 2, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[1].revents)
			return -1;
		if (r > 0)
			return 1;
	}
}

static int
connect_one(struct notify *n, const struct addrinfo *ai, uint64_t deadline, const char **why)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	int err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*why = strerror(errno);
	} else if (wait_fd(n, fd, POLLOUT, deadline) != 1) {
		*why = "no connection before the deadline";
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		*why = strerror(err ? err : errno);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

static int
connect_url(struct notify *n, uint64_t deadline, const char **why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];
	int fd = -1, rc;

	snprintf(port, sizeof(port), "%u", (unsigned)n->url.port);
	rc = getaddrinfo(n->url.host, port, &hints, &res);
	if (rc != 0) {
		*why = gai_strerror(rc);
		return -1;
	}
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(n, ai, deadline, why);
	freeaddrinfo(res);
	return fd;
}

/* The attempt's connection: a socket, in TLS for https. */
struct link {
	int fd;
	SSL *ssl; /* NULL: plain */
};

/* OpenSSL's first queued error into buf, the queue cleared; dflt if none. */
static const char *
tls_err_text(char *buf, size_t len, const char *dflt)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(buf, len, "%s", r);
	else if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", dflt);
	ERR_clear_error();
	return buf;
}

static const char *
tls_why(struct notify *n, const char *what)
{
	char err[192];

	snprintf(n->tls_err, sizeof(n->tls_err), "%s: %s", what,
		 tls_err_text(err, sizeof(err), "the connection ended"));
	return n->tls_err;
}

/* One TLS step's result k: 0 to try again after waiting, -1 (*why). */
static int
tls_wait(struct notify *n, const struct link *l, int k, uint64_t deadline, const char *what,
	 const char **why)
{
	int e = SSL_get_error(l->ssl, k);
	short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;

	if (!ev) {
		*why = tls_why(n, what);
		return -1;
	}
	if (wait_fd(n, l->fd, ev, deadline) != 1) {
		*why = "no TLS progress before the deadline";
		return -1;
	}
	return 0;
}

/* The TLS handshake, the target's certificate checked against its host
 * name or IP address. */
static int
tls_start(struct notify *n, struct link *l, uint64_t deadline, const char **why)
{
	unsigned char ip[16];
	bool is_ip = inet_pton(n->url.ipv6 ? AF_INET6 : AF_INET, n->url.host, ip) == 1;
	int k;

	l->ssl = SSL_new(n->tls);
	if (!l->ssl || SSL_set_fd(l->ssl, l->fd) != 1 ||
	    (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(l->ssl), n->url.host) != 1
		   : SSL_set1_host(l->ssl, n->url.host) != 1 ||
		     SSL_set_tlsext_host_name(l->ssl, n->url.host) != 1)) {
		*why = tls_why(n, "TLS setup");
		return -1;
	}
	while ((k = SSL_connect(l->ssl)) != 1)
		if (tls_wait(n, l, k, deadline, "TLS handshake", why) < 0)
			return -1;
	return 0;
}

/* Move up to len bytes out of (wr) or into buf: how many (0: the peer
 * closed), or -1 (*why). Waits as needed, up to the deadline. */
static ssize_t
link_io(struct notify *n, struct link *l, bool wr, void *buf, size_t len, uint64_t deadline,
	const char **why)
{
	for (;;) {
		ssize_t r;

		if (l->ssl) {
			int k = wr ? SSL_write(l->ssl, buf, (int)len) : SSL_read(l->ssl, buf, (int)len);

			if (k > 0)
				return k;
			if (!wr && SSL_get_error(l->ssl, k) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (tls_wait(n, l, k, deadline, wr ? "TLS write" : "TLS read", why) < 0)
				return -1;
			continue;
		}
		r = wr ? send(l->fd, buf, len, MSG_NOSIGNAL) : recv(l->fd, buf, len, 0);
		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR) {
			*why = strerror(errno);
			return -1;
		}
		if (wait_fd(n, l->fd, wr ? POLLOUT : POLLIN, deadline) != 1) {
			*why = wr ? "the request was not taken before the deadline"
				  : "no answer before the deadline";
			return -1;
		}
	}
}

static int
send_all(struct notify *n, struct link *l, char *p, size_t len, uint64_t deadline,
	 const char **why)
{
	while (len) {
		ssize_t w = link_io(n, l, true, p, len, deadline, why);

		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The answer's status code from its status line "HTTP/1.x NNN ...". */
static int
read_status(struct notify *n, struct link *l, uint64_t deadline, const char **why)
{
	char buf[NOTIFY_ANSWER_MAX + 1];
	size_t len = 0;
	int code = -1;

	while (len < NOTIFY_ANSWER_MAX && !memmem(buf, len, "\r\n", 2)) {
		ssize_t r = link_io(n, l, false, buf + len, NOTIFY_ANSWER_MAX - len, deadline, why);

		if (r < 0 && len == 0)
			return -1;
		if (r <= 0) {
			if (r == 0 && len == 0) {
				*why = "the connection closed without an answer";
				return -1;
			}
			break;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    sscanf(buf + 9, "%3d", &code) != 1 || code < 100 || code > 599) {
		*why = "the answer is not HTTP";
		return -1;
	}
	return code;
}

/* POST body once: the HTTP status, or -1 with *why. */
static int
post_once(struct notify *n, const char *body, const char **why)
{
	uint64_t deadline = clock_mono_ns() + NOTIFY_TIMEOUT_MS * 1000000ull;
	struct link l = { -1, NULL };
	char *req = NULL;
	int code = -1;

	l.fd = connect_url(n, deadline, why);
	if (l.fd < 0)
		return -1;
	if (n->tls && tls_start(n, &l, deadline, why) < 0)
		goto out;
	req = strfmt("POST %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: nestor-receiver\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s",
		     n->url.path, n->url.ipv6 ? "[" : "", n->url.host, n->url.ipv6 ? "]" : "",
		     (unsigned)n->url.port, strlen(body), body);
	if (!req)
		*why = "out of memory";
	else if (send_all(n, &l, req, strlen(req), deadline, why) == 0)
		code = read_status(n, &l, deadline, why);
out:
	free(req);
	SSL_free(l.ssl);
	close(l.fd);
	return code;
}

/* ---- the thread ------------------------------------------------------- */

static void
timedwait_mono(struct notify *n, uint64_t until_ns)
{
	struct timespec ts = { (time_t)(until_ns / 1000000000ull), (long)(until_ns % 1000000000ull) };

	(void)pthread_cond_timedwait(&n->cv, &n->mu, &ts);
}

/* What an attempt's outcome does to the queue (lock held); the back-off
 * for the next attempt in seconds, 0 when the head is settled. */
static unsigned
settle(struct notify *n, uint64_t seq, int code, const char *why, unsigned backoff,
       unsigned *attempts)
{
	char reason[64];

	if (code >= 200 && code < 300) {
		if (notifyq_pop(n->q, seq))
			n->sent++;
		if (*attempts > 1)
			log_info("notify: %s took the event after %u attempts", n->what, *attempts);
		*attempts = 0;
		return 0;
	}
	if (code >= 400 && code < 500 && code != 408 && code != 429) {
		if (notifyq_pop(n->q, seq))
			n->rejected++;
		log_warn("notify: %s answered %d: event dropped", n->what, code);
		*attempts = 0;
		return 0;
	}
	if (code > 0) {
		snprintf(reason, sizeof(reason), "answered %d", code);
		why = reason;
	}
	n->retries++;
	backoff = backoff ? backoff * 2 : NOTIFY_BACKOFF_MIN_S;
	if (backoff > NOTIFY_BACKOFF_MAX_S)
		backoff = NOTIFY_BACKOFF_MAX_S;
	log_warn("notify: %s: %s; %zu event(s) waiting, next attempt in %u s", n->what, why,
		 notifyq_len(n->q), backoff);
	return backoff;
}

static void *
notify_main(void *arg)
{
	struct notify *n = arg;
	uint64_t next_try = 0;
	unsigned backoff = 0, attempts = 0;

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		uint64_t seq = 0;
		const char *head = notifyq_head(n->q, &seq);
		const char *why = "out of memory";
		char *body;
		int code = -1;

		if (!head) {
			pthread_cond_wait(&n->cv, &n->mu);
			continue;
		}
		if (clock_mono_ns() < next_try) {
			timedwait_mono(n, next_try);
			continue;
		}
		body = strdup(head);
		pthread_mutex_unlock(&n->mu);
		attempts++;
		if (body)
			code = post_once(n, body, &why);
		free(body);
		pthread_mutex_lock(&n->mu);
		if (n->stop)
			break;
		backoff = settle(n, seq, code, why, backoff, &attempts);
		next_try = backoff ? clock_mono_ns() + backoff * 1000000000ull : 0;
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

/* Verify the target against ca (a PEM file) or the system's CAs. */
static SSL_CTX *
notify_tls_ctx(const char *ca)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (!c || SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    (ca ? SSL_CTX_load_verify_locations(c, ca, NULL) : SSL_CTX_set_default_verify_paths(c)) != 1) {
		char err[192];

		log_error("notify: cannot load the CA certificates %s: %s", ca ? ca : "of the system",
			  tls_err_text(err, sizeof(err), "unknown error"));
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	return c;
}

int
notify_check(const char *url, const char *ca)
{
	struct httpurl u;
	const char *why = NULL;
	SSL_CTX *c;

	if (httpurl_parse(url, &u, &why) < 0) {
		log_error("notify: %s: expected %s", url, why);
		return -1;
	}
	if (!u.tls)
		return 0;
	c = notify_tls_ctx(ca);
	SSL_CTX_free(c);
	return c ? 0 : -1;
}

struct notify *
notify_new(const char *url, const char *ca)
{
	struct notify *n = calloc(1, sizeof(*n));
	pthread_condattr_t cattr;
	const char *why = NULL;
	int e;

	if (!n) {
		log_error("notify: out of memory");
		return NULL;
	}
	n->stop_pipe[0] = n->stop_pipe[1] = -1;
	n->drop_log.interval_ns = 60ull * 1000000000ull;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &cattr);
	pthread_condattr_destroy(&cattr);
	if (httpurl_parse(url, &n->url, &why) < 0) {
		log_error("notify: %s: expected %s", url, why);
		goto fail;
	}
	n->what = strdup(url);
	n->q = notifyq_new(NOTIFY_QUEUE_MAX);
	if (!n->what || !n->q)
		goto fail;
	if (n->url.tls && !(n->tls = notify_tls_ctx(ca)))
		goto fail;
	if (pipe2(n->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("notify: pipe: %m");
		goto fail;
	}
	e = pthread_create(&n->th, NULL, notify_main, n);
	if (e != 0) {
		errno = e;
		log_error("notify: cannot start its thread: %m");
		goto fail;
	}
	n->running = true;
	log_info("notify: events go to %s", url);
	return n;
fail:
	notify_free(n);
	return NULL;
}

void
notify_free(struct notify *n)
{
	if (!n)
		return;
	if (n->running) {
		pthread_mutex_lock(&n->mu);
		n->stop = true;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
		if (write(n->stop_pipe[1], "x", 1) < 0)
			log_warn("notify: cannot wake its thread: %m");
		pthread_join(n->th, NULL);
	}
	if (n->q && notifyq_len(n->q))
		log_warn("notify: %zu event(s) not delivered to %s", notifyq_len(n->q), n->what);
	for (int i = 0; i < 2; i++)
		if (n->stop_pipe[i] >= 0)
			close(n->stop_pipe[i]);
	notifyq_free(n->q);
	SSL_CTX_free(n->tls);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n->what);
	free(n);
}

void
notify_post(struct notify *n, char *body)
{
	unsigned held = 0;
	bool say;

	pthread_mutex_lock(&n->mu);
	say = notifyq_push(n->q, body) && ratelimit_pass(&n->drop_log, clock_mono_ns(), &held);
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (say)
		log_warn("notify: queue full (%d events): the oldest dropped (%u more since the "
			 "last line)", NOTIFY_QUEUE_MAX, held);
}

char *
notify_metrics_append(struct notify *n, char *body)
{
	uint64_t sent, rejected, retries, dropped;
	size_t queued;
	char *page;

	pthread_mutex_lock(&n->mu);
	sent = n->sent;
	rejected = n->rejected;
	retries = n->retries;
	dropped = notifyq_dropped(n->q);
	queued = notifyq_len(n->q);
	pthread_mutex_unlock(&n->mu);
	page = strfmt("%s"
		"# HELP nestor_notify_sent_total Webhook events the target took (2xx).\n"
		"# TYPE nestor_notify_sent_total counter\nnestor_notify_sent_total %llu\n"
		"# HELP nestor_notify_rejected_total Webhook events the target refused (4xx): dropped.\n"
		"# TYPE nestor_notify_rejected_total counter\nnestor_notify_rejected_total %llu\n"
		"# HELP nestor_notify_retries_total Failed webhook attempts, each retried later.\n"
		"# TYPE nestor_notify_retries_total counter\nnestor_notify_retries_total %llu\n"
		"# HELP nestor_notify_dropped_total Webhook events dropped from a full queue.\n"
		"# TYPE nestor_notify_dropped_total counter\nnestor_notify_dropped_total %llu\n"
		"# HELP nestor_notify_queued Webhook events waiting for delivery.\n"
		"# TYPE nestor_notify_queued gauge\nnestor_notify_queued %zu\n",
		body, (unsigned long long)sent, (unsigned long long)rejected,
		(unsigned long long)retries, (unsigned long long)dropped, queued);
	if (!page)
		return body;
	free(body);
	return page;
}
