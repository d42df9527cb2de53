/* The metrics listener's HTTP server (replicator/httpd.h). One request per
 * connection, answered with "Connection: close": a scrape or a page load
 * needs no more, and a connection then never outlives its one answer. */
#include "replicator/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "proto/listener.h"

#define PATH_MAX_LEN 1024

struct conn {
	struct httpd *h;
	struct bufferevent *bev;
	struct event *deadline; /* the whole request head within timeout_s */
	struct conn *prev, *next;
	bool answered;
};

struct httpd {
	struct event_base *base;
	struct listener *ln;
	struct httpd_limits lim;
	httpd_handler_fn handler;
	void *arg;
	struct conn *conns;
	size_t nconns;
	struct ratelimit refused_log;
};

static const struct {
	int code;
	const char *reason;
} reasons[] = {
	{ 200, "OK" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
	{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
	{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

static const char *
reason_of(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].reason;
	return "Error";
}

/* ---- parsing (pure) --------------------------------------------------------- */

static bool
token_char(char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Cut the line at *p (ending in CRLF) and advance past it; NULL at the end
 * of buf or on a bare LF or CR. */
static char *
next_line(char **p)
{
	char *line = *p, *eol = strstr(line, "\r\n");

	if (!eol)
		return NULL;
	*eol = '\0';
	if (strchr(line, '\r') || strchr(line, '\n'))
		return NULL;
	*p = eol + 2;
	return line;
}

static int
parse_request_line(char *line, struct httpd_req *req)
{
	char *sp1 = strchr(line, ' '), *sp2, *target, *q;

	if (!sp1)
		return 400;
	*sp1 = '\0';
	target = sp1 + 1;
	sp2 = strchr(target, ' ');
	if (!sp2)
		return 400;
	*sp2 = '\0';
	for (const char *c = line; *c; c++)
		if (!token_char(*c))
			return 400;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	if (strcmp(sp2 + 1, "HTTP/1.0") != 0 && strcmp(sp2 + 1, "HTTP/1.1") != 0)
		return 505;
	if (target[0] != '/' || strlen(target) > PATH_MAX_LEN)
		return 400;
	for (const char *c = target; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return 400;
	if (strcmp(line, "GET") == 0)
		req->head = false;
	else if (strcmp(line, "HEAD") == 0)
		req->head = true;
	else
		return 501;
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';
	req->path = target;
	req->query = q;
	return 0;
}

int
httpd_parse(char *buf, size_t max_headers, struct httpd_req *req)
{
	char *p = buf, *line;
	size_t nh = 0;
	int rc;

	memset(req, 0, sizeof(*req));
	line = next_line(&p);
	if (!line)
		return 400;
	rc = parse_request_line(line, req);
	if (rc != 0)
		return rc;
	while ((line = next_line(&p)) != NULL && *line) {
		char *colon = strchr(line, ':'), *v;

		if (++nh > max_headers)
			return 431;
		/* No folded lines (obsolete, and a way to smuggle), no space
		 * before the colon, a token as the name. */
		if (!colon || colon == line)
			return 400;
		for (const char *c = line; c < colon; c++)
			if (!token_char(*c))
				return 400;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			e[-1] = '\0';
		if (strcasecmp(line, "Authorization") == 0) {
			if (req->authorization)
				return 400;
			req->authorization = v;
		}
	}
	/* The head must end with its empty line. */
	return line ? 0 : 400;
}

/* ---- connections ------------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->deadline)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/* Queue the answer; the connection closes once it is sent. */
static void
conn_answer(struct conn *c, struct httpd_resp *r, bool head)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_add_printf(out,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		"X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
		/* The pages carry their CSS inline and fetch nothing. */
		"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
		"img-src data:; form-action 'none'; frame-ancestors 'none'\r\n"
		"%s%s%sConnection: close\r\n\r\n",
		r->status, reason_of(r->status), r->type ? r->type : "text/plain; charset=utf-8",
		r->len, r->www_authenticate ? "WWW-Authenticate: " : "",
		r->www_authenticate ? r->www_authenticate : "", r->www_authenticate ? "\r\n" : "");
	if (!head && r->len)
		evbuffer_add(out, r->body, r->len);
	free(r->body);
	r->body = NULL;
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
conn_error(struct conn *c, int status)
{
	char msg[64];
	struct httpd_resp r = { .status = status };

	snprintf(msg, sizeof(msg), "%d %s\n", status, reason_of(status));
	r.body = strdup(msg);
	r.len = r.body ? strlen(r.body) : 0;
	conn_answer(c, &r, false);
}

static void
conn_request(struct conn *c, char *head)
{
	struct httpd *h = c->h;
	struct httpd_req req;
	struct httpd_resp r = { .status = 500 };
	int rc = httpd_parse(head, h->lim.max_headers, &req);

	if (rc != 0) {
		conn_error(c, rc);
		return;
	}
	h->handler(&req, &r, h->arg);
	if (r.len > h->lim.max_response) {
		log_warn("http: the answer to %s is %zu bytes, above the %zu allowed", req.path,
			 r.len, h->lim.max_response);
		free(r.body);
		conn_error(c, 500);
		return;
	}
	conn_answer(c, &r, req.head);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t avail = evbuffer_get_length(in);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *head;

	if (c->answered)
		return;
	if (end.pos < 0) {
		if (avail > c->h->lim.max_request)
			conn_error(c, 431);
		return;
	}
	if ((size_t)end.pos + 4 > c->h->lim.max_request) {
		conn_error(c, 431);
		return;
	}
	head = malloc((size_t)end.pos + 5);
	if (!head) {
		conn_free(c);
		return;
	}
	evbuffer_remove(in, head, (size_t)end.pos + 4);
	head[end.pos + 4] = '\0';
	conn_request(c, head);
	free(head);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	/* A client that sends nothing in time gets a 408, once. */
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !c->answered) {
		conn_error(c, 408);
		return;
	}
	conn_free(c);
}

/* A client that trickles its request (a byte now and then resets the
 * read timeout) still has timeout_s for all of it. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->answered)
		conn_error(c, 408);
}

static void
on_accept(int fd, void *arg)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Retry-After: 1\r\nConnection: close\r\n\r\n";
	struct httpd *h = arg;
	struct timeval tv = { h->lim.timeout_s, 0 };
	struct conn *c;
	unsigned held;

	if (h->nconns >= h->lim.max_conns) {
		/* Best effort: the socket is new, its buffer empty. */
		if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* nothing more to do for it */
		}
		close(fd);
		if (ratelimit_pass(&h->refused_log, clock_mono_ns(), &held))
			log_warn("http: %zu connections open, the most allowed: refused one "
				 "(and %u more since the last line)", h->nconns, held);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->h = h;
	c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	c->deadline = evtimer_new(h->base, on_deadline, c);
	if (!c->deadline || evtimer_add(c->deadline, &tv) < 0) {
		if (c->deadline)
			event_free(c->deadline);
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	/* The input never holds more than a request head and a little. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, h->lim.max_request + 1);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ);
}

struct httpd *
httpd_new(struct event_base *base, const char *host, uint16_t port,
	  const struct httpd_limits *lim, httpd_handler_fn handler, void *arg)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (!h) {
		log_error("http: out of memory");
		return NULL;
	}
	h->base = base;
	h->handler = handler;
	h->arg = arg;
	if (lim)
		h->lim = *lim;
	if (!h->lim.max_conns)
		h->lim.max_conns = 64;
	if (!h->lim.max_request)
		h->lim.max_request = 8192;
	if (!h->lim.max_headers)
		h->lim.max_headers = 64;
	if (!h->lim.max_response)
		h->lim.max_response = 8u << 20;
	if (!h->lim.timeout_s)
		h->lim.timeout_s = 10;
	h->refused_log.interval_ns = 60ull * 1000000000;
	h->ln = listener_new(base, host, port, on_accept, h);
	if (!h->ln) {
		free(h);
		return NULL;
	}
	return h;
}

void
httpd_free(struct httpd *h)
{
	if (!h)
		return;
	listener_free(h->ln);
	while (h->conns)
		conn_free(h->conns);
	free(h);
}

size_t
httpd_conns(const struct httpd *h)
{
	return h->nconns;
}
