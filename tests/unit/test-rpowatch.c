/* Unit tests for replicator/receiver/rpowatch: the webhook's edge detector
 * (issue 16): one event per breach and per recovery, new failed drills,
 * failovers; what a first sight (a restart) emits. */
#include "replicator/receiver/monitor.h"
#include "replicator/receiver/rpowatch.h"
#include "replicator/receiver/status.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S 1000000000ull
#define T0 (1800000000ull * S)

struct seen {
	int n;
	char kinds[16][32];
	char groups[16][65];
	double rpo[16];
	uint64_t target[16];
	char detail[16][256];
};

static void
record(const struct rpowatch_event *ev, void *arg)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 16);
	snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", rpowatch_kind_name(ev->kind));
	snprintf(s->groups[s->n], sizeof(s->groups[0]), "%s", ev->group);
	s->rpo[s->n] = ev->rpo_s;
	s->target[s->n] = ev->target_s;
	snprintf(s->detail[s->n], sizeof(s->detail[0]), "%s", ev->detail);
	s->n++;
}

static struct status_rx_group
group(const char *name, uint64_t point, uint64_t time_ns)
{
	struct status_rx_group g;

	memset(&g, 0, sizeof(g));
	snprintf(g.name, sizeof(g.name), "%s", name);
	g.last_point = point;
	g.last_point_time_ns = time_ns;
	g.drill_result = -1;
	return g;
}

/* Observe g (one group, target 20 s) at now; the events since last time. */
static struct seen
look(struct rpowatch *w, const struct status_rx_group *g, uint64_t now)
{
	struct seen s = { 0 };
	uint64_t target = 20;

	rpowatch_observe(w, g, &target, 1, now, record, &s);
	return s;
}

Test(rpowatch, breach_once_then_recovery_once)
{
	struct rpowatch *w = rpowatch_new();
	struct status_rx_group g = group("g1", 1, T0);
	struct seen s;

	cr_assert_not_null(w);
	cr_assert_eq(look(w, &g, T0 + 5 * S).n, 0, "within its target at first sight");
	cr_assert_eq(look(w, &g, T0 + 20 * S).n, 0, "exactly at the target is not past it");
	s = look(w, &g, T0 + 21 * S);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.kinds[0], "rpo_breach");
	cr_assert_str_eq(s.groups[0], "g1");
	cr_assert_float_eq(s.rpo[0], 21.0, 1e-9);
	cr_assert_eq(s.target[0], 20);
	cr_assert(strstr(s.detail[0], "past its RPO target of 20 s"), "%s", s.detail[0]);
	for (int i = 22; i < 200; i += 7)
		cr_assert_eq(look(w, &g, T0 + (uint64_t)i * S).n, 0, "breach told once (%d s)", i);
	g = group("g1", 2, T0 + 300 * S);
	s = look(w, &g, T0 + 303 * S);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.kinds[0], "rpo_recovered");
	cr_assert_float_eq(s.rpo[0], 3.0, 1e-9);
	cr_assert(strstr(s.detail[0], "newest point 2 is 3 s old, within"), "%s", s.detail[0]);
	cr_assert_eq(look(w, &g, T0 + 310 * S).n, 0, "recovery told once");
	cr_assert_eq(look(w, &g, T0 + 321 * S).n, 1, "a second breach is a new event");
	rpowatch_free(w);
	rpowatch_free(NULL);
}

/* A restart: a group past its target at first sight is told (nothing
 * else would tell it); its old drills and its failover are not. */
Test(rpowatch, first_sight)
{
	struct rpowatch *w = rpowatch_new();
	struct status_rx_group g = group("g1", 4, T0);
	struct seen s;

	g.drill_result = 0;
	snprintf(g.drill_id, sizeof(g.drill_id), "d-old");
	s = look(w, &g, T0 + 100 * S);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.kinds[0], "rpo_breach");
	rpowatch_free(w);

	w = rpowatch_new();
	g = group("g2", 0, 0);
	g.failed_over = true;
	cr_assert_eq(look(w, &g, T0).n, 0, "no point and failed over before: nothing");
	g = group("g2", 0, 0);
	cr_assert_eq(look(w, &g, T0 + 100 * S).n, 0, "no point, no RPO to breach");
	rpowatch_free(w);
}

Test(rpowatch, failed_drill_and_failover)
{
	struct rpowatch *w = rpowatch_new();
	struct status_rx_group g = group("g1", 1, T0);
	struct seen s;

	cr_assert_eq(look(w, &g, T0 + S).n, 0);
	g.drill_result = 1;
	snprintf(g.drill_id, sizeof(g.drill_id), "d1");
	cr_assert_eq(look(w, &g, T0 + 2 * S).n, 0, "a drill that passed");
	g.drill_result = 0;
	snprintf(g.drill_id, sizeof(g.drill_id), "d2");
	s = look(w, &g, T0 + 3 * S);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.kinds[0], "drill_failed");
	cr_assert(strstr(s.detail[0], "drill d2 failed"), "%s", s.detail[0]);
	cr_assert_eq(look(w, &g, T0 + 4 * S).n, 0, "the same failed drill is told once");
	g.failed_over = true;
	s = look(w, &g, T0 + 100 * S);
	cr_assert_eq(s.n, 1, "failed over: no breach, the failover");
	cr_assert_str_eq(s.kinds[0], "failover");
	cr_assert_eq(look(w, &g, T0 + 200 * S).n, 0, "told once; its RPO is not watched");
	rpowatch_free(w);
}

/* Several groups by name; one that goes away is forgotten. */
Test(rpowatch, groups_by_name)
{
	struct rpowatch *w = rpowatch_new();
	struct status_rx_group g[3] = { group("a", 1, T0), group("b", 1, T0 + 50 * S),
					group("c", 1, T0) };
	uint64_t t[3] = { 20, 20, 100 };
	struct seen s = { 0 };

	rpowatch_observe(w, g, t, 3, T0 + 60 * S, record, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.groups[0], "a");
	memset(&s, 0, sizeof(s));
	rpowatch_observe(w, &g[1], &t[1], 2, T0 + 80 * S, record, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.groups[0], "b");
	memset(&s, 0, sizeof(s));
	rpowatch_observe(w, g, t, 3, T0 + 81 * S, record, &s);
	cr_assert_eq(s.n, 1, "a came back: seen first again");
	cr_assert_str_eq(s.groups[0], "a");
	rpowatch_free(w);
}

Test(rpowatch, event_json)
{
	struct rpowatch_event ev = { RPOWATCH_BREACH, "g1", 31.5, 20, "group g1: \"late\"" };
	json_t *o;
	json_error_t err;
	char *s = monitor_event_json(&ev, T0);

	cr_assert_not_null(s);
	o = json_loads(s, 0, &err);
	cr_assert_not_null(o, "%s", s);
	cr_assert_eq(json_object_size(o), 6, "%s", s);
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "rpo_breach");
	cr_assert_str_eq(json_string_value(json_object_get(o, "group")), "g1");
	cr_assert_str_eq(json_string_value(json_object_get(o, "at")), "2027-01-15T08:00:00Z");
	cr_assert_float_eq(json_number_value(json_object_get(o, "rpo_s")), 31.5, 1e-9);
	cr_assert_eq(json_integer_value(json_object_get(o, "target_s")), 20);
	cr_assert_str_eq(json_string_value(json_object_get(o, "detail")), "group g1: \"late\"");
	json_decref(o);
	free(s);
	ev.rpo_s = -1;
	s = monitor_event_json(&ev, T0);
	o = json_loads(s, 0, &err);
	cr_assert(json_is_null(json_object_get(o, "rpo_s")), "%s", s);
	json_decref(o);
	free(s);
}
