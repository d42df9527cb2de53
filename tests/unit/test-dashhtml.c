/* Unit tests for replicator/receiver/dashhtml: the pages drawn from the
 * dashboard's JSON escape every string (names are peer input), draw one
 * chart dot per history record, and carry the state the test reads. */
#include "replicator/receiver/dashdata.h"
#include "replicator/receiver/dashhtml.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Every needle of the NULL-terminated list is in page (present) or none is. */
static void
expect_all(const char *page, bool present, const char *const *needles)
{
	for (; *needles; needles++)
		cr_assert_eq(strstr(page, *needles) != NULL, present, "%s: %s", *needles,
			     present ? "missing" : "present");
}

static json_t *
overview(void)
{
	json_error_t e;
	json_t *o = json_loads(
		"{\"role\":\"receiver\",\"store\":\"/s<t>\",\"now_ns\":2000000000000,\"groups\":["
		"{\"group\":\"web\",\"points\":3,\"last_point\":3,\"rpo_seconds\":12.5,"
		" \"rpo_target_seconds\":600,\"rpo_state\":\"ok\",\"failed_over\":false,"
		" \"pending\":null,\"last_drill\":{\"id\":\"<img src=x>\",\"verdict\":\"pass\","
		"  \"rto_seconds\":7.5},\"scrub\":{\"last_point\":\"clean\",\"bad_points\":0},"
		" \"history_24h\":[{\"at_ns\":1990000000000,\"point\":1,\"rpo_peak_seconds\":3,"
		"  \"rpo_after_seconds\":1},{\"at_ns\":1995000000000,\"point\":2,"
		"  \"rpo_peak_seconds\":5,\"rpo_after_seconds\":1},{\"at_ns\":1999000000000,"
		"  \"point\":3,\"rpo_peak_seconds\":4,\"rpo_after_seconds\":1}]},"
		"{\"group\":\"d\\\"b\",\"points\":0,\"last_point\":0,\"rpo_seconds\":null,"
		" \"rpo_target_seconds\":4,\"rpo_state\":\"none\",\"failed_over\":true,"
		" \"pending\":{\"point\":1,\"disks\":2,\"disks_done\":1},\"last_drill\":null,"
		" \"scrub\":{\"last_point\":\"-\"},\"history_24h\":[]}]}", 0, &e);

	cr_assert_not_null(o, "fixture: %s", e.text);
	return o;
}

Test(dashhtml, overview_rows_states_and_dots)
{
	json_t *o = overview();
	size_t len = 0;
	char *page = dashhtml_overview(o, &len);

	cr_assert_not_null(page);
	cr_assert_eq(len, strlen(page));
	cr_assert(strstr(page, "<tr class=\"group\" data-group=\"web\" data-state=\"ok\" "
			       "data-rpo-seconds=\"12.500\">"));
	cr_assert(strstr(page, "data-group=\"d&quot;b\" data-state=\"none\""));
	cr_assert_eq(count(page, "<tr class=\"group\""), 2);
	cr_assert_eq(count(page, "<circle class=\"pt\""), 3, "one dot per cycle");
	cr_assert_eq(count(page, "<circle class=\"now\""), 1, "a ring for the RPO now, with a point");
	cr_assert(strstr(page, "data-window=\"24h\" data-points=\"3\""));
	cr_assert(strstr(page, "data-window=\"24h\" data-points=\"0\""));
	/* hostile strings escaped, nothing fetched */
	expect_all(page, true, (const char *const[]){ "&lt;img src=x&gt;", "/s&lt;t&gt;", NULL });
	expect_all(page, false, (const char *const[]){ "<img", "http://", "https://", "<script",
						       NULL });
	free(page);
	json_decref(o);
}

/* The point page of p: escaped VM name, its disk map, sizes. */
static void
point_page(json_t *p)
{
	size_t len;
	char *page = dashhtml_point(p, &len);

	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){ "&lt;b&gt;web&lt;/b&gt;", "vda &rarr; web.vda",
						      "52:54:00:12:34:56 on lan", "1.0 GiB",
						      "app-consistent", NULL });
	free(page);
	json_decref(p);
}

Test(dashhtml, group_and_point_pages)
{
	json_error_t e;
	json_t *g = json_loads(
		"{\"group\":\"web\",\"now_ns\":2000000000000,\"rpo_state\":\"breached\","
		" \"rpo_seconds\":900,\"rpo_target_seconds\":600,\"points\":2,\"last_point\":2,"
		" \"history_24h\":[],\"history_7d\":[{\"at_ns\":1900000000000,\"point\":1,"
		"  \"rpo_peak_seconds\":30,\"rpo_after_seconds\":1}],"
		" \"runs\":[{\"kind\":\"failover\",\"id\":\"f1\",\"verdict\":\"fail\",\"point\":2,"
		"  \"started_ns\":1,\"rpo_seconds\":3,\"rto_seconds\":null,"
		"  \"report_json\":\"/s/web/failover/f1.json\",\"report_html\":null},"
		" {\"kind\":\"drill\",\"id\":\"d1\",\"verdict\":\"pass\",\"point\":1,"
		"  \"started_ns\":1,\"rpo_seconds\":2.5,\"rto_seconds\":41.25,"
		"  \"report_json\":\"/s/web/drills/d1.json\",\"report_html\":\"/s/web/drills/d1.html\","
		"  \"report_json_url\":\"/report/web/drills/d1.json\","
		"  \"report_html_url\":\"/report/web/drills/d1.html?<x>\"}],"
		" \"failover_marker\":{\"point\":2,\"failover\":\"f<1>\"},"
		" \"failover_report_url\":\"/report/web/failover/f1.html\","
		" \"retention\":[{\"age_seconds\":3600,\"interval_seconds\":0,\"label\":\"< 3600s: all\"}],"
		" \"points_not_shown\":0,\"point_list\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"  \"received_ns\":1000000000000,\"committed_ns\":1,\"bytes\":1048576,"
		"  \"consistency\":\"app-consistent\",\"disks\":1,\"tier\":0},{\"id\":2,\"base\":1,"
		"  \"time_ns\":2,\"received_ns\":1500000000000,\"committed_ns\":2,\"bytes\":10,"
		"  \"consistency\":\"crash-consistent\",\"disks\":1,\"tier\":null}]}", 0, &e);
	json_t *p = json_loads(
		"{\"group\":\"web\",\"id\":2,\"base\":1,\"time_ns\":1,\"received_ns\":1,"
		" \"committed_ns\":1,\"bytes\":10,\"consistency\":\"app-consistent\","
		" \"disks\":[{\"name\":\"web.vda\",\"size\":1073741824}],"
		" \"vms\":[{\"name\":\"<b>web</b>\",\"disks\":[{\"target\":\"vda\",\"disk\":\"web.vda\"}],"
		"  \"nics\":[{\"mac\":\"52:54:00:12:34:56\",\"network\":\"lan\"}]}]}", 0, &e);
	size_t len;
	char *page;

	cr_assert_not_null(g);
	cr_assert_not_null(p);
	page = dashhtml_group(g, &len);
	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){ "data-state=\"breached\"",
		"data-window=\"7d\" data-points=\"1\"",
		"failed over</span>: new points are refused; running point 2 (failover f&lt;1&gt;)",
		"/s/web/failover/f1.json", "href=\"/group/web/point/2\"", NULL });
	/* issue 16: the runs' reports and the failed-over banner link their
	 * URLs (escaped); the figures are in data-seconds, unknown left out */
	expect_all(page, true, (const char *const[]){
		"(failover f&lt;1&gt;); <a class=\"failover-report\" href=\"/report/web/failover/f1.html\">",
		"<a class=\"report-html\" href=\"/report/web/drills/d1.html?&lt;x&gt;\">HTML report</a>",
		"<a class=\"report-json\" href=\"/report/web/drills/d1.json\">JSON</a>",
		"<td class=\"num rpo\" data-seconds=\"2.500\">", "<td class=\"num rto\" data-seconds=\"41.250\">",
		"<td class=\"num rto\">-</td>", "<td class=\"verdict\"><span class=\"badge pass\">", NULL });
	cr_assert_eq(count(page, "<tr class=\"run\">"), 2);
	cr_assert_eq(count(page, "class=\"report-html\""), 1, "f1 has no HTML report: no link");
	cr_assert_eq(count(page, "<tr class=\"point\">"), 2);
	free(page);
	json_decref(g);
	point_page(p);
}

/* A failback (issue 14): the reverse direction as `nestor status` shows it,
 * on the overview's row and the group's page; the failover id escaped. */
static json_t *
failing_back(void)
{
	json_error_t e;
	json_t *g = json_loads(
		"{\"group\":\"db\",\"now_ns\":2000000000000,\"points\":4,\"last_point\":4,"
		" \"rpo_seconds\":7200,\"rpo_target_seconds\":600,\"rpo_state\":\"breached\","
		" \"failed_over\":true,\"failing_back\":true,\"pending\":null,\"last_drill\":null,"
		" \"scrub\":{\"last_point\":\"-\"},\"history_24h\":[],\"history_7d\":[],\"runs\":[],"
		" \"failover_marker\":{\"point\":4,\"failover\":\"<fo&1>\"},\"point_list\":[],"
		" \"reverse\":{\"points\":3,\"last_point\":3,\"last_point_time_ns\":1958000000000,"
		"  \"rpo_seconds\":42,\"last_point_bytes\":4096,\"bytes_total\":1258291}}", 0, &e);

	cr_assert_not_null(g, "fixture: %s", e.text);
	return g;
}

Test(dashhtml, failing_back_shows_the_reverse_direction)
{
	json_t *g = failing_back(), *o = json_pack("{s:s, s:I, s:[O]}", "store", "/s",
						 "now_ns", (json_int_t)2000000000000, "groups", g);
	size_t len;
	char *page;

	cr_assert_not_null(o);
	dashdata_direction(json_array_get(json_object_get(o, "groups"), 0));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o, "groups"), 0),
							 "direction")), "reverse");
	page = dashhtml_overview(o, &len);
	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){
		"data-group=\"db\" data-state=\"breached\" data-rpo-seconds=\"7200.000\" "
		"data-direction=\"reverse\">",
		"<td class=\"fo\"><span class=\"badge back\">failing back</span><br>"
		"<span class=\"reverse\" data-reverse-rpo-seconds=\"42.000\" data-reverse-points=\"3\" "
		"data-reverse-bytes=\"1258291\">reverse RPO 42s, 3 points, 1.2 MiB</span></td>", NULL });
	cr_assert_eq(count(page, "failed over</span>"), 0, "failing back replaces it");
	free(page);
	json_decref(o);

	dashdata_direction(g);
	page = dashhtml_group(g, &len);
	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){
		"data-direction=\"reverse\"", "(failover &lt;fo&amp;1&gt;)",
		"<p id=\"failback\"><span class=\"badge back\">failing back</span>",
		"reverse RPO 42s, 3 points, 1.2 MiB</span>; newest reverse point 3 (snapshot ",
		", 4.0 KiB)</p>", NULL });
	expect_all(page, false, (const char *const[]){ "<fo&", "No reverse stream", NULL });
	free(page);
	json_decref(g);
}

Test(dashhtml, direction_forward_failed_over_and_no_failback_yet)
{
	json_t *g = failing_back();
	size_t len;
	char *page;

	/* Failed over, no reverse stream of this failover: how to start one. */
	json_object_set_new(g, "failing_back", json_false());
	json_object_set_new(g, "reverse", json_null());
	dashdata_direction(g);
	cr_assert_str_eq(json_string_value(json_object_get(g, "direction")), "failed_over");
	page = dashhtml_group(g, &len);
	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){ "data-direction=\"failed_over\"",
		"<td class=\"fo\"><span class=\"badge fail\">failed over</span></td>",
		"No reverse stream for this failover yet: <code>nestor failback start db</code>", NULL });
	cr_assert_eq(count(page, "class=\"reverse\""), 0);
	free(page);
	/* Back home (released): forward, no failback section. */
	json_object_set_new(g, "failed_over", json_false());
	json_object_del(g, "failover_marker");
	dashdata_direction(g);
	cr_assert_str_eq(json_string_value(json_object_get(g, "direction")), "forward");
	page = dashhtml_group(g, &len);
	cr_assert_not_null(page);
	expect_all(page, true, (const char *const[]){ "data-direction=\"forward\"",
		"<td class=\"fo\">no</td>", NULL });
	expect_all(page, false, (const char *const[]){ "id=\"failback\"", "badge back", NULL });
	free(page);
	json_decref(g);
}
