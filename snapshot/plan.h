/* Offline-VM planning for a group's libvirt domains: which run (the
 * libvirt source takes them live) and which are shut off (their disk files
 * and RBD images, read from the inactive definition, go to the file and
 * rbd sources). */
#ifndef NESTOR_SNAPSHOT_PLAN_H
#define NESTOR_SNAPSHOT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot/source.h"

#define PLAN_MAX_DOMAINS 32

struct vmxml;
struct vmxml_rbd;
struct snap_libvirt_keep;

/* What planning needs of a group; strings borrowed for the call. */
struct plan_input {
	const char *group;   /* for the log */
	const char *uri;     /* libvirt URI; NULL = VMXML_DEFAULT_URI */
	const char *domains; /* names separated by blanks */
	bool inactive;       /* plan every domain from its inactive definition,
			      * running or not (a failback's target: the disks
			      * a domain boots from, whatever its state) */
	struct snap_libvirt_keep *keep; /* its connection rather than a new
					 * one (snapshot/libvirt.h); NULL ok */
};

/* One disk of a shut-off domain: its file (path set) or, path NULL, its
 * RBD image (rbd, inside the owning plan_vm's x). */
struct plan_disk {
	char name[65];
	char target[32];
	char *path;
	char format[8];      /* "qcow2", "raw" or "" (probe) */
	const struct vmxml_rbd *rbd;
};

struct plan_vm {
	char *name, *xml;    /* xml: inactive definition, for point metadata */
	struct vmxml *x;
	size_t first, n;     /* range in plan.odisk */
	int clean;           /* shut down by its guest: nothing was in flight */
	int running;         /* active (running or paused): with inactive only */
};

/* Filled by plan_domains, released by plan_clear; live[] points into
 * domlist. */
struct plan {
	const char *live[PLAN_MAX_DOMAINS];
	size_t nlive;
	struct plan_vm off[PLAN_MAX_DOMAINS];
	size_t noff;
	struct plan_disk odisk[SNAP_MAX_DISKS];
	size_t nodisk;
	char *domlist;
};

/* Connects to libvirt and splits in->domains into running and shut-off
 * domains (in->inactive: every domain planned as shut off, running says
 * which is not); pl must be zeroed. 0, or -1 (logged; plan_clear still due). */
int plan_domains(struct plan *pl, const struct plan_input *in);

/* Frees what pl holds and zeroes it. */
void plan_clear(struct plan *pl);

#endif
