/* catalog.json and pending.json of a group: strict parsing (every value
 * bounded, unknown shapes refused), formatting and durable replaces. */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/names.h"
#include "common/testhook.h"
#include "replicator/receiver/catcache.h"
#include "replicator/receiver/catidx.h"
#include "replicator/receiver/catlog.h"
#include "replicator/receiver/catmem.h"

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
json_disk(const json_t *o, char name[STORE_NAME_MAX + 1], uint64_t *size)
{
	const char *s;

	if (!json_is_object(o))
		return -1;
	s = json_string_value(json_object_get(o, "name"));
	if (!s || !name_valid(s, strnlen(s, NAME_MAX_LEN + 1)))
		return -1;
	snprintf(name, STORE_NAME_MAX + 1, "%s", s);
	if (jsonfile_u64(o, "size", STORE_MAX_DISK_SIZE, size, NULL) < 0 || *size == 0)
		return -1;
	return 0;
}

/* Load <gdir>/<name> into whichever of cat and pd is set: 0 / 1 = none /
 * -1 (logged). */
static int
load(const char *gdir, const char *name, struct catalog *cat, struct pending *pd)
{
	char *path = gpath(gdir, name);
	json_t *root = NULL;
	int r = path ? jsonfile_load(path, CATALOG_JSON_MAX, JSON_REJECT_DUPLICATES, &root) : -1;

	if (r == 0 && cat)
		r = catalog_from_json(root, path, cat);
	else if (r == 0 && pd)
		r = pending_from_json(root, path, pd);
	json_decref(root);
	free(path);
	return r;
}

/* Durable replace of <gdir>/<name> with root (a reference taken). */
static int
save(const char *gdir, const char *name, json_t *root)
{
	char *path = root ? gpath(gdir, name) : NULL;
	int rc = -1;

	if (path)
		rc = jsonfile_save(path, root, JSON_INDENT(1), 0640);
	free(path);
	json_decref(root);
	return rc;
}

/* obj[key] if present (bounded as every value), else dflt. 0 / -1. */
static int
opt_u64(const json_t *obj, const char *key, uint64_t dflt, uint64_t *out)
{
	if (!json_object_get(obj, key)) {
		*out = dflt;
		return 0;
	}
	return jsonfile_u64(obj, key, CATALOG_U64_MAX, out, NULL);
}

/* Optional: catalogs from before it existed, or a value this receiver
 * does not know, are "unknown" (the point itself is fine). */
static int
opt_consistency(const json_t *obj)
{
	const json_t *v = json_object_get(obj, "consistency");

	if (!json_is_string(v) || json_string_length(v) >= CONSISTENCY_NAME_MAX)
		return CONS_UNKNOWN;
	return consistency_parse(json_string_value(v), json_string_length(v));
}

/* ---- catalog ------------------------------------------------------------ */

void
catalog_free(struct catalog *cat)
{
	if (cat->cap)
		free(cat->pts);
	catbody_unref(cat->body);
	catdisks_unref(cat->dl);
	memset(cat, 0, sizeof(*cat));
}

int
catalog_share(struct catalog *dst, const struct catalog *src)
{
	*dst = *src;
	dst->body = catbody_ref(src->body);
	dst->dl = catdisks_ref(src->dl);
	if (src->cap == 0)
		return 0;
	/* src's own points: a copy (the disk lists stay shared). */
	dst->body = NULL;
	dst->cap = src->n;
	dst->pts = src->n ? malloc(src->n * sizeof(*src->pts)) : NULL;
	if (src->n && !dst->pts) {
		dst->cap = 0;
		catalog_free(dst);
		return -1;
	}
	if (src->n)
		memcpy(dst->pts, src->pts, src->n * sizeof(*src->pts));
	else
		dst->cap = 0;
	return 0;
}

int
catalog_freeze(struct catalog *cat)
{
	struct catbody *b;

	if (cat->cap == 0)
		return 0;
	b = catbody_new(cat->pts, cat->dl);
	if (!b)
		return -1;
	cat->body = b;
	cat->cap = 0;
	return 0;
}

size_t
catalog_bytes(const struct catalog *cat)
{
	return cat->n * sizeof(*cat->pts) + catdisks_bytes(cat->dl);
}

/* Make cat's points its own before a change: a copy of shared ones, with
 * room for a few more. 0 / -1 (logged). */
static int
catalog_own(struct catalog *cat, size_t need)
{
	struct store_point_info *pts;
	size_t cap;

	if (cat->cap >= need && cat->cap > 0)
		return 0;
	if (cat->cap > 0) {
		/* Doubling: replaying a journal appends one point at a time. */
		cap = cat->cap * 2 > need ? cat->cap * 2 : need;
		pts = reallocarray(cat->pts, cap, sizeof(*pts));
	} else {
		cap = need + need / 8 + 16;
		pts = reallocarray(NULL, cap, sizeof(*pts));
		if (pts && cat->n)
			memcpy(pts, cat->pts, cat->n * sizeof(*pts));
	}
	if (!pts) {
		log_error("store: out of memory");
		return -1;
	}
	if (cat->cap == 0) {
		catbody_unref(cat->body);
		cat->body = NULL;
	}
	cat->pts = pts;
	cat->cap = cap;
	return 0;
}

int
catalog_export(const struct catalog *cat, struct store_point_info **out, size_t *n)
{
	size_t nd = 0, off;
	struct store_point_info *pts;
	struct store_disk_info *d;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < cat->n; i++)
		if (i == 0 || cat->pts[i].disks != cat->pts[i - 1].disks)
			nd += cat->pts[i].ndisks;
	if (cat->n == 0)
		return 0;
	off = cat->n * sizeof(*pts);
	pts = malloc(off + nd * sizeof(*d));
	if (!pts) {
		log_error("store: out of memory listing %zu points", cat->n);
		return -1;
	}
	memcpy(pts, cat->pts, off);
	d = (struct store_disk_info *)((char *)pts + off);
	for (size_t i = 0; i < cat->n; i++) {
		if (i > 0 && cat->pts[i].disks == cat->pts[i - 1].disks) {
			pts[i].disks = pts[i - 1].disks;
			continue;
		}
		memcpy(d, cat->pts[i].disks, cat->pts[i].ndisks * sizeof(*d));
		pts[i].disks = d;
		d += cat->pts[i].ndisks;
	}
	*out = pts;
	*n = cat->n;
	return 0;
}

int
catalog_point_from_json(const json_t *p, const char *what, size_t i,
			struct store_point_info *pi, struct store_disk_info *room)
{
	json_t *disks = json_object_get(p, "disks"), *d;
	size_t j;

	memset(pi, 0, sizeof(*pi));
	pi->disks = room;
	if (!json_is_object(p) || jsonfile_u64(p, "id", CATALOG_U64_MAX, &pi->id, NULL) < 0 ||
	    pi->id == 0 ||
	    jsonfile_u64(p, "base", CATALOG_U64_MAX, &pi->base_id, NULL) < 0 || pi->base_id >= pi->id ||
	    jsonfile_u64(p, "time_ns", CATALOG_U64_MAX, &pi->time_ns, NULL) < 0 ||
	    jsonfile_u64(p, "committed_ns", CATALOG_U64_MAX, &pi->committed_ns, NULL) < 0 ||
	    jsonfile_u64(p, "bytes", CATALOG_U64_MAX, &pi->bytes_received, NULL) < 0 ||
	    opt_u64(p, "received_ns", pi->committed_ns, &pi->received_ns) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) == 0 ||
	    json_array_size(disks) > STORE_MAX_DISKS) {
		log_error("store: %s: point #%zu is malformed", what, i);
		return -1;
	}
	json_array_foreach(disks, j, d) {
		if (json_disk(d, room[j].name, &room[j].size) < 0) {
			log_error("store: %s: point %" PRIu64 " disk #%zu is malformed", what,
				  pi->id, j);
			return -1;
		}
		for (size_t k = 0; k < j; k++) {
			if (strcmp(room[k].name, room[j].name) == 0) {
				log_error("store: %s: point %" PRIu64 " lists disk %s twice", what,
					  pi->id, room[j].name);
				return -1;
			}
		}
	}
	pi->ndisks = json_array_size(disks);
	pi->consistency = opt_consistency(p);
	return 0;
}

static bool
disks_same(const struct store_point_info *a, const struct store_point_info *b)
{
	if (a->ndisks != b->ndisks)
		return false;
	for (size_t i = 0; i < a->ndisks; i++)
		if (a->disks[i].size != b->disks[i].size ||
		    strcmp(a->disks[i].name, b->disks[i].name) != 0)
			return false;
	return true;
}

bool
catalog_point_same(const struct store_point_info *a, const struct store_point_info *b)
{
	return a->id == b->id && a->base_id == b->base_id && a->time_ns == b->time_ns &&
	       a->received_ns == b->received_ns && a->committed_ns == b->committed_ns &&
	       a->bytes_received == b->bytes_received && a->consistency == b->consistency &&
	       disks_same(a, b);
}

int
catalog_from_json(const json_t *root, const char *what, struct catalog *cat)
{
	json_t *points = json_object_get(root, "points"), *p;
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;
	size_t i;

	memset(cat, 0, sizeof(*cat));
	if (!json_is_object(root) ||
	    json_integer_value(json_object_get(root, "version")) != CATALOG_VERSION ||
	    !json_is_array(points)) {
		log_error("store: %s: missing version %d or points array", what, CATALOG_VERSION);
		return -1;
	}
	/* Absent in catalogs from before the journal: nothing folded in. */
	if (opt_u64(root, "log_seq", 0, &cat->seq) < 0) {
		log_error("store: %s: log_seq is malformed", what);
		return -1;
	}
	if (json_array_size(points) > 0 && catalog_own(cat, json_array_size(points)) < 0)
		return -1;
	json_array_foreach(points, i, p) {
		if (catalog_point_from_json(p, what, i, &pi, room) < 0) {
			catalog_free(cat);
			return -1;
		}
		if (i > 0 && pi.id <= cat->pts[i - 1].id) {
			log_error("store: %s: point #%zu is malformed", what, i);
			catalog_free(cat);
			return -1;
		}
		if (catalog_append(cat, &pi) < 0) {
			catalog_free(cat);
			return -1;
		}
	}
	return 0;
}

/* Readers hold no lock (a session holds the group's for a whole point):
 * a compaction between reading the snapshot and the journal shows as a new
 * snapshot identity or records that do not follow it; read again then. */
#define CATALOG_LOAD_TRIES 16

/* Where a load came from. */
enum load_src { SRC_CACHE, SRC_CACHE_TAIL, SRC_INDEX, SRC_CATALOG };

/* One read of the catalog: from the cache (catcache.h) when catalog.json
 * and catalog.log are as cached, else (with use_index) from catalog.idx
 * (catidx.h) when it is theirs, else the snapshot and the journal. 0 / 1
 * (does not follow) / -1; *src: where it came from, *lag: records the
 * index lacked. */
static int
load_once(const char *gdir, const struct file_id *snap, const struct file_id *log,
	  struct catalog *cat, bool use_index, enum load_src *src, size_t *lag)
{
	int r;

	*src = SRC_CACHE;
	*lag = 0;
	switch (catcache_get(gdir, snap, log, cat)) {
	case CATCACHE_EXACT:
		return 0;
	case CATCACHE_TAIL:
		*src = SRC_CACHE_TAIL;
		return catlog_replay_tail(gdir, cat);
	case CATCACHE_MISS:
		break;
	}
	*src = SRC_INDEX;
	if (use_index && catidx_read(gdir, snap, log, cat, lag) == 0)
		return 0;
	*src = SRC_CATALOG;
	r = load(gdir, "catalog.json", cat, NULL);
	if (r < 0)
		return -1;
	cat->snapshot = r == 0;
	return catlog_replay(gdir, cat);
}

/* catalog_load, and catalog_load_listing when listing: then a load the
 * cache cannot serve tries the index, which is rewritten when it was of no
 * use or lags too far, and with refresh also when a cached load finds it
 * due (catidx_due). */
static int
load_checked(const char *gdir, struct catalog *cat, bool listing, bool refresh)
{
	char *path = gpath(gdir, "catalog.json"), *lpath = gpath(gdir, "catalog.log");
	struct file_id before, after, lbefore, lafter;
	enum load_src src = SRC_CATALOG;
	size_t lag = 0;
	bool same_log = false;
	int r = -1;

	memset(cat, 0, sizeof(*cat));
	for (int tries = 0; path && lpath && tries < CATALOG_LOAD_TRIES; tries++) {
		if (file_identity(path, &before) < 0 || file_identity(lpath, &lbefore) < 0) {
			r = -1;
			break;
		}
		r = load_once(gdir, &before, &lbefore, cat, listing, &src, &lag);
		if (r < 0 || file_identity(path, &after) < 0 ||
		    file_identity(lpath, &lafter) < 0) {
			r = -1;
			break;
		}
		if (r == 0 && file_id_same(&before, &after)) {
			/* Only a read nothing changed under may stand for these
			 * identities (the journal read to its end), and not with
			 * a torn tail: the next writer cuts it and may append a
			 * record of its length within one timestamp tick. The
			 * cache and this load share the points from here on.
			 * Never what the index gave: the cache serves writers,
			 * who read the catalog itself. */
			same_log = file_id_same(&lbefore, &lafter) &&
				   (uint64_t)lafter.size == cat->log_size &&
				   cat->log_end == cat->log_size;
			if ((src == SRC_CACHE_TAIL || src == SRC_CATALOG) && same_log &&
			    catalog_freeze(cat) == 0)
				catcache_put(gdir, &after, &lafter, cat);
			break;
		}
		catalog_free(cat);
		r = 1;
	}
	if (r == 1)
		log_error("store: %s: the catalog changed under %d reads in a row, or its "
			  "journal does not follow it", path, CATALOG_LOAD_TRIES);
	if (r != 0)
		catalog_free(cat);
	/* Best effort: a reader without the right to write leaves it. */
	if (r == 0 && listing && same_log && cat->n > 0 &&
	    (src == SRC_CATALOG || lag > CATIDX_LAG_MAX ||
	     (refresh && (src == SRC_CACHE || src == SRC_CACHE_TAIL) &&
	      catidx_due(gdir, &after, &lafter, cat))))
		(void)catidx_save(gdir, cat, &after, &lafter);
	free(path);
	free(lpath);
	return r == 0 ? 0 : -1;
}

int
catalog_load(const char *gdir, struct catalog *cat)
{
	return load_checked(gdir, cat, false, false);
}

int
catalog_load_listing(const char *gdir, struct catalog *cat, bool refresh)
{
	return load_checked(gdir, cat, true, refresh);
}

json_t *
catalog_point_to_json(const struct store_point_info *pi)
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
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s*}", "id", (json_int_t)pi->id,
			 "base", (json_int_t)pi->base_id, "time_ns", (json_int_t)pi->time_ns,
			 "received_ns", (json_int_t)pi->received_ns,
			 "committed_ns", (json_int_t)pi->committed_ns,
			 "bytes", (json_int_t)pi->bytes_received, "disks", disks, "consistency",
			 pi->consistency ? consistency_name(pi->consistency) : NULL);
}

json_t *
catalog_to_json(const struct catalog *cat)
{
	json_t *root = json_pack("{s:i, s:I, s:[]}", "version", CATALOG_VERSION, "log_seq",
				 (json_int_t)cat->seq, "points");
	json_t *points = json_object_get(root, "points");

	for (size_t i = 0; root && i < cat->n; i++) {
		if (json_array_append_new(points, catalog_point_to_json(&cat->pts[i])) < 0) {
			json_decref(root);
			root = NULL;
		}
	}
	if (!root)
		log_error("store: out of memory building a catalog");
	return root;
}

int
catalog_save(const char *gdir, const struct catalog *cat)
{
	if (save(gdir, "catalog.json", catalog_to_json(cat)) < 0)
		return -1;
	testhook_at("catalog-compact"); /* the snapshot is in place, the journal not cut */
	catlog_truncate(gdir);
	return 0;
}

ssize_t
catalog_index(const struct catalog *cat, uint64_t id)
{
	size_t lo = 0, hi = cat->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cat->pts[mid].id == id)
			return (ssize_t)mid;
		if (cat->pts[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

bool
catalog_has(const struct catalog *cat, uint64_t id)
{
	return catalog_index(cat, id) >= 0;
}

const struct store_point_info *
catalog_find(const struct catalog *cat, uint64_t id)
{
	ssize_t i;

	if (cat->n == 0)
		return NULL;
	if (id == 0)
		return &cat->pts[cat->n - 1];
	i = catalog_index(cat, id);
	return i < 0 ? NULL : &cat->pts[i];
}

int
catalog_drop(struct catalog *cat, size_t idx)
{
	if (idx + 1 >= cat->n)
		return 0;
	if (catalog_own(cat, cat->n) < 0)
		return -1;
	if (cat->pts[idx + 1].base_id == cat->pts[idx].id)
		cat->pts[idx + 1].base_id = cat->pts[idx].base_id;
	memmove(&cat->pts[idx], &cat->pts[idx + 1], (cat->n - idx - 1) * sizeof(*cat->pts));
	cat->n--;
	return 0;
}

uint64_t
catalog_last(const struct catalog *cat)
{
	return cat->n ? cat->pts[cat->n - 1].id : 0;
}

int
catalog_append(struct catalog *cat, const struct store_point_info *pi)
{
	const struct store_point_info *last = cat->n ? &cat->pts[cat->n - 1] : NULL;
	const struct store_disk_info *disks = NULL;

	if (pi->ndisks == 0 || pi->ndisks > STORE_MAX_DISKS) {
		log_error("store: point %" PRIu64 " with %zu disks", pi->id, pi->ndisks);
		return -1;
	}
	/* A group's points mostly have the same disks: one list for them. */
	if (last && disks_same(last, pi))
		disks = last->disks;
	if (!disks && !cat->dl && !(cat->dl = catdisks_new()))
		goto nomem;
	if (!disks && !(disks = catdisks_add(cat->dl, pi->disks, pi->ndisks)))
		goto nomem;
	if (catalog_own(cat, cat->n + 1) < 0)
		return -1;
	cat->pts[cat->n] = *pi;
	cat->pts[cat->n++].disks = disks;
	return 0;
nomem:
	log_error("store: out of memory");
	return -1;
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
pending_from_json(const json_t *root, const char *what, struct pending *pd)
{
	json_t *disks = json_object_get(root, "disks"), *d;
	size_t i;

	memset(pd, 0, sizeof(*pd));
	if (jsonfile_u64(root, "point", CATALOG_U64_MAX, &pd->point, NULL) < 0 || pd->point == 0 ||
	    jsonfile_u64(root, "base", CATALOG_U64_MAX, &pd->base, NULL) < 0 ||
	    pd->base >= pd->point ||
	    jsonfile_u64(root, "time_ns", CATALOG_U64_MAX, &pd->time_ns, NULL) < 0 ||
	    opt_u64(root, "received_ns", 0, &pd->received_ns) < 0 ||
	    jsonfile_u64(root, "bytes", CATALOG_U64_MAX, &pd->bytes, NULL) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) == 0 ||
	    json_array_size(disks) > STORE_MAX_DISKS) {
		log_warn("store: %s is malformed", what);
		return -1;
	}
	json_array_foreach(disks, i, d) {
		json_t *done = json_object_get(d, "done");

		if (json_disk(d, pd->disks[i].name, &pd->disks[i].size) < 0 ||
		    jsonfile_u64(d, "durable_offset", pd->disks[i].size, &pd->disks[i].durable,
				 NULL) < 0 ||
		    !json_is_boolean(done)) {
			log_warn("store: %s: disk #%zu is malformed", what, i);
			memset(pd, 0, sizeof(*pd));
			return -1;
		}
		pd->disks[i].done = json_is_true(done);
	}
	pd->ndisks = json_array_size(disks);
	return 0;
}

int
pending_load(const char *gdir, struct pending *pd)
{
	memset(pd, 0, sizeof(*pd));
	return load(gdir, "pending.json", NULL, pd);
}

json_t *
pending_to_json(const struct pending *pd)
{
	json_t *root = NULL, *disks = json_array();

	for (size_t i = 0; disks && i < pd->ndisks; i++) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "name", pd->disks[i].name,
				      "size", (json_int_t)pd->disks[i].size,
				      "durable_offset", (json_int_t)pd->disks[i].durable,
				      "done", pd->disks[i].done);

		if (json_array_append_new(disks, o) < 0)
			goto out;
	}
	if (disks)
		root = json_pack("{s:I, s:I, s:I, s:I, s:I, s:O}", "point", (json_int_t)pd->point,
				 "base", (json_int_t)pd->base, "time_ns", (json_int_t)pd->time_ns,
				 "received_ns", (json_int_t)pd->received_ns,
				 "bytes", (json_int_t)pd->bytes, "disks", disks);
out:
	if (!root)
		log_error("store: out of memory building pending state");
	json_decref(disks);
	return root;
}

int
pending_save(const char *gdir, const struct pending *pd)
{
	return save(gdir, "pending.json", pending_to_json(pd));
}

static int
pending_drop(const char *gdir, bool durable)
{
	char *path = gpath(gdir, "pending.json");
	int rc = -1;

	if (!path)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("store: unlink %s: %m", path);
		goto out;
	}
	rc = durable ? dir_fsync(gdir) : 0;
out:
	free(path);
	return rc;
}

int
pending_remove(const char *gdir)
{
	return pending_drop(gdir, true);
}

int
pending_unlink(const char *gdir)
{
	return pending_drop(gdir, false);
}
