/* The on-prem domains of a failback (ondomains.h): their disks and state
 * from their definitions on the on-prem libvirtd, and at the cutover their
 * start and the drill's checks. */
#define _GNU_SOURCE
#include "failback/ondomains.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "failback/cutover.h"
#include "failback/reprotect.h"
#include "failback/target.h"
#include "failover/checks.h"
#include "failover/console.h"
#include "failover/drill.h"
#include "failover/report.h"
#include "replicator/config.h"
#include "snapshot/libvirt.h"
#include "snapshot/plan.h"
#include "snapshot/ranges.h"

#define VERIFY_FILE "verify.json"
#define VERIFY_MAX  ((size_t)256 * 1024)

static const char *
uri_of(const struct agent_group_cfg *g)
{
	return g->libvirt_uri ? g->libvirt_uri : VMXML_DEFAULT_URI;
}

/* Every domain of g planned from its inactive definition, running or not. */
static int
plan_of(const struct agent_group_cfg *g, struct plan *pl)
{
	return plan_domains(pl, &(struct plan_input){ .group = g->name, .uri = g->libvirt_uri,
						     .domains = g->domains, .inactive = true });
}

int
ondomains_disks(const struct agent_group_cfg *g, struct failback_disks *d)
{
	struct plan pl = { 0 };
	int rc = -1;

	if (plan_of(g, &pl) < 0)
		goto out;
	for (size_t i = 0; i < pl.nodisk; i++) {
		const struct plan_disk *o = &pl.odisk[i];

		if (!o->path) {
			log_error("failback: group %s disk %s: an RBD disk of a domain: not "
				  "supported yet", g->name, o->name);
			goto out;
		}
		if (failback_disks_add(d, g->name, o->name, o->path,
				       o->format[0] ? o->format : NULL) < 0)
			goto out;
	}
	rc = 0;
out:
	plan_clear(&pl);
	return rc;
}

static int
x_add(void *arg, uint64_t off, uint64_t len)
{
	return range_set_add(arg, off, len);
}

int
ondomains_x(const struct agent_group_cfg *g, const char *state_dir, uint64_t p,
	    const char *name, struct range_set *rs)
{
	struct plan pl = { 0 };
	char *sdir = NULL, why[400];
	int rc = -1;

	if (!g->domains)
		return 0;
	if (plan_of(g, &pl) < 0 || !(sdir = strfmt("%s/%s/libvirt", state_dir, g->name)))
		goto out;
	rc = 0;
	for (size_t v = 0; v < pl.noff; v++) {
		const struct plan_vm *vm = &pl.off[v];

		for (size_t i = vm->first; i < vm->first + vm->n; i++) {
			const struct plan_disk *d = &pl.odisk[i];
			struct snap_lv_since in = { g->libvirt_uri, sdir, vm->name, d->target,
						    d->path, p };

			if (strcmp(d->name, name) != 0 || !d->path)
				continue;
			rc = snapshot_libvirt_changed_since(&in, x_add, rs, why, sizeof(why));
			if (rc == 0)
				log_warn("failback: group %s disk %s: no change tracking of domain %s "
					 "since point %" PRIu64 ": %s", g->name, name, vm->name, p,
					 why);
			else if (rc == 1)
				log_info("failback: group %s disk %s: X from the checkpoint bitmaps "
					 "of domain %s since point %" PRIu64, g->name, name, vm->name,
					 p);
			goto out;
		}
	}
out:
	free(sdir);
	plan_clear(&pl);
	return rc;
}

int
ondomains_off(const struct agent_group_cfg *g, const char *what)
{
	struct plan pl = { 0 };
	int rc = -1;

	if (!g->domains)
		return 0;
	if (plan_of(g, &pl) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < pl.noff; i++) {
		if (!pl.off[i].running)
			continue;
		log_error("failback: group %s: domain %s runs on the on-prem libvirtd (%s): %s needs "
			  "it shut off, as the failback's target lies over its disks until the "
			  "cutover; stop it first (virsh -c %s shutdown %s, until virsh domstate "
			  "says shut off) and run it again", g->name, pl.off[i].name, uri_of(g), what,
			  uri_of(g), pl.off[i].name);
		rc = -1;
	}
out:
	plan_clear(&pl);
	return rc;
}

/* ---- start ------------------------------------------------------------ */

static virConnectPtr
connect_of(const struct agent_group_cfg *g)
{
	virConnectPtr conn = virt_dl_load() < 0 ? NULL : sym_virConnectOpen(uri_of(g));

	if (!conn)
		log_error("failback: group %s: cannot connect to the on-prem libvirtd %s: %s",
			  g->name, uri_of(g), virt_dl_error());
	return conn;
}

static int
dom_state(virDomainPtr dom)
{
	int state = -1, reason = 0;

	return sym_virDomainGetState(dom, &state, &reason, 0) < 0 ? -1 : state;
}

static bool
is_off(int st)
{
	return st == VIR_DOMAIN_SHUTOFF || st == VIR_DOMAIN_SHUTDOWN || st == VIR_DOMAIN_CRASHED;
}

/* Each domain of pl: paused (first) brings a shut-off domain up paused and
 * refuses a running one; else a paused one is resumed and a shut-off one
 * started. 0 / -1 (logged). */
static int
bring_up(const struct agent_group_cfg *g, virConnectPtr conn, const struct plan *pl,
	 bool paused)
{
	for (size_t i = 0; i < pl->noff; i++) {
		const char *name = pl->off[i].name;
		virDomainPtr dom = sym_virDomainLookupByName(conn, name);
		int st = dom ? dom_state(dom) : -1, r = 0;
		bool outside = paused && st >= 0 && st != VIR_DOMAIN_PAUSED && !is_off(st);

		if (is_off(st))
			r = sym_virDomainCreateWithFlags(dom, paused ? VIR_DOMAIN_START_PAUSED : 0);
		else if (st == VIR_DOMAIN_PAUSED && !paused)
			r = sym_virDomainResume(dom);
		if (st < 0 || r < 0)
			log_error("failback: group %s: domain %s: %s", g->name, name, virt_dl_error());
		else if (outside)
			log_error("failback: group %s: domain %s was started outside the cutover: "
				  "its disks may no longer be the point the change tracking restarts "
				  "at; shut it off (virsh -c %s destroy %s) and run failback finish "
				  "again", g->name, name, uri_of(g), name);
		else
			log_info("failback: group %s: domain %s %s", g->name, name,
				 paused ? "up, paused" : "running");
		if (dom)
			sym_virDomainFree(dom);
		if (st < 0 || r < 0 || outside)
			return -1;
	}
	return 0;
}

int
ondomains_start(const struct agent_group_cfg *g, const char *state_dir, const char *gdir,
		struct cutover *c, uint64_t f, const struct ondomains_opts *o)
{
	virConnectPtr conn = NULL;
	struct plan pl = { 0 };
	int rc = -1;

	if (c->state > CUTOVER_STARTED || (c->state == CUTOVER_STARTED && !c->domains_started))
		return 0;
	if (c->state == CUTOVER_COMMITTED && (!g->domains || o->no_start)) {
		log_info("failback: group %s: %s", g->name,
			 g->domains ? "--no-start: the on-prem domains stay shut off"
				    : "its disks are image files: no on-prem domain to start");
		/* One started since the commit would make F a wrong base. */
		if (ondomains_off(g, "--no-start") < 0 || failback_sources_at(g, state_dir, f) < 0)
			return -1;
		c->state = CUTOVER_STARTED;
		return cutover_advance(gdir, c);
	}
	if (c->state < CUTOVER_COMMITTED) {
		log_error("failback: group %s: cutover %s: the on-prem disks are not committed: no "
			  "domain starts", g->name, cutover_state_name(c->state));
		return -1;
	}
	if (plan_of(g, &pl) < 0 || !(conn = connect_of(g)))
		goto out;
	if (c->state == CUTOVER_COMMITTED) {
		/* Paused, nothing runs: the disks are F while the tracking
		 * restarts, and every write after it is tracked. */
		if (bring_up(g, conn, &pl, true) < 0 || failback_sources_at(g, state_dir, f) < 0)
			goto out;
		c->state = CUTOVER_STARTED;
		c->domains_started = true;
		if (cutover_advance(gdir, c) < 0)
			goto out;
	}
	if (bring_up(g, conn, &pl, false) < 0)
		goto out;
	rc = 0;
out:
	if (conn)
		sym_virConnectClose(conn);
	plan_clear(&pl);
	return rc;
}

/* ---- verify ----------------------------------------------------------- */

static void
vm_fail(struct report_vm *rv, const char *why)
{
	rv->pass = false;
	if (!rv->error)
		rv->error = strdup(why);
}

/* The boot marker on the console the domain's definition logs to. */
static void
check_marker(virDomainPtr dom, const char *name, const struct drill_opts *d,
	     struct report_vm *rv)
{
	char *xml = sym_virDomainGetXMLDesc(dom, 0);
	struct vmxml *x = xml ? vmxml_parse(xml, strlen(xml), name) : NULL;
	struct checks_dom_wait w = { dom, 0 };
	const char *why = NULL;
	int r;

	if (!x) {
		vm_fail(rv, "cannot read its definition");
		goto out;
	}
	if (!x->console_log) {
		log_info("failback: domain %s: its definition logs no console: no boot marker "
			 "to wait for", name);
		goto out;
	}
	/* A log kept across boots holds the marker of an older one. */
	r = console_wait(x->console_log, x->console_log_append ? console_size(x->console_log) : 0,
			 d->marker, d->timeout_s, checks_dom_going, &w, &why);
	rv->console_log = strdup(x->console_log);
	if (r == 1) {
		rv->marker_seen = true;
		log_info("failback: domain %s: boot marker '%s' on its console", name, d->marker);
	} else {
		vm_fail(rv, why ? why : "cannot read the console log");
	}
out:
	vmxml_free(x);
	free(xml);
}

static json_t *
vm_json(const struct report_vm *rv)
{
	return json_pack("{s:s, s:b, s:s?, s:b, s:i, s:i, s:i, s:s?, s:s?}", "name", rv->name,
			 "pass", rv->pass, "console_log", rv->console_log, "marker_seen",
			 rv->marker_seen, "guest_agent", rv->agent_ok, "tcp_port", rv->tcp_ok,
			 "script_rc", rv->script_rc, "address", rv->address, "error", rv->error);
}

/* One domain, running already: marker, then the checks asked for. */
static void
verify_one(virConnectPtr conn, const char *name, const struct drill_opts *d,
	   struct report_vm *rv)
{
	virDomainPtr dom = sym_virDomainLookupByName(conn, name);

	*rv = (struct report_vm){ .name = strdup(name), .tcp_ok = -1, .agent_ok = -1,
				  .script_rc = -1, .pass = true };
	if (!dom || !rv->name) {
		vm_fail(rv, dom ? "out of memory" : virt_dl_error());
		goto out;
	}
	check_marker(dom, name, d, rv);
	if (rv->pass)
		checks_run(dom, name, d, NULL, rv);
out:
	if (dom)
		sym_virDomainFree(dom);
}

/* verify.json: {summary, pass, vms}. */
static int
verify_save(const char *gdir, const char *summary, bool pass, const struct report *r)
{
	char *path = strfmt("%s/" VERIFY_FILE, gdir);
	json_t *vms = json_array(), *j = NULL;
	int rc = -1;

	for (size_t i = 0; vms && i < r->nvms; i++)
		if (json_array_append_new(vms, vm_json(&r->vms[i])) < 0)
			goto out;
	j = vms ? json_pack("{s:s, s:b, s:O}", "summary", summary, "pass", pass, "vms", vms)
		: NULL;
	if (!path || !j) {
		log_error("failback: %s: out of memory", gdir);
		goto out;
	}
	rc = jsonfile_save(path, j, JSON_INDENT(2) | JSON_SORT_KEYS, 0600);
out:
	json_decref(j);
	json_decref(vms);
	free(path);
	return rc;
}

/* Every domain of pl checked into r; the first failure in *why. */
static bool
verify_all(const struct agent_group_cfg *g, virConnectPtr conn, const struct plan *pl,
	   const struct drill_opts *d, struct report *r, char *why, size_t len)
{
	bool pass = true;

	for (size_t i = 0; i < pl->noff; i++, r->nvms++) {
		struct report_vm *rv = &r->vms[i];

		verify_one(conn, pl->off[i].name, d, rv);
		if (rv->pass)
			continue;
		log_error("failback: group %s: domain %s failed its checks: %s", g->name,
			  pl->off[i].name, rv->error ? rv->error : "?");
		if (pass)
			snprintf(why, len, "domain %s: %s", pl->off[i].name,
				 rv->error ? rv->error : "?");
		pass = false;
	}
	return pass;
}

int
ondomains_verify(const struct agent_group_cfg *g, const char *gdir, struct cutover *c,
		 const struct ondomains_opts *o)
{
	struct drill_opts d = { .marker = o->marker ? o->marker : DRILL_DEFAULT_MARKER,
				.timeout_s = o->timeout_s ? o->timeout_s : DRILL_DEFAULT_TIMEOUT_S,
				.guest_agent = o->guest_agent, .tcp_port = o->tcp_port,
				.script = o->script };
	struct report r = { 0 };
	virConnectPtr conn = NULL;
	struct plan pl = { 0 };
	char why[512] = "";
	int rc = -1;

	if (c->state != CUTOVER_STARTED)
		return 0;
	if (!c->domains_started) {
		const char *s = g->domains ? "not started (--no-start)"
					   : "none: the group's disks are image files";

		if (verify_save(gdir, s, true, &r) < 0)
			return -1;
		c->state = CUTOVER_VERIFIED;
		return cutover_advance(gdir, c);
	}
	if (plan_of(g, &pl) < 0 || !(conn = connect_of(g)))
		goto out;
	if (!(r.vms = calloc(pl.noff ? pl.noff : 1, sizeof(*r.vms)))) {
		log_error("failback: group %s: out of memory", g->name);
		goto out;
	}
	if (!verify_all(g, conn, &pl, &d, &r, why, sizeof(why))) {
		(void)verify_save(gdir, why, false, &r);
		log_error("failback: group %s: the on-prem domains did not pass their checks (%s): "
			  "they are left running and the DR side keeps its failover; see to them, "
			  "then run nestor failback finish %s again: it checks them again (the "
			  "cutover is not redone)", g->name, why, g->name);
		goto out;
	}
	if (verify_save(gdir, "started and verified", true, &r) < 0)
		goto out;
	c->state = CUTOVER_VERIFIED;
	rc = cutover_advance(gdir, c);
out:
	if (conn)
		sym_virConnectClose(conn);
	plan_clear(&pl);
	report_clear(&r);
	return rc;
}

json_t *
ondomains_report(const char *gdir)
{
	char *path = strfmt("%s/" VERIFY_FILE, gdir);
	json_t *j = NULL;

	if (path && jsonfile_load(path, VERIFY_MAX, JSON_REJECT_DUPLICATES, &j) != 0) {
		log_debug("failback: %s: no verdicts", path);
		j = NULL;
	}
	free(path);
	return j;
}
