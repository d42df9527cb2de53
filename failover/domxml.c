/* Domain XML rewriting for drills: the captured source definition boots the
 * replica unconverted, on copy-on-write overlays, cut off from every network.
 * The definition comes from the network: the rewrite builds a new document
 * from what the allowlist (domxml-allow.c, walked by domxml-walk.c) keeps,
 * and adds Nestor's own parts here. Reading is common/vmxml.c's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "common/vmxml.h"
#include "common/xml-dl.h"
#include "failover/domxml-size.h"
#include "failover/domxml-walk.h"
#include "failover/domxml.h"

#define DOMXML_MAX_DISKS 64
#define DOMXML_MAX_NICS 64

struct domxml {
	xmlDocPtr doc;
	char *ctx;
	struct vmxml *x;       /* read from doc: node pointers into it */
	size_t ndisks;         /* device='disk'/'lun' disks of x */
	struct vmxml_disk *disk[DOMXML_MAX_DISKS];
	char **warnings;       /* of the last rewrite */
	size_t nwarnings;
};

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

static void
clear_warnings(struct domxml *d)
{
	for (size_t i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->warnings);
	d->warnings = NULL;
	d->nwarnings = 0;
}

void
domxml_free(struct domxml *d)
{
	if (d) {
		clear_warnings(d);
		vmxml_free(d->x); /* before the document its nodes point into */
		xml_dl_free_doc(d->doc);
		free(d->ctx);
	}
	free(d);
}

const char *
domxml_name(const struct domxml *d)
{
	return d->x->name;
}

void
domxml_guest_size(const struct domxml *d, struct domxml_size *s)
{
	domxml_size_read(sym_xmlDocGetRootElement(d->doc), s);
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

size_t
domxml_nwarnings(const struct domxml *d)
{
	return d->nwarnings;
}

const char *
domxml_warning(const struct domxml *d, size_t i)
{
	return i < d->nwarnings ? d->warnings[i] : NULL;
}

/* Serial port 0 of every drill and failover: a unix socket in the work
 * dir, logged to a file (failover/console.c speaks to it). */
static int
add_console(xmlNodePtr devices, const struct domxml_drill *o)
{
	xmlNodePtr ser = dx_new(devices, "serial", "type", "unix", DX_END);

	if (!ser || !dx_new(ser, "source", "mode", "bind", "path", o->console_sock, DX_END) ||
	    !dx_new(ser, "log", "file", o->console_log, "append", "off", DX_END) ||
	    !dx_new(ser, "target", "port", "0", DX_END))
		return -1;
	return 0;
}

/* virtio-serial channel of the QEMU guest agent (virDomainQemuAgentCommand):
 * libvirt makes its socket. */
static int
add_agent_channel(xmlNodePtr devices)
{
	xmlNodePtr ch = dx_new(devices, "channel", "type", "unix", DX_END);

	if (!ch || !dx_new(ch, "target", "type", "virtio", "name", "org.qemu.guest_agent.0", DX_END))
		return -1;
	return 0;
}

/* A UEFI source boots UEFI here: <os firmware='efi'> has libvirt pick this
 * host's firmware (and make a fresh variable store); secure boot asks for a
 * secure-boot build, which needs SMM. */
static int
map_firmware(const struct dx_walk *w, xmlNodePtr root)
{
	xmlNodePtr os = vmxml_child(root, "os"), fw, feat;

	if (!w->efi || !os || sym_xmlHasProp(os, (const xmlChar *)"firmware"))
		return 0;
	if (!sym_xmlSetProp(os, (const xmlChar *)"firmware", (const xmlChar *)"efi"))
		return -1;
	if (!w->secure_boot || vmxml_child(os, "firmware"))
		return 0;
	if (!(fw = dx_new(os, "firmware", DX_END)) ||
	    !dx_new(fw, "feature", "enabled", "yes", "name", "secure-boot", DX_END) ||
	    !dx_new(fw, "feature", "enabled", "yes", "name", "enrolled-keys", DX_END))
		return -1;
	feat = vmxml_child(root, "features");
	if (!feat && !(feat = dx_new(root, "features", DX_END)))
		return -1;
	if (!vmxml_child(feat, "smm") && !dx_new(feat, "smm", "state", "on", DX_END))
		return -1;
	return 0;
}

/* What Nestor adds to every rewritten domain. */
static int
nestor_parts(const struct dx_walk *w, xmlNodePtr root, const struct domxml_drill *o)
{
	xmlNodePtr feat, devices, cpu;

	if (map_firmware(w, root) < 0)
		return -1;
	if (o->kvm && !vmxml_child(root, "cpu") &&
	    (!(cpu = dx_new(root, "cpu", DX_END)) || dx_cpu_set(cpu, o) < 0))
		return -1;
	/* ACPI lets the guest be shut down; the test guest needs it too. */
	feat = vmxml_child(root, "features");
	if (!feat && !(feat = dx_new(root, "features", DX_END)))
		return -1;
	if (!vmxml_child(feat, "acpi") && !dx_new(feat, "acpi", DX_END))
		return -1;
	devices = vmxml_child(root, "devices");
	if (!devices && !(devices = dx_new(root, "devices", DX_END)))
		return -1;
	if (add_console(devices, o) < 0)
		return -1;
	if (o->guest_agent && add_agent_channel(devices) < 0)
		return -1;
	return 0;
}

/* The walk's warnings become d's, with a last line counting those past
 * the cap. 0 / -1. */
static int
keep_warnings(struct domxml *d, struct dx_walk *w)
{
	char **v = w->warnings;

	if (w->unlisted) {
		if (!(v = realloc(v, (w->nwarnings + 1) * sizeof(*v))))
			return -1;
		w->warnings = v;
		if (asprintf(&v[w->nwarnings], "... and %zu more dropped items", w->unlisted) < 0)
			return -1;
		w->nwarnings++;
	}
	d->warnings = v;
	d->nwarnings = w->nwarnings;
	w->warnings = NULL;
	w->nwarnings = 0;
	return 0;
}

char *
domxml_drill_xml(struct domxml *d, const struct domxml_drill *o)
{
	xmlNodePtr disks[DOMXML_MAX_DISKS], nics[DOMXML_MAX_NICS], root;
	struct dx_walk w = { .o = o, .disks = disks, .ndisks = d->ndisks, .nics = nics,
			     .nnics = d->x->nnics };
	/* d was parsed: libxml2 is loaded. */
	xmlDocPtr out = sym_xmlNewDoc((const xmlChar *)"1.0");
	xmlChar *buf = NULL;
	char *xml = NULL;
	int len = 0;

	clear_warnings(d);
	for (size_t i = 0; i < d->ndisks; i++)
		disks[i] = d->disk[i]->node;
	for (size_t i = 0; i < d->x->nnics; i++)
		nics[i] = d->x->nics[i].node;
	if (!out || !(root = sym_xmlNewNode(NULL, (const xmlChar *)"domain")))
		goto oom;
	sym_xmlDocSetRootElement(out, root);
	if (!sym_xmlSetProp(root, (const xmlChar *)"type", (const xmlChar *)(o->kvm ? "kvm" : "qemu")))
		goto oom;
	if (dx_walk_domain(&w, sym_xmlDocGetRootElement(d->doc), root) < 0 ||
	    nestor_parts(&w, root, o) < 0 || keep_warnings(d, &w) < 0)
		goto oom;
	sym_xmlDocDumpFormatMemory(out, &buf, &len, 1);
	if (!buf || len <= 0 || !(xml = strndup((const char *)buf, (size_t)len)))
		goto oom;
	goto out;
oom:
	log_error("%s: vm %s: out of memory rewriting the domain XML", d->ctx, d->x->name);
out:
	xml_dl_free(buf);
	xml_dl_free_doc(out);
	dx_walk_clear(&w);
	return xml;
}
