/* Prometheus metrics: the GET /metrics HTTP endpoint (on a caller's event
 * base or on a thread of its own), the text-format helpers and the page
 * builder, shared by the receiver (replicator/receiver/rxmetrics.h) and
 * the agent daemon. */
#ifndef NESTOR_REPLICATOR_METRICS_H
#define NESTOR_REPLICATOR_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct event_base;
struct httpd_resp;
struct metrics_http;
struct metrics_thread;

/* Builds the /metrics body (text format 0.0.4): malloc'd, owned by the
 * caller; NULL on error (logged), answered with HTTP 500. */
typedef char *(*metrics_render_fn)(void *arg);

/* Answer a GET /metrics with the page render(arg) builds: 200, or 500
 * when it cannot be built. For a listener that serves more (the
 * receiver's dashboard, rxmetrics.c). */
void metrics_answer(struct httpd_resp *resp, metrics_render_fn render, void *arg);

/* Serve GET /metrics on host:port from base's loop; render(arg) runs on
 * that loop for every scrape. NULL on error (logged). */
struct metrics_http *metrics_http_new(struct event_base *base, const char *host,
				      uint16_t port, metrics_render_fn render, void *arg);
void metrics_http_free(struct metrics_http *h);

/* Same on an event loop in a thread of its own, for a process whose main
 * thread does something else: render(arg) runs on that thread and must
 * lock what it reads. metrics_thread_free stops the thread (NULL ok). */
struct metrics_thread *metrics_thread_new(const char *host, uint16_t port,
					  metrics_render_fn render, void *arg);
void metrics_thread_free(struct metrics_thread *t);

/* Text-format helpers: a family's HELP and TYPE lines, then its samples
 * with one label group="..." (group names are validated names: nothing to
 * escape). Integral values print exactly. */
void metrics_put_family(FILE *f, const char *name, const char *type, const char *help);
void metrics_put_sample(FILE *f, const char *name, const char *group, double val);
/* The same with a second label key="value" after group (key NULL: none);
 * value must need no escaping (a fixed word). */
void metrics_put_sample_label(FILE *f, const char *name, const char *group, const char *key,
			      const char *value, double val);

/* One family of a page; id is the page's own (an enum of its fields). */
struct metrics_family {
	int id;
	const char *name, *type, *help;
};
/* Prints fam's sample for group row < rows of the page (metrics_put_sample;
 * nothing when the group has no value for it). */
typedef void (*metrics_sample_fn)(FILE *f, const struct metrics_family *fam, size_t row,
				  void *arg);
/* A whole page: for each of the n families its HELP and TYPE lines, then
 * sample(f, fam, row, arg) for each row in order. malloc'd, owned by the
 * caller; NULL on error (logged). */
char *metrics_page(const struct metrics_family *fams, size_t n, size_t rows,
		   metrics_sample_fn sample, void *arg);

#endif
