/* Domain XML rewriting for drills: the captured source definition boots the
 * replica unconverted, on copy-on-write overlays, cut off from every network.
 * Reading the definition is common/vmxml.c's; this file keeps the rewrite. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/log.h"
#include "common/names.h"
#include "common/vmxml.h"
#include "failover/domxml.h"

#define DOMXML_MAX_DISKS 64
#define DOMXML_MAX_NICS 64

struct domxml {
	xmlDocPtr doc;
	char *ctx;
	struct vmxml *x;       /* read from doc: node pointers into it */
	size_t ndisks;         /* device='disk'/'lun' disks of x */
	struct vmxml_disk *disk[DOMXML_MAX_DISKS];
};

static bool
prop_is(xmlNodePtr n, const char *name, const char *want)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	bool eq = v && !strcmp((const char *)v, want);

	xmlFree(v);
	return eq;
}

/* cdrom, floppy (lun and disk are mapped to replicated disks) */
static bool
is_removable(xmlNodePtr disk)
{
	return prop_is(disk, "device", "cdrom") || prop_is(disk, "device", "floppy");
}

static void
remove_node(xmlNodePtr n)
{
	xmlUnlinkNode(n);
	xmlFreeNode(n);
}

/* Remove every child element of parent called name. */
static void
remove_children(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = parent ? parent->children : NULL, next;

	for (; n; n = next) {
		next = n->next;
		if (vmxml_is(n, name))
			remove_node(n);
	}
}

/* Every device='disk'/'lun' disk is kept whatever its type: whether it can
 * be mapped to a replicated disk (by source path or by target dev) is the
 * caller's decision (failover/pointmeta.c). cdrom/floppy are emptied in
 * the rewrite. */
static int
collect_disks(struct domxml *d)
{
	for (size_t i = 0; i < d->x->ndisks; i++) {
		struct vmxml_disk *k = &d->x->disks[i];

		if (k->device && strcmp(k->device, "disk") != 0 && strcmp(k->device, "lun") != 0)
			continue;
		if (d->ndisks == DOMXML_MAX_DISKS) {
			log_error("%s: vm %s: more than %d disks", d->ctx, d->x->name,
				  DOMXML_MAX_DISKS);
			return -1;
		}
		d->disk[d->ndisks++] = k;
	}
	if (d->x->nnics > DOMXML_MAX_NICS) {
		log_error("%s: vm %s: more than %d interfaces", d->ctx, d->x->name,
			  DOMXML_MAX_NICS);
		return -1;
	}
	return 0;
}

struct domxml *
domxml_parse(const char *xml, size_t len, const char *ctx)
{
	struct domxml *d = calloc(1, sizeof(*d));
	const char *name;

	if (!d || !(d->ctx = strdup(ctx))) {
		log_error("%s: out of memory", ctx);
		goto fail;
	}
	d->doc = vmxml_parse_doc(xml, len, ctx, false);
	if (!d->doc || !(d->x = vmxml_read_doc(d->doc, ctx)))
		goto fail;
	name = d->x->name;
	if (!name || !name_valid(name, strlen(name))) {
		log_error("%s: domain <name> '%s' is missing or not a plain name "
			  "([A-Za-z0-9._-], up to %d characters)", ctx,
			  name ? name : "", NAME_MAX_LEN);
		goto fail;
	}
	if (collect_disks(d) < 0)
		goto fail;
	return d;
fail:
	domxml_free(d);
	return NULL;
}

void
domxml_free(struct domxml *d)
{
	if (d) {
		vmxml_free(d->x); /* before the document its nodes point into */
		xmlFreeDoc(d->doc);
		free(d->ctx);
	}
	free(d);
}

const char *
domxml_name(const struct domxml *d)
{
	return d->x->name;
}

size_t
domxml_ndisks(const struct domxml *d)
{
	return d->ndisks;
}

const char *
domxml_disk_source(const struct domxml *d, size_t i)
{
	return i < d->ndisks ? d->disk[i]->source : NULL;
}

const char *
domxml_disk_target(const struct domxml *d, size_t i)
{
	if (i >= d->ndisks)
		return NULL;
	return d->disk[i]->target ? d->disk[i]->target : "";
}

const char *
domxml_disk_type(const struct domxml *d, size_t i)
{
	if (i >= d->ndisks)
		return NULL;
	return d->disk[i]->type ? d->disk[i]->type : "file";
}

size_t
domxml_nnics(const struct domxml *d)
{
	return d->x->nnics;
}

const char *
domxml_nic_source(const struct domxml *d, size_t i)
{
	return i < d->x->nnics ? d->x->nics[i].source : NULL;
}

const char *
domxml_nic_mac(const struct domxml *d, size_t i)
{
	return i < d->x->nnics ? d->x->nics[i].mac : NULL;
}

static int
set_prop(xmlNodePtr n, const char *name, const char *value)
{
	return xmlSetProp(n, (const xmlChar *)name, (const xmlChar *)value) ? 0 : -1;
}

static xmlNodePtr
new_child(xmlNodePtr parent, const char *name)
{
	return xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
}

/* The replica is a qcow2 overlay whatever the source format was; its
 * backing chain is described by the image itself. */
static int
rewrite_disk(xmlNodePtr disk, const char *overlay, const char *rbd_conf)
{
	xmlNodePtr drv = vmxml_child(disk, "driver"), src;
	bool rbd = strncmp(overlay, "rbd:", 4) == 0;

	remove_children(disk, "source");
	remove_children(disk, "backingStore");
	/* credentials of a network source (rbd, iscsi) mean nothing here */
	remove_children(disk, "auth");
	if (set_prop(disk, "type", rbd ? "network" : "file") < 0)
		return -1;
	/* a passthrough LUN becomes a plain disk: the replica is an image */
	if (prop_is(disk, "device", "lun") && set_prop(disk, "device", "disk") < 0)
		return -1;
	xmlUnsetProp(disk, (const xmlChar *)"sgio");
	xmlUnsetProp(disk, (const xmlChar *)"rawio");
	if (!drv && !(drv = new_child(disk, "driver")))
		return -1;
	if (set_prop(drv, "name", "qemu") < 0 || set_prop(drv, "type", rbd ? "raw" : "qcow2") < 0)
		return -1;
	if (!(src = new_child(disk, "source")))
		return -1;
	if (!rbd)
		return set_prop(src, "file", overlay);
	/* An RBD clone of a ceph-store point, opened by qemu's rbd driver; the
	 * keyring comes from the ceph.conf. */
	if (set_prop(src, "protocol", "rbd") < 0 || set_prop(src, "name", overlay + 4) < 0)
		return -1;
	if (rbd_conf) {
		xmlNodePtr cf = new_child(src, "config");

		if (!cf || set_prop(cf, "file", rbd_conf) < 0)
			return -1;
	}
	return 0;
}

/* MAC, model and guest-visible address stay: the guest's configuration
 * must see the same NIC. Everything tying it to a host network goes. */
static int
rewrite_interface(xmlNodePtr nic, const char *network)
{
	static const char *const keep[] = { "mac", "model", "driver", "boot", "address",
					    "rom", "mtu", "link" };
	xmlNodePtr n = nic->children, next, src;

	for (; n; n = next) {
		bool kept = false;

		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			kept = kept || vmxml_is(n, keep[i]);
		if (!kept)
			remove_node(n);
	}
	if (set_prop(nic, "type", "network") < 0)
		return -1;
	xmlUnsetProp(nic, (const xmlChar *)"trustGuestRxFilters");
	if (!(src = new_child(nic, "source")) || set_prop(src, "network", network) < 0)
		return -1;
	return 0;
}

static int
add_console(xmlNodePtr devices, const struct domxml_drill *o)
{
	xmlNodePtr ser, src, lg, tgt;

	if (!(ser = new_child(devices, "serial")) || set_prop(ser, "type", "unix") < 0)
		return -1;
	if (!(src = new_child(ser, "source")) || set_prop(src, "mode", "bind") < 0 ||
	    set_prop(src, "path", o->console_sock) < 0)
		return -1;
	if (!(lg = new_child(ser, "log")) || set_prop(lg, "file", o->console_log) < 0 ||
	    set_prop(lg, "append", "off") < 0)
		return -1;
	if (!(tgt = new_child(ser, "target")) || set_prop(tgt, "port", "0") < 0)
		return -1;
	return 0;
}

/* TCG: no <cpu> (its default model boots anything x86_64). KVM: the
 * source host's exact CPU may not exist here, so host-model, or a named
 * baseline model when host-model cannot start; topology and NUMA stay. */
static int
rewrite_cpu(xmlNodePtr root, const struct domxml_drill *o)
{
	xmlNodePtr cpu = vmxml_child(root, "cpu"), m;

	if (!o->kvm) {
		remove_children(root, "cpu");
		return 0;
	}
	if (!cpu && !(cpu = new_child(root, "cpu")))
		return -1;
	remove_children(cpu, "model");
	remove_children(cpu, "vendor");
	remove_children(cpu, "feature");
	remove_children(cpu, "cache");
	xmlUnsetProp(cpu, (const xmlChar *)"match");
	xmlUnsetProp(cpu, (const xmlChar *)"migratable");
	if (set_prop(cpu, "check", "none") < 0)
		return -1;
	if (!o->cpu_model)
		return set_prop(cpu, "mode", "host-model");
	if (set_prop(cpu, "mode", "custom") < 0 || set_prop(cpu, "match", "exact") < 0)
		return -1;
	if (!(m = new_child(cpu, "model")) || set_prop(m, "fallback", "allow") < 0)
		return -1;
	xmlNodeSetContent(m, (const xmlChar *)o->cpu_model);
	return 0;
}

/* virtio-serial channel of the QEMU guest agent (virDomainQemuAgentCommand) */
static int
add_agent_channel(xmlNodePtr devices)
{
	xmlNodePtr ch, tgt;

	if (!(ch = new_child(devices, "channel")) || set_prop(ch, "type", "unix") < 0)
		return -1;
	if (!(tgt = new_child(ch, "target")) || set_prop(tgt, "type", "virtio") < 0 ||
	    set_prop(tgt, "name", "org.qemu.guest_agent.0") < 0)
		return -1;
	return 0;
}

char *
domxml_drill_xml(struct domxml *d, const struct domxml_drill *o)
{
	xmlNodePtr root = xmlDocGetRootElement(d->doc), devices, feat, n, next;
	xmlChar *buf = NULL;
	char *out = NULL;
	int len = 0;

	if (set_prop(root, "type", o->kvm ? "kvm" : "qemu") < 0)
		goto oom;
	xmlNodeSetContent(vmxml_child(root, "name"), (const xmlChar *)o->name);
	/* A drill gets a fresh UUID: the source VM (or another drill) may exist
	 * on this host. A failover keeps it (the guest sees the same SMBIOS). */
	if (!o->keep_uuid)
		remove_children(root, "uuid");
	/* No stale SELinux/AppArmor labels from the source host. */
	remove_children(root, "seclabel");
	if (rewrite_cpu(root, o) < 0)
		goto oom;
	feat = vmxml_child(root, "features");
	if (!feat && !(feat = new_child(root, "features")))
		goto oom;
	/* ACPI lets the guest be shut down; the test guest needs it too. */
	if (!vmxml_child(feat, "acpi") && !new_child(feat, "acpi"))
		goto oom;

	devices = vmxml_child(root, "devices");
	if (!devices && !(devices = new_child(root, "devices")))
		goto oom;
	for (size_t i = 0; i < d->ndisks; i++) {
		if (o->overlays[i]) {
			if (rewrite_disk(d->disk[i]->node, o->overlays[i], o->rbd_conf) < 0)
				goto oom;
		} else {
			/* not replicated (read-only disk of a live guest): nothing
			 * of the source host to point at */
			log_warn("%s: vm %s: disk %s was not replicated and is left out",
				 d->ctx, d->x->name, domxml_disk_target(d, i));
			remove_node(d->disk[i]->node);
		}
		d->disk[i]->node = NULL;
	}
	for (size_t i = 0; i < d->x->nnics; i++) {
		const char *net = o->networks && o->networks[i] ? o->networks[i] : o->network;

		if (rewrite_interface(d->x->nics[i].node, net) < 0)
			goto oom;
	}
	for (n = devices->children; n; n = next) {
		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		/* the source's emulator path (e.g. /usr/libexec/qemu-kvm) may not
		 * exist here: libvirt picks this host's default */
		if (vmxml_is(n, "emulator") || vmxml_is(n, "serial") || vmxml_is(n, "console") ||
		    vmxml_is(n, "channel") || vmxml_is(n, "graphics") || vmxml_is(n, "hostdev")) {
			if (vmxml_is(n, "hostdev"))
				log_warn("%s: vm %s: host device passthrough dropped", d->ctx,
					 d->x->name);
			remove_node(n);
		} else if (vmxml_is(n, "disk") && is_removable(n) && vmxml_child(n, "source")) {
			/* install media of the source host: an empty drive here */
			remove_children(n, "source");
		}
	}
	if (add_console(devices, o) < 0)
		goto oom;
	if (o->guest_agent && add_agent_channel(devices) < 0)
		goto oom;
	xmlDocDumpFormatMemory(d->doc, &buf, &len, 1);
	if (!buf || len <= 0)
		goto oom;
	out = strndup((const char *)buf, (size_t)len);
	xmlFree(buf);
	if (!out)
		goto oom;
	return out;
oom:
	log_error("%s: vm %s: out of memory rewriting the domain XML", d->ctx, d->x->name);
	return NULL;
}
