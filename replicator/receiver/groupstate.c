/* Group state beside the catalog: drill pins, reports, group detection
 * (groupstate.h). */
#include "replicator/receiver/groupstate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store-backend.h"

#define GROUPSTATE_PIN_MAX 64 /* bytes of a drill's point file */

char *
groupstate_run_dir(const char *store_dir, const char *group, bool failover, const char *id)
{
	return strfmt("%s/%s/%s/%s", store_dir, group, failover ? "failover" : "drills", id);
}

char *
groupstate_report_path(const char *store_dir, const char *group, bool failover,
		       const char *id)
{
	return strfmt("%s/%s/%s/%s.json", store_dir, group, failover ? "failover" : "drills",
		       id);
}

int
groupstate_pin(const char *store_dir, const char *group, const char *id, uint64_t point)
{
	char *path = strfmt("%s/%s/drills/%s/point", store_dir, group, id);
	char text[32];
	int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", point);
	int rc = -1;

	if (path)
		rc = file_write_atomic(path, text, (size_t)n, 0644);
	free(path);
	return rc;
}

void
groupstate_unpin(const char *store_dir, const char *group, const char *id, uint64_t point)
{
	char *path = strfmt("%s/%s/drills/%s/point", store_dir, group, id);

	if (path && unlink(path) < 0 && errno != ENOENT)
		log_warn("drill %s: unlink %s: %m (retention keeps point %" PRIu64
			 " until it is gone)", id, path, point);
	free(path);
}

/* The failed-over point; 0 without a marker, UINT64_MAX if unreadable. */
static uint64_t
failover_point(const char *store_dir, const char *group)
{
	bool absent;
	json_t *m = failover_marker_load(store_dir, group, &absent);
	uint64_t max = 0;

	if (absent)
		return 0;
	/* an unreadable marker (m NULL) has no point either */
	if (jsonfile_u64(m, "point", INT64_MAX, &max, NULL) < 0 || max == 0) {
		log_warn("retention: group %s: failover marker without a point: keeping "
			 "every point", group);
		max = UINT64_MAX;
	}
	json_decref(m);
	return max;
}

/* The point a pin file names; 0 = no pin there, UINT64_MAX if unreadable. */
static uint64_t
pin_point(const char *group, const char *path)
{
	char buf[GROUPSTATE_PIN_MAX + 1];
	void *data = NULL;
	size_t len = 0;
	uint64_t id = 0;

	if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0; /* a finished drill's report dir, or not a drill */
	if (file_read_all(path, GROUPSTATE_PIN_MAX, &data, &len) < 0)
		return UINT64_MAX;
	memcpy(buf, data, len);
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	free(data);
	if (parse_u64(buf, &id) < 0 || id == 0) {
		log_warn("retention: group %s: %s does not hold a point id: keeping "
			 "every point", group, path);
		return UINT64_MAX;
	}
	return id;
}

uint64_t
groupstate_pinned_max(const char *store_dir, const char *group)
{
	char *dir = strfmt("%s/%s/drills", store_dir, group);
	DIR *dd = NULL;
	struct dirent *de;
	uint64_t max = failover_point(store_dir, group);

	if (!dir)
		return UINT64_MAX;
	dd = opendir(dir);
	if (!dd && errno != ENOENT) {
		log_warn("retention: group %s: opendir %s: %m: keeping every point", group, dir);
		max = UINT64_MAX;
	}
	while (dd && (de = readdir(dd)) != NULL) {
		char *path;
		uint64_t id;

		if (!name_valid(de->d_name, strlen(de->d_name)))
			continue;
		path = strfmt("%s/%s/point", dir, de->d_name);
		if (!path) {
			max = UINT64_MAX;
			break;
		}
		id = pin_point(group, path);
		if (id > max)
			max = id;
		free(path);
	}
	if (dd)
		closedir(dd);
	free(dir);
	return max;
}

static bool
has_file(const char *store_dir, const char *group, const char *file)
{
	char *p = strfmt("%s/%s/%s", store_dir, group, file);
	struct stat sb;
	bool ok = p && stat(p, &sb) == 0;

	free(p);
	return ok;
}

bool
groupstate_is_group(const char *store_dir, const char *group)
{
	/* Only directories the store or a failover made are groups. */
	return has_file(store_dir, group, "catalog.json") ||
	       has_file(store_dir, group, "pending.json") ||
	       has_file(store_dir, group, "failover.json");
}

char *
groupstate_last_drill_report(const char *store_dir, const char *group)
{
	char *dir = strfmt("%s/%s/drills", store_dir, group);
	char *best = NULL, *path = NULL;
	struct timespec best_t = { 0 };
	DIR *d = NULL;
	struct dirent *de;

	if (!dir || !(d = opendir(dir)))
		goto out;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		struct stat sb;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (best && (sb.st_mtim.tv_sec < best_t.tv_sec ||
			     (sb.st_mtim.tv_sec == best_t.tv_sec &&
			      sb.st_mtim.tv_nsec <= best_t.tv_nsec)))
			continue;
		free(best);
		best = strdup(de->d_name);
		best_t = sb.st_mtim;
		if (!best)
			goto out;
	}
	if (best)
		path = strfmt("%s/%s", dir, best);
out:
	free(best);
	if (d)
		closedir(d);
	free(dir);
	return path;
}
