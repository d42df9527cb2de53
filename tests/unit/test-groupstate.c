/* Unit tests of replicator/receiver/groupstate: drill pins and the newest
 * point in use (with the failover marker), group detection, reports; the
 * on-disk names are the contract (retention and status read them). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/marker.h"
#include "tmpdir.h"

TMPDIR_SUITE(groupstate, root, "nestor-gs");

static void
put(const char *rel, const char *text)
{
	char *p = NULL, *dir;

	cr_assert(asprintf(&p, "%s/%s", root, rel) > 0);
	dir = strdup(p);
	*strrchr(dir, '/') = '\0';
	cr_assert_eq(mkdir_p(dir, 0755), 0);
	cr_assert_eq(file_write_atomic(p, text, strlen(text), 0644), 0);
	free(dir);
	free(p);
}

Test(groupstate, pins)
{
	char *dir = groupstate_run_dir(root, "g", false, "d1"), *path = NULL;
	void *data = NULL;
	size_t len;

	cr_assert_eq(groupstate_pinned_max(root, "g"), 0);
	cr_assert_not_null(dir);
	cr_assert_eq(mkdir_p(dir, 0755), 0);
	cr_assert_eq(groupstate_pin(root, "g", "d1", 7), 0);
	/* the file retention has always read */
	cr_assert(asprintf(&path, "%s/g/drills/d1/point", root) > 0);
	cr_assert_eq(file_read_all(path, 64, &data, &len), 0);
	cr_assert_str_eq(data, "7\n");
	free(data);
	cr_assert_eq(groupstate_pinned_max(root, "g"), 7);
	put("g/drills/d2/point", "3\n");
	put("g/drills/d0.json", "{}"); /* a finished drill's report */
	cr_assert_eq(groupstate_pinned_max(root, "g"), 7);
	groupstate_unpin(root, "g", "d1", 7);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(groupstate_pinned_max(root, "g"), 3);
	groupstate_unpin(root, "g", "d1", 7); /* again: fine */
	/* an unreadable pin protects everything */
	put("g/drills/d3/point", "x\n");
	cr_assert_eq(groupstate_pinned_max(root, "g"), UINT64_MAX);
	free(path);
	free(dir);
}

Test(groupstate, failover_marker_pins)
{
	json_t *m = json_pack("{s:I}", "point", (json_int_t)12);

	cr_assert_not(groupstate_is_group(root, "g"));
	put("g/drills/d2/point", "3\n");
	cr_assert_not(groupstate_is_group(root, "g"));
	cr_assert_eq(failover_marker_save(root, "g", m), 0);
	cr_assert(groupstate_is_group(root, "g"));
	cr_assert_eq(groupstate_pinned_max(root, "g"), 12);
	json_decref(m);
	m = json_pack("{s:s}", "group", "g"); /* no point: keep everything */
	cr_assert_eq(failover_marker_save(root, "g", m), 0);
	cr_assert_eq(groupstate_pinned_max(root, "g"), UINT64_MAX);
	json_decref(m);
	cr_assert_eq(failover_marker_remove(root, "g"), 0);
	cr_assert_eq(groupstate_pinned_max(root, "g"), 3);
}

Test(groupstate, groups_and_reports)
{
	char *p;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	char *path = NULL;

	put("a/catalog.json", "{}");
	put("b/pending.json", "{}");
	cr_assert(groupstate_is_group(root, "a"));
	cr_assert(groupstate_is_group(root, "b"));
	cr_assert_null(groupstate_last_drill_report(root, "a"));
	put("a/drills/x1.json", "{}");
	put("a/drills/x2.json", "{}");
	cr_assert(asprintf(&path, "%s/a/drills/x2.json", root) > 0);
	cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	p = groupstate_last_drill_report(root, "a");
	cr_assert_not_null(p);
	cr_assert_str_eq(strrchr(p, '/'), "/x1.json");
	free(p);
	p = groupstate_report_path(root, "a", true, "f1");
	cr_assert_not_null(p);
	cr_assert_str_eq(p + strlen(root), "/a/failover/f1.json");
	free(p);
	free(path);
}

/* The dashboard's list: the max newest reports whatever the directory
 * holds, newest first; failovers apart from drills. */
Test(groupstate, recent_reports_bounded_newest_first)
{
	char **paths = NULL;
	size_t n = 99;

	put("a/catalog.json", "{}");
	cr_assert_eq(groupstate_recent_reports(root, "a", false, 3, &paths, &n), 0);
	cr_assert_eq(n, 0, "no drills dir: none");
	free(paths);
	for (int i = 1; i <= 8; i++) {
		char rel[64], *path = NULL;
		struct timespec t[2] = { { 1000 + i * 10, 0 }, { 1000 + i * 10, 0 } };

		snprintf(rel, sizeof(rel), "a/drills/d%d.json", i);
		put(rel, "{}");
		cr_assert(asprintf(&path, "%s/%s", root, rel) > 0);
		cr_assert_eq(utimensat(AT_FDCWD, path, t, 0), 0);
		free(path);
	}
	put("a/drills/notes.txt", "x");
	put("a/failover/f1.json", "{}");
	cr_assert_eq(groupstate_recent_reports(root, "a", false, 3, &paths, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(strrchr(paths[0], '/'), "/d8.json");
	cr_assert_str_eq(strrchr(paths[1], '/'), "/d7.json");
	cr_assert_str_eq(strrchr(paths[2], '/'), "/d6.json");
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	cr_assert_eq(groupstate_recent_reports(root, "a", true, 3, &paths, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(strrchr(paths[0], '/'), "/f1.json");
	free(paths[0]);
	free(paths);
}
