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
#include "failback/ondomains.h"
#include "snapshot/image.h"

void
failback_disks_clear(struct failback_disks *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->path[i]);
		free(d->given[i]);
	}
	memset(d, 0, sizeof(*d));
}

/* The format of path into fmt: fmt as given, else what qemu-img finds. */
static int
disk_format(const char *given, const char *path, const char *group, const char *name,
	    char *fmt)
{
	struct image *img;

	if (!given) {
		img = image_open(path, NULL);
		if (!img)
			return -1;
		snprintf(fmt, STORE_TARGET_FORMAT_MAX, "%s", image_format(img));
		image_free(img);
		return 0;
	}
	if (strcmp(given, "raw") != 0 && strcmp(given, "qcow2") != 0) {
		log_error("failback: group %s disk %s: format %s: a target takes raw or qcow2",
			  group, name, given);
		return -1;
	}
	snprintf(fmt, STORE_TARGET_FORMAT_MAX, "%s", given);
	return 0;
}

int
failback_disks_add(struct failback_disks *d, const char *group, const char *name,
		   const char *path, const char *fmt)
{
	size_t i = d->n;

	if (i == STORE_MAX_DISKS || strlen(name) >= sizeof(d->dname[i])) {
		log_error("failback: group %s disk %s: more than %d disks or too long a name",
			  group, name, STORE_MAX_DISKS);
		return -1;
	}
	/* Absolute, as the overlays' backing file; and it must be there. */
	d->path[i] = realpath(path, NULL);
	if (!d->path[i]) {
		log_error("failback: group %s disk %s: on-prem disk %s: %m (lost? fail back into "
			  "new disks: failback start --new-disks)", group, name, path);
		return -1;
	}
	d->n = i + 1;
	if (!(d->given[i] = strdup(path))) {
		log_error("failback: group %s disk %s: out of memory", group, name);
		return -1;
	}
	if (disk_format(fmt, d->path[i], group, name, d->format[i]) < 0)
		return -1;
	snprintf(d->dname[i], sizeof(d->dname[i]), "%s", name);
	d->v[i] = (struct store_target_disk){ d->dname[i], d->path[i], d->format[i], false };
	return 0;
}

int
failback_disks_of(const struct agent_group_cfg *g, struct failback_disks *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < g->ndisks; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];

		if (!d->path) {
			log_error("failback: group %s disk %s: an RBD disk: not supported yet",
				  g->name, d->name);
			goto fail;
		}
		if (failback_disks_add(out, g->name, d->name, d->path, d->format) < 0)
			goto fail;
	}
	if (g->domains && ondomains_disks(g, out) < 0)
		goto fail;
	if (out->n == 0) {
		log_error("failback: group %s: no disk to fail back", g->name);
		goto fail;
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
