/* Unit tests for replicator/metrics: the page builder and the text-format
 * helpers shared by the receiver and the agent daemon. */
#include "replicator/metrics.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void
two_groups(FILE *f, const struct metrics_family *fam, size_t row, void *arg)
{
	const char *const *groups = arg;

	metrics_put_sample(f, fam->name, groups[row], fam->id == 1 ? 3.0 + (double)row : 0.25);
}

Test(metrics, page_families_then_samples)
{
	static const struct metrics_family fams[] = {
		{ 1, "nestor_x_total", "counter", "Xs so far." },
		{ 2, "nestor_y_seconds", "gauge", "Y." },
	};
	const char *groups[] = { "g1", "g2", NULL };
	char *page = metrics_page(fams, 2, 2, two_groups, groups);

	cr_assert_not_null(page);
	cr_assert_str_eq(page,
			 "# HELP nestor_x_total Xs so far.\n"
			 "# TYPE nestor_x_total counter\n"
			 "nestor_x_total{group=\"g1\"} 3\n"
			 "nestor_x_total{group=\"g2\"} 4\n"
			 "# HELP nestor_y_seconds Y.\n"
			 "# TYPE nestor_y_seconds gauge\n"
			 "nestor_y_seconds{group=\"g1\"} 0.25\n"
			 "nestor_y_seconds{group=\"g2\"} 0.25\n");
	free(page);
}

Test(metrics, page_empty)
{
	const char *groups[] = { NULL };
	char *page = metrics_page(NULL, 0, 0, two_groups, groups);

	cr_assert_not_null(page);
	cr_assert_str_eq(page, "");
	free(page);
}

/* A second label (the agent's direction of a failback, issue 14). */
Test(metrics, sample_with_a_second_label)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	metrics_put_sample_label(f, "nestor_agent_direction", "web", "direction", "reverse", 1);
	metrics_put_sample_label(f, "nestor_agent_direction", "web", "direction", "forward", 0);
	metrics_put_sample_label(f, "nestor_agent_reverse_rpo_seconds", "web", NULL, NULL, 12.5);
	fclose(f);
	cr_assert_str_eq(buf,
			 "nestor_agent_direction{group=\"web\",direction=\"reverse\"} 1\n"
			 "nestor_agent_direction{group=\"web\",direction=\"forward\"} 0\n"
			 "nestor_agent_reverse_rpo_seconds{group=\"web\"} 12.5\n");
	free(buf);
}
