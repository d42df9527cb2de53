/* Unit tests of common/qcow2new against the real qemu-img and qemu-io: the
 * image it writes is what `qemu-img create` makes (info, check, file size),
 * qemu reads through it to its backing file and writes into it, and bad
 * arguments leave no file. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/qcow2new.h"
#include "tmpdir.h"

TMPDIR_SUITE(qcow2new, dir, "nestor-qcow2new");

/* Run a shell command in dir; its exit status. */
static int
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n, st;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert(n > 0 && (size_t)n < sizeof(cmd));
	st = system(cmd);
	cr_assert(st != -1 && WIFEXITED(st), "%s", cmd);
	return WEXITSTATUS(st);
}

/* `qemu-img ARGS --output=json FILE` (in dir) parsed. */
static json_t *
img_json(const char *what, const char *file)
{
	char cmd[512], *buf = NULL;
	size_t cap = 0, len = 0;
	FILE *f;
	json_t *j;

	snprintf(cmd, sizeof(cmd), "cd %s && qemu-img %s --output=json %s", dir, what, file);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	for (;;) {
		if (len + 4096 > cap)
			cr_assert_not_null(buf = realloc(buf, cap += 65536));
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	pclose(f);
	j = json_loads(buf, 0, NULL);
	cr_assert_not_null(j, "qemu-img %s %s said: %s", what, file, buf);
	free(buf);
	return j;
}

/* The same value under key in a and b, or absent from both. */
static bool
same_key(json_t *a, json_t *b, const char *key)
{
	json_t *va = json_object_get(a, key), *vb = json_object_get(b, key);

	return (!va && !vb) || json_equal(va, vb);
}

/* ours.qcow2 and ref.qcow2 (in dir) end at the same byte. */
static void
same_file_size(uint64_t size)
{
	char a[256], b[256];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "%s/ours.qcow2", dir);
	snprintf(b, sizeof(b), "%s/ref.qcow2", dir);
	cr_assert(stat(a, &sa) == 0 && stat(b, &sb) == 0);
	cr_assert_eq(sa.st_size, sb.st_size, "size %llu: %lld bytes, qemu-img's %lld",
		     (unsigned long long)size, (long long)sa.st_size, (long long)sb.st_size);
}

/* Ours (ours.qcow2) against qemu-img's (ref.qcow2) for one set of
 * arguments: the same info, a clean check with the same end, same size. */
static void
same_as_qemu_img(uint64_t size, const char *backing, const char *fmt)
{
	static const char *const keys[] = { "virtual-size", "cluster-size", "format",
					    "backing-filename", "backing-filename-format",
					    "format-specific", "dirty-flag" };
	char path[256];
	json_t *a, *b, *ca, *cb;

	/* qemu-img check opens the backing file. */
	if (backing)
		cr_assert_eq(sh("cd %s && qemu-img create -q -f %s '%s' 1M", dir, fmt, backing), 0);
	snprintf(path, sizeof(path), "%s/ours.qcow2", dir);
	cr_assert_eq(qcow2new_create("test", path, size, backing, fmt), 0);
	if (backing)
		cr_assert_eq(sh("cd %s && qemu-img create -q -f qcow2 -o cluster_size=65536,"
				"lazy_refcounts=off -u -b '%s' -F %s ref.qcow2 %llu", dir, backing,
				fmt, (unsigned long long)size), 0);
	else
		cr_assert_eq(sh("cd %s && qemu-img create -q -f qcow2 -o cluster_size=65536,"
				"lazy_refcounts=off ref.qcow2 %llu", dir,
				(unsigned long long)size), 0);
	a = img_json("info -U", "ours.qcow2");
	b = img_json("info -U", "ref.qcow2");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert(same_key(a, b, keys[i]), "size %llu backing %s: %s differs",
			  (unsigned long long)size, backing ? backing : "-", keys[i]);
	cr_assert_not_null(json_object_get(a, "format-specific"));
	if (backing)
		cr_assert_str_eq(json_string_value(json_object_get(a, "backing-filename")), backing);
	cr_assert_eq(sh("cd %s && qemu-img check -q ours.qcow2", dir), 0,
		     "qemu-img check found errors or leaks (size %llu)", (unsigned long long)size);
	ca = img_json("check", "ours.qcow2");
	cb = img_json("check", "ref.qcow2");
	cr_assert_not_null(json_object_get(ca, "image-end-offset"));
	cr_assert(same_key(ca, cb, "image-end-offset"));
	cr_assert(same_key(ca, cb, "allocated-clusters"));
	same_file_size(size);
	json_decref(a);
	json_decref(b);
	json_decref(ca);
	json_decref(cb);
	cr_assert_eq(sh("cd %s && rm -f ours.qcow2 ref.qcow2 '%s'", dir, backing ? backing : ""), 0);
}

Test(qcow2new, same_image_as_qemu_img_create)
{
	char abs[128];

	same_as_qemu_img(1u << 20, NULL, NULL);
	same_as_qemu_img(1000, NULL, NULL);                       /* rounded up to 512 */
	same_as_qemu_img((1ull << 30) + 512, "7.qcow2", "qcow2"); /* a third L1 entry */
	/* The target backend's root: an absolute on-prem path. */
	snprintf(abs, sizeof(abs), "%s/on-prem disk,1.img", dir);
	same_as_qemu_img(64ull << 30, abs, "raw");
	same_as_qemu_img(16ull << 40, "123456789.qcow2", "qcow2"); /* L1 of 4 clusters */
	same_as_qemu_img(QCOW2NEW_MAX_SIZE, "1.qcow2", "qcow2");   /* 256 */
}

Test(qcow2new, qemu_reads_through_and_writes_into_it)
{
	char path[256];

	/* A 1 GiB base with data in both halves of its first L2 span. */
	cr_assert_eq(sh("cd %s && qemu-img create -q -f qcow2 base.qcow2 1G && qemu-io -c "
			"'write -P 0xaa 0 2M' -c 'write -P 0xab 600M 1M' base.qcow2 >/dev/null",
			dir), 0);
	snprintf(path, sizeof(path), "%s/top.qcow2", dir);
	cr_assert_eq(qcow2new_create("test", path, 1ull << 30, "base.qcow2", "qcow2"), 0);
	/* Nothing of its own yet: it reads as its base. */
	cr_assert_eq(sh("cd %s && qemu-img compare -q top.qcow2 base.qcow2", dir), 0);
	/* Writes land in it (a new L2 table in each L1 entry, refcounts
	 * grown), the rest still comes from the base, and it checks clean. */
	cr_assert_eq(sh("cd %s && qemu-io -c 'write -P 0xbb 1M 64k' -c 'write -P 0xcc 900M 3M' "
			"top.qcow2 >/dev/null", dir), 0);
	cr_assert_eq(sh("cd %s && qemu-io -c 'read -P 0xaa 0 1M' -c 'read -P 0xbb 1M 64k' "
			"-c 'read -P 0xaa 1114112 983040' -c 'read -P 0xab 600M 1M' "
			"-c 'read -P 0xcc 900M 3M' -c 'read -P 0 903M 1M' top.qcow2 >/dev/null",
			dir), 0);
	cr_assert_neq(sh("cd %s && qemu-io -c 'read -P 0xaa 1M 64k' top.qcow2 >/dev/null 2>&1",
			 dir), 0, "the pattern check cannot fail");
	cr_assert_eq(sh("cd %s && qemu-img check -q top.qcow2", dir), 0);
	cr_assert_eq(sh("cd %s && qemu-img compare -q base.qcow2 top.qcow2 >/dev/null", dir), 1,
		     "the overlay's writes are its own");
}

Test(qcow2new, bad_arguments_leave_no_file)
{
	static const struct {
		uint64_t size;
		const char *backing, *fmt;
	} bad[] = {
		{ 0, NULL, NULL },
		{ QCOW2NEW_MAX_SIZE + 1, NULL, NULL },
		{ 1u << 20, "", "qcow2" },
		{ 1u << 20, "1.qcow2", NULL },
		{ 1u << 20, "1.qcow2", "vmdk" },
	};
	char path[256], name[QCOW2NEW_BACKING_MAX + 2];
	uint8_t buf[2048];

	snprintf(path, sizeof(path), "%s/bad.qcow2", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(qcow2new_create("test", path, bad[i].size, bad[i].backing, bad[i].fmt),
			     -1, "case %zu", i);
		cr_assert_eq(access(path, F_OK), -1, "case %zu left a file", i);
	}
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cr_assert_eq(qcow2new_header(buf, sizeof(buf), 1u << 20, name, "qcow2"), 0);
	name[QCOW2NEW_BACKING_MAX] = '\0';
	cr_assert_gt(qcow2new_header(buf, sizeof(buf), 1u << 20, name, "qcow2"), 0);
	cr_assert_eq(qcow2new_header(buf, 64, 1u << 20, NULL, NULL), 0, "cap too small");
	/* A directory where the file should be: the error is the write's. */
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(qcow2new_create("test", path, 1u << 20, NULL, NULL), -1);
}

/* A backup job's scratch (snapshot/libvirt-job.c): written unsynced over
 * last cycle's, which held the guest's old blocks; the same image as the
 * synced one, nothing of the old file left, and QEMU writes into it. */
Test(qcow2new, unsynced_scratch_replaces_an_old_one)
{
	char a[256], b[256];

	snprintf(a, sizeof(a), "%s/synced.qcow2", dir);
	snprintf(b, sizeof(b), "%s/scratch.qcow2", dir);
	cr_assert_eq(sh("cd %s && qemu-img create -q -f qcow2 scratch.qcow2 2G && qemu-io -c "
			"'write -P 0xee 1500M 8M' scratch.qcow2 >/dev/null", dir), 0);
	cr_assert_eq(qcow2new_create("test", a, 1ull << 30, NULL, NULL), 0);
	cr_assert_eq(qcow2new_write("test", b, 1ull << 30, NULL, NULL, false), 0);
	cr_assert_eq(sh("cmp -s '%s' '%s'", a, b), 0, "the unsynced image differs");
	cr_assert_eq(sh("cd %s && qemu-img check -q scratch.qcow2 && "
			"qemu-io -c 'read -P 0 0 1G' scratch.qcow2 >/dev/null", dir), 0);
	cr_assert_eq(sh("cd %s && qemu-io -c 'write -P 0x5a 512M 1M' scratch.qcow2 >/dev/null && "
			"qemu-io -c 'read -P 0x5a 512M 1M' scratch.qcow2 >/dev/null", dir), 0);
	cr_assert_eq(sh("cd %s && rm -f synced.qcow2 scratch.qcow2", dir), 0);
}
