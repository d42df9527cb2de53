/* Domain XML rewriting for drills: the captured source definition boots the
 * replica unconverted, on copy-on-write overlays, cut off from every network. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/log.h"
#include "common/names.h"
#include "failover/domxml.h"

/* A domain definition is a few KiB; the agent caps it far below this. */
#define DOMXML_MAX (4u << 20)
#define DOMXML_MAX_DISKS 64

struct domxml {
	xmlDocPtr doc;
	char *ctx;
	char *name;
	size_t ndisks;
	xmlNodePtr disk[DOMXML_MAX_DISKS];
	char *source[DOMXML_MAX_DISKS];
	char *target[DOMXML_MAX_DISKS];
};

static bool
is_elem(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

/* xmlGetProp's string comes from xmlMalloc: copy it to the C heap. */
static char *
prop(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s = v ? strdup((const char *)v) : NULL;

	xmlFree(v);
	return s;
}

static bool
prop_is(xmlNodePtr n, const char *name, const char *want)
{
	char *v = prop(n, name);
	bool eq = v && !strcmp(v, want);

	free(v);
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
		if (is_elem(n, name))
			remove_node(n);
	}
}

static int
collect_disks(struct domxml *d, xmlNodePtr devices)
{
	for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
		char *type = NULL, *dev = NULL, *src = NULL;
		xmlNodePtr s, t;
		int bad = 0;

		if (!is_elem(n, "disk"))
			continue;
		dev = prop(n, "device");
		if (dev && strcmp(dev, "disk") != 0) {
			free(dev);
			continue; /* cdrom/floppy: emptied in the rewrite */
		}
		free(dev);
		type = prop(n, "type");
		s = child(n, "source");
		if (type && !strcmp(type, "file"))
			src = s ? prop(s, "file") : NULL;
		else if (type && !strcmp(type, "block"))
			src = s ? prop(s, "dev") : NULL;
		else
			bad = 1;
		if (bad || !src) {
			log_error("%s: vm %s: a disk of type '%s' %s; only file and block disks "
				  "can be mapped to replicated disks", d->ctx, d->name,
				  type ? type : "?", bad ? "is not supported" : "has no source");
			free(type);
			free(src);
			return -1;
		}
		free(type);
		if (d->ndisks == DOMXML_MAX_DISKS) {
			log_error("%s: vm %s: more than %d disks", d->ctx, d->name,
				  DOMXML_MAX_DISKS);
			free(src);
			return -1;
		}
		t = child(n, "target");
		d->disk[d->ndisks] = n;
		d->source[d->ndisks] = src;
		d->target[d->ndisks] = t ? prop(t, "dev") : NULL;
		if (!d->target[d->ndisks])
			d->target[d->ndisks] = strdup("");
		if (!d->target[d->ndisks]) {
			log_error("%s: out of memory", d->ctx);
			free(src);
			return -1;
		}
		d->ndisks++;
	}
	return 0;
}

struct domxml *
domxml_parse(const char *xml, size_t len, const char *ctx)
{
	struct domxml *d = calloc(1, sizeof(*d));
	xmlNodePtr root, nm;
	xmlChar *name = NULL;

	if (!d || !(d->ctx = strdup(ctx))) {
		log_error("%s: out of memory", ctx);
		goto fail;
	}
	if (len == 0 || len > DOMXML_MAX) {
		log_error("%s: domain XML of %zu bytes (1..%u allowed)", ctx, len, DOMXML_MAX);
		goto fail;
	}
	/* NONET: a definition from the network must not make us fetch anything;
	 * entities are not substituted (no NOENT). */
	d->doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			       XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
				   XML_PARSE_NOWARNING);
	if (!d->doc) {
		const xmlError *e = xmlGetLastError();
		log_error("%s: domain XML does not parse: %s", ctx,
			  e && e->message ? e->message : "unknown error");
		goto fail;
	}
	root = xmlDocGetRootElement(d->doc);
	if (!is_elem(root, "domain")) {
		log_error("%s: the XML root is not <domain>", ctx);
		goto fail;
	}
	nm = child(root, "name");
	name = nm ? xmlNodeGetContent(nm) : NULL;
	if (!name || !name_valid((const char *)name, strlen((const char *)name))) {
		log_error("%s: domain <name> '%s' is missing or not a plain name "
			  "([A-Za-z0-9._-], up to %d characters)", ctx,
			  name ? (const char *)name : "", NAME_MAX_LEN);
		goto fail;
	}
	d->name = strdup((const char *)name);
	xmlFree(name);
	name = NULL;
	if (!d->name) {
		log_error("%s: out of memory", ctx);
		goto fail;
	}
	if (collect_disks(d, child(root, "devices")) < 0)
		goto fail;
	return d;
fail:
	xmlFree(name);
	domxml_free(d);
	return NULL;
}

void
domxml_free(struct domxml *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ndisks; i++) {
		free(d->source[i]);
		free(d->target[i]);
	}
	if (d->doc)
		xmlFreeDoc(d->doc);
	free(d->name);
	free(d->ctx);
	free(d);
}

const char *
domxml_name(const struct domxml *d)
{
	return d->name;
}

size_t
domxml_ndisks(const struct domxml *d)
{
	return d->ndisks;
}

const char *
domxml_disk_source(const struct domxml *d, size_t i)
{
	return i < d->ndisks ? d->source[i] : NULL;
}

const char *
domxml_disk_target(const struct domxml *d, size_t i)
{
	return i < d->ndisks ? d->target[i] : NULL;
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
rewrite_disk(xmlNodePtr disk, const char *overlay)
{
	xmlNodePtr drv = child(disk, "driver"), src;

	remove_children(disk, "source");
	remove_children(disk, "backingStore");
	if (set_prop(disk, "type", "file") < 0)
		return -1;
	if (!drv && !(drv = new_child(disk, "driver")))
		return -1;
	if (set_prop(drv, "name", "qemu") < 0 || set_prop(drv, "type", "qcow2") < 0)
		return -1;
	if (!(src = new_child(disk, "source")) || set_prop(src, "file", overlay) < 0)
		return -1;
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
			kept = kept || is_elem(n, keep[i]);
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

char *
domxml_drill_xml(struct domxml *d, const struct domxml_drill *o)
{
	xmlNodePtr root = xmlDocGetRootElement(d->doc), devices, feat, n, next;
	xmlChar *buf = NULL;
	char *out = NULL;
	int len = 0;

	if (set_prop(root, "type", o->kvm ? "kvm" : "qemu") < 0)
		goto oom;
	xmlNodeSetContent(child(root, "name"), (const xmlChar *)o->name);
	/* A fresh UUID: the source VM (or another drill) may exist on this host. */
	remove_children(root, "uuid");
	/* No stale SELinux/AppArmor labels from the source host. */
	remove_children(root, "seclabel");
	/* TCG cannot pass through the host CPU; its default model boots anything
	 * x86_64. Under KVM the source's CPU definition is kept. */
	if (!o->kvm)
		remove_children(root, "cpu");
	feat = child(root, "features");
	if (!feat && !(feat = new_child(root, "features")))
		goto oom;
	/* ACPI lets the guest be shut down; the test guest needs it too. */
	if (!child(feat, "acpi") && !new_child(feat, "acpi"))
		goto oom;

	devices = child(root, "devices");
	if (!devices && !(devices = new_child(root, "devices")))
		goto oom;
	for (size_t i = 0; i < d->ndisks; i++)
		if (rewrite_disk(d->disk[i], o->overlays[i]) < 0)
			goto oom;
	for (n = devices->children; n; n = next) {
		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		/* the source's emulator path (e.g. /usr/libexec/qemu-kvm) may not
		 * exist here: libvirt picks this host's default */
		if (is_elem(n, "emulator") || is_elem(n, "serial") || is_elem(n, "console") ||
		    is_elem(n, "channel") || is_elem(n, "graphics") || is_elem(n, "hostdev")) {
			if (is_elem(n, "hostdev"))
				log_warn("%s: vm %s: host device passthrough dropped for the drill",
					 d->ctx, d->name);
			remove_node(n);
		} else if (is_elem(n, "disk") && is_removable(n) && child(n, "source")) {
			/* install media of the source host: an empty drive here */
			remove_children(n, "source");
		} else if (is_elem(n, "interface")) {
			if (rewrite_interface(n, o->network) < 0)
				goto oom;
		}
	}
	if (add_console(devices, o) < 0)
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
	log_error("%s: vm %s: out of memory rewriting the domain XML", d->ctx, d->name);
	return NULL;
}
