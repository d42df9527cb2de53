/* `nestor drill` and `nestor failover`: the steps of one run. Boot the VMs
 * of a recovery point on copy-on-write clones in an isolated libvirt
 * network (drill-net.c), verify them (drill-vm.c), measure RPO/RTO and
 * save the report (drill-record.c), tear down. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/testhook.h"
#include "common/virt-dl.h"
#include "failover/drill-accel.h"
#include "failover/drill-drnet.h"
#include "failover/drill-lan-run.h"
#include "failover/drill-net.h"
#include "failover/drill-record.h"
#include "failover/drill-run.h"
#include "failover/drill-shot.h"
#include "failover/drill-sweep.h"
#include "failover/drill-vm.h"
#include "failover/drill.h"
#include "failover/scrubcheck.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"

#define META_MAX_DISKS 256

static volatile sig_atomic_t drill_stop;

void
drill_on_signal(int sig)
{
	(void)sig;
	drill_stop = 1;
}

bool
drill_stopped(void)
{
	return drill_stop != 0;
}

const char *
drill_what(const struct drill *d)
{
	return d->failover ? "failover" : "drill";
}

double
drill_elapsed(const struct drill *d)
{
	return (double)(clock_mono_ns() - d->t0_ns) / 1e9;
}

void
drill_vm_fail(struct report_vm *v, const char *why)
{
	v->pass = false;
	if (!v->error)
		v->error = strdup(why);
}

static int
pick_point(struct drill *d)
{
	struct store_point_info *pts = NULL;
	size_t n = 0;
	int ret = -1;

	if (store_list_points(d->st, d->o->group, &pts, &n) < 0)
		goto out;
	for (size_t i = n; i-- > 0;) {
		if (d->o->point == 0 || pts[i].id == d->o->point) {
			drill_record_point(d, pts[i].id, pts[i].time_ns, pts[i].consistency);
			ret = 0;
			break;
		}
	}
	if (ret < 0) {
		if (n == 0)
			log_error("group %s has no committed recovery point", d->o->group);
		else
			log_error("group %s has no committed point %" PRIu64, d->o->group,
				  d->o->point);
	}
out:
	free(pts);
	return ret;
}

static int
load_meta(struct drill *d)
{
	void *blob = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *vms;
	int ret = -1;

	if (store_point_meta(d->st, d->o->group, d->r->point, &blob, &len) < 0)
		goto out;
	d->meta = json_loadb(blob, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(d->meta)) {
		log_error("group %s point %" PRIu64 ": metadata is not a JSON object: %s",
			  d->o->group, d->r->point, jerr.text);
		goto out;
	}
	d->disks = json_object_get(d->meta, "disks");
	vms = json_object_get(d->meta, "vms");
	if (!json_is_array(d->disks) || json_array_size(d->disks) > META_MAX_DISKS) {
		log_error("group %s point %" PRIu64 ": metadata has no valid \"disks\" list",
			  d->o->group, d->r->point);
		goto out;
	}
	if (!json_is_array(vms) || json_array_size(vms) == 0) {
		log_error("group %s point %" PRIu64 ": no VM definitions in the point "
			  "(set domain_xml in the agent's [group %s])", d->o->group,
			  d->r->point, d->o->group);
		goto out;
	}
	if (json_array_size(vms) > DRILL_MAX_VMS) {
		log_error("group %s point %" PRIu64 ": %zu VMs, at most %d per drill",
			  d->o->group, d->r->point, json_array_size(vms), DRILL_MAX_VMS);
		goto out;
	}
	d->nvms = json_array_size(vms);
	d->vms = calloc(d->nvms, sizeof(*d->vms));
	d->r->vms = calloc(d->nvms, sizeof(*d->r->vms));
	if (!d->vms || !d->r->vms) {
		log_error("out of memory");
		goto out;
	}
	d->r->nvms = d->nvms;
	for (size_t i = 0; i < d->nvms; i++) {
		json_t *x = json_object_get(json_array_get(vms, i), "xml");

		if (!json_is_string(x)) {
			log_error("group %s point %" PRIu64 ": vms[%zu] has no \"xml\"",
				  d->o->group, d->r->point, i);
			goto out;
		}
		d->vms[i].xml = json_string_value(x);
		d->vms[i].xml_len = json_string_length(x);
	}
	ret = 0;
out:
	free(blob);
	return ret;
}

/* d->order: the VMs named in --boot-order first, in that order, then the
 * others in the order of the point's metadata. */
static int
boot_order(struct drill *d)
{
	bool used[DRILL_MAX_VMS] = { false };
	size_t n = 0;
	const char *p = d->o->boot_order;

	while (p && *p) {
		size_t len = strcspn(p, ",");
		size_t k;

		for (k = 0; k < d->nvms; k++)
			if (strlen(d->vms[k].name) == len && !strncmp(d->vms[k].name, p, len))
				break;
		if (k == d->nvms) {
			log_error("--boot-order names '%.*s', which is not a VM of group %s "
				  "point %" PRIu64, (int)len, p, d->o->group, d->r->point);
			return -1;
		}
		if (!used[k]) {
			used[k] = true;
			d->order[n++] = k;
		}
		p += len + (p[len] == ',');
	}
	for (size_t k = 0; k < d->nvms; k++)
		if (!used[k])
			d->order[n++] = k;
	return 0;
}

/* --planned: the source was shut down and synced for the last time; a
 * pending (incomplete) point means that last sync did not finish. */
static int
check_planned(struct drill *d)
{
	struct store_progress p;

	if (store_progress(d->st, d->o->group, &p) < 0)
		return -1;
	if (p.pending_point != 0) {
		log_error("failover --planned: group %s has an incomplete point %" PRIu64
			  " (the final sync did not finish); run the agent once more, or fail "
			  "over without --planned to boot the newest complete point %" PRIu64,
			  d->o->group, p.pending_point, p.last_point);
		return -1;
	}
	return 0;
}

static struct drill_net *
create_network(struct drill *d)
{
	struct drill_net_opts no = {
		.id = d->r->id, .group = d->o->group, .failover = d->failover,
		.host_address = d->o->tcp_port || d->o->script,
	};

	return drill_net_create(d->conn, &no, d->r->network, sizeof(d->r->network));
}

/* Destroy what the run created; every step is attempted. 0 / -1. */
static int
teardown(struct drill *d)
{
	int ret = drill_vm_destroy_all(d);

	if (drill_net_teardown(d->net) < 0)
		ret = -1;
	d->net = NULL;
	if (drill_vm_remove_files(d) < 0)
		ret = -1;
	if (drill_lans_down(d) < 0)
		ret = -1;
	return ret;
}

static void
drill_clear(struct drill *d)
{
	for (size_t i = 0; d->vms && i < d->nvms; i++)
		drill_vm_clear(&d->vms[i]);
	free(d->vms);
	drill_net_free(d->net);
	drill_lans_free(d->lans);
	json_decref(d->meta);
	if (d->conn)
		sym_virConnectClose(d->conn);
}

/* Step 1: the point, its metadata, the work dir and the point's pin.
 * 0, or RUN_EARLY (nothing created: no report) / RUN_REFUSED (refused
 * before reading the point). */
#define RUN_EARLY   (-1)
#define RUN_REFUSED (-2)
static int
run_start(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct report *r = d->r;
	char *path = NULL;

	if (d->failover && failover_group_is_failed_over(d->root, o->group)) {
		path = failover_marker_path(d->root, o->group);
		log_error("group %s is failed over already (%s); run "
			  "'nestor failover --release %s' once its VMs are shut down",
			  o->group, path ? path : "failover.json", o->group);
		free(path);
		r->error = strdup("group is failed over already");
		return RUN_REFUSED;
	}
	if (d->failover && o->planned && check_planned(d) < 0) {
		r->error = strdup("planned failover refused: incomplete point pending");
		return RUN_REFUSED;
	}
	if (pick_point(d) < 0 || load_meta(d) < 0)
		return RUN_EARLY;
	if (scrubcheck_point(d->st, d->root, o->group, r->point, o->force, r) < 0)
		return RUN_REFUSED;
	if (!(path = groupstate_run_dir(d->root, o->group, d->failover, r->id)))
		return RUN_EARLY;
	snprintf(r->workdir, sizeof(r->workdir), "%s", path);
	free(path);
	if (mkdir_p(r->workdir, 0755) < 0)
		return RUN_EARLY;
	/* a drill's lock: a sweep leaves what it makes alone while it runs */
	if (!d->failover && !(d->lans = drill_lans_new(r->workdir))) {
		rmdir(r->workdir);
		return RUN_EARLY;
	}
	/* "in use" mark honoured by retention (docs/retention.md): the point and
	 * every older one stay until teardown removes it. */
	if (!d->failover && groupstate_pin(d->root, o->group, r->id, r->point) < 0) {
		rmdir(r->workdir);
		return RUN_EARLY;
	}
	log_info("%s %s: group %s point %" PRIu64 " (RPO %.1f s), %zu VM(s), work dir %s",
		 drill_what(d), r->id, o->group, r->point, r->rpo_s,
		 d->nvms, r->workdir);
	return 0;
}

/* Step 2: libvirt, every VM prepared before any boots (a mapping error
 * costs nothing), the network, a failover's marker. 0 / -1 (r->error). */
static int
run_prepare(struct drill *d)
{
	struct report *r = d->r;

	if (virt_dl_load() < 0) {
		r->error = strdup("cannot load libvirt");
		return -1;
	}
	d->conn = sym_virConnectOpen(d->o->uri);
	if (!d->conn) {
		log_error("%s %s: cannot connect to libvirt at %s: %s",
			  drill_what(d), r->id, d->o->uri, virt_dl_error());
		r->error = strdup("cannot connect to libvirt");
		return -1;
	}
	/* what dead drills of the group left (not those run with --keep) */
	if (!d->failover && drill_sweep(d->conn, d->st, d->root, d->o->group, false) < 0)
		log_warn("%s %s: what an earlier drill left could not all be removed "
			 "(see above; 'nestor drill --cleanup %s' tries again)", drill_what(d),
			 r->id, d->o->group);
	if (domxml_size_host_caps(d->o->max_memory, d->o->max_vcpus, d->o->max_devices,
				  &d->caps) < 0) {
		r->error = strdup("cannot read this host's memory size");
		return -1;
	}
	d->prepared = true;
	for (size_t i = 0; i < d->nvms; i++)
		if (drill_vm_prepare(d, i) < 0)
			d->prepared = false;
	if (!d->prepared || boot_order(d) < 0 || drill_vm_map_networks(d) < 0) {
		d->prepared = false;
		r->error = strdup("preparation failed: see the log");
		return -1;
	}
	if (d->failover && drill_drnet_up(d) < 0) {
		r->error = strdup("cannot bring up the DR networks");
		return -1;
	}
	if (!d->failover && drill_lans_up(d) < 0) {
		r->error = strdup("cannot make the drill's copies of the DR networks");
		return -1;
	}
	/* a test kills a drill here: recorded and made, nothing booted */
	if (!d->failover)
		testhook_at("drill-lans-up");
	if ((!d->failover || d->net_needed) && !(d->net = create_network(d))) {
		r->error = strdup("cannot create the isolated network");
		return -1;
	}
	if (d->failover) {
		/* before anything boots: from now on the receiver refuses points */
		if (drill_record_marker(d) < 0) {
			r->error = strdup("cannot write the failover marker");
			return -1;
		}
		d->marked = true;
	}
	return 0;
}

/* Step 3: boot in order (with the delay between VMs), then check. */
static void
run_boot(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct report *r = d->r;
	const char *what = drill_what(d);

	drill_accel_choose(d);
	for (size_t n = 0; n < d->nvms && !drill_stop; n++) {
		size_t i = d->order[n];

		if (n > 0 && o->boot_delay_s > 0) {
			log_info("%s %s: waiting %u s before booting %s", what, r->id,
				 o->boot_delay_s, d->vms[i].name);
			for (unsigned k = 0; k < o->boot_delay_s * 10 && !drill_stop; k++)
				clock_nap_ms(100);
		}
		drill_vm_boot(d, i, n == 0 && d->probing);
	}
	r->kvm = d->kvm;
	drill_accel_learn(d, d->order[0]);
	for (size_t n = 0; n < d->nvms && !drill_stop; n++) {
		if (r->vms[d->order[n]].marker_seen)
			drill_vm_check(d, d->order[n]);
		drill_shot_take(d, d->order[n]);
	}
	/* a test looks at a running drill from outside here */
	if (!d->failover)
		testhook_at("drill-checked");
	if (drill_stop) {
		log_error("%s %s: interrupted", what, r->id);
		r->error = strdup("interrupted by a signal");
	}
}

/* Step 4: tear down (or keep), the verdict, the report. 0 pass / -1. */
static int
run_finish(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct report *r = d->r;
	bool teardown_ok = true, any_started = false;

	for (size_t i = 0; i < d->nvms; i++)
		any_started = any_started || d->vms[i].dom;
	if (d->failover && !any_started) {
		/* nothing runs: undo everything, the group stays protected */
		teardown_ok = teardown(d) == 0;
		teardown_ok = drill_drnet_down(d) == 0 && teardown_ok;
		r->kept = false;
		if (d->marked && failover_marker_remove(d->root, o->group) == 0)
			log_info("failover %s: no VM started: marker removed, group %s still "
				 "accepts points", r->id, o->group);
	} else if (!o->keep && !d->failover) {
		teardown_ok = teardown(d) == 0;
		/* the run record goes last: until then a sweep finishes the job */
		if (teardown_ok) {
			groupstate_unpin(d->root, o->group, r->id, r->point);
			teardown_ok = drill_sweep_remove(r->workdir) == 0;
		}
		log_info("drill %s: teardown %s", r->id, teardown_ok ? "done" : "FAILED");
	} else if (d->failover) {
		log_info("failover %s: VMs stay up; group %s is failed over (release with "
			 "'nestor failover --release %s')", r->id, o->group, o->group);
	} else {
		log_info("drill %s: --keep: domains, network %s and overlays left in place",
			 r->id, r->network);
	}
	return drill_record_finish(d, teardown_ok);
}

int
drill_run(struct store *st, const char *store_dir, const struct drill_opts *o,
	  struct report *r)
{
	struct drill d = { .o = o, .st = st, .r = r, .failover = o->mode == DRILL_MODE_FAILOVER };
	char *root = NULL;
	int ret = -1, started;

	drill_record_begin(&d);
	if (!(root = realpath(store_dir, NULL))) {
		log_error("store %s: %m", store_dir);
		goto out;
	}
	d.root = root;
	started = run_start(&d);
	if (started == 0) {
		if (run_prepare(&d) == 0)
			run_boot(&d);
		ret = run_finish(&d);
		goto out;
	}
	/* nothing was created: no report file, the error is in the log */
	if (started == RUN_EARLY && !r->error)
		r->error = strdup("cannot read the recovery point");
	r->duration_s = drill_elapsed(&d);
out:
	drill_clear(&d);
	free(root);
	return ret;
}
