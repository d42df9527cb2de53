/* The scrub verdicts of a group's points: scrub.json to structs and back,
 * its lock, and the chain rule (scrubstate.h). */
#define _GNU_SOURCE
#include "replicator/receiver/scrubstate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jsonfile.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "replicator/receiver/catalog.h"

#define SCRUB_FILE "scrub.json"
#define SCRUB_LOCK "scrub.lock"

static const char *const verdict_names[] = {
	[SCRUB_UNCHECKED] = "unchecked", [SCRUB_OK] = "ok", [SCRUB_BAD] = "bad",
};

const char *
scrub_verdict_name(enum scrub_verdict v)
{
	return v <= SCRUB_BAD ? verdict_names[v] : "?";
}

int
scrubstate_lock(const char *gdir)
{
	char *path = strfmt("%s/%s", gdir, SCRUB_LOCK);
	int fd = path ? lockfile_take(path, 0640, true, "scrub") : -1;

	free(path);
	return fd;
}

void
scrubstate_unlock(int fd)
{
	lockfile_release(fd);
}

void
scrubstate_free(struct scrubstate *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		free(ss->e[i].bad);
	free(ss->e);
	ss->e = NULL;
	ss->n = 0;
}

struct scrub_entry *
scrubstate_find(const struct scrubstate *ss, uint64_t point)
{
	for (size_t i = 0; i < ss->n; i++)
		if (ss->e[i].point == point)
			return &ss->e[i];
	return NULL;
}

struct scrub_entry *
scrubstate_get(struct scrubstate *ss, uint64_t point)
{
	struct scrub_entry *e = scrubstate_find(ss, point), *p;

	if (e)
		return e;
	p = reallocarray(ss->e, ss->n + 1, sizeof(*p));
	if (!p) {
		log_error("scrub: out of memory");
		return NULL;
	}
	ss->e = p;
	e = &ss->e[ss->n++];
	memset(e, 0, sizeof(*e));
	e->point = point;
	return e;
}

void
scrubstate_drop(struct scrubstate *ss, uint64_t point)
{
	struct scrub_entry *e = scrubstate_find(ss, point);

	if (!e)
		return;
	free(e->bad);
	*e = ss->e[--ss->n];
}

void
scrubstate_reset(struct scrub_entry *e, enum scrub_verdict v, uint64_t time_ns)
{
	free(e->bad);
	e->bad = NULL;
	e->nbad = 0;
	e->bad_count = 0;
	e->checked_bytes = 0;
	e->verdict = v;
	e->time_ns = time_ns;
}

int
scrubstate_add_bad(struct scrub_entry *e, const char *disk, uint64_t off, uint64_t len)
{
	struct scrub_range *last = e->nbad ? &e->bad[e->nbad - 1] : NULL, *p;

	e->verdict = SCRUB_BAD;
	if (last && !strcmp(last->disk, disk) && last->offset + last->length == off) {
		last->length += len;
		return 0;
	}
	e->bad_count++;
	if (e->nbad >= SCRUBSTATE_MAX_BAD)
		return 0;
	p = reallocarray(e->bad, e->nbad + 1, sizeof(*p));
	if (!p) {
		log_error("scrub: out of memory");
		return -1;
	}
	e->bad = p;
	p = &e->bad[e->nbad++];
	snprintf(p->disk, sizeof(p->disk), "%s", disk);
	p->offset = off;
	p->length = len;
	return 0;
}

struct uncovered_arg {
	struct scrub_entry *e;
	const char *disk;
};

static int
uncovered_piece(void *arg, uint64_t off, uint64_t len)
{
	const struct uncovered_arg *u = arg;

	return scrubstate_add_bad(u->e, u->disk, off, len);
}

int
scrubstate_add_uncovered(struct scrub_entry *e, const char *disk, uint64_t off, uint64_t len,
			 const struct sums_span *cover, size_t nc)
{
	char name[STORE_NAME_MAX + 1];
	struct uncovered_arg u = { e, name };

	/* disk may lie in e's own ranges, which adding moves */
	snprintf(name, sizeof(name), "%s", disk);
	return sums_uncovered(cover, nc, off, len, uncovered_piece, &u);
}

/* ---- scrub.json ------------------------------------------------------------------ */

static int
entry_from_json(const json_t *o, const char *path, struct scrub_entry *e)
{
	const char *v = json_string_value(json_object_get(o, "verdict"));
	const json_t *bad = json_object_get(o, "bad");
	uint64_t count = 0;
	size_t i;

	if (!json_is_object(o) ||
	    jsonfile_u64(o, "point", CATALOG_U64_MAX, &e->point, path) < 0 ||
	    jsonfile_u64(o, "time_ns", CATALOG_U64_MAX, &e->time_ns, path) < 0 ||
	    jsonfile_u64(o, "checked_bytes", CATALOG_U64_MAX, &e->checked_bytes, path) < 0 ||
	    jsonfile_u64(o, "bad_count", CATALOG_U64_MAX, &count, path) < 0 || !v ||
	    (bad && (!json_is_array(bad) || json_array_size(bad) > SCRUBSTATE_MAX_BAD)))
		return -1;
	for (i = 0; i <= SCRUB_BAD && strcmp(v, verdict_names[i]) != 0; i++)
		;
	if (i > SCRUB_BAD)
		return -1;
	e->verdict = (enum scrub_verdict)i;
	json_array_foreach(bad, i, o) {
		const char *d = json_string_value(json_object_get(o, "disk"));
		uint64_t off, len;

		if (!d || !name_valid(d, strnlen(d, STORE_NAME_MAX + 1)) ||
		    jsonfile_u64(o, "offset", STORE_MAX_DISK_SIZE, &off, path) < 0 ||
		    jsonfile_u64(o, "length", STORE_MAX_DISK_SIZE, &len, path) < 0 ||
		    scrubstate_add_bad(e, d, off, len) < 0)
			return -1;
	}
	e->verdict = (enum scrub_verdict)(e->verdict == SCRUB_BAD || e->nbad ? SCRUB_BAD
				: e->verdict);
	e->bad_count = count > e->bad_count ? count : e->bad_count;
	return 0;
}

int
scrubstate_load(const char *gdir, struct scrubstate *ss)
{
	char *path = strfmt("%s/%s", gdir, SCRUB_FILE);
	json_t *root = NULL, *pts, *o;
	size_t i;
	int rc = -1, r;

	memset(ss, 0, sizeof(*ss));
	if (!path)
		return -1;
	r = jsonfile_load(path, SCRUBSTATE_JSON_MAX, JSON_REJECT_DUPLICATES, &root);
	if (r != 0) {
		rc = r == 1 ? 0 : -1;
		goto out;
	}
	pts = json_object_get(root, "points");
	if (!json_is_array(pts)) {
		log_error("%s: no \"points\" list", path);
		goto out;
	}
	json_array_foreach(pts, i, o) {
		uint64_t id;

		if (jsonfile_u64(o, "point", CATALOG_U64_MAX, &id, path) < 0)
			goto out;
		if (scrubstate_find(ss, id)) {
			log_error("%s: point %" PRIu64 " listed twice", path, id);
			goto out;
		}
		if (!scrubstate_get(ss, id))
			goto out;
		if (entry_from_json(o, path, &ss->e[ss->n - 1]) < 0) {
			log_error("%s: entry %zu is malformed", path, i);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0)
		scrubstate_free(ss);
	json_decref(root);
	free(path);
	return rc;
}

static json_t *
entry_to_json(const struct scrub_entry *e)
{
	json_t *o = json_object(), *bad = json_array();
	char when[CLOCK_ISO_LEN];

	if (!o || !bad)
		goto fail;
	clock_iso8601(e->time_ns, when, sizeof(when));
	if (json_object_set_new(o, "point", json_integer((json_int_t)e->point)) < 0 ||
	    json_object_set_new(o, "time_ns", json_integer((json_int_t)e->time_ns)) < 0 ||
	    json_object_set_new(o, "time", json_string(when)) < 0 ||
	    json_object_set_new(o, "verdict", json_string(scrub_verdict_name(e->verdict))) < 0 ||
	    json_object_set_new(o, "checked_bytes",
				json_integer((json_int_t)e->checked_bytes)) < 0 ||
	    json_object_set_new(o, "bad_count", json_integer((json_int_t)e->bad_count)) < 0)
		goto fail;
	for (size_t i = 0; i < e->nbad; i++) {
		json_t *r = json_pack("{s:s, s:I, s:I}", "disk", e->bad[i].disk, "offset",
				      (json_int_t)e->bad[i].offset, "length",
				      (json_int_t)e->bad[i].length);

		if (!r || json_array_append_new(bad, r) < 0)
			goto fail;
	}
	if (json_object_set_new(o, "bad", bad) < 0) {
		bad = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(bad);
	json_decref(o);
	return NULL;
}

int
scrubstate_save(const char *gdir, const struct scrubstate *ss)
{
	char *path = strfmt("%s/%s", gdir, SCRUB_FILE);
	json_t *root = json_object(), *pts = json_array();
	int rc = -1;

	if (!path || !root || !pts || json_object_set_new(root, "version", json_integer(1)) < 0)
		goto oom;
	for (size_t i = 0; i < ss->n; i++) {
		json_t *o = entry_to_json(&ss->e[i]);

		if (!o || json_array_append_new(pts, o) < 0)
			goto oom;
	}
	if (json_object_set(root, "points", pts) < 0)
		goto oom;
	rc = jsonfile_save(path, root, JSON_INDENT(2) | JSON_SORT_KEYS, 0640);
	goto out;
oom:
	log_error("scrub: out of memory");
out:
	json_decref(pts);
	json_decref(root);
	free(path);
	return rc;
}

void
scrubstate_peek(const char *gdir, struct scrubstate *ss)
{
	if (scrubstate_load(gdir, ss) < 0)
		memset(ss, 0, sizeof(*ss));
}

/* ---- the chain rule ------------------------------------------------------------------ */

const struct scrub_entry *
scrubstate_chain_bad(const struct scrubstate *ss, const struct store_point_info *pts, size_t n,
		     uint64_t point)
{
	bool any_bad = false;

	/* Issue 17: a group may list 10,000 points, each described; without a
	 * bad verdict (the usual case) there is no chain to walk. */
	for (size_t i = 0; i < ss->n && !any_bad; i++)
		any_bad = ss->e[i].verdict == SCRUB_BAD;
	/* Walk down the bases; at most n steps (bases are older points), each
	 * found by bisection (pts is in id order, as the catalog is). */
	for (size_t steps = 0; any_bad && point != 0 && steps <= n; steps++) {
		const struct scrub_entry *e = scrubstate_find(ss, point);
		size_t lo = 0, hi = n;

		if (e && e->verdict == SCRUB_BAD)
			return e;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (pts[mid].id < point)
				lo = mid + 1;
			else
				hi = mid;
		}
		point = lo < n && pts[lo].id == point ? pts[lo].base_id : 0;
	}
	return NULL;
}

const char *
scrubstate_describe(const struct scrubstate *ss, const struct store_point_info *pts, size_t n,
		    uint64_t point, char *buf, size_t cap, json_t **json)
{
	const struct scrub_entry *own = scrubstate_find(ss, point);
	const struct scrub_entry *bad = scrubstate_chain_bad(ss, pts, n, point);
	const char *v = own ? scrub_verdict_name(own->verdict) : "never";

	if (bad && bad->point != point)
		snprintf(buf, cap, "bad (base %" PRIu64 ")", bad->point);
	else
		snprintf(buf, cap, "%s", own ? v : "-");
	if (json)
		*json = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "state", bad ? "bad" : v,
				  "verdict", v, "chain_bad_point",
				  (json_int_t)(bad ? bad->point : 0), "scrubbed_ns",
				  (json_int_t)(own ? own->time_ns : 0), "checked_bytes",
				  (json_int_t)(own ? own->checked_bytes : 0), "bad_count",
				  (json_int_t)(own ? own->bad_count : 0));
	return buf;
}

void
scrubstate_summary(struct store *st, const char *group, const struct store_point_info *pts,
		   size_t n, char *buf, size_t cap, size_t *bad_points)
{
	struct scrubstate ss = { 0 };
	char *gdir = strfmt("%s/%s", store_root(st), group);

	*bad_points = 0;
	snprintf(buf, cap, "-");
	if (gdir)
		scrubstate_peek(gdir, &ss);
	for (size_t i = 0; i < ss.n; i++)
		*bad_points += ss.e[i].verdict == SCRUB_BAD;
	if (n)
		scrubstate_describe(&ss, pts, n, pts[n - 1].id, buf, cap, NULL);
	scrubstate_free(&ss);
	free(gdir);
}
