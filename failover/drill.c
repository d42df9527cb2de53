/* `nestor drill`: boot the VMs of a recovery point on qcow2 overlays in an
 * isolated libvirt network, verify them, measure RPO/RTO, tear down. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "failover/console.h"
#include "failover/domxml.h"
#include "failover/drill.h"
#include "replicator/config.h"
#include "replicator/store.h"

extern char **environ;

#define DEFAULT_RECEIVER_CONF "/etc/nestor/receiver.conf"
#define DEFAULT_URI "qemu:///system"
#define DEFAULT_MARKER "NESTOR-BOOT-OK"
#define DEFAULT_TIMEOUT_S 120
#define KVM_PROBE_S 20
#define DRILL_MAX_VMS 64
#define META_MAX_DISKS 256

/* One VM of the drill: its source definition and what we made for it. */
struct dvm {
	const char *xml;          /* borrowed from the metadata JSON */
	size_t xml_len;
	char *name;
	char *domain_name;
	char *overlays[64];
	size_t noverlays;
	char *sock;
	char *log;
	virDomainPtr dom;
};

struct drill {
	const struct drill_opts *o;
	struct store *st;
	struct report *r;
	char *gdir;               /* <store>/<group> */
	json_t *meta;
	json_t *disks;            /* meta "disks" */
	struct dvm *vms;
	size_t nvms;
	bool kvm;
	virConnectPtr conn;
	virNetworkPtr net;
	struct timespec t0;
};

static volatile sig_atomic_t drill_stop;

static void
on_signal(int sig)
{
	(void)sig;
	drill_stop = 1;
}

/* libvirt prints every error by default; we log once where it matters. */
static void
virt_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static const char *
virt_msg(void)
{
	const char *m = virGetLastErrorMessage();
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

/* Compare paths as the agent wrote them and as the XML has them, ignoring
 * "//" and "/./" differences; no filesystem access (the source host's
 * paths do not exist here). */
static bool
same_path(const char *a, const char *b)
{
	for (;;) {
		while (a[0] == '/' && (a[1] == '/' || (a[1] == '.' && a[2] == '/')))
			a += a[1] == '/' ? 1 : 2;
		while (b[0] == '/' && (b[1] == '/' || (b[1] == '.' && b[2] == '/')))
			b += b[1] == '/' ? 1 : 2;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* qemu-img create -f qcow2 -b TOP -F qcow2 OVERLAY: the point's files are
 * only ever opened read-only as backing files. */
static int
make_overlay(const char *top, const char *overlay)
{
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", (char *)top,
			 "-F", "qcow2", (char *)overlay, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, "qemu-img", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		log_error("cannot run qemu-img: %s", strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			log_error("waitpid qemu-img: %m");
			return -1;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_error("qemu-img create of overlay %s on %s failed (status %d)", overlay, top,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;
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

/* Replicated disk whose source path is path: its name, or NULL. */
static const char *
disk_for_path(const struct drill *d, const char *path)
{
	for (size_t i = 0; i < json_array_size(d->disks); i++) {
		json_t *e = json_array_get(d->disks, i);
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *n = json_string_value(json_object_get(e, "name"));

		if (p && n && name_valid(n, strlen(n)) && same_path(p, path))
			return n;
	}
	return NULL;
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
	char *ctx = ctx_of(d, i), *top = NULL;
	int ret = -1;

	if (!ctx || !(x = domxml_parse(v->xml, v->xml_len, ctx)))
		goto out;
	for (size_t k = 0; k < i; k++) {
		if (d->vms[k].name && !strcmp(d->vms[k].name, domxml_name(x))) {
			log_error("%s: vm %s is defined twice in the point", ctx, domxml_name(x));
			goto out;
		}
	}
	if (!(v->name = strdup(domxml_name(x))) ||
	    !(v->domain_name = fmt("%s-drill-%s", v->name, d->r->id)) ||
	    !(v->log = fmt("%s/%s.console.log", d->r->workdir, v->name)) ||
	    !(rv->name = strdup(v->name)) || !(rv->domain = strdup(v->domain_name)) ||
	    !(rv->console_log = strdup(v->log)))
		goto out;
	rv->started_s = rv->verified_s = -1;
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
	for (size_t k = 0; k < domxml_ndisks(x); k++) {
		const char *src = domxml_disk_source(x, k);
		const char *disk = disk_for_path(d, src);

		if (!disk) {
			log_error("%s: vm %s: disk %s (%s) is not one of the group's replicated "
				  "disks", ctx, v->name, domxml_disk_target(x, k), src);
			goto out;
		}
		free(top);
		top = store_point_disk_path(d->st, d->o->group, d->r->point, disk);
		if (!top)
			goto out;
		v->overlays[k] = fmt("%s/%s.%s.qcow2", d->r->workdir, v->name, disk);
		if (!v->overlays[k])
			goto out;
		v->noverlays = k + 1;
		if (make_overlay(top, v->overlays[k]) < 0)
			goto out;
		log_info("%s: vm %s: %s boots %s over point disk %s", ctx, v->name,
			 domxml_disk_target(x, k), v->overlays[k], top);
	}
	ret = 0;
out:
	if (ret < 0)
		vm_fail(rv, "preparation failed (overlays or domain XML)");
	free(top);
	free(ctx);
	domxml_free(x);
	return ret;
}

static char *
vm_xml(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	char *ctx = ctx_of(d, i), *xml = NULL, *path = NULL;
	struct domxml *x = ctx ? domxml_parse(v->xml, v->xml_len, ctx) : NULL;
	struct domxml_drill o = {
		.name = v->domain_name, .overlays = (const char *const *)v->overlays,
		.network = d->r->network, .console_sock = v->sock, .console_log = v->log,
		.kvm = d->kvm,
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

static int
create_network(struct drill *d)
{
	uint32_t rnd = 0;
	char *xml = NULL;
	int ret = -1;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)wall_ns();
	snprintf(d->r->network, sizeof(d->r->network), "nestor-drill-%s", d->r->id);
	/* no <forward> and no <ip>: a bridge nothing else is attached to, no
	 * DHCP, no route out; IFNAMSIZ allows 15 characters */
	xml = fmt("<network><name>%s</name><bridge name='ndr%08x' stp='off'/></network>",
		  d->r->network, rnd);
	if (!xml)
		goto out;
	d->net = virNetworkCreateXML(d->conn, xml);
	if (!d->net) {
		log_error("drill %s: cannot create the isolated network %s: %s", d->r->id,
			  d->r->network, virt_msg());
		goto out;
	}
	log_info("drill %s: isolated network %s (bridge ndr%08x)", d->r->id, d->r->network,
		 rnd);
	ret = 0;
out:
	free(xml);
	return ret;
}

static bool
dom_running(virDomainPtr dom)
{
	int state = 0, reason = 0;

	return virDomainGetState(dom, &state, &reason, 0) == 0 &&
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
	/* transient: destroy removes it; libvirt waits for QEMU to exit */
	if (virDomainDestroy(v->dom) < 0 && dom_running(v->dom))
		log_error("cannot destroy domain %s: %s", v->domain_name, virt_msg());
	virDomainFree(v->dom);
	v->dom = NULL;
}

/* Start VM i and wait for its marker. Under --accel auto the first VM also
 * proves KVM: no marker within KVM_PROBE_S -> fall back to TCG for all. */
static void
boot_vm(struct drill *d, size_t i, bool probing)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];
	const char *why = NULL;
	char *xml = vm_xml(d, i);
	int r;

	if (!xml) {
		vm_fail(rv, "cannot generate the domain XML");
		return;
	}
	unlink(v->sock);
	v->dom = virDomainCreateXML(d->conn, xml, 0);
	free(xml);
	if (!v->dom) {
		log_error("drill %s: vm %s: cannot start domain %s: %s", d->r->id, v->name,
			  v->domain_name, virt_msg());
		vm_fail(rv, virt_msg());
		return;
	}
	rv->started_s = elapsed(d);
	log_info("drill %s: vm %s: domain %s started (%s) after %.1f s", d->r->id, v->name,
		 v->domain_name, d->kvm ? "kvm" : "tcg", rv->started_s);
	r = wait_marker(d, i, probing ? KVM_PROBE_S : d->o->timeout_s, &why);
	if (r == 0 && probing && !drill_stop) {
		log_warn("drill %s: vm %s: no marker under KVM within %d s: KVM is not usable "
			 "here, falling back to TCG", d->r->id, v->name, KVM_PROBE_S);
		destroy_dom(v);
		d->kvm = false;
		boot_vm(d, i, false);
		return;
	}
	if (r == 1) {
		rv->marker_seen = true;
		rv->verified_s = elapsed(d);
		log_info("drill %s: vm %s: boot marker '%s' after %.1f s", d->r->id, v->name,
			 d->o->marker, rv->verified_s);
		return;
	}
	log_error("drill %s: vm %s: %s (%s)", d->r->id, v->name,
		  why ? why : "cannot read the console log", v->log);
	vm_fail(rv, why ? why : "cannot read the console log");
	rv->console_tail = console_tail(v->log, 1500);
}

static void
check_vm(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];

	rv->check_ran = true;
	if (console_exec(v->sock, d->o->check_cmd, (int)d->o->timeout_s * 1000,
			 &rv->check_output, &rv->check_rc) < 0) {
		vm_fail(rv, "check command got no answer");
		return;
	}
	log_info("drill %s: vm %s: check command exited %d", d->r->id, v->name, rv->check_rc);
	if (rv->check_rc != 0)
		vm_fail(rv, "check command failed");
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
				? virDomainLookupByName(d->conn, d->vms[i].domain_name) : NULL;
			if (left) {
				log_error("drill %s: domain %s still exists after teardown",
					  d->r->id, d->vms[i].domain_name);
				virDomainFree(left);
				ret = -1;
			}
		}
	}
	if (d->net) {
		if (virNetworkDestroy(d->net) < 0) {
			log_error("drill %s: cannot destroy network %s: %s", d->r->id,
				  d->r->network, virt_msg());
			ret = -1;
		}
		virNetworkFree(d->net);
		d->net = NULL;
	}
	for (size_t i = 0; i < d->nvms; i++) {
		struct dvm *v = &d->vms[i];

		for (size_t k = 0; k < v->noverlays; k++) {
			if (v->overlays[k] && unlink(v->overlays[k]) < 0 && errno != ENOENT) {
				log_error("drill %s: cannot remove overlay %s: %m", d->r->id,
					  v->overlays[k]);
				ret = -1;
			}
		}
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
		free(v->name);
		free(v->domain_name);
		free(v->sock);
		free(v->log);
	}
	free(d->vms);
	free(d->gdir);
	json_decref(d->meta);
	if (d->conn)
		virConnectClose(d->conn);
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

int
drill_run(struct store *st, const char *store_dir, const struct drill_opts *o,
	  struct report *r)
{
	struct drill d = { .o = o, .st = st, .r = r };
	char *root = NULL, *path = NULL;
	bool prepared = false, teardown_ok = true;
	int ret = -1;

	clock_gettime(CLOCK_MONOTONIC, &d.t0);
	memset(r, 0, sizeof(*r));
	r->started_ns = wall_ns();
	r->uri = o->uri;
	r->marker = o->marker;
	r->check_cmd = o->check_cmd;
	r->kept = o->keep;
	snprintf(r->group, sizeof(r->group), "%s", o->group);
	make_id(r);
	virSetErrorFunc(NULL, virt_quiet);

	if (!(root = realpath(store_dir, NULL))) {
		log_error("store %s: %m", store_dir);
		goto out;
	}
	if (!(d.gdir = fmt("%s/%s", root, o->group)))
		goto out;
	if (pick_point(&d) < 0 || load_meta(&d) < 0)
		goto fail_early;
	r->rpo_s = r->started_ns > r->point_time_ns
		? (double)(r->started_ns - r->point_time_ns) / 1e9 : 0;
	snprintf(r->workdir, sizeof(r->workdir), "%s/drills/%s", d.gdir, r->id);
	if (mkdir_p(r->workdir, 0755) < 0)
		goto fail_early;
	log_info("drill %s: group %s point %" PRIu64 " (RPO %.1f s), %zu VM(s), work dir %s",
		 r->id, o->group, r->point, r->rpo_s, d.nvms, r->workdir);

	/* every VM is prepared before any boots: a mapping error costs nothing */
	prepared = true;
	for (size_t i = 0; i < d.nvms; i++)
		if (prepare_vm(&d, i) < 0)
			prepared = false;
	if (!prepared) {
		r->error = strdup("preparation failed: see the log");
		goto teardown;
	}
	d.conn = virConnectOpen(o->uri);
	if (!d.conn) {
		log_error("drill %s: cannot connect to libvirt at %s: %s", r->id, o->uri,
			  virt_msg());
		r->error = strdup("cannot connect to libvirt");
		goto teardown;
	}
	if (create_network(&d) < 0) {
		r->error = strdup("cannot create the isolated network");
		goto teardown;
	}
	d.kvm = o->accel == DRILL_ACCEL_KVM ||
		(o->accel == DRILL_ACCEL_AUTO && kvm_device_usable());
	/* boot order: the order of the VMs in the point */
	for (size_t i = 0; i < d.nvms && !drill_stop; i++)
		boot_vm(&d, i, i == 0 && d.kvm && o->accel == DRILL_ACCEL_AUTO);
	r->kvm = d.kvm;
	if (o->check_cmd)
		for (size_t i = 0; i < d.nvms && !drill_stop; i++)
			if (r->vms[i].marker_seen)
				check_vm(&d, i);
	if (drill_stop) {
		log_error("drill %s: interrupted", r->id);
		r->error = strdup("interrupted by a signal");
	}
teardown:
	if (!o->keep) {
		teardown_ok = teardown(&d) == 0;
		log_info("drill %s: teardown %s", r->id, teardown_ok ? "done" : "FAILED");
	} else {
		log_info("drill %s: --keep: domains, network %s and overlays left in place",
			 r->id, r->network);
	}
	r->teardown_ok = teardown_ok;
	r->pass = prepared && !r->error && teardown_ok && d.nvms > 0;
	for (size_t i = 0; i < d.nvms; i++) {
		if (!r->vms[i].marker_seen)
			vm_fail(&r->vms[i], "not booted: the drill failed before");
		if (!r->vms[i].pass)
			r->pass = false;
	}
	r->duration_s = elapsed(&d);
	if ((path = fmt("%s/drills/%s.json", d.gdir, r->id)) != NULL &&
	    report_save(r, path) == 0)
		log_info("drill %s: report saved as %s", r->id, path);
	ret = r->pass ? 0 : -1;
	goto out;
fail_early:
	/* nothing was created: no report file, the error is in the log */
	if (!r->error)
		r->error = strdup("cannot read the recovery point");
	r->duration_s = elapsed(&d);
out:
	drill_clear(&d);
	free(path);
	free(root);
	return ret;
}

static const char usage_drill[] =
	"usage: nestor drill [--config FILE] GROUP [--point ID|latest] [--keep] [--json]\n"
	"                    [--uri URI] [--marker TEXT] [--timeout S] [--check-cmd CMD]\n"
	"                    [--accel auto|tcg|kvm]\n"
	"       nestor drill [--config FILE] --list GROUP [--json]\n"
	"\n"
	"DR drill on the receiver: boot every VM of a recovery point (default: the\n"
	"newest) from its captured domain XML, on qcow2 overlays of the point's disks\n"
	"(the point is never written), attached to a new isolated libvirt network\n"
	"without forwarding; verify each VM by a marker on its serial console (and\n"
	"optionally a command run over the console), report RPO at drill time and\n"
	"RTO measured, then destroy the domains, the network and the overlays.\n"
	"The report is saved as <store>/<group>/drills/<id>.json; console logs and\n"
	"the generated domain XML stay in <store>/<group>/drills/<id>/.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " DEFAULT_RECEIVER_CONF ")\n"
	"  -p, --point ID      point to drill, or 'latest' (default)\n"
	"      --keep          leave the domains, network and overlays running\n"
	"      --json          print the report as JSON instead of text\n"
	"      --uri URI       libvirt URI (default: $LIBVIRT_DEFAULT_URI, else " DEFAULT_URI ")\n"
	"      --marker TEXT   console line proving the boot (default " DEFAULT_MARKER ")\n"
	"      --timeout S     seconds per VM for the marker and for the check (default 120)\n"
	"      --check-cmd CMD one-line command sent over each VM's serial console after\n"
	"                      the marker; the guest answers 'NESTOR-DONE <rc>' (nestor\n"
	"                      test-guest protocol); rc != 0 fails the VM\n"
	"      --accel MODE    auto (KVM when /dev/kvm boots the first VM within 20 s,\n"
	"                      else TCG; default), tcg, or kvm\n"
	"      --list          list the saved drill reports of GROUP\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 every VM verified and teardown done, 1 otherwise, 2 usage error.\n";

enum { OPT_KEEP = 300, OPT_JSON, OPT_URI, OPT_MARKER, OPT_TIMEOUT, OPT_CHECK, OPT_ACCEL,
       OPT_LIST };

int
drill_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "point", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "uri", required_argument, NULL, OPT_URI },
		{ "marker", required_argument, NULL, OPT_MARKER },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "check-cmd", required_argument, NULL, OPT_CHECK },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct drill_opts o = { .marker = DEFAULT_MARKER, .timeout_s = DEFAULT_TIMEOUT_S };
	const char *path = DEFAULT_RECEIVER_CONF;
	struct receiver_config *cfg = NULL;
	struct store *st = NULL;
	struct report r = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	bool json = false, verbose = false, list = false;
	uint64_t v;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'p':
			if (!strcmp(optarg, "latest")) {
				o.point = 0;
			} else if (parse_u64(optarg, &o.point) < 0 || o.point == 0) {
				fprintf(stderr, "nestor drill: --point needs a point id or 'latest', "
					"not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_KEEP: o.keep = true; break;
		case OPT_JSON: json = true; break;
		case OPT_URI: o.uri = optarg; break;
		case OPT_MARKER:
			if (!*optarg || strchr(optarg, '\n')) {
				fprintf(stderr, "nestor drill: --marker must be one non-empty line\n");
				return 2;
			}
			o.marker = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 86400) {
				fprintf(stderr, "nestor drill: --timeout needs 1..86400 seconds, "
					"not '%s'\n", optarg);
				return 2;
			}
			o.timeout_s = (unsigned)v;
			break;
		case OPT_CHECK:
			if (!*optarg || strchr(optarg, '\n') || strchr(optarg, '\r')) {
				fprintf(stderr, "nestor drill: --check-cmd must be one non-empty line\n");
				return 2;
			}
			o.check_cmd = optarg;
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "auto")) o.accel = DRILL_ACCEL_AUTO;
			else if (!strcmp(optarg, "tcg")) o.accel = DRILL_ACCEL_TCG;
			else if (!strcmp(optarg, "kvm")) o.accel = DRILL_ACCEL_KVM;
			else {
				fprintf(stderr, "nestor drill: --accel is auto, tcg or kvm\n");
				return 2;
			}
			break;
		case OPT_LIST: list = true; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_drill, stdout); return 0;
		default: fputs(usage_drill, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "nestor drill: expected one GROUP\n%s", usage_drill);
		return 2;
	}
	o.group = argv[optind];
	if (!o.uri)
		o.uri = getenv("LIBVIRT_DEFAULT_URI");
	if (!o.uri || !*o.uri)
		o.uri = DEFAULT_URI;
	log_set_prefix("drill");
	if (!name_valid(o.group, strlen(o.group))) {
		log_error("invalid group name '%s'", o.group);
		return 2;
	}
	if (receiver_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(verbose ? LOG_LVL_DEBUG : cfg->log_level);
	if (list) {
		char *dir = fmt("%s/%s/drills", cfg->store_dir, o.group);
		ret = dir && report_list(dir, json, stdout) == 0 ? 0 : 1;
		free(dir);
		goto out;
	}
	st = store_open(cfg->store_dir);
	if (!st)
		goto out;
	/* a signal ends the waits; teardown still runs */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ret = drill_run(st, cfg->store_dir, &o, &r) == 0 ? 0 : 1;
	if (r.nvms > 0 || r.point) {
		if (json) {
			json_t *j = report_json(&r);
			char *txt = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
			if (txt)
				printf("%s\n", txt);
			free(txt);
			json_decref(j);
		} else {
			report_print(&r, stdout);
		}
	}
out:
	report_clear(&r);
	store_free(st);
	receiver_config_free(cfg);
	return ret;
}
