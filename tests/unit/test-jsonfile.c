/* Unit tests for common/jsonfile: capped load, atomic save, bounded
 * integer getters, and their messages naming file and key. */
#include "common/fileutil.h"
#include "common/jsonfile.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/capture.h"

static char dir[64], path[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/nestor-jsonfile-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static void
put(const char *text)
{
	cr_assert_eq(file_write_atomic(path, text, strlen(text), 0600), 0);
}

TestSuite(jsonfile, .init = setup, .fini = teardown);

Test(jsonfile, save_then_load)
{
	json_t *j = json_pack("{s:I, s:s}", "id", (json_int_t)42, "name", "x");
	json_t *back = NULL;
	struct stat st;
	uint64_t id = 0;

	cr_assert_eq(jsonfile_save(path, j, JSON_INDENT(2), 0640), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	cr_assert_eq(jsonfile_load(path, 4096, JSON_REJECT_DUPLICATES, &back), 0);
	cr_assert(json_equal(j, back));
	cr_assert_eq(jsonfile_u64(back, "id", 100, &id, path), 0);
	cr_assert_eq(id, 42);
	json_decref(j);
	json_decref(back);
}

Test(jsonfile, missing_is_1_silent)
{
	json_t *j = (json_t *)1;
	char *log;

	cap_start();
	cr_assert_eq(jsonfile_load(path, 4096, 0, &j), 1);
	log = cap_stop();
	cr_assert_null(j);
	cr_assert_str_eq(log, "");
	free(log);
}

/* text in the file fails to load with one line naming the file and needle. */
static void
load_fails(const char *text, size_t max, size_t flags, const char *needle)
{
	json_t *j = (json_t *)1;
	char *log;

	put(text);
	cap_start();
	cr_assert_eq(jsonfile_load(path, max, flags, &j), -1);
	log = cap_stop();
	cr_assert_null(j);
	assert_logged(log, path);
	assert_logged(log, needle);
	cr_assert_eq(count_lines(log), 1, "%s", log);
	free(log);
}

Test(jsonfile, malformed)
{
	load_fails("{\"a\": 1,\n \"b\": }", 4096, 0, "invalid JSON at line 2");
}

Test(jsonfile, not_an_object)
{
	load_fails("[1, 2]", 4096, 0, "not a JSON object");
}

/* jsonfile_read: the same outcomes, but a malformed file is -2 and silent,
 * its reason in jerr ("" for valid JSON that is not an object). */
Test(jsonfile, read_leaves_the_message_to_the_caller)
{
	json_error_t jerr;
	json_t *j = (json_t *)1;
	char *log;

	cr_assert_eq(jsonfile_read(path, 4096, 0, &j, &jerr), 1);
	cr_assert_null(j);
	put("{\"a\": }");
	cap_start();
	cr_assert_eq(jsonfile_read(path, 4096, 0, &j, &jerr), -2);
	cr_assert_neq(jerr.text[0], '\0');
	put("[1]");
	cr_assert_eq(jsonfile_read(path, 4096, 0, &j, &jerr), -2);
	cr_assert_str_eq(jerr.text, "");
	log = cap_stop();
	cr_assert_null(j);
	cr_assert_str_eq(log, "");
	free(log);
	put("{\"a\": 1}");
	cr_assert_eq(jsonfile_read(path, 4096, 0, &j, &jerr), 0);
	cr_assert(json_is_object(j));
	json_decref(j);
}

Test(jsonfile, duplicates_by_flag)
{
	json_t *j = NULL;

	put("{\"a\": 1, \"a\": 2}");
	cr_assert_eq(jsonfile_load(path, 4096, 0, &j), 0);
	json_decref(j);
	load_fails("{\"a\": 1, \"a\": 2}", 4096, JSON_REJECT_DUPLICATES, "duplicate");
}

Test(jsonfile, oversize_refused)
{
	load_fails("{\"pad\": \"0123456789012345678901234567890123456789\"}", 16, 0, path);
}

Test(jsonfile, getters_bounds_and_messages)
{
	json_t *o = json_pack("{s:I, s:I, s:s, s:I}", "neg", (json_int_t)-1, "big",
			      (json_int_t)1000, "str", "7", "ok", (json_int_t)999);
	uint64_t u = 5;
	int64_t i = 5;
	char *log;

	cap_start();
	cr_assert_eq(jsonfile_u64(o, "neg", 1000, &u, "f.json"), -1);
	cr_assert_eq(jsonfile_u64(o, "big", 999, &u, "f.json"), -1);
	cr_assert_eq(jsonfile_u64(o, "str", 999, &u, "f.json"), -1);
	cr_assert_eq(jsonfile_u64(o, "none", 999, &u, "f.json"), -1);
	cr_assert_eq(jsonfile_int(o, "neg", 0, 10, &i, "f.json"), -1);
	cr_assert_eq(jsonfile_u64(o, "big", 999, &u, NULL), -1);
	log = cap_stop();
	cr_assert_eq(u, 5, "untouched on error");
	cr_assert_eq(i, 5, "untouched on error");
	assert_logged(log, "f.json: neg: -1 out of range 0..1000");
	assert_logged(log, "f.json: big: 1000 out of range 0..999");
	assert_logged(log, "f.json: str: not an integer");
	assert_logged(log, "f.json: none: missing");
	assert_logged(log, "f.json: neg: -1 out of range 0..10");
	cr_assert_eq(count_lines(log), 5, "NULL file is quiet:\n%s", log);
	cr_assert_eq(jsonfile_u64(o, "big", 1000, &u, "f.json"), 0);
	cr_assert_eq(u, 1000);
	cr_assert_eq(jsonfile_int(o, "neg", -1, 0, &i, "f.json"), 0);
	cr_assert_eq(i, -1);
	cr_assert_eq(jsonfile_u64(o, "ok", UINT64_MAX, &u, NULL), 0);
	cr_assert_eq(u, 999);
	free(log);
	json_decref(o);
}

Test(jsonfile, save_failure_keeps_old)
{
	json_t *j = json_pack("{s:i}", "v", 2);
	char bad[160];
	char *log;

	snprintf(bad, sizeof(bad), "%s/no-such-dir/x.json", dir);
	cap_start();
	cr_assert_eq(jsonfile_save(bad, j, 0, 0600), -1);
	log = cap_stop();
	assert_logged(log, bad);
	free(log);
	json_decref(j);
}
