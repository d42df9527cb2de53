/* The allowlisted copy of a source domain (failover/domxml-walk.h): only
 * what the tables of domxml-allow.c name reaches the new document; every
 * element and attribute left behind is listed as a warning, except the few
 * Nestor replaces by design (the quiet lists below). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/vmxml.h"
#include "common/xml-dl.h"
#include "failover/domxml-allow.h"
#include "failover/domxml-walk.h"
#include "failover/domxml.h"

#define DX_PATH_MAX 192
#define DX_SHOW_MAX 48 /* bytes of a peer's name or value shown */

/* Attributes and children the rewrite replaces by its own: not warned. */
static const char *const q_disk_attrs[] = { "type", "device", "sgio", "rawio", NULL };
static const char *const q_disk_children[] = { "driver", "source", NULL };
static const char *const q_driver_attrs[] = { "name", "type", NULL };
static const char *const q_nic_attrs[] = { "type", NULL };
static const char *const q_nic_children[] = { "source", NULL };
static const char *const q_cpu_children[] = { "model", "vendor", "feature", "cache", NULL };
/* Character device types that name a path, device or service of a host. */
static const char *const host_chardevs[] = { "file", "dev", "pipe", "unix", "tcp", "udp",
					     "stdio", "nmdm", "spiceport", NULL };

static int copy_children(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src,
			 xmlNodePtr dst, const char *path, const char *const *quiet);

/* in, cut at DX_SHOW_MAX bytes, printable ASCII; the rest as \xNN */
static void
dx_escape(char *out, size_t size, const char *in)
{
	size_t o = 0, i = 0;

	for (; i < DX_SHOW_MAX && in[i] && o + 5 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
	}
	if (in[i] && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

void
dx_warn(struct dx_walk *w, const char *path, const char *what, const char *why)
{
	char shown[DX_SHOW_MAX * 4 + 8] = "", *line = NULL;

	if (w->nwarnings >= DX_MAX_WARNINGS) {
		w->unlisted++;
		return;
	}
	if (what)
		dx_escape(shown, sizeof(shown), what);
	if (asprintf(&line, "%s%s%s%s: dropped (%s)", path, what ? "='" : "", shown,
		     what ? "'" : "", why) < 0) {
		w->oom = true;
		return;
	}
	w->warnings[w->nwarnings++] = line;
}

void
dx_walk_clear(struct dx_walk *w)
{
	while (w->nwarnings > 0)
		free(w->warnings[--w->nwarnings]);
	w->unlisted = 0;
	free(w->warnings);
	w->warnings = NULL;
}

/* out = path/<prefix>name (ns prefix:name in a namespace), escaped */
static void
child_path(char *out, const char *path, const xmlChar *n, xmlNsPtr ns, const char *prefix)
{
	char raw[DX_PATH_MAX], name[DX_SHOW_MAX * 4 + 8];
	const char *pfx = ns && ns->prefix ? (const char *)ns->prefix : "";

	snprintf(raw, sizeof(raw), "%s%s%s", pfx, *pfx ? ":" : "", (const char *)n);
	dx_escape(name, sizeof(name), raw);
	if (snprintf(out, DX_PATH_MAX, "%s/%s%s", path, prefix, name) >= DX_PATH_MAX)
		memcpy(out + DX_PATH_MAX - 4, "...", 4);
}

/* out = path[key=value of src] when src has that attribute, else path */
static void
qualify(char *out, const char *path, xmlNodePtr src, const char *key)
{
	xmlChar *v = sym_xmlGetNoNsProp(src, (const xmlChar *)key);
	char shown[DX_SHOW_MAX * 4 + 8];

	if (!v) {
		snprintf(out, DX_PATH_MAX, "%s", path);
		return;
	}
	dx_escape(shown, sizeof(shown), (const char *)v);
	xml_dl_free(v);
	if (snprintf(out, DX_PATH_MAX, "%s[%s=%s]", path, key, shown) >= DX_PATH_MAX)
		memcpy(out + DX_PATH_MAX - 4, "...", 4);
}

xmlNodePtr
dx_new(xmlNodePtr parent, const char *name, ...)
{
	xmlNodePtr n = sym_xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
	const char *k, *v;
	va_list ap;

	va_start(ap, name);
	while (n && (k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (!sym_xmlSetProp(n, (const xmlChar *)k, (const xmlChar *)v))
			n = NULL;
	}
	va_end(ap);
	return n;
}

static char *
prop(xmlNodePtr n, const char *name)
{
	return (char *)sym_xmlGetNoNsProp(n, (const xmlChar *)name);
}

static bool
prop_in(xmlNodePtr n, const char *name, const char *const *values)
{
	char *v = prop(n, name);
	bool in = v && dx_listed(values, v);

	xml_dl_free(v);
	return in;
}

/* Attributes of src allowed by rule onto dst. 1: a required one is missing
 * or refused (the element goes), 0, -1 out of memory. */
static int
copy_attrs(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src, xmlNodePtr dst,
	   const char *path, const char *const *quiet)
{
	for (xmlAttrPtr a = src->properties; a; a = a->next) {
		const char *name = (const char *)a->name;
		const struct dx_attr *spec = a->ns ? NULL : dx_attr(rule, name);
		char apath[DX_PATH_MAX];
		xmlChar *v;
		bool ok;

		if (!a->ns && dx_listed(quiet, name))
			continue;
		child_path(apath, path, a->name, a->ns, "@");
		if (!spec) {
			dx_warn(w, apath, NULL, a->ns ? "foreign namespace" : "not in the allowlist");
			continue;
		}
		v = sym_xmlNodeListGetString(src->doc, a->children, 1);
		ok = dx_value_ok(spec->val, spec->values, v ? (const char *)v : "");
		if (ok && !sym_xmlSetProp(dst, a->name, v))
			w->oom = true;
		if (!ok)
			dx_warn(w, apath, v ? (const char *)v : "", "value not allowed");
		xml_dl_free(v);
		if (w->oom)
			return -1;
	}
	for (const struct dx_attr *s = rule->attrs; s && s->name; s++)
		if (s->required && !sym_xmlHasProp(dst, (const xmlChar *)s->name))
			return 1;
	return 0;
}

xmlChar *
dx_text(xmlNodePtr src)
{
	xmlChar *t = sym_xmlNodeGetContent(src);
	size_t b = 0, e;

	if (!t)
		return NULL;
	e = strlen((char *)t);
	while (b < e && strchr(" \t\r\n", t[b]))
		b++;
	while (e > b && strchr(" \t\r\n", t[e - 1]))
		e--;
	memmove(t, t + b, e - b);
	t[e - b] = '\0';
	return t;
}

static int copy_hooked(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src,
		       xmlNodePtr parent, const char *path);

/* src under rule, as a new child of parent, or dropped as a whole when a
 * required part of it is not allowed (that part is warned too). 0 / -1. */
static int
copy_element(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src, xmlNodePtr parent,
	     const char *path)
{
	xmlNodePtr el;
	xmlChar *text = NULL;
	const char *why = NULL;
	char qpath[DX_PATH_MAX];
	int r;

	if (rule->hook != DX_COPY)
		return copy_hooked(w, rule, src, parent, path);
	if (!(el = sym_xmlNewNode(NULL, src->name)))
		goto oom;
	if ((r = copy_attrs(w, rule, src, el, path, NULL)) < 0)
		goto oom;
	if (r > 0)
		why = "a required attribute is missing or not allowed";
	if (!why && rule->text != DX_NONE) {
		if (!(text = dx_text(src)))
			goto oom;
		if (dx_value_ok(rule->text, rule->text_values, (const char *)text))
			sym_xmlNodeAddContent(el, text);
		else
			why = "value not allowed";
	}
	if (!why && copy_children(w, rule, src, el, path, NULL) < 0)
		goto oom;
	if (!why && rule->required_child && !vmxml_child(el, rule->required_child))
		why = "a required child is missing or not allowed";
	if (why) {
		qualify(qpath, path, src, "type");
		dx_warn(w, qpath, text ? (const char *)text : NULL, why);
		xml_dl_free(text);
		sym_xmlFreeNode(el);
		return w->oom ? -1 : 0;
	}
	xml_dl_free(text);
	sym_xmlAddChild(parent, el);
	return w->oom ? -1 : 0;
oom:
	xml_dl_free(text);
	sym_xmlFreeNode(el);
	w->oom = true;
	return -1;
}

static int
copy_children(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src, xmlNodePtr dst,
	      const char *path, const char *const *quiet)
{
	for (xmlNodePtr n = src->children; n; n = n->next) {
		const struct dx_rule *r;
		char cpath[DX_PATH_MAX];

		/* text, comments, processing instructions: never copied */
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!n->ns && dx_listed(quiet, (const char *)n->name))
			continue;
		child_path(cpath, path, n->name, n->ns, "");
		r = n->ns ? NULL : dx_child(rule, (const char *)n->name);
		/* <domain>'s children are single: a second <name>, <cpu> or
		 * <devices> would be read differently by libvirt than here */
		if (r && rule == dx_root() && vmxml_child(dst, (const char *)n->name)) {
			dx_warn(w, cpath, NULL, "a second one");
			continue;
		}
		if (!r) {
			char qpath[DX_PATH_MAX];

			qualify(qpath, cpath, n, "type");
			dx_warn(w, qpath, NULL, n->ns ? "foreign namespace"
					      : dx_drop_reason((const char *)n->name));
			continue;
		}
		if (copy_element(w, r, n, dst, cpath) < 0)
			return -1;
	}
	return w->oom ? -1 : 0;
}

/* A copy of src under rule whose own attributes and some children the
 * caller sets: el is made, src's allowed attributes and children (less the
 * quiet ones) copied onto it. */
static xmlNodePtr
copy_shell(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src, xmlNodePtr el,
	   const char *path, const char *const *qattrs, const char *const *qchildren)
{
	if (!el || copy_attrs(w, rule, src, el, path, qattrs) < 0 ||
	    copy_children(w, rule, src, el, path, qchildren) < 0) {
		w->oom = true;
		return NULL;
	}
	return el;
}

/* ---- elements the rewrite makes itself -------------------------------- */

int
dx_cpu_set(xmlNodePtr cpu, const struct domxml_drill *o)
{
	xmlNodePtr m;

	/* The source host's exact CPU may not exist here: host-model, or a
	 * named baseline model when host-model cannot start. */
	if (!o->cpu_model)
		return sym_xmlSetProp(cpu, (const xmlChar *)"mode", (const xmlChar *)"host-model") &&
		       sym_xmlSetProp(cpu, (const xmlChar *)"check", (const xmlChar *)"none") ? 0 : -1;
	if (!sym_xmlSetProp(cpu, (const xmlChar *)"mode", (const xmlChar *)"custom") ||
	    !sym_xmlSetProp(cpu, (const xmlChar *)"match", (const xmlChar *)"exact") ||
	    !sym_xmlSetProp(cpu, (const xmlChar *)"check", (const xmlChar *)"none") ||
	    !(m = dx_new(cpu, "model", "fallback", "allow", DX_END)))
		return -1;
	sym_xmlNodeSetContent(m, (const xmlChar *)o->cpu_model);
	return 0;
}

/* TCG: no <cpu> (its default model boots anything x86_64). KVM: Nestor's
 * mode; the source's topology and NUMA cells stay, its model, vendor,
 * features and cache go (replaced, not warned). */
static int
hook_cpu(struct dx_walk *w, xmlNodePtr src, xmlNodePtr parent, const char *path)
{
	xmlNodePtr el;

	if (!w->o->kvm)
		return 0;
	if (!(el = dx_new(parent, "cpu", DX_END)) || dx_cpu_set(el, w->o) < 0 ||
	    copy_children(w, dx_made_rule(DX_MADE_CPU), src, el, path, q_cpu_children) < 0) {
		w->oom = true;
		return -1;
	}
	return 0;
}

/* The source's firmware path means nothing here: a pflash loader is UEFI,
 * which <os firmware='efi'> has libvirt pick on this host. */
static void
hook_loader(struct dx_walk *w, xmlNodePtr src, const char *path)
{
	static const char *const pflash[] = { "pflash", NULL }, *const yes[] = { "yes", NULL };

	if (!prop_in(src, "type", pflash)) {
		dx_warn(w, path, NULL, "host path: this host's default firmware is used");
		return;
	}
	w->efi = true;
	w->secure_boot = w->secure_boot || prop_in(src, "secure", yes);
	dx_warn(w, path, NULL, "host path: UEFI firmware is chosen by type on this host");
}

/* A new <disk type device>, not linked yet; NULL on out of memory. */
static xmlNodePtr
new_disk(const char *type, const char *device)
{
	xmlNodePtr el = sym_xmlNewNode(NULL, (const xmlChar *)"disk");

	if (el && (!sym_xmlSetProp(el, (const xmlChar *)"type", (const xmlChar *)type) ||
		   !sym_xmlSetProp(el, (const xmlChar *)"device", (const xmlChar *)device))) {
		sym_xmlFreeNode(el);
		return NULL;
	}
	return el;
}

/* el joins parent, unless no <target> of the source was allowed: libvirt
 * could not place the disk, so it goes (warned). */
static void
attach_disk(struct dx_walk *w, xmlNodePtr el, xmlNodePtr parent, const char *path)
{
	if (vmxml_child(el, "target")) {
		sym_xmlAddChild(parent, el);
		return;
	}
	dx_warn(w, path, NULL, "no allowed <target>");
	sym_xmlFreeNode(el);
}

/* A replicated disk on the point's clone: a qcow2 overlay, or
 * "rbd:POOL/IMAGE" (a raw RBD clone opened by qemu's rbd driver, the
 * keyring from the ceph.conf). The guest-visible rest is kept. */
static int
mapped_disk(struct dx_walk *w, xmlNodePtr src, xmlNodePtr parent, const char *path,
	    const char *overlay)
{
	const struct dx_rule *rule = dx_made_rule(DX_MADE_DISK);
	bool rbd = strncmp(overlay, "rbd:", 4) == 0;
	xmlNodePtr el = new_disk(rbd ? "network" : "file", "disk"), drv, sdrv, s;
	char dpath[DX_PATH_MAX];

	if (!el || copy_attrs(w, rule, src, el, path, q_disk_attrs) < 0 ||
	    !(drv = dx_new(el, "driver", "name", "qemu", "type", rbd ? "raw" : "qcow2", DX_END)))
		goto oom;
	if (snprintf(dpath, sizeof(dpath), "%s/driver", path) >= (int)sizeof(dpath))
		dpath[0] = '\0'; /* cannot be: paths of disks are short */
	if ((sdrv = vmxml_child(src, "driver")) != NULL &&
	    copy_attrs(w, dx_child(rule, "driver"), sdrv, drv, dpath, q_driver_attrs) < 0)
		goto oom;
	s = rbd ? dx_new(el, "source", "protocol", "rbd", "name", overlay + 4, DX_END)
		: dx_new(el, "source", "file", overlay, DX_END);
	if (!s || (rbd && w->o->rbd_conf && !dx_new(s, "config", "file", w->o->rbd_conf, DX_END)))
		goto oom;
	if (copy_children(w, rule, src, el, path, q_disk_children) < 0)
		goto oom;
	attach_disk(w, el, parent, path);
	return w->oom ? -1 : 0;
oom:
	sym_xmlFreeNode(el);
	w->oom = true;
	return -1;
}

/* A cdrom or floppy: the source host's medium means nothing here, the
 * drive stays, empty. */
static int
empty_drive(struct dx_walk *w, xmlNodePtr src, xmlNodePtr parent, const char *path,
	    const char *device)
{
	xmlNodePtr el = new_disk("file", device);

	if (!el || !copy_shell(w, dx_made_rule(DX_MADE_CDROM), src, el, path, q_disk_attrs, NULL)) {
		sym_xmlFreeNode(el);
		w->oom = true;
		return -1;
	}
	attach_disk(w, el, parent, path);
	return w->oom ? -1 : 0;
}

static int
hook_disk(struct dx_walk *w, xmlNodePtr src, xmlNodePtr parent, const char *path)
{
	static const char *const cdrom[] = { "cdrom", NULL }, *const floppy[] = { "floppy", NULL };
	char dpath[DX_PATH_MAX];
	size_t k = 0;

	while (k < w->ndisks && w->disks[k] != src)
		k++;
	qualify(dpath, path, vmxml_child(src, "target") ? vmxml_child(src, "target") : src,
		"dev");
	if (k < w->ndisks && w->o->overlays[k])
		return mapped_disk(w, src, parent, dpath, w->o->overlays[k]);
	if (k < w->ndisks)
		dx_warn(w, dpath, NULL, "not replicated: left out");
	else if (prop_in(src, "device", cdrom) || prop_in(src, "device", floppy))
		return empty_drive(w, src, parent, dpath, prop_in(src, "device", cdrom)
							 ? "cdrom" : "floppy");
	else
		dx_warn(w, dpath, NULL, "a device kind the point does not provide");
	return 0;
}

/* MAC, model and guest-visible address stay: the guest's configuration
 * must see the same NIC. It joins Nestor's network. */
static int
hook_interface(struct dx_walk *w, xmlNodePtr src, xmlNodePtr parent, const char *path)
{
	const struct domxml_drill *o = w->o;
	char ipath[DX_PATH_MAX];
	const char *net;
	xmlNodePtr el;
	char *type;
	size_t k = 0;

	while (k < w->nnics && w->nics[k] != src)
		k++;
	qualify(ipath, path, src, "type");
	type = prop(src, "type");
	if (k == w->nnics || !dx_nic_type_ok(type)) {
		dx_warn(w, ipath, NULL, "a host network device or service: only network and "
			"bridge interfaces are re-attached");
		xml_dl_free(type);
		return 0;
	}
	xml_dl_free(type);
	net = o->networks && o->networks[k] ? o->networks[k] : o->network;
	el = dx_new(parent, "interface", "type", "network", DX_END);
	if (!copy_shell(w, dx_made_rule(DX_MADE_NIC), src, el, ipath, q_nic_attrs, q_nic_children) ||
	    !dx_new(el, "source", "network", net, DX_END)) {
		w->oom = true;
		return -1;
	}
	return 0;
}

/* Nestor defines the console (and the guest agent channel) itself; a pty
 * serial or console of the source is what it replaces. */
static void
hook_chardev(struct dx_walk *w, xmlNodePtr src, const char *path)
{
	static const char *const pty[] = { "pty", NULL };
	char cpath[DX_PATH_MAX];

	if ((vmxml_is(src, "serial") || vmxml_is(src, "console")) && prop_in(src, "type", pty))
		return;
	qualify(cpath, path, src, "type");
	dx_warn(w, cpath, NULL, prop_in(src, "type", host_chardevs)
		? "host character device"
		: "character device of the source: Nestor defines its own");
}

static int
copy_hooked(struct dx_walk *w, const struct dx_rule *rule, xmlNodePtr src, xmlNodePtr parent,
	    const char *path)
{
	xmlNodePtr el;
	xmlChar *t;

	switch (rule->hook) {
	case DX_NAME:
		if (!(el = dx_new(parent, "name", DX_END)))
			return -1;
		sym_xmlNodeSetContent(el, (const xmlChar *)w->o->name);
		return 0;
	case DX_UUID_EL:
		/* a drill gets a fresh UUID: the source (or another drill) may
		 * run on this host; a failover keeps the guest's SMBIOS UUID */
		if (!w->o->keep_uuid)
			return 0;
		if (!(t = dx_text(src)))
			return -1;
		if (!dx_value_ok(DX_UUID, NULL, (const char *)t)) {
			dx_warn(w, path, (const char *)t, "not a UUID");
			xml_dl_free(t);
			return 0;
		}
		el = dx_new(parent, "uuid", DX_END);
		if (el)
			sym_xmlNodeSetContent(el, t);
		xml_dl_free(t);
		return el ? 0 : -1;
	case DX_CPU:
		return hook_cpu(w, src, parent, path);
	case DX_LOADER:
		hook_loader(w, src, path);
		return 0;
	case DX_DISK:
		return hook_disk(w, src, parent, path);
	case DX_INTERFACE:
		return hook_interface(w, src, parent, path);
	case DX_CHARDEV:
		hook_chardev(w, src, path);
		return 0;
	case DX_COPY:
		break;
	}
	return copy_element(w, rule, src, parent, path);
}

int
dx_walk_domain(struct dx_walk *w, xmlNodePtr src, xmlNodePtr dst)
{
	static const char *const q_root[] = { "type", NULL };

	if (!w->warnings && !(w->warnings = calloc(DX_MAX_WARNINGS, sizeof(*w->warnings)))) {
		w->oom = true;
		return -1;
	}
	if (copy_attrs(w, dx_root(), src, dst, "/domain", q_root) < 0 ||
	    copy_children(w, dx_root(), src, dst, "/domain", NULL) < 0) {
		w->oom = true;
		return -1;
	}
	return 0;
}
