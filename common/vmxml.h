/* libvirt domain XML read into plain structs (disks, NICs, the guest agent
 * channel): the one reader shared by the libvirt source, the offline-VM
 * planner and the failover rewrite. Parsed with libxml2, no network, no
 * entities; a DOCTYPE is refused. */
#ifndef NESTOR_COMMON_VMXML_H
#define NESTOR_COMMON_VMXML_H

#include <stdbool.h>
#include <stddef.h>

/* The libvirt connection used when the configuration names none. */
#define VMXML_DEFAULT_URI "qemu:///system"

/* Largest definition accepted (a real one is a few KiB). */
#define VMXML_MAX_LEN (4u << 20)

struct _xmlDoc;  /* libxml2's xmlDoc */
struct _xmlNode; /* libxml2's xmlNode */

/* <source protocol='rbd'> of a type='network' disk. */
struct vmxml_rbd {
	char *name;          /* <source name>, NULL if absent */
	char *pool, *image;  /* name split when it is exactly "pool/image"
			      * (no namespace, no @snap); else NULL */
	bool fixed_snapshot; /* <source><snapshot>: pinned to an rbd snapshot */
	bool has_config;     /* <source><config> present ... */
	char *conf;          /* ... and its file (NULL if none) */
	bool has_auth;       /* <auth> present ... */
	char *user;          /* ... and its username (NULL if none) */
	char *secret;        /* <auth><secret uuid|usage>, NULL if none */
	char **hosts;        /* <host name [port]> as "name" or "name:port" */
	size_t nhosts;
};

/* Every <disk> of <devices>, any device, in document order. Strings are
 * as written; NULL where the XML has none. */
struct vmxml_disk {
	char *type;     /* "file", "block", "network", ...; NULL: libvirt's
			 * default ("file") */
	char *device;   /* "disk", "cdrom", "lun", ...; NULL: "disk" */
	char *target;   /* <target dev> */
	char *source;   /* <source file> (type file or absent) or <source dev>
			 * (type block); NULL otherwise */
	char *format;   /* <driver type> */
	bool readonly, shareable;
	unsigned boot;  /* <boot order>, 0 if none */
	bool rbd;       /* type='network' with <source protocol='rbd'> */
	struct vmxml_rbd r; /* rbd only */
	struct _xmlNode *node; /* the element, with vmxml_read_doc only */
};

/* Every <interface>, in document order. */
struct vmxml_nic {
	char *type;     /* "network", "bridge", ...; NULL if absent */
	char *mac;      /* <mac address> */
	char *source;   /* <source network> (type network) or <source bridge>
			 * (type bridge); NULL otherwise */
	char *model;    /* <model type> */
	struct _xmlNode *node; /* the element, with vmxml_read_doc only */
};

struct vmxml {
	char *name;               /* <name> text, NULL if none */
	struct vmxml_disk *disks;
	size_t ndisks;
	struct vmxml_nic *nics;
	size_t nnics;
	bool agent_connected;     /* qemu guest agent channel state='connected' */
	char *console_log;        /* where the first <serial> (else <console>)
				   * is logged: its <log file>, or the <source
				   * path> of a type='file' one; NULL if none */
	bool console_log_append;  /* <log append='on'>: old boots stay in it */
	void **owned;             /* every string and array above: vmxml_free */
	size_t nowned;
};

/* Parse a domain definition (root <domain>; len bytes, at most
 * VMXML_MAX_LEN). what names it in the log ("libvirt: domain web"). New
 * struct, caller frees with vmxml_free; NULL on error (logged, with
 * libxml2's reason for XML that does not parse). */
struct vmxml *vmxml_parse(const char *xml, size_t len, const char *what);

/* Parse with the same limits and options into a libxml2 document that the
 * caller keeps (for rewriting; free with xmlFreeDoc). blanks: keep blank
 * text nodes. NULL on error (logged). */
struct _xmlDoc *vmxml_parse_doc(const char *xml, size_t len, const char *what,
				bool blanks);

/* Read doc (root <domain>) without taking it: the disks' and NICs' node
 * pointers stay valid while doc lives. NULL on error (logged). */
struct vmxml *vmxml_read_doc(struct _xmlDoc *doc, const char *what);

/* NULL is a no-op. */
void vmxml_free(struct vmxml *x);

/* Whether disk is an RBD disk the rbd source can protect: 1 if so (its
 * r.pool and r.image are set), 0 if it is no RBD disk, -1 if it is one
 * that cannot be protected (a fixed <snapshot>, a name other than
 * pool/image, a <config> or <auth> without file / username), logged with
 * what. */
int vmxml_disk_rbd(const struct vmxml_disk *disk, const char *what);

/* Whether disk is device='disk' (or no device attribute). */
bool vmxml_disk_is_disk(const struct vmxml_disk *disk);

/* For code that walks or rewrites the document itself: whether n is an
 * element called name in no namespace; the first child element of parent
 * called name (NULL if none or parent is NULL). */
bool vmxml_is(const struct _xmlNode *n, const char *name);
struct _xmlNode *vmxml_child(const struct _xmlNode *parent, const char *name);

#endif
