/* Unit tests of store_point_adopt (replicator/receiver/store-adopt.c): a
 * qcow2 image taken as a disk of the point being received reads the same
 * as the image, over the same base (the name changes only) and over
 * another one (qemu-img's safe rebase), with checksum records of its own
 * data that match what the point reads. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/hash.h"
#include "failover/promote.h"
#include "replicator/receiver/store.h"
#include "replicator/receiver/sums.h"
#include "tmpdir.h"

#define DISK_SIZE (1024u * 1024u)
#define K64 65536u

TMPDIR_SUITE(adopt, dir, "nestor-adopt");

static struct store_begin
begin_of(uint64_t id, uint64_t base)
{
	struct store_begin b = { .point_id = id, .base_id = base, .ndisks = 1,
				 .time_ns = 1700000000000000000ull + id };

	snprintf(b.group, sizeof(b.group), "g");
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "d");
	b.disks[0].size = DISK_SIZE;
	return b;
}

/* Point id on base: 64 KiB of byte v at off. */
static void
point(struct store *st, uint64_t id, uint64_t base, uint8_t v, uint64_t off)
{
	struct store_begin b = begin_of(id, base);
	static uint8_t buf[K64];
	struct store_point *pt;
	int err = -1;

	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin %d", err);
	memset(buf, v, sizeof(buf));
	cr_assert_eq(store_point_write(pt, 0, off, buf, sizeof(buf), &err), 0);
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "", 0, &err), 0);
	store_point_free(pt);
}

static uint8_t
byte_at(struct store *st, uint64_t id, uint64_t off)
{
	struct store_reader *r = NULL;
	uint8_t b = 0xff;
	int err = -1;

	cr_assert_eq(store_reader_open(st, "g", id, "d", &r, &err), 0);
	cr_assert_eq(store_reader_pread(st, r, &b, 1, off), 0);
	store_reader_close(st, r);
	return b;
}

/* A clone of point `of` with 64 KiB of byte v written at off (the failed
 * over VM's writes); its path into file. */
static void
clone_with_write(struct store *st, uint64_t of, uint8_t v, uint64_t off, char *file, size_t cap)
{
	struct store_clone_names names = { .file = file };
	char *src = NULL, cmd[1024];

	snprintf(file, cap, "%s/clone-of-%llu.qcow2", dir, (unsigned long long)of);
	cr_assert_eq(store_point_clone(st, "g", of, "d", &names, &src), 0);
	free(src);
	snprintf(cmd, sizeof(cmd), "qemu-io -f qcow2 -c 'write -q -P %u %llu 64k' '%s'", v,
		 (unsigned long long)off, file);
	cr_assert_eq(system(cmd), 0);
}

/* Point id made of image src; its own data bytes. */
static uint64_t
adopt_point(struct store *st, uint64_t id, uint64_t base, const char *src)
{
	struct store_begin b = begin_of(id, base);
	struct store_point *pt;
	uint64_t bytes = 0, again;
	int err = -1;

	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt);
	cr_assert_eq(store_point_adopt(pt, 0, src, &bytes, &err), 0, "adopt: %d", err);
	cr_assert_eq(store_point_adopt(pt, 0, src, &again, &err), -1, "the disk is done");
	cr_assert_eq(store_point_commit(pt, "", 0, &err), 0);
	store_point_free(pt);
	return bytes;
}

/* Every DATA record of point id hashes to what the point reads there. */
static size_t
sums_match(struct store *st, uint64_t id)
{
	char path[512];
	struct sums_rec *recs = NULL;
	struct store_reader *r = NULL;
	static uint8_t buf[1u << 20];
	size_t n = 0, data = 0;
	int err;

	snprintf(path, sizeof(path), "%s/g/sums/%llu/d.sums", dir, (unsigned long long)id);
	cr_assert_eq(sums_load(path, 1u << 20, &recs, &n), 0);
	cr_assert_eq(store_reader_open(st, "g", id, "d", &r, &err), 0);
	for (size_t i = 0; i < n; i++) {
		if (recs[i].zero)
			continue;
		cr_assert_leq(recs[i].length, sizeof(buf));
		cr_assert_eq(store_reader_pread(st, r, buf, recs[i].length, recs[i].offset), 0);
		cr_assert_eq(hash64(buf, recs[i].length), recs[i].hash, "record %zu", i);
		data += recs[i].length;
	}
	store_reader_close(st, r);
	free(recs);
	return data;
}

Test(adopt, an_overlay_of_the_base_point_becomes_the_next_point, .timeout = 60)
{
	struct store *st = store_open(dir, NULL);
	char file[512], cmd[1200];

	cr_assert_not_null(st);
	cr_assert(store_points_are_files(st));
	point(st, 1, 0, 0x11, 0);
	point(st, 2, 1, 0x22, K64);
	clone_with_write(st, 2, 0x33, 2 * K64, file, sizeof(file));
	cr_assert_eq(adopt_point(st, 3, 2, file), K64, "only the clone's own 64 KiB");
	cr_assert_eq(byte_at(st, 3, 0), 0x11);
	cr_assert_eq(byte_at(st, 3, K64), 0x22);
	cr_assert_eq(byte_at(st, 3, 2 * K64), 0x33);
	cr_assert_eq(sums_match(st, 3), K64);
	snprintf(cmd, sizeof(cmd), "qemu-img compare -q -f qcow2 -F qcow2 '%s' '%s/g/disks/d/3.qcow2'"
		 " && qemu-img info '%s/g/disks/d/3.qcow2' | grep -Eq '^backing file: 2.qcow2( |$)'",
		 file, dir, dir);
	cr_assert_eq(system(cmd), 0, "same view, relative backing name as every point");
	store_free(st);
}

Test(adopt, an_overlay_of_an_older_point_reads_the_same_over_the_newest, .timeout = 60)
{
	struct store *st = store_open(dir, NULL);
	char file[512], cmd[1200];

	cr_assert_not_null(st);
	point(st, 1, 0, 0x11, 0);
	point(st, 2, 1, 0x22, K64);
	/* a failover at point 1: it never saw point 2's write at 64K */
	clone_with_write(st, 1, 0x33, 2 * K64, file, sizeof(file));
	adopt_point(st, 3, 2, file);
	cr_assert_eq(byte_at(st, 3, 0), 0x11);
	cr_assert_eq(byte_at(st, 3, K64), 0, "point 2's write undone: the clone's view");
	cr_assert_eq(byte_at(st, 3, 2 * K64), 0x33);
	cr_assert_eq(byte_at(st, 2, K64), 0x22, "point 2 unchanged");
	cr_assert_geq(sums_match(st, 3), K64);
	snprintf(cmd, sizeof(cmd), "qemu-img compare -q -f qcow2 -F qcow2 '%s' '%s/g/disks/d/3.qcow2'",
		 file, dir);
	cr_assert_eq(system(cmd), 0);
	store_free(st);
}

Test(adopt, a_written_disk_or_a_bad_image_is_refused, .timeout = 60)
{
	struct store *st = store_open(dir, NULL);
	struct store_begin b = begin_of(2, 1);
	struct store_point *pt;
	static uint8_t buf[4096];
	char bad[512], cmd[600];
	uint64_t bytes;
	int err;

	cr_assert_not_null(st);
	point(st, 1, 0, 0x11, 0);
	snprintf(bad, sizeof(bad), "%s/small.qcow2", dir);
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 '%s' 512K", bad);
	cr_assert_eq(system(cmd), 0);
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt);
	cr_assert_eq(store_point_adopt(pt, 0, bad, &bytes, &err), -1, "another size");
	cr_assert_eq(store_point_adopt(pt, 1, bad, &bytes, &err), -1, "no disk #1");
	cr_assert_eq(store_point_write(pt, 0, 0, buf, sizeof(buf), &err), 0);
	cr_assert_eq(store_point_adopt(pt, 0, bad, &bytes, &err), -1, "written already");
	store_point_free(pt);
	cr_assert_eq(byte_at(st, 1, 0), 0x11);
	store_free(st);
}

/* A ceph store's clones are told apart without the cluster: a file, an
 * image of another pool or a malformed source is no clone of the store's
 * (0), and a group that is not failed over has nothing to promote. The
 * clones themselves: test-ceph-drill. */
Test(adopt, a_ceph_store_knows_its_clones_by_pool, .timeout = 30)
{
	struct store_ceph_opts ceph = { .pool = "replicas" };
	struct store *st = store_open(dir, &ceph); /* connects on first use only */
	struct store_clone_info ci;
	json_t *rep = (json_t *)1;

	cr_assert_not_null(st);
	cr_assert(!store_points_are_files(st));
	cr_assert_eq(store_clone_stat(st, "g", "/var/lib/x.qcow2", &ci), 0);
	cr_assert_eq(store_clone_stat(st, "g", "rbd:other/failover-1-0-0", &ci), 0);
	cr_assert_eq(store_clone_stat(st, "g", "rbd:replicasx/failover-1-0-0", &ci), 0);
	cr_assert_eq(store_clone_stat(st, "g", "rbd:replicas/", &ci), 0);
	cr_assert_eq(store_clone_stat(st, "g", "rbd:replicas/a/b", &ci), 0);
	cr_assert_eq(failover_promote(st, dir, "g", "test:///default", &rep), -1);
	cr_assert_null(rep);
	store_free(st);
}

Test(adopt, a_local_store_has_no_clones_to_stat)
{
	struct store *st = store_open(dir, NULL);
	struct store_clone_info ci;

	cr_assert_not_null(st);
	cr_assert_eq(store_clone_stat(st, "g", "rbd:rbd/failover-1-0-0", &ci), 0);
	store_free(st);
}
