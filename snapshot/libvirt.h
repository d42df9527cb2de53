/* "libvirt" change source: live, incremental snapshots of running libvirt
 * guests through checkpoints + pull-mode backup jobs, read over NBD. */
#ifndef NESTOR_SNAPSHOT_LIBVIRT_H
#define NESTOR_SNAPSHOT_LIBVIRT_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;

/* Begin one consistent snapshot of every disk (device='disk', not
 * read-only) of the running domains at uri (NULL = libvirt's default).
 * Disk names are "<domain>.<target>" ("web.vda"); domains whose disk names
 * would not be valid names are refused. Several domains (or a guest agent)
 * are frozen (fsfreeze, else suspend) for the instant the backup jobs start.
 * state_dir: directory owned by this source for this group (created if
 * missing): per-domain state <domain>.json, run/ (NBD sockets, unless the
 * path is too long for a socket: /run/nestor/<id>/), scratch/ (the backup
 * jobs' copy-before-write files: written empty by us, taken by libvirt with
 * REUSE_EXTERNAL, removed once the job ended).
 * base_point: the receiver's newest point; extents are incremental when every
 * domain's recorded checkpoint was committed at that point and is still
 * usable, otherwise the whole group is a full copy (reasons are logged).
 * Shut-off domains are an error. Returns NULL on error (logged). */
struct snapshot *snapshot_libvirt_begin(const char *uri,
					const char *const *domains,
					size_t ndomains, const char *state_dir,
					uint64_t base_point);

/* Ceph access for the domains' RBD disks (<disk type='network'> with
 * <source protocol='rbd' name='pool/image'>). Those disks are left out of
 * the backup job and checkpoint and taken by the rbd source (snapshot/rbd.h)
 * inside the same frozen / paused window, so file and RBD disks of the
 * group are one instant; a group with RBD disks pauses its guests without
 * a guest agent even when it has a single domain. Disk names stay
 * "<domain>.<target>". Strings are borrowed for the call. */
struct snap_libvirt_ceph {
	const char *conf;      /* ceph.conf; NULL: the <config file> the RBD
				* disks name, else librados' default search */
	const char *client;    /* cephx id; NULL: their <auth username>, else
				* "admin" */
	const char *state_dir; /* rbd source state; NULL: <state_dir>/rbd */
};

/* snapshot_libvirt_begin with Ceph access for RBD disks (ceph NULL = all
 * defaults). */
struct snapshot *snapshot_libvirt_begin_ceph(const char *uri,
					     const char *const *domains,
					     size_t ndomains, const char *state_dir,
					     uint64_t base_point,
					     const struct snap_libvirt_ceph *ceph);

/* snapshot_libvirt_begin_ceph with checkpoints named nestor-<cp_name>-N
 * rather than nestor-<a hash of state_dir>-N (cp_name: a valid name of
 * 1..16 characters), for sources whose checkpoints an operator should tell
 * apart: a failback's reverse source ("rev"). */
struct snapshot *snapshot_libvirt_begin_named(const char *uri, const char *const *domains,
					      size_t ndomains, const char *state_dir,
					      uint64_t base_point, const char *cp_name,
					      const struct snap_libvirt_ceph *ceph);

/* What the source keeps between the snapshots of one group taken one after
 * another (the agent daemon's cycles: issue 17, RPO), off each cycle's path:
 * - the libvirt connection (opened again when libvirt says it is no longer
 *   alive, the URI differs, or a begin failed);
 * - whether the last snapshot of the same state_dir and domains committed
 *   cleanly (its jobs ended, nothing uncommitted left): then the next begin
 *   skips the leftovers check (a job or checkpoint still in its way makes
 *   that begin fail, and the one after it checks again);
 * - the old checkpoints a commit replaced: deleted once the next snapshot's
 *   reads are done (while the receiver commits), at the next begin after a
 *   failure, or by snapshot_libvirt_keep_free.
 * Domains are still looked up, and their definitions and disk sizes read,
 * at every begin: a redefined, restarted or resized domain is seen as
 * without a keep. One group's snapshots, one at a time: not thread-safe. */
struct snap_libvirt_keep;

/* NULL when out of memory (logged). */
struct snap_libvirt_keep *snapshot_libvirt_keep_new(void);
/* Deletes the old checkpoints it still holds (warnings only), e.g. before
 * the domains are shut down (libvirt deletes checkpoints of running
 * domains only). NULL ok; no snapshot of k may be in flight. */
void snapshot_libvirt_keep_flush(struct snap_libvirt_keep *k);
/* snapshot_libvirt_keep_flush, then closes the connection. NULL ok. The
 * snapshots begun with it must be freed first. */
void snapshot_libvirt_keep_free(struct snap_libvirt_keep *k);
/* The kept connection to uri (NULL: libvirt's default), opened if needed;
 * owned by k. NULL on error (logged). For snapshot/plan.c. */
struct _virConnect *snapshot_libvirt_keep_conn(struct snap_libvirt_keep *k, const char *uri);

/* snapshot_libvirt_begin_ceph with keep (NULL: as without). keep is
 * borrowed and must outlive the snapshot. */
struct snapshot *snapshot_libvirt_begin_kept(const char *uri, const char *const *domains,
					     size_t ndomains, const char *state_dir,
					     uint64_t base_point,
					     const struct snap_libvirt_ceph *ceph,
					     struct snap_libvirt_keep *keep);

/* For an RBD disk of a libvirt snapshot, after begin and before it is
 * listed: snapshot_rbd_own_ranges (snapshot/rbd.h) of its image, e.g. an
 * RBD clone's own writes. -1 (logged) for a disk that is not on RBD. */
int snapshot_libvirt_rbd_own_ranges(struct snapshot *s, size_t disk,
				    int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg);

/* The point at which domain's state in state_dir (as the begin functions
 * keep it) was last committed: 1 with *point; 0 none, or unusable (a
 * begin would copy in full); -1 an I/O error (logged). Changes nothing. */
int snapshot_libvirt_state_point(const char *state_dir, const char *domain, uint64_t *point);

/* Per VM of a libvirt snapshot, for point metadata; VMs are in the order of
 * `domains`. Strings are owned by the snapshot. On a snapshot of another
 * source (or a bad index) these return 0 / NULL / -1. */
size_t snapshot_libvirt_nvms(const struct snapshot *s);
const char *snapshot_libvirt_vm_name(const struct snapshot *s, size_t vm);
/* Inactive definition (VIR_DOMAIN_XML_INACTIVE | SECURE) captured at begin. */
const char *snapshot_libvirt_vm_xml(const struct snapshot *s, size_t vm);
/* i-th disk of that VM: its target dev and its index among the snapshot's
 * disks. 0, or -1 past the end. */
int snapshot_libvirt_vm_disk(const struct snapshot *s, size_t vm, size_t i,
			     const char **target, size_t *snap_disk);
/* The NICs of a VM as the snapshot began (best effort: never fails the
 * snapshot), for point metadata (docs/metadata.md, vms[].nics). */
#define SNAP_NIC_MAX       16  /* NICs recorded per VM */
#define SNAP_NIC_MAX_ADDRS  8  /* addresses recorded per NIC */
struct snap_nic {
	char mac[18];              /* lower case */
	char network[65];          /* <source network|bridge>; "" if none or longer */
	char addrs[SNAP_NIC_MAX_ADDRS][56]; /* "10.1.0.5/24"; no loopback or
					     * IPv6 link-local */
	size_t naddrs;
	const char *origin;        /* "agent", "lease", "arp", or "none" */
};
/* The NICs of that VM (n set to their count; n = 0 and NULL on a snapshot of
 * another source or a bad index). Owned by the snapshot. */
const struct snap_nic *snapshot_libvirt_vm_nics(const struct snapshot *s, size_t vm,
						size_t *n);
/* "app-consistent" (every guest agent froze its filesystems) or
 * "crash-consistent". */
const char *snapshot_libvirt_consistency(const struct snapshot *s);

/* What one qcow2 disk of a shut-off domain changed since point P of the
 * libvirt source (a failback's X: docs/failback.md), from the persistent
 * dirty bitmaps of the domain's checkpoints: the union of the bitmap of
 * the checkpoint committed at P and of every later checkpoint's, each read
 * from the disk file opened read-only (qemu-img info -U, qemu-nbd -r -B):
 * neither the file nor libvirt's metadata is written. Strings borrowed. */
struct snap_lv_since {
	const char *uri;       /* NULL: libvirt's default */
	const char *state_dir; /* the source's, as the begin functions keep it */
	const char *domain;
	const char *target;    /* the disk's target dev ("vda") */
	const char *path;      /* its file, as the definition names it */
	uint64_t point;        /* P */
};
/* fn gets the changed ranges (in order per bitmap, possibly overlapping
 * across bitmaps); a fn < 0 stops. 1 when fn got them all; 0 when they
 * cannot be known, why says so (no state or checkpoint at P, a raw disk,
 * a bitmap missing or inconsistent, the domain redefined, the disk
 * resized): the whole disk is the answer then; -1 on an error (logged). */
int snapshot_libvirt_changed_since(const struct snap_lv_since *in,
				   int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg,
				   char *why, size_t whylen);

#endif
