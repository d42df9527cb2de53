/* Unit tests of failback/newdisks (issue 14, item 3): the --new-disks
 * mapping parsed strictly, checked and recorded once (nothing existing is
 * overwritten), the target opened over the new disks when the on-prem
 * ones are gone, and the cutover's check of the configuration. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failback/newdisks.h"
#include "failback/target.h"
#include "replicator/config.h"
#include "fbconfig.h"
#include "tmpdir.h"

TMPDIR_SUITE(newdisks, dir, "nestor-newdisks");

static char files_group[512], spec[1024], gdir[512];

static struct agent_config *
config(void)
{
	snprintf(files_group, sizeof(files_group),
		 "[group web]\n"
		 "[disk web vda]\npath = %s/a.raw\nformat = raw\n"
		 "[disk web vdb]\npath = %s/b.qcow2\n",
		 dir, dir);
	snprintf(gdir, sizeof(gdir), "%s/state/failback/web", dir);
	return fbconfig_load(dir, files_group);
}

/* spec of the new disks dir/new/<a>, dir/new/<b>; dir/new made. */
static const char *
mapping(const char *a, const char *b)
{
	char d[512];

	snprintf(d, sizeof(d), "%s/new", dir);
	mkdir(d, 0755);
	snprintf(spec, sizeof(spec), "vda=%s/new/%s,vdb=%s/new/%s", dir, a, dir, b);
	return spec;
}

static int
parse(const struct agent_group_cfg *g, const char *s)
{
	struct failback_disks d;
	int r = failback_newdisks_parse(g, s, &d);

	failback_disks_clear(&d);
	return r;
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(newdisks, the_mapping_is_parsed_strictly, .timeout = 60)
{
	struct agent_config *c = config();
	const struct agent_group_cfg *g = &c->groups[0];
	struct failback_disks d;

	cr_assert_eq(failback_newdisks_parse(g, "vdb=/n/b.qcow2,vda=/n/a.img", &d), 0);
	cr_assert_eq(d.n, 2);
	cr_assert_str_eq(d.v[0].name, "vda");
	cr_assert_str_eq(d.v[0].path, "/n/a.img");
	cr_assert_str_eq(d.v[0].format, "raw");
	cr_assert_str_eq(d.v[1].format, "qcow2");
	cr_assert(d.v[0].create && d.v[1].create);
	failback_disks_clear(&d);
	/* An explicit format wins over the name and leaves the path whole. */
	cr_assert_eq(failback_newdisks_parse(g, "vda=/n/a.qcow2:raw,vdb=/n/b:c:qcow2", &d), 0);
	cr_assert_str_eq(d.v[0].path, "/n/a.qcow2");
	cr_assert_str_eq(d.v[0].format, "raw");
	cr_assert_str_eq(d.v[1].path, "/n/b:c");
	cr_assert_str_eq(d.v[1].format, "qcow2");
	failback_disks_clear(&d);

	cr_assert_eq(parse(g, "vda=/n/a.raw"), -1, "vdb has no new disk");
	cr_assert_eq(parse(g, "vda=/n/a.raw,vdb=/n/b.qcow2,vdc=/n/c.raw"), -1, "no disk vdc");
	cr_assert_eq(parse(g, "vda=/n/a.raw,vda=/n/c.raw,vdb=/n/b.qcow2"), -1, "vda twice");
	cr_assert_eq(parse(g, "vda=n/a.raw,vdb=/n/b.qcow2"), -1, "relative");
	cr_assert_eq(parse(g, "vda=/n/a.vmdk,vdb=/n/b.qcow2"), -1, "format unknown");
	cr_assert_eq(parse(g, "vda=/n/a.raw,vdb=/n/a.raw"), -1, "one file for two disks");
	cr_assert_eq(parse(g, "vda/n/a.raw,vdb=/n/b.qcow2"), -1, "no =");
	cr_assert_eq(parse(g, "vda=:raw,vdb=/n/b.qcow2"), -1, "no path");
	cr_assert_eq(parse(g, ""), -1);
	agent_config_free(c);
}

Test(newdisks, an_existing_file_is_never_taken, .timeout = 60)
{
	struct agent_config *c = config();
	const struct agent_group_cfg *g = &c->groups[0];
	char busy[600], rec[600], missing[1024];

	cr_assert_not_null(failback_target_dir(c, "web"));
	snprintf(busy, sizeof(busy), "%s/new/a.raw", dir);
	snprintf(rec, sizeof(rec), "%s/%s", gdir, FAILBACK_NEWDISKS_FILE);
	mapping("a.raw", "b.qcow2");
	put_file(busy, "the operator's data");
	cr_assert_eq(failback_newdisks_record(g, gdir, spec), -1);
	cr_assert_str_eq(slurp(busy), "the operator's data");
	cr_assert_eq(access(rec, F_OK), -1, "recorded anyway");
	/* A directory that is not there is refused too. */
	snprintf(missing, sizeof(missing), "vda=%s/nodir/a.raw,vdb=%s/new/b.qcow2", dir, dir);
	cr_assert_eq(failback_newdisks_record(g, gdir, missing), -1);
	cr_assert_eq(access(rec, F_OK), -1);
	agent_config_free(c);
}

Test(newdisks, recorded_once_then_the_same_mapping_only, .timeout = 60)
{
	struct agent_config *c = config();
	const struct agent_group_cfg *g = &c->groups[0];
	struct failback_disks d;
	char empty[600], path[600];
	int fd;

	cr_assert_not_null(failback_target_dir(c, "web"));
	mapping("a.raw", "b.qcow2");
	snprintf(empty, sizeof(empty), "%s/new/a.raw", dir);
	fd = open(empty, O_WRONLY | O_CREAT | O_EXCL, 0644); /* empty: may be taken */
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(failback_newdisks_load(g, gdir, &d), 0, "no record yet");
	cr_assert_eq(failback_newdisks_record(g, gdir, spec), 0);
	cr_assert_eq(failback_newdisks_load(g, gdir, &d), 1);
	cr_assert_str_eq(d.v[0].path, empty);
	cr_assert_str_eq(d.v[1].format, "qcow2");
	cr_assert(d.v[0].create);
	failback_disks_clear(&d);
	/* The images made meanwhile are the target's: the same mapping is
	 * taken again, another is not. */
	put_file(empty, "an image the first point made");
	cr_assert_eq(failback_newdisks_record(g, gdir, spec), 0);
	cr_assert_eq(failback_newdisks_record(g, gdir, mapping("c.raw", "b.qcow2")), -1);
	cr_assert_eq(failback_newdisks_load(g, gdir, &d), 1);
	cr_assert_str_eq(d.v[0].path, empty);
	failback_disks_clear(&d);
	/* A record of other disks is refused, not half read. */
	snprintf(path, sizeof(path), "%s/%s", gdir, FAILBACK_NEWDISKS_FILE);
	put_file(path, "{\"disks\":[{\"name\":\"vda\",\"path\":\"/x.raw\",\"format\":\"raw\"}]}");
	cr_assert_eq(failback_newdisks_load(g, gdir, &d), -1);
	cr_assert_null(failback_target_open(c, "web"));
	agent_config_free(c);
}

Test(newdisks, the_target_lies_over_new_disks_when_the_onprem_ones_are_gone, .timeout = 60)
{
	struct agent_config *c = config();
	const struct agent_group_cfg *g = &c->groups[0];
	char a[600], b[600], cmd[1400];
	struct store *st;
	struct stat sb;

	snprintf(a, sizeof(a), "%s/a.raw", dir);
	snprintf(b, sizeof(b), "%s/b.qcow2", dir);
	cr_assert_eq(unlink(a), 0);
	cr_assert_eq(unlink(b), 0);
	cr_assert_null(failback_target_open(c, "web"), "the on-prem disks are gone");
	cr_assert_not_null(failback_target_dir(c, "web"));
	cr_assert_eq(failback_newdisks_record(g, gdir, mapping("a.raw", "b.qcow2")), 0);
	st = failback_target_open(c, "web");
	cr_assert_not_null(st);
	fbconfig_point(st, 1, 0x66, 8192, 4096, 3);
	store_free(st);
	snprintf(a, sizeof(a), "%s/new/a.raw", dir);
	snprintf(b, sizeof(b), "%s/new/b.qcow2", dir);
	cr_assert_eq(stat(a, &sb), 0);
	cr_assert_eq(sb.st_size, 1024 * 1024);
	cr_assert_eq(sb.st_blocks, 0, "only read until the cutover");
	snprintf(cmd, sizeof(cmd),
		 "qemu-img info -U '%s/disks/vdb/1.qcow2' | grep -q 'backing file: %s'", gdir, b);
	cr_assert_eq(system(cmd), 0, "point 1 lies over the new disk");
	agent_config_free(c);
}

/* A target over the on-prem disks is not turned into one over new disks:
 * abort it first. */
Test(newdisks, a_target_over_the_onprem_disks_is_not_switched, .timeout = 60)
{
	struct agent_config *c = config();
	const struct agent_group_cfg *g = &c->groups[0];
	struct store *st = failback_target_open(c, "web");
	char rec[600];

	cr_assert_not_null(st);
	fbconfig_point(st, 1, 0x66, 8192, 4096, 3);
	store_free(st);
	cr_assert_eq(failback_newdisks_record(g, gdir, mapping("a.raw", "b.qcow2")), -1);
	snprintf(rec, sizeof(rec), "%s/%s", gdir, FAILBACK_NEWDISKS_FILE);
	cr_assert_eq(access(rec, F_OK), -1);
	agent_config_free(c);
}

Test(newdisks, the_cutover_needs_the_configuration_to_name_the_new_disks, .timeout = 60)
{
	struct agent_config *c = config(), *c2 = NULL;
	const struct agent_group_cfg *g = &c->groups[0];
	char text[2048];

	cr_assert_eq(failback_newdisks_configured(g, gdir), 0, "no new disks: nothing to check");
	cr_assert_not_null(failback_target_dir(c, "web"));
	cr_assert_eq(failback_newdisks_record(g, gdir, mapping("a.raw", "b.qcow2")), 0);
	cr_assert_eq(failback_newdisks_configured(g, gdir), -1, "still the lost disks");
	put_file(strcat(strcpy(text, dir), "/new/a.raw"), "");
	put_file(strcat(strcpy(text, dir), "/new/b.qcow2"), "");
	snprintf(text, sizeof(text),
		 "[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\nstate_dir = %s/state\n"
		 "[group web]\n[disk web vda]\npath = %s/new/../new/a.raw\nformat = raw\n"
		 "[disk web vdb]\npath = %s/new/b.qcow2\n", dir, dir, dir);
	cr_assert_eq(agent_config_load_string("agent.conf", text, &c2), 0);
	cr_assert_eq(failback_newdisks_configured(&c2->groups[0], gdir), 0);
	agent_config_free(c2);
	/* The right path with another format is not the new disk. */
	snprintf(text, sizeof(text),
		 "[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\nstate_dir = %s/state\n"
		 "[group web]\n[disk web vda]\npath = %s/new/a.raw\nformat = qcow2\n"
		 "[disk web vdb]\npath = %s/new/b.qcow2\n", dir, dir, dir);
	cr_assert_eq(agent_config_load_string("agent.conf", text, &c2), 0);
	cr_assert_eq(failback_newdisks_configured(&c2->groups[0], gdir), -1);
	agent_config_free(c2);
	agent_config_free(c);
}
