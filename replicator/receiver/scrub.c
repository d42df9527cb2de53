/* Scrub of a group's points: each checksum record's range read back
 * through the point's own view and compared; verdicts recorded under the
 * scrub lock only (scrub.h). */
#include "replicator/receiver/scrub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "common/throttle.h"
#include "replicator/receiver/sums.h"

#define SCRUB_PIECE (1u << 20) /* bytes read (and paid to the throttle) at a time */

/* A scrub in progress: one group, one point at a time. */
struct scrub {
	struct store *st;
	const char *group;
	char *gdir;
	const struct scrub_opts *o;
	struct throttle *t;
	unsigned char *buf; /* SUMS_MAX_DATA */
	struct scrub_entry e; /* the point being scrubbed */
	struct scrub_entry prev; /* its bad ranges as scrub.json held them */
};

/* Wait until len bytes may be read at the configured rate; false when told
 * to stop. */
static bool
scrub_pace(struct scrub *s, uint64_t len)
{
	while (len > 0) {
		uint64_t cost = len < SCRUB_PIECE ? len : SCRUB_PIECE;
		double wait;

		if (s->o->stop && *s->o->stop)
			return false;
		if (s->t && (wait = throttle_take(s->t, cost, clock_mono_ns())) > 0) {
			clock_nap_ms((long)(wait * 1000.0) + 1);
			continue;
		}
		len -= cost;
	}
	return !(s->o->stop && *s->o->stop);
}

/* Read [off, off+len) into s->buf, paced. 0 / -1 (logged, or stopped). */
static int
scrub_read(struct scrub *s, struct store_reader *r, uint64_t off, size_t len)
{
	if (!scrub_pace(s, len))
		return -1;
	return store_reader_pread(s->st, r, s->buf, len, off);
}

/* One record: 1 it matches, 0 it does not, -1 read error or stopped. */
static int
scrub_record(struct scrub *s, struct store_reader *r, const struct sums_rec *rec)
{
	if (!rec->zero) {
		if (scrub_read(s, r, rec->offset, (size_t)rec->length) < 0)
			return -1;
		return hash64(s->buf, (size_t)rec->length) == rec->hash;
	}
	for (uint64_t done = 0; done < rec->length;) {
		size_t n = rec->length - done < SUMS_MAX_DATA ? (size_t)(rec->length - done)
							      : SUMS_MAX_DATA;

		if (scrub_read(s, r, rec->offset + done, n) < 0)
			return -1;
		if (!buf_is_zero(s->buf, n))
			return 0;
		done += n;
	}
	return 1;
}

/* The point's earlier bad ranges on disk that no record of it covers (recs
 * sorted; none at all without checksums) stay bad: a merge may have dropped
 * the record that found them (sums_merge), and nothing but a repair can
 * clear them. 0 / -1. */
static int
scrub_carry(struct scrub *s, const char *disk, const struct sums_rec *recs, size_t n)
{
	struct sums_span *cover = NULL;
	size_t nc = 0;
	int rc = -1;

	/* An UNKNOWN record vouches for nothing: a bad range under one stays. */
	if (sums_cover(recs, n, true, &cover, &nc) < 0)
		return -1;
	for (size_t i = 0; i < s->prev.nbad; i++)
		if (strcmp(s->prev.bad[i].disk, disk) == 0 &&
		    scrubstate_add_uncovered(&s->e, disk, s->prev.bad[i].offset,
					     s->prev.bad[i].length, cover, nc) < 0)
			goto out;
	rc = 0;
out:
	free(cover);
	return rc;
}

/* The records of one disk of point pi within size: read and compared.
 * 0 done (*nosums when it has none), 1 the point is gone, -1 error. */
static int
scrub_disk(struct scrub *s, const struct store_point_info *pi, const char *disk, uint64_t size,
	   bool *nosums)
{
	char *path = sums_path(s->gdir, pi->id, disk);
	struct sums_rec *recs = NULL;
	struct store_reader *r = NULL;
	size_t n = 0;
	int rc = -1, err, m;

	if (!path)
		return -1;
	m = sums_load(path, sums_max_records(size), &recs, &n);
	if (m != 0) {
		*nosums = m == 1;
		rc = m == 1 ? scrub_carry(s, disk, NULL, 0) : -1;
		goto out;
	}
	if (store_reader_open(s->st, s->group, pi->id, disk, &r, &err) < 0) {
		rc = err == STORE_ERR_NOTFOUND ? 1 : -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (recs[i].offset >= size || recs[i].length > size - recs[i].offset) {
			log_error("scrub: group %s point %" PRIu64 " disk %s: checksum record %zu "
				  "is past the disk's end", s->group, pi->id, disk, i);
			goto out;
		}
		if (recs[i].unknown)
			continue; /* no hash to compare (sums.h) */
		m = scrub_record(s, r, &recs[i]);
		if (m < 0)
			goto out;
		s->e.checked_bytes += recs[i].length;
		if (m == 0 && scrubstate_add_bad(&s->e, disk, recs[i].offset, recs[i].length) < 0)
			goto out;
	}
	sums_sort(recs, n);
	rc = scrub_carry(s, disk, recs, n);
out:
	store_reader_close(s->st, r);
	free(recs);
	free(path);
	return rc;
}

/* Record s->e in scrub.json under the scrub lock, unless the point left
 * the catalog meanwhile (retention): 0 recorded, 1 gone, -1 error. Entries
 * of points no longer listed are dropped on the way. */
static int
scrub_record_verdict(struct scrub *s)
{
	struct store_point_info *pts = NULL;
	struct scrubstate ss = { 0 };
	struct scrub_entry *e;
	size_t n = 0;
	int lock = scrubstate_lock(s->gdir), rc = -1, present = 0;

	if (lock < 0 || store_list_points(s->st, s->group, &pts, &n) < 0 ||
	    scrubstate_load(s->gdir, &ss) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		present |= pts[i].id == s->e.point;
	if (!present) {
		rc = 1;
		goto out;
	}
	for (size_t i = ss.n; i-- > 0;) {
		bool listed = false;

		for (size_t j = 0; j < n && !listed; j++)
			listed = pts[j].id == ss.e[i].point;
		if (!listed)
			scrubstate_drop(&ss, ss.e[i].point);
	}
	if (!(e = scrubstate_get(&ss, s->e.point)))
		goto out;
	free(e->bad);
	*e = s->e;
	if (s->e.nbad && !(e->bad = malloc(s->e.nbad * sizeof(*e->bad)))) {
		log_error("scrub: out of memory");
		e->nbad = 0;
		goto out;
	}
	if (s->e.nbad)
		memcpy(e->bad, s->e.bad, s->e.nbad * sizeof(*e->bad));
	rc = scrubstate_save(s->gdir, &ss) < 0 ? -1 : 0;
out:
	scrubstate_free(&ss);
	free(pts);
	scrubstate_unlock(lock);
	return rc;
}

/* s->prev: point's bad ranges as scrub.json holds them now (none when it
 * is unreadable: logged). 0 / -1. */
static int
scrub_prev(struct scrub *s, uint64_t point)
{
	struct scrubstate ss = { 0 };
	const struct scrub_entry *e;
	int rc = 0;

	scrubstate_reset(&s->prev, SCRUB_UNCHECKED, 0);
	scrubstate_peek(s->gdir, &ss);
	e = scrubstate_find(&ss, point);
	for (size_t i = 0; e && i < e->nbad && rc == 0; i++)
		rc = scrubstate_add_bad(&s->prev, e->bad[i].disk, e->bad[i].offset,
					e->bad[i].length);
	scrubstate_free(&ss);
	return rc;
}

/* Scrub one point and report it. 0 clean / 1 bad / -1 error. */
static int
scrub_point(struct scrub *s, const struct store_point_info *pi, scrub_report_fn fn, void *arg)
{
	struct scrub_report rep = { .point = pi->id, .entry = &s->e };
	int rc = 0, r = 0;

	scrubstate_reset(&s->e, SCRUB_OK, clock_now_ns());
	s->e.point = pi->id;
	r = scrub_prev(s, pi->id);
	for (size_t i = 0; i < pi->ndisks && r == 0; i++) {
		bool nosums = false;

		r = scrub_disk(s, pi, pi->disks[i].name, pi->disks[i].size, &nosums);
		rep.ndisks_nosums += nosums;
	}
	if (r == 0 && rep.ndisks_nosums == pi->ndisks && s->e.verdict != SCRUB_BAD)
		s->e.verdict = SCRUB_UNCHECKED;
	/* A read that failed may be a point retention removed meanwhile. */
	if (r < 0 && !(s->o->stop && *s->o->stop) &&
	    store_point_exists(s->st, s->group, pi->id) == 0)
		r = 1;
	if (r == 0)
		r = scrub_record_verdict(s); /* 1: removed meanwhile; -1: not recorded */
	rep.removed = r == 1;
	rep.failed = r < 0;
	if (rep.removed)
		log_info("scrub: group %s point %" PRIu64 " was removed meanwhile: skipped",
			 s->group, pi->id);
	else if (r == 0 && s->e.verdict == SCRUB_BAD)
		rc = 1;
	else if (r < 0)
		rc = -1;
	if (fn)
		fn(arg, s->group, &rep);
	return rc;
}

int
scrub_group(struct store *st, const char *group, const struct scrub_opts *o,
	    scrub_report_fn fn, void *arg)
{
	struct scrub s = { .st = st, .group = group, .o = o };
	struct store_point_info *pts = NULL;
	size_t n = 0, done = 0;
	int rc = -1, worst = 0;

	if (!name_valid(group, strnlen(group, NAME_MAX_LEN + 1))) {
		log_error("scrub: bad group name \"%.*s\"", NAME_MAX_LEN, group);
		return -1;
	}
	if (!(s.gdir = strfmt("%s/%s", store_root(st), group)) ||
	    !(s.buf = malloc(SUMS_MAX_DATA)) ||
	    (o->rate && !(s.t = throttle_new(o->rate, SCRUB_PIECE)))) {
		log_error("scrub: out of memory");
		goto out;
	}
	if (store_list_points(st, group, &pts, &n) < 0)
		goto out;
	for (size_t i = 0; i < n && !(o->stop && *o->stop); i++) {
		int r;

		if (o->point && pts[i].id != o->point)
			continue;
		done++;
		r = scrub_point(&s, &pts[i], fn, arg);
		if (r < 0 || (r > 0 && worst == 0))
			worst = r;
	}
	if (o->point && done == 0) {
		log_error("scrub: group %s has no committed point %" PRIu64, group, o->point);
		goto out;
	}
	if (o->stop && *o->stop) {
		log_error("scrub: group %s: interrupted", group);
		goto out;
	}
	rc = worst;
out:
	scrubstate_reset(&s.e, SCRUB_UNCHECKED, 0);
	scrubstate_reset(&s.prev, SCRUB_UNCHECKED, 0);
	throttle_free(s.t);
	free(s.buf);
	free(s.gdir);
	free(pts);
	return rc;
}
