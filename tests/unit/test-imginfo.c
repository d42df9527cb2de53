/* Unit tests for common/imginfo: qemu-img info's JSON parsed (canned text,
 * the pure part), and one real run on a qcow2 made in a scratch
 * directory, with a backing file and a bitmap, and one on a missing file. */
#define _GNU_SOURCE
#include "common/fileutil.h"
#include "common/imginfo.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

/* What qemu-img 7.2 prints for a qcow2 over a raw backing file with two
 * bitmaps, one left in use by a QEMU that stopped without storing it. */
static const char qcow2_text[] =
	"{\"backing-filename-format\": \"raw\", \"virtual-size\": 2097152,\n"
	" \"filename\": \"top.qcow2\", \"cluster-size\": 65536, \"format\": \"qcow2\",\n"
	" \"actual-size\": 208896, \"format-specific\": {\"type\": \"qcow2\", \"data\": {\n"
	"  \"compat\": \"1.1\", \"bitmaps\": [\n"
	"   {\"flags\": [\"auto\"], \"name\": \"nestor.1\", \"granularity\": 65536},\n"
	"   {\"flags\": [\"in-use\", \"auto\"], \"name\": \"nestor.2\", \"granularity\": 65536}],\n"
	"  \"corrupt\": false}},\n"
	" \"full-backing-filename\": \"/srv/base.raw\", \"backing-filename\": \"base.raw\",\n"
	" \"dirty-flag\": false}\n";

Test(imginfo, parse_qcow2)
{
	struct imginfo *info = NULL;
	char err[128] = "";

	cr_assert_eq(imginfo_parse(qcow2_text, &info, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(info->format, "qcow2");
	cr_assert_eq(info->virtual_size, 2097152);
	cr_assert_str_eq(info->backing, "base.raw");
	cr_assert_str_eq(info->backing_full, "/srv/base.raw");
	cr_assert_str_eq(info->backing_format, "raw");
	cr_assert_eq(info->nbitmaps, 2);
	cr_assert_str_eq(info->bitmaps[0].name, "nestor.1");
	cr_assert_not(info->bitmaps[0].in_use);
	cr_assert_str_eq(info->bitmaps[1].name, "nestor.2");
	cr_assert(info->bitmaps[1].in_use);
	cr_assert_eq(imginfo_bitmap(info, "nestor.2"), &info->bitmaps[1]);
	cr_assert_null(imginfo_bitmap(info, "nestor.3"));
	imginfo_free(info);
}

/* A raw file: no backing file, no format-specific part, no bitmaps. */
Test(imginfo, parse_raw)
{
	struct imginfo *info = NULL;
	char err[128] = "";

	cr_assert_eq(imginfo_parse("{\"virtual-size\": 0, \"filename\": \"d.raw\", "
				   "\"format\": \"raw\", \"actual-size\": 0}", &info, err,
				   sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(info->format, "raw");
	cr_assert_eq(info->virtual_size, 0);
	cr_assert_null(info->backing);
	cr_assert_null(info->backing_full);
	cr_assert_null(info->backing_format);
	cr_assert_eq(info->nbitmaps, 0);
	cr_assert_null(info->bitmaps);
	cr_assert_null(imginfo_bitmap(info, "nestor.1"));
	imginfo_free(info);
}

/* Each malformed text is refused with a reason naming what is wrong, and
 * *out stays NULL. */
Test(imginfo, parse_refused)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "" },
		{ "{\"format\": \"raw\"", "" },
		{ "[1, 2]", "not a JSON object" },
		{ "{\"virtual-size\": 1}", "no \"format\"" },
		{ "{\"format\": 7, \"virtual-size\": 1}", "\"format\" is not a string" },
		{ "{\"format\": \"raw\"}", "virtual-size" },
		{ "{\"format\": \"raw\", \"virtual-size\": -1}", "virtual-size" },
		{ "{\"format\": \"raw\", \"virtual-size\": \"1\"}", "virtual-size" },
		{ "{\"format\": \"qcow2\", \"virtual-size\": 1, \"backing-filename\": 3}",
		  "\"backing-filename\" is not a string" },
		{ "{\"format\": \"qcow2\", \"virtual-size\": 1, \"format-specific\": "
		  "{\"data\": {\"bitmaps\": {}}}}", "\"bitmaps\" is not an array" },
		{ "{\"format\": \"qcow2\", \"virtual-size\": 1, \"format-specific\": "
		  "{\"data\": {\"bitmaps\": [{\"flags\": []}]}}}", "bitmap 0 has no name" },
		{ "{\"format\": \"qcow2\", \"virtual-size\": 1, \"format-specific\": "
		  "{\"data\": {\"bitmaps\": [{\"name\": \"a\"}, 5]}}}", "bitmap 1 is not an object" },
		{ "{\"format\": \"qcow2\", \"virtual-size\": 1, \"format-specific\": "
		  "{\"data\": {\"bitmaps\": [{\"name\": \"a\", \"flags\": \"in-use\"}]}}}",
		  "bitmap a: \"flags\" is not an array" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imginfo *info = (struct imginfo *)1;
		char err[128] = "";

		cr_assert_eq(imginfo_parse(bad[i].text, &info, err, sizeof(err)), -1, "%s",
			     bad[i].text);
		cr_assert_null(info, "%s", bad[i].text);
		cr_assert_neq(err[0], '\0', "%s: no reason", bad[i].text);
		cr_assert_not_null(strstr(err, bad[i].why), "%s: \"%s\" lacks \"%s\"",
				   bad[i].text, err, bad[i].why);
	}
	/* No room for the reason is fine. */
	cr_assert_eq(imginfo_parse("[]", &(struct imginfo *){ NULL }, NULL, 0), -1);
	imginfo_free(NULL);
}

TMPDIR_SUITE(imginfo_run, dir, "nestor-imginfo");

/* The real tool on a real image: what qemu-img says is what we read. */
Test(imginfo_run, qcow2_with_backing_and_bitmap)
{
	char top[128], rel[160], cwd[512], cmd[512];
	struct imginfo *info;

	snprintf(cmd, sizeof(cmd), "cd '%s' && qemu-img create -q -f raw base.raw 1M && "
		 "qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 3M && "
		 "qemu-img bitmap --add top.qcow2 nestor.7", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(top, sizeof(top), "%s/top.qcow2", dir);
	info = imginfo_read(top, NULL, "test");
	cr_assert_not_null(info);
	cr_assert_str_eq(info->format, "qcow2");
	cr_assert_eq(info->virtual_size, 3u << 20);
	cr_assert_str_eq(info->backing, "base.raw");
	cr_assert_not_null(info->backing_full);
	cr_assert_not_null(strstr(info->backing_full, "base.raw"));
	cr_assert_str_eq(info->backing_format, "raw");
	cr_assert_eq(info->nbitmaps, 1);
	cr_assert_str_eq(info->bitmaps[0].name, "nestor.7");
	cr_assert_not(info->bitmaps[0].in_use);
	imginfo_free(info);

	/* A format given is used: the backing raw file read as raw; and a
	 * relative path works from the cwd. */
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	snprintf(rel, sizeof(rel), "base.raw");
	info = imginfo_read(rel, "raw", NULL);
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_not_null(info);
	cr_assert_str_eq(info->format, "raw");
	cr_assert_eq(info->virtual_size, 1u << 20);
	cr_assert_null(info->backing);
	imginfo_free(info);
}

/* A missing image: NULL, logged once under the caller's context. */
Test(imginfo_run, missing_file_logged)
{
	char path[128];
	struct imginfo *info;
	char *log;

	snprintf(path, sizeof(path), "%s/absent.qcow2", dir);
	cap_start();
	info = imginfo_read(path, "qcow2", "disk vdb");
	log = cap_stop();
	cr_assert_null(info);
	cr_assert_not_null(strstr(log, "absent.qcow2"), "%s", log);
	assert_logged_once(log, "disk vdb: ");
}
