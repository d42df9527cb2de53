/* The receiver's Prometheus metrics (and its dashboard, dashboard.h): per-group counters kept in memory
 * (since the receiver started) and gauges read from the store at scrape
 * time, served on the receiver's event loop (replicator/metrics.h). */
#ifndef NESTOR_RECEIVER_RXMETRICS_H
#define NESTOR_RECEIVER_RXMETRICS_H

#include <stdint.h>

struct event_base;
struct notify;
struct receiver_config;
struct rxmetrics;
struct store;

/* Start serving /metrics and the dashboard (dashboard.h) on cfg's
 * `metrics` address; cfg and st are borrowed and must outlive the object.
 * NULL on error (logged). */
struct rxmetrics *rxmetrics_new(struct event_base *base, const struct receiver_config *cfg,
				struct store *st);
/* Export the webhook's counters of n (borrowed; NULL: none). m NULL is a
 * no-op. */
void rxmetrics_set_notify(struct rxmetrics *m, struct notify *n);
/* Stop serving. NULL ok. */
void rxmetrics_free(struct rxmetrics *m);

/* Counters; m NULL (metrics off) is a no-op. bytes = payload bytes
 * received, seconds = from the point's begin to its commit. A commit also
 * goes into the group's RPO history (rpohist.h). */
void rxmetrics_point_committed(struct rxmetrics *m, const char *group, uint64_t bytes,
			       double seconds);
/* A session ended with its point not committed; bytes received in it. */
void rxmetrics_session_failed(struct rxmetrics *m, const char *group, uint64_t bytes);

/* The /metrics body (text format 0.0.4), malloc'd (caller frees); NULL on
 * error (logged). For tests. */
char *rxmetrics_render(struct rxmetrics *m);

#endif
