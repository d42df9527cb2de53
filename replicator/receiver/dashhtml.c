/* The dashboard's HTML (replicator/receiver/dashhtml.h). One stylesheet in
 * the head, SVG charts drawn here; the only way in for a string is
 * put_text/put_str, which escape. */
#define _GNU_SOURCE /* open_memstream */
#include "replicator/receiver/dashhtml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/htmlesc.h"

#define DAY_NS (86400.0 * 1e9)

/* Chart geometry: the plot area inside a W x H box. */
#define CW 720
#define CH 170
#define PX0 48
#define PX1 (CW - 12)
#define PY0 12
#define PY1 (CH - 26)

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.2em 0 .4em}"
	"table{border-collapse:collapse;background:#fff;margin:.4em 0}"
	"th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}"
	"th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	".badge{display:inline-block;padding:.1em .6em;border-radius:1em;color:#fff;font-weight:600}"
	".ok{background:#2e7d32}.warn{background:#f9a825;color:#222}.breached,.none,.fail{background:#c62828}"
	".unknown{background:#757575}.pass{background:#2e7d32}.back{background:#6a1b9a}.muted{color:#777}"
	".card{background:#fff;border:1px solid #ddd;padding:.6em 1em;margin:.8em 0;display:inline-block}"
	"svg text{font:11px sans-serif;fill:#555}a{color:#0b57d0}";

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static double
num(const json_t *o, const char *key, double dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static uint64_t
u64(const json_t *o, const char *key)
{
	double v = num(o, key, 0);

	return v > 0 ? (uint64_t)json_integer_value(json_object_get(o, key)) : 0;
}

/* "42s", "5m 03s", "3h 07m", "2d 04h"; "-" below 0 (unknown). */
static void
put_dur(FILE *f, double s)
{
	uint64_t t = (uint64_t)(s + 0.5);

	if (s < 0)
		fputs("-", f);
	else if (t < 120)
		fprintf(f, "%" PRIu64 "s", t);
	else if (t < 7200)
		fprintf(f, "%" PRIu64 "m %02" PRIu64 "s", t / 60, t % 60);
	else if (t < 172800)
		fprintf(f, "%" PRIu64 "h %02" PRIu64 "m", t / 3600, t % 3600 / 60);
	else
		fprintf(f, "%" PRIu64 "d %02" PRIu64 "h", t / 86400, t % 86400 / 3600);
}

static void
put_time(FILE *f, uint64_t ns)
{
	char buf[CLOCK_ISO_LEN];

	if (!ns) {
		fputs("-", f);
		return;
	}
	clock_iso8601(ns, buf, sizeof(buf));
	fputs(buf, f);
}

static void
put_bytes(FILE *f, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	fprintf(f, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void
put_str(FILE *f, const json_t *o, const char *key)
{
	htmlesc_put(f, str(o, key));
}

/* The head, and the page's JSON twin: /api + its own path. */
/* A table cell with o's string member key. */
static void
put_td(FILE *f, const json_t *o, const char *key)
{
	fputs("<td>", f);
	put_str(f, o, key);
	fputs("</td>", f);
}

static void
page_head(FILE *f, const char *title, const char *name, const char *path)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta http-equiv=\"refresh\" content=\"30\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>", f);
	htmlesc_put(f, title);
	if (name) {
		fputs(" ", f);
		htmlesc_put(f, name);
	}
	fprintf(f, " - Nestor</title><style>%s</style></head><body>\n", css);
	fputs("<p class=\"muted\"><a href=\"/\">Nestor DR</a> &middot; read-only dashboard"
	      " &middot; JSON: <a href=\"/api", f);
	htmlesc_put(f, path);
	fputs("\">/api", f);
	htmlesc_put(f, path);
	fputs("</a></p>\n", f);
}

/* The page's stream over *buf and *blen (open_memstream's, which fclose
 * sets), its head written; NULL when out of memory. */
static FILE *
page_begin(char **buf, size_t *blen, const char *title, const char *name, const char *path)
{
	FILE *f = open_memstream(buf, blen);

	if (f)
		page_head(f, title, name, path);
	return f;
}

/* buf and blen: open_memstream's, which fclose sets. */
static char *
page_end(FILE *f, char **buf, size_t *blen, size_t *len)
{
	fputs("</body></html>\n", f);
	if (fclose(f) != 0) {
		free(*buf);
		return NULL;
	}
	*len = *blen;
	return *buf;
}

static void
put_badge(FILE *f, const char *state)
{
	fputs("<span class=\"badge ", f);
	htmlesc_put(f, state);
	fputs("\">", f);
	htmlesc_put(f, state);
	fputs("</span>", f);
}

static const char *
state_of(double rpo, double target)
{
	if (target <= 0)
		return "unknown";
	return rpo > target ? "breached" : rpo > target * 0.8 ? "warn" : "ok";
}

static const char *
fill_of(const char *state)
{
	return !strcmp(state, "ok") ? "#2e7d32" : !strcmp(state, "warn") ? "#f9a825" : "#c62828";
}

/* The RPO chart of hist (history records) over the window ending at now:
 * one dot per record (a cycle, or the worst of a slice for 7 d) at its
 * peak RPO, the target dashed, and a ring at now for the RPO now (cur,
 * < 0 none): a stopped agent shows as a ring climbing past the target. */
static void
put_chart(FILE *f, const json_t *hist, uint64_t now, double window_ns, double target,
	  double cur, const char *label)
{
	size_t n = json_array_size(hist);
	double ymax = target > 0 ? target * 1.25 : 1, from = (double)now - window_ns;

	if (cur * 1.1 > ymax)
		ymax = cur * 1.1;

	for (size_t i = 0; i < n; i++) {
		double p = num(json_array_get(hist, i), "rpo_peak_seconds", 0);

		if (p * 1.1 > ymax)
			ymax = p * 1.1;
	}
	fprintf(f, "<svg class=\"chart\" data-window=\"%s\" data-points=\"%zu\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"RPO over the last %s\">"
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#ccc\"/>",
		label, n, CW, CH, CW, CH, label, PX0, PY0, PX1 - PX0, PY1 - PY0);
	fprintf(f, "<text x=\"4\" y=\"%d\">", PY0 + 10);
	put_dur(f, ymax);
	fprintf(f, "</text><text x=\"4\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\">-%s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>", PY1, PX0, CH - 8, label,
		PX1, CH - 8);
	if (target > 0) {
		double y = PY1 - target / ymax * (PY1 - PY0);

		fprintf(f, "<line class=\"target\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"#c62828\" stroke-dasharray=\"4 3\"/><text x=\"%d\" y=\"%.1f\">target ",
			PX0, PX1, y, y, PX0 + 4, y - 3);
		put_dur(f, target);
		fputs("</text>", f);
	}
	if (n > 1) {
		fputs("<polyline fill=\"none\" stroke=\"#0b57d0\" stroke-width=\"1\" points=\"", f);
		for (size_t i = 0; i < n; i++) {
			const json_t *r = json_array_get(hist, i);
			double x = PX0 + ((double)u64(r, "at_ns") - from) / window_ns * (PX1 - PX0);
			double y = PY1 - num(r, "rpo_peak_seconds", 0) / ymax * (PY1 - PY0);

			fprintf(f, "%.1f,%.1f ", x, y);
		}
		fputs("\"/>", f);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(hist, i);
		double peak = num(r, "rpo_peak_seconds", 0);
		double x = PX0 + ((double)u64(r, "at_ns") - from) / window_ns * (PX1 - PX0);
		double y = PY1 - peak / ymax * (PY1 - PY0);

		fprintf(f, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>"
			"point %" PRIu64 " at ", x, y, fill_of(state_of(peak, target)), u64(r, "point"));
		put_time(f, u64(r, "at_ns"));
		fputs(": RPO ", f);
		put_dur(f, peak);
		fputs(" before, ", f);
		put_dur(f, num(r, "rpo_after_seconds", 0));
		fputs(" after</title></circle>", f);
	}
	if (cur >= 0) {
		fprintf(f, "<circle class=\"now\" cx=\"%d\" cy=\"%.1f\" r=\"5\" fill=\"none\" "
			"stroke=\"%s\" stroke-width=\"2\"><title>now: RPO ", PX1,
			PY1 - cur / ymax * (PY1 - PY0), fill_of(state_of(cur, target)));
		put_dur(f, cur);
		fputs("</title></circle>", f);
	}
	fputs("</svg>\n", f);
}

static void
put_drill_cell(FILE *f, const json_t *d)
{
	if (!json_is_object(d)) {
		fputs("<td class=\"muted\">none</td>", f);
		return;
	}
	fputs("<td>", f);
	put_badge(f, str(d, "verdict"));
	fputs(" ", f);
	put_str(f, d, "id");
	fputs(" (RTO ", f);
	put_dur(f, num(d, "rto_seconds", -1));
	fputs(")</td>", f);
}

/* The reverse direction of a failback (g's "reverse", nestor status's):
 * "reverse RPO 42s, 3 points, 1.2 MiB", each figure also in a data-
 * attribute for whoever reads the page. */
static void
put_reverse(FILE *f, const json_t *rev)
{
	double rpo = num(rev, "rpo_seconds", -1);

	fputs("<span class=\"reverse\"", f);
	if (rpo >= 0)
		fprintf(f, " data-reverse-rpo-seconds=\"%.3f\"", rpo);
	fprintf(f, " data-reverse-points=\"%" PRIu64 "\" data-reverse-bytes=\"%" PRIu64
		"\">reverse RPO ", u64(rev, "points"), u64(rev, "bytes_total"));
	put_dur(f, rpo);
	fprintf(f, ", %" PRIu64 " point%s, ", u64(rev, "points"), u64(rev, "points") == 1 ? "" : "s");
	put_bytes(f, u64(rev, "bytes_total"));
	fputs("</span>", f);
}

/* The failed-over cell: no, failed over, or failing back with the reverse
 * direction's figures (a failback streams the cloud VMs home). */
static void
put_failover_cell(FILE *f, const json_t *g)
{
	const json_t *rev = json_object_get(g, "reverse");

	if (json_is_true(json_object_get(g, "failing_back")) && json_is_object(rev)) {
		fputs("<td class=\"fo\"><span class=\"badge back\">failing back</span><br>", f);
		put_reverse(f, rev);
		fputs("</td>", f);
	} else if (json_is_true(json_object_get(g, "failed_over"))) {
		fputs("<td class=\"fo\"><span class=\"badge fail\">failed over</span></td>", f);
	} else {
		fputs("<td class=\"fo\">no</td>", f);
	}
}

static void
put_group_row(FILE *f, const json_t *g)
{
	const char *name = str(g, "group"), *state = str(g, "rpo_state");
	const json_t *pend = json_object_get(g, "pending");

	fputs("<tr class=\"group\" data-group=\"", f);
	htmlesc_put(f, name);
	fputs("\" data-state=\"", f);
	htmlesc_put(f, state);
	fprintf(f, "\" data-rpo-seconds=\"%.3f\"", num(g, "rpo_seconds", -1));
	if (json_is_string(json_object_get(g, "direction"))) {
		fputs(" data-direction=\"", f);
		put_str(f, g, "direction");
		fputs("\"", f);
	}
	fputs("><td><a href=\"/group/", f);
	htmlesc_put(f, name);
	fputs("\">", f);
	htmlesc_put(f, name);
	fputs("</a></td><td>", f);
	put_badge(f, state);
	fprintf(f, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num age\">", u64(g, "last_point"));
	put_dur(f, num(g, "rpo_seconds", -1));
	fputs("</td><td class=\"num\">", f);
	put_dur(f, num(g, "rpo_target_seconds", -1));
	fprintf(f, "</td><td class=\"num\">%" PRIu64 "</td><td>", u64(g, "points"));
	if (json_is_object(pend))
		fprintf(f, "point %" PRIu64 " (%" PRIu64 "/%" PRIu64 " disks)", u64(pend, "point"),
			u64(pend, "disks_done"), u64(pend, "disks"));
	else
		fputs("-", f);
	fputs("</td>", f);
	put_failover_cell(f, g);
	put_drill_cell(f, json_object_get(g, "last_drill"));
	put_td(f, json_object_get(g, "scrub"), "last_point");
	fputs("</tr>\n", f);
}

static const char group_cols[] =
	"<tr><th>Group</th><th>State</th><th>Newest point</th><th>RPO (age)</th><th>Target</th>"
	"<th>Points</th><th>Pending</th><th>Failed over</th><th>Last drill</th><th>Scrub</th></tr>\n";

char *
dashhtml_overview(const json_t *o, size_t *len)
{
	const json_t *groups = json_object_get(o, "groups");
	uint64_t now = u64(o, "now_ns");
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = page_begin(&buf, &blen, "Overview", NULL, "/");

	if (!f)
		return NULL;
	fputs("<h1>Protection groups</h1><p class=\"muted\">Store ", f);
	put_str(f, o, "store");
	fputs(" &middot; as of ", f);
	put_time(f, now);
	fprintf(f, " &middot; %zu group(s)</p>\n<table id=\"groups\">%s", json_array_size(groups),
		group_cols);
	for (size_t i = 0; i < json_array_size(groups); i++)
		put_group_row(f, json_array_get(groups, i));
	fputs("</table>\n", f);
	for (size_t i = 0; i < json_array_size(groups); i++) {
		const json_t *g = json_array_get(groups, i);

		fputs("<div class=\"card rpo\" data-group=\"", f);
		put_str(f, g, "group");
		fputs("\"><h2>", f);
		put_str(f, g, "group");
		fputs(": RPO, last 24 h</h2>", f);
		put_chart(f, json_object_get(g, "history_24h"), now, DAY_NS,
			  num(g, "rpo_target_seconds", -1), num(g, "rpo_seconds", -1), "24h");
		fputs("</div>\n", f);
	}
	return page_end(f, &buf, &blen, len);
}

/* A cell of a duration, its seconds in data-seconds when known (s >= 0)
 * for whoever reads the page's figures. */
static void
put_secs_td(FILE *f, const char *cls, double s)
{
	fprintf(f, "<td class=\"num %s\"", cls);
	if (s >= 0)
		fprintf(f, " data-seconds=\"%.3f\"", s);
	fputs(">", f);
	put_dur(f, s);
	fputs("</td>", f);
}

/* A link to the dashboard URL o[key] (a report), if o has one, then a
 * space. */
static void
put_link(FILE *f, const char *cls, const json_t *o, const char *key, const char *text)
{
	if (!json_is_string(json_object_get(o, key)))
		return;
	fprintf(f, "<a class=\"%s\" href=\"", cls);
	put_str(f, o, key);
	fprintf(f, "\">%s</a> ", text);
}

static void
put_runs(FILE *f, const json_t *runs)
{
	fputs("<h2>Drills and failovers</h2>", f);
	if (!json_array_size(runs)) {
		fputs("<p class=\"muted\">None yet.</p>\n", f);
		return;
	}
	fputs("<table id=\"runs\"><tr><th>Kind</th><th>Id</th><th>Verdict</th><th>Point</th>"
	      "<th>Started</th><th>RPO</th><th>RTO</th><th>Reports</th></tr>\n", f);
	for (size_t i = 0; i < json_array_size(runs); i++) {
		const json_t *r = json_array_get(runs, i);

		fputs("<tr class=\"run\">", f);
		put_td(f, r, "kind");
		put_td(f, r, "id");
		fputs("<td class=\"verdict\">", f);
		put_badge(f, str(r, "verdict"));
		fprintf(f, "</td><td class=\"num\">%" PRIu64 "</td><td>", u64(r, "point"));
		put_time(f, u64(r, "started_ns"));
		fputs("</td>", f);
		put_secs_td(f, "rpo", num(r, "rpo_seconds", -1));
		put_secs_td(f, "rto", num(r, "rto_seconds", -1));
		fputs("<td>", f);
		put_link(f, "report-html", r, "report_html_url", "HTML report");
		put_link(f, "report-json", r, "report_json_url", "JSON");
		fputs("<br><span class=\"muted\">", f);
		put_str(f, r, "report_json");
		if (json_is_string(json_object_get(r, "report_html"))) {
			fputs("<br>", f);
			put_str(f, r, "report_html");
		}
		fputs("</span></td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* The points on a time line (tick colour = retention tier), then the table. */
static void
put_points(FILE *f, const json_t *g)
{
	static const char *const tier_fill[] = { "#0b57d0", "#2e7d32", "#8e24aa", "#ef6c00" };
	const json_t *pts = json_object_get(g, "point_list"), *tiers = json_object_get(g, "retention");
	size_t n = json_array_size(pts);
	uint64_t now = u64(g, "now_ns"), t0 = n ? u64(json_array_get(pts, 0), "received_ns") : 0;
	double span = now > t0 ? (double)(now - t0) : 1;

	fprintf(f, "<h2>Points (%zu", n);
	if (u64(g, "points_not_shown"))
		fprintf(f, " newest; %" PRIu64 " older not shown", u64(g, "points_not_shown"));
	fputs(")</h2><p>Retention: ", f);
	if (!json_array_size(tiers))
		fputs("none configured (every point kept)", f);
	for (size_t k = 0; k < json_array_size(tiers); k++) {
		fprintf(f, "%s<span style=\"color:%s\">&#9632;</span> tier %zu ", k ? ", " : "",
			tier_fill[k % 4], k);
		put_str(f, json_array_get(tiers, k), "label");
	}
	fprintf(f, "</p>\n<svg class=\"timeline\" width=\"%d\" height=\"40\" viewBox=\"0 0 %d 40\">"
		"<line x1=\"%d\" x2=\"%d\" y1=\"20\" y2=\"20\" stroke=\"#999\"/>", CW, CW, PX0, PX1);
	for (size_t i = 0; i < n; i++) {
		const json_t *p = json_array_get(pts, i);
		const json_t *t = json_object_get(p, "tier");
		double x = PX0 + (double)(u64(p, "received_ns") - t0) / span * (PX1 - PX0);

		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"10\" y2=\"30\" stroke=\"%s\">"
			"<title>point %" PRIu64 "</title></line>", x, x,
			json_is_integer(t) ? tier_fill[json_integer_value(t) % 4] : "#777", u64(p, "id"));
	}
	fputs("</svg>\n<table id=\"points\"><tr><th>Point</th><th>Base</th><th>Snapshot</th>"
	      "<th>Committed</th><th>Bytes</th><th>Consistency</th><th>Disks</th><th>Tier</th></tr>\n", f);
	for (size_t i = n; i-- > 0;) {
		const json_t *p = json_array_get(pts, i);
		const json_t *t = json_object_get(p, "tier");

		fprintf(f, "<tr class=\"point\"><td><a href=\"/group/");
		put_str(f, g, "group");
		fprintf(f, "/point/%" PRIu64 "\">%" PRIu64 "</a></td><td class=\"num\">%" PRIu64
			"</td><td>", u64(p, "id"), u64(p, "id"), u64(p, "base"));
		put_time(f, u64(p, "time_ns"));
		fputs("</td><td>", f);
		put_time(f, u64(p, "committed_ns"));
		fputs("</td><td class=\"num\">", f);
		put_bytes(f, u64(p, "bytes"));
		fputs("</td>", f);
		put_td(f, p, "consistency");
		fprintf(f, "<td class=\"num\">%" PRIu64 "</td><td>", u64(p, "disks"));
		if (json_is_integer(t))
			fprintf(f, "%lld", (long long)json_integer_value(t));
		else
			fputs("-", f);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* A failed-over group's failback: the reverse stream's newest point and
 * its figures, or how to start one. */
static void
put_failback(FILE *f, const json_t *g)
{
	const json_t *rev = json_object_get(g, "reverse");

	if (!json_is_true(json_object_get(g, "failed_over")) &&
	    !json_is_true(json_object_get(g, "failing_back")))
		return;
	fputs("<h2>Failback</h2><p id=\"failback\">", f);
	if (!json_is_true(json_object_get(g, "failing_back")) || !json_is_object(rev)) {
		fputs("No reverse stream for this failover yet: <code>nestor failback start ", f);
		put_str(f, g, "group");
		fputs("</code> on the on-prem host starts one (docs/failback.md).</p>\n", f);
		return;
	}
	fputs("<span class=\"badge back\">failing back</span>: the failed-over VMs stream "
	      "home; ", f);
	put_reverse(f, rev);
	fprintf(f, "; newest reverse point %" PRIu64 " (snapshot ", u64(rev, "last_point"));
	put_time(f, u64(rev, "last_point_time_ns"));
	fputs(", ", f);
	put_bytes(f, u64(rev, "last_point_bytes"));
	fputs(")</p>\n", f);
}

char *
dashhtml_group(const json_t *g, size_t *len)
{
	const json_t *marker = json_object_get(g, "failover_marker");
	uint64_t now = u64(g, "now_ns");
	double target = num(g, "rpo_target_seconds", -1), cur = num(g, "rpo_seconds", -1);
	char *buf = NULL, path[128];
	size_t blen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/group/%s", str(g, "group"));
	f = page_begin(&buf, &blen, "Group", str(g, "group"), path);
	if (!f)
		return NULL;
	fputs("<h1>Group ", f);
	put_str(f, g, "group");
	fputs(" ", f);
	put_badge(f, str(g, "rpo_state"));
	fprintf(f, "</h1>\n<table id=\"groups\">%s", group_cols);
	put_group_row(f, g);
	fputs("</table>\n<h2>Failover</h2><p id=\"failover\">", f);
	if (json_is_object(marker)) {
		fputs("<span class=\"badge fail\">failed over</span>: new points are refused", f);
		if (json_is_integer(json_object_get(marker, "point")))
			fprintf(f, "; running point %" PRIu64, u64(marker, "point"));
		if (json_is_string(json_object_get(marker, "failover"))) {
			fputs(" (failover ", f);
			put_str(f, marker, "failover");
			fputs(")", f);
		}
		if (json_is_string(json_object_get(g, "failover_report_url"))) {
			fputs("; ", f);
			put_link(f, "failover-report", g, "failover_report_url", "its report");
		}
	} else {
		fputs("Not failed over: replication accepts new points.", f);
	}
	fputs("</p>\n", f);
	put_failback(f, g);
	fputs("<h2>RPO, last 24 h</h2>", f);
	put_chart(f, json_object_get(g, "history_24h"), now, DAY_NS, target, cur, "24h");
	fputs("<h2>RPO, last 7 d</h2>", f);
	put_chart(f, json_object_get(g, "history_7d"), now, 7 * DAY_NS, target, cur, "7d");
	put_runs(f, json_object_get(g, "runs"));
	put_points(f, g);
	return page_end(f, &buf, &blen, len);
}

/* A cell of one "a SEP b" line per object of arr. */
static void
put_pairs(FILE *f, const json_t *arr, const char *a, const char *sep, const char *b)
{
	fputs("<td>", f);
	for (size_t k = 0; k < json_array_size(arr); k++) {
		fputs(k ? "<br>" : "", f);
		put_str(f, json_array_get(arr, k), a);
		fputs(sep, f);
		put_str(f, json_array_get(arr, k), b);
	}
	fputs("</td>", f);
}

char *
dashhtml_point(const json_t *p, size_t *len)
{
	const json_t *disks = json_object_get(p, "disks"), *vms = json_object_get(p, "vms");
	char *buf = NULL, path[160];
	size_t blen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/group/%s/point/%" PRIu64, str(p, "group"), u64(p, "id"));
	f = page_begin(&buf, &blen, "Point", str(p, "group"), path);
	if (!f)
		return NULL;
	fprintf(f, "<h1>Point %" PRIu64 " of <a href=\"/group/", u64(p, "id"));
	put_str(f, p, "group");
	fputs("\">", f);
	put_str(f, p, "group");
	fprintf(f, "</a></h1>\n<table id=\"point\"><tr><th>Base</th><td>%" PRIu64 "</td></tr>"
		"<tr><th>Snapshot</th><td>", u64(p, "base"));
	put_time(f, u64(p, "time_ns"));
	fputs("</td></tr><tr><th>Committed</th><td>", f);
	put_time(f, u64(p, "committed_ns"));
	fputs("</td></tr><tr><th>Bytes received</th><td>", f);
	put_bytes(f, u64(p, "bytes"));
	fputs("</td></tr><tr><th>Consistency</th><td class=\"consistency\">", f);
	put_str(f, p, "consistency");
	fputs("</td></tr></table>\n<h2>Disks</h2><table id=\"disks\"><tr><th>Disk</th><th>Size</th></tr>\n", f);
	for (size_t i = 0; i < json_array_size(disks); i++) {
		fputs("<tr>", f);
		put_td(f, json_array_get(disks, i), "name");
		fputs("<td class=\"num\">", f);
		put_bytes(f, u64(json_array_get(disks, i), "size"));
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n<h2>VMs</h2>", f);
	if (!json_array_size(vms))
		fputs("<p class=\"muted\">The point's metadata names no VM.</p>", f);
	else
		fputs("<table id=\"vms\"><tr><th>VM</th><th>Disks</th><th>NICs</th></tr>\n", f);
	for (size_t i = 0; i < json_array_size(vms); i++) {
		const json_t *vm = json_array_get(vms, i), *d = json_object_get(vm, "disks");
		const json_t *nics = json_object_get(vm, "nics");

		fputs("<tr class=\"vm\"><td>", f);
		htmlesc_put(f, json_is_string(json_object_get(vm, "name")) ? str(vm, "name")
								   : str(vm, "xml_path"));
		fputs("</td>", f);
		put_pairs(f, d, "target", " &rarr; ", "disk");
		put_pairs(f, nics, "mac", " on ", "network");
		fputs("</tr>\n", f);
	}
	if (json_array_size(vms))
		fputs("</table>\n", f);
	return page_end(f, &buf, &blen, len);
}
