/* The target store of a group (target.h): its on-prem disks from the
 * agent's configuration, its directory made durable, the store opened. */
#include "failback/target.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "failback/newdisks.h"
#include "snapshot/image.h"

void
failback_disks_clear(struct failback_disks *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->path[i]);
	memset(d, 0, sizeof(*d));
}

/* d's format into fmt: the configured one, else what qemu-img finds. */
static int
disk_format(const struct agent_disk_cfg *d, const char *path, const char *group, char *fmt)
{
	struct image *img;

	if (!d->format) {
		img = image_open(path, NULL);
		if (!img)
			return -1;
		snprintf(fmt, STORE_TARGET_FORMAT_MAX, "%s", image_format(img));
		image_free(img);
		return 0;
	}
	if (strcmp(d->format, "raw") != 0 && strcmp(d->format, "qcow2") != 0) {
		log_error("failback: group %s disk %s: format %s: a target takes raw or qcow2",
			  group, d->name, d->format);
		return -1;
	}
	snprintf(fmt, STORE_TARGET_FORMAT_MAX, "%s", d->format);
	return 0;
}

int
failback_disks_of(const struct agent_group_cfg *g, struct failback_disks *out)
{
	memset(out, 0, sizeof(*out));
	if (g->domains) {
		log_error("failback: group %s: disks of libvirt domains: not supported yet",
			  g->name);
		return -1;
	}
	if (g->ndisks == 0 || g->ndisks > STORE_MAX_DISKS) {
		log_error("failback: group %s: %zu disks, a target takes 1 to %d", g->name,
			  g->ndisks, STORE_MAX_DISKS);
		return -1;
	}
	for (size_t i = 0; i < g->ndisks; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];

		if (!d->path) {
			log_error("failback: group %s disk %s: an RBD disk: not supported yet",
				  g->name, d->name);
			goto fail;
		}
		/* Absolute, as the overlays' backing file; and it must be there. */
		out->path[i] = realpath(d->path, NULL);
		if (!out->path[i]) {
			log_error("failback: group %s disk %s: on-prem disk %s: %m (lost? fail back "
				  "into new disks: failback start --new-disks)", g->name, d->name,
				  d->path);
			goto fail;
		}
		out->n = i + 1;
		if (disk_format(d, out->path[i], g->name, out->format[i]) < 0)
			goto fail;
		out->v[i] = (struct store_target_disk){ d->name, out->path[i], out->format[i], false };
	}
	return 0;
fail:
	failback_disks_clear(out);
	return -1;
}

char *
failback_root(const struct agent_config *cfg)
{
	return strfmt("%s/failback", cfg->state_dir);
}

/* mkdir path (there already is fine), then fsync its parent so that its
 * name survives a power cut. 0 / -1 (logged). */
static int
mkdir_durable(const char *path, const char *parent)
{
	struct stat sb;

	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		log_error("failback: mkdir %s: %m", path);
		return -1;
	}
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_error("failback: %s is not a directory", path);
		return -1;
	}
	return dir_fsync(parent);
}

const struct agent_group_cfg *
failback_group_of(const struct agent_config *cfg, const char *group)
{
	for (size_t i = 0; i < cfg->ngroups; i++)
		if (strcmp(cfg->groups[i].name, group) == 0)
			return &cfg->groups[i];
	log_error("failback: no group %s in the agent's configuration", group);
	return NULL;
}

char *
failback_target_dir(const struct agent_config *cfg, const char *group)
{
	char *root = failback_root(cfg);
	char *gdir = root ? strfmt("%s/%s", root, group) : NULL;

	if (gdir && (mkdir_durable(root, cfg->state_dir) < 0 || mkdir_durable(gdir, root) < 0)) {
		free(gdir);
		gdir = NULL;
	}
	free(root);
	return gdir;
}

struct store *
failback_target_open(const struct agent_config *cfg, const char *group)
{
	const struct agent_group_cfg *g = failback_group_of(cfg, group);
	struct failback_disks disks = { 0 };
	char *root = NULL, *gdir = NULL;
	struct store *st = NULL;
	int k;

	root = g ? failback_root(cfg) : NULL;
	gdir = root ? strfmt("%s/%s", root, group) : NULL;
	/* New disks (newdisks.h) stand in for the on-prem disks, lost. */
	if (!gdir || (k = failback_newdisks_load(g, gdir, &disks)) < 0 ||
	    (k == 0 && failback_disks_of(g, &disks) < 0))
		goto out;
	if (mkdir_durable(root, cfg->state_dir) < 0 || mkdir_durable(gdir, root) < 0)
		goto out;
	st = store_open_target(root, disks.v, disks.n);
out:
	failback_disks_clear(&disks);
	free(gdir);
	free(root);
	return st;
}
