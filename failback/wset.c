/* W of a failback (wset.h): the failover overlay's own allocation, from
 * qemu-img map. Read after the reverse source's checkpoint was created, so
 * a write after the map lands in the checkpoint's bitmap, one before it in
 * the map: none is lost between the two. */
#include "failback/wset.h"

#include <stdbool.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/log.h"
#include "snapshot/image.h"
#include "snapshot/ranges.h"

/* An entry of the top layer that holds data or zeros of its own. Newer
 * qemu-img says "present"; without it, data or zero at depth 0 (an
 * overlay always has a backing file, so unallocated parts have depth >= 1). */
static bool
entry_is_w(json_t *e)
{
	json_t *present = json_object_get(e, "present");

	if (json_integer_value(json_object_get(e, "depth")) != 0)
		return false;
	if (json_is_boolean(present))
		return json_is_true(present);
	return json_is_true(json_object_get(e, "data")) ||
	       json_is_true(json_object_get(e, "zero"));
}

int
failback_overlay_ranges(const char *path, struct range_set *rs)
{
	const char *args[] = { "map", "--output=json", "-U", "-f", "qcow2", path, NULL };
	char *txt = NULL;
	json_t *root = NULL, *e;
	json_error_t jerr;
	size_t i;
	int ret = -1;

	if (image_qemu_img(args, &txt) < 0)
		goto out;
	root = json_loads(txt, 0, &jerr);
	if (!json_is_array(root)) {
		log_error("failback: qemu-img map of %s: %s", path,
			  root ? "not a JSON array" : jerr.text);
		goto out;
	}
	json_array_foreach(root, i, e) {
		json_t *start = json_object_get(e, "start"), *len = json_object_get(e, "length");

		if (!json_is_integer(start) || !json_is_integer(len) ||
		    json_integer_value(start) < 0 || json_integer_value(len) < 0) {
			log_error("failback: qemu-img map of %s: entry %zu without start/length",
				  path, i);
			goto out;
		}
		if (entry_is_w(e) &&
		    range_set_add(rs, (uint64_t)json_integer_value(start),
				  (uint64_t)json_integer_value(len)) < 0)
			goto out; /* logged */
	}
	ret = 0;
out:
	json_decref(root);
	free(txt);
	return ret;
}
