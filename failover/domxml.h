/* Domain XML of a protected VM, as captured on the source, rewritten with
 * libxml2 into a drill/failover domain that boots the replica. The XML
 * came from the network: only what an allowlist keeps reaches libvirt
 * (failover/domxml-allow.h), and everything dropped is listed. */
#ifndef NESTOR_FAILOVER_DOMXML_H
#define NESTOR_FAILOVER_DOMXML_H

#include <stdbool.h>
#include <stddef.h>

struct domxml;
struct domxml_size;

/* Parse a libvirt domain definition (no network, no entities; a DOCTYPE,
 * more than VMXML_MAX_LEN bytes or malformed XML is refused). The VM name
 * must be a valid nestor name (common/names.h). NULL on error (logged with
 * ctx, e.g. "group web point 3 vm 0"). */
struct domxml *domxml_parse(const char *xml, size_t len, const char *ctx);
void domxml_free(struct domxml *d);

/* The source VM's <name>; owned by d. */
const char *domxml_name(const struct domxml *d);
/* Disks (device='disk' or 'lun', any type) in document order: their type
 * ("file" if absent), source path (file and block disks; NULL for network,
 * volume or a missing source) and target dev ("" if none). Strings owned
 * by d. */
size_t domxml_ndisks(const struct domxml *d);
const char *domxml_disk_type(const struct domxml *d, size_t i);
const char *domxml_disk_source(const struct domxml *d, size_t i);
const char *domxml_disk_target(const struct domxml *d, size_t i);
/* Interfaces in document order: the network (type='network') or bridge
 * (type='bridge') they attach to on the source, NULL for other types; MAC
 * or NULL. Strings owned by d. */
size_t domxml_nnics(const struct domxml *d);
const char *domxml_nic_source(const struct domxml *d, size_t i);
const char *domxml_nic_mac(const struct domxml *d, size_t i);

/* What the guest asks of the host (failover/domxml-size.h), as the
 * allowlist would copy it. */
void domxml_guest_size(const struct domxml *d, struct domxml_size *s);

struct domxml_drill {
	const char *name;          /* new domain name */
	const char *const *overlays; /* per disk (domxml_ndisks): qcow2 to boot,
				      * or "rbd:POOL/IMAGE" (raw RBD clone);
				      * NULL entry: the disk is left out */
	const char *rbd_conf;      /* ceph.conf for rbd: overlays (NULL = qemu's default) */
	const char *network;       /* every <interface> joins this network ... */
	const char *const *networks; /* ... unless this per-NIC entry is set */
	const char *console_sock;  /* serial 0: unix socket (bind) ... */
	const char *console_log;   /* ... logged to this file */
	bool kvm;                  /* type='kvm' (else 'qemu' = TCG, no <cpu>) */
	const char *cpu_model;     /* KVM: NULL = host-model, else this model */
	bool keep_uuid;            /* failover: the source's <uuid> stays */
	bool guest_agent;          /* add the qemu-guest-agent channel */
};

/* Build a new domain for a drill or failover from d (unchanged) and return
 * its XML (malloc'd, caller frees), or NULL (logged). Keeps the source's
 * allowlisted elements and attributes, Nestor's disks, networks, console,
 * CPU policy and firmware; every element or attribute dropped is listed in
 * d's warnings (for the caller to log and report: a drill may rewrite the
 * same VM more than once). */
char *domxml_drill_xml(struct domxml *d, const struct domxml_drill *o);

/* The warnings of the last domxml_drill_xml, one line each ("/domain/
 * devices/hostdev: dropped (host device passthrough)"), printable ASCII;
 * owned by d, valid until the next domxml_drill_xml or domxml_free. */
size_t domxml_nwarnings(const struct domxml *d);
const char *domxml_warning(const struct domxml *d, size_t i);

#endif
