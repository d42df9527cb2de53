/* Prometheus metrics over the metrics listener's server (httpd.h): the GET /metrics endpoint (on
 * a caller's loop or a thread of its own), the text-format helpers and the
 * page builder. The pages themselves belong to the receiver
 * (replicator/receiver/rxmetrics.c) and the agent daemon. */
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

#include <event2/event.h>

#include "common/log.h"
#include "replicator/httpd.h"

struct metrics_http {
	struct httpd *http;
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

void
metrics_put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_put_sample(FILE *f, const char *name, const char *group, double val)
{
	metrics_put_sample_label(f, name, group, NULL, NULL, val);
}

void
metrics_put_sample_label(FILE *f, const char *name, const char *group, const char *key,
			 const char *value, double val)
{
	fprintf(f, "%s{group=\"%s\"", name, group);
	if (key)
		fprintf(f, ",%s=\"%s\"", key, value);
	/* Counters print as exact integers (doubles hold them up to 2^53). */
	if (val >= 0 && val < 9007199254740992.0 && val == (double)(uint64_t)val)
		fprintf(f, "} %.0f\n", val);
	else
		fprintf(f, "} %.15g\n", val);
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

void
metrics_answer(struct httpd_resp *resp, metrics_render_fn render, void *arg)
{
	char *body = render(arg);

	if (!body) {
		resp->status = 500;
		resp->body = strdup("cannot build the metrics page\n");
		resp->len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	resp->status = 200;
	resp->type = "text/plain; version=0.0.4; charset=utf-8";
	resp->body = body;
	resp->len = strlen(body);
}

static void
on_request(const struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
	struct metrics_http *h = arg;

	if (strcmp(req->path, "/metrics") != 0) {
		resp->status = 404;
		resp->body = strdup("only /metrics is served here\n");
		resp->len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	metrics_answer(resp, h->render, h->arg);
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
	h->http = httpd_new(base, host, port, NULL, on_request, h);
	if (!h->http) {
		free(h);
		return NULL;
	}
	log_info("metrics on http://%s:%u/metrics", host, port);
	return h;
}

void
metrics_http_free(struct metrics_http *h)
{
	if (!h)
		return;
	httpd_free(h->http);
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
