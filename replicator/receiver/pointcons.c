/* A point's consistency from its metadata (replicator/receiver/pointcons.h). */
#include "replicator/receiver/pointcons.h"

#include <jansson.h>

#include "common/consistency.h"
#include "replicator/receiver/store.h"

int
pointcons_from_meta(const void *meta, size_t len)
{
	json_t *root, *v;
	int level = CONS_UNKNOWN;

	/* The store bounds the blob before it gets here; so does this. */
	if (!meta || len == 0 || len > STORE_MAX_META)
		return CONS_UNKNOWN;
	root = json_loadb(meta, len, JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(root, "consistency");
	if (json_is_string(v) && json_string_length(v) < CONSISTENCY_NAME_MAX)
		level = consistency_parse(json_string_value(v), json_string_length(v));
	json_decref(root);
	return level;
}
