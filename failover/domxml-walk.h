/* The allowlisted copy of a source domain into a new document: a walk of
 * the source under the tables of domxml-allow.h that records every element
 * and attribute it drops. Private to failover/domxml*.c. */
#ifndef NESTOR_FAILOVER_DOMXML_WALK_H
#define NESTOR_FAILOVER_DOMXML_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

struct domxml_drill;

/* At most this many warnings are listed; the rest are counted. */
#define DX_MAX_WARNINGS 64

struct dx_walk {
	const struct domxml_drill *o;
	xmlNodePtr const *disks;  /* the source's disk nodes, domxml's order */
	size_t ndisks;
	xmlNodePtr const *nics;   /* the source's interface nodes, vmxml's order */
	size_t nnics;
	char **warnings;          /* DX_MAX_WARNINGS slots of malloc'd lines */
	size_t nwarnings;
	size_t unlisted;          /* warnings past DX_MAX_WARNINGS */
	bool oom;
	bool efi;                 /* the source boots UEFI (a pflash loader) */
	bool secure_boot;         /* ... with secure boot */
};

/* Copy the source root <domain> src under the allowlist into the new root
 * dst (name, type and Nestor's own devices are the caller's). 0 / -1 (out
 * of memory; w->oom). */
int dx_walk_domain(struct dx_walk *w, xmlNodePtr src, xmlNodePtr dst);

/* Record a warning "path: dropped (why)"; what (peer text, may be NULL) is
 * quoted after path, escaped and cut. */
void dx_warn(struct dx_walk *w, const char *path, const char *what, const char *why);

/* Set Nestor's CPU mode on cpu (KVM: host-model, or o->cpu_model as a
 * custom model). 0 / -1 (out of memory). */
int dx_cpu_set(xmlNodePtr cpu, const struct domxml_drill *o);

/* The text of src, whitespace trimmed (xmlFree it; NULL: out of memory). */
xmlChar *dx_text(xmlNodePtr src);

/* Free w's warnings (and their array). */
void dx_walk_clear(struct dx_walk *w);

/* New child element of parent, with attributes name=value pairs from a
 * list ended by DX_END; NULL on out of memory. */
#define DX_END ((const char *)NULL)
xmlNodePtr dx_new(xmlNodePtr parent, const char *name, ...) __attribute__((sentinel));

#endif
