/* Unit tests of replicator/receiver/catidx through catalog_load_listing
 * (issue 17, many points): a new process's listing reads catalog.idx
 * instead of parsing the catalog, and gets exactly what catalog_load gets
 * whatever the index holds: missing, stale after a compaction, lagging the
 * journal, torn, damaged, hostile with a valid checksum, a journal record
 * replaced under it, a symlink. Whether the index served a load shows in
 * the cache: an index load is never cached, a catalog read is. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/catcache.h"
#include "replicator/receiver/catidx.h"
#include "replicator/receiver/catlog.h"
#include "pointinfo.h"
#include "tmpdir.h"

TMPDIR_SUITE(catidx, dir, "nestor-catidx");

/* The layout of catidx.c, as a hostile writer would learn it. */
#define HDR  160
#define REC  72
#define DISK 80

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

static void
assert_same(const struct catalog *a, const struct catalog *b)
{
	cr_assert_eq(a->n, b->n);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->log_end, b->log_end);
	cr_assert_eq(a->log_records, b->log_records);
	cr_assert_eq(a->snapshot, b->snapshot);
	for (size_t i = 0; i < a->n; i++)
		cr_assert(catalog_point_same(&a->pts[i], &b->pts[i]), "point #%zu differs", i);
}

/* A listing as a new process does it; true when the index served it (no
 * catalog read, so nothing cached), after checking it against the truth. */
static bool
listing_from_index(void)
{
	struct catalog a, b;
	struct catcache_stats st;

	catcache_clear();
	cr_assert_eq(catalog_load_listing(dir, &a, false), 0);
	catcache_stats(&st);
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &b), 0);
	assert_same(&a, &b);
	catalog_free(&a);
	catalog_free(&b);
	return st.entries == 0;
}

static char *
path_of(const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static unsigned char *
idx_get(size_t *len)
{
	char *p = path_of(CATIDX_NAME);
	void *data = NULL;

	cr_assert_eq(file_read_all(p, 64u << 20, &data, len), 0);
	free(p);
	return data;
}

/* Write buf back as the index, its checksum made valid when resum. */
static void
idx_put(unsigned char *buf, size_t len, bool resum)
{
	char *p = path_of(CATIDX_NAME);
	uint64_t h = htole64(hash64(buf, len - 8));

	if (resum)
		memcpy(buf + len - 8, &h, 8);
	cr_assert_eq(file_write_atomic(p, buf, len, 0640), 0);
	free(p);
}

static uint64_t
u64_at(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void
u64_put(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static ino_t
idx_ino(void)
{
	char *p = path_of(CATIDX_NAME);
	struct stat sb;

	cr_assert_eq(stat(p, &sb), 0);
	free(p);
	return sb.st_ino;
}

/* 20 points and an index of them. */
static void
setup_indexed(void)
{
	commit_in(dir, 1, 20);
	cr_assert_not(listing_from_index(), "no index yet: the catalog is read");
	cr_assert(listing_from_index(), "the first listing wrote the index");
}

Test(catidx, missing_then_written_then_served)
{
	struct catalog cat;
	char *p = path_of(CATIDX_NAME);

	commit_in(dir, 1, 5);
	cr_assert_neq(access(p, F_OK), 0);
	cr_assert_not(listing_from_index());
	cr_assert_eq(access(p, F_OK), 0, "a listing that read the catalog writes the index");
	cr_assert(listing_from_index());
	/* A writer never loads through it. */
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &cat), 0);
	catalog_free(&cat);
	free(p);
}

Test(catidx, empty_group_writes_nothing)
{
	struct catalog cat;
	char *p = path_of(CATIDX_NAME);

	cr_assert_eq(catalog_load_listing(dir, &cat, true), 0);
	cr_assert_eq(cat.n, 0);
	cr_assert_neq(access(p, F_OK), 0);
	catalog_free(&cat);
	free(p);
}

/* Commits after the index: served with the journal's newer records; past
 * CATIDX_LAG_MAX of them the listing rewrites it. */
Test(catidx, lagging_index_replays_the_tail)
{
	ino_t first;

	setup_indexed();
	first = idx_ino();
	commit_in(dir, 21, 25);
	cr_assert(listing_from_index());
	cr_assert_eq(idx_ino(), first, "5 records behind: not rewritten");
	commit_in(dir, 26, 26 + CATIDX_LAG_MAX);
	cr_assert(listing_from_index());
	cr_assert_neq(idx_ino(), first, "more than CATIDX_LAG_MAX behind: rewritten");
	cr_assert(listing_from_index());
}

/* A removal in the journal (retention) is replayed over the index too. */
Test(catidx, removal_after_the_index)
{
	struct catalog cat;

	setup_indexed();
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(catlog_remove(dir, &cat, 7), 0);
	catalog_free(&cat);
	cr_assert(listing_from_index());
	catcache_clear();
	cr_assert_eq(catalog_load_listing(dir, &cat, false), 0);
	cr_assert_eq(cat.n, 19);
	cr_assert_eq(catalog_find(&cat, 8)->base_id, 6);
	catalog_free(&cat);
}

/* A compaction replaces catalog.json: the index names the old one. */
Test(catidx, stale_after_compaction)
{
	struct catalog cat;

	setup_indexed();
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(catalog_save(dir, &cat), 0);
	catalog_free(&cat);
	cr_assert_not(listing_from_index(), "stale: the catalog is read");
	cr_assert(listing_from_index(), "and the index rewritten");
	/* Now an index of catalog.json alone (the journal empty): only the
	 * snapshot's identity tells it from the next compaction's. */
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.log_end, 0);
	cr_assert_eq(catalog_drop(&cat, 3), 0);
	cr_assert_eq(catalog_save(dir, &cat), 0);
	catalog_free(&cat);
	cr_assert_not(listing_from_index(), "stale again");
	catcache_clear();
	cr_assert_eq(catalog_load_listing(dir, &cat, false), 0);
	cr_assert_eq(cat.n, 19);
	catalog_free(&cat);
}

/* The receiver's refresh after a point (cache warm): a header read
 * decides; rewritten only when due. */
Test(catidx, refresh_from_the_cache)
{
	struct catalog cat;
	ino_t first;

	setup_indexed();
	first = idx_ino();
	commit_in(dir, 21, 22); /* the cache holds the catalog now */
	cr_assert_eq(catalog_load_listing(dir, &cat, true), 0);
	catalog_free(&cat);
	cr_assert_eq(idx_ino(), first);
	commit_in(dir, 23, 23 + CATIDX_LAG_MAX);
	cr_assert_eq(catalog_load_listing(dir, &cat, true), 0);
	catalog_free(&cat);
	cr_assert_neq(idx_ino(), first);
	cr_assert(listing_from_index());
	/* The cache served that load, and it still holds the truth. */
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 23 + CATIDX_LAG_MAX);
	catalog_free(&cat);
}

Test(catidx, torn_index_is_not_used)
{
	unsigned char *buf;
	size_t len;

	setup_indexed();
	buf = idx_get(&len);
	idx_put(buf, len - 100, false); /* cut short, as a torn write */
	cr_assert_not(listing_from_index());
	cr_assert(listing_from_index(), "rewritten whole");
	idx_put(buf, HDR - 1, false);
	cr_assert_not(listing_from_index());
	free(buf);
}

Test(catidx, damaged_byte_is_caught_by_the_checksum)
{
	unsigned char *buf;
	size_t len;

	setup_indexed();
	buf = idx_get(&len);
	buf[HDR + 5 * REC + 24] ^= 0x40; /* point 6's received time */
	idx_put(buf, len, false);
	cr_assert_not(listing_from_index());
	free(buf);
}

/* Content that a valid checksum covers but that breaks the catalog's own
 * rules: refused, the catalog read. */
Test(catidx, hostile_content_with_a_valid_checksum)
{
	unsigned char *orig, *buf;
	size_t len, disks;
	uint64_t n;

	setup_indexed();
	orig = idx_get(&len);
	n = u64_at(orig + 16);
	cr_assert_eq(n, 20);
	disks = HDR + n * REC;
	buf = malloc(len);
	cr_assert_not_null(buf);

	struct {
		const char *what;
		size_t off;
		uint64_t v;
	} cases[] = {
		{ "ids out of order", HDR + 3 * REC, 2 },
		{ "base not older", HDR + 3 * REC + 8, 4 },
		{ "id 0", HDR, 0 },
		{ "value above INT64_MAX", HDR + 2 * REC + 40, 1ull << 63 },
		{ "unknown consistency", HDR + REC + 48, 9 },
		{ "no disks", HDR + REC + 56, 0 },
		{ "too many disks", HDR + REC + 56, STORE_MAX_DISKS + 1 },
		{ "disk list past the end", HDR + REC + 64, 1ull << 40 },
		{ "disk size 0", disks + DISK - 8, 0 },
		{ "more points than the file holds", 16, 21 },
		{ "huge point count", 16, 1ull << 60 },
		{ "another version", 8, 2 },
		{ "journal end past the journal", 120, 1ull << 30 },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memcpy(buf, orig, len);
		u64_put(buf + cases[c].off, cases[c].v);
		idx_put(buf, len, true);
		cr_assert_not(listing_from_index(), "%s: used", cases[c].what);
	}
	/* A disk name that is no name (a path), and two disks of one name. */
	memcpy(buf, orig, len);
	memcpy(buf + disks, "../x", 5);
	idx_put(buf, len, true);
	cr_assert_not(listing_from_index(), "bad disk name: used");
	memcpy(buf, orig, len);
	memcpy(buf + disks + DISK, buf + disks, DISK);
	idx_put(buf, len, true);
	cr_assert_not(listing_from_index(), "a disk twice: used");
	/* A name without its NUL. */
	memcpy(buf, orig, len);
	memset(buf + disks, 'a', 72);
	idx_put(buf, len, true);
	cr_assert_not(listing_from_index(), "unterminated name: used");
	/* And the untouched one still serves. */
	idx_put(orig, len, false);
	cr_assert(listing_from_index());
	free(buf);
	free(orig);
}

/* The journal's last record the index holds replaced by another of the
 * same length and seq (a record a power cut took back, then another point
 * committed in its place): the index no longer describes the journal. */
Test(catidx, journal_record_replaced_under_the_index)
{
	char *lp = path_of("catalog.log"), *text, *last, *pos;
	void *data = NULL;
	size_t len;
	struct catalog cat;

	commit_in(dir, 1, 20);
	cr_assert_eq(file_read_all(lp, 1 << 20, &data, &len), 0);
	cr_assert_gt(len, 0, "the points are in the journal");
	cr_assert_not(listing_from_index());
	cr_assert(listing_from_index());
	text = data;
	text[len - 1] = '\0';
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	/* Point 20's snapshot time ...020 -> ...029: same length, same seq. */
	pos = strstr(last, "\"time_ns\":1700000000000000020");
	cr_assert_not_null(pos);
	pos[strlen("\"time_ns\":1700000000000000020") - 1] = '9';
	text[len - 1] = '\n';
	{
		int fd = open(lp, O_WRONLY);

		cr_assert_geq(fd, 0);
		cr_assert_eq(pwrite(fd, text, len, 0), (ssize_t)len);
		close(fd);
	}
	cr_assert_not(listing_from_index(), "a replaced record: the catalog is read");
	catcache_clear();
	cr_assert_eq(catalog_load_listing(dir, &cat, false), 0);
	cr_assert_eq(catalog_find(&cat, 20)->time_ns, 1700000000000000029ull);
	catalog_free(&cat);
	free(data);
	free(lp);
}

/* The journal cut shorter than the index holds (a power cut took its
 * tail): stale. */
Test(catidx, journal_shorter_than_the_index)
{
	char *lp = path_of("catalog.log");
	struct catalog cat;
	struct stat sb;

	setup_indexed();
	cr_assert_eq(stat(lp, &sb), 0);
	cr_assert_eq(truncate(lp, sb.st_size - 1), 0); /* the last record torn */
	/* (a catalog with a torn tail is not cached either: the proxy of
	 * listing_from_index says nothing here; its check against
	 * catalog_load does) */
	(void)listing_from_index();
	catcache_clear();
	cr_assert_eq(catalog_load_listing(dir, &cat, false), 0);
	cr_assert_eq(cat.n, 19, "point 20's record is torn: not listed");
	catalog_free(&cat);
	free(lp);
}

Test(catidx, symlink_is_not_followed)
{
	char *p = path_of(CATIDX_NAME), *q = path_of("elsewhere.idx");

	setup_indexed();
	cr_assert_eq(rename(p, q), 0);
	cr_assert_eq(symlink(q, p), 0);
	cr_assert_not(listing_from_index());
	free(p);
	free(q);
}

/* The index costs what the points do: 10,000 points of 2 disks in about
 * 72 bytes each (the disk list once). */
Test(catidx, compact_on_disk, .timeout = 60)
{
	struct catalog cat = { 0 };
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;
	struct file_id snap, log;
	char *sp = path_of("catalog.json"), *lp = path_of("catalog.log");
	size_t len;
	unsigned char *buf;

	for (uint64_t id = 1; id <= 10000; id++) {
		pointinfo_fill(&pi, room, id, id - 1, 2);
		cr_assert_eq(catalog_append(&cat, &pi), 0);
	}
	cat.snapshot = true;
	cr_assert_eq(catalog_save(dir, &cat), 0);
	catalog_free(&cat);
	catcache_clear();
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_geq(file_identity(sp, &snap), 0);
	cr_assert_geq(file_identity(lp, &log), 0);
	cr_assert_eq(catidx_save(dir, &cat, &snap, &log), 0);
	catalog_free(&cat);
	buf = idx_get(&len);
	cr_assert_eq(len, HDR + 10000 * REC + 2 * DISK + 8);
	cr_assert(listing_from_index());
	free(buf);
	free(sp);
	free(lp);
}
