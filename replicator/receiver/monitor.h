/* The receiver's watch for the webhook (issue 16): every few seconds on
 * the event loop, the groups' status (status.h) through the edge detector
 * (rpowatch.h), each change posted as a JSON event (notify.h). */
#ifndef NESTOR_RECEIVER_MONITOR_H
#define NESTOR_RECEIVER_MONITOR_H

#include <stdint.h>

struct event_base;
struct monitor;
struct notify;
struct receiver_config;
struct rpowatch_event;
struct store;

/* Seconds between two checks of the groups. */
#define MONITOR_INTERVAL_S 5

/* Check cfg's groups in st every MONITOR_INTERVAL_S on base's loop and post
 * to n; cfg, st and n are borrowed and outlive the monitor. NULL on error
 * (logged). */
struct monitor *monitor_new(struct event_base *base, const struct receiver_config *cfg,
			    struct store *st, struct notify *n);
void monitor_free(struct monitor *m);

/* ev as the webhook's JSON {event, group, at, rpo_s, target_s, detail}, at
 * = now (wall clock ns) in UTC: malloc'd (caller frees), NULL if out of
 * memory (logged). */
char *monitor_event_json(const struct rpowatch_event *ev, uint64_t now);

#endif
