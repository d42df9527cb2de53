/* `nestor drill`: boot the VMs of a recovery point on qcow2 overlays in an
 * isolated libvirt network, verify them, measure RPO/RTO, tear down. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/virt-dl.h"
#include "failover/checks.h"
#include "failover/console.h"
#include "failover/domxml.h"
#include "failover/drill.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"
#include "failover/pointmeta.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

#define KVM_PROBE_S 20
#define DRILL_MAX_VMS 64
#define META_MAX_DISKS 256

/* One VM of the drill: its source definition and what we made for it. */
struct dvm {
	const char *xml;          /* borrowed from the metadata JSON */
	size_t xml_len;
	char *name;
	char *domain_name;
	char *overlays[64];       /* per domxml disk; NULL = left out; "rbd:POOL/IMAGE"
				   * = an RBD clone (ceph store) */
	size_t noverlays;
	char *nic_src[64];        /* per NIC: source network/bridge or NULL */
	char *nets[64];           /* per NIC: network it joins here */
	size_t nnics;
	char *sock;
	char *log;
	virDomainPtr dom;
	bool defined;             /* failover: persistent domain */
};

struct drill {
	const struct drill_opts *o;
	struct store *st;
	const char *rbd_conf;     /* ceph store: ceph.conf for the clones (borrowed) */
	struct report *r;
	json_t *meta;
	json_t *disks;            /* meta "disks" */
	struct dvm *vms;
	size_t nvms;
	bool kvm;
	bool failover;
	virConnectPtr conn;
	virNetworkPtr net;
	bool net_created;         /* failover: we defined the isolated network */
	bool net_needed;          /* some NIC joins the isolated network */
	size_t order[DRILL_MAX_VMS];
	struct timespec t0;
	const char *root;         /* the store's real path (borrowed) */
	bool prepared;            /* every VM prepared */
	bool marked;              /* failover: we wrote the marker */
};

static volatile sig_atomic_t drill_stop;

void
drill_on_signal(int sig)
{
	(void)sig;
	drill_stop = 1;
}

static const char *
virt_msg(void)
{
	const char *m = sym_virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

static double
elapsed(const struct drill *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - d->t0.tv_sec) + (now.tv_nsec - d->t0.tv_nsec) / 1e9;
}

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0) {
		log_error("out of memory");
		return NULL;
	}
	return s;
}

/* Record the first failure of a VM (the report keeps one reason per VM). */
static void
vm_fail(struct report_vm *v, const char *why)
{
	v->pass = false;
	if (!v->error)
		v->error = strdup(why);
}

/* What VM i boots for its k-th disk (point disk `disk`): a copy-on-write
 * clone made by the store (a qcow2 overlay in the work dir, or an RBD
 * clone), so the point itself is never written. */
static int
clone_disk(struct drill *d, size_t i, size_t k, const char *disk, const char *ctx)
{
	struct dvm *v = &d->vms[i];
	char *file = fmt("%s/%s.%s.qcow2", d->r->workdir, v->name, disk);
	char *image = fmt("%s-%s-%zu-%zu", d->failover ? "failover" : "drill", d->r->id, i, k);
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
			d->r->point = pts[i].id;
			d->r->point_time_ns = pts[i].time_ns;
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

static char *
ctx_of(const struct drill *d, size_t i)
{
	return fmt("group %s point %" PRIu64 " vm #%zu", d->o->group, d->r->point, i);
}

/* Overlays, console paths and names for VM i; the XML itself is made at
 * start (it depends on the accelerator). */
static int
prepare_vm(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];
	struct domxml *x = NULL;
	char *ctx = ctx_of(d, i);
	const char *names[64] = { 0 };
	int ret = -1;

	if (!ctx || !(x = domxml_parse(v->xml, v->xml_len, ctx)))
		goto out;
	for (size_t k = 0; k < i; k++) {
		if (d->vms[k].name && !strcmp(d->vms[k].name, domxml_name(x))) {
			log_error("%s: vm %s is defined twice in the point", ctx, domxml_name(x));
			goto out;
		}
	}
	if (!(v->name = strdup(domxml_name(x))))
		goto out;
	if (!d->failover) {
		v->domain_name = fmt("%s-drill-%s", v->name, d->r->id);
	} else {
		/* the VM keeps its name unless this host already has a domain
		 * of that name (e.g. the source itself in a lab) */
		virDomainPtr other = sym_virDomainLookupByName(d->conn, v->name);

		if (other) {
			sym_virDomainFree(other);
			v->domain_name = fmt("%s-failover-%s", v->name, d->r->id);
			log_warn("%s: a domain %s exists already: the failed-over VM is %s",
				 ctx, v->name, v->domain_name);
		} else {
			v->domain_name = strdup(v->name);
		}
	}
	if (!v->domain_name ||
	    !(v->log = fmt("%s/%s.console.log", d->r->workdir, v->name)) ||
	    !(rv->name = strdup(v->name)) || !(rv->domain = strdup(v->domain_name)) ||
	    !(rv->console_log = strdup(v->log)))
		goto out;
	rv->started_s = rv->verified_s = -1;
	rv->tcp_ok = rv->agent_ok = rv->script_rc = -1;
	rv->pass = true;
	v->sock = fmt("%s/%s.sock", d->r->workdir, v->name);
	if (!v->sock)
		goto out;
	if (strlen(v->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		/* deep store paths: the socket lives in a short private dir */
		char tmpl[] = "/tmp/nestor-drill-XXXXXX";

		free(v->sock);
		v->sock = NULL;
		if (!mkdtemp(tmpl)) {
			log_error("%s: mkdtemp %s: %m", ctx, tmpl);
			goto out;
		}
		if (!(v->sock = fmt("%s/%s.sock", tmpl, v->name)))
			goto out;
	}
	if (domxml_ndisks(x) > sizeof(v->overlays) / sizeof(v->overlays[0]) ||
	    domxml_nnics(x) > sizeof(v->nets) / sizeof(v->nets[0])) {
		log_error("%s: vm %s: too many disks or interfaces", ctx, v->name);
		goto out;
	}
	if (pointmeta_map_disks(d->meta, i, x, names, ctx) < 0)
		goto out;
	for (size_t k = 0; k < domxml_nnics(x); k++) {
		const char *src = domxml_nic_source(x, k);

		v->nnics = k + 1;
		if (src && !(v->nic_src[k] = strdup(src)))
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
		vm_fail(rv, "preparation failed (overlays or domain XML)");
	free(ctx);
	domxml_free(x);
	return ret;
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
	/* kept beside the console log: what exactly was booted */
	if (xml && (path = fmt("%s/%s.xml", d->r->workdir, v->name)) != NULL)
		(void)file_write_atomic(path, xml, strlen(xml), 0644);
	free(path);
	free(ctx);
	domxml_free(x);
	return xml;
}

/* Network of each NIC. A drill: always the isolated network. A failover:
 * --network-map SRC=DST first, else the source's network if this host has
 * one of that name, else the failover's isolated network. */
static int
map_networks(struct drill *d)
{
	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->nnics; k++) {
			const char *src = v->nic_src[k], *dst = NULL;
			virNetworkPtr n;

			if (d->failover && src)
				dst = drill_network_map_lookup(d->o->network_map, src);
			if (d->failover && src && !dst &&
			    (n = sym_virNetworkLookupByName(d->conn, src)) != NULL) {
				sym_virNetworkFree(n);
				dst = src;
			}
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
				 d->failover ? "failover" : "drill", d->r->id, v->name, k,
				 v->nic_src[k] ? v->nic_src[k] : "-",
				 v->nets[k] ? v->nets[k] : d->r->network);
	}
	return 0;
}

static int
create_network(struct drill *d)
{
	uint32_t rnd = 0;
	char *xml = NULL;
	int ret = -1;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)wall_ns();
	if (d->failover) {
		/* one per group, persistent: the failed-over VMs outlive us */
		snprintf(d->r->network, sizeof(d->r->network), "nestor-failover-%s",
			 d->o->group);
		d->net = sym_virNetworkLookupByName(d->conn, d->r->network);
		if (d->net) {
			if (!sym_virNetworkIsActive(d->net) && sym_virNetworkCreate(d->net) < 0) {
				log_error("failover %s: cannot start network %s: %s", d->r->id,
					  d->r->network, virt_msg());
				goto out;
			}
			log_info("failover %s: isolated network %s exists, reused", d->r->id,
				 d->r->network);
			ret = 0;
			goto out;
		}
	} else {
		snprintf(d->r->network, sizeof(d->r->network), "nestor-drill-%s", d->r->id);
	}
	/* no <forward> and no <ip>: a bridge nothing else is attached to, no
	 * DHCP, no route out; IFNAMSIZ allows 15 characters */
	if (d->o->tcp_port || d->o->script) {
		/* the checks reach the guests from this host: the host gets an
		 * address on the bridge and hands out DHCP leases (dnsmasq); still
		 * no <forward>, so nothing routes out of the network */
		unsigned net = 64 + (rnd >> 8) % 128, sub = rnd & 0xff;

		xml = fmt("<network><name>%s</name><bridge name='%s%08x' stp='off'/>"
			  "<ip address='10.%u.%u.1' netmask='255.255.255.0'><dhcp>"
			  "<range start='10.%u.%u.10' end='10.%u.%u.250'/></dhcp></ip></network>",
			  d->r->network, d->failover ? "nfo" : "ndr", rnd, net, sub, net, sub,
			  net, sub);
	} else {
		xml = fmt("<network><name>%s</name><bridge name='%s%08x' stp='off'/></network>",
			  d->r->network, d->failover ? "nfo" : "ndr", rnd);
	}
	if (!xml)
		goto out;
	if (d->failover) {
		d->net = sym_virNetworkDefineXML(d->conn, xml);
		if (d->net && sym_virNetworkCreate(d->net) < 0) {
			(void)sym_virNetworkUndefine(d->net);
			sym_virNetworkFree(d->net);
			d->net = NULL;
		}
		d->net_created = d->net != NULL;
	} else {
		d->net = sym_virNetworkCreateXML(d->conn, xml);
	}
	if (!d->net) {
		log_error("%s %s: cannot create the isolated network %s: %s",
			  d->failover ? "failover" : "drill", d->r->id, d->r->network,
			  virt_msg());
		goto out;
	}
	log_info("%s %s: isolated network %s (bridge %s%08x)", d->failover ? "failover" : "drill",
		 d->r->id, d->r->network, d->failover ? "nfo" : "ndr", rnd);
	ret = 0;
out:
	free(xml);
	return ret;
}

static bool
dom_running(virDomainPtr dom)
{
	int state = 0, reason = 0;

	return sym_virDomainGetState(dom, &state, &reason, 0) == 0 &&
	       (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED);
}

/* 1 marker seen, 0 timeout/stopped (reason in *why), -1 error. */
static int
wait_marker(struct drill *d, size_t i, unsigned timeout_s, const char **why)
{
	struct dvm *v = &d->vms[i];
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned n = 0;; n++) {
		int r = console_has(v->log, 0, d->o->marker);

		if (r != 0)
			return r;
		if (drill_stop) {
			*why = "interrupted";
			return 0;
		}
		if (n % 10 == 9 && !dom_running(v->dom)) {
			*why = "the domain stopped before the boot marker";
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)timeout_s) {
			*why = "no boot marker on the console within the timeout";
			return 0;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void
destroy_dom(struct dvm *v)
{
	if (!v->dom)
		return;
	/* libvirt waits for QEMU to exit; a transient domain is gone then */
	if (sym_virDomainIsActive(v->dom) == 1 && sym_virDomainDestroy(v->dom) < 0 &&
	    dom_running(v->dom))
		log_error("cannot destroy domain %s: %s", v->domain_name, virt_msg());
	if (v->defined && sym_virDomainUndefine(v->dom) < 0)
		log_error("cannot undefine domain %s: %s", v->domain_name, virt_msg());
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
			snprintf(err, errlen, "%s", virt_msg());
		return dom;
	}
	dom = sym_virDomainDefineXML(d->conn, xml);
	if (!dom) {
		snprintf(err, errlen, "%s", virt_msg());
		return NULL;
	}
	v->defined = true;
	if (sym_virDomainCreate(dom) < 0) {
		snprintf(err, errlen, "%s", virt_msg());
		(void)sym_virDomainUndefine(dom);
		sym_virDomainFree(dom);
		v->defined = false;
		return NULL;
	}
	return dom;
}

/* Start VM i and wait for its marker. Under --accel auto the first VM also
 * proves KVM: no marker within KVM_PROBE_S -> fall back to TCG for all. A
 * KVM domain whose host-model CPU cannot start is retried with the named
 * baseline model (--cpu-baseline). */
static void
boot_vm(struct drill *d, size_t i, bool probing)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];
	const char *why = NULL;
	char *xml = vm_xml(d, i, false);
	char err[512] = "";
	int r;

	if (!xml) {
		vm_fail(rv, "cannot generate the domain XML");
		return;
	}
	unlink(v->sock);
	v->dom = start_dom(d, v, xml, err, sizeof(err));
	free(xml);
	if (!v->dom && d->kvm && d->o->cpu_baseline) {
		log_warn("%s %s: vm %s: host-model CPU did not start (%s); retrying with "
			 "model %s", d->failover ? "failover" : "drill", d->r->id, v->name,
			 err, d->o->cpu_baseline);
		if ((xml = vm_xml(d, i, true)) != NULL)
			v->dom = start_dom(d, v, xml, err, sizeof(err));
		free(xml);
	}
	if (!v->dom) {
		log_error("%s %s: vm %s: cannot start domain %s: %s",
			  d->failover ? "failover" : "drill", d->r->id, v->name,
			  v->domain_name, err);
		vm_fail(rv, err);
		return;
	}
	rv->started_s = elapsed(d);
	log_info("%s %s: vm %s: domain %s started (%s) after %.1f s",
		 d->failover ? "failover" : "drill", d->r->id, v->name, v->domain_name,
		 d->kvm ? "kvm" : "tcg", rv->started_s);
	r = wait_marker(d, i, probing ? KVM_PROBE_S : d->o->timeout_s, &why);
	if (r == 0 && probing && !drill_stop) {
		log_warn("%s %s: vm %s: no marker under KVM within %d s: KVM is not usable "
			 "here, falling back to TCG", d->failover ? "failover" : "drill",
			 d->r->id, v->name, KVM_PROBE_S);
		destroy_dom(v);
		d->kvm = false;
		boot_vm(d, i, false);
		return;
	}
	if (r == 1) {
		rv->marker_seen = true;
		rv->verified_s = elapsed(d);
		log_info("%s %s: vm %s: boot marker '%s' after %.1f s",
			 d->failover ? "failover" : "drill", d->r->id, v->name, d->o->marker,
			 rv->verified_s);
		return;
	}
	log_error("%s %s: vm %s: %s (%s)", d->failover ? "failover" : "drill", d->r->id,
		  v->name, why ? why : "cannot read the console log", v->log);
	vm_fail(rv, why ? why : "cannot read the console log");
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
		vm_fail(rv, "check command got no answer");
		return;
	}
	log_info("%s %s: vm %s: check command exited %d", d->failover ? "failover" : "drill",
		 d->r->id, v->name, rv->check_rc);
	if (rv->check_rc != 0)
		vm_fail(rv, "check command failed");
}

/* The verifications after the boot marker, each recorded in the report. */
static void
check_vm(struct drill *d, size_t i)
{
	if (d->o->check_cmd)
		check_cmd(d, i);
	checks_run(d->vms[i].dom, d->vms[i].name, d->o, &d->r->vms[i]);
}

static bool
kvm_device_usable(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

/* Destroy what the drill created; every step is attempted. 0 / -1. */
static int
teardown(struct drill *d)
{
	int ret = 0;

	for (size_t i = 0; i < d->nvms; i++)
		destroy_dom(&d->vms[i]);
	if (d->conn) {
		for (size_t i = 0; i < d->nvms; i++) {
			virDomainPtr left = d->vms[i].domain_name
				? sym_virDomainLookupByName(d->conn, d->vms[i].domain_name) : NULL;
			if (left) {
				log_error("drill %s: domain %s still exists after teardown",
					  d->r->id, d->vms[i].domain_name);
				sym_virDomainFree(left);
				ret = -1;
			}
		}
	}
	/* a failover's network is ours only if it created it */
	if (d->net && (!d->failover || d->net_created)) {
		if (sym_virNetworkDestroy(d->net) < 0 ||
		    (d->failover && sym_virNetworkUndefine(d->net) < 0)) {
			log_error("drill %s: cannot destroy network %s: %s", d->r->id,
				  d->r->network, virt_msg());
			ret = -1;
		}
	}
	if (d->net) {
		sym_virNetworkFree(d->net);
		d->net = NULL;
	}
	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->noverlays; k++)
			if (v->overlays[k] && store_clone_remove(d->st, v->overlays[k]) < 0)
				ret = -1;
		if (v->sock && unlink(v->sock) < 0 && errno != ENOENT)
			log_warn("drill %s: cannot remove %s: %m", d->r->id, v->sock);
		if (v->sock && !strncmp(v->sock, "/tmp/nestor-drill-", 18)) {
			char *dir = strdup(v->sock);
			char *slash = dir ? strrchr(dir, '/') : NULL;
			if (slash) {
				*slash = '\0';
				(void)rmdir(dir);
			}
			free(dir);
		}
	}
	return ret;
}

static void
drill_clear(struct drill *d)
{
	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->noverlays; k++)
			free(v->overlays[k]);
		for (size_t k = 0; k < v->nnics; k++) {
			free(v->nic_src[k]);
			free(v->nets[k]);
		}
		if (v->dom)
			sym_virDomainFree(v->dom);
		free(v->name);
		free(v->domain_name);
		free(v->sock);
		free(v->log);
	}
	free(d->vms);
	json_decref(d->meta);
	if (d->conn)
		sym_virConnectClose(d->conn);
}

static int
make_id(struct report *r)
{
	time_t t = (time_t)(r->started_ns / 1000000000ull);
	uint16_t rnd = 0;
	struct tm tm;
	char ts[20];

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint16_t)getpid();
	gmtime_r(&t, &tm);
	if (strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm) == 0)
		ts[0] = '\0';
	snprintf(r->id, sizeof(r->id), "%.15s-%04x", ts, (unsigned)rnd);
	return 0;
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

static int
write_marker(struct drill *d, const char *root)
{
	json_t *vms = json_array(), *m;
	char when[32];
	time_t t = (time_t)(d->r->started_ns / 1000000000ull);
	struct tm tm;
	int ret;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; vms && i < d->nvms; i++)
		json_array_append_new(vms, json_pack("{s:s, s:s}", "vm", d->vms[i].name,
						     "domain", d->vms[i].domain_name));
	m = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:b, s:b, s:s, s:o}",
		      "version", 1, "group", d->o->group, "failover", d->r->id,
		      "point", (json_int_t)d->r->point,
		      "point_time_ns", (json_int_t)d->r->point_time_ns, "time", when,
		      "time_ns", (json_int_t)d->r->started_ns, "uri", d->o->uri,
		      "network", d->r->network, "network_created", d->net_created,
		      "planned", d->o->planned, "workdir", d->r->workdir, "vms", vms);
	if (!m) {
		log_error("failover %s: cannot encode the marker", d->r->id);
		return -1;
	}
	ret = failover_marker_save(root, d->o->group, m);
	json_decref(m);
	return ret;
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

/* drill_run, step 0: the report's identity and options. */
static void
run_init(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct report *r = d->r;

	clock_gettime(CLOCK_MONOTONIC, &d->t0);
	memset(r, 0, sizeof(*r));
	r->started_ns = wall_ns();
	r->uri = o->uri;
	r->marker = o->marker;
	r->check_cmd = o->check_cmd;
	r->kept = o->keep || d->failover;
	r->failover = d->failover;
	r->tcp_port = o->tcp_port;
	r->guest_agent = o->guest_agent;
	r->script = o->script;
	snprintf(r->group, sizeof(r->group), "%s", o->group);
	make_id(r);
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
	r->rpo_s = r->started_ns > r->point_time_ns
		? (double)(r->started_ns - r->point_time_ns) / 1e9 : 0;
	if (!(path = groupstate_run_dir(d->root, o->group, d->failover, r->id)))
		return RUN_EARLY;
	snprintf(r->workdir, sizeof(r->workdir), "%s", path);
	free(path);
	if (mkdir_p(r->workdir, 0755) < 0)
		return RUN_EARLY;
	/* "in use" mark honoured by retention (docs/retention.md): the point and
	 * every older one stay until teardown removes it. */
	if (!d->failover && groupstate_pin(d->root, o->group, r->id, r->point) < 0) {
		rmdir(r->workdir);
		return RUN_EARLY;
	}
	log_info("%s %s: group %s point %" PRIu64 " (RPO %.1f s), %zu VM(s), work dir %s",
		 d->failover ? "failover" : "drill", r->id, o->group, r->point, r->rpo_s,
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
			  d->failover ? "failover" : "drill", r->id, d->o->uri, virt_msg());
		r->error = strdup("cannot connect to libvirt");
		return -1;
	}
	d->prepared = true;
	for (size_t i = 0; i < d->nvms; i++)
		if (prepare_vm(d, i) < 0)
			d->prepared = false;
	if (!d->prepared || boot_order(d) < 0 || map_networks(d) < 0) {
		d->prepared = false;
		r->error = strdup("preparation failed: see the log");
		return -1;
	}
	if ((!d->failover || d->net_needed) && create_network(d) < 0) {
		r->error = strdup("cannot create the isolated network");
		return -1;
	}
	if (d->failover) {
		/* before anything boots: from now on the receiver refuses points */
		if (write_marker(d, d->root) < 0) {
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
	const char *what = d->failover ? "failover" : "drill";

	d->kvm = o->accel == DRILL_ACCEL_KVM ||
		(o->accel == DRILL_ACCEL_AUTO && kvm_device_usable());
	for (size_t n = 0; n < d->nvms && !drill_stop; n++) {
		size_t i = d->order[n];

		if (n > 0 && o->boot_delay_s > 0) {
			log_info("%s %s: waiting %u s before booting %s", what, r->id,
				 o->boot_delay_s, d->vms[i].name);
			for (unsigned k = 0; k < o->boot_delay_s * 10 && !drill_stop; k++) {
				struct timespec ts = { 0, 100 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
		}
		boot_vm(d, i, n == 0 && d->kvm && o->accel == DRILL_ACCEL_AUTO);
	}
	r->kvm = d->kvm;
	for (size_t n = 0; n < d->nvms && !drill_stop; n++)
		if (r->vms[d->order[n]].marker_seen)
			check_vm(d, d->order[n]);
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
	char *path;

	for (size_t i = 0; i < d->nvms; i++)
		any_started = any_started || d->vms[i].dom;
	if (d->failover && !any_started) {
		/* nothing runs: undo everything, the group stays protected */
		teardown_ok = teardown(d) == 0;
		r->kept = false;
		if (d->marked && failover_marker_remove(d->root, o->group) == 0)
			log_info("failover %s: no VM started: marker removed, group %s still "
				 "accepts points", r->id, o->group);
	} else if (!o->keep && !d->failover) {
		teardown_ok = teardown(d) == 0;
		if (teardown_ok)
			groupstate_unpin(d->root, o->group, r->id, r->point);
		log_info("drill %s: teardown %s", r->id, teardown_ok ? "done" : "FAILED");
	} else if (d->failover) {
		log_info("failover %s: VMs stay up; group %s is failed over (release with "
			 "'nestor failover --release %s')", r->id, o->group, o->group);
	} else {
		log_info("drill %s: --keep: domains, network %s and overlays left in place",
			 r->id, r->network);
	}
	r->teardown_ok = teardown_ok;
	r->pass = d->prepared && !r->error && teardown_ok && d->nvms > 0;
	for (size_t i = 0; i < d->nvms; i++) {
		if (!r->vms[i].marker_seen)
			vm_fail(&r->vms[i], "not booted: the run failed before");
		if (!r->vms[i].pass)
			r->pass = false;
	}
	r->duration_s = elapsed(d);
	path = groupstate_report_path(d->root, o->group, d->failover, r->id);
	if (path && report_save(r, path) == 0)
		log_info("%s %s: report saved as %s", d->failover ? "failover" : "drill", r->id,
			 path);
	free(path);
	return r->pass ? 0 : -1;
}

int
drill_run(struct store *st, const char *store_dir, const struct drill_opts *o,
	  struct report *r)
{
	struct drill d = { .o = o, .st = st, .r = r, .failover = o->mode == DRILL_MODE_FAILOVER };
	char *root = NULL;
	int ret = -1, started;

	run_init(&d);
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
	r->duration_s = elapsed(&d);
out:
	drill_clear(&d);
	free(root);
	return ret;
}

bool
drill_network_map_valid(const char *map)
{
	const char *p = map;

	while (*p) {
		size_t a = strcspn(p, "=,"), b;

		if (p[a] != '=' || !name_valid(p, a))
			return false;
		p += a + 1;
		b = strcspn(p, ",");
		if (!name_valid(p, b))
			return false;
		p += b;
		if (*p == ',' && !*++p)
			return false;
	}
	return map[0] != '\0';
}

const char *
drill_network_map_lookup(const char *map, const char *src)
{
	static char dst[NAME_MAX_LEN + 1];
	const char *p = map;

	while (p && *p) {
		size_t a = strcspn(p, "=,"), b;

		if (p[a] != '=')
			return NULL;
		b = strcspn(p + a + 1, ",");
		if (strlen(src) == a && !strncmp(p, src, a) && b <= NAME_MAX_LEN) {
			memcpy(dst, p + a + 1, b);
			dst[b] = '\0';
			return dst;
		}
		p += a + 1 + b;
		p += *p == ',';
	}
	return NULL;
}
