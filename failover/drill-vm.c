/* The VMs of a drill or failover (failover/drill-vm.h): clones of their
 * disks, their domain XML and networks, boot with the KVM probe, the boot
 * marker, the checks, and their removal. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/checks.h"
#include "failover/console.h"
#include "failover/domxml-size.h"
#include "failover/domxml.h"
#include "failover/drill-drnet.h"
#include "failover/drill-lan-run.h"
#include "failover/drill-run.h"
#include "failover/drill-vm.h"
#include "failover/pointmeta.h"
#include "replicator/receiver/store.h"

#define KVM_PROBE_S 20

/* What VM i boots for its k-th disk (point disk `disk`): a copy-on-write
 * clone made by the store (a qcow2 overlay in the work dir, or an RBD
 * clone), so the point itself is never written. */
static int
clone_disk(struct drill *d, size_t i, size_t k, const char *disk, const char *ctx)
{
	struct dvm *v = &d->vms[i];
	char *file = strfmt("%s/%s.%s.qcow2", d->r->workdir, v->name, disk);
	char *image = strfmt("%s-%s-%zu-%zu", drill_what(d), d->r->id, i, k);
	struct store_clone_names names = { .file = file, .image = image };
	int rc = -1;

	if (file && image &&
	    store_point_clone(d->st, d->o->group, d->r->point, disk, &names, &v->overlays[k]) == 0) {
		d->rbd_conf = store_clone_conf(d->st);
		log_info("%s: vm %s: %s boots %s", ctx, v->name, disk, v->overlays[k]);
		rc = 0;
	}
	free(file);
	free(image);
	return rc;
}

static char *
ctx_of(const struct drill *d, size_t i)
{
	return strfmt("group %s point %" PRIu64 " vm #%zu", d->o->group, d->r->point, i);
}

/* The domain VM i boots as: a drill's "NAME-drill-ID"; a failover keeps
 * the VM's name unless this host already has a domain of that name (e.g.
 * the source itself in a lab). */
static char *
vm_domain_name(struct drill *d, struct dvm *v, const char *ctx)
{
	virDomainPtr other;
	char *name;

	if (!d->failover)
		return strfmt("%s-drill-%s", v->name, d->r->id);
	other = sym_virDomainLookupByName(d->conn, v->name);
	if (!other)
		return strdup(v->name);
	sym_virDomainFree(other);
	name = strfmt("%s-failover-%s", v->name, d->r->id);
	if (name)
		log_warn("%s: a domain %s exists already: the failed-over VM is %s", ctx,
			 v->name, name);
	return name;
}

/* The console socket of v in the work dir, or where deep store paths would
 * overflow sun_path, in a short private dir. 0 / -1. */
static int
vm_sock(struct drill *d, struct dvm *v, const char *ctx)
{
	char tmpl[] = "/tmp/nestor-drill-XXXXXX";

	v->sock = strfmt("%s/%s.sock", d->r->workdir, v->name);
	if (!v->sock)
		return -1;
	if (strlen(v->sock) < sizeof(((struct sockaddr_un *)0)->sun_path))
		return 0;
	free(v->sock);
	v->sock = NULL;
	if (!mkdtemp(tmpl)) {
		log_error("%s: mkdtemp %s: %m", ctx, tmpl);
		return -1;
	}
	v->sock = strfmt("%s/%s.sock", tmpl, v->name);
	return v->sock ? 0 : -1;
}

/* Names of VM i (refused when another VM has it), its domain, console log
 * and socket, and its row of the report. 0 / -1. */
static int
vm_names(struct drill *d, size_t i, const struct domxml *x, const char *ctx)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];

	for (size_t k = 0; k < i; k++) {
		if (d->vms[k].name && !strcmp(d->vms[k].name, domxml_name(x))) {
			log_error("%s: vm %s is defined twice in the point", ctx, domxml_name(x));
			return -1;
		}
	}
	if (!(v->name = strdup(domxml_name(x))) ||
	    !(v->domain_name = vm_domain_name(d, v, ctx)) ||
	    !(v->log = strfmt("%s/%s.console.log", d->r->workdir, v->name)) ||
	    !(rv->name = strdup(v->name)) || !(rv->domain = strdup(v->domain_name)) ||
	    !(rv->console_log = strdup(v->log)))
		return -1;
	rv->started_s = rv->verified_s = -1;
	rv->tcp_ok = rv->agent_ok = rv->script_rc = -1;
	rv->pass = true;
	return vm_sock(d, v, ctx);
}

/* Append line to rv's XML warnings. 0 / -1 (out of memory). */
static int
add_xml_warning(struct report_vm *rv, const char *line)
{
	char **w = reallocarray(rv->xml_warnings, rv->nxml_warnings + 1, sizeof(*w));

	if (!w)
		return -1;
	rv->xml_warnings = w;
	if (!(w[rv->nxml_warnings] = strdup(line)))
		return -1;
	rv->nxml_warnings++;
	return 0;
}

/* Is VM i's guest within the drill's caps (issue 12, section 2)? A drill
 * runs unattended on a definition from the network: over a cap it refuses
 * the VM, why in why[len] (clamping memory or vCPUs would boot another
 * machine than the source's, failing its checks in confusing ways). A
 * failover is run by an operator for whom the VM is production: it boots,
 * and the report says the drill would not. 0 / -1. */
static int
vm_fits(struct drill *d, size_t i, const struct domxml *x, const char *ctx, char *why,
	size_t len)
{
	struct domxml_size s;
	char line[320];

	domxml_guest_size(x, &s);
	if (domxml_size_check(domxml_name(x), &s, d->mem_planned, &d->caps, why, len) == 0) {
		d->mem_planned += s.memory;
		return 0;
	}
	if (!d->failover) {
		log_error("%s: %s", ctx, why);
		return -1;
	}
	log_warn("%s: %s: a drill refuses it, a failover boots it", ctx, why);
	snprintf(line, sizeof(line), "/domain: kept (%s: a drill refuses it)", why);
	if (add_xml_warning(&d->r->vms[i], line) < 0) {
		log_error("%s: out of memory", ctx);
		return -1;
	}
	return 0;
}

/* Overlays, console paths and names for VM i; the XML itself is made at
 * start (it depends on the accelerator). */
int
drill_vm_prepare(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	struct domxml *x = NULL;
	char *ctx = ctx_of(d, i);
	const char *names[DRILL_VM_MAX_DEVS] = { 0 };
	const char *why = "preparation failed (overlays or domain XML)";
	char too_big[256];
	int ret = -1;

	if (ctx && !(x = domxml_parse(v->xml, v->xml_len, ctx)))
		why = "the domain XML is refused (malformed, DOCTYPE or too large: see the log)";
	if (!x || vm_names(d, i, x, ctx) < 0)
		goto out;
	if (vm_fits(d, i, x, ctx, too_big, sizeof(too_big)) < 0) {
		why = d->failover ? why : too_big;
		goto out;
	}
	if (domxml_ndisks(x) > DRILL_VM_MAX_DEVS || domxml_nnics(x) > DRILL_VM_MAX_DEVS) {
		log_error("%s: vm %s: too many disks or interfaces", ctx, v->name);
		goto out;
	}
	if (pointmeta_map_disks(d->meta, i, x, names, ctx) < 0)
		goto out;
	for (size_t k = 0; k < domxml_ndisks(x); k++)
		if (report_vm_add_disk(&d->r->vms[i], domxml_disk_target(x, k), names[k]) < 0)
			goto out;
	for (size_t k = 0; k < domxml_nnics(x); k++) {
		const char *src = domxml_nic_source(x, k), *mac = domxml_nic_mac(x, k);

		v->nnics = k + 1;
		if ((src && !(v->nic_src[k] = strdup(src))) || (mac && !(v->nic_mac[k] = strdup(mac))))
			goto out;
	}
	for (size_t k = 0; k < domxml_ndisks(x); k++) {
		const char *disk = names[k];

		v->noverlays = k + 1;
		if (disk && clone_disk(d, i, k, disk, ctx) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		drill_vm_fail(&d->r->vms[i], why);
	free(ctx);
	domxml_free(x);
	return ret;
}

/* What the rewrite of VM i's XML dropped, logged and into its report row
 * once (the KVM probe's fallback and the baseline CPU retry rewrite the
 * same XML again). */
static int
keep_xml_warnings(struct dvm *v, struct report_vm *rv, const struct domxml *x,
		  const char *ctx)
{
	if (v->xml_warned)
		return 0;
	v->xml_warned = true;
	for (size_t k = 0; k < domxml_nwarnings(x); k++) {
		const char *w = domxml_warning(x, k);

		log_warn("%s: vm %s: domain XML: %s", ctx, domxml_name(x), w);
		if (add_xml_warning(rv, w) < 0)
			return -1;
	}
	return 0;
}

static char *
vm_xml(struct drill *d, size_t i, bool baseline)
{
	struct dvm *v = &d->vms[i];
	char *ctx = ctx_of(d, i), *xml = NULL, *path = NULL;
	struct domxml *x = ctx ? domxml_parse(v->xml, v->xml_len, ctx) : NULL;
	struct domxml_drill o = {
		.name = v->domain_name, .overlays = (const char *const *)v->overlays,
		.network = d->r->network, .networks = (const char *const *)v->nets,
		.console_sock = v->sock, .console_log = v->log, .kvm = d->kvm,
		.keep_uuid = d->failover, .guest_agent = d->o->guest_agent,
		.rbd_conf = d->rbd_conf,
		.cpu_model = baseline ? d->o->cpu_baseline : NULL,
	};

	if (x)
		xml = domxml_drill_xml(x, &o);
	if (xml && keep_xml_warnings(v, &d->r->vms[i], x, ctx) < 0) {
		log_error("%s: out of memory", ctx);
		free(xml);
		xml = NULL;
	}
	/* kept beside the console log: what exactly was booted */
	if (xml && (path = strfmt("%s/%s.xml", d->r->workdir, v->name)) != NULL)
		(void)file_write_atomic(path, xml, strlen(xml), 0644);
	free(path);
	free(ctx);
	domxml_free(x);
	return xml;
}

/* Network of each NIC. A drill: the isolated copy of the [network] listing
 * the NIC's source (drill-lan-run.h), else the isolated network. A failover:
 * --network-map SRC=DST first, else the source's network if this host has
 * one of that name, else the failover's isolated network. */
int
drill_vm_map_networks(struct drill *d)
{
	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->nnics; k++) {
			const char *src = v->nic_src[k], *dst = NULL;
			virNetworkPtr n;

			if (d->failover && src)
				dst = drill_network_map_lookup(d->o->network_map, src);
			if (d->failover && src && !dst)
				dst = drill_drnet_map(d, src);
			if (d->failover && src && !dst &&
			    (n = sym_virNetworkLookupByName(d->conn, src)) != NULL) {
				sym_virNetworkFree(n);
				dst = src;
			}
			/* a drill: the isolated copy of the source's [network] */
			if (!d->failover && src)
				dst = drill_lans_map(d, src);
			if (!dst) {
				d->net_needed = true;
				continue;
			}
			if (!(v->nets[k] = strdup(dst))) {
				log_error("out of memory");
				return -1;
			}
		}
		for (size_t k = 0; k < v->nnics; k++)
			log_info("%s %s: vm %s: interface %zu (source %s) joins network %s",
				 drill_what(d), d->r->id, v->name, k,
				 v->nic_src[k] ? v->nic_src[k] : "-",
				 v->nets[k] ? v->nets[k] : d->r->network);
	}
	return 0;
}

static bool
dom_running(virDomainPtr dom)
{
	int state = 0, reason = 0;

	return sym_virDomainGetState(dom, &state, &reason, 0) == 0 &&
	       (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED);
}

/* console_wait's: an interrupted drill or a stopped domain ends it. */
static bool
vm_going(void *arg, const char **why)
{
	if (drill_stopped()) {
		*why = "interrupted";
		return false;
	}
	return checks_dom_going(arg, why);
}

/* 1 marker seen, 0 timeout/stopped (reason in *why), -1 error. */
static int
wait_marker(struct drill *d, size_t i, unsigned timeout_s, const char **why)
{
	struct dvm *v = &d->vms[i];
	struct checks_dom_wait w = { v->dom, 0 };

	return console_wait(v->log, 0, d->o->marker, timeout_s, vm_going, &w, why);
}

static void
destroy_dom(struct dvm *v)
{
	if (!v->dom)
		return;
	/* libvirt waits for QEMU to exit; a transient domain is gone then */
	if (sym_virDomainIsActive(v->dom) == 1 && sym_virDomainDestroy(v->dom) < 0 &&
	    dom_running(v->dom))
		log_error("cannot destroy domain %s: %s", v->domain_name, virt_dl_error());
	if (v->defined && sym_virDomainUndefine(v->dom) < 0)
		log_error("cannot undefine domain %s: %s", v->domain_name, virt_dl_error());
	v->defined = false;
	sym_virDomainFree(v->dom);
	v->dom = NULL;
}

/* A drill boots a transient domain; a failover defines a persistent one
 * (it must survive libvirtd and host restarts) and starts it. On failure
 * the libvirt message is copied to err (the undefine would replace it). */
static virDomainPtr
start_dom(struct drill *d, struct dvm *v, const char *xml, char *err, size_t errlen)
{
	virDomainPtr dom;

	if (!d->failover) {
		dom = sym_virDomainCreateXML(d->conn, xml, 0);
		if (!dom)
			snprintf(err, errlen, "%s", virt_dl_error());
		return dom;
	}
	dom = sym_virDomainDefineXML(d->conn, xml);
	if (!dom) {
		snprintf(err, errlen, "%s", virt_dl_error());
		return NULL;
	}
	v->defined = true;
	if (sym_virDomainCreate(dom) < 0) {
		snprintf(err, errlen, "%s", virt_dl_error());
		(void)sym_virDomainUndefine(dom);
		sym_virDomainFree(dom);
		v->defined = false;
		return NULL;
	}
	return dom;
}

/* Start VM i; a KVM domain whose host-model CPU cannot start is retried
 * with the baseline model (--cpu-baseline). 0 / -1 (logged, VM failed). */
static int
vm_start(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	char *xml = vm_xml(d, i, false);
	char err[512] = "";

	if (!xml) {
		drill_vm_fail(&d->r->vms[i], "cannot generate the domain XML");
		return -1;
	}
	unlink(v->sock);
	v->dom = start_dom(d, v, xml, err, sizeof(err));
	free(xml);
	if (!v->dom && d->kvm && d->o->cpu_baseline) {
		log_warn("%s %s: vm %s: host-model CPU did not start (%s); retrying with "
			 "model %s", drill_what(d), d->r->id, v->name, err, d->o->cpu_baseline);
		if ((xml = vm_xml(d, i, true)) != NULL)
			v->dom = start_dom(d, v, xml, err, sizeof(err));
		free(xml);
	}
	if (!v->dom) {
		log_error("%s %s: vm %s: cannot start domain %s: %s", drill_what(d), d->r->id,
			  v->name, v->domain_name, err);
		drill_vm_fail(&d->r->vms[i], err);
		return -1;
	}
	return 0;
}

/* Start VM i and wait for its marker. Under --accel auto the first VM also
 * proves KVM: no marker within KVM_PROBE_S -> fall back to TCG for all. */
void
drill_vm_boot(struct drill *d, size_t i, bool probing)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];
	const char *why = NULL;
	double t0 = drill_elapsed(d);
	int r;

	if (vm_start(d, i) < 0)
		return;
	rv->started_s = drill_elapsed(d);
	log_info("%s %s: vm %s: domain %s started (%s) after %.1f s",
		 drill_what(d), d->r->id, v->name, v->domain_name,
		 d->kvm ? "kvm" : "tcg", rv->started_s);
	r = wait_marker(d, i, probing ? KVM_PROBE_S : d->o->timeout_s, &why);
	if (r == 0 && probing && !drill_stopped()) {
		log_warn("%s %s: vm %s: no marker under KVM within %d s: KVM is not usable "
			 "here, falling back to TCG", drill_what(d),
			 d->r->id, v->name, KVM_PROBE_S);
		destroy_dom(v);
		d->kvm = false;
		d->r->accel_fallback_s = drill_elapsed(d) - t0;
		drill_vm_boot(d, i, false);
		return;
	}
	if (r == 1) {
		rv->marker_seen = true;
		rv->verified_s = drill_elapsed(d);
		log_info("%s %s: vm %s: boot marker '%s' after %.1f s",
			 drill_what(d), d->r->id, v->name, d->o->marker,
			 rv->verified_s);
		return;
	}
	log_error("%s %s: vm %s: %s (%s)", drill_what(d), d->r->id,
		  v->name, why ? why : "cannot read the console log", v->log);
	drill_vm_fail(rv, why ? why : "cannot read the console log");
	rv->console_tail = console_tail(v->log, 1500);
}

static void
check_cmd(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];

	rv->check_ran = true;
	if (console_exec(v->sock, d->o->check_cmd, (int)d->o->timeout_s * 1000,
			 &rv->check_output, &rv->check_rc) < 0) {
		drill_vm_fail(rv, "check command got no answer");
		return;
	}
	log_info("%s %s: vm %s: check command exited %d", drill_what(d),
		 d->r->id, v->name, rv->check_rc);
	if (rv->check_rc != 0)
		drill_vm_fail(rv, "check command failed");
}

/* The verifications after the boot marker, each recorded in the report. */
void
drill_vm_check(struct drill *d, size_t i)
{
	struct checks_lan lan;
	bool on_lan;

	if (d->o->check_cmd)
		check_cmd(d, i);
	on_lan = (d->o->tcp_port || d->o->script) && drill_lans_where(d, i, &lan);
	checks_run(d->vms[i].dom, d->vms[i].name, d->o, on_lan ? &lan : NULL, &d->r->vms[i]);
}

bool
drill_kvm_usable(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

int
drill_vm_destroy_all(struct drill *d)
{
	int ret = 0;

	for (size_t i = 0; i < d->nvms; i++)
		destroy_dom(&d->vms[i]);
	for (size_t i = 0; d->conn && i < d->nvms; i++) {
		virDomainPtr left = d->vms[i].domain_name
			? sym_virDomainLookupByName(d->conn, d->vms[i].domain_name) : NULL;

		if (left) {
			log_error("drill %s: domain %s still exists after teardown", d->r->id,
				  d->vms[i].domain_name);
			sym_virDomainFree(left);
			ret = -1;
		}
	}
	return ret;
}

/* The private dir vm_sock made for a socket, if it did. */
static void
vm_sock_rmdir(const char *sock)
{
	char *dir, *slash;

	if (strncmp(sock, "/tmp/nestor-drill-", 18))
		return;
	dir = strdup(sock);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		(void)rmdir(dir);
	}
	free(dir);
}

int
drill_vm_remove_files(struct drill *d)
{
	int ret = 0;

	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->noverlays; k++)
			if (v->overlays[k] && store_clone_remove(d->st, v->overlays[k]) < 0)
				ret = -1;
		if (!v->sock)
			continue;
		if (unlink(v->sock) < 0 && errno != ENOENT)
			log_warn("drill %s: cannot remove %s: %m", d->r->id, v->sock);
		vm_sock_rmdir(v->sock);
	}
	return ret;
}

void
drill_vm_clear(struct dvm *v)
{
	/* in the order of struct dvm */
	free(v->name);
	free(v->domain_name);
	for (size_t k = 0; k < v->noverlays; k++)
		free(v->overlays[k]);
	for (size_t k = 0; k < v->nnics; k++) {
		free(v->nic_src[k]);
		free(v->nic_mac[k]);
		free(v->nets[k]);
	}
	free(v->sock);
	free(v->log);
	if (v->dom)
		sym_virDomainFree(v->dom);
}
