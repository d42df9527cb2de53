/* The state of one drill_run, shared by its parts (drill.c runs the steps,
 * drill-vm.c boots and checks the VMs, drill-record.c writes what the run
 * leaves behind). Private to failover/drill*.c. */
#ifndef NESTOR_FAILOVER_DRILL_RUN_H
#define NESTOR_FAILOVER_DRILL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/virt-dl.h"
#include "failover/accel.h"
#include "failover/domxml-size.h"
#include "failover/drill.h"
#include "failover/report.h"

#define DRILL_MAX_VMS 64
#define DRILL_VM_MAX_DEVS 64

struct drill_lans;
struct drill_net;

/* One VM of the run: its source definition and what we made for it. */
struct dvm {
	const char *xml;          /* borrowed from the metadata JSON */
	size_t xml_len;
	char *name;
	char *domain_name;
	char *overlays[DRILL_VM_MAX_DEVS]; /* per domxml disk; NULL = left out;
					    * "rbd:POOL/IMAGE" = an RBD clone */
	size_t noverlays;
	char *nic_src[DRILL_VM_MAX_DEVS]; /* per NIC: source network/bridge or NULL */
	char *nic_mac[DRILL_VM_MAX_DEVS]; /* per NIC: its MAC or NULL */
	char *nets[DRILL_VM_MAX_DEVS];    /* per NIC: network it joins here */
	size_t nnics;
	char *sock;
	char *log;
	virDomainPtr dom;
	bool defined;             /* failover: persistent domain */
	bool xml_warned;          /* the rewrite's warnings are in the report */
};

struct drill {
	const struct drill_opts *o;
	struct store *st;
	const char *rbd_conf;     /* ceph store: ceph.conf for the clones (borrowed) */
	struct report *r;
	json_t *meta;
	json_t *disks;            /* meta "disks" */
	struct dvm *vms;
	size_t nvms;
	bool kvm;
	bool probing;             /* the first VM proves KVM (drill-accel.c) */
	struct accel_key accel_key; /* this host, when accel_keyed */
	bool accel_keyed;
	bool failover;
	virConnectPtr conn;
	struct drill_net *net;
	bool net_needed;          /* some NIC joins the isolated network */
	struct drill_lans *lans;  /* a drill: its copies of DR networks, run record
				   * and lock (drill-lan-run.h) */
	size_t order[DRILL_MAX_VMS];
	uint64_t t0_ns;           /* CLOCK_MONOTONIC at the start */
	const char *root;         /* the store's real path (borrowed) */
	bool prepared;            /* every VM prepared */
	bool marked;              /* failover: we wrote the marker */
	struct domxml_caps caps;  /* this host's caps on the guests' size */
	uint64_t mem_planned;     /* memory of the VMs prepared so far */
};

/* "drill" or "failover", for the log lines. */
const char *drill_what(const struct drill *d);
/* Seconds since the run started (what RTO is measured in). */
double drill_elapsed(const struct drill *d);
/* Has a signal asked the run to stop (drill_on_signal)? */
bool drill_stopped(void);
/* Record the first failure of a VM (the report keeps one reason per VM). */
void drill_vm_fail(struct report_vm *v, const char *why);

#endif
