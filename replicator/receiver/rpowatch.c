/* The webhook's edge detector (replicator/receiver/rpowatch.h): what
 * changed since the last check, per group, so that each breach, recovery,
 * failed drill and failover is told once. */
#include "replicator/receiver/rpowatch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replicator/receiver/status.h"

struct watch_group {
	char name[65];
	bool breached;
	bool failed_over;
	char drill_id[128]; /* newest drill seen; "" none */
};

/* The groups are sorted by name, as status_rx_groups gives them: a
 * check with thousands of groups finds each one's state by bsearch. */
struct rpowatch {
	struct watch_group *g;
	size_t n;
};

struct rpowatch *
rpowatch_new(void)
{
	struct rpowatch *w = calloc(1, sizeof(*w));

	if (!w)
		log_error("notify: out of memory");
	return w;
}

void
rpowatch_free(struct rpowatch *w)
{
	if (!w)
		return;
	free(w->g);
	free(w);
}

const char *
rpowatch_kind_name(enum rpowatch_kind k)
{
	static const char *const names[] = {
		[RPOWATCH_BREACH] = "rpo_breach", [RPOWATCH_RECOVERED] = "rpo_recovered",
		[RPOWATCH_DRILL_FAILED] = "drill_failed", [RPOWATCH_FAILOVER] = "failover",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

static int
cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct watch_group *)elem)->name);
}

static const struct watch_group *
find_old(const struct rpowatch *w, const char *name)
{
	return w->n ? bsearch(name, w->g, w->n, sizeof(*w->g), cmp_name) : NULL;
}

static void
emit_one(rpowatch_emit_fn emit, void *arg, enum rpowatch_kind kind, const char *group,
	 double rpo_s, uint64_t target_s, const char *detail)
{
	struct rpowatch_event ev = { kind, group, rpo_s, target_s, detail };

	emit(&ev, arg);
}

/* The RPO edge of group g (old: its state before, NULL if new) into st. */
static void
watch_rpo(const struct status_rx_group *g, const struct watch_group *old, uint64_t target_s,
	  double age, struct watch_group *st, rpowatch_emit_fn emit, void *arg)
{
	char detail[256];
	bool over = age > (double)target_s;

	st->breached = old ? old->breached : false;
	if (g->failed_over || !g->last_point || over == st->breached)
		return;
	st->breached = over;
	snprintf(detail, sizeof(detail), over
		 ? "group %s: newest point %" PRIu64 " is %.0f s old, past its RPO target of %" PRIu64 " s"
		 : "group %s: newest point %" PRIu64 " is %.0f s old, within its RPO target of %" PRIu64 " s again",
		 g->name, g->last_point, age, target_s);
	emit_one(emit, arg, over ? RPOWATCH_BREACH : RPOWATCH_RECOVERED, g->name, age, target_s,
		 detail);
}

/* The drill and failover edges of g; a group seen first only records them. */
static void
watch_runs(const struct status_rx_group *g, const struct watch_group *old, uint64_t target_s,
	   double age, struct watch_group *st, rpowatch_emit_fn emit, void *arg)
{
	char detail[512];

	st->failed_over = g->failed_over;
	if (g->drill_result >= 0)
		snprintf(st->drill_id, sizeof(st->drill_id), "%s", g->drill_id);
	if (!old)
		return;
	if (g->drill_result == 0 && strcmp(old->drill_id, st->drill_id) != 0) {
		snprintf(detail, sizeof(detail), "group %s: drill %s failed", g->name, g->drill_id);
		emit_one(emit, arg, RPOWATCH_DRILL_FAILED, g->name, age, target_s, detail);
	}
	if (g->failed_over && !old->failed_over) {
		snprintf(detail, sizeof(detail), "group %s is failed over: new points are refused",
			 g->name);
		emit_one(emit, arg, RPOWATCH_FAILOVER, g->name, age, target_s, detail);
	}
}

void
rpowatch_observe(struct rpowatch *w, const struct status_rx_group *g,
		 const uint64_t *target_s, size_t n, uint64_t now,
		 rpowatch_emit_fn emit, void *arg)
{
	struct watch_group *next = calloc(n ? n : 1, sizeof(*next));

	if (!next) {
		/* the old state stays: the next check sees the same edges */
		log_error("notify: out of memory checking %zu groups", n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct watch_group *old = find_old(w, g[i].name);
		double age = status_rx_rpo(&g[i], now);

		snprintf(next[i].name, sizeof(next[i].name), "%s", g[i].name);
		watch_rpo(&g[i], old, target_s[i], age, &next[i], emit, arg);
		watch_runs(&g[i], old, target_s[i], age, &next[i], emit, arg);
	}
	free(w->g);
	w->g = next;
	w->n = n;
}
