/* The rbd source's per-disk records: the committed state (the base
 * snapshot a point was committed at) and the attempt begun but not
 * committed; and what they allow (incremental, reuse of an attempt). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/names.h"
#include "snapshot/rbd-priv.h"
#include "snapshot/srcstate.h"

int
rbd_state_load(struct rbd_disk *d)
{
	json_t *root = NULL;
	const char *pool, *image, *id, *src;
	int r;

	d->have_state = 0;
	if ((r = srcstate_load("disk", d->name, d->state_path, &root)) <= 0)
		return r; /* none (0) or an I/O error */
	json_decref(d->st);
	d->st = root; /* the strings below live in it */
	src = json_string_value(json_object_get(root, "source"));
	pool = json_string_value(json_object_get(root, "pool"));
	image = json_string_value(json_object_get(root, "image"));
	id = json_string_value(json_object_get(root, "image_id"));
	if (json_integer_value(json_object_get(root, "version")) != RBD_STATE_VER ||
	    !src || strcmp(src, "rbd") != 0 || !pool || !image || !id ||
	    srcstate_get_u64(root, "point", &d->st_point) < 0 ||
	    srcstate_get_u64(root, "gen", &d->st_gen) < 0 || d->st_gen == 0 ||
	    srcstate_get_u64(root, "snap_id", &d->st_snap_id) < 0 ||
	    srcstate_get_u64(root, "size", &d->st_size) < 0) {
		log_warn("disk %s: %s: state is malformed or not an rbd state, "
			 "ignoring it", d->name, d->state_path);
		return 0;
	}
	d->st_pool = pool;
	d->st_image = image;
	d->st_image_id = id;
	d->have_state = 1;
	return 0;
}

int
rbd_state_save(struct rbd_disk *d, uint64_t point)
{
	json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "version", RBD_STATE_VER,
				 "source", "rbd", "pool", d->pool, "image", d->image,
				 "image_id", d->image_id, "snap", d->snap_name);

	if (srcstate_set_u64(root, "point", point) < 0 ||
	    srcstate_set_u64(root, "gen", d->gen) < 0 ||
	    srcstate_set_u64(root, "snap_id", d->snap_id) < 0 ||
	    srcstate_set_u64(root, "size", d->size) < 0) {
		json_decref(root);
		root = NULL;
	}
	return srcstate_save("disk", d->name, d->state_path, root,
			     JSON_INDENT(1) | JSON_SORT_KEYS);
}

/* The attempt file names the snapshot begun but not yet committed and what
 * it was taken against: a later begin against the same base may reuse it
 * (an rbd snapshot never changes, so what the receiver holds from that
 * attempt is still right). */
int
rbd_attempt_load(struct rbd_disk *d)
{
	json_t *root = NULL;
	const char *id;
	int r;

	d->have_attempt = 0;
	if ((r = srcstate_load("disk", d->name, d->attempt_path, &root)) <= 0)
		return r; /* none (0) or an I/O error */
	json_decref(d->at);
	d->at = root; /* at_image_id lives in it */
	id = json_string_value(json_object_get(root, "image_id"));
	if (json_integer_value(json_object_get(root, "version")) != RBD_STATE_VER ||
	    !id || !json_is_boolean(json_object_get(root, "incremental")) ||
	    srcstate_get_u64(root, "base_point", &d->at_base_point) < 0 ||
	    srcstate_get_u64(root, "base_snap_id", &d->at_base_snap_id) < 0 ||
	    srcstate_get_u64(root, "gen", &d->at_gen) < 0 ||
	    srcstate_get_u64(root, "snap_id", &d->at_snap_id) < 0) {
		log_warn("disk %s: %s: malformed, ignoring it", d->name,
			 d->attempt_path);
		return 0;
	}
	d->at_incremental = json_is_true(json_object_get(root, "incremental"));
	d->at_image_id = id;
	d->have_attempt = 1;
	return 0;
}

int
rbd_attempt_save(struct rbd_disk *d, uint64_t base_point)
{
	uint64_t base_snap = d->incremental ? d->st_snap_id : 0;
	json_t *root = json_pack("{s:i, s:s, s:b}", "version", RBD_STATE_VER,
				 "image_id", d->image_id, "incremental", d->incremental);

	if (srcstate_set_u64(root, "base_point", base_point) < 0 ||
	    srcstate_set_u64(root, "base_snap_id", base_snap) < 0 ||
	    srcstate_set_u64(root, "gen", d->gen) < 0 ||
	    srcstate_set_u64(root, "snap_id", d->snap_id) < 0) {
		json_decref(root);
		root = NULL;
	}
	return srcstate_save("disk", d->name, d->attempt_path, root, JSON_SORT_KEYS);
}

const char *
rbd_full_reason(void *disk)
{
	struct rbd_disk *d = disk;
	struct rbd_snapinfo *b;

	if (strcmp(d->st_pool, d->pool) != 0 || strcmp(d->st_image, d->image) != 0)
		return "the disk now names another image";
	if (strcmp(d->st_image_id, d->image_id) != 0) {
		snprintf(d->reason_buf, sizeof(d->reason_buf),
			 "image was recreated (id %s, base taken on id %s)",
			 d->image_id, d->st_image_id);
		return d->reason_buf;
	}
	b = rbd_snap_find(d, d->st_gen);
	if (!b || b->id != d->st_snap_id) {
		snprintf(d->reason_buf, sizeof(d->reason_buf),
			 "base snapshot " RBD_SNAP_PREFIX "%" PRIu64 " is %s",
			 d->st_gen, b ? "another snapshot (recreated)" : "missing");
		return d->reason_buf;
	}
	if (b->size != d->st_size || d->head_size != d->st_size)
		return "size changed";
	rbd_snap_name(d->base_name, sizeof(d->base_name), d->st_gen);
	return NULL;
}

/* 1 if the interrupted attempt's snapshot can stand for this attempt. */
int
rbd_attempt_matches(struct rbd_disk *d, uint64_t base_point)
{
	struct rbd_snapinfo *s;

	if (!d->have_attempt || d->at_base_point != base_point ||
	    d->at_incremental != d->incremental ||
	    strcmp(d->at_image_id, d->image_id) != 0 ||
	    (d->incremental && d->at_base_snap_id != d->st_snap_id))
		return 0;
	s = rbd_snap_find(d, d->at_gen);
	if (!s || s->id != d->at_snap_id ||
	    (d->incremental && (s->size != d->st_size || s->gen <= d->st_gen)))
		return 0;
	return 1;
}
