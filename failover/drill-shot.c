/* A VM's console screenshot (failover/drill-shot.h): libvirt's screenshot
 * of screen 0 read through a stream into memory, bounded, made PNG. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "common/xml-dl.h"
#include "failover/drill-run.h"
#include "failover/drill-shot.h"
#include "failover/shotpng.h"

#define SHOT_CHUNK (1u << 20)
/* A console compresses to a few KiB; a screen of noise (a hostile guest's)
 * would make every report that inlines it, and the run's memory, large. */
#define SHOT_PNG_MAX (4u << 20)

/* Does the running domain have a display a screenshot can show (a <video>
 * whose model is not "none")? 1 yes, 0 headless, -1 error (logged). */
static int
has_display(virDomainPtr dom, const char *what)
{
	char *xml = sym_virDomainGetXMLDesc(dom, 0);
	xmlDocPtr doc = xml ? vmxml_parse_doc(xml, strlen(xml), what, false) : NULL;
	xmlNodePtr dev = doc ? vmxml_child(sym_xmlDocGetRootElement(doc), "devices") : NULL;
	int ret = 0;

	if (!xml)
		log_error("%s: cannot read the domain's XML: %s", what, virt_dl_error());
	if (!doc) {
		free(xml);
		return -1;
	}
	for (xmlNodePtr n = dev ? dev->children : NULL; n && !ret; n = n->next) {
		xmlNodePtr model = vmxml_is(n, "video") ? vmxml_child(n, "model") : NULL;
		xmlChar *type = model ? sym_xmlGetProp(model, (const xmlChar *)"type") : NULL;

		/* a <video> without a model is libvirt's default adapter */
		if (vmxml_is(n, "video"))
			ret = !type || strcmp((const char *)type, "none") != 0;
		xml_dl_free(type);
	}
	xml_dl_free_doc(doc);
	free(xml);
	return ret;
}

/* The whole stream into *data (at most SHOTPNG_MAX_INPUT bytes): libvirt
 * writes QEMU's dump to a file and streams it; its size is not told first. */
static int
stream_read(virStreamPtr st, void **data, size_t *len, char *why, size_t whylen)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;

	for (;;) {
		int got;

		if (n == cap) {
			char *nb;

			if (cap > SHOTPNG_MAX_INPUT) {
				snprintf(why, whylen, "screenshot larger than %u MiB",
					 SHOTPNG_MAX_INPUT >> 20);
				goto fail;
			}
			if (!(nb = realloc(buf, cap + SHOT_CHUNK))) {
				snprintf(why, whylen, "out of memory");
				goto fail;
			}
			buf = nb;
			cap += SHOT_CHUNK;
		}
		got = sym_virStreamRecv(st, buf + n, cap - n);
		if (got == 0)
			break;
		if (got < 0) {
			snprintf(why, whylen, "reading the screenshot: %s", virt_dl_error());
			goto fail;
		}
		n += (size_t)got;
	}
	*data = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	return -1;
}

/* libvirt's screenshot: its MIME type (malloc'd) and bytes. 0 / -1. */
static int
shot_read(struct drill *d, virDomainPtr dom, char **mime, void **data, size_t *len,
	  char *why, size_t whylen)
{
	virStreamPtr st = sym_virStreamNew(d->conn, 0);
	int ret = -1;

	if (!st) {
		snprintf(why, whylen, "cannot make a stream: %s", virt_dl_error());
		return -1;
	}
	if (!(*mime = sym_virDomainScreenshot(dom, st, 0, 0))) {
		snprintf(why, whylen, "%s", virt_dl_error());
		goto out;
	}
	if (stream_read(st, data, len, why, whylen) < 0) {
		(void)sym_virStreamAbort(st);
		goto out;
	}
	if (sym_virStreamFinish(st) < 0) {
		snprintf(why, whylen, "finishing the screenshot: %s", virt_dl_error());
		goto out;
	}
	ret = 0;
out:
	sym_virStreamFree(st);
	return ret;
}

static void
shot_failed(struct drill *d, size_t i, const char *why)
{
	struct report_vm *rv = &d->r->vms[i];

	log_warn("%s %s: vm %s: no screenshot: %s", drill_what(d), d->r->id, d->vms[i].name, why);
	rv->shot = REPORT_SHOT_FAILED;
	free(rv->shot_note);
	if (asprintf(&rv->shot_note, "screenshot failed: %s", why) < 0)
		rv->shot_note = NULL;
}

void
drill_shot_take(struct drill *d, size_t i)
{
	struct dvm *v = &d->vms[i];
	struct report_vm *rv = &d->r->vms[i];
	char what[160], why[256] = "";
	char *mime = NULL;
	void *data = NULL;
	size_t len = 0;
	int disp;

	if (!v->dom || sym_virDomainIsActive(v->dom) != 1)
		return;
	snprintf(what, sizeof(what), "%s %s: vm %s", drill_what(d), d->r->id, v->name);
	if ((disp = has_display(v->dom, what)) < 0) {
		shot_failed(d, i, "cannot read the domain's XML");
		return;
	}
	if (disp == 0) {
		log_info("%s: no video device: no screenshot, the serial console only", what);
		rv->shot = REPORT_SHOT_NO_DISPLAY;
		rv->shot_note = strdup("no display: a headless guest (no video device); "
				       "the serial console only");
		return;
	}
	if (shot_read(d, v->dom, &mime, &data, &len, why, sizeof(why)) < 0 ||
	    shotpng_convert(mime, data, len, &rv->shot_png, &rv->shot_len, &rv->shot_w,
			    &rv->shot_h, why, sizeof(why)) < 0) {
		shot_failed(d, i, why);
	} else if (rv->shot_len > SHOT_PNG_MAX) {
		snprintf(why, sizeof(why), "its PNG is %zu KiB, more than a report keeps (%u KiB)",
			 rv->shot_len >> 10, SHOT_PNG_MAX >> 10);
		free(rv->shot_png);
		rv->shot_png = NULL;
		rv->shot_len = 0;
		shot_failed(d, i, why);
	} else {
		rv->shot = REPORT_SHOT_TAKEN;
		rv->shot_s = drill_elapsed(d);
		log_info("%s: screenshot %ux%u (%s, %zu bytes as PNG) after %.1f s", what,
			 rv->shot_w, rv->shot_h, mime, rv->shot_len, rv->shot_s);
	}
	free(mime);
	free(data);
}
