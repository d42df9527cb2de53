/* libvirt domain XML into plain structs: disks (file, block, rbd), NICs,
 * the guest agent channel. The callers decide what a disk means to them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/vmxml.h"
#include "common/xml-dl.h"

/* Bounds the arrays a hostile definition could grow. */
#define VMXML_MAX_DEVICES 1024
#define VMXML_MAX_HOSTS   64
#define VMXML_AGENT       "org.qemu.guest_agent.0"

/* A failed allocation sets oom; the whole read fails once at the end.
 * Every string read is recorded in x->owned, so vmxml_free frees them
 * without knowing the fields. */
struct vmxml_reader {
	const char *what;
	struct vmxml *x;
	int oom;
};

bool
vmxml_is(const struct _xmlNode *n, const char *name)
{
	/* an element of another namespace is never libvirt's */
	return n && n->type == XML_ELEMENT_NODE && !n->ns &&
	       strcmp((const char *)n->name, name) == 0;
}

struct _xmlNode *
vmxml_child(const struct _xmlNode *parent, const char *name)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (vmxml_is(n, name))
			return n;
	return NULL;
}

/* Records p (malloc'd) as owned by the vmxml being read; p itself, or NULL
 * (p freed) when it cannot be recorded. */
static void *
vmxml_own(struct vmxml_reader *rd, void *p)
{
	struct vmxml *x = rd->x;
	void **nv;

	if (!p) {
		rd->oom = 1;
		return NULL;
	}
	nv = realloc(x->owned, (x->nowned + 1) * sizeof(*nv));
	if (!nv) {
		free(p);
		rd->oom = 1;
		return NULL;
	}
	x->owned = nv;
	x->owned[x->nowned++] = p;
	return p;
}

/* xmlGetProp's string comes from xmlMalloc: copied to the C heap. NULL if
 * n or the attribute is absent. */
static char *
vmxml_prop(struct vmxml_reader *rd, xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? sym_xmlGetProp(n, (const xmlChar *)name) : NULL;
	char *s = NULL;

	if (v) {
		s = vmxml_own(rd, strdup((const char *)v));
		xml_dl_free(v);
	}
	return s;
}

static bool
vmxml_prop_is(xmlNodePtr n, const char *name, const char *want)
{
	xmlChar *v = n ? sym_xmlGetProp(n, (const xmlChar *)name) : NULL;
	bool eq = v && strcmp((const char *)v, want) == 0;

	xml_dl_free(v);
	return eq;
}

static void
vmxml_rbd_hosts(struct vmxml_reader *rd, xmlNodePtr src, struct vmxml_rbd *r)
{
	size_t n = 0;

	for (xmlNodePtr h = src->children; h; h = h->next)
		n += vmxml_is(h, "host");
	if (n > VMXML_MAX_HOSTS)
		n = VMXML_MAX_HOSTS;
	if (n == 0 || !(r->hosts = vmxml_own(rd, calloc(n, sizeof(*r->hosts)))))
		return;
	for (xmlNodePtr h = src->children; h && r->nhosts < n; h = h->next) {
		char *name, *port, *s = NULL;

		if (!vmxml_is(h, "host"))
			continue;
		name = vmxml_prop(rd, h, "name");
		port = vmxml_prop(rd, h, "port");
		if (!name)
			continue;
		if (asprintf(&s, "%s%s%s", name, port ? ":" : "", port ? port : "") < 0)
			s = NULL;
		s = vmxml_own(rd, s);
		if (s)
			r->hosts[r->nhosts++] = s;
	}
}

static void
vmxml_rbd_read(struct vmxml_reader *rd, xmlNodePtr disk, xmlNodePtr src,
	       struct vmxml_rbd *r)
{
	xmlNodePtr cfg = vmxml_child(src, "config"), auth = vmxml_child(disk, "auth");
	xmlNodePtr secret = vmxml_child(auth, "secret");
	const char *slash;

	r->name = vmxml_prop(rd, src, "name");
	r->fixed_snapshot = vmxml_child(src, "snapshot") != NULL;
	r->has_config = cfg != NULL;
	r->conf = vmxml_prop(rd, cfg, "file");
	r->has_auth = auth != NULL;
	r->user = vmxml_prop(rd, auth, "username");
	r->secret = vmxml_prop(rd, secret, "uuid");
	if (!r->secret)
		r->secret = vmxml_prop(rd, secret, "usage");
	vmxml_rbd_hosts(rd, src, r);
	/* pool/namespace/image and image@snap name something else than the
	 * writable image of a pool. */
	slash = r->name ? strchr(r->name, '/') : NULL;
	if (!slash || slash == r->name || !slash[1] || strchr(slash + 1, '/') ||
	    strchr(r->name, '@'))
		return;
	r->pool = vmxml_own(rd, strndup(r->name, (size_t)(slash - r->name)));
	r->image = vmxml_own(rd, strdup(slash + 1));
}

static void
vmxml_disk_read(struct vmxml_reader *rd, xmlNodePtr n, struct vmxml_disk *d)
{
	xmlNodePtr src = vmxml_child(n, "source"), boot = vmxml_child(n, "boot");
	xmlChar *order = boot ? sym_xmlGetProp(boot, (const xmlChar *)"order") : NULL;
	uint64_t v;

	d->node = n;
	d->type = vmxml_prop(rd, n, "type");
	d->device = vmxml_prop(rd, n, "device");
	d->target = vmxml_prop(rd, vmxml_child(n, "target"), "dev");
	d->format = vmxml_prop(rd, vmxml_child(n, "driver"), "type");
	if (!d->type || strcmp(d->type, "file") == 0)
		d->source = vmxml_prop(rd, src, "file");
	else if (strcmp(d->type, "block") == 0)
		d->source = vmxml_prop(rd, src, "dev");
	d->readonly = vmxml_child(n, "readonly") != NULL;
	d->shareable = vmxml_child(n, "shareable") != NULL;
	if (order && parse_u64((const char *)order, &v) == 0 && v <= 0xffffffffu)
		d->boot = (unsigned)v;
	xml_dl_free(order);
	d->rbd = d->type && strcmp(d->type, "network") == 0 && src &&
		 vmxml_prop_is(src, "protocol", "rbd");
	if (d->rbd)
		vmxml_rbd_read(rd, n, src, &d->r);
}

static void
vmxml_nic_read(struct vmxml_reader *rd, xmlNodePtr n, struct vmxml_nic *c)
{
	xmlNodePtr src = vmxml_child(n, "source");

	c->node = n;
	c->type = vmxml_prop(rd, n, "type");
	c->mac = vmxml_prop(rd, vmxml_child(n, "mac"), "address");
	c->model = vmxml_prop(rd, vmxml_child(n, "model"), "type");
	if (c->type && strcmp(c->type, "network") == 0)
		c->source = vmxml_prop(rd, src, "network");
	else if (c->type && strcmp(c->type, "bridge") == 0)
		c->source = vmxml_prop(rd, src, "bridge");
}

static bool
vmxml_agent_connected(xmlNodePtr channel)
{
	for (xmlNodePtr t = channel->children; t; t = t->next)
		if (vmxml_is(t, "target") && vmxml_prop_is(t, "name", VMXML_AGENT) &&
		    vmxml_prop_is(t, "state", "connected"))
			return true;
	return false;
}

/* Grows *v (elements of size sz) by one zeroed element; NULL if full. */
static void *
vmxml_grow(void **v, size_t *n, size_t sz, const char *what, const char *kind)
{
	char *nv;

	if (*n == VMXML_MAX_DEVICES) {
		log_error("%s: more than %d %s", what, VMXML_MAX_DEVICES, kind);
		return NULL;
	}
	nv = realloc(*v, (*n + 1) * sz);
	if (!nv) {
		log_error("%s: out of memory", what);
		return NULL;
	}
	*v = nv;
	memset(nv + *n * sz, 0, sz);
	return nv + (*n)++ * sz;
}

/* The file a <serial> or <console> is logged to, the first one that is
 * (a failback checks an on-prem guest's boot marker there). */
static void
vmxml_console_read(struct vmxml_reader *rd, xmlNodePtr n, struct vmxml *x)
{
	xmlNodePtr log = vmxml_child(n, "log");

	if (x->console_log)
		return;
	if (log) {
		x->console_log = vmxml_prop(rd, log, "file");
		x->console_log_append = vmxml_prop_is(log, "append", "on");
	} else if (vmxml_prop_is(n, "type", "file")) {
		x->console_log = vmxml_prop(rd, vmxml_child(n, "source"), "path");
		x->console_log_append = vmxml_prop_is(vmxml_child(n, "source"), "append", "on");
	}
}

static int
vmxml_devices(struct vmxml_reader *rd, xmlNodePtr devs, struct vmxml *x)
{
	for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next)
		if (vmxml_is(n, "serial"))
			vmxml_console_read(rd, n, x);
	for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next)
		if (vmxml_is(n, "console"))
			vmxml_console_read(rd, n, x);

	for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
		if (vmxml_is(n, "disk")) {
			struct vmxml_disk *d = vmxml_grow((void **)&x->disks, &x->ndisks,
							  sizeof(*d), rd->what, "disks");
			if (!d)
				return -1;
			vmxml_disk_read(rd, n, d);
		} else if (vmxml_is(n, "interface")) {
			struct vmxml_nic *c = vmxml_grow((void **)&x->nics, &x->nnics,
							 sizeof(*c), rd->what, "interfaces");
			if (!c)
				return -1;
			vmxml_nic_read(rd, n, c);
		} else if (vmxml_is(n, "channel") && vmxml_agent_connected(n)) {
			x->agent_connected = true;
		}
	}
	return 0;
}

/* SAX hook called at "<!DOCTYPE": a domain definition has none, and one
 * is where entity declarations (billion laughs, external entities) live.
 * The parse stops before the internal subset is read. */
static void
vmxml_refuse_dtd(void *user, const xmlChar *name, const xmlChar *ext_id,
		 const xmlChar *sys_id)
{
	xmlParserCtxtPtr ctxt = user;

	(void)name;
	(void)ext_id;
	(void)sys_id;
	if (ctxt->_private)
		*(bool *)ctxt->_private = true;
	sym_xmlStopParser(ctxt);
}

struct _xmlDoc *
vmxml_parse_doc(const char *xml, size_t len, const char *what, bool blanks)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;
	bool dtd = false;

	if (len == 0 || len > VMXML_MAX_LEN) {
		log_error("%s: domain XML of %zu bytes (1..%u allowed)", what, len,
			  VMXML_MAX_LEN);
		return NULL;
	}
	if (xml_dl_load() < 0)
		return NULL; /* logged */
	if (!(ctxt = sym_xmlNewParserCtxt())) {
		log_error("%s: out of memory", what);
		return NULL;
	}
	ctxt->_private = &dtd;
	ctxt->sax->internalSubset = vmxml_refuse_dtd;
	/* NONET: a definition from the network must not make us fetch
	 * anything; entities are not substituted (no NOENT), no DTD is loaded
	 * (no DTDLOAD), and libxml2's limits stay (no HUGE). */
	doc = sym_xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				(blanks ? 0 : XML_PARSE_NOBLANKS));
	/* the stop's error code too, should a libxml2 reset _private */
	if (dtd || ctxt->errNo == XML_ERR_USER_STOP ||
	    (doc && (doc->intSubset || doc->extSubset))) {
		log_error("%s: domain XML has a DOCTYPE (DTD or entity declarations): "
			  "refused", what);
		xml_dl_free_doc(doc);
		doc = NULL;
	} else if (!doc) {
		const xmlError *e = sym_xmlCtxtGetLastError(ctxt);
		const char *m = e && e->message ? e->message : "unknown error";

		log_error("%s: domain XML does not parse: %.*s", what,
			  (int)strcspn(m, "\n"), m);
	}
	sym_xmlFreeParserCtxt(ctxt);
	return doc;
}

struct vmxml *
vmxml_read_doc(struct _xmlDoc *doc, const char *what)
{
	struct vmxml_reader rd = { what, NULL, 0 };
	xmlNodePtr root = sym_xmlDocGetRootElement(doc), nm;
	struct vmxml *x;
	xmlChar *name;

	if (!vmxml_is(root, "domain")) {
		log_error("%s: the XML root is not <domain>", what);
		return NULL;
	}
	x = rd.x = calloc(1, sizeof(*x));
	if (!x) {
		log_error("%s: out of memory", what);
		return NULL;
	}
	nm = vmxml_child(root, "name");
	name = nm ? sym_xmlNodeGetContent(nm) : NULL;
	if (name)
		x->name = vmxml_own(&rd, strdup((const char *)name));
	xml_dl_free(name);
	if (vmxml_devices(&rd, vmxml_child(root, "devices"), x) < 0)
		goto fail;
	if (rd.oom) {
		log_error("%s: out of memory", what);
		goto fail;
	}
	return x;
fail:
	vmxml_free(x);
	return NULL;
}

struct vmxml *
vmxml_parse(const char *xml, size_t len, const char *what)
{
	xmlDocPtr doc = vmxml_parse_doc(xml, len, what, true);
	struct vmxml *x = doc ? vmxml_read_doc(doc, what) : NULL;

	if (x) {
		/* the nodes die with the document */
		for (size_t i = 0; i < x->ndisks; i++)
			x->disks[i].node = NULL;
		for (size_t i = 0; i < x->nnics; i++)
			x->nics[i].node = NULL;
	}
	xml_dl_free_doc(doc);
	return x;
}

void
vmxml_free(struct vmxml *x)
{
	if (!x)
		return;
	/* every string and host list is in owned; the arrays are not */
	while (x->nowned > 0)
		free(x->owned[--x->nowned]);
	free(x->owned);
	free(x->disks);
	free(x->nics);
	free(x);
}

int
vmxml_disk_rbd(const struct vmxml_disk *disk, const char *what)
{
	const struct vmxml_rbd *r = &disk->r;

	if (!disk->rbd)
		return 0;
	if (!r->pool) {
		log_error("%s: RBD source name \"%s\" is not pool/image", what,
			  r->name ? r->name : "");
		return -1;
	}
	if (r->fixed_snapshot) {
		log_error("%s: RBD disk on a fixed snapshot of %s: not replicated "
			  "(mark it <readonly/> to leave it out)", what, r->name);
		return -1;
	}
	if ((r->has_config && !r->conf) || (r->has_auth && !r->user)) {
		log_error("%s: incomplete <config>/<auth>", what);
		return -1;
	}
	return 1;
}

bool
vmxml_disk_is_disk(const struct vmxml_disk *disk)
{
	return !disk->device || strcmp(disk->device, "disk") == 0;
}
