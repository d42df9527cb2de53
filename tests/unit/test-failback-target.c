/* Unit tests of failback/target: the target store of a file-source group
 * of an agent configuration, opened under <state_dir>/failback/<group>/. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failback/cutover.h"
#include "failback/ondomains.h"
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

/* libvirt's test driver over dir/node.xml: vm1 shut off (a.raw, and a
 * cdrom left out), vm2 running (b.qcow2), vm3 shut off with an RBD disk. */
static void
write_node(void)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node.xml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"<node>\n"
		"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
		"<name>vm1</name><memory>65536</memory><os><type>hvm</type></os><devices>"
		"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		"<source file='%s/a.raw'/><target dev='vda'/></disk>"
		"<disk type='file' device='cdrom'><source file='%s/b.qcow2'/>"
		"<target dev='hdc'/><readonly/></disk>"
		"</devices><test:runstate>5</test:runstate></domain>\n"
		"<domain type='test'><name>vm2</name><memory>65536</memory>"
		"<os><type>hvm</type></os><devices><disk type='file' device='disk'>"
		"<source file='%s/b.qcow2'/><target dev='vdb'/></disk></devices></domain>\n"
		"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
		"<name>vm3</name><memory>65536</memory><os><type>hvm</type></os><devices>"
		"<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>"
		"<target dev='vda'/></disk></devices><test:runstate>5</test:runstate></domain>\n"
		"</node>\n",
		dir, dir, dir);
	cr_assert_eq(fclose(f), 0);
}

Test(fbtarget, a_domain_group_takes_the_disks_of_its_definitions, .timeout = 60)
{
	char groups[2048];
	struct agent_config *c;
	struct failback_disks d;
	struct store *st;

	snprintf(groups, sizeof(groups),
		 "[group off]\ndomains = vm1\nlibvirt_uri = test://%s/node.xml\n"
		 "[group on]\ndomains = vm1 vm2\nlibvirt_uri = test://%s/node.xml\n"
		 "[group rbd]\ndomains = vm3\nlibvirt_uri = test://%s/node.xml\n",
		 dir, dir, dir);
	c = config(groups);
	write_node();
	cr_assert_eq(failback_disks_of(&c->groups[0], &d), 0);
	cr_assert_eq(d.n, 1, "the cdrom is left out");
	cr_assert_str_eq(d.v[0].name, "vm1.vda", "named as the forward points");
	cr_assert_str_eq(d.v[0].format, "raw");
	cr_assert_eq(d.v[0].path[0], '/');
	cr_assert(strstr(d.given[0], "/a.raw"));
	failback_disks_clear(&d);
	cr_assert_eq(ondomains_off(&c->groups[0], "test"), 0, "vm1 is shut off");

	/* A running domain's disks resolve too (a finish's later rounds), but
	 * start and finish refuse while it runs. */
	cr_assert_eq(failback_disks_of(&c->groups[1], &d), 0);
	cr_assert_eq(d.n, 2);
	cr_assert_str_eq(d.v[1].name, "vm2.vdb");
	cr_assert_str_eq(d.v[1].format, "qcow2", "probed");
	failback_disks_clear(&d);
	cr_assert_eq(ondomains_off(&c->groups[1], "test"), -1, "vm2 runs");
	st = failback_target_open(c, "on");
	cr_assert_not_null(st);
	store_free(st);

	cr_assert_eq(failback_disks_of(&c->groups[2], &d), -1, "an RBD disk: not yet");
	cr_assert_eq(d.n, 0);
	cr_assert_null(failback_target_open(c, "rbd"));
	agent_config_free(c);
}

/* cutover.json in gdir at started with domains started. */
static void
at_started(const char *gdir, struct cutover *c)
{
	*c = (struct cutover){ CUTOVER_REQUESTED, 0, 0, false };
	cr_assert_eq(mkdir(gdir, 0700), 0);
	for (int s = CUTOVER_REQUESTED; s <= CUTOVER_STARTED; s++) {
		c->state = (enum cutover_state)s;
		c->reverse_point = s >= CUTOVER_SYNCED ? 4 : 0;
		c->domains_started = s == CUTOVER_STARTED;
		cr_assert_eq(cutover_advance(gdir, c), 0);
	}
}

Test(fbtarget, the_started_domains_are_verified_by_their_console_marker, .timeout = 60)
{
	char groups[1024], path[512], gdir[512];
	struct ondomains_opts o = { .marker = "BOOTED-7", .timeout_s = 1 };
	struct agent_config *c;
	struct cutover cut;
	json_t *rep;
	FILE *f;

	snprintf(groups, sizeof(groups), "[group g]\ndomains = vm5\nlibvirt_uri = test://%s/node.xml\n",
		 dir);
	c = config(groups);
	snprintf(path, sizeof(path), "%s/node.xml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "<node><domain type='test'><name>vm5</name><memory>65536</memory>"
		   "<os><type>hvm</type></os><devices><disk type='file' device='disk'>"
		   "<source file='%s/a.raw'/><target dev='vda'/></disk>"
		   "<serial type='file'><source path='%s/vm5.log'/><target port='0'/></serial>"
		   "</devices></domain></node>\n", dir, dir);
	cr_assert_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/vm5.log", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "booting\n");
	cr_assert_eq(fflush(f), 0);
	snprintf(gdir, sizeof(gdir), "%s/gd", dir);
	at_started(gdir, &cut);

	cr_assert_eq(ondomains_verify(&c->groups[0], gdir, &cut, &o), -1, "no marker yet");
	cr_assert_eq(cutover_load(gdir, &cut), 0);
	cr_assert_eq(cut.state, CUTOVER_STARTED, "stays at started: a re-run checks again");
	rep = ondomains_report(gdir);
	cr_assert_not_null(rep);
	cr_assert(json_is_false(json_object_get(rep, "pass")));
	cr_assert(strstr(json_string_value(json_object_get(rep, "summary")), "domain vm5: no boot marker"));
	json_decref(rep);

	fprintf(f, "BOOTED-7\n");
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(ondomains_verify(&c->groups[0], gdir, &cut, &o), 0);
	cr_assert_eq(cutover_load(gdir, &cut), 0);
	cr_assert_eq(cut.state, CUTOVER_VERIFIED);
	rep = ondomains_report(gdir);
	cr_assert_not_null(rep);
	cr_assert(json_is_true(json_object_get(rep, "pass")));
	cr_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(rep, "vms"), 0), "name")), "vm5");
	cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(rep, "vms"), 0),
					       "marker_seen")));
	json_decref(rep);
	cr_assert_eq(ondomains_verify(&c->groups[0], gdir, &cut, &o), 0, "verified: nothing to do");
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
