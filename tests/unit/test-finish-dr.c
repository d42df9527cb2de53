/* Unit tests of the DR side's bookkeeping of a failback finish
 * (failback/finish-dr.c) that needs no libvirt: F answered again only
 * while the failover's overlays are as when it was made, a promoted point
 * told from another, the reverse source's state required, and a ceph
 * store's F refused over another point than the failover's. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "failback/finish-dr.h"
#include "failover/promote.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/store.h"
#include "tmpdir.h"

TMPDIR_SUITE(finish_dr, dir, "nestor-finishdr");

/* Point id of group "g" on base, one 1 MiB disk, with metadata meta. */
static void
point(struct store *st, uint64_t id, uint64_t base, const char *meta)
{
	struct store_begin b = { .point_id = id, .base_id = base, .ndisks = 1,
				 .time_ns = 1700000000000000000ull + id };
	struct store_point *pt;
	int err = -1;

	snprintf(b.group, sizeof(b.group), "g");
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "d");
	b.disks[0].size = 1u << 20;
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin %d", err);
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, meta, strlen(meta), &err), 0);
	store_point_free(pt);
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* <dir>/wd/ with the overlay web1.d.qcow2 of VM web1, its path in path. */
static void
overlay_made(char *path, size_t cap)
{
	snprintf(path, cap, "%s/wd", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, cap, "%s/wd/web1.d.qcow2", dir);
	put(path, "overlay");
}

/* A marker of a failover in <dir>/wd whose F is point f (0: none). */
static json_t *
marker(uint64_t f)
{
	char wd[128];
	json_t *m;

	snprintf(wd, sizeof(wd), "%s/wd", dir);
	m = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "failover", "x", "workdir", wd, "vms", "vm",
		      "web1", "domain", "web1");
	cr_assert_not_null(m);
	if (f)
		json_object_set_new(m, "promote_point", json_integer((json_int_t)f));
	cr_assert_eq(failover_marker_save(dir, "g", m), 0);
	return m;
}

Test(finish_dr, f_answered_only_while_the_overlays_stay)
{
	struct store *st = store_open(dir, NULL);
	struct finish_point fp = { 0 };
	char path[160];
	bool absent = false;
	json_t *m, *saved;

	cr_assert_not_null(st);
	point(st, 1, 0, "{}");
	point(st, 2, 1, "{\"promoted_from\":1}");
	overlay_made(path, sizeof(path));

	/* No F recorded, or one not in the catalog: not made, nothing changed. */
	m = marker(0);
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 0);
	json_decref(m);
	m = marker(9);
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 0);
	cr_assert_eq(json_integer_value(json_object_get(m, "promote_point")), 9);
	json_decref(m);

	/* F listed, its overlays recorded: answered again. */
	m = marker(2);
	cr_assert_eq(finish_dr_record(st, dir, "g"), 0);
	json_decref(m);
	m = failover_marker_load(dir, "g", &absent);
	cr_assert_not_null(m);
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 1);
	cr_assert_eq(fp.point, 2);
	cr_assert_eq(fp.base, 1);

	/* A VM started again wrote its overlay: F is stale, the marker
	 * forgets it (durably) so the next finish makes a new one. */
	put(path, " and more");
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 0);
	cr_assert_null(json_object_get(m, "promote_point"));
	saved = failover_marker_load(dir, "g", &absent);
	cr_assert_not_null(saved);
	cr_assert_null(json_object_get(saved, "promote_point"));
	cr_assert_null(json_object_get(saved, "promote_overlays"));
	json_decref(saved);
	json_decref(m);

	/* Made but never recorded (a crash between): stale too. */
	m = marker(2);
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 0);
	json_decref(m);
	store_free(st);
}

/* The print is recorded before F is made (a receiver killed right after
 * the promotion answers the same F): the promotion's own overlay of a disk
 * no VM booted, made after the record, does not make F stale. */
Test(finish_dr, recorded_before_the_promotion)
{
	struct store *st = store_open(dir, NULL);
	struct finish_point fp = { 0 };
	char path[160];
	bool absent = false;
	json_t *m;

	cr_assert_not_null(st);
	point(st, 1, 0, "{}");
	overlay_made(path, sizeof(path));
	m = marker(2);
	cr_assert_eq(finish_dr_record(st, dir, "g"), 0);
	json_decref(m);
	snprintf(path, sizeof(path), "%s/wd/promote.e.qcow2", dir);
	put(path, "the promotion's");
	point(st, 2, 1, "{\"promoted_from\":1}");
	m = failover_marker_load(dir, "g", &absent);
	cr_assert_not_null(m);
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 1, "the same F");
	cr_assert_eq(fp.point, 2);
	/* A VM's overlay changed: stale, as before. */
	snprintf(path, sizeof(path), "%s/wd/web1.d.qcow2", dir);
	put(path, "written again");
	cr_assert_eq(finish_dr_made(st, m, dir, "g", &fp), 0);
	json_decref(m);
	store_free(st);
}

Test(finish_dr, promoted_point_told_apart)
{
	struct store *st = store_open(dir, NULL);
	struct finish_point fp = { 0 };

	cr_assert_not_null(st);
	point(st, 1, 0, "{}");
	point(st, 2, 1, "{\"promoted_from\":1}");
	cr_assert_eq(finish_dr_promoted(st, "g", 2, &fp), 1);
	cr_assert_eq(fp.point, 2);
	cr_assert_eq(finish_dr_promoted(st, "g", 1, &fp), 0);
	cr_assert_eq(finish_dr_promoted(st, "g", 3, &fp), 0);
	store_free(st);
}

Test(finish_dr, reverse_state_required)
{
	json_t *m;
	char path[160];

	snprintf(path, sizeof(path), "%s/g", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	m = marker(0);
	cr_assert(!finish_dr_has_reverse(dir, "g", m, false));
	snprintf(path, sizeof(path), "%s/g/reverse", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert(!finish_dr_has_reverse(dir, "g", m, false));
	snprintf(path, sizeof(path), "%s/g/reverse/web1.json", dir);
	put(path, "{}");
	cr_assert(finish_dr_has_reverse(dir, "g", m, false));
	/* A ceph store: the rbd source's state of one of the domain's
	 * clones too (another domain's does not count). */
	cr_assert(!finish_dr_has_reverse(dir, "g", m, true));
	snprintf(path, sizeof(path), "%s/g/reverse/rbd", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/g/reverse/rbd/web10.vda.json", dir);
	put(path, "{}");
	cr_assert(!finish_dr_has_reverse(dir, "g", m, true));
	snprintf(path, sizeof(path), "%s/g/reverse/rbd/web1.vda.json", dir);
	put(path, "{}");
	cr_assert(finish_dr_has_reverse(dir, "g", m, true));
	json_decref(m);
}

/* A ceph store writes the clones' changes against P over P's snapshots:
 * a point committed after P (an earlier F the VMs ran past) makes the
 * promotion refuse before anything changes (no cluster, no libvirt is
 * reached: the catalog says it). */
Test(finish_dr, ceph_f_refused_over_a_newer_point_than_the_failovers)
{
	struct store_ceph_opts ceph = { .pool = "replicas" };
	struct store *st = store_open(dir, NULL), *cst;
	struct store_point_info *pts = NULL;
	json_t *m, *rep = (json_t *)1;
	bool absent = false;
	size_t n = 0;

	cr_assert_not_null(st);
	point(st, 1, 0, "{}");
	point(st, 2, 1, "{\"promoted_from\":1}");
	store_free(st);
	m = marker(0);
	json_object_set_new(m, "point", json_integer(1));
	cr_assert_eq(failover_marker_save(dir, "g", m), 0);
	json_decref(m);
	cst = store_open(dir, &ceph); /* connects on first use only */
	cr_assert_not_null(cst);
	cr_assert_eq(failover_promote_point(cst, dir, "g", "test:///default", &rep), -1);
	cr_assert_null(rep);
	m = failover_marker_load(dir, "g", &absent);
	cr_assert_not_null(m);
	cr_assert_null(json_object_get(m, "promote_point"), "no F id recorded");
	json_decref(m);
	cr_assert_eq(store_list_points(cst, "g", &pts, &n), 0);
	cr_assert_eq(n, 2);
	free(pts);
	store_free(cst);
}
