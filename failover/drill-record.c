/* What a drill or failover records (failover/drill-record.h): its report
 * and a failover's marker. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "failover/drill-net.h"
#include "failover/drill-record.h"
#include "failover/drill-run.h"
#include "failover/report-html.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"

/* "20260131T235959-1a2b": the start time (UTC) and 16 random bits. */
static void
record_id(struct report *r)
{
	char iso[CLOCK_ISO_LEN], ts[CLOCK_ISO_LEN];
	uint16_t rnd = 0;
	size_t n = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint16_t)getpid();
	/* ISO 8601 without its separators: the basic format */
	clock_iso8601(r->started_ns, iso, sizeof(iso));
	for (const char *p = iso; *p; p++)
		if (*p != '-' && *p != ':')
			ts[n++] = *p;
	ts[n] = '\0';
	snprintf(r->id, sizeof(r->id), "%.15s-%04x", ts, (unsigned)rnd);
}

void
drill_record_begin(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct report *r = d->r;

	d->t0_ns = clock_mono_ns();
	memset(r, 0, sizeof(*r));
	r->started_ns = clock_now_ns();
	r->uri = o->uri;
	r->marker = o->marker;
	r->check_cmd = o->check_cmd;
	r->kept = o->keep || d->failover;
	r->failover = d->failover;
	r->tcp_port = o->tcp_port;
	r->guest_agent = o->guest_agent;
	r->script = o->script;
	snprintf(r->group, sizeof(r->group), "%s", o->group);
	record_id(r);
}

void
drill_record_point(struct drill *d, uint64_t point, uint64_t point_time_ns,
		   int consistency)
{
	struct report *r = d->r;

	r->point = point;
	r->point_consistency = consistency;
	r->point_time_ns = point_time_ns;
	r->rpo_s = r->started_ns > r->point_time_ns
		? (double)(r->started_ns - r->point_time_ns) / 1e9 : 0;
}

int
drill_record_marker(struct drill *d)
{
	json_t *vms = json_array(), *m;
	char when[CLOCK_ISO_LEN];
	int ret;

	clock_iso8601(d->r->started_ns, when, sizeof(when));
	for (size_t i = 0; vms && i < d->nvms; i++)
		json_array_append_new(vms, json_pack("{s:s, s:s}", "vm", d->vms[i].name,
						     "domain", d->vms[i].domain_name));
	m = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:b, s:b, s:s, s:o}",
		      "version", 1, "group", d->o->group, "failover", d->r->id,
		      "point", (json_int_t)d->r->point,
		      "point_time_ns", (json_int_t)d->r->point_time_ns, "time", when,
		      "time_ns", (json_int_t)d->r->started_ns, "uri", d->o->uri,
		      "network", d->r->network, "network_created", drill_net_created(d->net),
		      "planned", d->o->planned, "workdir", d->r->workdir, "vms", vms);
	if (!m) {
		log_error("failover %s: cannot encode the marker", d->r->id);
		return -1;
	}
	ret = failover_marker_save(d->root, d->o->group, m);
	json_decref(m);
	return ret;
}

int
drill_record_finish(struct drill *d, bool teardown_ok)
{
	struct report *r = d->r;
	char *path, *html;

	r->teardown_ok = teardown_ok;
	r->pass = d->prepared && !r->error && teardown_ok && d->nvms > 0;
	for (size_t i = 0; i < d->nvms; i++) {
		if (!r->vms[i].marker_seen)
			drill_vm_fail(&r->vms[i], "not booted: the run failed before");
		if (!r->vms[i].pass)
			r->pass = false;
	}
	r->duration_s = drill_elapsed(d);
	path = groupstate_report_path(d->root, d->o->group, d->failover, r->id);
	/* the HTML first: the JSON names it, and --list reads the JSON */
	html = path ? report_html_path(path) : NULL;
	if (html && report_html_save(r, html) == 0) {
		r->html_path = html;
		html = NULL;
	}
	free(html);
	if (path && report_save(r, path) == 0)
		log_info("%s %s: report saved as %s%s%s", drill_what(d), r->id, path,
			 r->html_path ? " and " : "", r->html_path ? r->html_path : "");
	free(path);
	return r->pass ? 0 : -1;
}
