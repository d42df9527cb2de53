/* Inside the "libvirt" change source: its private structs and the steps
 * its files share. libvirt.c: begin, extents and reads over NBD, commit,
 * free; libvirt-dom.c: the domains (definition, disks, committed state, the
 * incremental decision); libvirt-job.c: backup jobs, checkpoints, freeze;
 * libvirt-since.c: a shut-off disk's changes since a point, from the
 * checkpoints' bitmaps. Not for use outside snapshot/libvirt*.c. */
#ifndef NESTOR_SNAPSHOT_LIBVIRT_PRIV_H
#define NESTOR_SNAPSHOT_LIBVIRT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "common/names.h"
#include "common/virt-dl.h"
#include "snapshot/coalesce.h"
#include "snapshot/libvirt.h"
#include "snapshot/source.h"

struct vmxml;
struct vmxml_rbd;
struct nbd_handle;

#define LV_STATE_VER      1
#define LV_WINDOW         (1ull << 30)  /* block status window */
#define LV_NBD_MAX_REQ    (32u << 20)   /* QEMU's NBD request limit */
#define LV_CP_PREFIX      "nestor-"
#define LV_DIRTY_PREFIX   "qemu:dirty-bitmap:backup-"
#define LV_AGENT_TIMEOUT  10            /* s: fsfreeze must not hang the cycle */
#define LV_JOB_END_MS     30000         /* bound on waiting for a job to end */
#define LV_RUN_FALLBACK   "/run/nestor"

struct lv_disk {
	size_t vm;
	char target[NAME_MAX_LEN + 1];
	char format[16];
	int raw;            /* no checkpoint bitmap possible: always full */
	int rbd;            /* RBD disk: taken by the embedded rbd source */
	const struct vmxml_rbd *src; /* its image (rbd only; in its vm's x) */
	size_t rbd_idx;     /* its disk index in ls->rbd */
	uint64_t size;      /* capacity when the job began */
	char *scratch;
	struct nbd_handle *nbd;
	char *dirty_ctx;    /* set when extents come from the dirty bitmap */

	struct coalesce_queue q; /* extent iterator */
};

struct lv_vm {
	char *name;
	char uuid[VIR_UUID_STRING_BUFLEN];
	virDomainPtr dom;
	char *xml;          /* inactive, secure: for point metadata */
	struct vmxml *x;    /* the live definition, read */
	char *state_path;
	char *sock;
	size_t first, ndisks;  /* its disks in the snapshot */
	size_t nlocal;      /* of those, in the backup job (not RBD) */
	char **others;      /* read-only disks: excluded explicitly */
	size_t nothers;
	int agent;          /* guest agent channel connected */
	int bitmaps;        /* has at least one disk that takes a checkpoint */

	/* committed state (have_state = 0: none or unusable) */
	json_t *st;
	int have_state;
	uint64_t st_point, st_seq;
	const char *st_cp;  /* inside st; NULL = none */

	char *new_cp;       /* checkpoint created with this job */
	uint64_t seq;
	int job;            /* our backup job is running */
	int base_broken;    /* libvirt found st_cp inconsistent */
	int frozen, suspended;
	struct snap_nic *nics; /* libvirt-nics.c: after the jobs started */
	size_t nnics;
};

struct lv_snapshot {
	struct snapshot base; /* first: the generic code casts */
	virConnectPtr conn;
	struct lv_vm *vms;
	size_t nvms;
	struct lv_disk d[SNAP_MAX_DISKS];
	char *state_dir;      /* absolute */
	char *run_dir, *scratch_dir;
	char token[17];       /* per-group: run dir fallback, default checkpoint part */
	char cp_token[17];    /* per-group part of checkpoint names */
	int lock_fd;
	uint64_t base_point;
	int app_consistent;
	int committed;
	uint64_t step_ns;     /* clock at the last lv_step (debug timing) */
	struct snap_libvirt_keep *keep; /* borrowed, or NULL: conn is ours */
	int skip_cleanup;     /* keep: the last snapshot ended clean */

	/* RBD disks of the domains: one rbd snapshot taken in the window */
	struct snapshot *rbd;
	size_t nrbd;
	char *ceph_conf, *ceph_client, *rbd_state_dir;
	const char *xml_conf, *xml_user; /* first named by a disk (in d[].src) */
};

/* libvirt's last error message. */
const char *lv_err(void);
/* Debug log: what took how long since the previous step (bench/README.md,
 * where a cycle's time goes). */
void lv_step(struct lv_snapshot *ls, const char *what);
/* unlink, a missing file is fine; else warned. 0 / -1. */
int lv_unlink(const char *path, const char *what);

/* XML of libvirt (backup jobs, checkpoints): parse (NULL logged with what),
 * count nodes of an XPath (-1 on error), an XPath's string value (malloc'd,
 * "" when nothing matches; NULL on error), s escaped for a double-quoted
 * attribute (malloc'd). */
xmlDocPtr lv_xml_parse(const char *xml, const char *what);
int lv_xpath_count(xmlDocPtr doc, const char *expr);
char *lv_xpath_string(xmlDocPtr doc, const char *expr);
char *lv_xml_attr(const char *s);

/* libvirt-dom.c */
/* The i-th disk of vm. */
struct lv_disk *lv_vm_disk(struct lv_snapshot *ls, struct lv_vm *vm, size_t i);
/* Looks up a running domain, reads its definitions, disks and sizes. */
int lv_vm_open(struct lv_snapshot *ls, struct lv_vm *vm);
/* state_dir/<domain>.json: missing or malformed is no state. 0 / -1. */
int lv_state_load(struct lv_vm *vm);
int lv_state_save(struct lv_snapshot *ls, struct lv_vm *vm, uint64_t point);
/* The disk of that target in vm's loaded state (borrowed), or NULL. */
json_t *lv_state_disk(struct lv_vm *vm, const char *target);
/* 1 if vm's disks can be incremental, 0 if not (reasons logged). */
int lv_vm_decide(struct lv_snapshot *ls, struct lv_vm *vm);

/* libvirt-nics.c */
/* Records vm's NICs and their addresses (guest agent, else DHCP leases,
 * else ARP), bounded in time; never fails (debug lines). */
void lv_vm_nics(struct lv_vm *vm);

/* libvirt-keep.c (snapshot_libvirt_keep_*) */
/* At a begin with a keep: the kept connection in ls->conn, and whether the
 * leftovers check may be skipped (ls->skip_cleanup). The keep forgets the
 * clean state until lv_keep_committed. 0 / -1 (logged). */
int lv_keep_begin(struct lv_snapshot *ls, const char *uri, const char *const *domains);
/* A begin failed: the connection is closed (the next begin opens one). */
void lv_keep_failed(struct lv_snapshot *ls);
/* Records vm's replaced checkpoint for a later deletion. 0 / -1 (logged:
 * the caller deletes it at once). */
int lv_keep_old_checkpoint(struct lv_snapshot *ls, struct lv_vm *vm, const char *cp,
			   int broken);
/* The commit was clean (jobs ended, state saved): the next begin of the
 * same domains may skip the leftovers check. */
void lv_keep_committed(struct lv_snapshot *ls);
/* Deletes the replaced checkpoints kept for the snapshot's domains (the
 * same domain: name and UUID; others are dropped from the list). */
void lv_keep_delete_old(struct lv_snapshot *ls);

/* libvirt-job.c */
/* Ends vm's backup job and waits (bounded) until it is gone. 0 / -1. */
int lv_job_end(struct lv_vm *vm);
int lv_checkpoint_delete(struct lv_vm *vm, const char *name, const char *why,
			 int broken);
/* Removes what an interrupted cycle left on vm. 0 / -1. */
int lv_vm_cleanup(struct lv_snapshot *ls, struct lv_vm *vm);
/* Stops what begin started for vm (not committed); warnings only. */
void lv_vm_abort(struct lv_vm *vm);
/* Removes the scratch files of vm's job once it no longer runs (they are
 * ours: written by us, taken by libvirt with REUSE_EXTERNAL). */
void lv_scratch_drop(struct lv_snapshot *ls, struct lv_vm *vm);
/* Starts every domain's job in one frozen window: 0, -1, or 1 when an
 * incremental job found its checkpoint unusable (retry as full). */
int lv_start_jobs(struct lv_snapshot *ls);

#endif
