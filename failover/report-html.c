/* The HTML report (failover/report-html.h): built in memory, saved
 * atomically beside the JSON report. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/htmlesc.h"
#include "common/log.h"
#include "failover/console.h"
#include "failover/report-html.h"

/* default-src 'none': the page loads nothing, even if some string slipped
 * through unescaped; the screenshots are data: URIs, the style inline. */
static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	"img-src data:; style-src 'unsafe-inline'\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n"
	"<style>\n"
	"body{font-family:sans-serif;margin:2em;color:#222;max-width:80em}\n"
	"table{border-collapse:collapse;margin:.5em 0}\n"
	"th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\n"
	"th{background:#f3f3f3;font-weight:normal;color:#555}\n"
	".pass{color:#fff;background:#2e7d32;padding:0 .4em}\n"
	".fail{color:#fff;background:#c62828;padding:0 .4em}\n"
	".note{background:#fff8e1;border-left:4px solid #f9a825;padding:.4em .8em}\n"
	"pre{background:#111;color:#ddd;padding:.6em;overflow-x:auto;white-space:pre-wrap}\n"
	"img.shot{border:1px solid #888;max-width:100%;image-rendering:pixelated}\n"
	"section.vm{border-top:2px solid #ddd;margin-top:1.5em}\n"
	"</style>\n";

static void
esc(FILE *f, const char *s)
{
	htmlesc_put(f, s);
}

static void
verdict(FILE *f, bool pass)
{
	fprintf(f, "<span class=\"%s\">%s</span>", pass ? "pass" : "fail", pass ? "PASS" : "FAIL");
}

/* A row "name | value" with the value escaped; nothing when value is NULL. */
static void
row(FILE *f, const char *name, const char *value)
{
	if (!value)
		return;
	fprintf(f, "<tr><th>%s</th><td>", name);
	esc(f, value);
	fputs("</td></tr>\n", f);
}

static void
row_secs(FILE *f, const char *name, double s)
{
	char v[32];

	if (s < 0)
		snprintf(v, sizeof(v), "-");
	else
		snprintf(v, sizeof(v), "%.1f s", s);
	row(f, name, v);
}

static void
summary(const struct report *r, FILE *f)
{
	const char *what = r->failover ? "Failover" : "Drill";
	char started[32], ptime[32], point[64];

	clock_iso8601(r->started_ns, started, sizeof(started));
	clock_iso8601(r->point_time_ns, ptime, sizeof(ptime));
	snprintf(point, sizeof(point), "%" PRIu64 " (%s)", r->point, ptime);
	fprintf(f, "<title>Nestor %s %s: group ", r->failover ? "failover" : "drill", r->id);
	esc(f, r->group);
	fprintf(f, ": %s</title>\n</head>\n<body>\n<h1>%s %s: group ", r->pass ? "PASS" : "FAIL",
		what, r->id);
	esc(f, r->group);
	fputs(" ", f);
	verdict(f, r->pass);
	fputs("</h1>\n<table class=\"summary\">\n", f);
	row(f, "verdict", r->pass ? "pass: every VM booted and passed its checks"
				  : "fail: see the VMs below");
	row(f, "point", point);
	row(f, "consistency", consistency_name(r->point_consistency));
	row_secs(f, "RPO at start", r->rpo_s);
	row(f, "started", started);
	row_secs(f, "duration", r->duration_s);
	fprintf(f, "<tr><th>accelerator</th><td>%s (%s)</td></tr>\n", r->kvm ? "kvm" : "tcg",
		r->accel_source ? r->accel_source : "-");
	row(f, "libvirt", r->uri);
	row(f, "network", r->network[0] ? r->network : NULL);
	row(f, "boot marker", r->marker);
	row(f, "check command", r->check_cmd);
	row(f, "teardown", r->failover && r->kept ? "none (failover: the VMs stay up)"
			   : r->kept ? "skipped (--keep)" : r->teardown_ok ? "done" : "FAILED");
	row(f, "work dir", r->workdir);
	row(f, "error", r->error);
	if (r->scrub_forced)
		row(f, "booted with --force", r->scrub_warning ? r->scrub_warning : "yes");
	fputs("</table>\n", f);
}

static const char *
tristate(int v)
{
	return v < 0 ? "not checked" : v ? "pass" : "FAIL";
}

static void
checks(const struct report *r, const struct report_vm *v, FILE *f)
{
	char buf[64];

	fputs("<h3>Checks</h3>\n<table>\n", f);
	if (v->marker_seen)
		snprintf(buf, sizeof(buf), "pass: seen after %.1f s", v->verified_s);
	row(f, "boot marker", v->marker_seen ? buf : "FAIL: not seen");
	if (v->check_ran) {
		snprintf(buf, sizeof(buf), "%s: exit status %d", v->check_rc ? "FAIL" : "pass",
			 v->check_rc);
		row(f, "check command", buf);
	}
	if (r->tcp_port) {
		snprintf(buf, sizeof(buf), "TCP port %u: %s", r->tcp_port, tristate(v->tcp_ok));
		row(f, "service", buf);
	}
	if (r->guest_agent)
		row(f, "guest agent", tristate(v->agent_ok));
	if (r->script) {
		if (v->script_rc >= 0)
			snprintf(buf, sizeof(buf), "%s: exit status %d",
				 v->script_rc ? "FAIL" : "pass", v->script_rc);
		row(f, "script", v->script_rc >= 0 ? buf : "not run");
	}
	row(f, "guest address", v->address);
	fputs("</table>\n", f);
	if (v->check_ran && v->check_output) {
		fputs("<p>Output of the check command:</p>\n<pre>", f);
		esc(f, v->check_output);
		fputs("</pre>\n", f);
	}
}

/* The PNG as a data: URI (base64 by OpenSSL). */
static int
screenshot(const struct report_vm *v, FILE *f)
{
	unsigned char *b64;

	fputs("<h3>Console screenshot</h3>\n", f);
	if (v->shot != REPORT_SHOT_TAKEN || !v->shot_png || v->shot_len > INT32_MAX / 2) {
		fputs("<p class=\"note\">", f);
		esc(f, v->shot_note ? v->shot_note : "no screenshot: the VM did not run");
		fputs("</p>\n", f);
		return 0;
	}
	if (!(b64 = malloc(4 * ((v->shot_len + 2) / 3) + 1)))
		return -1;
	EVP_EncodeBlock(b64, v->shot_png, (int)v->shot_len);
	fprintf(f, "<p>Screen 0 after %.1f s, %ux%u:</p>\n<img class=\"shot\" width=\"%u\" "
		"height=\"%u\" alt=\"console screenshot of ", v->shot_s, v->shot_w, v->shot_h,
		v->shot_w, v->shot_h);
	esc(f, v->name);
	fprintf(f, "\" src=\"data:image/png;base64,%s\">\n", (const char *)b64);
	free(b64);
	return 0;
}

static void
disks(const struct report_vm *v, FILE *f)
{
	if (v->ndisks == 0)
		return;
	fputs("<tr><th>disks</th><td>", f);
	for (size_t k = 0; k < v->ndisks; k++) {
		fputs(k ? "<br>" : "", f);
		esc(f, v->disks[k].target);
		fputs(": ", f);
		if (v->disks[k].disk) {
			fputs("point disk ", f);
			esc(f, v->disks[k].disk);
		} else {
			fputs("left out (not replicated)", f);
		}
	}
	fputs("</td></tr>\n", f);
}

static int
vm_section(const struct report *r, const struct report_vm *v, FILE *f)
{
	char point[32], *tail;

	snprintf(point, sizeof(point), "%" PRIu64, r->point);
	fputs("<section class=\"vm\">\n<h2>VM ", f);
	esc(f, v->name ? v->name : "?");
	fputs(" ", f);
	verdict(f, v->pass);
	fputs("</h2>\n<table>\n", f);
	row(f, "domain", v->domain);
	row(f, "point", point);
	disks(v, f);
	row_secs(f, "RPO", r->rpo_s);
	row_secs(f, "started", v->started_s);
	row_secs(f, "RTO (boot marker)", v->verified_s);
	row(f, "error", v->error);
	row(f, "console log", v->console_log);
	fputs("</table>\n", f);
	checks(r, v, f);
	if (screenshot(v, f) < 0)
		return -1;
	fprintf(f, "<h3>Serial console (last %u bytes)</h3>\n<pre>", REPORT_HTML_CONSOLE_TAIL);
	tail = v->console_log ? console_tail(v->console_log, REPORT_HTML_CONSOLE_TAIL) : NULL;
	esc(f, tail ? tail : "(no console output)");
	free(tail);
	fputs("</pre>\n", f);
	if (v->nxml_warnings) {
		fputs("<h3>Domain XML: what the rewrite left out</h3>\n<ul>\n", f);
		for (size_t k = 0; k < v->nxml_warnings; k++) {
			fputs("<li>", f);
			esc(f, v->xml_warnings[k]);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
	fputs("</section>\n", f);
	return 0;
}

int
report_html_write(const struct report *r, FILE *f)
{
	fputs(html_head, f);
	summary(r, f);
	for (size_t i = 0; i < r->nvms; i++)
		if (vm_section(r, &r->vms[i], f) < 0)
			return -1;
	fputs("<p><small>Made by nestor; the JSON report beside this file holds the same "
	      "figures.</small></p>\n</body>\n</html>\n", f);
	return ferror(f) ? -1 : 0;
}

int
report_html_save(const struct report *r, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret = -1;

	if (!f) {
		log_error("%s: %m", path);
		return -1;
	}
	if (report_html_write(r, f) < 0) {
		fclose(f);
		log_error("%s: cannot build the HTML report (out of memory)", path);
		goto out;
	}
	if (fclose(f) != 0) {
		log_error("%s: cannot build the HTML report: %m", path);
		goto out;
	}
	ret = file_write_atomic(path, buf, len, 0644);
out:
	free(buf);
	return ret;
}
