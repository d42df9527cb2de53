/* Prometheus metrics: the GET /metrics HTTP endpoint (on a caller's event
 * base or on a thread of its own) and the text-format helpers, shared by
 * the receiver and the agent daemon; plus the receiver's own metrics:
 * per-group counters kept in memory (since the receiver started) and
 * gauges read from the store at scrape time. */
#ifndef NESTOR_REPLICATOR_METRICS_H
#define NESTOR_REPLICATOR_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct event_base;
struct metrics;
struct metrics_http;
struct metrics_thread;
struct store;

/* Builds the /metrics body (text format 0.0.4): malloc'd, owned by the
 * caller; NULL on error (logged), answered with HTTP 500. */
typedef char *(*metrics_render_fn)(void *arg);

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

/* Start serving on host:port (the `metrics` key of [receiver]); st and
 * store_dir are borrowed and must outlive the object. NULL on error
 * (logged). */
struct metrics *metrics_new(struct event_base *base, const char *host, uint16_t port,
			    struct store *st, const char *store_dir);
/* Stop serving. NULL ok. */
void metrics_free(struct metrics *m);

/* Counters; m NULL (metrics off) is a no-op. bytes = payload bytes
 * received, seconds = from the point's begin to its commit. */
void metrics_point_committed(struct metrics *m, const char *group, uint64_t bytes,
			     double seconds);
/* A session ended with its point not committed; bytes received in it. */
void metrics_session_failed(struct metrics *m, const char *group, uint64_t bytes);

/* The /metrics body (text format 0.0.4), malloc'd; NULL on error. For tests. */
char *metrics_render(struct metrics *m);

#endif
