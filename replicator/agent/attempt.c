/* The agent's record of the point its last attempt asked for (attempt.h). */
#include "replicator/agent/attempt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"

#define ATTEMPT_FILE ".attempt-point"
#define ATTEMPT_MAX 256
#define ATTEMPT_ID_MAX ((uint64_t)INT64_MAX) /* jansson integers */

int
attempt_take(const char *gdir, struct attempt_point *last)
{
	char *path = strfmt("%s/" ATTEMPT_FILE, gdir);
	json_t *root = NULL;
	int r, rc = -1;

	last->known = false;
	if (!path)
		return -1;
	r = jsonfile_load(path, ATTEMPT_MAX, JSON_REJECT_DUPLICATES, &root);
	if (r == 0 && jsonfile_u64(root, "point", ATTEMPT_ID_MAX, &last->point, path) == 0 &&
	    jsonfile_u64(root, "base", ATTEMPT_ID_MAX, &last->base, path) == 0)
		last->known = true;
	json_decref(root);
	if (r == 1) {
		rc = 0; /* none */
	} else if (unlink(path) < 0) {
		log_error("%s: %m", path);
	} else if (dir_fsync(gdir) == 0) {
		rc = 0;
	}
	free(path);
	return rc;
}

int
attempt_record(const char *gdir, uint64_t point, uint64_t base)
{
	char *path = strfmt("%s/" ATTEMPT_FILE, gdir);
	json_t *root = json_pack("{s:I, s:I}", "point", (json_int_t)point, "base", (json_int_t)base);
	int rc = -1;

	if (!path || !root)
		log_error("agent: out of memory");
	else
		rc = jsonfile_save(path, root, JSON_COMPACT, 0600);
	json_decref(root);
	free(path);
	return rc;
}

uint64_t
attempt_point_id(uint64_t last_point, uint64_t pending_point, uint64_t pending_base,
		 uint64_t base, bool resumable, const struct attempt_point *last, bool *resume)
{
	uint64_t id = last_point + 1;

	*resume = pending_point >= id && resumable && last->known && last->point == pending_point &&
		  last->base == base && pending_base == base;
	if (*resume)
		return pending_point;
	/* A new id: the receiver discards the pending point instead of
	 * resuming it. */
	if (pending_point >= id)
		id = pending_point + 1;
	return id;
}
