/* The receiver's Prometheus metrics: per-group counters kept in memory
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

/* Start serving on host:port (the `metrics` key of [receiver]); st and
 * store_dir are borrowed and must outlive the object. NULL on error
 * (logged). */
struct rxmetrics *rxmetrics_new(struct event_base *base, const char *host, uint16_t port,
				struct store *st, const char *store_dir);
/* Export each group's RPO target from cfg (borrowed, outlives m), and
 * the webhook's counters of n (borrowed; NULL: none). m NULL is a no-op. */
void rxmetrics_set_config(struct rxmetrics *m, const struct receiver_config *cfg);
void rxmetrics_set_notify(struct rxmetrics *m, struct notify *n);
/* Stop serving. NULL ok. */
void rxmetrics_free(struct rxmetrics *m);

/* Counters; m NULL (metrics off) is a no-op. bytes = payload bytes
 * received, seconds = from the point's begin to its commit. */
void rxmetrics_point_committed(struct rxmetrics *m, const char *group, uint64_t bytes,
			       double seconds);
/* A session ended with its point not committed; bytes received in it. */
void rxmetrics_session_failed(struct rxmetrics *m, const char *group, uint64_t bytes);

/* The /metrics body (text format 0.0.4), malloc'd (caller frees); NULL on
 * error (logged). For tests. */
char *rxmetrics_render(struct rxmetrics *m);

#endif
