/* catalog.json and pending.json of a group: strict parsing (every value
 * bounded, unknown shapes refused), formatting and durable replaces. */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"

static char *
gpath(const char *gdir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", gdir, name) < 0) {
		log_error("store: out of memory building a path");
		return NULL;
	}
	return p;
}

static int
json_u64(json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!json_is_integer(v))
		return -1;
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > max)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

static int
json_disk(json_t *o, char name[STORE_NAME_MAX + 1], uint64_t *size)
{
	const char *s;

	if (!json_is_object(o))
		return -1;
	s = json_string_value(json_object_get(o, "name"));
	if (!s || !name_valid(s, strnlen(s, NAME_MAX_LEN + 1)))
		return -1;
	snprintf(name, STORE_NAME_MAX + 1, "%s", s);
	if (json_u64(o, "size", STORE_MAX_DISK_SIZE, size) < 0 || *size == 0)
		return -1;
	return 0;
}

/* A JSON object from text; NULL (logged) if it is not one. */
static json_t *
json_parse_object(const char *text, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *root;

	if (len > CATALOG_JSON_MAX) {
		log_error("store: %s: %zu bytes, more than %u", what, len, CATALOG_JSON_MAX);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		log_error("store: %s: invalid JSON at line %d: %s", what, jerr.line, jerr.text);
	} else if (!json_is_object(root)) {
		log_error("store: %s: not a JSON object", what);
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* 0 / 1 = does not exist / -1. Files read here are only ever replaced by
 * rename or removed under the group lock, so checking first is enough. */
static int
read_capped(const char *path, char **buf, size_t *len)
{
	void *data = NULL;

	*buf = NULL;
	*len = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (file_read_all(path, CATALOG_JSON_MAX, &data, len) < 0)
		return -1;
	*buf = data;
	return 0;
}

/* Durable replace of <gdir>/<name> with text (freed here). */
static int
save_text(const char *gdir, const char *name, char *text)
{
	char *path = text ? gpath(gdir, name) : NULL;
	int rc = -1;

	if (!text)
		log_error("store: out of memory building %s/%s", gdir, name);
	else if (path)
		rc = file_write_atomic(path, text, strlen(text), 0640);
	free(path);
	free(text);
	return rc;
}

/* ---- catalog ------------------------------------------------------------ */

void
catalog_free(struct catalog *cat)
{
	free(cat->pts);
	cat->pts = NULL;
	cat->n = 0;
}

static int
parse_point(json_t *p, size_t i, const struct catalog *cat, const char *what,
	    struct store_point_info *pi)
{
	json_t *disks = json_object_get(p, "disks"), *d;
	size_t j;

	if (!json_is_object(p) || json_u64(p, "id", CATALOG_U64_MAX, &pi->id) < 0 ||
	    pi->id == 0 || (i > 0 && pi->id <= cat->pts[i - 1].id) ||
	    json_u64(p, "base", CATALOG_U64_MAX, &pi->base_id) < 0 || pi->base_id >= pi->id ||
	    json_u64(p, "time_ns", CATALOG_U64_MAX, &pi->time_ns) < 0 ||
	    json_u64(p, "committed_ns", CATALOG_U64_MAX, &pi->committed_ns) < 0 ||
	    json_u64(p, "bytes", CATALOG_U64_MAX, &pi->bytes_received) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) == 0 ||
	    json_array_size(disks) > STORE_MAX_DISKS) {
		log_error("store: %s: point #%zu is malformed", what, i);
		return -1;
	}
	json_array_foreach(disks, j, d) {
		if (json_disk(d, pi->disks[j].name, &pi->disks[j].size) < 0) {
			log_error("store: %s: point %" PRIu64 " disk #%zu is malformed", what,
				  pi->id, j);
			return -1;
		}
		for (size_t k = 0; k < j; k++) {
			if (strcmp(pi->disks[k].name, pi->disks[j].name) == 0) {
				log_error("store: %s: point %" PRIu64 " lists disk %s twice", what,
					  pi->id, pi->disks[j].name);
				return -1;
			}
		}
	}
	pi->ndisks = json_array_size(disks);
	return 0;
}

int
catalog_parse(const char *text, size_t len, const char *what, struct catalog *cat)
{
	json_t *root, *points, *p;
	size_t i;
	int rc = -1;

	cat->pts = NULL;
	cat->n = 0;
	root = json_parse_object(text, len, what);
	if (!root)
		return -1;
	points = json_object_get(root, "points");
	if (json_integer_value(json_object_get(root, "version")) != CATALOG_VERSION ||
	    !json_is_array(points)) {
		log_error("store: %s: missing version %d or points array", what, CATALOG_VERSION);
		goto out;
	}
	if (json_array_size(points) > 0) {
		cat->pts = calloc(json_array_size(points), sizeof(*cat->pts));
		if (!cat->pts) {
			log_error("store: out of memory loading %s", what);
			goto out;
		}
	}
	json_array_foreach(points, i, p) {
		if (parse_point(p, i, cat, what, &cat->pts[i]) < 0)
			goto out;
		cat->n = i + 1;
	}
	rc = 0;
out:
	if (rc < 0)
		catalog_free(cat);
	json_decref(root);
	return rc;
}

int
catalog_load(const char *gdir, struct catalog *cat)
{
	char *path = gpath(gdir, "catalog.json"), *buf = NULL;
	size_t len;
	int r, rc = -1;

	cat->pts = NULL;
	cat->n = 0;
	if (!path)
		return -1;
	r = read_capped(path, &buf, &len);
	if (r >= 0)
		rc = r == 1 ? 0 : catalog_parse(buf, len, path, cat);
	free(buf);
	free(path);
	return rc;
}

static json_t *
point_json(const struct store_point_info *pi)
{
	json_t *disks = json_array();

	if (!disks)
		return NULL;
	for (size_t j = 0; j < pi->ndisks; j++) {
		json_t *d = json_pack("{s:s, s:I}", "name", pi->disks[j].name,
				      "size", (json_int_t)pi->disks[j].size);

		if (json_array_append_new(disks, d) < 0) {
			json_decref(disks);
			return NULL;
		}
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)pi->id,
			 "base", (json_int_t)pi->base_id, "time_ns", (json_int_t)pi->time_ns,
			 "committed_ns", (json_int_t)pi->committed_ns,
			 "bytes", (json_int_t)pi->bytes_received, "disks", disks);
}

char *
catalog_format(const struct catalog *cat)
{
	json_t *root, *points;
	char *text = NULL;

	root = json_pack("{s:i, s:[]}", "version", CATALOG_VERSION, "points");
	if (!root)
		goto out;
	points = json_object_get(root, "points");
	for (size_t i = 0; i < cat->n; i++)
		if (json_array_append_new(points, point_json(&cat->pts[i])) < 0)
			goto out;
	text = json_dumps(root, JSON_INDENT(1));
out:
	if (!text)
		log_error("store: out of memory formatting a catalog");
	json_decref(root);
	return text;
}

int
catalog_save(const char *gdir, const struct catalog *cat)
{
	return save_text(gdir, "catalog.json", catalog_format(cat));
}

bool
catalog_has(const struct catalog *cat, uint64_t id)
{
	size_t lo = 0, hi = cat->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cat->pts[mid].id == id)
			return true;
		if (cat->pts[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const struct store_point_info *
catalog_find(const struct catalog *cat, uint64_t id)
{
	if (cat->n == 0)
		return NULL;
	if (id == 0)
		return &cat->pts[cat->n - 1];
	for (size_t i = 0; i < cat->n; i++)
		if (cat->pts[i].id == id)
			return &cat->pts[i];
	return NULL;
}

uint64_t
catalog_last(const struct catalog *cat)
{
	return cat->n ? cat->pts[cat->n - 1].id : 0;
}

int
catalog_append(struct catalog *cat, const struct store_point_info *pi)
{
	struct store_point_info *grown = realloc(cat->pts, (cat->n + 1) * sizeof(*cat->pts));

	if (!grown) {
		log_error("store: out of memory");
		return -1;
	}
	cat->pts = grown;
	cat->pts[cat->n++] = *pi;
	return 0;
}

int
catalog_point_disk(const struct store_point_info *pi, const char *disk)
{
	for (size_t i = 0; i < pi->ndisks; i++)
		if (strcmp(pi->disks[i].name, disk) == 0)
			return (int)i;
	return -1;
}

/* ---- pending ------------------------------------------------------------ */

int
pending_parse(const char *text, size_t len, const char *what, struct pending *pd)
{
	json_t *root, *disks, *d;
	size_t i;
	int rc = -1;

	memset(pd, 0, sizeof(*pd));
	root = json_parse_object(text, len, what);
	if (!root)
		return -1;
	disks = json_object_get(root, "disks");
	if (json_u64(root, "point", CATALOG_U64_MAX, &pd->point) < 0 || pd->point == 0 ||
	    json_u64(root, "base", CATALOG_U64_MAX, &pd->base) < 0 || pd->base >= pd->point ||
	    json_u64(root, "time_ns", CATALOG_U64_MAX, &pd->time_ns) < 0 ||
	    json_u64(root, "bytes", CATALOG_U64_MAX, &pd->bytes) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) == 0 ||
	    json_array_size(disks) > STORE_MAX_DISKS) {
		log_warn("store: %s is malformed", what);
		goto out;
	}
	json_array_foreach(disks, i, d) {
		json_t *done = json_object_get(d, "done");

		if (json_disk(d, pd->disks[i].name, &pd->disks[i].size) < 0 ||
		    json_u64(d, "durable_offset", pd->disks[i].size, &pd->disks[i].durable) < 0 ||
		    !json_is_boolean(done)) {
			log_warn("store: %s: disk #%zu is malformed", what, i);
			goto out;
		}
		pd->disks[i].done = json_is_true(done);
	}
	pd->ndisks = json_array_size(disks);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
pending_load(const char *gdir, struct pending *pd)
{
	char *path = gpath(gdir, "pending.json"), *buf = NULL;
	size_t len;
	int r, rc = -1;

	memset(pd, 0, sizeof(*pd));
	if (!path)
		return -1;
	r = read_capped(path, &buf, &len);
	if (r >= 0)
		rc = r == 1 ? 1 : pending_parse(buf, len, path, pd);
	free(buf);
	free(path);
	return rc;
}

char *
pending_format(const struct pending *pd)
{
	json_t *root = NULL, *disks = json_array();
	char *text = NULL;

	for (size_t i = 0; disks && i < pd->ndisks; i++) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "name", pd->disks[i].name,
				      "size", (json_int_t)pd->disks[i].size,
				      "durable_offset", (json_int_t)pd->disks[i].durable,
				      "done", pd->disks[i].done);

		if (json_array_append_new(disks, o) < 0)
			goto out;
	}
	if (!disks)
		goto out;
	root = json_pack("{s:I, s:I, s:I, s:I, s:O}", "point", (json_int_t)pd->point,
			 "base", (json_int_t)pd->base, "time_ns", (json_int_t)pd->time_ns,
			 "bytes", (json_int_t)pd->bytes, "disks", disks);
	if (root)
		text = json_dumps(root, JSON_INDENT(1));
out:
	if (!text)
		log_error("store: out of memory formatting pending state");
	json_decref(disks);
	json_decref(root);
	return text;
}

int
pending_save(const char *gdir, const struct pending *pd)
{
	return save_text(gdir, "pending.json", pending_format(pd));
}

int
pending_remove(const char *gdir)
{
	char *path = gpath(gdir, "pending.json");
	int rc = -1;

	if (!path)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("store: unlink %s: %m", path);
		goto out;
	}
	rc = dir_fsync(gdir);
out:
	free(path);
	return rc;
}
