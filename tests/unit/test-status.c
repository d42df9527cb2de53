/* Unit tests for replicator/receiver/status: the RPO figure and the state
 * against the target that nestor status, /metrics and the dashboard share,
 * and the reading of a drill's or failover's report. */
#define _GNU_SOURCE /* nftw */
#include "replicator/receiver/status.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "replicator/config.h"

#include "tests/unit/tmpdir.h"

#define S 1000000000ULL

Test(status, rpo_and_state_against_target)
{
	struct status_rx_group g = { .last_point = 4, .last_point_time_ns = 100 * S,
				     .rpo_target_s = 60 };

	cr_assert_float_eq(status_rx_rpo(&g, 130 * S), 30.0, 1e-9);
	cr_assert_float_eq(status_rx_rpo(&g, 50 * S), 0.0, 1e-9, "a clock behind: 0, not negative");
	cr_assert_str_eq(status_rx_state(&g, 147 * S), "ok");       /* 47 s < 48 s */
	cr_assert_str_eq(status_rx_state(&g, 149 * S), "warn");     /* 49 s > 80 % */
	cr_assert_str_eq(status_rx_state(&g, 160 * S), "warn");     /* at the target */
	cr_assert_str_eq(status_rx_state(&g, 161 * S), "breached");
	g.rpo_target_s = 0;
	cr_assert_str_eq(status_rx_state(&g, 161 * S), "unknown");
	g = (struct status_rx_group){ .rpo_target_s = 60 };
	cr_assert_float_eq(status_rx_rpo(&g, 130 * S), -1.0, 1e-9);
	cr_assert_str_eq(status_rx_state(&g, 130 * S), "none");
}

Test(status, run_report)
{
	char dir[64], path[128];
	struct status_run r;
	FILE *f;

	tmpdir_make(dir, sizeof(dir), "status");
	snprintf(path, sizeof(path), "%s/20260101T000000-ab12.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"drill\":\"d1\",\"mode\":\"failover\",\"verdict\":\"pass\",\"point\":7,"
	      "\"started_ns\":5,\"rpo_s\":12.5,\"vms\":[{\"rto_s\":3},{\"rto_s\":9.25},{}]}", f);
	fclose(f);
	cr_assert_eq(status_run_load(path, &r), 0);
	cr_assert_str_eq(r.id, "d1");
	cr_assert(r.pass);
	cr_assert(r.failover);
	cr_assert_eq(r.point, 7);
	cr_assert_eq(r.started_ns, 5);
	cr_assert_float_eq(r.rpo_s, 12.5, 1e-9);
	cr_assert_float_eq(r.rto_s, 9.25, 1e-9, "the slowest VM's");
	f = fopen(path, "w");
	fputs("{\"verdict\":\"fail\"}", f);
	fclose(f);
	cr_assert_eq(status_run_load(path, &r), 0);
	cr_assert_str_eq(r.id, "20260101T000000-ab12", "no id: the file's name");
	cr_assert_not(r.pass);
	cr_assert_not(r.failover);
	cr_assert_float_eq(r.rto_s, -1.0, 1e-9);
	cr_assert_float_eq(r.rpo_s, -1.0, 1e-9);
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	cr_assert_eq(status_run_load(path, &r), -1);
	tmpdir_remove(dir);
}

/* Issue 14: a group the daemon last found failed over is never breached
 * (no forward cycles on purpose), whatever the age of its newest point. */
Test(status, agent_failed_over_not_breached)
{
	char dir[64], conf[512], path[160];
	struct agent_config *cfg = NULL;
	json_t *j, *g;
	FILE *f;

	tmpdir_make(dir, sizeof(dir), "status");
	snprintf(conf, sizeof(conf),
		 "[agent]\nname = a\nreceiver = 127.0.0.1:7401\nca = /c\ncert = /c\nkey = /k\n"
		 "state_dir = %s\n\n[group web]\nrpo = 60s\n\n[disk web d]\npath = /x.img\n", dir);
	cr_assert_eq(agent_config_load_string("agent.conf", conf, &cfg), 0);
	snprintf(path, sizeof(path), "%s/web", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	for (int fo = 1; fo >= 0; fo--) {
		snprintf(path, sizeof(path), "%s/web/status.json", dir);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fprintf(f, "{\"group\": \"web\", \"failed_over\": %s, \"last_point\": 3, "
			"\"last_point_time_ns\": %llu, \"updated_ns\": %llu}\n", fo ? "true" : "false",
			100 * S, 1000 * S);
		fclose(f);
		j = status_agent_json(cfg, 1000 * S); /* the point is 900 s old */
		cr_assert_not_null(j);
		g = json_array_get(json_object_get(j, "groups"), 0);
		cr_assert_eq(json_is_true(json_object_get(g, "failed_over")), fo);
		cr_assert_eq(json_is_true(json_object_get(g, "rpo_breached")), !fo);
		json_decref(j);
	}
	agent_config_free(cfg);
	tmpdir_remove(dir);
}
