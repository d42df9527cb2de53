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
#include "common/jsonfile.h"
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
	int ret;

	if (!p)
		return -1;
	ret = jsonfile_save(p, m, JSON_INDENT(2) | JSON_SORT_KEYS, 0644);
	free(p);
	return ret;
}

json_t *
failover_marker_load(const char *store_dir, const char *group, bool *absent)
{
	char *p = failover_marker_path(store_dir, group);
	json_t *m = NULL;
	json_error_t jerr;

	*absent = false;
	if (!p)
		return NULL;
	switch (jsonfile_read(p, MARKER_MAX, 0, &m, &jerr)) {
	case 1:
		*absent = true;
		break;
	case -2:
		log_error("group %s: failover marker %s is not a JSON object: %s", group, p,
			  jerr.text);
		break;
	}
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
