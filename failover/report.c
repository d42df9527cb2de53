/* Drill reports: JSON (the durable record under <store>/<group>/drills/)
 * and the text summary printed to the operator. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "failover/report.h"

#define REPORT_FILE_MAX (4u << 20)

void
report_clear(struct report *r)
{
	for (size_t i = 0; i < r->nvms; i++) {
		struct report_vm *v = &r->vms[i];

		free(v->name);
		free(v->domain);
		free(v->check_output);
		free(v->console_log);
		free(v->console_tail);
		free(v->address);
		free(v->error);
		for (size_t k = 0; k < v->nxml_warnings; k++)
			free(v->xml_warnings[k]);
		free(v->xml_warnings);
		for (size_t k = 0; k < v->ndisks; k++) {
			free(v->disks[k].target);
			free(v->disks[k].disk);
		}
		free(v->disks);
		free(v->shot_note);
		free(v->shot_png);
	}
	free(r->vms);
	free(r->error);
	free(r->scrub_warning);
	free(r->html_path);
	memset(r, 0, sizeof(*r));
}

int
report_vm_add_disk(struct report_vm *v, const char *target, const char *disk)
{
	struct report_disk *n = reallocarray(v->disks, v->ndisks + 1, sizeof(*n));

	if (!n) {
		log_error("out of memory");
		return -1;
	}
	v->disks = n;
	n = &v->disks[v->ndisks];
	n->target = strdup(target ? target : "");
	n->disk = disk ? strdup(disk) : NULL;
	if (!n->target || (disk && !n->disk)) {
		free(n->target);
		free(n->disk);
		log_error("out of memory");
		return -1;
	}
	v->ndisks++;
	return 0;
}

const char *
report_shot_name(enum report_shot s)
{
	switch (s) {
	case REPORT_SHOT_TAKEN: return "taken";
	case REPORT_SHOT_NO_DISPLAY: return "no-display";
	case REPORT_SHOT_FAILED: return "failed";
	case REPORT_SHOT_NONE: break;
	}
	return "none";
}

/* seconds with millisecond resolution; null when the step was not reached */
static json_t *
secs(double s)
{
	return s < 0 ? json_null() : json_real((double)(int64_t)(s * 1000.0 + 0.5) / 1000.0);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Where "accel" came from, so an RTO is read with it: a probe that fell
 * back to TCG spent accel_fallback_s of it under KVM. */
static void
set_accel(json_t *root, const struct report *r)
{
	json_object_set_new(root, "accel_source", str_or_null(r->accel_source));
	json_object_set_new(root, "accel_cached", json_boolean(r->accel_source &&
							      !strcmp(r->accel_source, "cache")));
	json_object_set_new(root, "accel_fallback_s", secs(r->accel_fallback_s));
}

static json_t *
str_array(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* What the HTML report shows of a VM beside the JSON's own fields: its
 * disks and its screenshot (the image itself is in the HTML only). */
static void
set_evidence(json_t *o, const struct report_vm *v)
{
	json_t *disks = json_array();

	for (size_t k = 0; disks && k < v->ndisks; k++)
		json_array_append_new(disks, json_pack("{s:s, s:s?}", "target", v->disks[k].target,
						       "disk", v->disks[k].disk));
	json_object_set_new(o, "disks", disks ? disks : json_null());
	json_object_set_new(o, "screenshot", json_pack(
		"{s:s, s:s?, s:o, s:I, s:I, s:I}", "state", report_shot_name(v->shot),
		"note", v->shot_note, "at_s", secs(v->shot == REPORT_SHOT_TAKEN ? v->shot_s : -1),
		"width", (json_int_t)v->shot_w, "height", (json_int_t)v->shot_h,
		"png_bytes", (json_int_t)v->shot_len));
}

json_t *
report_json(const struct report *r)
{
	json_t *vms = json_array(), *root = NULL;
	char started[32], ptime[32];

	if (!vms)
		return NULL;
	clock_iso8601(r->started_ns, started, sizeof(started));
	clock_iso8601(r->point_time_ns, ptime, sizeof(ptime));
	for (size_t i = 0; i < r->nvms; i++) {
		const struct report_vm *v = &r->vms[i];
		json_t *o = json_pack("{s:s?, s:s?, s:I, s:o, s:o, s:o, s:b, s:s?, s:s, s:s?}",
				      "vm", v->name, "domain", v->domain,
				      "point", (json_int_t)r->point, "rpo_s", secs(r->rpo_s),
				      "started_s", secs(v->started_s),
				      "rto_s", secs(v->verified_s), "marker_seen", v->marker_seen,
				      "console_log", v->console_log,
				      "result", v->pass ? "pass" : "fail", "error", v->error);
		if (!o)
			goto fail;
		if (v->check_ran) {
			json_object_set_new(o, "check", json_pack("{s:s?, s:i, s:o}",
								  "cmd", r->check_cmd,
								  "rc", v->check_rc,
								  "output",
								  str_or_null(v->check_output)));
		}
		if (v->console_tail)
			json_object_set_new(o, "console_tail", json_string(v->console_tail));
		json_object_set_new(o, "xml_warnings", str_array(v->xml_warnings,
								 v->nxml_warnings));
		set_evidence(o, v);
		if (r->tcp_port || r->guest_agent || r->script)
			json_object_set_new(o, "checks", json_pack(
				"{s:o, s:o, s:o, s:s?}",
				"tcp_port", r->tcp_port && v->tcp_ok >= 0
					? json_boolean(v->tcp_ok) : json_null(),
				"guest_agent", r->guest_agent && v->agent_ok >= 0
					? json_boolean(v->agent_ok) : json_null(),
				"script_rc", r->script && v->script_rc >= 0
					? json_integer(v->script_rc) : json_null(),
				"address", v->address));
		json_array_append_new(vms, o);
	}
	root = json_pack("{s:i, s:s, s:s, s:I, s:s, s:I, s:s, s:I, s:o, s:o, s:s, s:s, s:s, s:s?,"
			 " s:s, s:s, s:b, s:s, s:s?, s:O, s:s}",
			 "version", 1, "drill", r->id, "group", r->group,
			 "point", (json_int_t)r->point, "point_time", ptime,
			 "point_time_ns", (json_int_t)r->point_time_ns,
			 "started", started, "started_ns", (json_int_t)r->started_ns,
			 "rpo_s", secs(r->rpo_s), "duration_s", secs(r->duration_s),
			 "uri", r->uri ? r->uri : "", "accel", r->kvm ? "kvm" : "tcg",
			 "marker", r->marker ? r->marker : "", "check_cmd", r->check_cmd,
			 "network", r->network, "workdir", r->workdir, "kept", r->kept,
			 "teardown", r->kept ? "kept" : r->teardown_ok ? "done" : "failed",
			 "error", r->error, "vms", vms, "verdict", r->pass ? "pass" : "fail");
fail:
	json_decref(vms);
	if (root) {
		json_object_set_new(root, "mode", json_string(r->failover ? "failover" : "drill"));
		json_object_set_new(root, "scrub_forced", json_boolean(r->scrub_forced));
		json_object_set_new(root, "scrub_warning", r->scrub_warning
				    ? json_string(r->scrub_warning) : json_null());
		set_accel(root, r);
		json_object_set_new(root, "point_consistency",
				    json_string(consistency_name(r->point_consistency)));
		json_object_set_new(root, "html_report", str_or_null(r->html_path));
	}
	return root;
}

static void
print_secs(FILE *f, double s)
{
	if (s < 0)
		fprintf(f, "%9s", "-");
	else
		fprintf(f, "%8.1fs", s);
}

static void
print_shot(FILE *f, const struct report_vm *v)
{
	if (v->shot == REPORT_SHOT_TAKEN)
		fprintf(f, "    screenshot: %ux%u at %.1f s\n", v->shot_w, v->shot_h, v->shot_s);
	else if (v->shot != REPORT_SHOT_NONE)
		fprintf(f, "    screenshot: %s\n", v->shot_note ? v->shot_note : "none");
}

void
report_print(const struct report *r, FILE *f)
{
	char started[32], ptime[32];

	clock_iso8601(r->started_ns, started, sizeof(started));
	clock_iso8601(r->point_time_ns, ptime, sizeof(ptime));
	fprintf(f, "%s %s  group %s  point %" PRIu64 " (%s, %s, RPO %.1f s at drill start)\n",
		r->failover ? "failover" : "drill", r->id, r->group, r->point, ptime,
		consistency_name(r->point_consistency), r->rpo_s);
	fprintf(f, "started %s  accel %s (%s)  network %s (isolated)  marker '%s'\n", started,
		r->kvm ? "kvm" : "tcg", r->accel_source ? r->accel_source : "-",
		r->network[0] ? r->network : "-",
		r->marker ? r->marker : "");
	if (r->check_cmd)
		fprintf(f, "check command: %s\n", r->check_cmd);
	fprintf(f, "%-24s %-40s %9s %9s  %s\n", "VM", "DOMAIN", "STARTED", "RTO", "RESULT");
	for (size_t i = 0; i < r->nvms; i++) {
		const struct report_vm *v = &r->vms[i];

		fprintf(f, "%-24s %-40s ", v->name ? v->name : "?", v->domain ? v->domain : "-");
		print_secs(f, v->started_s);
		fputc(' ', f);
		print_secs(f, v->verified_s);
		fprintf(f, "  %s%s%s\n", v->pass ? "pass" : "FAIL", v->error ? ": " : "",
			v->error ? v->error : "");
		if (v->check_ran) {
			fprintf(f, "    check rc %d, output:\n", v->check_rc);
			for (const char *p = v->check_output ? v->check_output : ""; *p;) {
				const char *nl = strchr(p, '\n');
				int n = nl ? (int)(nl - p) : (int)strlen(p);

				fprintf(f, "      %.*s\n", n, p);
				p += n + (nl ? 1 : 0);
			}
		}
		for (size_t k = 0; k < v->nxml_warnings; k++)
			fprintf(f, "    domain XML: %s\n", v->xml_warnings[k]);
		if (v->console_log)
			fprintf(f, "    console log: %s\n", v->console_log);
		print_shot(f, v);
	}
	if (r->error)
		fprintf(f, "error: %s\n", r->error);
	if (r->scrub_forced)
		fprintf(f, "warning: booted with --force: %s\n", r->scrub_warning);
	fprintf(f, "teardown: %s; duration %.1f s\n",
		r->failover && r->kept ? "none (failover: VMs stay up)" :
		r->kept ? "skipped (--keep)" : r->teardown_ok ? "done" : "FAILED", r->duration_s);
	if (r->html_path)
		fprintf(f, "html report: %s\n", r->html_path);
	fprintf(f, "verdict: %s\n", r->pass ? "PASS" : "FAIL");
}

int
report_save(const struct report *r, const char *path)
{
	json_t *j = report_json(r);
	int ret;

	if (!j) {
		log_error("drill %s: cannot encode the report", r->id);
		return -1;
	}
	ret = jsonfile_save(path, j, JSON_INDENT(2), 0644);
	json_decref(j);
	return ret;
}

static int
json_file(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 5 && !strcmp(de->d_name + n - 5, ".json");
}

static double
num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : -1;
}

char *
report_html_path(const char *json_path)
{
	size_t n = strlen(json_path);

	if (n > 5 && !strcmp(json_path + n - 5, ".json"))
		n -= 5;
	return strfmt("%.*s.html", (int)n, json_path);
}

/* Where the listed report r (read from path) and its HTML are now. */
static int
list_paths(json_t *r, const char *path)
{
	char *html = report_html_path(path);

	if (!html)
		return -1;
	json_object_set_new(r, "report_json", json_string(path));
	json_object_set_new(r, "report_html", access(html, F_OK) == 0 ? json_string(html)
								     : json_null());
	free(html);
	return 0;
}

static void
print_paths(FILE *f, json_t *r)
{
	const char *html = json_string_value(json_object_get(r, "report_html"));

	fprintf(f, "    json: %s\n", json_string_value(json_object_get(r, "report_json")));
	fprintf(f, "    html: %s\n", html ? html : "- (none: saved before HTML reports)");
}

int
report_list(const char *dir, bool json, FILE *f)
{
	struct dirent **ents = NULL;
	json_t *arr = json ? json_array() : NULL;
	int n, ret = -1;

	n = scandir(dir, &ents, json_file, alphasort);
	if (n < 0) {
		if (errno != ENOENT) {
			log_error("drill reports %s: %m", dir);
			return -1;
		}
		n = 0;
	}
	if (!json)
		fprintf(f, "%-28s %-6s %-8s %9s %9s  %s\n", "DRILL", "POINT", "VERDICT", "RPO",
			"RTO(max)", "VMS");
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		void *data = NULL;
		size_t len = 0;
		json_t *r = NULL, *vms;
		double rto = -1;

		if (asprintf(&path, "%s/%s", dir, ents[i]->d_name) < 0) {
			log_error("drill reports %s: out of memory", dir);
			goto out;
		}
		if (file_read_all(path, REPORT_FILE_MAX, &data, &len) == 0)
			r = json_loadb(data, len, 0, NULL);
		if (!json_is_object(r)) {
			log_warn("drill report %s is not readable JSON, skipped", path);
		} else if (list_paths(r, path) < 0) {
			log_error("drill reports %s: out of memory", dir);
		} else if (json) {
			json_array_append(arr, r);
		} else {
			vms = json_object_get(r, "vms");
			for (size_t k = 0; k < json_array_size(vms); k++) {
				double s = num(json_array_get(vms, k), "rto_s");
				rto = s > rto ? s : rto;
			}
			fprintf(f, "%-28s %-6.0f %-8s ", json_string_value(json_object_get(r, "drill"))
				? json_string_value(json_object_get(r, "drill")) : "?",
				num(r, "point"),
				json_string_value(json_object_get(r, "verdict"))
				? json_string_value(json_object_get(r, "verdict")) : "?");
			print_secs(f, num(r, "rpo_s"));
			fputc(' ', f);
			print_secs(f, rto);
			fprintf(f, "  %zu\n", json_array_size(vms));
			print_paths(f, r);
		}
		json_decref(r);
		free(data);
		free(path);
	}
	if (json) {
		char *txt = json_dumps(arr, JSON_INDENT(2));
		if (!txt)
			goto out;
		fprintf(f, "%s\n", txt);
		free(txt);
	}
	ret = 0;
out:
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	json_decref(arr);
	return ret;
}

void
report_output(const struct report *r, bool json, FILE *f)
{
	json_t *j;
	char *txt;

	if (r->nvms == 0 && !r->point)
		return; /* nothing ran: the error was logged */
	if (!json) {
		report_print(r, f);
		return;
	}
	j = report_json(r);
	txt = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	if (txt)
		fprintf(f, "%s\n", txt);
	free(txt);
	json_decref(j);
}
