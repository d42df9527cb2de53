/* Unit tests for failover/drnet-record.c (the DR network records of a
 * store). */
#define _GNU_SOURCE
#include "failover/drnet-record.h"

#include "common/fileutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(drnet_record, root, "nestor-drnet");

static void
group_dir(const char *g)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", root, g);
	cr_assert_eq(mkdir(p, 0755), 0);
}

Test(drnet_record, save_load_all_remove)
{
	json_t *a = json_pack("{s:s}", "group", "web"), *b = json_pack("{s:s}", "group", "db");
	json_t *all, *one;
	bool absent = false;

	group_dir("web");
	group_dir("db");
	group_dir("idle");
	cr_assert_null(drnet_record_load(root, "web", &absent));
	cr_assert(absent);
	cr_assert_eq(drnet_record_save(root, "web", a), 0);
	cr_assert_eq(drnet_record_save(root, "db", b), 0);
	all = drnet_record_load_all(root, NULL);
	cr_assert_eq(json_array_size(all), 2);
	json_decref(all);
	/* the others of web: db only; a group without a record is skipped */
	all = drnet_record_load_all(root, "web");
	cr_assert_eq(json_array_size(all), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 0), "group")), "db");
	json_decref(all);
	one = drnet_record_load(root, "web", &absent);
	cr_assert(json_equal(one, a));
	json_decref(one);
	cr_assert_eq(drnet_record_remove(root, "web"), 0);
	cr_assert_eq(drnet_record_remove(root, "web"), 0, "absent is fine");
	all = drnet_record_load_all(root, NULL);
	cr_assert_eq(json_array_size(all), 1);
	json_decref(all);
	json_decref(a);
	json_decref(b);
}

/* A record that is not JSON: an error, never "no record" (which would
 * let a release skip what it names). */
Test(drnet_record, unreadable_is_an_error)
{
	char p[128];
	bool absent = false;
	char *log;
	json_t *r, *all;

	group_dir("web");
	snprintf(p, sizeof(p), "%s/web/failover-net.json", root);
	cr_assert_eq(file_write_atomic(p, "{nope", 5, 0644), 0);
	cap_start();
	r = drnet_record_load(root, "web", &absent);
	all = drnet_record_load_all(root, NULL);
	log = cap_stop();
	cr_assert_null(r);
	cr_assert(!absent);
	cr_assert_null(all);
	cr_assert(strstr(log, "failover-net.json") != NULL, "%s", log);
	free(log);
}

Test(drnet_record, host_record)
{
	json_t *h = json_pack("{s:s}", "ip_forward_was", "0"), *got;
	bool absent = false;

	cr_assert_null(drnet_record_host_load(root, &absent));
	cr_assert(absent);
	cr_assert_eq(drnet_record_host_save(root, h), 0);
	got = drnet_record_host_load(root, &absent);
	cr_assert(json_equal(got, h));
	json_decref(got);
	cr_assert_eq(drnet_record_host_remove(root), 0);
	cr_assert_null(drnet_record_host_load(root, &absent));
	cr_assert(absent);
	json_decref(h);
}

Test(drnet_record, lock_excludes)
{
	int a = drnet_record_lock(root);
	char p[128];
	int fd;

	cr_assert_geq(a, 0);
	snprintf(p, sizeof(p), "%s/.drnet.lock", root);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), -1, "a second holder got the lock");
	drnet_record_unlock(a);
	cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
}

