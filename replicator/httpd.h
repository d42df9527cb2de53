/* A small read-only HTTP/1.1 server on the event loop, for the metrics
 * listener (the agent's /metrics, the receiver's /metrics and dashboard):
 * GET and HEAD only, one request per connection, and every resource a
 * client can make it hold bounded (connections, request bytes, header
 * count, response bytes, time). */
#ifndef NESTOR_REPLICATOR_HTTPD_H
#define NESTOR_REPLICATOR_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct httpd;

/* What a client may make the server hold; 0 takes the default. */
struct httpd_limits {
	size_t max_conns;    /* open connections (default 64); more get 503 */
	size_t max_request;  /* request line and headers, bytes (default 8192) */
	size_t max_headers;  /* header lines (default 64) */
	size_t max_response; /* body bytes (default 8 MiB): above, 500 */
	unsigned timeout_s;  /* to read the request, and to send the answer (10) */
};

/* A parsed request; the strings point into the server's copy of it and
 * live until the handler returns. */
struct httpd_req {
	bool head;                 /* HEAD: the answer is sent without its body */
	const char *path;          /* starts with '/'; without the query */
	const char *query;         /* after '?', NULL if none */
	const char *authorization; /* the Authorization header's value, NULL if none */
};

/* The handler's answer. body is malloc'd and taken over by the server
 * (NULL = empty); type and www_authenticate are static strings. */
struct httpd_resp {
	int status;                   /* 200, 401, 404, 500 ... */
	const char *type;             /* Content-Type, default text/plain */
	char *body;
	size_t len;
	const char *www_authenticate; /* sent with a 401 */
};

typedef void (*httpd_handler_fn)(const struct httpd_req *req, struct httpd_resp *resp,
				 void *arg);

/* Serve on host:port from base's loop; handler(req, resp, arg) runs on it
 * for every well-formed GET or HEAD (others are answered here: 400, 405 ...).
 * lim NULL = defaults. NULL on error (logged). */
struct httpd *httpd_new(struct event_base *base, const char *host, uint16_t port,
			const struct httpd_limits *lim, httpd_handler_fn handler, void *arg);
/* Stop serving and drop every connection. NULL ok. */
void httpd_free(struct httpd *h);
/* Connections open now (for tests and the page's own figures). */
size_t httpd_conns(const struct httpd *h);

/* Parse the request head buf (NUL-terminated, modified in place: the
 * request line and header lines up to the empty line) into req, with at
 * most max_headers header lines. 0, or the HTTP status to answer: 400
 * malformed, 431 too many headers, 501 a method other than GET and HEAD,
 * 505 not HTTP/1.x. Pure. */
int httpd_parse(char *buf, size_t max_headers, struct httpd_req *req);

#endif
