/* Unit tests of replicator/receiver/catlog: the catalog's journal
 * (issue 17, many points): one line per commit or removal, replay over the
 * snapshot, torn tails, compaction and the crash between its two steps,
 * the duplicate and seq rules, bounds, and a reader racing a writer. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/catlog.h"
#include "capture.h"
#include "pointinfo.h"
#include "tmpdir.h"

TMPDIR_SUITE(catlog, dir, "nestor-catlog");

/* Point id of a history where each point is based on the one before. */
/* Every point's two disks (per thread: a test's writer thread fills its own). */
static _Thread_local struct store_disk_info room[STORE_MAX_DISKS];

static void
point(struct store_point_info *pi, uint64_t id, uint64_t base)
{
	pointinfo_fill(pi, room, id, base, 2);
}

static char *
path_of(const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Contents of <dir>/name ("" if absent), malloc'd; *len its size. */
static char *
slurp(const char *name, size_t *len)
{
	char *p = path_of(name);
	void *data = NULL;
	struct stat sb;

	*len = 0;
	if (stat(p, &sb) < 0) {
		free(p);
		return strdup("");
	}
	cr_assert_eq(file_read_all(p, 64u << 20, &data, len), 0);
	free(p);
	return data;
}

static void
put(const char *name, const char *data, size_t len)
{
	char *p = path_of(name);

	cr_assert_eq(file_write_atomic(p, data, len, 0640), 0);
	free(p);
}

static void
append_raw(const char *name, const char *data, size_t len)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "a");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	free(p);
}

static void
append_str(const char *text)
{
	append_raw("catalog.log", text, strlen(text));
}

/* A record line committing pi with seq. */
static void
append_commit(uint64_t seq, const struct store_point_info *pi)
{
	json_t *j = catalog_point_to_json(pi);
	char *text = json_dumps(j, JSON_COMPACT), line[1024];

	cr_assert_not_null(text);
	snprintf(line, sizeof(line), "{\"seq\":%lu,\"op\":\"commit\",\"point\":%s}\n",
		 (unsigned long)seq, text);
	append_str(line);
	free(text);
	json_decref(j);
}

/* catalog_load refuses the group, logging needle. */
static void
load_refused(const char *needle)
{
	struct catalog cat = { .n = 9 };
	char *out;

	cap_start();
	cr_assert_eq(catalog_load(dir, &cat), -1, "accepted, expected '%s'", needle);
	out = cap_stop();
	cr_assert_eq(cat.n, 0);
	cr_assert_null(cat.pts);
	assert_logged(out, needle);
	cr_assert_eq(count_lines(out), 1, "not one line:\n%s", out);
	free(out);
}

static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Commit points first..last (each based on the one before) the way the
 * store does: load under the lock, then catlog_commit. */
static void
commit_range(uint64_t first, uint64_t last)
{
	for (uint64_t id = first; id <= last; id++) {
		struct catalog cat;
		struct store_point_info pi;

		cr_assert_eq(catalog_load(dir, &cat), 0);
		point(&pi, id, id > 1 ? id - 1 : 0);
		cr_assert_eq(catlog_commit(dir, &cat, &pi), 0, "commit %lu", (unsigned long)id);
		catalog_free(&cat);
	}
}

/* The catalog on disk is exactly points 1..n of commit_range, minus none. */
static void
assert_points(size_t n)
{
	struct catalog cat;
	struct store_point_info pi;

	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, n, "%zu points, expected %zu", cat.n, n);
	for (size_t i = 0; i < n; i++) {
		point(&pi, i + 1, i ? i : 0);
		cr_assert(catalog_point_same(&cat.pts[i], &pi), "point %zu differs", i + 1);
	}
	catalog_free(&cat);
}

Test(catlog, a_commit_appends_one_line)
{
	char *snap1, *snap2, *log;
	size_t l1, l2, ll;

	commit_range(1, 1);
	/* The first commit writes the snapshot: tools see catalog.json. */
	snap1 = slurp("catalog.json", &l1);
	cr_assert(strstr(snap1, "\"id\": 1") || strstr(snap1, "\"id\":1"), "%s", snap1);
	log = slurp("catalog.log", &ll);
	cr_assert_eq(ll, 0);
	free(log);
	commit_range(2, 3);
	snap2 = slurp("catalog.json", &l2);
	cr_assert_eq(l1, l2);
	cr_assert_eq(memcmp(snap1, snap2, l1), 0, "the snapshot was rewritten");
	log = slurp("catalog.log", &ll);
	cr_assert_eq(lines(log), 2, "%s", log);
	cr_assert(strstr(log, "\"op\":\"commit\""));
	cr_assert(strstr(log, "\"seq\":3"));
	assert_points(3);
	free(log);
	free(snap1);
	free(snap2);
}

/* Points 1..4, then 2 removed (3 takes base 1) as retention does; the
 * journal's contents, malloc'd, *len its size. */
static char *
history_with_removal(size_t *len)
{
	struct catalog cat;

	commit_range(1, 4);
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(catlog_remove(dir, &cat, 2), 0);
	catalog_free(&cat);
	return slurp("catalog.log", len);
}

Test(catlog, a_removal_replays_with_the_child_rebased)
{
	struct catalog cat;
	char *log;
	size_t ll;

	log = history_with_removal(&ll);
	cr_assert_eq(lines(log), 4, "%s", log);
	cr_assert(strstr(log, "{\"op\":\"remove\",\"id\":2,\"seq\":5}"), "%s", log);
	free(log);
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 3);
	cr_assert_eq(cat.pts[1].id, 3);
	cr_assert_eq(cat.pts[1].base_id, 1, "the child keeps reading through 1");
	cr_assert_eq(cat.seq, 5);
	/* the newest, or an unlisted point, is never removed */
	cap_start();
	cr_assert_eq(catlog_remove(dir, &cat, 4), -1);
	cr_assert_eq(catlog_remove(dir, &cat, 2), -1);
	free(cap_stop());
	catalog_free(&cat);
}

/* A power cut during an append: the line is partial, zeros, or garbage on
 * the last line. Readers ignore it; the next writer cuts it. */
Test(catlog, a_torn_tail_is_ignored_then_cut)
{
#define TAIL(s) { s, sizeof(s) - 1 }
	static const struct { const char *s; size_t len; } tails[] = {
		TAIL("{\"seq\":4,\"op\":\"comm"), TAIL("\0\0\0\0\0\0"), TAIL("{\"seq\":4,\"op\n"),
	};

	for (size_t t = 0; t < 3; t++) {
		struct catalog cat;
		char *log;
		size_t ll;

		tmpdir_remove(dir);
		cr_assert_eq(mkdir(dir, 0700), 0);
		commit_range(1, 3);
		append_raw("catalog.log", tails[t].s, tails[t].len);
		cr_assert_eq(catalog_load(dir, &cat), 0);
		cr_assert_eq(cat.n, 3, "tail %zu", t);
		cr_assert_gt(cat.log_size, cat.log_end);
		catalog_free(&cat);
		commit_range(4, 4);
		log = slurp("catalog.log", &ll);
		cr_assert_eq(lines(log), 3, "tail %zu: %s", t, log);
		cr_assert_eq(log[ll - 1], '\n');
		cr_assert_eq(strlen(log), ll, "tail %zu: zeros left", t);
		free(log);
		assert_points(4);
	}
}

/* Anything malformed before the last line is an error, as a malformed
 * catalog.json is: one line naming the file and the line. */
Test(catlog, a_malformed_record_is_an_error)
{
	static const char *const bad[] = {
		"garbage\n",
		"{\"seq\":3,\"op\":\"rename\",\"id\":1}\n",
		"{\"op\":\"remove\",\"id\":1}\n",
		"{\"seq\":3,\"op\":\"commit\",\"point\":{\"id\":3}}\n",
		"{\"seq\":3,\"op\":\"remove\",\"id\":-1}\n",
		"{\"seq\":3,\"seq\":3,\"op\":\"remove\",\"id\":1}\n",
	};
	static const char *const needle[] = { "line 2: invalid JSON", "line 2: unknown op",
					      "line 2: missing seq or op", "point #2 is malformed",
					      "line 2: bad point id", "line 2: invalid JSON" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tmpdir_remove(dir);
		cr_assert_eq(mkdir(dir, 0700), 0);
		commit_range(1, 2);
		append_raw("catalog.log", bad[i], strlen(bad[i]));
		/* a valid line after it: not a torn tail */
		append_str("{\"seq\":3,\"op\":\"remove\",\"id\":1}\n");
		load_refused("catalog.log: ");
		load_refused(needle[i]);
	}
}

/* Past the bound the writer saves the snapshot and empties the journal:
 * the journal never holds more than max(256, points/4) records. */
Test(catlog, compaction_bounds_the_journal)
{
	struct catalog cat;
	char *snap, *log;
	size_t ls, ll;

	commit_range(1, CATLOG_COMPACT_RECORDS + 1);
	log = slurp("catalog.log", &ll);
	cr_assert_eq(lines(log), CATLOG_COMPACT_RECORDS, "%zu", lines(log));
	free(log);
	commit_range(CATLOG_COMPACT_RECORDS + 2, CATLOG_COMPACT_RECORDS + 5);
	log = slurp("catalog.log", &ll);
	cr_assert_eq(lines(log), 3, "%zu records after the compaction", lines(log));
	free(log);
	snap = slurp("catalog.json", &ls);
	cr_assert(strstr(snap, "\"log_seq\": 258"), "%.200s", snap);
	free(snap);
	assert_points(CATLOG_COMPACT_RECORDS + 5);
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.seq, CATLOG_COMPACT_RECORDS + 5);
	cr_assert_eq(cat.log_records, 3);
	catalog_free(&cat);
}

/* A crash after the new snapshot and before the journal was emptied: its
 * records, a removal that rebased a child among them, are skipped by seq
 * (ids alone would replay "commit 3 on base 2" over "3 on base 1"). */
Test(catlog, a_crash_inside_the_compaction_changes_nothing)
{
	struct catalog cat, back;
	char *log;
	size_t ll;

	log = history_with_removal(&ll);
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(catalog_save(dir, &cat), 0); /* the compaction, whole */
	put("catalog.log", log, ll);              /* ... as if the cut came before truncating */
	cr_assert_eq(catalog_load(dir, &back), 0);
	cr_assert_eq(back.n, 3);
	cr_assert_eq(back.seq, 5);
	for (size_t i = 0; i < 3; i++)
		cr_assert(catalog_point_same(&back.pts[i], &cat.pts[i]));
	cr_assert_eq(back.pts[1].base_id, 1);
	catalog_free(&back);
	/* the next writer appends after the stale records; they stay skipped */
	commit_range(5, 5);
	cr_assert_eq(catalog_load(dir, &back), 0);
	cr_assert_eq(back.n, 4);
	cr_assert_eq(back.pts[3].id, 5);
	cr_assert_eq(back.seq, 6);
	catalog_free(&back);
	catalog_free(&cat);
	free(log);
}

/* The idempotence rules of catlog.h for records past the snapshot. */
Test(catlog, duplicate_and_sequence_rules)
{
	struct store_point_info pi;
	struct catalog cat;

	commit_range(1, 2);
	/* a removal of an absent id does nothing */
	append_str("{\"seq\":3,\"op\":\"remove\",\"id\":77}\n");
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 2);
	cr_assert_eq(cat.seq, 3);
	catalog_free(&cat);
	/* a commit of a listed id, identical: skipped */
	point(&pi, 2, 1);
	append_commit(4, &pi);
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 2);
	cr_assert_eq(cat.seq, 4);
	catalog_free(&cat);
	/* ... differing: an error */
	pi.bytes_received++;
	append_commit(5, &pi);
	append_str("{\"seq\":6,\"op\":\"remove\",\"id\":78}\n");
	load_refused("line 4 commits point 2 again, differently");
}

Test(catlog, a_gap_in_seq_or_removing_the_newest_is_refused)
{

	commit_range(1, 2);
	append_str("{\"seq\":9,\"op\":\"remove\",\"id\":1}\n");
	append_str("{\"seq\":10,\"op\":\"remove\",\"id\":1}\n");
	load_refused("journal does not follow it");

	tmpdir_remove(dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	commit_range(1, 2);
	append_str("{\"seq\":3,\"op\":\"remove\",\"id\":2}\n");
	append_str("{\"seq\":4,\"op\":\"remove\",\"id\":1}\n");
	load_refused("line 2 removes the newest point 2");
}

/* Every size read from disk is bounded: a line, the journal. */
Test(catlog, bounds)
{
	size_t len = CATLOG_RECORD_MAX + 2;
	char *big = malloc(CATLOG_MAX + 1);

	cr_assert_not_null(big);
	commit_range(1, 2);
	memset(big, ' ', len);
	big[len - 1] = '\n';
	append_raw("catalog.log", big, len);
	append_str("{\"seq\":3,\"op\":\"remove\",\"id\":1}\n");
	load_refused("line 2: record larger than 65536 bytes");

	memset(big, ' ', CATLOG_MAX + 1);
	put("catalog.log", big, CATLOG_MAX + 1);
	load_refused("catalog.log: file too large (more than 16777216 bytes)");
	free(big);
}

/* A reader without the lock, while a writer commits through several
 * compactions, always sees a whole catalog: points 1..n, nothing torn. */
static void *
writer(void *arg)
{
	(void)arg;
	commit_range(2, 2 * CATLOG_COMPACT_RECORDS + 40);
	return NULL;
}

Test(catlog, readers_see_a_consistent_catalog_during_compactions)
{
	pthread_t t;
	size_t last = 0, reads = 0;
	struct store_point_info pi;

	commit_range(1, 1);
	cr_assert_eq(pthread_create(&t, NULL, writer, NULL), 0);
	while (last < 2 * CATLOG_COMPACT_RECORDS + 40) {
		struct catalog cat;

		cr_assert_eq(catalog_load(dir, &cat), 0, "read %zu failed", reads);
		cr_assert_geq(cat.n, last, "went back from %zu to %zu points", last, cat.n);
		for (size_t i = 0; i < cat.n; i++) {
			point(&pi, i + 1, i);
			cr_assert(catalog_point_same(&cat.pts[i], &pi), "point %zu", i + 1);
		}
		last = cat.n;
		reads++;
		catalog_free(&cat);
	}
	pthread_join(t, NULL);
	cr_log_info("%zu consistent reads during %d commits", reads, 2 * CATLOG_COMPACT_RECORDS + 39);
}
