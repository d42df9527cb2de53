/* Prometheus metrics of the receiver: per-group counters kept in memory
 * (since the receiver started) and gauges read from the store at scrape
 * time, served as GET /metrics over plain HTTP on the receiver's event base. */
#ifndef NESTOR_REPLICATOR_METRICS_H
#define NESTOR_REPLICATOR_METRICS_H

#include <stdint.h>

struct event_base;
struct metrics;
struct store;

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
