/* Offline-VM planning: running domains for the libvirt source, the disk
 * files and RBD images of shut-off ones for the file and rbd sources. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "snapshot/libvirt.h"
#include "snapshot/plan.h"

void
plan_clear(struct plan *pl)
{
	for (size_t i = 0; i < pl->noff; i++) {
		free(pl->off[i].name);
		free(pl->off[i].xml);
		vmxml_free(pl->off[i].x);
	}
	for (size_t i = 0; i < pl->nodisk; i++)
		free(pl->odisk[i].path);
	free(pl->domlist);
	memset(pl, 0, sizeof(*pl));
}

/* The next offline disk, named <domain>.<target>; NULL when full or the
 * name is not valid (logged). */
static struct plan_disk *
plan_disk_new(struct plan *pl, const char *dom, const char *target, const char *what)
{
	struct plan_disk *d;

	if (!target || pl->nodisk == SNAP_MAX_DISKS) {
		log_error("%s: no target, or too many disks", what);
		return NULL;
	}
	d = &pl->odisk[pl->nodisk];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s.%s", dom, target);
	snprintf(d->target, sizeof(d->target), "%s", target);
	if (!name_valid(d->name, strlen(d->name))) {
		log_error("%s: disk name %s is not valid", what, d->name);
		return NULL;
	}
	return d;
}

/* One writable disk of a shut-off domain: a file, or an RBD image. */
static int
plan_offline_disk(struct plan *pl, const char *group, const char *dom,
		  const struct vmxml_disk *x)
{
	bool is_file = x->type && strcmp(x->type, "file") == 0;
	const char *fmt = x->format;
	struct plan_disk *d;
	char what[160];
	int r;

	snprintf(what, sizeof(what), "group %s domain %s disk %s", group, dom,
		 x->target ? x->target : "?");
	r = is_file ? 0 : vmxml_disk_rbd(x, what);
	if (r < 0)
		return -1;
	if (r == 0 && !is_file) {
		log_error("group %s: domain %s is shut off and disk %s is not a file: "
			  "start the domain to replicate it live", group, dom,
			  x->target ? x->target : "?");
		return -1;
	}
	if (is_file && !x->source) {
		log_error("%s: disk without a source file", what);
		return -1;
	}
	d = plan_disk_new(pl, dom, x->target, what);
	if (!d)
		return -1;
	if (r == 1) {
		d->rbd = &x->r;
	} else {
		snprintf(d->format, sizeof(d->format), "%s",
			 fmt && (!strcmp(fmt, "qcow2") || !strcmp(fmt, "raw")) ? fmt : "");
		d->path = strdup(x->source);
		if (!d->path) {
			log_error("%s: out of memory", what);
			return -1;
		}
	}
	pl->nodisk++;
	return 0;
}

/* The disks of a shut-off domain's inactive definition; takes xml. */
static int
plan_offline_vm(struct plan *pl, const char *group, const char *dom, char *xml)
{
	struct plan_vm *vm = &pl->off[pl->noff];
	char what[160];

	snprintf(what, sizeof(what), "group %s: domain %s", group, dom);
	memset(vm, 0, sizeof(*vm));
	vm->xml = xml;
	vm->name = strdup(dom);
	vm->first = pl->nodisk;
	pl->noff++; /* from here plan_clear frees it */
	if (!vm->name) {
		log_error("%s: out of memory", what);
		return -1;
	}
	vm->x = vmxml_parse(xml, strlen(xml), what);
	if (!vm->x)
		return -1;
	for (size_t i = 0; i < vm->x->ndisks; i++) {
		const struct vmxml_disk *x = &vm->x->disks[i];

		if (!vmxml_disk_is_disk(x) || x->readonly)
			continue;
		if (plan_offline_disk(pl, group, dom, x) < 0)
			return -1;
	}
	vm->n = pl->nodisk - vm->first;
	return 0;
}

/* A guest that shut itself down flushed and unmounted everything: its
 * disks are app-consistent. Destroyed, crashed, never started or unknown:
 * only crash-consistent. */
static int
plan_shut_down_cleanly(virDomainPtr dom)
{
	int state = 0, reason = 0;

	if (sym_virDomainGetState(dom, &state, &reason, 0) < 0)
		return 0;
	return state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN;
}

/* Running: the libvirt source; shut off: planned from its definition. */
static int
plan_domain(struct plan *pl, virConnectPtr conn, const struct plan_input *in, const char *name)
{
	virDomainPtr dom = sym_virDomainLookupByName(conn, name);
	const char *group = in->group;
	int active;
	char *xml;
	int ret = -1;

	if (!dom) {
		log_error("group %s: domain %s: %s", group, name,
			  sym_virGetLastErrorMessage());
		return -1;
	}
	active = sym_virDomainIsActive(dom) == 1;
	if (active && !in->inactive) {
		pl->live[pl->nlive++] = name;
		ret = 0;
		goto out;
	}
	xml = sym_virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
	if (!xml) {
		log_error("group %s: domain %s: %s", group, name,
			  sym_virGetLastErrorMessage());
		goto out;
	}
	if (plan_offline_vm(pl, group, name, xml) < 0)
		goto out;
	pl->off[pl->noff - 1].running = active;
	pl->off[pl->noff - 1].clean = !active && plan_shut_down_cleanly(dom);
	ret = 0;
	if (in->inactive)
		goto out;
	log_info("group %s: domain %s is shut off (%s): replicating its disk files",
		 group, name, pl->off[pl->noff - 1].clean ? "shut down by its guest"
							 : "not shut down by its guest");
out:
	sym_virDomainFree(dom);
	return ret;
}

int
plan_domains(struct plan *pl, const struct plan_input *in)
{
	const char *uri = in->uri ? in->uri : VMXML_DEFAULT_URI;
	virConnectPtr conn = NULL;
	char *save = NULL, *tok;
	int ret = -1;

	pl->domlist = strdup(in->domains);
	if (!pl->domlist) {
		log_error("group %s: out of memory", in->group);
		return -1;
	}
	if (virt_dl_load() < 0)
		goto out;
	if (in->keep) {
		conn = snapshot_libvirt_keep_conn(in->keep, uri);
		if (!conn)
			goto out;
	} else {
		conn = sym_virConnectOpen(uri);
		if (!conn) {
			log_error("group %s: cannot connect to libvirt at %s: %s", in->group,
				  uri, sym_virGetLastErrorMessage());
			goto out;
		}
	}
	for (tok = strtok_r(pl->domlist, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (pl->nlive + pl->noff == PLAN_MAX_DOMAINS) {
			log_error("group %s: more than %d domains", in->group, PLAN_MAX_DOMAINS);
			goto out;
		}
		if (plan_domain(pl, conn, in, tok) < 0)
			goto out;
	}
	if (pl->nlive + pl->noff == 0) {
		log_error("group %s: 'domains' names no domain", in->group);
		goto out;
	}
	ret = 0;
out:
	if (conn && !in->keep)
		sym_virConnectClose(conn);
	return ret;
}
