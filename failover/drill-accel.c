/* The accelerator of a run (failover/drill-accel.h). Where /dev/kvm exists
 * but cannot run a guest (a nested host whose KVM refuses the guest's
 * MSRs), the KVM attempt costs seconds of every RTO; the verdict file lets
 * only the first run on a host, kernel and QEMU pay it. */
#define _GNU_SOURCE
#include "failover/drill-accel.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/accel.h"
#include "failover/drill-run.h"
#include "failover/drill-vm.h"

/* d->accel_key for this host and the QEMU libvirt runs. 0 / -1 (logged). */
static int
accel_key_of(struct drill *d)
{
	unsigned long ver = 0;

	if (sym_virConnectGetVersion(d->conn, &ver) < 0) {
		log_warn("%s %s: cannot read the QEMU version from libvirt (%s): the KVM "
			 "verdict is neither read nor kept", drill_what(d), d->r->id,
			 virt_dl_error());
		return -1;
	}
	if (accel_key_host(&d->accel_key, ver) < 0)
		return -1;
	d->accel_keyed = true;
	return 0;
}

static char *
verdict_path(const struct drill *d)
{
	return strfmt("%s/%s", d->root, ACCEL_VERDICT_FILE);
}

/* A verdict for this host was found: use it. A KVM verdict still lets the
 * first VM prove it, so a KVM that stopped working is probed again. */
static void
use_cached(struct drill *d, const struct accel_cached *c)
{
	char when[CLOCK_ISO_LEN];

	clock_iso8601(c->probed_ns, when, sizeof(when));
	d->r->accel_source = "cache";
	d->kvm = c->verdict == ACCEL_KVM;
	d->probing = d->kvm;
	log_info("%s %s: accel %s (cached verdict from %s, kernel %s, qemu %s)%s",
		 drill_what(d), d->r->id, d->kvm ? "kvm" : "tcg", when, d->accel_key.kernel,
		 d->accel_key.qemu, d->kvm ? ": the first VM still proves it"
		 : ": KVM did not boot a guest here; --accel probe tries again");
}

void
drill_accel_choose(struct drill *d)
{
	const struct drill_opts *o = d->o;
	struct accel_cached c;
	const char *why = "--accel probe";
	char *path = NULL;

	d->probing = false;
	if (o->accel == DRILL_ACCEL_TCG || o->accel == DRILL_ACCEL_KVM) {
		d->kvm = o->accel == DRILL_ACCEL_KVM;
		d->r->accel_source = "option";
		log_info("%s %s: accel %s (--accel %s)", drill_what(d), d->r->id,
			 d->kvm ? "kvm" : "tcg", d->kvm ? "kvm" : "tcg");
		return;
	}
	if (!drill_kvm_usable()) {
		d->kvm = false;
		d->r->accel_source = "no-kvm";
		log_info("%s %s: accel tcg (/dev/kvm is not usable here)", drill_what(d),
			 d->r->id);
		return;
	}
	d->kvm = true;
	d->probing = true;
	d->r->accel_source = "probe";
	if (accel_key_of(d) < 0) {
		why = "no verdict can be kept";
	} else if (o->accel == DRILL_ACCEL_AUTO) {
		if (!(path = verdict_path(d)))
			why = "out of memory";
		else if (accel_verdict_load(path, &d->accel_key, clock_now_ns(), &c, &why) == 0) {
			use_cached(d, &c);
			goto out;
		}
	}
	log_info("%s %s: accel kvm, proved by the first VM (%s)", drill_what(d), d->r->id, why);
out:
	free(path);
}

void
drill_accel_learn(struct drill *d, size_t first)
{
	enum accel_verdict v = d->kvm ? ACCEL_KVM : ACCEL_TCG;
	char *path = NULL;

	/* a cached KVM verdict that failed was probed again just now */
	if (d->probing && !d->kvm)
		d->r->accel_source = "probe";
	if (!d->probing || !d->accel_keyed || drill_stopped() || !d->r->vms[first].marker_seen)
		return;
	if ((path = verdict_path(d)) != NULL &&
	    accel_verdict_save(path, &d->accel_key, v, clock_now_ns()) == 0)
		log_info("%s %s: accel verdict %s kept in %s (host %s, kernel %s, qemu %s)",
			 drill_what(d), d->r->id, accel_verdict_name(v), path, d->accel_key.host,
			 d->accel_key.kernel, d->accel_key.qemu);
	free(path);
}
