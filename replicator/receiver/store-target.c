/* Target backend of a failback (store-target.h): the local backend
 * (store-local.c) with its chains rooted on the on-prem disks. Only the
 * root differs, so this file holds the disk list, the hook and a check of
 * a point's disk names; a point, its writes, its readers and its removal
 * are the local backend's code. */
#include "replicator/receiver/store-target.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-local.h"
#include "replicator/receiver/store-target-new.h"

struct target_disk {
	char name[STORE_NAME_MAX + 1];
	char format[STORE_TARGET_FORMAT_MAX];
	char *path;
	bool create; /* a new disk (store-target.h) */
};

struct target {
	struct store_local l; /* first: the local backend's code casts */
	struct store_backend_ops ops;
	size_t ndisks;
	struct target_disk disks[STORE_MAX_DISKS];
};

static void
target_free(struct store_backend *be)
{
	struct target *t = (struct target *)be;

	for (size_t i = 0; i < t->ndisks; i++)
		free(t->disks[i].path);
	free(t);
}

/* The on-prem disk named disk, or NULL (logged with ctx). */
static const struct target_disk *
target_disk(const struct target *t, const char *disk, const char *ctx)
{
	for (size_t i = 0; i < t->ndisks; i++)
		if (strcmp(t->disks[i].name, disk) == 0)
			return &t->disks[i];
	log_error("%s: not one of the target's on-prem disks: refused", ctx);
	errno = EINVAL;
	return NULL;
}

/* The on-prem disk is the root of every chain: qemu opens a backing file
 * read-only, so neither writes nor removals of target points touch it. */
static int
target_root(const struct store_local *l, const char *disk, const char *ctx,
	    struct store_local_root *out)
{
	const struct target_disk *td = target_disk((const struct target *)l, disk, ctx);

	if (!td)
		return -1;
	if (access(td->path, R_OK) < 0) {
		log_error("%s: on-prem disk %s: %m", ctx, td->path);
		return -1;
	}
	out->path = td->path;
	out->format = td->format;
	return 1;
}

/* A point's disks are named before the store resumes or discards the
 * pending point: an unknown disk is refused there, so a bad BEGIN costs
 * no resumable data. */
static int
target_disk_init(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char ctx[STORE_CTX_MAX];

	store_ctx(ctx, sizeof(ctx), w, d->name);
	if (!target_disk((const struct target *)be, d->name, ctx))
		return -1;
	return store_local_ops()->disk_init(be, w, d);
}

static int
target_disk_create(struct store_backend *be, const struct store_where *w, struct store_disk *d,
		   uint64_t base_id)
{
	char ctx[STORE_CTX_MAX];
	const struct target_disk *td;

	store_ctx(ctx, sizeof(ctx), w, d->name);
	if (!base_id && (td = target_disk((const struct target *)be, d->name, ctx)) &&
	    td->create && store_target_make(w->gdir, td->name, td->path, td->format, d->size,
					    ctx) < 0)
		return -1;
	return store_local_ops()->disk_create(be, w, d, base_id);
}

/* One disk of the options, checked and copied into td. 0 / -1 (logged). */
static int
target_disk_set(struct target_disk *td, const struct store_target_disk *in, size_t i)
{
	const char *name = in->name ? in->name : "";

	if (!store_name_ok(name)) {
		log_error("store: target disk #%zu: invalid disk name \"%s\"", i, name);
		return -1;
	}
	if (!in->path || in->path[0] != '/' || strnlen(in->path, PATH_MAX) >= PATH_MAX) {
		log_error("store: target disk %s: the on-prem disk needs an absolute path", name);
		return -1;
	}
	if (!in->format || (strcmp(in->format, "raw") != 0 && strcmp(in->format, "qcow2") != 0)) {
		log_error("store: target disk %s: format %s: only raw and qcow2 are known", name,
			  in->format ? in->format : "(none)");
		return -1;
	}
	snprintf(td->name, sizeof(td->name), "%s", name);
	snprintf(td->format, sizeof(td->format), "%s", in->format);
	td->create = in->create;
	td->path = strdup(in->path);
	if (!td->path) {
		log_error("store: out of memory");
		return -1;
	}
	return 0;
}

struct store_backend *
store_target_new(const struct store_target_disk *disks, size_t ndisks)
{
	struct target *t = NULL;

	if (ndisks == 0 || ndisks > STORE_MAX_DISKS) {
		log_error("store: a target needs 1 to %d on-prem disks, not %zu", STORE_MAX_DISKS,
			  ndisks);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		log_error("store: out of memory");
		return NULL;
	}
	t->ops = *store_local_ops();
	t->ops.name = "target";
	t->ops.free = target_free;
	t->ops.disk_init = target_disk_init;
	t->ops.disk_create = target_disk_create;
	t->l.be.ops = &t->ops;
	t->l.root = target_root;
	for (size_t i = 0; i < ndisks; i++) {
		for (size_t j = 0; j < i; j++)
			if (disks[j].name && disks[i].name &&
			    strcmp(disks[j].name, disks[i].name) == 0) {
				log_error("store: target disk %s: listed twice", disks[i].name);
				goto fail;
			}
		if (target_disk_set(&t->disks[i], &disks[i], i) < 0)
			goto fail;
		t->ndisks = i + 1;
	}
	return &t->l.be;
fail:
	target_free(&t->l.be);
	return NULL;
}

struct store *
store_open_target(const char *root, const struct store_target_disk *disks, size_t ndisks)
{
	return store_open_backend(root, store_target_new(disks, ndisks));
}
