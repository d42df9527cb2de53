/* Unit tests of replicator/receiver/catcache through catalog_load (issue
 * 17, many points): a repeated load shares the cached catalog's points,
 * an append replays only the new records, a compaction or a torn tail is
 * never served stale, changes are private, the cache stays bounded. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replicator/receiver/catalog.h"
#include "replicator/receiver/catcache.h"
#include "replicator/receiver/catlog.h"
#include "pointinfo.h"
#include "tmpdir.h"

TMPDIR_SUITE(catcache, dir, "nestor-catcache");

static void
commit_in(const char *gdir, uint64_t first, uint64_t last)
{
	for (uint64_t id = first; id <= last; id++) {
		struct catalog cat;
		struct store_disk_info room[STORE_MAX_DISKS];
		struct store_point_info pi;

		cr_assert_eq(catalog_load(gdir, &cat), 0);
		pointinfo_fill(&pi, room, id, id > 1 ? id - 1 : 0, 2);
		cr_assert_eq(catlog_commit(gdir, &cat, &pi), 0, "commit %lu", (unsigned long)id);
		catalog_free(&cat);
	}
}

/* What a process without the cache reads. */
static void
load_fresh(const char *gdir, struct catalog *cat)
{
	catcache_clear();
	cr_assert_eq(catalog_load(gdir, cat), 0);
}

static void
assert_same(const struct catalog *a, const struct catalog *b)
{
	cr_assert_eq(a->n, b->n);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->log_end, b->log_end);
	cr_assert_eq(a->log_size, b->log_size);
	cr_assert_eq(a->log_records, b->log_records);
	cr_assert_eq(a->snapshot, b->snapshot);
	for (size_t i = 0; i < a->n; i++)
		cr_assert(catalog_point_same(&a->pts[i], &b->pts[i]), "point #%zu differs", i);
}

Test(catcache, repeated_load_shares_the_cache)
{
	struct catalog a, b, c;
	struct catcache_stats st;
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;

	commit_in(dir, 1, 5);
	load_fresh(dir, &a);
	cr_assert_eq(catalog_load(dir, &b), 0);
	catcache_stats(&st);
	cr_assert_eq(st.miss, 1);
	cr_assert_eq(st.exact, 1);
	assert_same(&a, &b);
	/* A hit costs no copy of the points (issue 17): the same memory. */
	cr_assert_eq(b.pts, a.pts);
	/* Changing a load (as a writer does) copies it first: no later load,
	 * and no other holder, sees the change. */
	cr_assert_eq(catalog_drop(&b, 0), 0);
	pointinfo_fill(&pi, room, 6, 5, 3);
	cr_assert_eq(catalog_append(&b, &pi), 0);
	cr_assert_neq(b.pts, a.pts);
	cr_assert_eq(b.n, 5);
	cr_assert_eq(a.n, 5);
	cr_assert_eq(a.pts[0].id, 1);
	cr_assert_eq(catalog_load(dir, &c), 0);
	assert_same(&a, &c);
	cr_assert_eq(c.pts, a.pts);
	catalog_free(&b);
	catalog_free(&c);
	catalog_free(&a);
}

/* A point costs its entry, not room for 64 disks: consecutive points with
 * the same disks share one list; store_list_points' block outlives the
 * catalog it came from. */
Test(catcache, points_share_their_disk_lists)
{
	struct catalog a;
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi, *pts = NULL;
	size_t n = 0;

	cr_assert_leq(sizeof(struct store_point_info), 96);
	commit_in(dir, 1, 3);
	load_fresh(dir, &a);
	cr_assert_eq(a.pts[1].disks, a.pts[0].disks);
	cr_assert_eq(a.pts[2].disks, a.pts[0].disks);
	pointinfo_fill(&pi, room, 4, 3, 3); /* one disk more */
	cr_assert_eq(catalog_append(&a, &pi), 0);
	cr_assert_neq(a.pts[3].disks, a.pts[2].disks);
	cr_assert_eq(a.pts[3].ndisks, 3);
	cr_assert_str_eq(a.pts[3].disks[2].name, "vdc");
	cr_assert_eq(catalog_export(&a, &pts, &n), 0);
	catalog_free(&a);
	catcache_clear();
	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		pointinfo_fill(&pi, room, i + 1, i, i == 3 ? 3 : 2);
		cr_assert(catalog_point_same(&pts[i], &pi), "point #%zu", i);
	}
	free(pts);
}

Test(catcache, an_append_replays_only_the_new_records)
{
	struct catalog a, b;
	struct catcache_stats st;

	commit_in(dir, 1, 5);
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &a), 0); /* miss, stored */
	catalog_free(&a);
	commit_in(dir, 6, 8); /* each load under it a tail replay */
	cr_assert_eq(catalog_load(dir, &a), 0);
	catcache_stats(&st);
	cr_assert_eq(st.miss, 1, "misses %lu", (unsigned long)st.miss);
	cr_assert_geq(st.tail, 3);
	cr_assert_eq(a.n, 8);
	cr_assert_eq(a.pts[7].id, 8);
	load_fresh(dir, &b);
	assert_same(&a, &b);
	catalog_free(&a);
	catalog_free(&b);
}

Test(catcache, a_compaction_is_never_served_stale)
{
	struct catalog a, b;

	commit_in(dir, 1, 4);
	cr_assert_eq(catalog_load(dir, &a), 0);
	/* Another writer removes point 2 and compacts into a new snapshot. */
	cr_assert_eq(catlog_remove(dir, &a, 2), 0);
	cr_assert_eq(catalog_save(dir, &a), 0);
	catalog_free(&a);
	cr_assert_eq(catalog_load(dir, &a), 0);
	cr_assert_eq(a.n, 3);
	cr_assert_not(catalog_has(&a, 2));
	load_fresh(dir, &b);
	assert_same(&a, &b);
	catalog_free(&a);
	catalog_free(&b);
}

Test(catcache, a_torn_tail_is_cut_and_the_new_record_seen)
{
	struct catalog a;
	char *p = NULL;
	FILE *f;

	commit_in(dir, 1, 3);
	cr_assert(asprintf(&p, "%s/catalog.log", dir) > 0);
	f = fopen(p, "a");
	cr_assert_not_null(f);
	fputs("{\"seq\":99,\"op\":\"comm", f); /* a power cut mid-append */
	fclose(f);
	free(p);
	cr_assert_eq(catalog_load(dir, &a), 0);
	cr_assert_eq(a.n, 3);
	catalog_free(&a);
	cr_assert_eq(catalog_load(dir, &a), 0);
	cr_assert_eq(a.n, 3);
	catalog_free(&a);
	commit_in(dir, 4, 4); /* cuts the tail, appends */
	cr_assert_eq(catalog_load(dir, &a), 0);
	cr_assert_eq(a.n, 4);
	cr_assert_eq(a.pts[3].id, 4);
	cr_assert_eq(a.log_end, a.log_size);
	catalog_free(&a);
}

Test(catcache, bounded_in_entries)
{
	struct catcache_stats st;

	catcache_clear();
	for (int g = 0; g < CATCACHE_MAX_ENTRIES + 6; g++) {
		char *gdir = NULL;
		struct catalog a;

		cr_assert(asprintf(&gdir, "%s/g%d", dir, g) > 0);
		cr_assert_eq(mkdir(gdir, 0750), 0);
		commit_in(gdir, 1, 1);
		cr_assert_eq(catalog_load(gdir, &a), 0);
		cr_assert_eq(a.n, 1);
		catalog_free(&a);
		free(gdir);
	}
	catcache_stats(&st);
	cr_assert_leq(st.entries, CATCACHE_MAX_ENTRIES);
	cr_assert_gt(st.entries, 0);
	/* One point of two disks each: its entry and its disk list (it was
	 * 5 KiB a point when each point had room for 64 disks). */
	cr_assert_leq(st.bytes, st.entries * 512);
}
