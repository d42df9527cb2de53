/* The "libvirt" source's domains: their live definition and disks (read
 * with common/vmxml), the committed state per domain, and whether the
 * group can be incremental. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/vmxml.h"
#include "common/xml-dl.h"
#include "snapshot/libvirt-priv.h"
#include "snapshot/srcstate.h"

/* ---- helpers, XML ------------------------------------------------------- */

const char *
lv_err(void)
{
	return sym_virGetLastErrorMessage();
}

int
lv_unlink(const char *path, const char *what)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("libvirt: %s %s: unlink: %m", what, path);
		return -1;
	}
	return 0;
}

xmlDocPtr
lv_xml_parse(const char *xml, const char *what)
{
	xmlDocPtr doc;
	size_t len = strlen(xml);

	if (len > INT32_MAX) {
		log_error("libvirt: %s: XML too large", what);
		return NULL;
	}
	if (xml_dl_load() < 0)
		return NULL; /* logged */
	doc = sym_xmlReadMemory(xml, (int)len, "libvirt.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc)
		log_error("libvirt: %s: unparsable XML", what);
	return doc;
}

/* Number of nodes matching expr; -1 on error. */
int
lv_xpath_count(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = sym_xmlXPathNewContext(doc);
	xmlXPathObjectPtr obj = NULL;
	int n = -1;

	if (!ctx)
		return -1;
	obj = sym_xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (obj && obj->type == XPATH_NODESET)
		n = obj->nodesetval ? obj->nodesetval->nodeNr : 0;
	sym_xmlXPathFreeObject(obj);
	sym_xmlXPathFreeContext(ctx);
	return n;
}

/* String value of expr (malloc'd, "" if nothing matches); NULL on error. */
char *
lv_xpath_string(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = sym_xmlXPathNewContext(doc);
	xmlXPathObjectPtr obj = NULL;
	char *s = NULL;

	if (!ctx)
		return NULL;
	obj = sym_xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (obj) {
		xmlChar *v = sym_xmlXPathCastToString(obj);
		if (v) {
			s = strdup((const char *)v);
			xml_dl_free(v);
		}
	}
	sym_xmlXPathFreeObject(obj);
	sym_xmlXPathFreeContext(ctx);
	return s;
}

/* Path for a double-quoted XML attribute. malloc'd. */
char *
lv_xml_attr(const char *s)
{
	xmlChar *e = xml_dl_load() == 0 ? sym_xmlEncodeSpecialChars(NULL, (const xmlChar *)s)
					 : NULL;
	char *r = NULL;

	if (e) {
		r = strdup((const char *)e);
		xml_dl_free(e);
	}
	return r;
}

/* ---- disks of a domain -------------------------------------------------- */

/* One Ceph connection serves the group's RBD disks: their <config file>
 * and <auth username> must agree where the caller did not set them. */
static int
lv_rbd_agree(const char **seen, const char *v, const char *what, const char *disk)
{
	if (!v)
		return 0;
	if (*seen && strcmp(*seen, v) != 0) {
		log_error("libvirt: disk %s: RBD %s %s differs from %s of another "
			  "disk of the group; set the group's ceph_conf / ceph_client",
			  disk, what, v, *seen);
		return -1;
	}
	*seen = v;
	return 0;
}

struct lv_disk *
lv_vm_disk(struct lv_snapshot *ls, struct lv_vm *vm, size_t i)
{
	return &ls->d[vm->first + i];
}

/* A read-only disk: excluded from the job and checkpoint explicitly. */
static int
lv_vm_other(struct lv_vm *vm, const char *target, const char *name)
{
	char **no = realloc(vm->others, (vm->nothers + 1) * sizeof(*no));

	if (no)
		vm->others = no;
	if (!no || !(no[vm->nothers] = strdup(target))) {
		log_error("libvirt: domain %s: out of memory", vm->name);
		return -1;
	}
	vm->nothers++;
	log_info("libvirt: disk %s: read-only, not replicated", name);
	return 0;
}

/* The next snapshot disk of vm from x: an RBD image for the embedded rbd
 * source, or a local disk of the backup job. Counted in the group even on
 * error once it holds something lv_free must release. */
static int
lv_vm_disk_add(struct lv_snapshot *ls, struct lv_vm *vm,
	       const struct vmxml_disk *x, const char *name, int is_rbd)
{
	struct lv_disk *d = &ls->d[ls->base.ndisks];
	int ret = 0;

	d->vm = (size_t)(vm - ls->vms);
	memcpy(d->target, x->target, strlen(x->target) + 1);
	snprintf(d->format, sizeof(d->format), "%s", x->format ? x->format : "raw");
	d->raw = strcmp(d->format, "qcow2") != 0;
	memcpy(ls->base.disks[ls->base.ndisks].name, name, strlen(name) + 1);
	if (is_rbd) {
		d->rbd = 1;
		d->src = &x->r;
		d->rbd_idx = ls->nrbd++;
		if (lv_rbd_agree(&ls->xml_conf, d->src->conf, "config file", name) < 0 ||
		    lv_rbd_agree(&ls->xml_user, d->src->user, "auth user", name) < 0)
			ret = -1;
		else
			log_info("libvirt: disk %s: RBD image %s/%s, taken by the rbd "
				 "source in the group's window", name, d->src->pool,
				 d->src->image);
	} else if (asprintf(&d->scratch, "%s/%s.qcow2", ls->scratch_dir, name) < 0) {
		d->scratch = NULL;
		log_error("libvirt: disk %s: out of memory", name);
		return -1;
	} else {
		vm->nlocal++;
		if (!d->raw)
			vm->bitmaps = 1;
	}
	ls->base.ndisks++;
	vm->ndisks++;
	return ret;
}

/* Disks from the live definition: device='disk' and writable ones are
 * snapshot disks, read-only ones are listed as excluded. */
static int
lv_vm_disks(struct lv_snapshot *ls, struct lv_vm *vm, const char *live_xml)
{
	char what[NAME_MAX_LEN + 32];

	snprintf(what, sizeof(what), "libvirt: domain %s", vm->name);
	vm->x = vmxml_parse(live_xml, strlen(live_xml), what);
	if (!vm->x)
		return -1;
	vm->first = ls->base.ndisks;
	for (size_t i = 0; i < vm->x->ndisks; i++) {
		const struct vmxml_disk *x = &vm->x->disks[i];
		char name[2 * NAME_MAX_LEN + 2], rwhat[sizeof(name) + 16];
		int is_rbd;

		if (!vmxml_disk_is_disk(x))
			continue; /* cdrom, floppy, lun: not ours, libvirt skips them */
		if (!x->target) {
			log_error("libvirt: domain %s: a disk without target dev", vm->name);
			return -1;
		}
		snprintf(name, sizeof(name), "%s.%s", vm->name, x->target);
		if (!name_valid(name, strlen(name))) {
			log_error("libvirt: domain %s: disk %s: \"%s\" is not a valid "
				  "disk name (1-%d of [A-Za-z0-9._-])", vm->name,
				  x->target, name, NAME_MAX_LEN);
			return -1;
		}
		if (x->readonly) {
			if (lv_vm_other(vm, x->target, name) < 0)
				return -1;
			continue;
		}
		if (ls->base.ndisks >= SNAP_MAX_DISKS) {
			log_error("libvirt: domain %s: more than %d disks in the group",
				  vm->name, SNAP_MAX_DISKS);
			return -1;
		}
		snprintf(rwhat, sizeof(rwhat), "libvirt: %s", name);
		is_rbd = vmxml_disk_rbd(x, rwhat);
		if (is_rbd < 0 || lv_vm_disk_add(ls, vm, x, name, is_rbd) < 0)
			return -1;
	}
	if (vm->ndisks == 0) {
		log_error("libvirt: domain %s: no writable disk to replicate", vm->name);
		return -1;
	}
	vm->agent = vm->x->agent_connected;
	return 0;
}

/* Look up a running domain and read its definitions and disk sizes. */
int
lv_vm_open(struct lv_snapshot *ls, struct lv_vm *vm)
{
	int state = 0, reason = 0;
	char *live = NULL;
	int ret = -1;

	vm->dom = sym_virDomainLookupByName(ls->conn, vm->name);
	if (!vm->dom) {
		log_error("libvirt: domain %s: %s", vm->name, lv_err());
		goto out;
	}
	if (sym_virDomainGetState(vm->dom, &state, &reason, 0) < 0) {
		log_error("libvirt: domain %s: state: %s", vm->name, lv_err());
		goto out;
	}
	/* Paused guests are fine (their disks are live); anything else has no
	 * QEMU to run a backup job: the file source handles shut-off domains. */
	if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED) {
		log_error("libvirt: domain %s is not running (state %d); shut-off "
			  "domains are replicated from their image files", vm->name,
			  state);
		goto out;
	}
	if (sym_virDomainGetUUIDString(vm->dom, vm->uuid) < 0) {
		log_error("libvirt: domain %s: uuid: %s", vm->name, lv_err());
		goto out;
	}
	vm->xml = sym_virDomainGetXMLDesc(vm->dom, VIR_DOMAIN_XML_INACTIVE |
				      VIR_DOMAIN_XML_SECURE);
	live = sym_virDomainGetXMLDesc(vm->dom, 0);
	if (!vm->xml || !live) {
		log_error("libvirt: domain %s: definition: %s", vm->name, lv_err());
		goto out;
	}
	if (lv_vm_disks(ls, vm, live) < 0)
		goto out;
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);
		virDomainBlockInfo info;

		if (d->rbd)
			continue; /* sized by the rbd source at its snapshot */
		if (sym_virDomainGetBlockInfo(vm->dom, d->target, &info, 0) < 0) {
			log_error("libvirt: disk %s: block info: %s",
				  ls->base.disks[vm->first + i].name, lv_err());
			goto out;
		}
		d->size = info.capacity;
	}
	ret = 0;
out:
	free(live);
	return ret;
}

/* ---- committed state ---------------------------------------------------- */

/* state_dir/<domain>.json; missing = no state; malformed = warned, ignored
 * (a full copy follows, never a wrong incremental). */
int
lv_state_load(struct lv_vm *vm)
{
	json_t *root = NULL, *seq, *cp, *disks;
	const char *dom;
	int r;

	vm->have_state = 0;
	if ((r = srcstate_load("libvirt: domain", vm->name, vm->state_path, &root)) <= 0)
		return r; /* none (0) or an I/O error */
	dom = json_string_value(json_object_get(root, "domain"));
	seq = json_object_get(root, "seq");
	cp = json_object_get(root, "checkpoint");
	disks = json_object_get(root, "disks");
	if (json_integer_value(json_object_get(root, "version")) != LV_STATE_VER ||
	    srcstate_get_u64(root, "point", &vm->st_point) < 0 || !dom ||
	    strcmp(dom, vm->name) != 0 || !json_is_integer(seq) ||
	    json_integer_value(seq) < 0 || !(json_is_string(cp) || json_is_null(cp)) ||
	    !json_is_array(disks) ||
	    !json_is_string(json_object_get(root, "uuid"))) {
		log_warn("libvirt: domain %s: %s: malformed state, ignoring it",
			 vm->name, vm->state_path);
		json_decref(root);
		return 0;
	}
	vm->st = root;
	vm->st_seq = (uint64_t)json_integer_value(seq);
	vm->st_cp = json_string_value(cp);
	vm->have_state = 1;
	return 0;
}

int
snapshot_libvirt_state_point(const char *state_dir, const char *domain, uint64_t *point)
{
	struct lv_vm vm = { 0 };
	int rc = -1;

	if (asprintf(&vm.state_path, "%s/%s.json", state_dir, domain) < 0 ||
	    !(vm.name = strdup(domain))) {
		log_error("libvirt: domain %s: out of memory", domain);
		goto out;
	}
	if (lv_state_load(&vm) < 0)
		goto out;
	rc = vm.have_state != 0;
	if (rc)
		*point = vm.st_point;
out:
	json_decref(vm.st);
	free(vm.name);
	free(vm.state_path);
	return rc;
}

int
lv_state_save(struct lv_snapshot *ls, struct lv_vm *vm, uint64_t point)
{
	json_t *root = NULL, *disks = json_array();

	for (size_t i = 0; disks && i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);

		if (d->rbd)
			continue; /* the rbd source keeps its own state */
		if (json_array_append_new(disks, json_pack("{s:s, s:s, s:I}",
				"target", d->target, "format", d->format,
				"size", (json_int_t)d->size)) < 0) {
			json_decref(disks);
			disks = NULL;
		}
	}
	if (disks)
		root = json_pack("{s:i, s:s, s:s, s:I, s:o, s:O}", "version",
				 LV_STATE_VER, "domain", vm->name, "uuid", vm->uuid,
				 "seq", (json_int_t)vm->seq, "checkpoint",
				 vm->new_cp ? json_string(vm->new_cp) : json_null(),
				 "disks", disks);
	json_decref(disks);
	if (srcstate_set_u64(root, "point", point) < 0) {
		json_decref(root);
		root = NULL;
	}
	return srcstate_save("libvirt: domain", vm->name, vm->state_path, root,
			     JSON_INDENT(1) | JSON_SORT_KEYS);
}

json_t *
lv_state_disk(struct lv_vm *vm, const char *target)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(vm->st, "disks"), i, v) {
		const char *t = json_string_value(json_object_get(v, "target"));
		if (t && strcmp(t, target) == 0)
			return v;
	}
	return NULL;
}

/* ---- incremental or full ------------------------------------------------ */

/* Why none of vm's disks can be incremental (NULL if they may be; may point
 * into msg); *cdoc: the recorded checkpoint's XML, when it was read. */
static const char *
lv_vm_reason(struct lv_snapshot *ls, struct lv_vm *vm, xmlDocPtr *cdoc,
	     char *msg, size_t msglen)
{
	const char *uuid = vm->have_state ? json_string_value(json_object_get(vm->st, "uuid"))
					  : NULL;
	virDomainCheckpointPtr cp;
	char *cxml = NULL;

	*cdoc = NULL;
	if (!vm->have_state)
		return "first run (no committed state)";
	if (ls->base_point == 0 || vm->st_point != ls->base_point)
		return "base mismatch (the receiver's newest point is not the "
		       "one this state was committed at)";
	if (!uuid || strcmp(uuid, vm->uuid) != 0)
		return "the domain was redefined (UUID changed)";
	if (!vm->bitmaps)
		return NULL; /* no bitmap disk (raw or RBD only): no checkpoint */
	if (!vm->st_cp)
		return "no checkpoint was recorded";
	cp = sym_virDomainCheckpointLookupByName(vm->dom, vm->st_cp, 0);
	if (cp)
		cxml = sym_virDomainCheckpointGetXMLDesc(cp, 0);
	if (!cp || !cxml || !(*cdoc = lv_xml_parse(cxml, vm->name)))
		snprintf(msg, msglen, "checkpoint %s is missing (deleted, or the "
			 "domain was redefined): %s", vm->st_cp,
			 lv_err() ? lv_err() : "unreadable");
	free(cxml);
	if (cp)
		sym_virDomainCheckpointFree(cp);
	return *cdoc ? NULL : msg;
}

/* Whether local disk d (named name) can be incremental given the VM's
 * state and checkpoint cdoc; logs why not. */
static int
lv_disk_decide(struct lv_vm *vm, struct lv_disk *d, const char *name, xmlDocPtr cdoc)
{
	json_t *sd = lv_state_disk(vm, d->target);
	uint64_t size = (uint64_t)json_integer_value(json_object_get(sd, "size"));
	const char *f = json_string_value(json_object_get(sd, "format"));
	char expr[200];

	if (!sd) {
		log_info("libvirt: disk %s: full copy: disk added since the last "
			 "point", name);
		return 0;
	}
	if (size != d->size) {
		log_info("libvirt: disk %s: full copy: disk resized (%" PRIu64
			 " -> %" PRIu64 " bytes)", name, size, d->size);
		return 0;
	}
	if (!f || strcmp(f, d->format) != 0) {
		log_info("libvirt: disk %s: full copy: format changed", name);
		return 0;
	}
	snprintf(expr, sizeof(expr), "/domaincheckpoint/disks/disk[@name='%s'"
		 " and @checkpoint='bitmap']", d->target);
	if (lv_xpath_count(cdoc, expr) != 1) {
		log_info("libvirt: disk %s: full copy: checkpoint %s has no bitmap "
			 "for it", name, vm->st_cp);
		return 0;
	}
	return 1;
}

/* Whether every disk of the recorded state is still a local disk of vm. */
static int
lv_vm_none_removed(struct lv_snapshot *ls, struct lv_vm *vm)
{
	int ok = 1;
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(vm->st, "disks"), i, v) {
		const char *t = json_string_value(json_object_get(v, "target"));
		int found = 0;

		for (size_t k = 0; t && k < vm->ndisks; k++)
			found |= !lv_vm_disk(ls, vm, k)->rbd &&
				 strcmp(lv_vm_disk(ls, vm, k)->target, t) == 0;
		if (!found) {
			log_info("libvirt: domain %s: full copy: disk %s was removed "
				 "since the last point", vm->name, t ? t : "?");
			ok = 0;
		}
	}
	return ok;
}

/* Why this VM's disks cannot be incremental (logged per disk); 1 if they
 * can. Raw disks never can. */
int
lv_vm_decide(struct lv_snapshot *ls, struct lv_vm *vm)
{
	xmlDocPtr cdoc = NULL;
	char msg[160];
	const char *vm_reason = lv_vm_reason(ls, vm, &cdoc, msg, sizeof(msg));
	int ok = 1;

	for (size_t k = 0; k < vm->ndisks; k++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, k);
		const char *name = ls->base.disks[vm->first + k].name;

		if (d->rbd)
			continue; /* decided by the rbd source */
		if (d->raw) {
			log_info("libvirt: disk %s: full copy: %s disk (checkpoints "
				 "need qcow2): every cycle is a full copy", name,
				 d->format);
			ok = 0;
		} else if (vm_reason) {
			log_info("libvirt: disk %s: full copy: %s", name, vm_reason);
			ok = 0;
		} else if (!lv_disk_decide(vm, d, name, cdoc)) {
			ok = 0;
		}
	}
	if (!vm_reason && !lv_vm_none_removed(ls, vm))
		ok = 0;
	xml_dl_free_doc(cdoc);
	return ok;
}
