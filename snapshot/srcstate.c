/* The change sources' per-disk JSON records (snapshot/srcstate.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/parse.h"
#include "snapshot/srcstate.h"

int
srcstate_load(const char *kind, const char *name, const char *path, json_t **root)
{
	void *data = NULL;
	size_t len = 0;
	json_error_t jerr;

	*root = NULL;
	if (access(path, F_OK) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("%s %s: %s: %m", kind, name, path);
		return -1;
	}
	if (file_read_all(path, SRCSTATE_MAX, &data, &len) < 0)
		return -1;
	*root = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!*root || !json_is_object(*root)) {
		log_warn("%s %s: %s: unreadable (%s), ignoring it", kind, name, path,
			 *root ? "not an object" : jerr.text);
		json_decref(*root);
		*root = NULL;
		return 0;
	}
	return 1;
}

int
srcstate_save(const char *kind, const char *name, const char *path, json_t *root,
	      size_t flags)
{
	int ret = -1;

	if (!root)
		log_error("%s %s: %s: out of memory building the record", kind, name, path);
	else
		ret = jsonfile_save(path, root, flags, 0600);
	json_decref(root);
	return ret;
}

int
srcstate_get_u64(const json_t *root, const char *key, uint64_t *out)
{
	const char *s = json_string_value(json_object_get(root, key));

	return s && parse_u64(s, out) == 0 ? 0 : -1;
}

int
srcstate_set_u64(json_t *root, const char *key, uint64_t v)
{
	char buf[24];

	if (!root)
		return -1;
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_set_new(root, key, json_string(buf));
}

void
srcstate_remove(const char *disk, const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("disk %s: %s: unlink: %m", disk, path);
}

int
srcstate_decide(int have_state, uint64_t st_point, uint64_t base_point,
		const char *(*check)(void *disk), void *disk, int *incremental,
		const char **reason)
{
	if (!have_state)
		*reason = "first run (no committed state)";
	else if (base_point == 0 || st_point != base_point)
		*reason = "base mismatch (receiver's point is not the committed one)";
	else
		*reason = check(disk);
	*incremental = !*reason;
	return *incremental;
}

void
srcstate_join_group(int group, int *incremental, const char **reason)
{
	if (!group && *incremental) {
		*incremental = 0;
		*reason = "another disk of the group needs a full copy";
	}
}
