/* Prometheus metrics over libevent's evhttp: the endpoint (on a caller's
 * loop or a thread of its own) and the receiver's metrics. The receiver's
 * counters are updated from its event loop and scrapes run on the same
 * loop, so they need no lock. */
#define _GNU_SOURCE /* open_memstream */
#include "replicator/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/log.h"
#include "replicator/receiver/status.h"

/* Group names come from authorised agents only, but the table stays
 * bounded whatever they send. */
#define METRICS_MAX_GROUPS 4096

struct metrics_group {
	char name[65];
	uint64_t bytes_total;
	uint64_t points_total;
	uint64_t failures_total;
	double last_seconds; /* < 0: no point committed since start */
};

struct metrics_http {
	struct evhttp *http;
	metrics_render_fn render;
	void *arg;
};

struct metrics_thread {
	struct event_base *base;
	struct metrics_http *http;
	struct event *wake;
	int pipe[2];
	pthread_t th;
	bool running;
};

struct metrics {
	struct metrics_http *http;
	struct store *st;
	const char *store_dir;
	struct metrics_group *g;
	size_t n, cap;
};

static struct metrics_group *
group_get(struct metrics *m, const char *name)
{
	struct metrics_group *ng;

	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->g[i].name, name) == 0)
			return &m->g[i];
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;

		if (m->cap >= METRICS_MAX_GROUPS) {
			log_warn("metrics: more than %d groups; %s not counted",
				 METRICS_MAX_GROUPS, name);
			return NULL;
		}
		ng = realloc(m->g, cap * sizeof(*ng));
		if (!ng) {
			log_warn("metrics: out of memory; %s not counted", name);
			return NULL;
		}
		m->g = ng;
		m->cap = cap;
	}
	ng = &m->g[m->n++];
	memset(ng, 0, sizeof(*ng));
	snprintf(ng->name, sizeof(ng->name), "%s", name);
	ng->last_seconds = -1;
	return ng;
}

void
metrics_point_committed(struct metrics *m, const char *group, uint64_t bytes, double seconds)
{
	struct metrics_group *g = m ? group_get(m, group) : NULL;

	if (!g)
		return;
	g->bytes_total += bytes;
	g->points_total++;
	g->last_seconds = seconds;
}

void
metrics_session_failed(struct metrics *m, const char *group, uint64_t bytes)
{
	struct metrics_group *g = m ? group_get(m, group) : NULL;

	if (!g)
		return;
	g->bytes_total += bytes;
	g->failures_total++;
}

/* Every group the store knows plus every group counted only in memory. */
struct view {
	const char *name;
	const struct status_rx_group *rx; /* NULL: not in the store */
	const struct metrics_group *c;    /* NULL: no traffic since start */
};

enum field { F_POINTS, F_RPO, F_LAST_BYTES, F_BYTES_TOTAL, F_POINTS_TOTAL, F_CYCLE,
	     F_FAILURES, F_FAILED_OVER, F_DRILL, F_DRILL_RTO };

static const struct metrics_family families[] = {
	{ F_POINTS, "nestor_group_points", "gauge", "Committed recovery points of the group." },
	{ F_RPO, "nestor_group_rpo_seconds", "gauge",
	  "Age of the newest point's snapshot instant (RPO as seen by the receiver)." },
	{ F_LAST_BYTES, "nestor_group_last_point_bytes", "gauge",
	  "Payload bytes received for the newest point." },
	{ F_BYTES_TOTAL, "nestor_group_bytes_received_total", "counter",
	  "Payload bytes received for the group since the receiver started." },
	{ F_POINTS_TOTAL, "nestor_group_points_committed_total", "counter",
	  "Points committed for the group since the receiver started." },
	{ F_CYCLE, "nestor_group_cycle_seconds", "gauge",
	  "Seconds from begin to commit of the last point received since start." },
	{ F_FAILURES, "nestor_group_failures_total", "counter",
	  "Sessions that ended with their point not committed, since start." },
	{ F_FAILED_OVER, "nestor_group_failed_over", "gauge",
	  "1 while the group is failed over (new points refused)." },
	{ F_DRILL, "nestor_drill_last_result", "gauge", "Verdict of the newest drill: 1 pass, 0 fail." },
	{ F_DRILL_RTO, "nestor_drill_last_rto_seconds", "gauge",
	  "Longest VM recovery time of the newest drill." },
};

/* The groups of one scrape, for sample. */
struct rx_page {
	const struct view *v;
	uint64_t now;
};

/* Prints one sample (metrics_sample_fn); none when the group has no value. */
static void
sample(FILE *f, const struct metrics_family *fam, size_t row, void *arg)
{
	const struct rx_page *pg = arg;
	const struct view *v = &pg->v[row];
	uint64_t now = pg->now;
	const struct status_rx_group *r = v->rx;
	const struct metrics_group *c = v->c;
	double val;

	switch ((enum field)fam->id) {
	case F_POINTS: val = r ? (double)r->points : 0; break;
	case F_RPO:
		if (!r || !r->last_point)
			return;
		val = now > r->last_point_time_ns ? (double)(now - r->last_point_time_ns) / 1e9 : 0;
		break;
	case F_LAST_BYTES:
		if (!r || !r->last_point)
			return;
		val = (double)r->last_point_bytes;
		break;
	case F_BYTES_TOTAL: val = c ? (double)c->bytes_total : 0; break;
	case F_POINTS_TOTAL: val = c ? (double)c->points_total : 0; break;
	case F_CYCLE:
		if (!c || c->last_seconds < 0)
			return;
		val = c->last_seconds;
		break;
	case F_FAILURES: val = c ? (double)c->failures_total : 0; break;
	case F_FAILED_OVER: val = r && r->failed_over; break;
	case F_DRILL:
		if (!r || r->drill_result < 0)
			return;
		val = r->drill_result;
		break;
	case F_DRILL_RTO:
		if (!r || r->drill_result < 0 || r->drill_rto_s < 0)
			return;
		val = r->drill_rto_s;
		break;
	default:
		return;
	}
	metrics_put_sample(f, fam->name, v->name, val);
}

void
metrics_put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_put_sample(FILE *f, const char *name, const char *group, double val)
{
	/* Counters print as exact integers (doubles hold them up to 2^53). */
	if (val >= 0 && val < 9007199254740992.0 && val == (double)(uint64_t)val)
		fprintf(f, "%s{group=\"%s\"} %.0f\n", name, group, val);
	else
		fprintf(f, "%s{group=\"%s\"} %.15g\n", name, group, val);
}

char *
metrics_page(const struct metrics_family *fams, size_t n, size_t rows,
	     metrics_sample_fn sample_fn, void *arg)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	if (!f) {
		log_error("metrics: open_memstream: %m");
		return NULL;
	}
	for (size_t k = 0; k < n; k++) {
		metrics_put_family(f, fams[k].name, fams[k].type, fams[k].help);
		for (size_t i = 0; i < rows; i++)
			sample_fn(f, &fams[k], i, arg);
	}
	if (fclose(f) != 0) {
		log_error("metrics: cannot build the page: %m");
		free(body);
		return NULL;
	}
	return body;
}

char *
metrics_render(struct metrics *m)
{
	struct status_rx_group *rx = NULL;
	struct view *v = NULL;
	size_t nrx = 0, nv = 0;
	char *body = NULL;
	uint64_t now = clock_now_ns();

	if (status_rx_groups(m->st, m->store_dir, &rx, &nrx) < 0)
		goto out;
	v = calloc(nrx + m->n + 1, sizeof(*v));
	if (!v) {
		log_error("metrics: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nrx; i++)
		v[nv++] = (struct view){ rx[i].name, &rx[i], NULL };
	for (size_t k = 0; k < m->n; k++) {
		size_t i;

		for (i = 0; i < nrx && strcmp(v[i].name, m->g[k].name) != 0; i++)
			;
		if (i < nrx)
			v[i].c = &m->g[k];
		else
			v[nv++] = (struct view){ m->g[k].name, NULL, &m->g[k] };
	}
	body = metrics_page(families, sizeof(families) / sizeof(families[0]), nv, sample,
			    &(struct rx_page){ v, now });
out:
	free(v);
	free(rx);
	return body;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_http *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char *body;

	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	body = h->render(h->arg);
	if (!body || evbuffer_add(out, body, strlen(body)) < 0) {
		free(body);
		evhttp_send_error(req, HTTP_INTERNAL, "cannot build the metrics page");
		return;
	}
	free(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

struct metrics_http *
metrics_http_new(struct event_base *base, const char *host, uint16_t port,
		 metrics_render_fn render, void *arg)
{
	struct metrics_http *h = calloc(1, sizeof(*h));

	if (!h) {
		log_error("metrics: out of memory");
		return NULL;
	}
	h->render = render;
	h->arg = arg;
	h->http = evhttp_new(base);
	if (!h->http) {
		log_error("metrics: cannot create the HTTP server");
		goto out;
	}
	/* Scrapes are tiny; bound what a client may send us. */
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, on_request, h);
	if (!evhttp_bind_socket_with_handle(h->http, host, port)) {
		log_error("metrics: cannot listen on %s:%u: %m", host, port);
		goto out;
	}
	log_info("metrics on http://%s:%u/metrics", host, port);
	return h;
out:
	metrics_http_free(h);
	return NULL;
}

void
metrics_http_free(struct metrics_http *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	free(h);
}

/* libevent is not set up for threads here: the stop request crosses over
 * through a pipe and the loop breaks itself from its own thread. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_thread *t = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(t->base);
}

static void *
metrics_thread_main(void *arg)
{
	struct metrics_thread *t = arg;

	if (event_base_dispatch(t->base) < 0)
		log_error("metrics: event loop failed");
	return NULL;
}

struct metrics_thread *
metrics_thread_new(const char *host, uint16_t port, metrics_render_fn render, void *arg)
{
	struct metrics_thread *t = calloc(1, sizeof(*t));

	if (!t) {
		log_error("metrics: out of memory");
		return NULL;
	}
	t->pipe[0] = t->pipe[1] = -1;
	if (pipe2(t->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("metrics: pipe: %m");
		goto out;
	}
	t->base = event_base_new();
	if (!t->base) {
		log_error("metrics: cannot create an event loop");
		goto out;
	}
	t->wake = event_new(t->base, t->pipe[0], EV_READ, on_wake, t);
	if (!t->wake || event_add(t->wake, NULL) < 0) {
		log_error("metrics: cannot watch the stop pipe");
		goto out;
	}
	t->http = metrics_http_new(t->base, host, port, render, arg);
	if (!t->http)
		goto out;
	errno = pthread_create(&t->th, NULL, metrics_thread_main, t);
	if (errno != 0) {
		log_error("metrics: cannot start the HTTP thread: %m");
		goto out;
	}
	t->running = true;
	return t;
out:
	metrics_thread_free(t);
	return NULL;
}

void
metrics_thread_free(struct metrics_thread *t)
{
	if (!t)
		return;
	if (t->running) {
		while (write(t->pipe[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_join(t->th, NULL);
	}
	metrics_http_free(t->http);
	if (t->wake)
		event_free(t->wake);
	if (t->base)
		event_base_free(t->base);
	if (t->pipe[0] >= 0)
		close(t->pipe[0]);
	if (t->pipe[1] >= 0)
		close(t->pipe[1]);
	free(t);
}

static char *
receiver_render(void *arg)
{
	return metrics_render(arg);
}

struct metrics *
metrics_new(struct event_base *base, const char *host, uint16_t port, struct store *st,
	    const char *store_dir)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m) {
		log_error("metrics: out of memory");
		return NULL;
	}
	m->st = st;
	m->store_dir = store_dir;
	m->http = metrics_http_new(base, host, port, receiver_render, m);
	if (!m->http) {
		free(m);
		return NULL;
	}
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (!m)
		return;
	metrics_http_free(m->http);
	free(m->g);
	free(m);
}
