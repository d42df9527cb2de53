/* The DR network records (failover/drnet-record.h): JSON files replaced
 * atomically, and the store's lock. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
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
#include "failover/drnet-record.h"

#define RECORD_MAX (1u << 20)
#define RECORD_NAME "failover-net.json"
#define HOST_NAME ".drnet.json"

int
drnet_record_lock(const char *root)
{
	char *path = strfmt("%s/.drnet.lock", root);
	int fd = path ? lockfile_take(path, 0600, true, "dr network") : -1;

	free(path);
	return fd;
}

void
drnet_record_unlock(int fd)
{
	lockfile_release(fd);
}

static int
save_at(const char *path, const json_t *rec)
{
	int ret = path ? jsonfile_save(path, rec, JSON_INDENT(2) | JSON_SORT_KEYS, 0644) : -1;

	return ret;
}

static json_t *
load_at(const char *path, bool *absent)
{
	json_t *rec = NULL;
	int rc = path ? jsonfile_load(path, RECORD_MAX, JSON_REJECT_DUPLICATES, &rec) : -1;

	*absent = rc == 1;
	return rc == 0 ? rec : NULL;
}

static int
remove_at(const char *path)
{
	char *dir, *slash;
	int ret = 0;

	if (!path)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("%s: %m", path);
		return -1;
	}
	if (!(dir = strdup(path)))
		return -1;
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	ret = dir_fsync(dir);
	free(dir);
	return ret;
}

int
drnet_record_save(const char *root, const char *group, const json_t *rec)
{
	char *path = strfmt("%s/%s/" RECORD_NAME, root, group);
	int ret = save_at(path, rec);

	free(path);
	return ret;
}

json_t *
drnet_record_load(const char *root, const char *group, bool *absent)
{
	char *path = strfmt("%s/%s/" RECORD_NAME, root, group);
	json_t *rec = load_at(path, absent);

	free(path);
	return rec;
}

json_t *
drnet_record_load_all(const char *root, const char *skip)
{
	DIR *dir = opendir(root);
	json_t *all = json_array();
	struct dirent *de;

	if (!dir || !all) {
		log_error("store %s: %m", root);
		goto fail;
	}
	while ((de = readdir(dir)) != NULL) {
		bool absent = false;
		json_t *rec;

		if (!name_valid(de->d_name, strlen(de->d_name)) ||
		    (skip && !strcmp(de->d_name, skip)))
			continue;
		rec = drnet_record_load(root, de->d_name, &absent);
		if (!rec && !absent)
			goto fail;
		if (rec)
			json_array_append_new(all, rec);
	}
	closedir(dir);
	return all;
fail:
	if (dir)
		closedir(dir);
	json_decref(all);
	return NULL;
}

int
drnet_record_remove(const char *root, const char *group)
{
	char *path = strfmt("%s/%s/" RECORD_NAME, root, group);
	int ret = remove_at(path);

	free(path);
	return ret;
}

json_t *
drnet_record_host_load(const char *root, bool *absent)
{
	char *path = strfmt("%s/" HOST_NAME, root);
	json_t *rec = load_at(path, absent);

	free(path);
	return rec;
}

int
drnet_record_host_save(const char *root, const json_t *rec)
{
	char *path = strfmt("%s/" HOST_NAME, root);
	int ret = save_at(path, rec);

	free(path);
	return ret;
}

int
drnet_record_host_remove(const char *root)
{
	char *path = strfmt("%s/" HOST_NAME, root);
	int ret = remove_at(path);

	free(path);
	return ret;
}
