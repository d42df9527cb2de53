/* A drill's run record and lock, and the sweep of dead drills
 * (failover/drill-sweep.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "common/virt-dl.h"
#include "failover/drill-lan-host.h"
#include "failover/drill-lan.h"
#include "failover/drill-run.h"
#include "failover/drill.h"
#include "failover/drill-sweep.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/store.h"

#define RECORD_MAX (1u << 20)
#define SWEEP_MAX_LIST 256

/* The lock of workdir's run (lockfile_take): LOCKFILE_HELD when it is
 * held, logged unless busy_ok; -1 logged. */
static int
lock_take(const char *workdir, bool busy_ok)
{
	char *path = strfmt("%s/run.lock", workdir);
	int fd = path ? lockfile_take(path, 0600, false, "drill") : -1;

	if (fd == LOCKFILE_HELD && !busy_ok)
		log_error("%s: cannot lock: %m", path);
	free(path);
	return fd;
}

int
drill_sweep_lock(const char *workdir)
{
	int fd = lock_take(workdir, false);

	return fd < 0 ? -1 : fd;
}

int
drill_sweep_save(const char *workdir, const json_t *rec)
{
	char *path = strfmt("%s/run.json", workdir);
	int ret = path ? jsonfile_save(path, rec, JSON_INDENT(2), 0644) : -1;

	free(path);
	return ret;
}

int
drill_sweep_remove(const char *workdir)
{
	char *path = strfmt("%s/run.json", workdir);
	int ret = 0;

	if (!path || (unlink(path) < 0 && errno != ENOENT)) {
		log_error("%s: cannot remove: %m", path ? path : workdir);
		ret = -1;
	} else if (dir_fsync(workdir) < 0) {
		ret = -1;
	}
	free(path);
	return ret;
}

/* Does s end with "-drill-ID" / equal "nestor-drill-ID": a name this drill
 * made, not anything else on the host? */
static bool
own_domain(const char *s, const char *id)
{
	size_t n = strlen(s), k = strlen(id);

	return n > k + 7 && !strncmp(s + n - k - 7, "-drill-", 7) && !strcmp(s + n - k, id);
}

static int
domain_destroy(virConnectPtr conn, const char *name, const char *ctx)
{
	virDomainPtr dom = sym_virDomainLookupByName(conn, name);
	int ret = 0;

	if (!dom)
		return 0;
	/* a drill's domains are transient: destroyed is gone */
	if (sym_virDomainIsActive(dom) == 1 && sym_virDomainDestroy(dom) < 0) {
		log_error("%s: cannot destroy domain %s: %s", ctx, name, virt_dl_error());
		ret = -1;
	} else {
		log_info("%s: domain %s destroyed", ctx, name);
	}
	sym_virDomainFree(dom);
	return ret;
}

/* The DR network copies of rec, then its domains, network and overlays. */
static int
sweep_items(virConnectPtr conn, struct store *st, const json_t *rec, const char *id,
	    const char *dir, const char *ctx)
{
	const json_t *lans = json_object_get(rec, "lans"), *doms = json_object_get(rec, "domains"),
		     *ovl = json_object_get(rec, "overlays"), *e;
	const char *net = json_string_value(json_object_get(rec, "network"));
	char want[80];
	int ret = 0;
	size_t i;

	if (json_array_size(lans) > SWEEP_MAX_LIST || json_array_size(doms) > SWEEP_MAX_LIST ||
	    json_array_size(ovl) > SWEEP_MAX_LIST * 4) {
		log_error("%s: run record too long", ctx);
		return -1;
	}
	json_array_foreach(doms, i, e) {
		const char *s = json_string_value(e);

		if (s && own_domain(s, id) && domain_destroy(conn, s, ctx) < 0)
			ret = -1;
	}
	json_array_foreach(lans, i, e) {
		struct drill_lan l;
		const char *why;

		if (drill_lan_from_json(e, &l, &why) < 0) {
			log_error("%s: lans[%zu]: %s", ctx, i, why);
			ret = -1;
		} else if (drill_lan_host_down(conn, &l, ctx) < 0) {
			ret = -1;
		}
	}
	snprintf(want, sizeof(want), "nestor-drill-%s", id);
	if (net && !strcmp(net, want) && drill_lan_host_net_destroy(conn, net, ctx) < 0)
		ret = -1;
	json_array_foreach(ovl, i, e) {
		const char *s = json_string_value(e);
		size_t dl = strlen(dir);
		bool in_dir = s && !strncmp(s, dir, dl) && s[dl] == '/';
		bool rbd = s && !strncmp(s, "rbd:", 4) && strstr(s, id);

		/* only the clones this drill made: in its work dir, or its RBD clone */
		if (!st || !(in_dir || rbd))
			continue;
		if (store_clone_remove(st, s) < 0)
			ret = -1;
	}
	return ret;
}

/* Drill id of group: swept (1), running or kept (0), failed (-1). */
static int
sweep_one(virConnectPtr conn, struct store *st, const char *root, const char *group,
	  const char *id, bool kept_too)
{
	char *dir = strfmt("%s/%s/drills/%s", root, group, id), *path = NULL, *ctx = NULL;
	json_t *rec = NULL;
	uint64_t point = 0;
	int fd = -1, ret = -1, r;

	if (!dir || !(path = strfmt("%s/run.json", dir)) || !(ctx = strfmt("drill %s", id)))
		goto out;
	if (access(path, F_OK) < 0) {
		ret = 0;
		goto out;
	}
	fd = lock_take(dir, true);
	if (fd == LOCKFILE_HELD) {
		ret = 0;  /* it runs */
		goto out;
	}
	if (fd < 0 || (r = jsonfile_load(path, RECORD_MAX, JSON_REJECT_DUPLICATES, &rec)) < 0)
		goto out;
	if (r == 1 || (json_is_true(json_object_get(rec, "kept")) && !kept_too)) {
		ret = 0;
		goto out;
	}
	if (jsonfile_u64(rec, "point", UINT64_MAX, &point, path) < 0)
		goto out;
	log_info("%s: group %s: not running: removing what it left", ctx, group);
	if (sweep_items(conn, st, rec, id, dir, ctx) < 0)
		goto out;
	if (point)
		groupstate_unpin(root, group, id, point);
	ret = drill_sweep_remove(dir) < 0 ? -1 : 1;
out:
	if (fd >= 0)
		close(fd);
	json_decref(rec);
	free(ctx);
	free(path);
	free(dir);
	return ret;
}

int
drill_sweep(virConnectPtr conn, struct store *st, const char *root, const char *group,
	    bool kept_too)
{
	char *path = strfmt("%s/%s/drills", root, group);
	DIR *dir = path ? opendir(path) : NULL;
	struct dirent *e;
	int swept = 0, failed = 0;

	if (!dir) {
		free(path);
		return 0;  /* no drill ever ran */
	}
	while ((e = readdir(dir)) != NULL) {
		int r;

		if (e->d_name[0] == '.' || !name_valid(e->d_name, strlen(e->d_name)))
			continue;
		r = sweep_one(conn, st, root, group, e->d_name, kept_too);
		swept += r == 1;
		failed += r < 0;
	}
	closedir(dir);
	free(path);
	return failed ? -1 : swept;
}

int
drill_cleanup(struct store *st, const char *store_dir, const char *group, const char *uri)
{
	char *root = realpath(store_dir, NULL);
	virConnectPtr conn = NULL;
	int ret = -1;

	if (!root) {
		log_error("store %s: %m", store_dir);
		return -1;
	}
	if (virt_dl_load() < 0)
		goto out;
	if (!(conn = sym_virConnectOpen(uri ? uri : DRILL_DEFAULT_URI))) {
		log_error("cannot connect to libvirt at %s: %s", uri ? uri : DRILL_DEFAULT_URI,
			  virt_dl_error());
		goto out;
	}
	ret = drill_sweep(conn, st, root, group, true);
out:
	if (conn)
		sym_virConnectClose(conn);
	free(root);
	return ret;
}
