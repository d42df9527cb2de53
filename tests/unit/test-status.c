/* Unit tests for replicator/receiver/status: the RPO figure and the state
 * against the target that nestor status, /metrics and the dashboard share,
 * and the reading of a drill's or failover's report. */
#define _GNU_SOURCE /* nftw */
#include "replicator/receiver/status.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
