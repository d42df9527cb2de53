/* Unit tests of the checksums the local store keeps per point and of the
 * scrub over them (issue 13, item 3), against real qemu-img / qemu-nbd:
 * a clean store scrubs clean, bytes changed at rest are named, a removal
 * hands checksums and bad verdicts to the child, a resume truncates. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replicator/receiver/scrub.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"
#include "replicator/receiver/sums.h"
#include "storebegin.h"
#include "tmpdir.h"

#define MIB (1024u * 1024u)
#define DISK (4 * MIB)

TMPDIR_SUITE(scrub, root, "nestor-scrub");

static uint8_t img[DISK];

static void
fill(uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		img[off + i] = (uint8_t)(seed * 131 + i * 7 + i / 4093 + 1);
}

static struct store_point *
begin(struct store *st, uint64_t id, uint64_t base)
{
	return store_begin_one(st, id, base, "vda", DISK);
}

static void
put(struct store_point *pt, uint64_t off, size_t len, unsigned seed)
{
	int err = -1;

	fill(off, len, seed);
	cr_assert_eq(store_point_write(pt, 0, off, img + off, len, &err), 0);
}

static void
commit(struct store_point *pt)
{
	int err = -1;

	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "{}", 2, &err), 0);
	store_point_free(pt);
}

/* Point 1: data [0,2M), zeros [2M,3M), data [3M,4M). Point 2 on it: data
 * [1M,1M+64K) and [3M+128K,3M+192K). */
static struct store *
two_points(void)
{
	struct store *st = store_open(root, NULL);
	struct store_point *pt;
	int err = -1;

	cr_assert_not_null(st);
	pt = begin(st, 1, 0);
	put(pt, 0, MIB, 1);
	put(pt, MIB, MIB, 2);
	cr_assert_eq(store_point_zero(pt, 0, 2 * MIB, MIB, &err), 0);
	put(pt, 3 * MIB, MIB, 3);
	commit(pt);
	pt = begin(st, 2, 1);
	put(pt, MIB, 65536, 4);
	put(pt, 3 * MIB + 131072, 65536, 5);
	commit(pt);
	return st;
}

static size_t
records(uint64_t point, struct sums_rec **recs)
{
	char gdir[128];
	char *path;
	size_t n = 0;

	snprintf(gdir, sizeof(gdir), "%s/grp", root);
	path = sums_path(gdir, point, "vda");
	cr_assert_eq(sums_load(path, 1u << 20, recs, &n), 0, "%s", path);
	free(path);
	return n;
}

static const struct scrub_entry *
verdict(struct scrubstate *ss, uint64_t point)
{
	char gdir[128];

	snprintf(gdir, sizeof(gdir), "%s/grp", root);
	scrubstate_free(ss);
	cr_assert_eq(scrubstate_load(gdir, ss), 0);
	return scrubstate_find(ss, point);
}

/* Write pattern byte at guest offset off of point's own file: bytes
 * changed at rest, behind the store's back. */
static void
corrupt(uint64_t point, uint64_t off)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "qemu-io -f qcow2 -c 'write -P 0x5a %" PRIu64 " 512' %s/grp/disks/vda/%" PRIu64
		 ".qcow2 >/dev/null", off, root, point);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(scrub, records_follow_the_extents_and_a_clean_store_scrubs_clean)
{
	struct store *st = two_points();
	struct scrub_opts o = { 0 };
	struct scrubstate ss = { 0 };
	const struct scrub_entry *e;
	struct sums_rec *r;
	size_t n = records(1, &r);

	cr_assert_eq(n, 4);
	cr_assert(!r[0].zero);
	cr_assert_eq(r[1].offset, MIB);
	cr_assert(r[2].zero);
	cr_assert_eq(r[2].offset, 2 * MIB);
	cr_assert_eq(r[2].length, MIB);
	cr_assert_eq(r[2].hash, 0);
	free(r);
	cr_assert_eq(records(2, &r), 2);
	free(r);

	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 0, "zero false positives");
	e = verdict(&ss, 1);
	cr_assert_not_null(e);
	cr_assert_eq(e->verdict, SCRUB_OK);
	cr_assert_eq(e->checked_bytes, DISK);
	e = verdict(&ss, 2);
	cr_assert_eq(e->verdict, SCRUB_OK);
	cr_assert_eq(e->checked_bytes, 2 * 65536);
	scrubstate_free(&ss);
	store_free(st);
}

struct seen {
	int calls;
	uint64_t bad_point;
	struct scrub_range first;
};

static void
on_report(void *arg, const char *group, const struct scrub_report *r)
{
	struct seen *s = arg;

	cr_assert_str_eq(group, "grp");
	s->calls++;
	if (r->entry->nbad && !s->bad_point) {
		s->bad_point = r->point;
		s->first = r->entry->bad[0];
	}
}

Test(scrub, bytes_changed_at_rest_are_named_and_the_chain_is_bad)
{
	struct store *st = two_points();
	struct scrub_opts o = { 0 };
	struct scrubstate ss = { 0 };
	struct store_point_info *pts;
	struct seen s = { 0 };
	char buf[64];
	size_t n;

	corrupt(1, 3 * MIB + 4096); /* point 1's data, not overwritten by 2 */
	cr_assert_eq(scrub_group(st, "grp", &o, on_report, &s), 1);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(s.bad_point, 1);
	cr_assert_str_eq(s.first.disk, "vda");
	cr_assert_eq(s.first.offset, 3 * MIB, "the record holding the flipped bytes");
	cr_assert_eq(s.first.length, MIB);
	cr_assert_eq(verdict(&ss, 1)->verdict, SCRUB_BAD);
	cr_assert_eq(verdict(&ss, 2)->verdict, SCRUB_OK, "point 2's own bytes are fine");
	cr_assert_eq(store_list_points(st, "grp", &pts, &n), 0);
	/* ...but point 2 reads point 1's bad bytes: its state is bad. */
	cr_assert_eq(scrubstate_chain_bad(&ss, pts, n, 2)->point, 1);
	cr_assert_str_eq(scrubstate_describe(&ss, pts, n, 2, buf, sizeof(buf), NULL),
			 "bad (base 1)");
	/* --point scrubs that one only. */
	o.point = 2;
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 0);
	o.point = 9;
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), -1, "no such point");
	free(pts);
	scrubstate_free(&ss);
	store_free(st);
}

Test(scrub, removal_hands_checksums_and_bad_ranges_to_the_child)
{
	struct store *st = two_points();
	struct scrub_opts o = { 0 };
	struct scrubstate ss = { 0 };
	const struct scrub_entry *e;
	struct sums_rec *r;
	char path[256];
	size_t n;

	corrupt(1, 3 * MIB + 4096);  /* not overwritten by point 2 */
	corrupt(1, MIB + 512);        /* inside [1M, 1M+64K): point 2 overwrote it */
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 1);
	e = verdict(&ss, 1);
	cr_assert_eq(e->nbad, 2);
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 0);
	cr_assert_null(verdict(&ss, 1));
	e = verdict(&ss, 2);
	cr_assert_not_null(e);
	cr_assert_eq(e->verdict, SCRUB_BAD);
	/* [1M,2M) minus point 2's [1M,1M+64K), and [3M,4M) minus its
	 * [3M+128K,3M+192K): the bytes point 2 reads from the old point 1. */
	cr_assert_eq(e->nbad, 3);
	cr_assert_eq(e->bad[0].offset, MIB + 65536);
	cr_assert_eq(e->bad[0].length, MIB - 65536);
	cr_assert_eq(e->bad[1].offset, 3 * MIB);
	cr_assert_eq(e->bad[1].length, 131072);
	cr_assert_eq(e->bad[2].offset, 3 * MIB + 196608);
	/* Point 2's checksums now cover the bytes it took over: its own two,
	 * point 1's [0,1M), the zeros; [3M,4M) and [1M,2M) (partly
	 * overwritten) are gone, what point 2 left of them UNKNOWN: [1M+64K,
	 * 2M), [3M,3M+128K), [3M+192K,4M). */
	n = records(2, &r);
	cr_assert_eq(n, 7);
	cr_assert_eq(r[0].offset, 0);
	cr_assert_eq(r[0].length, MIB);
	cr_assert_eq(r[1].offset, MIB);
	cr_assert_eq(r[1].length, 65536);
	cr_assert(r[2].unknown);
	cr_assert_eq(r[2].offset, MIB + 65536);
	cr_assert_eq(r[2].length, MIB - 65536);
	for (size_t i = 0, z = 0, u = 0; i < n; i++) {
		z += r[i].zero;
		u += r[i].unknown;
		if (i == n - 1) {
			cr_assert_eq(z, 1);
			cr_assert_eq(u, 3);
		}
	}
	free(r);
	snprintf(path, sizeof(path), "%s/grp/sums/1", root);
	cr_assert_neq(access(path, F_OK), 0, "the removed point's checksums are gone");
	/* A new scrub finds the merged records true (the copied bad bytes lie
	 * outside them: the records over them were dropped), yet cannot clear
	 * the inherited ranges it has no record of (an UNKNOWN one vouches
	 * for nothing): point 2 stays bad. */
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 1);
	e = verdict(&ss, 2);
	cr_assert_eq(e->verdict, SCRUB_BAD);
	cr_assert_eq(e->nbad, 3, "the inherited ranges are kept");
	cr_assert_eq(e->bad[0].offset, MIB + 65536);
	cr_assert_eq(e->checked_bytes, 2 * MIB + 2 * 65536);
	scrubstate_free(&ss);
	store_free(st);
}

Test(scrub, resume_keeps_only_durable_records)
{
	struct store *st = store_open(root, NULL);
	struct store_point *pt;
	struct scrub_opts o = { 0 };
	struct sums_rec *r;
	int err = -1;

	cr_assert_not_null(st);
	pt = begin(st, 1, 0);
	put(pt, 0, MIB, 1);
	cr_assert_eq(store_point_checkpoint(pt, &err), 0);
	put(pt, MIB, MIB, 2);
	put(pt, 2 * MIB, MIB, 3);
	/* Written to the file but never durable: the resume must drop them. */
	store_point_free(pt); /* connection lost */
	pt = begin(st, 1, 0);
	cr_assert_eq(records(1, &r), 1, "only the record below durable_offset stays");
	free(r);
	put(pt, MIB, MIB, 6); /* the agent resends from durable_offset */
	put(pt, 2 * MIB, 2 * MIB, 7);
	commit(pt);
	cr_assert_eq(records(1, &r), 3);
	free(r);
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 0);
	store_free(st);
}

Test(scrub, points_without_checksums_are_unchecked_not_bad)
{
	struct store *st = two_points();
	struct scrub_opts o = { 0 };
	struct scrubstate ss = { 0 };
	char path[256];

	snprintf(path, sizeof(path), "rm -r %s/grp/sums/1", root);
	cr_assert_eq(system(path), 0);
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), 0);
	cr_assert_eq(verdict(&ss, 1)->verdict, SCRUB_UNCHECKED);
	cr_assert_eq(verdict(&ss, 2)->verdict, SCRUB_OK);
	scrubstate_free(&ss);
	store_free(st);
}

Test(scrub, state_round_trip_is_bounded_and_joins_ranges)
{
	struct scrubstate ss = { 0 }, back = { 0 };
	struct scrub_entry *e;
	char gdir[128];

	snprintf(gdir, sizeof(gdir), "%s", root);
	e = scrubstate_get(&ss, 7);
	cr_assert_not_null(e);
	scrubstate_reset(e, SCRUB_OK, 123);
	cr_assert_eq(scrubstate_add_bad(e, "vda", 0, 4096), 0);
	cr_assert_eq(scrubstate_add_bad(e, "vda", 4096, 4096), 0); /* continues: joined */
	cr_assert_eq(scrubstate_add_bad(e, "vdb", 8192, 4096), 0); /* other disk */
	for (uint64_t i = 0; i < SCRUBSTATE_MAX_BAD + 5; i++)
		cr_assert_eq(scrubstate_add_bad(e, "vdb", 1000000 + i * 8192, 512), 0);
	cr_assert_eq(e->verdict, SCRUB_BAD);
	cr_assert_eq(e->nbad, SCRUBSTATE_MAX_BAD);
	cr_assert_eq(e->bad_count, SCRUBSTATE_MAX_BAD + 7);
	cr_assert_eq(e->bad[0].length, 8192);
	cr_assert_eq(scrubstate_save(gdir, &ss), 0);
	cr_assert_eq(scrubstate_load(gdir, &back), 0);
	e = scrubstate_find(&back, 7);
	cr_assert_not_null(e);
	cr_assert_eq(e->verdict, SCRUB_BAD);
	cr_assert_eq(e->time_ns, 123);
	cr_assert_eq(e->nbad, SCRUBSTATE_MAX_BAD);
	cr_assert_eq(e->bad_count, SCRUBSTATE_MAX_BAD + 7);
	cr_assert_str_eq(e->bad[1].disk, "vdb");
	scrubstate_free(&ss);
	scrubstate_free(&back);
}

struct remover {
	struct store *st;
	int reports;
	bool point2_removed_seen;
	bool any_bad;
};

/* Retention runs while the scrub goes: after point 1's report, point 1
 * (then the oldest, with point 2 its child) goes; then also point 2 is
 * removed before the scrub reaches it. */
static void
remove_meanwhile(void *arg, const char *group, const struct scrub_report *r)
{
	struct remover *m = arg;

	(void)group;
	m->reports++;
	m->any_bad |= r->entry->verdict == SCRUB_BAD && !r->removed;
	if (r->point == 2)
		m->point2_removed_seen = r->removed;
	if (r->point == 1)
		cr_assert_eq(store_point_remove(m->st, "grp", 2, NULL, NULL), 0);
}

Test(scrub, a_point_removed_meanwhile_is_skipped_not_bad)
{
	struct store *st = two_points();
	struct store_point *pt = begin(st, 3, 2);
	struct scrub_opts o = { 0 };
	struct scrubstate ss = { 0 };
	struct remover m = { .st = st };

	put(pt, 0, 65536, 9);
	commit(pt);
	cr_assert_eq(scrub_group(st, "grp", &o, remove_meanwhile, &m), 0);
	cr_assert_eq(m.reports, 3);
	cr_assert(m.point2_removed_seen, "point 2 reported as removed, skipped");
	cr_assert(!m.any_bad);
	cr_assert_null(verdict(&ss, 2), "nothing recorded for the removed point");
	cr_assert_eq(verdict(&ss, 3)->verdict, SCRUB_OK);
	scrubstate_free(&ss);
	store_free(st);
}

Test(scrub, an_unreadable_verdict_file_does_not_block_retention)
{
	struct store *st = two_points();
	struct scrub_opts o = { 0 };
	struct sums_rec *r;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/grp/scrub.json", root);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{ not json", f);
	fclose(f);
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 0);
	cr_assert_eq(store_point_exists(st, "grp", 1), 0);
	cr_assert_geq(records(2, &r), 3, "the checksums were still merged");
	free(r);
	/* ...and the scrub refuses to record over it: an error, not a verdict. */
	cr_assert_eq(scrub_group(st, "grp", &o, NULL, NULL), -1);
	store_free(st);
}

/* A hostile agent cannot grow a point's checksums without bound: past
 * disk size / 512 + 65536 records the extent is refused (the session
 * answers a protocol error), and nothing past the bound is kept. */
Test(scrub, extents_past_the_bound_are_refused, .timeout = 300)
{
	struct store *st = store_open(root, NULL);
	struct store_point *pt;
	uint64_t max = sums_max_records(DISK);
	struct sums_rec *r;
	int err = -1;

	cr_assert_not_null(st);
	pt = begin(st, 1, 0);
	for (uint64_t i = 0; i < max; i++)
		cr_assert_eq(store_point_zero(pt, 0, (i % 8192) * 512, 512, &err), 0, "extent %llu",
			     (unsigned long long)i);
	cr_assert_eq(store_point_zero(pt, 0, 0, 512, &err), -1, "one more is refused");
	cr_assert_eq(err, STORE_ERR_INVALID);
	fill(0, 4096, 1);
	cr_assert_eq(store_point_write(pt, 0, 0, img, 4096, &err), -1, "data too");
	cr_assert_eq(err, STORE_ERR_INVALID);
	cr_assert_eq(store_point_checkpoint(pt, &err), 0);
	store_point_free(pt);
	cr_assert_eq(records(1, &r), max);
	free(r);
	store_free(st);
}
