/* Unit tests of the target store (store-target.h) against real qemu-img,
 * qemu-io and qemu-nbd: points over a raw and a qcow2 "on-prem" disk read
 * the on-prem bytes where nothing was written, and the on-prem files are
 * never written nor opened for writing. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replicator/receiver/store-target.h"
#include "tmpdir.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define DISK_SIZE (4 * MIB)

/* Every test has the same timeout: with different ones in a suite,
 * Criterion leaks 48 bytes of its own, which fails `make asan-run`. */
TMPDIR_SUITE(target, dir, "nestor,target");

/* Expected contents of vda (raw on-prem) and vdb (qcow2 on-prem). */
static uint8_t want[2][DISK_SIZE];
static char onprem[2][128];
static char sums[2][80];

/* Exit status of "<cmd> -f <format> <path> <tail>" on on-prem disk i. */
static int
qemu(const char *cmd, int i, const char *tail)
{
	char line[512];

	snprintf(line, sizeof(line), "%s -f %s '%s' %s", cmd, i ? "qcow2" : "raw", onprem[i],
		 tail);
	return system(line);
}

/* How many descriptors of any process refer to path; *rw of them were
 * opened for writing (/proc/<pid>/fdinfo flags). */
static unsigned
open_fds(const char *path, unsigned *rw)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	unsigned n = 0;

	cr_assert_not_null(proc);
	*rw = 0;
	while ((pe = readdir(proc)) != NULL) {
		char fdd[300], link[PATH_MAX], info[600];
		DIR *fds;
		struct dirent *fe;

		if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
			continue;
		snprintf(fdd, sizeof(fdd), "/proc/%s/fd", pe->d_name);
		fds = opendir(fdd);
		if (!fds)
			continue; /* gone meanwhile */
		while ((fe = readdir(fds)) != NULL) {
			char lp[600], line[128];
			ssize_t len;
			FILE *f;

			snprintf(lp, sizeof(lp), "%s/%s", fdd, fe->d_name);
			len = readlink(lp, link, sizeof(link) - 1);
			if (len < 0)
				continue;
			link[len] = '\0';
			if (strcmp(link, path) != 0)
				continue;
			n++;
			snprintf(info, sizeof(info), "/proc/%s/fdinfo/%s", pe->d_name, fe->d_name);
			f = fopen(info, "r");
			while (f && fgets(line, sizeof(line), f))
				if (strncmp(line, "flags:", 6) == 0 &&
				    (strtoul(line + 6, NULL, 8) & O_ACCMODE) != O_RDONLY)
					(*rw)++;
			if (f)
				fclose(f);
		}
		closedir(fds);
	}
	closedir(proc);
	return n;
}

static void
sha256(const char *path, char *out, size_t cap)
{
	char cmd[256];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)cap, f));
	pclose(f);
	out[64] = '\0';
}

static void
assert_onprem_unchanged(void)
{
	char now[80];

	for (int i = 0; i < 2; i++) {
		sha256(onprem[i], now, sizeof(now));
		cr_assert_str_eq(now, sums[i], "on-prem disk %s changed", onprem[i]);
	}
}

/* vda: raw, 0x11 in its first 3 MiB, zeros after; vdb: qcow2, 0x22 in
 * its first 2 MiB, 0x33 in the next MiB, its last MiB unallocated. */
static void
make_onprem(void)
{
	snprintf(onprem[0], sizeof(onprem[0]), "%s/onprem-vda.raw", dir);
	snprintf(onprem[1], sizeof(onprem[1]), "%s/onprem-vdb.qcow2", dir);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(qemu("qemu-img create -q", i, "4M"), 0);
	cr_assert_eq(qemu("qemu-io -c 'write -q -P 0x11 0 3M'", 0, ""), 0);
	cr_assert_eq(qemu("qemu-io -c 'write -q -P 0x22 0 2M' -c 'write -q -P 0x33 2M 1M'", 1,
			  ""), 0);
	memset(want, 0, sizeof(want));
	memset(want[0], 0x11, 3 * MIB);
	memset(want[1], 0x22, 2 * MIB);
	memset(want[1] + 2 * MIB, 0x33, MIB);
	for (int i = 0; i < 2; i++)
		sha256(onprem[i], sums[i], sizeof(sums[i]));
}

static struct store *
open_target(void)
{
	struct store_target_disk disks[] = {
		{ "vda", onprem[0], "raw", false },
		{ "vdb", onprem[1], "qcow2", false },
	};
	char root[128];

	snprintf(root, sizeof(root), "%s/store", dir);
	cr_assert_eq(mkdir(root, 0700), 0);
	return store_open_target(root, disks, 2);
}

/* Point id over base of disks vda and disk1 (the target knows vda, vdb). */
static void
begin_init(struct store_begin *b, uint64_t id, uint64_t base, const char *disk1)
{
	const char *names[] = { "vda", disk1 };

	*b = (struct store_begin){ .point_id = id, .base_id = base, .ndisks = 2,
				   .time_ns = 1700000000000000000ull + id };
	snprintf(b->group, sizeof(b->group), "grp");
	for (size_t i = 0; i < b->ndisks; i++) {
		snprintf(b->disks[i].name, sizeof(b->disks[i].name), "%s", names[i]);
		b->disks[i].size = DISK_SIZE;
	}
}

/* Write len bytes of value v at off of disk, and expect them. */
static void
put(struct store_point *pt, uint16_t disk, uint64_t off, size_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);
	int err = -1;

	cr_assert_not_null(buf);
	memset(buf, v, len);
	cr_assert_eq(store_point_write(pt, disk, off, buf, len, &err), 0);
	memset(want[disk] + off, v, len);
	free(buf);
}

static void
zero(struct store_point *pt, uint16_t disk, uint64_t off, uint64_t len)
{
	int err = -1;

	cr_assert_eq(store_point_zero(pt, disk, off, len, &err), 0);
	memset(want[disk] + off, 0, len);
}

static void
commit(struct store_point *pt)
{
	int err = -1;

	for (uint16_t i = 0; i < 2; i++)
		cr_assert_eq(store_point_disk_done(pt, i, &err), 0);
	cr_assert_eq(store_point_commit(pt, "<domain/>", 9, &err), 0);
	store_point_free(pt);
}

/* Every byte of both disks of point through the store's reader. */
static void
assert_point(struct store *st, uint64_t point)
{
	static uint8_t got[DISK_SIZE];
	const char *names[] = { "vda", "vdb" };

	for (int i = 0; i < 2; i++) {
		struct store_reader *r = NULL;
		int err = -1;

		cr_assert_eq(store_reader_open(st, "grp", point, names[i], &r, &err), 0);
		cr_assert_eq(store_reader_pread(st, r, got, DISK_SIZE, 0), 0);
		store_reader_close(st, r);
		for (size_t o = 0; o < DISK_SIZE; o++)
			if (got[o] != want[i][o])
				cr_assert_fail("point %" PRIu64 " %s byte %zu: %#x, want %#x",
					       point, names[i], o, got[o], want[i][o]);
	}
}

static struct store_point *
begin_ok(struct store *st, uint64_t id, uint64_t base)
{
	struct store_begin b;
	struct store_point *pt;
	int err = -1;

	begin_init(&b, id, base, "vdb");
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin of point %" PRIu64 ": %d", id, err);
	return pt;
}

/* Point 1 over the on-prem disks, point 2 over point 1. */
static void
two_points(struct store *st)
{
	struct store_point *pt = begin_ok(st, 1, 0);
	int err = -1;

	put(pt, 0, 64 * KIB, 128 * KIB, 0xa1);
	put(pt, 0, 3 * MIB + 4 * KIB, 8 * KIB, 0xa2); /* past the on-prem data */
	zero(pt, 0, MIB, 64 * KIB);                   /* hides on-prem bytes */
	put(pt, 1, 2 * MIB - 4 * KIB, 8 * KIB, 0xa3); /* across two on-prem ranges */
	cr_assert_eq(store_point_checkpoint(pt, &err), 0);
	/* While qemu-nbd holds the overlays open (their backing files with
	 * them), the on-prem disk is open, read-only only, and a read-only
	 * open that wants nobody to write gets qemu's lock. */
	for (int i = 0; i < 2; i++) {
		unsigned rw = 99;

		cr_assert_gt(open_fds(onprem[i], &rw), 0, "%s is not open", onprem[i]);
		cr_assert_eq(rw, 0, "%s is open for writing", onprem[i]);
		cr_assert_eq(qemu("qemu-io -r -c 'read -q 0 512'", i, ""), 0,
			     "someone took the write permission of %s", onprem[i]);
	}
	commit(pt);
	assert_point(st, 1);
	assert_onprem_unchanged();

	pt = begin_ok(st, 2, 1);
	put(pt, 0, 96 * KIB, 64 * KIB, 0xb1); /* overlaps point 1's write */
	put(pt, 1, 3 * MIB + 512 * KIB, 64 * KIB, 0xb2);
	commit(pt);
	assert_point(st, 2);
	assert_onprem_unchanged();
}

Test(target, points_read_the_onprem_disk_where_not_written, .timeout = 120)
{
	struct store *st;

	make_onprem();
	st = open_target();
	cr_assert_not_null(st);
	two_points(st);
	store_free(st);
}

Test(target, removing_the_first_point_keeps_the_view_and_the_disk, .timeout = 120)
{
	char path[256];
	struct stat sb;
	struct store *st;

	make_onprem();
	st = open_target();
	cr_assert_not_null(st);
	two_points(st);
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 0);
	cr_assert_eq(store_point_exists(st, "grp", 1), 0);
	assert_point(st, 2);
	assert_onprem_unchanged();
	/* Point 2 was rebased onto the on-prem disk, not onto nothing: it
	 * took point 1's writes only, not a copy of the disks. */
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/store/grp/disks/%s/2.qcow2", dir,
			 i ? "vdb" : "vda");
		cr_assert_eq(stat(path, &sb), 0);
		cr_assert_lt((uint64_t)sb.st_blocks * 512, MIB, "%s holds %" PRIu64 " bytes",
			     path, (uint64_t)sb.st_blocks * 512);
	}
	/* Neither pruning strays nor dropping the group's points touches the
	 * disk. */
	cr_assert_eq(store_discard_pending(st, "grp"), 0);
	assert_onprem_unchanged();
	store_free(st);
	cr_assert_eq(access(onprem[0], F_OK), 0);
	cr_assert_eq(access(onprem[1], F_OK), 0);
}

Test(target, a_disk_not_in_the_options_is_refused, .timeout = 120)
{
	struct store_progress pr;
	struct store_begin b;
	struct store_point *pt;
	struct store *st;
	int err = 0;

	make_onprem();
	st = open_target();
	cr_assert_not_null(st);
	/* A pending point with durable data. */
	pt = begin_ok(st, 1, 0);
	put(pt, 0, 0, 64 * KIB, 0xc1);
	cr_assert_eq(store_point_checkpoint(pt, &err), 0);
	store_point_free(pt);

	begin_init(&b, 1, 0, "vdz");
	cr_assert_null(store_point_begin(st, &b, &err));
	cr_assert_eq(err, STORE_ERR_IO);
	cr_assert_eq(store_point_exists(st, "grp", 1), 0);
	/* Refused before the pending point was looked at: it is still there
	 * to resume. */
	cr_assert_eq(store_progress(st, "grp", &pr), 0);
	cr_assert_eq(pr.pending_point, 1);
	cr_assert_eq(pr.disks[0].durable_offset, 64 * KIB);
	assert_onprem_unchanged();
	/* The store still takes a point of its own disks afterwards. */
	commit(begin_ok(st, 1, 0));
	assert_point(st, 1);
	store_free(st);
}

Test(target, bad_options_are_refused, .timeout = 120)
{
	char root[128];
	struct store_target_disk rel[] = { { "vda", "onprem.raw", "raw", false } };
	struct store_target_disk fmt[] = { { "vda", "/x/onprem.vmdk", "vmdk", false } };
	struct store_target_disk name[] = { { "v/da", "/x/a.raw", "raw", false } };
	struct store_target_disk dup[] = { { "vda", "/x/a.raw", "raw", false },
					   { "vda", "/x/b.raw", "raw", false } };

	snprintf(root, sizeof(root), "%s", dir);
	cr_assert_null(store_open_target(root, rel, 1));
	cr_assert_null(store_open_target(root, fmt, 1));
	cr_assert_null(store_open_target(root, name, 1));
	cr_assert_null(store_open_target(root, dup, 2));
	cr_assert_null(store_open_target(root, dup, 0));
	cr_assert_null(store_open_target(root, NULL, 0));
	/* Either disk alone is fine (its file is looked at by a point's begin). */
	for (int i = 0; i < 2; i++) {
		struct store *st = store_open_target(root, dup + i, 1);

		cr_assert_not_null(st);
		store_free(st);
	}
}

/* Bytes qemu-img map says disk i's image holds as data (0: all holes). */
static int
has_data(int i)
{
	return qemu("qemu-img map -U --output=json", i, "| grep -q '\"data\": true'") == 0;
}

/* A failback to new disks (issue 14, item 3): the first point's begin
 * makes each new disk empty at the point's size (absent, or an empty
 * file), the points lie over them and the new disks stay empty (only
 * read) until the cutover; a second begin takes the images as they are. */
Test(target, new_disks_are_made_empty_and_only_read, .timeout = 120)
{
	struct store_target_disk disks[2];
	struct store_point *pt;
	struct stat sb;
	struct store *st;
	char root[128], again[2][80];
	int fd;

	snprintf(onprem[0], sizeof(onprem[0]), "%s/new-vda.raw", dir);
	snprintf(onprem[1], sizeof(onprem[1]), "%s/new-vdb.qcow2", dir);
	fd = open(onprem[1], O_WRONLY | O_CREAT | O_EXCL, 0644); /* empty: taken */
	cr_assert_geq(fd, 0);
	close(fd);
	disks[0] = (struct store_target_disk){ "vda", onprem[0], "raw", true };
	disks[1] = (struct store_target_disk){ "vdb", onprem[1], "qcow2", true };
	snprintf(root, sizeof(root), "%s/store", dir);
	cr_assert_eq(mkdir(root, 0700), 0);
	st = store_open_target(root, disks, 2);
	cr_assert_not_null(st);
	cr_assert_eq(access(onprem[0], F_OK), -1, "made before a point needs it");
	memset(want, 0, sizeof(want));

	pt = begin_ok(st, 1, 0);
	cr_assert_eq(stat(onprem[0], &sb), 0);
	cr_assert_eq(sb.st_size, DISK_SIZE);
	cr_assert_eq(sb.st_blocks, 0, "a raw new disk is sparse");
	cr_assert_eq(qemu("qemu-img info -U", 1, "| grep -q 'virtual size: 4 MiB'"), 0);
	put(pt, 0, 64 * KIB, 128 * KIB, 0xd1);
	zero(pt, 0, MIB, 512 * KIB);
	put(pt, 1, 2 * MIB, 64 * KIB, 0xd2);
	commit(pt);
	assert_point(st, 1);
	/* Nothing written into them: the points hold every byte. */
	cr_assert_eq(stat(onprem[0], &sb), 0);
	cr_assert_eq(sb.st_blocks, 0);
	cr_assert_not(has_data(0));
	cr_assert_not(has_data(1));
	for (int i = 0; i < 2; i++)
		sha256(onprem[i], sums[i], sizeof(sums[i]));

	/* A later chain root (a discarded point begun again) takes them as
	 * they are. */
	pt = begin_ok(st, 2, 0);
	store_point_free(pt);
	for (int i = 0; i < 2; i++) {
		sha256(onprem[i], again[i], sizeof(again[i]));
		cr_assert_str_eq(again[i], sums[i], "new disk %s made again", onprem[i]);
	}
	store_free(st);
}

/* Write path's made-record for disk `disk` of the "grp" target in root by
 * hand (a crash's leftovers): the image's identity is temp's when it
 * exists. */
static void
made_record(const char *root, const char *disk, const char *path, const char *temp,
	    bool given_empty, bool made)
{
	char file[300];
	struct stat sb;
	FILE *f;

	snprintf(file, sizeof(file), "%s/grp/made-%s.json", root, disk);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"version\": 1, \"path\": \"%s\", \"temp\": \"%s\", \"given_empty\": %s",
		path, temp, given_empty ? "true" : "false");
	if (made) {
		cr_assert_eq(lstat(temp, &sb), 0);
		fprintf(f, ", \"dev\": %llu, \"ino\": %llu", (unsigned long long)sb.st_dev,
			(unsigned long long)sb.st_ino);
	}
	fprintf(f, "}\n");
	cr_assert_eq(fclose(f), 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* An empty store root for "grp" (its group directory made when mkgdir),
 * as an abort leaves it. */
static void
fresh_root(const char *root, const char *gdir, bool mkgdir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(mkdir(root, 0700), 0);
	if (mkgdir)
		cr_assert_eq(mkdir(gdir, 0700), 0);
}

static bool
file_is(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

/* An abort (issue 14: failback abort after a start to new disks) undoes
 * exactly what the begins made, as recorded before making it: the image
 * at an absent path removed, the empty file the operator gave put back
 * empty, a file that replaced the image left, and after a crash between
 * the record and the image's rename, the temporary image removed (or, on
 * a later begin, placed) while the file at the path stays. */
Test(target, abort_unmakes_exactly_the_new_disks_made, .timeout = 120)
{
	struct store_target_disk disks[2];
	struct store *st;
	struct stat sb;
	char root[128], gdir[160], temp[2][160], moved[160];
	ino_t ino;
	int fd;

	snprintf(onprem[0], sizeof(onprem[0]), "%s/new-vda.raw", dir);
	snprintf(onprem[1], sizeof(onprem[1]), "%s/new-vdb.qcow2", dir);
	snprintf(temp[0], sizeof(temp[0]), "%s/.new-vda.raw.nestor-new", dir);
	snprintf(temp[1], sizeof(temp[1]), "%s/.new-vdb.qcow2.nestor-new", dir);
	snprintf(moved, sizeof(moved), "%s/moved-vda.raw", dir);
	fd = open(onprem[1], O_WRONLY | O_CREAT | O_EXCL, 0644); /* the operator's empty file */
	cr_assert_geq(fd, 0);
	close(fd);
	disks[0] = (struct store_target_disk){ "vda", onprem[0], "raw", true };
	disks[1] = (struct store_target_disk){ "vdb", onprem[1], "qcow2", true };
	snprintf(root, sizeof(root), "%s/store", dir);
	snprintf(gdir, sizeof(gdir), "%s/grp", root);
	cr_assert_eq(mkdir(root, 0700), 0);
	st = store_open_target(root, disks, 2);
	cr_assert_not_null(st);
	memset(want, 0, sizeof(want));
	store_point_free(begin_ok(st, 1, 0));
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(stat(onprem[i], &sb), 0);
		cr_assert_gt(sb.st_size, 0, "new disk %d made", i);
		cr_assert_eq(access(temp[i], F_OK), -1, "no temporary image left");
	}

	/* 1. Both made: vda removed, vdb an empty file again. */
	cr_assert_eq(store_target_unmake(gdir, "test"), 0);
	cr_assert_eq(access(onprem[0], F_OK), -1, "the image made at an absent path is removed");
	cr_assert_eq(stat(onprem[1], &sb), 0, "the operator's empty file is back");
	cr_assert(S_ISREG(sb.st_mode) && sb.st_size == 0);
	cr_assert_eq(store_target_unmake(gdir, "test"), 0, "again: nothing more to do");
	cr_assert_eq(stat(onprem[1], &sb), 0);
	cr_assert_eq(sb.st_size, 0);

	/* 2. Made again; the operator moved vda's image away and put his own
	 * file there: his file stays, and so does the moved image (not at
	 * the path recorded). */
	store_free(st);
	fresh_root(root, gdir, false);
	st = store_open_target(root, disks, 2);
	cr_assert_not_null(st);
	store_point_free(begin_ok(st, 1, 0));
	store_free(st);
	cr_assert_eq(rename(onprem[0], moved), 0);
	write_file(onprem[0], "mine");
	cr_assert_eq(store_target_unmake(gdir, "test"), 0);
	cr_assert(file_is(onprem[0], "mine"), "a file the begin did not make is left");
	cr_assert_eq(access(moved, F_OK), 0, "nothing but the recorded path is looked at");
	cr_assert_eq(stat(onprem[1], &sb), 0);
	cr_assert_eq(sb.st_size, 0, "vdb's image still undone");

	/* 3. A crash after the record, before the image's identity was: the
	 * temporary image is ours (removed), the file at the path is not. */
	fresh_root(root, gdir, true);
	write_file(temp[0], "half an image");
	made_record(root, "vda", onprem[0], temp[0], false, false);
	cr_assert_eq(store_target_unmake(gdir, "test"), 0);
	cr_assert_eq(access(temp[0], F_OK), -1, "the temporary image is removed");
	cr_assert(file_is(onprem[0], "mine"), "the file at the path is left");

	/* 4. A crash after the image's identity, before its rename: an
	 * abort removes it; a begin places that very image. */
	cr_assert_eq(unlink(onprem[0]), 0);
	for (int round = 0; round < 2; round++) {
		fresh_root(root, gdir, true);
		fd = open(temp[0], O_WRONLY | O_CREAT | O_EXCL, 0644);
		cr_assert_geq(fd, 0);
		cr_assert_eq(ftruncate(fd, DISK_SIZE), 0);
		cr_assert_eq(fstat(fd, &sb), 0);
		ino = sb.st_ino;
		close(fd);
		made_record(root, "vda", onprem[0], temp[0], false, true);
		if (round == 0) {
			cr_assert_eq(store_target_unmake(gdir, "test"), 0);
			cr_assert_eq(access(temp[0], F_OK), -1, "the made temporary image is removed");
			cr_assert_eq(access(onprem[0], F_OK), -1);
			continue;
		}
		st = store_open_target(root, disks, 2);
		cr_assert_not_null(st);
		store_point_free(begin_ok(st, 1, 0));
		store_free(st);
		cr_assert_eq(stat(onprem[0], &sb), 0);
		cr_assert_eq(sb.st_ino, ino, "the begin placed the image it had made");
		cr_assert_eq(access(temp[0], F_OK), -1);
	}
}
