/* Unit tests of failback/target: the target store of a file-source group
 * of an agent configuration, opened under <state_dir>/failback/<group>/. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failback/target.h"
#include "replicator/config.h"
#include "fbconfig.h"
#include "tmpdir.h"


TMPDIR_SUITE(fbtarget, dir, "nestor-fbtarget");

static struct agent_config *
config(const char *groups)
{
	return fbconfig_load(dir, groups);
}

static char files_group[512];

static const char *
files(void)
{
	snprintf(files_group, sizeof(files_group),
		 "[group web]\n"
		 "[disk web vda]\npath = %s/a.raw\nformat = raw\n"
		 "[disk web vdb]\npath = %s/b.qcow2\n",
		 dir, dir);
	return files_group;
}

/* A point with no base over the on-prem disks, one write on vdb. */
static void
write_point(struct store *st)
{
	fbconfig_point(st, 1, 0x66, 8192, 4096, 2);
}

static uint8_t
byte_at(struct store *st, const char *disk, uint64_t off)
{
	struct store_reader *r = NULL;
	uint8_t b = 0;
	int err = -1;

	cr_assert_eq(store_reader_open(st, "web", 1, disk, &r, &err), 0);
	cr_assert_eq(store_reader_pread(st, r, &b, 1, off), 0);
	store_reader_close(st, r);
	return b;
}

Test(fbtarget, a_file_group_gets_its_target_under_the_state_dir, .timeout = 60)
{
	struct agent_config *c = config(files());
	struct failback_disks d;
	char path[512];
	struct store *st;
	struct stat sb;

	cr_assert_eq(failback_disks_of(&c->groups[0], &d), 0);
	cr_assert_eq(d.n, 2);
	cr_assert_str_eq(d.v[0].name, "vda");
	cr_assert_str_eq(d.v[0].format, "raw");
	cr_assert_str_eq(d.v[1].format, "qcow2", "probed");
	cr_assert_eq(d.v[1].path[0], '/');
	failback_disks_clear(&d);
	cr_assert_eq(d.n, 0);

	st = failback_target_open(c, "web");
	cr_assert_not_null(st);
	snprintf(path, sizeof(path), "%s/state/failback/web", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	write_point(st);
	snprintf(path, sizeof(path), "%s/state/failback/web/catalog.json", dir);
	cr_assert_eq(access(path, F_OK), 0, "the group's store lies in failback/web");
	cr_assert_eq(byte_at(st, "vda", 0), 0x44, "the on-prem raw disk shows through");
	cr_assert_eq(byte_at(st, "vda", 600 * 1024), 0);
	cr_assert_eq(byte_at(st, "vdb", 0), 0x55, "the on-prem qcow2 disk shows through");
	cr_assert_eq(byte_at(st, "vdb", 8192), 0x66, "the point's write");
	store_free(st);
	/* Opened again (the directories exist): the same point. */
	st = failback_target_open(c, "web");
	cr_assert_not_null(st);
	cr_assert_eq(store_point_exists(st, "web", 1), 1);
	store_free(st);
	agent_config_free(c);
}

Test(fbtarget, what_a_target_cannot_take_is_refused, .timeout = 60)
{
	char groups[2048];
	struct agent_config *c;
	struct failback_disks d;

	snprintf(groups, sizeof(groups),
		 "%s"
		 "[group ceph]\n[disk ceph vda]\nrbd = pool/img\n"
		 "[group gone]\n[disk gone vda]\npath = %s/missing.raw\n"
		 "[group live]\ndomains = vm1\n",
		 files(), dir);
	c = config(groups);
	cr_assert_null(failback_target_open(c, "nosuch"));
	cr_assert_null(failback_target_open(c, "ceph"));
	cr_assert_eq(failback_disks_of(&c->groups[1], &d), -1);
	cr_assert_null(failback_target_open(c, "gone"));
	cr_assert_null(failback_target_open(c, "live"));
	cr_assert_eq(d.n, 0);
	agent_config_free(c);
}
