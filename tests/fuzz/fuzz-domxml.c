/* libFuzzer harness: arbitrary bytes as a point's domain XML, parsed and
 * rewritten for a drill as failover/domxml does it. Whatever the input,
 * the output parses, holds no element or attribute of any namespace, no
 * DOCTYPE, and its warnings are printable ASCII; the guest's size is read
 * and checked against the drill caps, with a printable reason. */
#include "common/log.h"
#include "common/vmxml.h"
#include "failover/domxml-size.h"
#include "failover/domxml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_DISKS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* no node of the tree under n is in a namespace or declares one */
static void
no_namespace(xmlNodePtr n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (n->ns || n->nsDef)
			abort();
		for (xmlAttrPtr a = n->properties; a; a = a->next)
			if (a->ns)
				abort();
		no_namespace(n->children);
	}
}

static void
check_output(const char *xml)
{
	xmlDocPtr doc = vmxml_parse_doc(xml, strlen(xml), "fuzz output", false);

	if (!doc || doc->intSubset)
		abort();
	no_namespace(xmlDocGetRootElement(doc));
	xmlFreeDoc(doc);
}

/* the size reads without fault; a refusal says why in printable ASCII */
static void
check_size(const struct domxml *d)
{
	static const struct domxml_caps caps = { 1ULL << 30, 2, 8 };
	struct domxml_size s;
	char why[256] = "";

	domxml_guest_size(d, &s);
	if (domxml_size_check(domxml_name(d), &s, 0, &caps, why, sizeof(why)) < 0 && !why[0])
		abort();
	for (const char *p = why; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *ovl[FUZZ_DISKS];
	struct domxml_drill o = { .name = "f-drill-x", .overlays = ovl, .network = "n",
				  .console_sock = "/s/f.sock", .console_log = "/s/f.log",
				  .kvm = size % 2, .keep_uuid = size % 3 == 0,
				  .guest_agent = size % 5 == 0 };
	struct domxml *d;
	char *xml;

	/* Error lines for every rejected input would drown the fuzzer's output. */
	log_set_level(LOG_LVL_NONE);
	for (size_t i = 0; i < FUZZ_DISKS; i++)
		ovl[i] = i % 3 == 2 ? NULL : i % 3 ? "rbd:p/i" : "/s/o.qcow2";
	d = domxml_parse((const char *)data, size, "fuzz");
	if (!d)
		return 0;
	if (domxml_ndisks(d) > FUZZ_DISKS)
		abort();
	check_size(d);
	xml = domxml_drill_xml(d, &o);
	if (!xml)
		abort();
	check_output(xml);
	for (size_t i = 0; i < domxml_nwarnings(d); i++)
		for (const char *p = domxml_warning(d, i); *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
	free(xml);
	domxml_free(d);
	return 0;
}
