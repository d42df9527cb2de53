/* JSON files (common/jsonfile.h). */
#include "common/jsonfile.h"

#include "common/fileutil.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
jsonfile_read(const char *path, size_t max, size_t flags, json_t **root, json_error_t *jerr)
{
	void *data = NULL;
	size_t len;
	int ret = -1;

	*root = NULL;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (file_read_all(path, max, &data, &len) < 0)
		return -1;
	*root = json_loadb(data, len, flags, jerr);
	if (!*root) {
		ret = -2;
		goto out;
	}
	if (!json_is_object(*root)) {
		jerr->text[0] = '\0';
		json_decref(*root);
		*root = NULL;
		ret = -2;
		goto out;
	}
	ret = 0;
out:
	free(data);
	return ret;
}

int
jsonfile_load(const char *path, size_t max, size_t flags, json_t **root)
{
	json_error_t jerr;
	int ret = jsonfile_read(path, max, flags, root, &jerr);

	if (ret != -2)
		return ret;
	if (jerr.text[0])
		log_error("%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
	else
		log_error("%s: not a JSON object", path);
	return -1;
}

int
jsonfile_save(const char *path, const json_t *root, size_t flags, mode_t mode)
{
	char *txt = root ? json_dumps(root, flags) : NULL;
	int ret;

	if (!txt) {
		log_error("%s: cannot encode JSON (out of memory)", path);
		return -1;
	}
	ret = file_write_atomic(path, txt, strlen(txt), mode);
	free(txt);
	return ret;
}

/* obj[key] as json_int_t, or -1 logged when file is set. */
static int
jsonfile_integer(const json_t *obj, const char *key, json_int_t *v, const char *file)
{
	json_t *j = json_object_get(obj, key);

	if (!j) {
		if (file)
			log_error("%s: %s: missing", file, key);
		return -1;
	}
	if (!json_is_integer(j)) {
		if (file)
			log_error("%s: %s: not an integer", file, key);
		return -1;
	}
	*v = json_integer_value(j);
	return 0;
}

int
jsonfile_u64(const json_t *obj, const char *key, uint64_t max, uint64_t *out,
	     const char *file)
{
	json_int_t v;

	if (jsonfile_integer(obj, key, &v, file) < 0)
		return -1;
	if (v < 0 || (uint64_t)v > max) {
		if (file)
			log_error("%s: %s: %" PRId64 " out of range 0..%" PRIu64, file, key,
				  (int64_t)v, max);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

int
jsonfile_int(const json_t *obj, const char *key, int64_t min, int64_t max,
	     int64_t *out, const char *file)
{
	json_int_t v;

	if (jsonfile_integer(obj, key, &v, file) < 0)
		return -1;
	if ((int64_t)v < min || (int64_t)v > max) {
		if (file)
			log_error("%s: %s: %" PRId64 " out of range %" PRId64 "..%" PRId64, file,
				  key, (int64_t)v, min, max);
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}
