/* qemu-img info of one image, run and parsed (imginfo.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/imginfo.h"
#include "common/log.h"
#include "common/spawn.h"

static int __attribute__((format(printf, 3, 4)))
imginfo_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* obj[key] copied into *dst when it is a string; absent or null leaves
 * *dst NULL. 0, or -1 (wrong type, out of memory) with the reason. */
static int
imginfo_str(const json_t *obj, const char *key, char **dst, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*dst = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return imginfo_bad(err, errlen, "\"%s\" is not a string", key);
	if (!(*dst = strdup(json_string_value(v))))
		return imginfo_bad(err, errlen, "out of memory");
	return 0;
}

/* format-specific.data.bitmaps, where the image has any. */
static int
imginfo_bitmaps(const json_t *root, struct imginfo *info, char *err, size_t errlen)
{
	const json_t *list = json_object_get(json_object_get(json_object_get(root,
				"format-specific"), "data"), "bitmaps");
	const json_t *b, *flags, *f;
	size_t i, j;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return imginfo_bad(err, errlen, "\"bitmaps\" is not an array");
	if (json_array_size(list) == 0)
		return 0;
	info->bitmaps = calloc(json_array_size(list), sizeof(*info->bitmaps));
	if (!info->bitmaps)
		return imginfo_bad(err, errlen, "out of memory");
	json_array_foreach(list, i, b) {
		struct imginfo_bitmap *bm = &info->bitmaps[info->nbitmaps];

		if (!json_is_object(b))
			return imginfo_bad(err, errlen, "bitmap %zu is not an object", i);
		if (imginfo_str(b, "name", &bm->name, err, errlen) < 0)
			return -1;
		info->nbitmaps++;
		if (!bm->name)
			return imginfo_bad(err, errlen, "bitmap %zu has no name", i);
		flags = json_object_get(b, "flags");
		if (flags && !json_is_array(flags))
			return imginfo_bad(err, errlen, "bitmap %s: \"flags\" is not an array",
					   bm->name);
		json_array_foreach(flags, j, f)
			if (json_is_string(f) && strcmp(json_string_value(f), "in-use") == 0)
				bm->in_use = true;
	}
	return 0;
}

int
imginfo_parse(const char *text, struct imginfo **out, char *err, size_t errlen)
{
	struct imginfo *info = NULL;
	json_error_t jerr;
	json_t *root = NULL, *vs;
	int ret = -1;

	*out = NULL;
	root = json_loads(text, 0, &jerr);
	if (!root) {
		imginfo_bad(err, errlen, "%s (line %d)", jerr.text, jerr.line);
		goto out;
	}
	if (!json_is_object(root)) {
		imginfo_bad(err, errlen, "not a JSON object");
		goto out;
	}
	if (!(info = calloc(1, sizeof(*info)))) {
		imginfo_bad(err, errlen, "out of memory");
		goto out;
	}
	vs = json_object_get(root, "virtual-size");
	if (imginfo_str(root, "format", &info->format, err, errlen) < 0 ||
	    imginfo_str(root, "backing-filename", &info->backing, err, errlen) < 0 ||
	    imginfo_str(root, "full-backing-filename", &info->backing_full, err, errlen) < 0 ||
	    imginfo_str(root, "backing-filename-format", &info->backing_format, err, errlen) < 0)
		goto out;
	if (!info->format) {
		imginfo_bad(err, errlen, "no \"format\"");
		goto out;
	}
	if (!json_is_integer(vs) || json_integer_value(vs) < 0) {
		imginfo_bad(err, errlen, "no \"virtual-size\" or a negative one");
		goto out;
	}
	info->virtual_size = (uint64_t)json_integer_value(vs);
	if (imginfo_bitmaps(root, info, err, errlen) < 0)
		goto out;
	*out = info;
	info = NULL;
	ret = 0;
out:
	imginfo_free(info);
	json_decref(root);
	return ret;
}

struct imginfo *
imginfo_read(const char *path, const char *format, const char *ctx)
{
	const char *argv[8];
	struct imginfo *info = NULL;
	char *tpath = NULL, *txt = NULL;
	char err[160];
	size_t n = 0;

	if (path[0] == '/')
		tpath = strdup(path);
	else if (asprintf(&tpath, "./%s", path) < 0)
		tpath = NULL;
	if (!tpath) {
		log_error("%s%sqemu-img info %s: out of memory", ctx ? ctx : "", ctx ? ": " : "",
			  path);
		goto out;
	}
	argv[n++] = "qemu-img";
	argv[n++] = "info";
	argv[n++] = "-U";
	argv[n++] = "--output=json";
	if (format) {
		argv[n++] = "-f";
		argv[n++] = format;
	}
	argv[n++] = tpath;
	argv[n] = NULL;
	if (spawn_cmd(ctx, argv, &txt) < 0)
		goto out;
	if (!txt)
		log_error("%s%sqemu-img info %s: out of memory for its output", ctx ? ctx : "",
			  ctx ? ": " : "", path);
	else if (imginfo_parse(txt, &info, err, sizeof(err)) < 0)
		log_error("%s%sqemu-img info %s: unreadable output: %s", ctx ? ctx : "",
			  ctx ? ": " : "", path, err);
out:
	free(txt);
	free(tpath);
	return info;
}

const struct imginfo_bitmap *
imginfo_bitmap(const struct imginfo *info, const char *name)
{
	for (size_t i = 0; i < info->nbitmaps; i++)
		if (strcmp(info->bitmaps[i].name, name) == 0)
			return &info->bitmaps[i];
	return NULL;
}

void
imginfo_free(struct imginfo *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->nbitmaps; i++)
		free(info->bitmaps[i].name);
	free(info->bitmaps);
	free(info->format);
	free(info->backing);
	free(info->backing_full);
	free(info->backing_format);
	free(info);
}
