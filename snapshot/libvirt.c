/* "libvirt" change source: running guests, one pull-mode backup job per
 * domain with a checkpoint created atomically, extents and data over NBD.
 * This file: begin, extents and reads, commit, free; the domains are in
 * libvirt-dom.c, the jobs in libvirt-job.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/hash.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/names.h"
#include "common/nbd-dl.h"
#include "common/vmxml.h"
#include "snapshot/libvirt.h"
#include "snapshot/libvirt-priv.h"
#include "snapshot/nbdstatus.h"
#include "snapshot/rbd.h"

static const struct snapshot_ops lv_ops;

void
lv_step(struct lv_snapshot *ls, const char *what)
{
	uint64_t now = clock_now_ns();

	log_debug("libvirt: %s: %.1f ms", what, (double)(now - ls->step_ns) / 1e6);
	ls->step_ns = now;
}

/* ---- begin ---------------------------------------------------------------- */

static int
lv_disk_connect(struct lv_snapshot *ls, size_t k)
{
	struct lv_disk *d = &ls->d[k];
	struct lv_vm *vm = &ls->vms[d->vm];
	const char *name = ls->base.disks[k].name;
	int64_t size;

	d->nbd = nbd_dl_create(name);
	if (!d->nbd)
		return -1; /* logged */
	if (ls->base.incremental &&
	    asprintf(&d->dirty_ctx, LV_DIRTY_PREFIX "%s", d->target) < 0) {
		d->dirty_ctx = NULL;
		log_error("libvirt: disk %s: out of memory", name);
		return -1;
	}
	if (sym_nbd_set_export_name(d->nbd, d->target) < 0 ||
	    sym_nbd_add_meta_context(d->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    (d->dirty_ctx && sym_nbd_add_meta_context(d->nbd, d->dirty_ctx) < 0)) {
		log_error("libvirt: disk %s: nbd setup: %s", name, nbd_dl_error());
		return -1;
	}
	if (sym_nbd_connect_unix(d->nbd, vm->sock) < 0) {
		log_error("libvirt: disk %s: connecting to the backup export %s: %s",
			  name, vm->sock, nbd_dl_error());
		return -1;
	}
	if (sym_nbd_can_meta_context(d->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1 ||
	    (d->dirty_ctx && sym_nbd_can_meta_context(d->nbd, d->dirty_ctx) != 1)) {
		log_error("libvirt: disk %s: the backup export offers no block "
			  "status%s%s", name, d->dirty_ctx ? " for " : "",
			  d->dirty_ctx ? d->dirty_ctx : "");
		return -1;
	}
	size = sym_nbd_get_size(d->nbd);
	if (size < 0) {
		log_error("libvirt: disk %s: export size: %s", name, nbd_dl_error());
		return -1;
	}
	if ((uint64_t)size != d->size) {
		/* Resized between our look and the job: the recorded size (and
		 * maybe the incremental decision) would be wrong. */
		log_error("libvirt: disk %s: size changed while the snapshot began "
			  "(%" PRIu64 " -> %" PRId64 ")", name, d->size, size);
		return -1;
	}
	ls->base.disks[k].size = d->size;
	return 0;
}

/* Directory for the NBD sockets: state_dir/run, unless the path would not
 * fit a unix socket address. */
static int
lv_dirs(struct lv_snapshot *ls, size_t max_domain)
{
	struct sockaddr_un sa;
	size_t need;

	if (asprintf(&ls->run_dir, "%s/run", ls->state_dir) < 0 ||
	    asprintf(&ls->scratch_dir, "%s/scratch", ls->state_dir) < 0)
		goto oom;
	need = strlen(ls->run_dir) + 1 + max_domain + strlen(".sock") + 1;
	if (need > sizeof(sa.sun_path)) {
		free(ls->run_dir);
		if (asprintf(&ls->run_dir, LV_RUN_FALLBACK "/%s", ls->token) < 0)
			goto oom;
	}
	if (mkdir_p(ls->run_dir, 0700) < 0 || mkdir_p(ls->scratch_dir, 0700) < 0)
		return -1;
	return 0;
oom:
	log_error("libvirt: %s: out of memory", ls->state_dir);
	return -1;
}

static int
lv_lock(struct lv_snapshot *ls)
{
	char *path = NULL;
	int ret = -1;

	if (asprintf(&path, "%s/libvirt.lock", ls->state_dir) < 0) {
		log_error("libvirt: %s: out of memory", ls->state_dir);
		return -1;
	}
	/* Two cycles of one group would delete each other's checkpoints. */
	ls->lock_fd = lockfile_take(path, 0600, false, "libvirt");
	if (ls->lock_fd == LOCKFILE_HELD) {
		log_error("libvirt: %s: another snapshot of this group is in progress", path);
		ls->lock_fd = -1;
	}
	if (ls->lock_fd < 0)
		goto out;
	ret = 0;
out:
	free(path);
	return ret;
}

static int
lv_begin_args(const char *const *domains, size_t ndomains, const char *state_dir,
	      size_t *max_domain)
{
	if (!domains || ndomains == 0 || ndomains > SNAP_MAX_DISKS || !state_dir) {
		log_error("libvirt: snapshot needs 1 to %d domains and a state "
			  "directory", SNAP_MAX_DISKS);
		return -1;
	}
	*max_domain = 0;
	for (size_t i = 0; i < ndomains; i++) {
		size_t len = domains[i] ? strlen(domains[i]) : 0;

		if (!name_valid(domains[i], len)) {
			log_error("libvirt: domain \"%s\": not usable as a name (1-%d of "
				  "[A-Za-z0-9._-], not starting with '.' or '-')",
				  domains[i] ? domains[i] : "", NAME_MAX_LEN);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(domains[k], domains[i]) == 0) {
				log_error("libvirt: domain %s listed twice", domains[i]);
				return -1;
			}
		if (len > *max_domain)
			*max_domain = len;
	}
	return 0;
}

/* Prepares the rbd part for the RBD disks (base 0: a full copy). */
static int
lv_rbd_prepare(struct lv_snapshot *ls, uint64_t base_point)
{
	struct snap_rbd_image imgs[SNAP_MAX_DISKS];
	const char *conf = ls->ceph_conf ? ls->ceph_conf : ls->xml_conf;
	const char *client = ls->ceph_client ? ls->ceph_client : ls->xml_user;

	snapshot_free(ls->rbd);
	ls->rbd = NULL;
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		struct lv_disk *d = &ls->d[k];

		if (d->rbd)
			imgs[d->rbd_idx] = (struct snap_rbd_image){
				ls->base.disks[k].name, d->src->pool, d->src->image };
	}
	ls->rbd = snapshot_rbd_prepare(conf, client, imgs, ls->nrbd,
				       ls->rbd_state_dir, base_point);
	return ls->rbd ? 0 : -1;
}

struct snapshot *
snapshot_libvirt_begin(const char *uri, const char *const *domains,
		       size_t ndomains, const char *state_dir, uint64_t base_point)
{
	return snapshot_libvirt_begin_ceph(uri, domains, ndomains, state_dir,
					   base_point, NULL);
}

/* The group's directories, lock, Ceph settings and libvirt connection. */
static int
lv_setup(struct lv_snapshot *ls, const char *uri, const char *const *domains,
	 const char *state_dir, size_t max_domain, const struct snap_libvirt_ceph *ceph,
	 const char *cp_name)
{
	uint64_t h;

	if (mkdir_p(state_dir, 0700) < 0)
		return -1;
	ls->state_dir = realpath(state_dir, NULL);
	if (!ls->state_dir) {
		log_error("libvirt: %s: %m", state_dir);
		return -1;
	}
	if ((ceph && ceph->conf && !(ls->ceph_conf = strdup(ceph->conf))) ||
	    (ceph && ceph->client && !(ls->ceph_client = strdup(ceph->client))) ||
	    (ceph && ceph->state_dir
	     ? !(ls->rbd_state_dir = strdup(ceph->state_dir))
	     : asprintf(&ls->rbd_state_dir, "%s/rbd", ls->state_dir) < 0)) {
		ls->rbd_state_dir = NULL;
		log_error("libvirt: %s: out of memory", state_dir);
		return -1;
	}
	h = hash64(ls->state_dir, strlen(ls->state_dir));
	snprintf(ls->token, sizeof(ls->token), "%016" PRIx64, h);
	snprintf(ls->cp_token, sizeof(ls->cp_token), "%s", cp_name ? cp_name : ls->token);
	if (lv_lock(ls) < 0 || lv_dirs(ls, max_domain) < 0)
		return -1;
	if (ls->keep) {
		if (lv_keep_begin(ls, uri, domains) < 0)
			return -1;
		lv_step(ls, "connected to libvirt");
		return 0;
	}
	ls->conn = sym_virConnectOpen(uri);
	if (!ls->conn) {
		log_error("libvirt: cannot connect to %s: %s", uri ? uri : "(default)",
			  lv_err());
		return -1;
	}
	lv_step(ls, "connected to libvirt");
	return 0;
}

/* The domain is the one its state was committed for (same UUID). */
static int
lv_vm_same(const struct lv_vm *vm)
{
	const char *uuid = json_string_value(json_object_get(vm->st, "uuid"));

	return vm->have_state && uuid && strcmp(uuid, vm->uuid) == 0;
}

/* Opens every domain and clears what an interrupted cycle left on it. */
static int
lv_open_vms(struct lv_snapshot *ls, const char *const *domains)
{
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		vm->name = strdup(domains[i]);
		if (!vm->name ||
		    asprintf(&vm->state_path, "%s/%s.json", ls->state_dir, vm->name) < 0 ||
		    asprintf(&vm->sock, "%s/%s.sock", ls->run_dir, vm->name) < 0) {
			vm->state_path = vm->sock = NULL;
			log_error("libvirt: domain %s: out of memory", domains[i]);
			return -1;
		}
		if (lv_vm_open(ls, vm) < 0 || lv_state_load(vm) < 0)
			return -1;
		if (ls->skip_cleanup && lv_vm_same(vm))
			continue;
		ls->skip_cleanup = 0;
		/* before the check, which would call them stale */
		lv_keep_delete_old(ls);
		if (lv_vm_cleanup(ls, vm) < 0)
			return -1;
	}
	/* The last snapshot of these domains committed cleanly in this
	 * process (a keep): nothing of ours can be left on them. */
	lv_step(ls, ls->skip_cleanup ? "domains opened" : "domains opened, leftovers checked");
	return 0;
}

/* Incremental or full for the whole group, RBD part prepared to match. */
static int
lv_decide(struct lv_snapshot *ls)
{
	int incremental = 1;

	/* One full disk makes the whole group full: a point is one instant of
	 * every disk, and the receiver builds it on one base. */
	for (size_t i = 0; i < ls->nvms; i++)
		if (!lv_vm_decide(ls, &ls->vms[i]))
			incremental = 0;
	/* The RBD disks follow the same rule: the group is incremental only
	 * if both the checkpoints and the rbd base snapshots are usable. */
	if (ls->nrbd) {
		if (!incremental)
			log_info("libvirt: RBD disks: full copy: the group's other "
				 "disks need one");
		if (lv_rbd_prepare(ls, incremental ? ls->base_point : 0) < 0)
			return -1;
		if (!snapshot_is_incremental(ls->rbd))
			incremental = 0;
	}
	ls->base.incremental = incremental;
	return 0;
}

/* Starts the jobs; a checkpoint found unusable makes the group a full
 * copy, begun again. Then the exports are opened. */
static int
lv_begin_jobs(struct lv_snapshot *ls)
{
	int r = lv_start_jobs(ls);

	if (r == 1) {
		for (size_t i = 0; i < ls->nvms; i++)
			lv_vm_abort(&ls->vms[i]);
		ls->base.incremental = 0;
		r = 0;
		if (ls->rbd && snapshot_is_incremental(ls->rbd))
			r = lv_rbd_prepare(ls, 0);
		if (r == 0)
			r = lv_start_jobs(ls);
	}
	if (r != 0)
		return -1;
	lv_step(ls, "backup jobs started");
	if (ls->rbd && snapshot_rbd_finish(ls->rbd) < 0)
		return -1;
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		if (ls->d[k].rbd)
			ls->base.disks[k].size = ls->d[k].size =
				snapshot_disk_size(ls->rbd, ls->d[k].rbd_idx);
		else if (lv_disk_connect(ls, k) < 0)
			return -1;
	}
	lv_step(ls, "NBD exports connected");
	return 0;
}

static struct snapshot *
lv_begin(const char *uri, const char *const *domains, size_t ndomains, const char *state_dir,
	 uint64_t base_point, const struct snap_libvirt_ceph *ceph, const char *cp_name,
	 struct snap_libvirt_keep *keep)
{
	struct lv_snapshot *ls = NULL;
	size_t max_domain = 0;

	if (cp_name && (strlen(cp_name) < 1 || strlen(cp_name) >= sizeof(ls->cp_token) ||
			!name_valid(cp_name, strlen(cp_name)))) {
		log_error("libvirt: checkpoint name part '%s' is not a short valid name", cp_name);
		return NULL;
	}
	if (lv_begin_args(domains, ndomains, state_dir, &max_domain) < 0 ||
	    virt_dl_load() < 0)
		return NULL;
	ls = calloc(1, sizeof(*ls));
	if (ls)
		ls->vms = calloc(ndomains, sizeof(*ls->vms));
	if (!ls || !ls->vms) {
		log_error("libvirt: out of memory");
		free(ls);
		return NULL;
	}
	ls->base.ops = &lv_ops;
	ls->lock_fd = -1;
	ls->base_point = base_point;
	ls->nvms = ndomains;
	ls->step_ns = clock_now_ns();
	ls->keep = keep;
	if (lv_setup(ls, uri, domains, state_dir, max_domain, ceph, cp_name) < 0 ||
	    lv_open_vms(ls, domains) < 0 || lv_decide(ls) < 0 || lv_begin_jobs(ls) < 0) {
		snapshot_free(&ls->base);
		return NULL;
	}
	/* after the instant: the guests run again, and a slow agent cannot
	 * stretch a freeze */
	for (size_t i = 0; i < ls->nvms; i++)
		lv_vm_nics(&ls->vms[i]);
	ls->base.resumable = 0; /* live guests change all the time */
	/* The backup jobs (and the rbd snapshots in this window) are one
	 * instant; frozen guests had nothing in flight. */
	ls->base.consistency = ls->app_consistent ? CONS_APP : CONS_CRASH;
	log_info("libvirt: snapshot of %zu domain(s), %zu disk(s) (%zu on RBD): "
		 "%s, %s", ndomains, ls->base.ndisks, ls->nrbd,
		 ls->base.incremental ? "incremental" : "full",
		 snapshot_libvirt_consistency(&ls->base));
	return &ls->base;
}

struct snapshot *
snapshot_libvirt_begin_ceph(const char *uri, const char *const *domains,
			    size_t ndomains, const char *state_dir,
			    uint64_t base_point, const struct snap_libvirt_ceph *ceph)
{
	return lv_begin(uri, domains, ndomains, state_dir, base_point, ceph, NULL, NULL);
}

struct snapshot *
snapshot_libvirt_begin_kept(const char *uri, const char *const *domains, size_t ndomains,
			    const char *state_dir, uint64_t base_point,
			    const struct snap_libvirt_ceph *ceph, struct snap_libvirt_keep *keep)
{
	return lv_begin(uri, domains, ndomains, state_dir, base_point, ceph, NULL, keep);
}

struct snapshot *
snapshot_libvirt_begin_named(const char *uri, const char *const *domains, size_t ndomains,
			     const char *state_dir, uint64_t base_point, const char *cp_name,
			     const struct snap_libvirt_ceph *ceph)
{
	return lv_begin(uri, domains, ndomains, state_dir, base_point, ceph, cp_name, NULL);
}

/* ---- extents ----------------------------------------------------------------- */

struct lv_fill_arg {
	struct lv_disk *d;
	const char *name;
};

static int
lv_fill_cb(void *opaque, uint64_t off, uint64_t len, unsigned flags)
{
	struct lv_fill_arg *a = opaque;
	int zero = (flags & (NBDSTATUS_HOLE | NBDSTATUS_ZERO)) != 0, kind;

	if (a->d->dirty_ctx)
		kind = !(flags & NBDSTATUS_DIRTY) ? 0 : zero ? SNAP_ZERO : SNAP_DATA;
	else
		kind = zero ? 0 : SNAP_DATA;
	if (coalesce_queue_add(&a->d->q, off, len, kind) < 0) {
		log_error("libvirt: disk %s: out of memory", a->name);
		return -1;
	}
	return 0;
}

/* Classifies the next window of the disk into spans. Full: allocated data
 * only (the receiver starts from zeros). Incremental: dirty ranges, as zero
 * where the allocation map says they read as zeros now. */
static int
lv_fill(void *arg)
{
	struct lv_fill_arg *a = arg;
	struct lv_disk *d = a->d;
	uint64_t len = d->size - d->q.pos;
	char what[2 * NAME_MAX_LEN + 32];
	int64_t n;

	if (len > LV_WINDOW)
		len = LV_WINDOW;
	snprintf(what, sizeof(what), "libvirt: disk %s", a->name);
	n = nbdstatus_walk(d->nbd, d->dirty_ctx, d->q.pos, len, lv_fill_cb, a, what);
	if (n < 0)
		return -1;
	d->q.pos += (uint64_t)n;
	return 0;
}

static int
lv_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
	       struct snap_extent *ext)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	struct lv_fill_arg a = { &ls->d[disk], snap->disks[disk].name };

	if (a.d->rbd)
		return snapshot_next_extent(ls->rbd, a.d->rbd_idx, max_len, ext);
	return coalesce_queue_next(&a.d->q, a.d->size, max_len, lv_fill, &a, ext);
}

/* One request to the disk's NBD export (a struct lv_fill_arg). */
static ssize_t
lv_read_piece(void *arg, uint64_t offset, void *buf, size_t n)
{
	struct lv_fill_arg *a = arg;

	/* libnbd handles serialise concurrent callers themselves. */
	if (sym_nbd_pread(a->d->nbd, buf, n, offset, 0) < 0) {
		log_error("libvirt: disk %s: read at %" PRIu64 ": %s", a->name, offset,
			  nbd_dl_error());
		return -1;
	}
	return (ssize_t)n;
}

static int
lv_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	size_t len)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	struct lv_fill_arg a = { &ls->d[disk], snap->disks[disk].name };

	if (a.d->rbd)
		return snapshot_read(ls->rbd, a.d->rbd_idx, offset, buf, len);
	return snapshot_read_pieces(offset, buf, len, LV_NBD_MAX_REQ, lv_read_piece, &a);
}

/* ---- commit / free ------------------------------------------------------------ */

static void
lv_disks_close(struct lv_snapshot *ls)
{
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		struct lv_disk *d = &ls->d[k];

		if (d->nbd) {
			sym_nbd_shutdown(d->nbd, 0);
			sym_nbd_close(d->nbd);
			d->nbd = NULL;
		}
	}
}

/* Every extent was read: the backup jobs end now, while the receiver
 * commits, rather than after it (~0.1 s per cycle here). The new
 * checkpoints stay; commit or abort decides on them as before. A job that
 * does not end is tried again by commit or abort. */
static void
lv_reads_done(struct snapshot *snap, uint64_t point_id)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;

	(void)point_id; /* nothing staged: the commit only rotates checkpoints */
	ls->step_ns = clock_now_ns();
	lv_disks_close(ls);
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->job && lv_job_end(vm) == 0) {
			vm->job = 0;
			lv_step(ls, "backup job ended (reads done)");
		}
		lv_scratch_drop(ls, vm);
	}
	/* The checkpoints the last commit replaced, while the receiver
	 * commits this point rather than between two cycles (a keep). */
	for (size_t i = 0; i < ls->nvms; i++)
		if (ls->vms[i].job)
			return;
	lv_keep_delete_old(ls);
}

static int
lv_commit(struct snapshot *snap, uint64_t point_id)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	int ret = 0, clean = 1;

	/* Both parts learn the new base even if one fails: the failed one
	 * makes the next point a full copy, which is right either way. */
	if (ls->rbd && snapshot_commit(ls->rbd, point_id) < 0)
		ret = -1;
	/* The new bases first, durably: from here on a crash leaves only
	 * stale jobs and old checkpoints, which the next begin removes. */
	for (size_t i = 0; i < ls->nvms; i++)
		if (lv_state_save(ls, &ls->vms[i], point_id) < 0)
			return -1;
	ls->committed = 1;
	ls->step_ns = clock_now_ns();
	lv_disks_close(ls);
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->job) {
			if (lv_job_end(vm) < 0)
				clean = 0;
			vm->job = 0;
			lv_step(ls, "backup job ended");
		}
		/* With a keep, the old checkpoint goes while the next point is
		 * committed (lv_reads_done), not before its snapshot. */
		if (vm->have_state && vm->st_cp &&
		    (!vm->new_cp || strcmp(vm->st_cp, vm->new_cp) != 0) &&
		    (!ls->keep || lv_keep_old_checkpoint(ls, vm, vm->st_cp, vm->base_broken) < 0)) {
			lv_checkpoint_delete(vm, vm->st_cp, "old", vm->base_broken);
			lv_step(ls, "old checkpoint deleted");
		}
		lv_unlink(vm->sock, "socket");
		lv_scratch_drop(ls, vm);
	}
	if (clean && ret == 0)
		lv_keep_committed(ls);
	log_info("libvirt: committed point %" PRIu64 " as the new base", point_id);
	return ret;
}

static void
lv_free(struct snapshot *snap)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;

	lv_disks_close(ls);
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->dom && !ls->committed)
			lv_vm_abort(vm);
		if (vm->dom)
			lv_scratch_drop(ls, vm);
		if (vm->dom)
			sym_virDomainFree(vm->dom);
		for (size_t k = 0; k < vm->nothers; k++)
			free(vm->others[k]);
		free(vm->others);
		json_decref(vm->st);
		free(vm->name);
		free(vm->xml);
		free(vm->nics);
		vmxml_free(vm->x);
		free(vm->state_path);
		free(vm->sock);
		free(vm->new_cp);
	}
	snapshot_free(ls->rbd); /* aborts its snapshots unless committed */
	free(ls->ceph_conf);
	free(ls->ceph_client);
	free(ls->rbd_state_dir);
	for (size_t k = 0; k < SNAP_MAX_DISKS; k++) {
		free(ls->d[k].scratch);
		free(ls->d[k].dirty_ctx);
		coalesce_queue_free(&ls->d[k].q);
	}
	if (ls->keep && !ls->committed)
		lv_keep_failed(ls); /* a failure may be the connection's */
	else if (!ls->keep && ls->conn)
		sym_virConnectClose(ls->conn);
	lockfile_release(ls->lock_fd);
	free(ls->vms);
	free(ls->state_dir);
	free(ls->run_dir);
	free(ls->scratch_dir);
	free(ls);
}

static const struct snapshot_ops lv_ops = {
	.name = "libvirt", .next_extent = lv_next_extent, .read = lv_read,
	.commit = lv_commit, .free = lv_free, .reads_done = lv_reads_done,
};

/* ---- per-VM accessors ---------------------------------------------------------- */

static const struct lv_snapshot *
lv_of(const struct snapshot *s)
{
	return s && s->ops == &lv_ops ? (const struct lv_snapshot *)s : NULL;
}

size_t
snapshot_libvirt_nvms(const struct snapshot *s)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls ? ls->nvms : 0;
}

const char *
snapshot_libvirt_vm_name(const struct snapshot *s, size_t vm)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls && vm < ls->nvms ? ls->vms[vm].name : NULL;
}

const char *
snapshot_libvirt_vm_xml(const struct snapshot *s, size_t vm)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls && vm < ls->nvms ? ls->vms[vm].xml : NULL;
}

int
snapshot_libvirt_vm_disk(const struct snapshot *s, size_t vm, size_t i,
			 const char **target, size_t *snap_disk)
{
	const struct lv_snapshot *ls = lv_of(s);

	if (!ls || vm >= ls->nvms || i >= ls->vms[vm].ndisks)
		return -1;
	if (target)
		*target = ls->d[ls->vms[vm].first + i].target;
	if (snap_disk)
		*snap_disk = ls->vms[vm].first + i;
	return 0;
}

int
snapshot_libvirt_rbd_own_ranges(struct snapshot *s, size_t disk,
				int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg)
{
	const struct lv_snapshot *ls = lv_of(s);

	if (!ls || disk >= ls->base.ndisks || !ls->d[disk].rbd) {
		log_error("libvirt: disk #%zu is not an RBD disk of the snapshot", disk);
		return -1;
	}
	return snapshot_rbd_own_ranges(ls->rbd, ls->d[disk].rbd_idx, fn, arg);
}

const struct snap_nic *
snapshot_libvirt_vm_nics(const struct snapshot *s, size_t vm, size_t *n)
{
	const struct lv_snapshot *ls = lv_of(s);

	*n = ls && vm < ls->nvms ? ls->vms[vm].nnics : 0;
	return *n ? ls->vms[vm].nics : NULL;
}

const char *
snapshot_libvirt_consistency(const struct snapshot *s)
{
	const struct lv_snapshot *ls = lv_of(s);

	if (!ls)
		return NULL;
	return ls->app_consistent ? "app-consistent" : "crash-consistent";
}
