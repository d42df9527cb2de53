/* Unit tests of replicator/receiver/catalog: catalog.json and pending.json
 * round trips (JSON <-> struct and through the files), strict refusal of
 * malformed, oversize and out-of-range files (each with one clear log line
 * naming the file). No qemu. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/consistency.h"
#include "common/fileutil.h"
#include "replicator/receiver/catalog.h"
#include "capture.h"
#include "pointinfo.h"
#include "tmpdir.h"

TMPDIR_SUITE(catalog, dir, "nestor-catalog");

/* <dir>/catalog.json as JSON. */
static int
jsonfile_load_test(const char *d, json_t **j)
{
	char *path = NULL;
	json_error_t e;

	cr_assert(asprintf(&path, "%s/catalog.json", d) > 0);
	*j = json_load_file(path, 0, &e);
	free(path);
	return *j ? 0 : -1;
}

static void
put(const char *name, const char *text, size_t len)
{
	char *path = NULL;

	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	cr_assert_eq(file_write_atomic(path, text, len, 0640), 0);
	free(path);
}

/* catalog.json holding text is refused, with one log line naming it and
 * saying needle. */
static void
refused(const char *text, const char *needle)
{
	struct catalog cat = { .n = 7 };
	char *log;

	put("catalog.json", text, strlen(text));
	cap_start();
	cr_assert_eq(catalog_load(dir, &cat), -1, "accepted %s", text);
	log = cap_stop();
	cr_assert_eq(cat.n, 0);
	cr_assert_null(cat.pts);
	assert_logged(log, "catalog.json: ");
	assert_logged(log, needle);
	cr_assert_eq(count_lines(log), 1, "not one line for %s:\n%s", text, log);
	free(log);
}

Test(catalog, round_trip)
{
	struct catalog cat = { 0 }, back = { 0 };
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;
	json_t *j;

	pointinfo_fill(&pi, room, 3, 0, 2);
	cr_assert_eq(catalog_append(&cat, &pi), 0);
	pointinfo_fill(&pi, room, 5, 3, 1);
	cr_assert_eq(catalog_append(&cat, &pi), 0);
	pointinfo_fill(&pi, room, (uint64_t)INT64_MAX, 5, STORE_MAX_DISKS);
	pi.time_ns = pi.committed_ns = pi.bytes_received = (uint64_t)INT64_MAX;
	pi.received_ns = (uint64_t)INT64_MAX;
	room[0].size = STORE_MAX_DISK_SIZE;
	cr_assert_eq(catalog_append(&cat, &pi), 0);
	j = catalog_to_json(&cat);
	cr_assert_not_null(j);
	cr_assert_eq(catalog_from_json(j, "mem", &back), 0);
	cr_assert_eq(back.n, 3);
	for (size_t i = 0; i < 3; i++) /* by value: each catalog has its own disk lists */
		cr_assert(catalog_point_same(&back.pts[i], &cat.pts[i]), "point #%zu", i);
	cr_assert_eq(catalog_last(&back), (uint64_t)INT64_MAX);
	cr_assert(catalog_has(&back, 5));
	cr_assert_not(catalog_has(&back, 4));
	cr_assert_eq(catalog_find(&back, 0)->id, (uint64_t)INT64_MAX);
	cr_assert_eq(catalog_find(&back, 3)->ndisks, 2);
	cr_assert_null(catalog_find(&back, 4));
	cr_assert_eq(catalog_point_disk(catalog_find(&back, 3), "vdb"), 1);
	cr_assert_eq(catalog_point_disk(catalog_find(&back, 5), "vdb"), -1);
	json_decref(j);
	catalog_free(&back);

	/* through the file, atomically replaced */
	cr_assert_eq(catalog_load(dir, &back), 0); /* none yet: an empty group */
	cr_assert_eq(back.n, 0);
	cr_assert_eq(catalog_save(dir, &cat), 0);
	cr_assert_eq(catalog_load(dir, &back), 0);
	cr_assert_eq(back.n, 3);
	for (size_t i = 0; i < 3; i++) /* by value: each catalog has its own disk lists */
		cr_assert(catalog_point_same(&back.pts[i], &cat.pts[i]), "point #%zu", i);
	catalog_free(&back);
	catalog_free(&cat);
	cr_assert_eq(cat.n, 0);
}

Test(catalog, malformed_refused)
{
	refused("", "invalid JSON");
	refused("[]", "not a JSON object");
	refused("{\"version\":2,\"points\":[]}", "missing version 1 or points array");
	refused("{\"version\":1}", "missing version 1 or points array");
	refused("{\"version\":1,\"points\":[],\"points\":[]}", "invalid JSON");
	refused("{\"version\":1,\"points\":[{\"id\":1}]}", "point #0 is malformed");
	/* ids must increase, bases precede */
	refused("{\"version\":1,\"points\":["
		"{\"id\":2,\"base\":0,\"time_ns\":1,\"committed_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":2,\"base\":0,\"time_ns\":1,\"committed_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}", "point #1 is malformed");
	refused("{\"version\":1,\"points\":[{\"id\":2,\"base\":2,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}",
		"point #0 is malformed");
	/* bounded values: negative, above INT64_MAX, a disk too large or empty */
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":-1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}",
		"point #0 is malformed");
	refused("{\"version\":1,\"points\":[{\"id\":9223372036854775808,\"base\":0,"
		"\"time_ns\":1,\"committed_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}", "invalid JSON");
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"vda\","
		"\"size\":1125899906842625}]}]}", "point 1 disk #0 is malformed");
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"vda\",\"size\":0}]}]}",
		"point 1 disk #0 is malformed");
	/* names become path components */
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"../x\",\"size\":1}]}]}",
		"point 1 disk #0 is malformed");
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[{\"name\":\"vda\",\"size\":1},"
		"{\"name\":\"vda\",\"size\":2}]}]}", "point 1 lists disk vda twice");
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"committed_ns\":1,\"bytes\":0,\"disks\":[]}]}", "point #0 is malformed");
	/* the receiver time, when present, is bounded like every value */
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"received_ns\":-5,\"committed_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}", "point #0 is malformed");
	refused("{\"version\":1,\"points\":[{\"id\":1,\"base\":0,\"time_ns\":1,"
		"\"received_ns\":\"now\",\"committed_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}", "point #0 is malformed");
}

/* A catalog written before received_ns existed (issue 12, section 1) loads:
 * each point's receiver time is its commit time, the receiver's own clock,
 * never the agent's snapshot time; saving it again writes the field. */
Test(catalog, old_format_loads)
{
	static const char old[] = "{\"version\":1,\"points\":["
		"{\"id\":1,\"base\":0,\"time_ns\":9000000000000000000,"
		"\"committed_ns\":1700000000000000000,\"bytes\":5,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":2,\"base\":1,\"time_ns\":7,\"committed_ns\":1700000060000000000,"
		"\"bytes\":5,\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}";
	struct catalog cat = { 0 }, back = { 0 };
	json_t *j;

	put("catalog.json", old, strlen(old));
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 2);
	cr_assert_eq(cat.pts[0].received_ns, 1700000000000000000ull);
	cr_assert_eq(cat.pts[0].time_ns, 9000000000000000000ull);
	cr_assert_eq(cat.pts[1].received_ns, 1700000060000000000ull);
	cr_assert_eq(cat.pts[1].time_ns, 7);
	cr_assert_eq(catalog_save(dir, &cat), 0);
	cr_assert_eq(jsonfile_load_test(dir, &j), 0);
	cr_assert_eq(json_integer_value(json_object_get(
		json_array_get(json_object_get(j, "points"), 1), "received_ns")),
		1700000060000000000ll);
	json_decref(j);
	cr_assert_eq(catalog_load(dir, &back), 0);
	for (size_t i = 0; i < 2; i++) /* by value: each catalog has its own disk lists */
		cr_assert(catalog_point_same(&back.pts[i], &cat.pts[i]), "point #%zu", i);
	catalog_free(&back);
	catalog_free(&cat);
}

/* Issue 13 item 4: the level is kept; a catalog without it (older) or
 * with a value this receiver does not know lists the point as unknown. */
Test(catalog, consistency_optional_and_bounded)
{
	static const char text[] = "{\"version\":1,\"points\":["
		"{\"id\":1,\"base\":0,\"time_ns\":1,\"committed_ns\":2,\"bytes\":5,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":2,\"base\":1,\"time_ns\":3,\"committed_ns\":4,\"bytes\":5,"
		"\"consistency\":\"not-point-in-time\",\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":3,\"base\":2,\"time_ns\":5,\"committed_ns\":6,\"bytes\":5,"
		"\"consistency\":\"sort-of\",\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":4,\"base\":3,\"time_ns\":7,\"committed_ns\":8,\"bytes\":5,"
		"\"consistency\":17,\"disks\":[{\"name\":\"vda\",\"size\":1}]},"
		"{\"id\":5,\"base\":4,\"time_ns\":9,\"committed_ns\":10,\"bytes\":5,"
		"\"consistency\":\"app-consistent\",\"disks\":[{\"name\":\"vda\",\"size\":1}]}]}";
	struct catalog cat = { 0 }, back = { 0 };
	json_t *j, *pts;

	put("catalog.json", text, strlen(text));
	cr_assert_eq(catalog_load(dir, &cat), 0);
	cr_assert_eq(cat.n, 5);
	cr_assert_eq(cat.pts[0].consistency, CONS_UNKNOWN);
	cr_assert_eq(cat.pts[1].consistency, CONS_NOT_PIT);
	cr_assert_eq(cat.pts[2].consistency, CONS_UNKNOWN);
	cr_assert_eq(cat.pts[3].consistency, CONS_UNKNOWN);
	cr_assert_eq(cat.pts[4].consistency, CONS_APP);
	cat.pts[0].consistency = CONS_CRASH;
	cr_assert_eq(catalog_save(dir, &cat), 0);
	cr_assert_eq(jsonfile_load_test(dir, &j), 0);
	pts = json_object_get(j, "points");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pts, 0), "consistency")),
			 "crash-consistent");
	/* unknown is left out, as in a catalog from before */
	cr_assert_null(json_object_get(json_array_get(pts, 2), "consistency"));
	json_decref(j);
	cr_assert_eq(catalog_load(dir, &back), 0);
	for (size_t i = 0; i < 5; i++) /* by value: each catalog has its own disk lists */
		cr_assert(catalog_point_same(&back.pts[i], &cat.pts[i]), "point #%zu", i);
	catalog_free(&back);
	catalog_free(&cat);
}

Test(catalog, oversize_refused)
{
	size_t len = CATALOG_JSON_MAX + 1;
	char *big = malloc(len), *log;
	struct catalog cat = { 0 };
	struct pending pd;

	cr_assert_not_null(big);
	memset(big, ' ', len);
	put("catalog.json", big, len);
	cap_start();
	cr_assert_eq(catalog_load(dir, &cat), -1);
	log = cap_stop();
	cr_assert_eq(cat.n, 0);
	assert_logged(log, "catalog.json: file too large (more than 16777216 bytes)");
	free(log);
	put("pending.json", big, len);
	cap_start();
	cr_assert_eq(pending_load(dir, &pd), -1);
	log = cap_stop();
	assert_logged(log, "pending.json: file too large");
	free(log);
	free(big);
}

Test(catalog, pending_round_trip)
{
	struct pending pd, back;
	json_t *j;

	memset(&pd, 0, sizeof(pd));
	pd.point = 8;
	pd.base = 5;
	pd.time_ns = 123;
	pd.received_ns = 456;
	pd.bytes = 4096;
	pd.ndisks = 2;
	snprintf(pd.disks[0].name, sizeof(pd.disks[0].name), "vda");
	pd.disks[0].size = 1 << 20;
	pd.disks[0].durable = 1 << 20;
	pd.disks[0].done = true;
	snprintf(pd.disks[1].name, sizeof(pd.disks[1].name), "vdb");
	pd.disks[1].size = 2 << 20;
	pd.disks[1].durable = 65536;
	j = pending_to_json(&pd);
	cr_assert_not_null(j);
	cr_assert_eq(pending_from_json(j, "mem", &back), 0);
	cr_assert_eq(memcmp(&back, &pd, sizeof(pd)), 0);
	json_decref(j);

	cr_assert_eq(pending_load(dir, &back), 1); /* none */
	cr_assert_eq(pending_save(dir, &pd), 0);
	cr_assert_eq(pending_load(dir, &back), 0);
	cr_assert_eq(memcmp(&back, &pd, sizeof(pd)), 0);
	cr_assert_eq(pending_remove(dir), 0);
	cr_assert_eq(pending_load(dir, &back), 1);
	cr_assert_eq(pending_remove(dir), 0); /* absent is fine */

	/* pending state from before received_ns: 0, "not known" */
	{
		static const char oldpd[] = "{\"point\":2,\"base\":0,\"time_ns\":1,\"bytes\":0,"
			"\"disks\":[{\"name\":\"vda\",\"size\":1,\"durable_offset\":0,"
			"\"done\":false}]}";

		put("pending.json", oldpd, strlen(oldpd));
	}
	cr_assert_eq(pending_load(dir, &back), 0);
	cr_assert_eq(back.point, 2);
	cr_assert_eq(back.received_ns, 0);
}

Test(catalog, pending_malformed_refused)
{
	static const char *const bad[] = {
		"{}",
		"{\"point\":0,\"base\":0,\"time_ns\":1,\"bytes\":0,\"disks\":[]}",
		"{\"point\":2,\"base\":2,\"time_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1,\"durable_offset\":0,\"done\":false}]}",
		/* durable beyond the disk */
		"{\"point\":2,\"base\":0,\"time_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1,\"durable_offset\":2,\"done\":false}]}",
		"{\"point\":2,\"base\":0,\"time_ns\":1,\"bytes\":0,"
		"\"disks\":[{\"name\":\"vda\",\"size\":1,\"durable_offset\":0,\"done\":1}]}",
	};
	struct pending pd;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *log;

		put("pending.json", bad[i], strlen(bad[i]));
		cap_start();
		cr_assert_eq(pending_load(dir, &pd), -1, "accepted %s", bad[i]);
		log = cap_stop();
		assert_logged(log, "pending.json");
		assert_logged(log, "malformed");
		cr_assert_eq(pd.ndisks, 0);
		free(log);
	}
}
