/* What a shut-off domain's qcow2 disk changed since a point of the libvirt
 * source, from the persistent dirty bitmaps of its checkpoints, read
 * without a write (libvirt.h, snapshot_libvirt_changed_since): a
 * failback's X. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/imginfo.h"
#include "common/log.h"
#include "common/xml-dl.h"
#include "snapshot/image.h"
#include "snapshot/libvirt-priv.h"

/* Checkpoints of one domain looked at: ours keep one or two; more is
 * someone else's tooling, and then the whole disk is the safe answer. */
#define SINCE_MAX_CPS 64
/* Block status asked for at most this much at a time (bounded memory). */
#define SINCE_WINDOW  (1ull << 30)

/* One disk's question and what it needs: the bitmaps to merge (P's and
 * every later checkpoint's), the image's own list of them. */
struct since {
	const struct snap_lv_since *in;
	char *why;            /* when the ranges cannot be known */
	size_t whylen;
	uint64_t size;        /* the disk's size at P (its state) */
	struct imginfo *info; /* qemu-img info of the disk */
	char *bitmap[SINCE_MAX_CPS];
	size_t n;
	int (*fn)(void *arg, uint64_t off, uint64_t len);
	void *arg;
};

/* The ranges cannot be known: why, for the caller's one line. Returns 0. */
static int __attribute__((format(printf, 2, 3)))
since_unknown(struct since *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, s->whylen, fmt, ap);
	va_end(ap);
	return 0;
}

static int
since_oom(const struct since *s)
{
	log_error("libvirt: domain %s: out of memory", s->in->domain);
	return -1;
}

/* A checkpoint of the domain: its name and creation time, and the bitmap
 * it keeps for the disk (NULL: none). Strings malloc'd. 0 / -1 (logged). */
struct since_cp {
	char *name, *bitmap;
	long long created;
};

static int
since_cp_read(const struct since *s, virDomainCheckpointPtr cp, struct since_cp *c)
{
	char *xml = sym_virDomainCheckpointGetXMLDesc(cp, 0), *t = NULL;
	char disk[160], bm[180], *end = NULL;
	xmlDocPtr doc = NULL;
	int ret = -1, have;

	*c = (struct since_cp){ 0 };
	if (!xml) {
		log_error("libvirt: domain %s: checkpoint %s: %s", s->in->domain,
			  sym_virDomainCheckpointGetName(cp), lv_err());
		return -1;
	}
	if (!(doc = lv_xml_parse(xml, s->in->domain)))
		goto out;
	snprintf(disk, sizeof(disk),
		 "/domaincheckpoint/disks/disk[@name='%s' and @checkpoint='bitmap']",
		 s->in->target);
	snprintf(bm, sizeof(bm), "string(%s/@bitmap)", disk);
	have = lv_xpath_count(doc, disk);
	if (!(c->name = lv_xpath_string(doc, "string(/domaincheckpoint/name)")) ||
	    !(t = lv_xpath_string(doc, "string(/domaincheckpoint/creationTime)")) ||
	    (have == 1 && !(c->bitmap = lv_xpath_string(doc, bm)))) {
		ret = since_oom(s);
		goto out;
	}
	c->created = strtoll(t, &end, 10);
	if (!c->name[0] || !t[0] || *end || have < 0 || have > 1) {
		log_error("libvirt: domain %s: checkpoint %s: unexpected XML", s->in->domain,
			  c->name[0] ? c->name : "(no name)");
		goto out;
	}
	/* libvirt names a bitmap after its checkpoint unless told otherwise */
	if (c->bitmap && !c->bitmap[0]) {
		free(c->bitmap);
		if (!(c->bitmap = strdup(c->name))) {
			ret = since_oom(s);
			goto out;
		}
	}
	ret = 0;
out:
	free(t);
	xml_dl_free_doc(doc);
	free(xml);
	return ret;
}

static void
since_cp_clear(struct since_cp *c)
{
	free(c->name);
	free(c->bitmap);
	*c = (struct since_cp){ 0 };
}

/* The bitmaps of checkpoint cp_name (P's) and of every checkpoint made at
 * or after it, into s->bitmap: their union holds every write since P,
 * whether libvirt keeps the older bitmaps active or disables them at each
 * new checkpoint (a checkpoint of the same second as P adds blocks, never
 * loses one). 1 / 0 (unknown, s->why) / -1 (logged). */
static int
since_checkpoints(struct since *s, virDomainPtr dom, const char *cp_name)
{
	virDomainCheckpointPtr *cps = NULL;
	struct since_cp c[SINCE_MAX_CPS] = { 0 };
	int n = sym_virDomainListAllCheckpoints(dom, &cps, 0), ret = -1, p = -1;

	if (n < 0) {
		log_error("libvirt: domain %s: checkpoints: %s", s->in->domain, lv_err());
		goto out;
	}
	if (n > SINCE_MAX_CPS) {
		ret = since_unknown(s, "%d checkpoints (more than %d)", n, SINCE_MAX_CPS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (since_cp_read(s, cps[i], &c[i]) < 0)
			goto out;
		if (strcmp(c[i].name, cp_name) == 0)
			p = i;
	}
	if (p < 0) {
		ret = since_unknown(s, "its checkpoint %s at the point is missing (deleted, or the "
				    "domain was redefined)", cp_name);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (i != p && c[i].created < c[p].created)
			continue;
		if (!c[i].bitmap) {
			ret = since_unknown(s, "checkpoint %s keeps no bitmap for it", c[i].name);
			goto out;
		}
		s->bitmap[s->n++] = c[i].bitmap;
		c[i].bitmap = NULL;
	}
	ret = 1;
out:
	for (int i = 0; i < n && i < SINCE_MAX_CPS; i++)
		since_cp_clear(&c[i]);
	for (int i = 0; i < n; i++)
		sym_virDomainCheckpointFree(cps[i]);
	free(cps);
	return ret;
}

/* libvirt's side: the domain is the one the state was committed for, and
 * the bitmaps to merge. 1 / 0 / -1, as since_checkpoints. */
static int
since_libvirt(struct since *s, const char *uuid, const char *cp_name)
{
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	char now[VIR_UUID_STRING_BUFLEN];
	int ret = -1;

	if (virt_dl_load() < 0)
		return -1;
	if (!(conn = sym_virConnectOpen(s->in->uri))) {
		log_error("libvirt: cannot connect to %s: %s", s->in->uri ? s->in->uri : "(default)",
			  lv_err());
		goto out;
	}
	if (!(dom = sym_virDomainLookupByName(conn, s->in->domain)) ||
	    sym_virDomainGetUUIDString(dom, now) < 0) {
		log_error("libvirt: domain %s: %s", s->in->domain, lv_err());
		goto out;
	}
	if (!uuid || strcmp(uuid, now) != 0)
		ret = since_unknown(s, "the domain was redefined (UUID changed)");
	else
		ret = since_checkpoints(s, dom, cp_name);
out:
	if (dom)
		sym_virDomainFree(dom);
	if (conn)
		sym_virConnectClose(conn);
	return ret;
}

/* The image's side, read-only (`qemu-img info -U`): a qcow2 file of the
 * size recorded at P. 1 / 0 / -1. */
static int
since_image(struct since *s)
{
	char ctx[64 + PATH_MAX];

	snprintf(ctx, sizeof(ctx), "libvirt: disk %s.%s", s->in->domain, s->in->target);
	if (!(s->info = imginfo_read(s->in->path, "qcow2", ctx)))
		return -1;
	if (s->info->virtual_size != s->size)
		return since_unknown(s, "resized since the point (%" PRIu64 " -> %" PRIu64
				     " bytes)", s->size, s->info->virtual_size);
	return 1;
}

/* Each bitmap to merge is in the image and consistent: QEMU stopped
 * without storing it leaves it "in-use", and then it proves nothing.
 * 1 / 0. */
static int
since_bitmaps_sound(struct since *s)
{
	for (size_t k = 0; k < s->n; k++) {
		const struct imginfo_bitmap *b = imginfo_bitmap(s->info, s->bitmap[k]);

		if (!b)
			return since_unknown(s, "bitmap %s is not in the image", s->bitmap[k]);
		if (b->in_use)
			return since_unknown(s, "bitmap %s is inconsistent (QEMU stopped "
					     "without storing it)", s->bitmap[k]);
	}
	return 1;
}

static int
since_cb(void *opaque, uint64_t off, uint64_t len, unsigned flags)
{
	struct since *s = opaque;

	return flags & IMAGE_EXT_DIRTY ? s->fn(s->arg, off, len) : 0;
}

/* Every dirty range of every bitmap, each bitmap exported read-only by its
 * own qemu-nbd (qemu-nbd -r -B). 0 / -1 (logged). */
static int
since_walk(struct since *s)
{
	for (size_t k = 0; k < s->n; k++) {
		struct image *img = image_open_bitmap(s->in->path, "qcow2", s->bitmap[k]);
		uint64_t off = 0;
		int64_t r = 0;

		if (img && image_size(img) != s->size) {
			log_error("libvirt: disk %s.%s: %s: size changed while reading its bitmaps",
				  s->in->domain, s->in->target, s->in->path);
			r = -1;
		}
		while (img && r >= 0 && off < s->size) {
			uint64_t len = s->size - off < SINCE_WINDOW ? s->size - off : SINCE_WINDOW;

			if ((r = image_extents(img, off, len, since_cb, s)) > 0) {
				off += (uint64_t)r;
			} else if (r == 0) { /* never: it would spin */
				log_error("libvirt: disk %s.%s: %s: no block status at %" PRIu64,
					  s->in->domain, s->in->target, s->in->path, off);
				r = -1;
			}
		}
		image_free(img);
		if (!img || r < 0)
			return -1;
	}
	return 0;
}

int
snapshot_libvirt_changed_since(const struct snap_lv_since *in,
			       int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg,
			       char *why, size_t whylen)
{
	struct since s = { .in = in, .why = why, .whylen = whylen, .fn = fn, .arg = arg };
	struct lv_vm vm = { 0 };
	const char *fmt;
	json_t *sd;
	int ret = -1;

	why[0] = '\0';
	if (asprintf(&vm.state_path, "%s/%s.json", in->state_dir, in->domain) < 0) {
		vm.state_path = NULL;
		return since_oom(&s);
	}
	if (!(vm.name = strdup(in->domain))) {
		ret = since_oom(&s);
		goto out;
	}
	if (lv_state_load(&vm) < 0)
		goto out;
	if (!vm.have_state) {
		ret = since_unknown(&s, "no committed state of the libvirt source (%s)",
				    vm.state_path);
		goto out;
	}
	if (vm.st_point != in->point) {
		ret = since_unknown(&s, "the libvirt source's state is at point %" PRIu64
				    ", not at %" PRIu64, vm.st_point, in->point);
		goto out;
	}
	sd = lv_state_disk(&vm, in->target);
	fmt = json_string_value(json_object_get(sd, "format"));
	s.size = (uint64_t)json_integer_value(json_object_get(sd, "size"));
	if (!sd || !fmt) {
		ret = since_unknown(&s, "the disk was not in the libvirt source's point");
		goto out;
	}
	if (strcmp(fmt, "qcow2") != 0) {
		ret = since_unknown(&s, "a %s disk keeps no bitmap", fmt);
		goto out;
	}
	if (!vm.st_cp) {
		ret = since_unknown(&s, "no checkpoint was recorded at the point");
		goto out;
	}
	if ((ret = since_image(&s)) != 1 ||
	    (ret = since_libvirt(&s, json_string_value(json_object_get(vm.st, "uuid")),
				 vm.st_cp)) != 1 ||
	    (ret = since_bitmaps_sound(&s)) != 1)
		goto out;
	ret = since_walk(&s) < 0 ? -1 : 1;
out:
	for (size_t k = 0; k < s.n; k++)
		free(s.bitmap[k]);
	imginfo_free(s.info);
	json_decref(vm.st);
	free(vm.name);
	free(vm.state_path);
	return ret;
}
