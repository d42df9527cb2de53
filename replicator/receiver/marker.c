/* Failed-over marker files: written atomically by `nestor failover`,
 * checked by the receiver before it accepts a point. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "replicator/receiver/marker.h"

#define MARKER_NAME "failover.json"
#define MARKER_MAX (1u << 20)

char *
failover_marker_path(const char *store_dir, const char *group)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s/%s", store_dir, group, MARKER_NAME) < 0) {
		log_error("group %s: out of memory", group);
		return NULL;
	}
	return p;
}

bool
failover_group_is_failed_over(const char *store_dir, const char *group)
{
	char *p = failover_marker_path(store_dir, group);
	struct stat sb;
	bool yes = true;

	if (!p)
		return true;
	if (lstat(p, &sb) == 0)
		yes = true;
	else if (errno == ENOENT)
		yes = false;
	else
		log_error("group %s: cannot check the failover marker %s: %m", group, p);
	free(p);
	return yes;
}

int
failover_marker_save(const char *store_dir, const char *group, json_t *m)
{
	char *p = failover_marker_path(store_dir, group);
	char *txt = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
	int ret = -1;

	if (!p || !txt) {
		log_error("group %s: cannot encode the failover marker", group);
		goto out;
	}
	ret = file_write_atomic(p, txt, strlen(txt), 0644);
out:
	free(txt);
	free(p);
	return ret;
}

json_t *
failover_marker_load(const char *store_dir, const char *group, bool *absent)
{
	char *p = failover_marker_path(store_dir, group);
	void *data = NULL;
	size_t len = 0;
	json_t *m = NULL;
	json_error_t jerr;

	*absent = false;
	if (!p)
		return NULL;
	if (access(p, F_OK) < 0 && errno == ENOENT) {
		*absent = true;
		goto out;
	}
	if (file_read_all(p, MARKER_MAX, &data, &len) < 0)
		goto out;
	m = json_loadb(data, len, 0, &jerr);
	if (!json_is_object(m)) {
		log_error("group %s: failover marker %s is not a JSON object: %s", group, p,
			  jerr.text);
		json_decref(m);
		m = NULL;
	}
out:
	free(data);
	free(p);
	return m;
}

int
failover_marker_remove(const char *store_dir, const char *group)
{
	char *p = failover_marker_path(store_dir, group);
	char *dir = NULL;
	int ret = -1;

	if (!p)
		return -1;
	if (unlink(p) < 0 && errno != ENOENT) {
		log_error("group %s: cannot remove the failover marker %s: %m", group, p);
		goto out;
	}
	if (asprintf(&dir, "%s/%s", store_dir, group) < 0) {
		dir = NULL;
		log_error("group %s: out of memory", group);
		goto out;
	}
	ret = dir_fsync(dir);
out:
	free(dir);
	free(p);
	return ret;
}
