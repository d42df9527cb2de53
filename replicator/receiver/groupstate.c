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

/* A report seen by groupstate_recent_reports. */
struct report_ent {
	char *name;
	struct timespec t;
};

static int
newer_first(const void *a, const void *b)
{
	const struct report_ent *x = a, *y = b;

	if (x->t.tv_sec != y->t.tv_sec)
		return x->t.tv_sec < y->t.tv_sec ? 1 : -1;
	if (x->t.tv_nsec != y->t.tv_nsec)
		return x->t.tv_nsec < y->t.tv_nsec ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Keep the max newest of v (n entries, room for max + 1): the last one
 * goes when there is one too many. */
static void
keep_newest(struct report_ent *v, size_t *n, size_t max)
{
	qsort(v, *n, sizeof(*v), newer_first);
	if (*n > max) {
		free(v[max].name);
		*n = max;
	}
}

int
groupstate_recent_reports(const char *store_dir, const char *group, bool failover, size_t max,
			  char ***out, size_t *n)
{
	char *dir = strfmt("%s/%s/%s", store_dir, group, failover ? "failover" : "drills");
	struct report_ent *v = calloc(max + 1, sizeof(*v));
	size_t cnt = 0;
	char **paths = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!dir || !v || max == 0)
		goto out;
	d = opendir(dir);
	if (!d) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0)
			log_error("%s: %m", dir);
		goto out;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		struct stat sb;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
			continue;
		v[cnt].name = strdup(de->d_name);
		v[cnt].t = sb.st_mtim;
		if (!v[cnt].name)
			goto out;
		cnt++;
		/* Bounded whatever the directory holds: the max newest so far. */
		if (cnt > max)
			keep_newest(v, &cnt, max);
	}
	keep_newest(v, &cnt, max);
	paths = calloc(cnt + 1, sizeof(*paths));
	if (!paths)
		goto out;
	for (size_t i = 0; i < cnt; i++)
		if (!(paths[i] = strfmt("%s/%s", dir, v[i].name)))
			goto out;
	*out = paths;
	*n = cnt;
	paths = NULL;
	rc = 0;
out:
	for (size_t i = 0; paths && i < cnt; i++)
		free(paths[i]);
	free(paths);
	for (size_t i = 0; v && i < cnt; i++)
		free(v[i].name);
	free(v);
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

char *
groupstate_last_drill_report(const char *store_dir, const char *group)
{
	char **paths = NULL, *path = NULL;
	size_t n = 0;

	if (groupstate_recent_reports(store_dir, group, false, 1, &paths, &n) == 0 && n)
		path = paths[0];
	free(paths);
	return path;
}
