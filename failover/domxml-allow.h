/* The allowlist of libvirt domain XML a drill or failover boots: per
 * element, the attributes (with the values each may take), the children
 * and the text it keeps. Pure tables and checks; the rewrite is domxml.c's.
 * Every pointer returned points into static tables. */
#ifndef NESTOR_FAILOVER_DOMXML_ALLOW_H
#define NESTOR_FAILOVER_DOMXML_ALLOW_H

#include <stdbool.h>

/* What a value (attribute or text) may be. */
enum dx_val {
	DX_NONE = 0, /* text: the element has none (attributes: never) */
	DX_TOKEN,    /* [A-Za-z0-9._:+,-], 1..64 bytes: no path, no space */
	DX_UINT,     /* decimal digits, 1..20 */
	DX_ENUM,     /* one of the attribute's values */
	DX_SERIAL,   /* a disk serial as libvirt allows it: [A-Za-z0-9 _.+-], 1..64 */
	DX_UUID,     /* 8-4-4-4-12 hex digits */
	DX_MAC,      /* six hex pairs separated by ':' */
	DX_URANDOM,  /* exactly /dev/urandom */
};

struct dx_attr {
	const char *name;
	enum dx_val val;
	const char *const *values; /* DX_ENUM: NULL-terminated */
	bool required;             /* missing or refused: the element goes */
};

/* How the rewrite treats an allowed element. */
enum dx_hook {
	DX_COPY = 0,   /* copied by the tables below */
	DX_NAME,       /* replaced by the drill's name */
	DX_UUID_EL,    /* kept by a failover, dropped by a drill */
	DX_CPU,        /* Nestor's CPU policy, topology and NUMA kept */
	DX_LOADER,     /* UEFI mapped by type, path dropped */
	DX_DISK,       /* mapped to the point's clone, or an empty drive */
	DX_INTERFACE,  /* re-attached to Nestor's network */
	DX_CHARDEV,    /* the source's; Nestor defines its own console */
};

struct dx_rule {
	const char *name;
	const struct dx_attr *attrs;     /* {NULL}-terminated; NULL: none */
	const struct dx_rule *children;  /* {NULL}-terminated; NULL: none */
	enum dx_val text;                /* DX_NONE: no text kept */
	const char *const *text_values;  /* text DX_ENUM: NULL-terminated */
	enum dx_hook hook;
	const char *required_child;      /* copied without it: the element goes */
};

/* The <domain> root. */
const struct dx_rule *dx_root(void);
/* The rule of child element name under parent, NULL if not allowed. */
const struct dx_rule *dx_child(const struct dx_rule *parent, const char *name);
/* The attribute spec of name on rule, NULL if not allowed. */
const struct dx_attr *dx_attr(const struct dx_rule *rule, const char *name);
/* Whether v is a value of kind val (values for DX_ENUM). */
bool dx_value_ok(enum dx_val val, const char *const *values, const char *v);
/* Why an element that is not allowed goes, for the report ("host device
 * passthrough"); a generic reason for those without one. */
const char *dx_drop_reason(const char *name);

/* The rules the rewrite builds its own elements from. */
enum dx_made {
	DX_MADE_DISK,  /* a mapped disk */
	DX_MADE_CDROM, /* cdrom/floppy: an empty drive */
	DX_MADE_NIC,   /* an interface */
	DX_MADE_CPU,   /* cpu: topology, numa */
};
const struct dx_rule *dx_made_rule(enum dx_made which);
/* Whether v is in the NULL-terminated list values (NULL: empty). */
bool dx_listed(const char *const *values, const char *v);
/* Interface types re-attached to Nestor's network (others go). */
bool dx_nic_type_ok(const char *type);

#endif
