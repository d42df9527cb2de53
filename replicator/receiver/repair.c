/* A targeted repair on the receiver (repair.h): which checksum records of a
 * point failed its last scrub, the extents that rewrite exactly those, and
 * the verdict once they are read back. */
#include "replicator/receiver/repair.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store-repair.h"
#include "replicator/receiver/store.h"
#include "replicator/receiver/sums.h"

/* A bad record of the point, and what the repair did with it. */
struct rrec {
	uint16_t disk;
	struct sums_rec rec;
	bool done;  /* written by this repair */
	bool fixed; /* read back equal to its checksum */
};

struct rvec {
	struct rrec *v;
	size_t n, max;
	bool cut; /* more bad records than max */
};

struct repair {
	struct store *st;
	struct store_repair *sr;
	char group[STORE_NAME_MAX + 1];
	uint64_t point;
	struct rvec recs;     /* sorted by disk, then offset */
	struct limits_point lp;
	uint64_t bytes;
};

static void __attribute__((format(printf, 3, 4)))
why_set(struct repair_why *why, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	why->code = code;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
}

static uint32_t
store_err_code(int err)
{
	switch (err) {
	case STORE_ERR_NOTFOUND: return PROTO_ERR_NOTFOUND;
	case STORE_ERR_CONFLICT: return PROTO_ERR_CONFLICT;
	case STORE_ERR_INVALID: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_IO: return PROTO_ERR_STORE;
	default: return PROTO_ERR_INTERNAL;
	}
}

/* ---- the bad records of a point ---------------------------------------------- */

static int
rrec_cmp(const void *a, const void *b)
{
	const struct rrec *x = a, *y = b;

	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->rec.offset != y->rec.offset)
		return x->rec.offset < y->rec.offset ? -1 : 1;
	return 0;
}

/* A record one EXTENT can rewrite (the wire's bounds); records come from
 * extents, so a longer one is a checksum file from elsewhere. */
static bool
rec_sendable(const struct sums_rec *r)
{
	return r->length <= (r->zero ? PROTO_MAX_ZERO : PROTO_MAX_EXTENT);
}

static int
rvec_add(struct rvec *v, uint16_t disk, const struct sums_rec *rec)
{
	struct rrec *p;

	if (v->n && v->v[v->n - 1].disk == disk && v->v[v->n - 1].rec.offset == rec->offset)
		return 0; /* two ranges over one record: listed once */
	if (v->n == v->max) {
		v->cut = true;
		return 0;
	}
	p = reallocarray(v->v, v->n + 1, sizeof(*p));
	if (!p) {
		log_error("repair: out of memory");
		return -1;
	}
	v->v = p;
	v->v[v->n++] = (struct rrec){ .disk = disk, .rec = *rec };
	return 0;
}

/* First record (sorted by offset) ending after off. */
static size_t
rec_lower(const struct sums_rec *recs, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (recs[mid].offset + recs[mid].length <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The records of disk i of pi that lie in se's bad ranges, into v. */
static int
collect_disk(const char *gdir, const struct store_point_info *pi, size_t i,
	     const struct scrub_entry *se, struct rvec *v)
{
	const char *disk = pi->disks[i].name;
	struct sums_rec *recs = NULL;
	size_t n = 0;
	char *path = sums_path(gdir, pi->id, disk);
	int rc = -1, r;

	if (!path)
		goto out;
	r = sums_load(path, sums_max_records(pi->disks[i].size), &recs, &n);
	if (r < 0)
		goto out;
	sums_sort(recs, n);
	for (size_t b = 0; b < se->nbad && !v->cut; b++) {
		const struct scrub_range *br = &se->bad[b];

		if (strcmp(br->disk, disk) != 0)
			continue;
		for (size_t k = rec_lower(recs, n, br->offset);
		     k < n && recs[k].offset < br->offset + br->length && !v->cut; k++) {
			if (recs[k].unknown)
				continue; /* no hash the agent's bytes could be proven by */
			if (!rec_sendable(&recs[k])) {
				log_warn("repair: point %" PRIu64 " disk %s: record %" PRIu64
					 "+%" PRIu64 " too long for one extent: not listed",
					 pi->id, disk, recs[k].offset, recs[k].length);
				continue;
			}
			if (rvec_add(v, (uint16_t)i, &recs[k]) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(recs);
	free(path);
	return rc;
}

static int
collect(const char *gdir, const struct store_point_info *pi, const struct scrub_entry *se,
	struct rvec *v)
{
	for (size_t i = 0; i < pi->ndisks && !v->cut; i++)
		if (collect_disk(gdir, pi, i, se, v) < 0)
			return -1;
	if (v->n > 1)
		qsort(v->v, v->n, sizeof(*v->v), rrec_cmp);
	return 0;
}

static bool
entry_bad(const struct scrub_entry *e)
{
	return e && e->verdict == SCRUB_BAD && e->nbad > 0;
}

/* The point q asks for: NULL with *missing when a named one is not
 * committed, NULL alone when none is bad. */
static const struct store_point_info *
pick_point(const struct store_point_info *pts, size_t n, const struct scrubstate *ss,
	   const struct proto_repair_query *q, bool *missing)
{
	*missing = false;
	for (size_t i = n; i-- > 0;) {
		if (q->point) {
			if (pts[i].id != q->point)
				continue;
			return entry_bad(scrubstate_find(ss, pts[i].id)) ? &pts[i] : NULL;
		}
		if (q->before && pts[i].id >= q->before)
			continue;
		if (entry_bad(scrubstate_find(ss, pts[i].id)))
			return &pts[i];
	}
	*missing = q->point != 0;
	return NULL;
}

static void
list_fill(struct proto_msg *m, const struct store_point_info *pi, const struct rvec *v,
	  uint8_t *buf)
{
	struct proto_repair_list *l = &m->u.rlist;

	l->point_id = pi->id;
	l->base_id = pi->base_id;
	l->ndisks = (uint16_t)pi->ndisks;
	for (size_t i = 0; i < pi->ndisks; i++) {
		snprintf(l->disks[i].name, sizeof(l->disks[i].name), "%s", pi->disks[i].name);
		l->disks[i].size = pi->disks[i].size;
	}
	for (size_t k = 0; k < v->n; k++) {
		struct proto_repair_entry e = {
			.disk = v->v[k].disk,
			.kind = v->v[k].rec.zero ? PROTO_KIND_ZERO : PROTO_KIND_DATA,
			.offset = v->v[k].rec.offset,
			.length = v->v[k].rec.length,
			.hash = v->v[k].rec.zero ? 0 : v->v[k].rec.hash,
		};

		proto_repair_entry_put(buf + k * PROTO_REPAIR_ENTRY_SIZE, &e);
	}
	l->count = (uint32_t)v->n;
	l->entries = v->n ? buf : NULL;
	/* A cut list holds PROTO_MAX_REPAIR entries: MORE never stands alone. */
	l->flags = v->cut ? PROTO_FLAG_REPAIR_MORE : 0;
}

int
repair_list(struct store *st, const struct proto_repair_query *q, struct proto_msg *m,
	    uint8_t *buf, struct repair_why *why)
{
	struct store_point_info *pts = NULL;
	const struct store_point_info *pi;
	struct scrubstate ss = { 0 };
	struct rvec v = { .max = PROTO_MAX_REPAIR };
	char *gdir = strfmt("%s/%s", store_root(st), q->group);
	size_t n = 0;
	bool missing;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->type = PROTO_REPAIR_LIST;
	if (!gdir || store_list_points(st, q->group, &pts, &n) < 0) {
		why_set(why, PROTO_ERR_STORE, "cannot read the catalog of group %s", q->group);
		goto out;
	}
	scrubstate_peek(gdir, &ss);
	pi = pick_point(pts, n, &ss, q, &missing);
	if (missing) {
		why_set(why, PROTO_ERR_NOTFOUND, "no point %" PRIu64 " in group %s", q->point,
			q->group);
		goto out;
	}
	if (pi) {
		if (collect(gdir, pi, scrubstate_find(&ss, pi->id), &v) < 0) {
			why_set(why, PROTO_ERR_STORE, "cannot read the checksums of point %" PRIu64
				" of group %s", pi->id, q->group);
			goto out;
		}
		list_fill(m, pi, &v, buf);
		log_info("group %s: repair list of point %" PRIu64 ": %zu bad records%s", q->group,
			 pi->id, v.n, v.cut ? " (more follow)" : "");
	}
	rc = 0;
out:
	free(v.v);
	scrubstate_free(&ss);
	free(pts);
	free(gdir);
	return rc;
}

/* ---- a REPAIR point ------------------------------------------------------------- */

static int
disks_match(const struct store_point_info *pi, const struct proto_point_begin *b)
{
	if (pi->ndisks != b->ndisks)
		return -1;
	for (size_t i = 0; i < pi->ndisks; i++)
		if (strcmp(pi->disks[i].name, b->disks[i].name) != 0 ||
		    pi->disks[i].size != b->disks[i].size)
			return -1;
	return 0;
}

/* The group's limits and quota, as for any point of it. */
static int
repair_limits(const struct receiver_config *cfg, struct repair *r,
	      const struct store_point_info *pi, struct repair_why *why)
{
	struct store_begin *sb = calloc(1, sizeof(*sb));
	int rc = -1;

	if (!sb) {
		why_set(why, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	snprintf(sb->group, sizeof(sb->group), "%s", r->group);
	sb->point_id = pi->id;
	sb->base_id = pi->base_id;
	sb->time_ns = pi->time_ns;
	sb->ndisks = pi->ndisks;
	for (size_t i = 0; i < pi->ndisks; i++) {
		snprintf(sb->disks[i].name, sizeof(sb->disks[i].name), "%s", pi->disks[i].name);
		sb->disks[i].size = pi->disks[i].size;
	}
	if (limits_begin(cfg, r->st, sb, &r->lp, why->text, sizeof(why->text), &why->code) < 0)
		goto out;
	if (limits_begun(r->st, r->group, &r->lp) < 0) {
		why_set(why, PROTO_ERR_STORE, "cannot measure the store of group %s", r->group);
		goto out;
	}
	rc = 0;
out:
	free(sb);
	return rc;
}

int
repair_begin(const struct receiver_config *cfg, struct store *st,
	     const struct proto_point_begin *b, struct repair **out, struct repair_why *why)
{
	struct repair *r = calloc(1, sizeof(*r));
	const struct store_point_info *pi;
	struct scrubstate ss = { 0 };
	int err;

	*out = NULL;
	if (!r) {
		why_set(why, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	r->st = st;
	r->point = b->point_id;
	r->recs.max = REPAIR_MAX_OUTSTANDING;
	snprintf(r->group, sizeof(r->group), "%s", b->group);
	if (store_repair_open(st, b->group, b->point_id, &r->sr, &err, why->text,
			      sizeof(why->text)) < 0) {
		why->code = store_err_code(err);
		log_error("group %s: repair of point %" PRIu64 " refused: %s", b->group,
			  b->point_id, why->text);
		goto fail;
	}
	pi = store_repair_point(r->sr);
	if (disks_match(pi, b) < 0) {
		why_set(why, PROTO_ERR_PROTOCOL, "the disks of the repair differ from point %"
			PRIu64 "'s", b->point_id);
		goto refused;
	}
	scrubstate_peek(store_repair_gdir(r->sr), &ss);
	if (!entry_bad(scrubstate_find(&ss, b->point_id))) {
		why_set(why, PROTO_ERR_CONFLICT, "point %" PRIu64 " of group %s has no bad scrub "
			"verdict: nothing to repair", b->point_id, b->group);
		goto refused;
	}
	if (collect(store_repair_gdir(r->sr), pi, scrubstate_find(&ss, b->point_id),
		    &r->recs) < 0) {
		why_set(why, PROTO_ERR_STORE, "cannot read the checksums of point %" PRIu64,
			b->point_id);
		goto refused;
	}
	if (repair_limits(cfg, r, pi, why) < 0)
		goto fail; /* limits.c logged it */
	scrubstate_free(&ss);
	log_info("group %s: repairing point %" PRIu64 " (%zu bad records outstanding)", b->group,
		 b->point_id, r->recs.n);
	*out = r;
	return 0;
refused:
	log_error("group %s: repair of point %" PRIu64 " refused: %s", b->group, b->point_id,
		  why->text);
fail:
	scrubstate_free(&ss);
	repair_free(r);
	return -1;
}

static struct rrec *
find_rec(struct repair *r, uint16_t disk, uint64_t off)
{
	struct rrec key = { .disk = disk, .rec = { .offset = off } };

	if (r->recs.n == 0)
		return NULL;
	return bsearch(&key, r->recs.v, r->recs.n, sizeof(key), rrec_cmp);
}

/* The extent's plaintext, checked against its checksum: NULL (why) if not. */
static const void *
extent_plain(const struct proto_extent *e, struct zdecomp *zd, uint8_t *plain,
	     struct repair_why *why)
{
	const void *p = e->data;

	if (e->comp == PROTO_COMP_ZSTD) {
		if (zdecomp_decompress(zd, e->data, e->data_len, plain, (size_t)e->length) < 0) {
			why_set(why, PROTO_ERR_CHECKSUM, "extent at %" PRIu64 " does not decompress",
				e->offset);
			return NULL;
		}
		p = plain;
	}
	if (hash64(p, (size_t)e->length) != e->checksum) {
		why_set(why, PROTO_ERR_CHECKSUM, "checksum mismatch at offset %" PRIu64, e->offset);
		return NULL;
	}
	return p;
}

int
repair_extent(struct repair *r, const struct proto_extent *e, struct zdecomp *zd,
	      uint8_t *plain, struct repair_why *why)
{
	struct rrec *x = find_rec(r, e->disk, e->offset);
	bool zero = e->kind != PROTO_KIND_DATA;
	const void *p = NULL;
	int err = STORE_ERR_INTERNAL, rc;

	if (!x || x->done || x->rec.length != e->length || x->rec.zero != zero ||
	    e->kind == PROTO_KIND_DISCARD) {
		why_set(why, PROTO_ERR_PROTOCOL, "extent %" PRIu64 "+%" PRIu64 " of disk %u is not "
			"an outstanding repair record", e->offset, e->length, e->disk);
		goto refused;
	}
	if (!zero && e->checksum != x->rec.hash) {
		why_set(why, PROTO_ERR_CHECKSUM, "extent at %" PRIu64 " does not carry the "
			"point's checksum", e->offset);
		goto refused;
	}
	if (!zero) {
		if (!limits_point_grow(&r->lp, r->group, e->length)) {
			why_set(why, PROTO_ERR_STORE, "group %s is over its quota of %" PRIu64
				" bytes", r->group, r->lp.lim.quota);
			return -1;
		}
		if (!(p = extent_plain(e, zd, plain, why)))
			goto refused;
		rc = store_repair_write(r->sr, e->disk, e->offset, p, (size_t)e->length, &err);
	} else {
		rc = store_repair_zero(r->sr, e->disk, e->offset, e->length, &err);
	}
	if (rc < 0) {
		why_set(why, store_err_code(err), "repair write at offset %" PRIu64 " of disk %u "
			"failed", e->offset, e->disk);
		return -1;
	}
	x->done = true;
	r->bytes += e->data_len;
	return 0;
refused:
	log_error("group %s: repair of point %" PRIu64 ": %s, nothing written", r->group,
		  r->point, why->text);
	return -1;
}

/* ---- the commit: read back, then the verdict ------------------------------------ */

struct rb {
	struct store *st;
	struct store_reader *rd;
};

static int
rb_read(void *arg, void *buf, size_t n, uint64_t off)
{
	struct rb *b = arg;

	return store_reader_pread(b->st, b->rd, buf, n, off);
}

/* Is x's range, read through the point, what its checksum says? 1 / 0 /
 * -1 (read error, logged). */
static int
readback(struct store *st, struct store_reader *rd, const struct rrec *x, uint8_t *buf)
{
	struct rb b = { st, rd };

	if (x->rec.zero)
		return range_is_zero(rb_read, &b, x->rec.offset, x->rec.length, buf,
				     PROTO_MAX_EXTENT);
	if (store_reader_pread(st, rd, buf, (size_t)x->rec.length, x->rec.offset) < 0)
		return -1;
	return hash64(buf, (size_t)x->rec.length) == x->rec.hash;
}

/* Mark the written records that read back right; how many. -1 on a read
 * error (logged). */
static int
verify_written(struct repair *r, size_t *nfixed)
{
	const struct store_point_info *pi = store_repair_point(r->sr);
	struct store_reader *rd = NULL;
	uint8_t *buf = malloc(PROTO_MAX_EXTENT);
	int open_disk = -1, err, rc = -1, ok;

	*nfixed = 0;
	if (!buf) {
		log_error("repair: out of memory");
		return -1;
	}
	for (size_t k = 0; k < r->recs.n; k++) {
		struct rrec *x = &r->recs.v[k];

		if (!x->done)
			continue;
		if (open_disk != x->disk) {
			store_reader_close(r->st, rd);
			rd = NULL;
			if (store_reader_open(r->st, r->group, r->point, pi->disks[x->disk].name, &rd,
					      &err) < 0) {
				if (err == STORE_ERR_NOTFOUND) /* the group lock is held: unexpected */
					log_error("group %s point %" PRIu64 " disk %s: gone during its "
						  "repair", r->group, r->point,
						  pi->disks[x->disk].name);
				goto out;
			}
			open_disk = x->disk;
		}
		if ((ok = readback(r->st, rd, x, buf)) < 0)
			goto out;
		x->fixed = ok == 1;
		*nfixed += ok == 1;
		if (!ok)
			log_warn("group %s point %" PRIu64 " disk %s: %" PRIu64 "+%" PRIu64
				 " still differs from its checksum after the repair", r->group,
				 r->point, pi->disks[x->disk].name, x->rec.offset, x->rec.length);
	}
	rc = 0;
out:
	store_reader_close(r->st, rd);
	free(buf);
	return rc;
}

/* range minus the fixed records of its disk, added to e as still bad. */
static int
range_left(struct scrub_entry *e, const struct scrub_range *br, const struct repair *r,
	   int disk)
{
	uint64_t cur = br->offset, end = br->offset + br->length;

	for (size_t k = 0; k < r->recs.n && cur < end; k++) {
		const struct rrec *x = &r->recs.v[k];
		uint64_t xe = x->rec.offset + x->rec.length;

		if (x->disk != disk || !x->fixed || xe <= cur || x->rec.offset >= end)
			continue;
		if (x->rec.offset > cur && scrubstate_add_bad(e, br->disk, cur, x->rec.offset - cur) < 0)
			return -1;
		cur = xe;
	}
	if (cur < end && scrubstate_add_bad(e, br->disk, cur, end - cur) < 0)
		return -1;
	return 0;
}

static int
disk_index(const struct store_point_info *pi, const char *name)
{
	for (size_t i = 0; i < pi->ndisks; i++)
		if (strcmp(pi->disks[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The point's verdict once its fixed records are good: what remains. */
static int
record_verdict(struct repair *r, enum scrub_verdict *verdict)
{
	const char *gdir = store_repair_gdir(r->sr);
	struct scrubstate ss = { 0 };
	struct scrub_entry *e, old;
	int lock = scrubstate_lock(gdir), rc = -1;
	uint64_t unlisted, checked;

	if (lock < 0 || scrubstate_load(gdir, &ss) < 0)
		goto out;
	*verdict = SCRUB_UNCHECKED;
	if ((e = scrubstate_find(&ss, r->point)) == NULL) {
		rc = 0; /* dropped meanwhile: nothing to update */
		goto out;
	}
	old = *e;
	/* Ranges past SCRUBSTATE_MAX_BAD were only counted: still bad. */
	unlisted = old.bad_count > old.nbad ? old.bad_count - old.nbad : 0;
	checked = old.checked_bytes;
	e->bad = NULL;
	scrubstate_reset(e, SCRUB_OK, clock_now_ns());
	e->checked_bytes = checked;
	for (size_t b = 0; b < old.nbad; b++) {
		int d = disk_index(store_repair_point(r->sr), old.bad[b].disk);

		if (range_left(e, &old.bad[b], r, d) < 0) {
			free(old.bad);
			goto out;
		}
	}
	free(old.bad);
	e->bad_count += unlisted;
	e->verdict = e->bad_count ? SCRUB_BAD : SCRUB_OK;
	*verdict = e->verdict;
	rc = scrubstate_save(gdir, &ss);
out:
	scrubstate_free(&ss);
	scrubstate_unlock(lock);
	return rc;
}

int
repair_commit(struct repair *r, struct repair_why *why)
{
	enum scrub_verdict v = SCRUB_UNCHECKED;
	size_t nfixed = 0, nwritten = 0;
	int err = STORE_ERR_INTERNAL;

	for (size_t k = 0; k < r->recs.n; k++)
		nwritten += r->recs.v[k].done;
	if (store_repair_seal(r->sr, &err) < 0) {
		why_set(why, store_err_code(err), "cannot flush the repair of point %" PRIu64,
			r->point);
		return -1;
	}
	if (verify_written(r, &nfixed) < 0 || record_verdict(r, &v) < 0) {
		why_set(why, PROTO_ERR_STORE, "cannot re-scrub the repair of point %" PRIu64,
			r->point);
		return -1;
	}
	log_info("group %s: point %" PRIu64 " repaired: %zu of %zu records written read back "
		 "right (%" PRIu64 " bytes received); scrub verdict %s", r->group, r->point, nfixed,
		 nwritten, r->bytes, scrub_verdict_name(v));
	return 0;
}

void
repair_free(struct repair *r)
{
	if (!r)
		return;
	store_repair_free(r->sr);
	free(r->recs.v);
	free(r);
}
