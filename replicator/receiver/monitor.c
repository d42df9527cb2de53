/* The webhook's watch (replicator/receiver/monitor.h): status of every
 * group, edges, events. It reads what `nestor status` reads, from the same
 * builder, so the webhook and the status never disagree on an age. */
#include "replicator/receiver/monitor.h"

#include <stdlib.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/notify.h"
#include "replicator/receiver/rpowatch.h"
#include "replicator/receiver/status.h"

struct monitor {
	const struct receiver_config *cfg;
	struct store *st;
	struct notify *notify;
	struct rpowatch *watch;
	struct event *tick;
	uint64_t now; /* of the check being made, for the events' "at" */
};

char *
monitor_event_json(const struct rpowatch_event *ev, uint64_t now)
{
	char at[CLOCK_ISO_LEN];
	json_t *o;
	char *s = NULL;

	clock_iso8601(now, at, sizeof(at));
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:s}", "event", rpowatch_kind_name(ev->kind),
		      "group", ev->group, "at", at,
		      "rpo_s", ev->rpo_s >= 0 ? json_real(ev->rpo_s) : json_null(),
		      "target_s", (json_int_t)ev->target_s, "detail", ev->detail);
	if (o)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		log_error("notify: out of memory");
	return s;
}

static void
on_event(const struct rpowatch_event *ev, void *arg)
{
	struct monitor *m = arg;
	char *body = monitor_event_json(ev, m->now);

	/* the receiver's log tells it too, with or without a target up */
	log_warn("notify: %s: %s", rpowatch_kind_name(ev->kind), ev->detail);
	if (body)
		notify_post(m->notify, body);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct monitor *m = arg;
	struct status_rx_group *g = NULL;
	uint64_t *targets = NULL;
	size_t n = 0;

	(void)fd;
	(void)what;
	/* a store that cannot be read now is logged; the next check tries again */
	if (status_rx_groups(m->st, m->cfg->store_dir, &g, &n) < 0)
		goto out;
	targets = calloc(n ? n : 1, sizeof(*targets));
	if (!targets) {
		log_error("notify: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		targets[i] = receiver_config_rpo(m->cfg, g[i].name);
	m->now = clock_now_ns();
	rpowatch_observe(m->watch, g, targets, n, m->now, on_event, m);
out:
	free(targets);
	free(g);
}

struct monitor *
monitor_new(struct event_base *base, const struct receiver_config *cfg, struct store *st,
	    struct notify *n)
{
	struct monitor *m = calloc(1, sizeof(*m));
	struct timeval tv = { MONITOR_INTERVAL_S, 0 };

	if (!m) {
		log_error("notify: out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->st = st;
	m->notify = n;
	m->watch = rpowatch_new();
	m->tick = m->watch ? event_new(base, -1, EV_PERSIST, on_tick, m) : NULL;
	if (!m->tick || event_add(m->tick, &tv) < 0) {
		log_error("notify: cannot start the group checks");
		monitor_free(m);
		return NULL;
	}
	return m;
}

void
monitor_free(struct monitor *m)
{
	if (!m)
		return;
	if (m->tick)
		event_free(m->tick);
	rpowatch_free(m->watch);
	free(m);
}
