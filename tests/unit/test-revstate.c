/* Unit tests of replicator/revstate (the reverse direction's summary file
 * of a failback) and of what status makes of it: the direction, the
 * reverse RPO, the counts, a file of another failover, a broken file. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "replicator/config.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/status.h"
#include "replicator/receiver/store.h"
#include "replicator/revstate.h"
#include "tests/unit/storebegin.h"
#include "tests/unit/tmpdir.h"

#define S 1000000000ULL

TMPDIR_SUITE(revstate, dir, "nestor-revstate");

static char *
path_in(const char *name)
{
	static char p[160];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

Test(revstate, absent_is_none_and_forward)
{
	struct revstate rs;

	rs.points = 7;
	cr_assert_eq(revstate_load(path_in("none.json"), &rs), 1);
	cr_assert_eq(rs.points, 0, "zeroed");
	cr_assert_str_eq(revstate_direction(NULL, false), "forward");
	cr_assert_str_eq(revstate_direction(NULL, true), "failed_over");
	cr_assert_str_eq(revstate_direction(&rs, true), "failed_over", "no point: not reverse");
	cr_assert(revstate_rpo(&rs, 5 * S) < 0, "no reverse RPO without a point");
}

Test(revstate, note_counts_each_point_once)
{
	const char *p = path_in("r.json");
	struct revstate rs;

	cr_assert_eq(revstate_note(p, 1, 10 * S, 1000, "fo-1"), 0);
	cr_assert_eq(revstate_note(p, 2, 20 * S, 300, "fo-1"), 0);
	cr_assert_eq(revstate_note(p, 2, 21 * S, 300, "fo-1"), 0, "the same point again");
	cr_assert_eq(revstate_load(p, &rs), 0);
	cr_assert_eq(rs.points, 2);
	cr_assert_eq(rs.bytes_total, 1300);
	cr_assert_eq(rs.last_point, 2);
	cr_assert_eq(rs.last_bytes, 300);
	cr_assert_eq(rs.last_time_ns, 21 * S);
	cr_assert_str_eq(rs.failover, "fo-1");
	cr_assert_str_eq(revstate_direction(&rs, true), "reverse");
	cr_assert_str_eq(revstate_direction(&rs, false), "reverse", "a stream runs only failed over");
	cr_assert_float_eq(revstate_rpo(&rs, 51 * S), 30.0, 1e-9);
	cr_assert_float_eq(revstate_rpo(&rs, 1 * S), 0.0, 1e-9, "a clock behind: 0, not negative");
	/* Another failover's stream starts from nothing. */
	cr_assert_eq(revstate_note(p, 1, 90 * S, 50, "fo-2"), 0);
	cr_assert_eq(revstate_load(p, &rs), 0);
	cr_assert_eq(rs.points, 1);
	cr_assert_eq(rs.bytes_total, 50);
	cr_assert_str_eq(rs.failover, "fo-2");
}

Test(revstate, released_is_forward)
{
	const char *p = path_in("r.json");
	struct revstate rs = { .points = 3, .last_point = 3, .last_time_ns = S, .bytes_total = 9 };

	cr_assert_eq(revstate_save(p, &rs), 0);
	rs.released = true;
	cr_assert_eq(revstate_save(p, &rs), 0);
	memset(&rs, 0, sizeof(rs));
	cr_assert_eq(revstate_load(p, &rs), 0);
	cr_assert(rs.released);
	cr_assert_eq(rs.points, 3);
	cr_assert_str_eq(revstate_direction(&rs, false), "forward");
	cr_assert_str_eq(revstate_direction(&rs, true), "failed_over");
}

Test(revstate, malformed_is_refused)
{
	static const char *const bad[] = {
		"not json",
		"{\"version\": 2, \"points\": 1, \"last_point\": 1}",
		"{\"version\": 1, \"points\": -1, \"last_point\": 1, \"last_time_ns\": 0, "
		"\"last_bytes\": 0, \"bytes_total\": 0}",
		"{\"version\": 1, \"points\": 0, \"last_point\": 4, \"last_time_ns\": 0, "
		"\"last_bytes\": 0, \"bytes_total\": 0}",
		"{\"version\": 1, \"points\": 1, \"last_point\": 1, \"last_time_ns\": 0, "
		"\"last_bytes\": 0, \"bytes_total\": 0, \"failover\": 3}",
	};
	struct revstate rs;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tmpdir_write(dir, "bad.json", bad[i]);
		rs.points = 5;
		cr_assert_eq(revstate_load(path_in("bad.json"), &rs), -1, "%s", bad[i]);
		cr_assert_eq(rs.points, 0, "zeroed on error");
	}
	/* A broken file does not stop the counting: it starts again. */
	cr_assert_eq(revstate_note(path_in("bad.json"), 6, S, 10, "fo"), 0);
	cr_assert_eq(revstate_load(path_in("bad.json"), &rs), 0);
	cr_assert_eq(rs.points, 1);
	cr_assert_eq(rs.last_point, 6);
}

/* nestor status on the agent: a group whose target has reverse points is
 * "reverse" with its figures; once released, forward again. */
Test(revstate, agent_status_direction)
{
	char conf[512], path[200];
	struct agent_config *cfg = NULL;
	struct revstate rs = { .points = 2, .last_point = 2, .last_time_ns = 100 * S,
			       .bytes_total = 4096, .last_bytes = 1024 };
	json_t *j, *g, *rev;

	snprintf(conf, sizeof(conf),
		 "[agent]\nname = a\nreceiver = 127.0.0.1:7401\nca = /c\ncert = /c\nkey = /k\n"
		 "state_dir = %s\n\n[group web]\nrpo = 60s\n\n[disk web d]\npath = /x.img\n", dir);
	cr_assert_eq(agent_config_load_string("agent.conf", conf, &cfg), 0);
	j = status_agent_json(cfg, 130 * S);
	g = json_array_get(json_object_get(j, "groups"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(g, "direction")), "forward");
	cr_assert(json_is_null(json_object_get(g, "reverse")));
	json_decref(j);

	snprintf(path, sizeof(path), "%s/failback/web", dir);
	cr_assert_eq(mkdir(path_in("failback"), 0700), 0);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/failback/web/reverse.json", dir);
	cr_assert_eq(revstate_save(path, &rs), 0);
	j = status_agent_json(cfg, 130 * S);
	g = json_array_get(json_object_get(j, "groups"), 0);
	rev = json_object_get(g, "reverse");
	cr_assert_str_eq(json_string_value(json_object_get(g, "direction")), "reverse");
	cr_assert_eq(json_integer_value(json_object_get(rev, "points")), 2);
	cr_assert_eq(json_integer_value(json_object_get(rev, "last_point")), 2);
	cr_assert_eq(json_integer_value(json_object_get(rev, "bytes_total")), 4096);
	cr_assert_float_eq(json_number_value(json_object_get(rev, "rpo_seconds")), 30.0, 1e-9);
	json_decref(j);

	rs.released = true;
	cr_assert_eq(revstate_save(path, &rs), 0);
	j = status_agent_json(cfg, 130 * S);
	g = json_array_get(json_object_get(j, "groups"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(g, "direction")), "forward");
	cr_assert(json_is_null(json_object_get(g, "reverse")));
	json_decref(j);
	agent_config_free(cfg);
}

/* The receiver's status of its one group "grp" at 40 s, as JSON (a new
 * reference), and failed_over, failing_back as the struct says them. */
static json_t *
rx_view(struct store *st, bool *failed_over, bool *failing_back)
{
	struct status_rx_group *g = NULL;
	size_t n = 0;
	json_t *j, *o;

	cr_assert_eq(status_rx_groups(st, dir, &g, &n), 0);
	cr_assert_eq(n, 1);
	*failed_over = g[0].failed_over;
	*failing_back = g[0].failing_back;
	j = status_rx_json(dir, g, n, 40 * S);
	o = json_incref(json_array_get(json_object_get(j, "groups"), 0));
	cr_assert_not_null(o);
	cr_assert_eq(json_is_true(json_object_get(o, "failing_back")), *failing_back);
	json_decref(j);
	free(g);
	return o;
}

/* nestor status and /metrics on the receiver: failing back only while
 * failed over and for this failover's stream, not an older one's. */
Test(revstate, receiver_status_this_failover_only)
{
	struct store *st = store_open(dir, NULL);
	struct store_point *pt;
	char *rpath = revstate_rx_path(dir, "grp");
	struct revstate old = { .points = 9, .last_point = 9, .bytes_total = 1,
				.failover = "fo-0" };
	bool fo = false, back = false;
	json_t *m, *o, *rev;
	int err = -1;

	cr_assert_not_null(st);
	pt = store_begin_one(st, 1, 0, "d", 1u << 20);
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "{}", 2, &err), 0);
	store_point_free(pt);
	cr_assert_eq(revstate_note(rpath, 4, 10 * S, 100, "fo-1"), 0);

	/* Not failed over (released): not failing back, whatever the file. */
	json_decref(rx_view(st, &fo, &back));
	cr_assert_not(fo);
	cr_assert_not(back);

	m = json_pack("{s:s, s:i}", "failover", "fo-1", "point", 1);
	cr_assert_eq(failover_marker_save(dir, "grp", m), 0);
	o = rx_view(st, &fo, &back);
	rev = json_object_get(o, "reverse");
	cr_assert(fo);
	cr_assert(back);
	cr_assert_eq(json_integer_value(json_object_get(rev, "last_point")), 4);
	cr_assert_eq(json_integer_value(json_object_get(rev, "points")), 1);
	cr_assert_float_eq(json_number_value(json_object_get(rev, "rpo_seconds")), 30.0, 1e-9);
	json_decref(o);

	/* The file of an older failover's stream does not count. */
	cr_assert_eq(revstate_save(rpath, &old), 0);
	o = rx_view(st, &fo, &back);
	cr_assert(fo);
	cr_assert_not(back);
	cr_assert(json_is_null(json_object_get(o, "reverse")));
	json_decref(o);
	json_decref(m);
	free(rpath);
	store_free(st);
}
