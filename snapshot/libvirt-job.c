/* The "libvirt" source's backup jobs: pull-mode jobs with a checkpoint
 * created atomically, stale ones of interrupted cycles, and the frozen or
 * paused window in which every domain's job starts. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/qcow2new.h"
#include "common/xml-dl.h"
#include "snapshot/libvirt-priv.h"
#include "snapshot/rbd.h"

struct lv_buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void __attribute__((format(printf, 2, 3)))
lv_bprintf(struct lv_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* ---- jobs and checkpoints ----------------------------------------------- */

/* 1 if a job runs, 0 if not, -1 on error; *op = its operation. */
static int
lv_job_running(struct lv_vm *vm, int *op)
{
	virTypedParameterPtr params = NULL;
	int nparams = 0, type = VIR_DOMAIN_JOB_NONE, o = 0;

	if (sym_virDomainGetJobStats(vm->dom, &type, &params, &nparams, 0) < 0) {
		log_error("libvirt: domain %s: job stats: %s", vm->name, lv_err());
		return -1;
	}
	if (sym_virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &o) < 0)
		o = 0;
	sym_virTypedParamsFree(params, nparams);
	if (op)
		*op = o;
	return type != VIR_DOMAIN_JOB_NONE;
}

/* Ends the domain's backup job and waits (bounded) until libvirt has torn
 * it down, so that a checkpoint delete or a new job does not race it. */
int
lv_job_end(struct lv_vm *vm)
{
	int r;

	if (sym_virDomainIsActive(vm->dom) == 0)
		return 0; /* the domain stopped: its jobs went with it */
	if (sym_virDomainAbortJob(vm->dom) < 0) {
		/* A job that already ended (domain gone, NBD export closed) is
		 * not an error worth more than a warning. */
		r = lv_job_running(vm, NULL);
		if (r != 0) {
			log_warn("libvirt: domain %s: ending the backup job: %s",
				 vm->name, lv_err());
			return -1;
		}
	}
	/* Short naps first: the job usually ends within a few ms, and every
	 * cycle waits here before the next one can begin (issue 17, RPO: the
	 * flat 50 ms naps cost ~45 ms per cycle). */
	for (unsigned waited = 0, nap = 2; waited < LV_JOB_END_MS; waited += nap) {
		r = lv_job_running(vm, NULL);
		if (r <= 0)
			return r;
		if (waited >= 40)
			nap = 50;
		clock_nap_ms((long)nap);
	}
	log_warn("libvirt: domain %s: the backup job did not end within %u s",
		 vm->name, LV_JOB_END_MS / 1000);
	return -1;
}

/* broken: the checkpoint's bitmap is known to be gone, so deleting it can
 * only drop libvirt's metadata. */
int
lv_checkpoint_delete(struct lv_vm *vm, const char *name, const char *why,
		     int broken)
{
	virDomainCheckpointPtr cp;
	int ret = -1;

	cp = sym_virDomainCheckpointLookupByName(vm->dom, name, 0);
	if (!cp) {
		if (sym_virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_CHECKPOINT)
			return 0;
		log_warn("libvirt: domain %s: checkpoint %s: %s", vm->name, name,
			 lv_err());
		return -1;
	}
	if (sym_virDomainCheckpointDelete(cp, 0) < 0 &&
	    (!broken || sym_virDomainCheckpointDelete(cp,
				VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0))
		log_warn("libvirt: domain %s: cannot delete %s checkpoint %s: %s",
			 vm->name, why, name, lv_err());
	else
		ret = 0;
	sym_virDomainCheckpointFree(cp);
	return ret;
}

/* What an interrupted cycle left: our backup job, our checkpoints other than
 * the recorded base, the NBD socket and scratch files. Someone else's backup
 * job is an error: it is not ours to stop. */
int
lv_vm_cleanup(struct lv_snapshot *ls, struct lv_vm *vm)
{
	virDomainCheckpointPtr *cps = NULL;
	int n, op = 0, r, ret = -1;

	r = lv_job_running(vm, &op);
	if (r < 0)
		goto out;
	if (r > 0) {
		char *bxml = NULL, *sock = NULL;
		xmlDocPtr doc = NULL;
		int ours = 0;

		if (op == VIR_DOMAIN_JOB_OPERATION_BACKUP &&
		    (bxml = sym_virDomainBackupGetXMLDesc(vm->dom, 0)) &&
		    (doc = lv_xml_parse(bxml, vm->name)) &&
		    (sock = lv_xpath_string(doc, "string(/domainbackup/server/@socket)")))
			ours = strcmp(sock, vm->sock) == 0;
		free(bxml);
		free(sock);
		xml_dl_free_doc(doc);
		if (!ours) {
			log_error("libvirt: domain %s is busy with another job "
				  "(operation %d); not replicating it now", vm->name, op);
			goto out;
		}
		log_warn("libvirt: domain %s: ending the backup job of an "
			 "interrupted snapshot", vm->name);
		if (lv_job_end(vm) < 0)
			goto out;
	}
	n = sym_virDomainListAllCheckpoints(vm->dom, &cps, 0);
	if (n < 0) {
		log_error("libvirt: domain %s: checkpoints: %s", vm->name, lv_err());
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *name = sym_virDomainCheckpointGetName(cps[i]);

		if (!name || strncmp(name, LV_CP_PREFIX, strlen(LV_CP_PREFIX)) != 0 ||
		    (vm->have_state && vm->st_cp && strcmp(name, vm->st_cp) == 0))
			continue;
		log_warn("libvirt: domain %s: deleting stale checkpoint %s", vm->name,
			 name);
		if (sym_virDomainCheckpointDelete(cps[i], 0) < 0) {
			/* Its bitmap may be unusable (QEMU crashed): dropping the
			 * metadata at least lets the chain go on. */
			log_warn("libvirt: domain %s: deleting checkpoint %s: %s; "
				 "dropping its metadata only", vm->name, name, lv_err());
			if (sym_virDomainCheckpointDelete(cps[i],
				VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0) {
				log_error("libvirt: domain %s: cannot delete stale "
					  "checkpoint %s: %s", vm->name, name, lv_err());
				goto out;
			}
		}
	}
	lv_unlink(vm->sock, "stale socket");
	for (size_t i = 0; i < vm->ndisks; i++)
		if (lv_vm_disk(ls, vm, i)->scratch)
			lv_unlink(lv_vm_disk(ls, vm, i)->scratch, "stale scratch file");
	ret = 0;
out:
	if (cps) {
		for (int i = 0; cps[i]; i++)
			sym_virDomainCheckpointFree(cps[i]);
		free(cps);
	}
	return ret;
}

/* Job XML: pull mode, NBD on our unix socket, every disk explicitly. */
static int
lv_job_xml(struct lv_snapshot *ls, struct lv_vm *vm, int incremental,
	   char **bxml, char **cxml)
{
	struct lv_buf b = { 0 }, c = { 0 };
	char *sock = lv_xml_attr(vm->sock);
	int ret = -1;

	*bxml = *cxml = NULL;
	if (!sock)
		goto out;
	lv_bprintf(&b, "<domainbackup mode='pull'>\n");
	if (incremental)
		lv_bprintf(&b, "  <incremental>%s</incremental>\n", vm->st_cp);
	lv_bprintf(&b, "  <server transport='unix' socket=\"%s\"/>\n  <disks>\n", sock);
	lv_bprintf(&c, "<domaincheckpoint>\n  <name>%s</name>\n"
		   "  <description>nestor replication base</description>\n"
		   "  <disks>\n", vm->new_cp);
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);
		char *scratch;

		if (d->rbd) {
			/* libvirt cannot back up or checkpoint it; rbd snapshots do */
			lv_bprintf(&b, "    <disk name='%s' backup='no'/>\n", d->target);
			lv_bprintf(&c, "    <disk name='%s' checkpoint='no'/>\n", d->target);
			continue;
		}
		scratch = lv_xml_attr(d->scratch);
		if (!scratch)
			goto out;
		lv_bprintf(&b, "    <disk name='%s' backup='yes' type='file'>"
			   "<driver type='qcow2'/><scratch file=\"%s\"/></disk>\n",
			   d->target, scratch);
		lv_bprintf(&c, "    <disk name='%s' checkpoint='%s'/>\n", d->target,
			   d->raw ? "no" : "bitmap");
		free(scratch);
	}
	for (size_t i = 0; i < vm->nothers; i++) {
		lv_bprintf(&b, "    <disk name='%s' backup='no'/>\n", vm->others[i]);
		lv_bprintf(&c, "    <disk name='%s' checkpoint='no'/>\n", vm->others[i]);
	}
	lv_bprintf(&b, "  </disks>\n</domainbackup>\n");
	lv_bprintf(&c, "  </disks>\n</domaincheckpoint>\n");
	if (b.oom || c.oom)
		goto out;
	*bxml = b.p;
	b.p = NULL;
	if (vm->bitmaps) {
		*cxml = c.p;
		c.p = NULL;
	}
	ret = 0;
out:
	if (ret < 0)
		log_error("libvirt: domain %s: out of memory", vm->name);
	free(b.p);
	free(c.p);
	free(sock);
	return ret;
}

/* A checkpoint name no checkpoint of the domain has. */
static int
lv_new_checkpoint_name(struct lv_snapshot *ls, struct lv_vm *vm)
{
	/* Without state, a clock value keeps names from repeating old ones. */
	uint64_t seq = vm->have_state ? vm->st_seq + 1 : (uint64_t)time(NULL);

	for (int tries = 0; tries < 100; tries++, seq++) {
		virDomainCheckpointPtr cp;

		free(vm->new_cp);
		if (asprintf(&vm->new_cp, LV_CP_PREFIX "%s-%" PRIu64, ls->cp_token, seq) < 0) {
			vm->new_cp = NULL;
			log_error("libvirt: domain %s: out of memory", vm->name);
			return -1;
		}
		cp = sym_virDomainCheckpointLookupByName(vm->dom, vm->new_cp, 0);
		if (!cp) {
			vm->seq = seq;
			return 0;
		}
		sym_virDomainCheckpointFree(cp);
	}
	log_error("libvirt: domain %s: no free checkpoint name", vm->name);
	return -1;
}

/* Stop what begin started for vm (not committed): job, new checkpoint,
 * socket. Failures are warnings: the next begin cleans up again. */
void
lv_vm_abort(struct lv_vm *vm)
{
	if (vm->job) {
		lv_job_end(vm);
		vm->job = 0;
	}
	if (vm->new_cp && sym_virDomainIsActive(vm->dom) == 0) {
		/* libvirt deletes checkpoints of running domains only */
		log_warn("libvirt: domain %s stopped; the next snapshot deletes its "
			 "uncommitted checkpoint %s", vm->name, vm->new_cp);
	} else if (vm->new_cp) {
		lv_checkpoint_delete(vm, vm->new_cp, "uncommitted", 0);
	}
	free(vm->new_cp);
	vm->new_cp = NULL;
	if (vm->sock)
		lv_unlink(vm->sock, "socket");
}

/* ---- freeze ------------------------------------------------------------- */

static void
lv_thaw(struct lv_snapshot *ls)
{
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->frozen && sym_virDomainFSThaw(vm->dom, NULL, 0, 0) < 0)
			log_error("libvirt: domain %s: fsthaw: %s", vm->name, lv_err());
		if (vm->suspended && sym_virDomainResume(vm->dom) < 0)
			log_error("libvirt: domain %s: resume: %s", vm->name, lv_err());
		vm->frozen = vm->suspended = 0;
	}
}

/* One instant for the whole group: guest agents freeze their filesystems
 * (app-consistent); guests without one are paused when other domains are in
 * the group (crash-consistent across them). A single guest without agent
 * needs nothing: one backup job starts all its disks at one instant. */
static int
lv_freeze(struct lv_snapshot *ls)
{
	int all_frozen = 1;

	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];
		int state = 0, reason = 0;

		if (vm->agent) {
			sym_virDomainAgentSetResponseTimeout(vm->dom, LV_AGENT_TIMEOUT, 0);
			if (sym_virDomainFSFreeze(vm->dom, NULL, 0, 0) >= 0) {
				vm->frozen = 1;
				continue;
			}
			log_warn("libvirt: domain %s: guest agent fsfreeze failed (%s); "
				 "the point is crash-consistent", vm->name, lv_err());
			/* Undo a partial freeze; an error here is expected. */
			sym_virDomainFSThaw(vm->dom, NULL, 0, 0);
		}
		all_frozen = 0;
		/* RBD snapshots are a second step after the backup jobs: one
		 * instant only with the guest stopped in between. */
		if (ls->nvms < 2 && ls->nrbd == 0)
			continue;
		if (sym_virDomainGetState(vm->dom, &state, &reason, 0) < 0) {
			log_error("libvirt: domain %s: state: %s", vm->name, lv_err());
			return -1;
		}
		if (state == VIR_DOMAIN_PAUSED)
			continue; /* paused by someone else: leave it so */
		if (sym_virDomainSuspend(vm->dom) < 0) {
			log_error("libvirt: domain %s: suspend: %s", vm->name, lv_err());
			return -1;
		}
		vm->suspended = 1;
	}
	ls->app_consistent = all_frozen;
	return 0;
}

/* ---- start -------------------------------------------------------------- */

/* The scratch files of vm's job, written by us and taken by libvirt as
 * they are (REUSE_EXTERNAL): libvirt would otherwise create each one
 * through a QEMU blockdev-create job inside virDomainBackupBegin, the
 * largest step of a cycle (issue 17, RPO; bench/README.md). QEMU's backup
 * needs the scratch's size to be the disk's; its backing is given by
 * libvirt when it attaches the file, so the header names none. Not
 * fsynced: a scratch file lives one cycle and means nothing after a
 * crash (the next begin removes it). 0 / -1. */
static int
lv_scratch_create(struct lv_snapshot *ls, struct lv_vm *vm)
{
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);

		if (d->rbd)
			continue;
		if (qcow2new_write("libvirt: scratch", d->scratch, d->size, NULL, NULL,
				   false) < 0)
			return -1;
	}
	return 0;
}

void
lv_scratch_drop(struct lv_snapshot *ls, struct lv_vm *vm)
{
	if (vm->job)
		return; /* QEMU still writes it; the next begin removes it */
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);

		if (d->scratch)
			lv_unlink(d->scratch, "scratch file");
	}
}

/* Starts every domain's job (with the group frozen). 0, -1 on error, or 1
 * when an incremental job found its checkpoint unusable: the caller ends
 * what started and retries the group as a full copy. */
int
lv_start_jobs(struct lv_snapshot *ls)
{
	int ret = -1;

	/* before the window: files of ours cost the guests no frozen time */
	for (size_t i = 0; i < ls->nvms; i++)
		if (ls->vms[i].nlocal && lv_scratch_create(ls, &ls->vms[i]) < 0)
			return -1;
	if (lv_freeze(ls) < 0)
		goto out;
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];
		char *bxml = NULL, *cxml = NULL;
		int r;

		if (vm->nlocal == 0)
			continue; /* RBD disks only: nothing for a backup job */
		if (lv_new_checkpoint_name(ls, vm) < 0 ||
		    lv_job_xml(ls, vm, ls->base.incremental, &bxml, &cxml) < 0)
			goto out;
		r = sym_virDomainBackupBegin(vm->dom, bxml, cxml,
					     VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL);
		free(bxml);
		free(cxml);
		if (r < 0) {
			if (ls->base.incremental &&
			    sym_virGetLastErrorCode() == VIR_ERR_CHECKPOINT_INCONSISTENT) {
				log_info("libvirt: domain %s: full copy of the group: "
					 "checkpoint %s is inconsistent: %s", vm->name,
					 vm->st_cp, lv_err());
				free(vm->new_cp);
				vm->new_cp = NULL;
				vm->base_broken = 1;
				ret = 1;
				goto out;
			}
			log_error("libvirt: domain %s: backup begin: %s", vm->name,
				  lv_err());
			free(vm->new_cp);
			vm->new_cp = NULL;
			goto out;
		}
		vm->job = 1;
		if (!vm->bitmaps) {
			free(vm->new_cp);
			vm->new_cp = NULL;
		}
	}
	ls->base.time_ns = clock_now_ns();
	if (ls->rbd && snapshot_rbd_take(ls->rbd) < 0)
		goto out;
	ret = 0;
out:
	lv_thaw(ls);
	return ret;
}
