/* Tests of the "libvirt" change source (snapshot/libvirt.c) against a private
 * libvirtd (tests/lib/libvirtd.sh) and real TCG guests (tests/lib/vm.sh):
 * full + incremental chains checked byte for byte, groups, chain breaks,
 * crash cleanup. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "snapshot/libvirt.h"
#include "snapshot/source.h"
#include "tests/unit/helpers.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GRAN (64 * KiB) /* dirty bitmap granularity, dd block size */
#define MAX_LEN (4 * MiB)
#define LOG_MAX (64 * 1024)

static char root[PATH_MAX]; /* source tree: tests/lib lives there */
static char W[64];          /* work dir; short: sockets live below it */
static char uri[512];
static char state[128];
static virConnectPtr conn;
static struct snap_libvirt_keep *keep; /* begin_log's, when set */

/* ---- harness ---------------------------------------------------------------- */

static int
is_root(const char *d)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/tests/lib/libvirtd.sh", d);
	return access(p, X_OK) == 0;
}

/* The tree is the current directory (make) or above the test binary. */
static void
find_root(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (getcwd(root, sizeof(root)) && is_root(root))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert(n > 0);
	exe[n] = '\0';
	for (char *s = strrchr(exe, '/'); s; s = strrchr(exe, '/')) {
		*s = '\0';
		if (is_root(exe)) {
			snprintf(root, sizeof(root), "%s", exe);
			return;
		}
	}
	cr_assert_fail("cannot find tests/lib from %s", root);
}

/* Runs a bash snippet with tests/lib/vm.sh loaded; its stdout goes to out
 * (if given). Test-only: every path in here is our own. */
static int
bash(char *out, size_t outsz, const char *fmt, ...)
{
	char cmd[2048], script[128], outf[128], full[512];
	va_list ap;
	FILE *f;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(script, sizeof(script), "%s/cmd.sh", W);
	snprintf(outf, sizeof(outf), "%s/cmd.out", W);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fprintf(f, "set -e\ncd '%s'\n. tests/lib/vm.sh\nexport VM_URI='%s' VM_DIR='%s/vm'\n%s\n",
		root, uri, W, cmd);
	fclose(f);
	snprintf(full, sizeof(full), "bash %s >%s", script, outf);
	rc = system(full);
	if (out) {
		size_t n = 0;
		f = fopen(outf, "r");
		cr_assert_not_null(f);
		n = fread(out, 1, outsz - 1, f);
		out[n] = '\0';
		fclose(f);
	}
	return rc;
}

static void
setup(void)
{
	char out[512];

	find_root();
	snprintf(W, sizeof(W), "/tmp/nlv-XXXXXX");
	cr_assert_not_null(mkdtemp(W));
	snprintf(state, sizeof(state), "%s/state", W);
	cr_assert_eq(bash(out, sizeof(out), "tests/lib/libvirtd.sh start %s/lv", W), 0,
		     "private libvirtd did not start");
	out[strcspn(out, "\n")] = '\0';
	snprintf(uri, sizeof(uri), "%s", out);
	conn = virConnectOpen(uri);
	cr_assert_not_null(conn, "connect %s: %s", uri, virGetLastErrorMessage());
}

static void
teardown(void)
{
	char cmd[256];

	if (conn)
		virConnectClose(conn);
	conn = NULL;
	bash(NULL, 0, "tests/lib/libvirtd.sh stop %s/lv", W);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", W);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", W);
}

TestSuite(libvirt_source, .init = setup, .fini = teardown, .timeout = 300);

/* Defines and starts NAME from an overlay of the test image, with a fresh
 * qcow2 data disk of data_mib MiB as vdb (0 = none). */
static void
vm_boot(const char *name, unsigned data_mib)
{
	char data[128] = "";

	cr_assert_eq(bash(NULL, 0, "qemu-img create -q -f qcow2 -b "
			  "\"$(tests/lib/vm-image.sh)\" -F qcow2 %s/%s-boot.qcow2",
			  W, name), 0, "overlay for %s", name);
	if (data_mib) {
		snprintf(data, sizeof(data), "%s/%s-data.qcow2", W, name);
		cr_assert_eq(bash(NULL, 0, "qemu-img create -q -f qcow2 %s %uM",
				  data, data_mib), 0);
	}
	cr_assert_eq(bash(NULL, 0, "vm_define_start %s %s/%s-boot.qcow2 %s", name,
			  W, name, data), 0, "VM %s did not start", name);
}

static void
vm_wait(const char *name)
{
	cr_assert_eq(bash(NULL, 0, "vm_wait_marker %s NESTOR-BOOT-OK 150", name), 0,
		     "VM %s did not boot", name);
}

/* The guest writes `count` 64 KiB blocks of `byte` at block `seek` of dev,
 * flushed (conv=fsync) before this returns. */
static void
gwrite(const char *vm, const char *dev, unsigned seek, unsigned count, int byte)
{
	cr_assert_eq(bash(NULL, 0,
		"vm_run %s 'dd if=/dev/zero bs=65536 count=%u 2>/dev/null | "
		"tr \"\\000\" \"\\%03o\" >/p && dd if=/p of=%s bs=65536 seek=%u "
		"conv=fsync 2>/dev/null'", vm, count, byte, dev, seek), 0,
		"guest %s: write to %s failed", vm, dev);
}

static virDomainPtr
dom_get(const char *name)
{
	virDomainPtr d = virDomainLookupByName(conn, name);

	cr_assert_not_null(d, "domain %s: %s", name, virGetLastErrorMessage());
	return d;
}

/* begin with stderr captured into log (the reasons for full copies). */
static struct snapshot *
begin_log(const char *const *doms, size_t n, uint64_t base, char *log)
{
	char path[128];
	struct snapshot *s;
	int saved, fd;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/begin.log", W);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	s = keep ? snapshot_libvirt_begin_kept(uri, doms, n, state, base, NULL, keep)
		 : snapshot_libvirt_begin(uri, doms, n, state, base);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	len = pread(fd, log, LOG_MAX - 1, 0);
	close(fd);
	log[len > 0 ? len : 0] = '\0';
	fputs(log, stderr); /* keep it visible in the test output */
	return s;
}

static struct snapshot *
begin1(const char *dom, uint64_t base, char *log)
{
	const char *doms[] = { dom };

	return begin_log(doms, 1, base, log);
}

/* ---- copies and checks ---------------------------------------------------------- */


#define MAX_DISKS 4
/* Extents of each disk of the snapshot last verified. */
static struct listing E[MAX_DISKS];

static void
collect(struct snapshot *s, size_t disk, struct listing *e)
{
	listing_collect(s, disk, MAX_LEN, e, 1);
}

static void
copy_path(char *p, size_t sz, const char *kind, const char *disk)
{
	snprintf(p, sz, "%s/%s.%s", W, kind, disk);
}

/* Applies the extents of every disk onto W/copy.<disk> (a full snapshot
 * starts from zeros), reads the whole disk through the same export into
 * W/ref.<disk>, and requires both to be identical. Extents are kept in E. */
static void
verify(struct snapshot *s)
{
	static char buf[MAX_LEN], buf2[MAX_LEN];

	for (size_t k = 0; k < snapshot_ndisks(s); k++) {
		const char *name = snapshot_disk_name(s, k);
		uint64_t size = snapshot_disk_size(s, k);
		char cp[128], rp[128];
		int cfd, rfd;

		copy_path(cp, sizeof(cp), "copy", name);
		copy_path(rp, sizeof(rp), "ref", name);
		if (!snapshot_is_incremental(s))
			unlink(cp);
		else
			cr_assert_eq(access(cp, F_OK), 0, "%s: incremental without a copy", name);
		cfd = open(cp, O_RDWR | O_CREAT, 0600);
		rfd = open(rp, O_RDWR | O_CREAT | O_TRUNC, 0600);
		cr_assert(cfd >= 0 && rfd >= 0);
		if (snapshot_is_incremental(s)) {
			struct stat st;
			cr_assert_eq(fstat(cfd, &st), 0);
			cr_assert_eq((uint64_t)st.st_size, size, "%s: size changed in "
				     "an incremental", name);
		}
		cr_assert_eq(ftruncate(cfd, (off_t)size), 0);
		cr_assert_lt(k, MAX_DISKS);
		collect(s, k, &E[k]);
		for (size_t i = 0; i < E[k].n; i++) {
			struct snap_extent *x = &E[k].v[i];
			if (x->kind == SNAP_DATA)
				cr_assert_eq(snapshot_read(s, k, x->offset, buf, x->length), 0);
			else
				memset(buf, 0, x->length);
			cr_assert_eq(pwrite(cfd, buf, x->length, (off_t)x->offset),
				     (ssize_t)x->length);
		}
		for (uint64_t off = 0; off < size; off += MAX_LEN) {
			size_t n = size - off < MAX_LEN ? size - off : MAX_LEN;
			cr_assert_eq(snapshot_read(s, k, off, buf, n), 0);
			cr_assert_eq(pwrite(rfd, buf, n, (off_t)off), (ssize_t)n);
			cr_assert_eq(pread(cfd, buf2, n, (off_t)off), (ssize_t)n);
			cr_assert(memcmp(buf, buf2, n) == 0,
				  "%s: copy differs from the snapshot in [%llu, +%zu)",
				  name, (unsigned long long)off, n);
		}
		close(cfd);
		close(rfd);
	}
}

/* begin1, which must succeed with (1) or without (0) an incremental, and
 * whose extents verify. */
static struct snapshot *
begin_verified(const char *dom, uint64_t base, char *log, int incremental)
{
	struct snapshot *s = begin1(dom, base, log);

	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), incremental, "base %llu",
		     (unsigned long long)base);
	verify(s);
	return s;
}

static size_t
disk_index(struct snapshot *s, const char *name)
{
	for (size_t k = 0; k < snapshot_ndisks(s); k++)
		if (strcmp(snapshot_disk_name(s, k), name) == 0)
			return k;
	cr_assert_fail("no disk %s in the snapshot", name);
	return 0;
}

/* Every byte of the copy of disk in [seek, +count) 64 KiB blocks is byte. */
static void
copy_has(const char *disk, unsigned seek, unsigned count, int byte)
{
	static char buf[GRAN];
	char cp[128];
	int fd;

	copy_path(cp, sizeof(cp), "copy", disk);
	fd = open(cp, O_RDONLY);
	cr_assert(fd >= 0);
	for (unsigned b = seek; b < seek + count; b++) {
		cr_assert_eq(pread(fd, buf, GRAN, (off_t)(b * GRAN)), (ssize_t)GRAN);
		for (size_t i = 0; i < GRAN; i++)
			cr_assert_eq((unsigned char)buf[i], byte,
				     "%s: byte %llu is 0x%02x, want 0x%02x", disk,
				     (unsigned long long)(b * GRAN + i),
				     (unsigned char)buf[i], byte);
	}
	close(fd);
}

/* The extents e (of one disk) cover [seek, +count) 64 KiB blocks with data. */
static void
assert_covered(const struct listing *e, const char *disk, unsigned seek, unsigned count)
{
	uint64_t pos = seek * GRAN, hi = (seek + count) * GRAN;

	for (size_t i = 0; i < e->n && pos < hi; i++) {
		const struct snap_extent *x = &e->v[i];
		if (x->kind == SNAP_DATA && x->offset <= pos && x->offset + x->length > pos)
			pos = x->offset + x->length;
	}
	cr_assert_geq(pos, hi, "%s: write at block %u+%u not covered by the "
		      "extents (covered up to %llu)", disk, seek, count,
		      (unsigned long long)pos);
}

static int
ncheckpoints(virDomainPtr d, char *name, size_t namesz)
{
	virDomainCheckpointPtr *cps = NULL;
	int n = virDomainListAllCheckpoints(d, &cps, 0);

	cr_assert_geq(n, 0, "list checkpoints: %s", virGetLastErrorMessage());
	if (name && n > 0)
		snprintf(name, namesz, "%s", virDomainCheckpointGetName(cps[0]));
	for (int i = 0; i < n; i++)
		virDomainCheckpointFree(cps[i]);
	free(cps);
	return n;
}

static int
dir_entries(const char *sub)
{
	char path[256];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", state, sub);
	dir = opendir(path);
	cr_assert_not_null(dir, "%s", path);
	while ((e = readdir(dir)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dir);
	return n;
}

/* Nothing left behind: only the base checkpoint, no job, no socket, no
 * scratch file (libvirt removes scratch files shortly after a job ends). */
static void
assert_clean(const char *dom)
{
	virDomainPtr d = dom_get(dom);
	virDomainJobInfo ji;
	char name[128] = "";
	int n = ncheckpoints(d, name, sizeof(name));

	cr_assert_eq(n, 1, "%s: %d checkpoints, want only the base", dom, n);
	cr_assert_eq(strncmp(name, "nestor-", 7), 0, "checkpoint %s", name);
	cr_assert_eq(virDomainGetJobInfo(d, &ji), 0);
	cr_assert_eq(ji.type, VIR_DOMAIN_JOB_NONE, "%s: a job is left", dom);
	cr_assert_eq(dir_entries("run"), 0, "sockets left in %s/run", state);
	for (int i = 0; i < 50 && dir_entries("scratch") != 0; i++)
		usleep(100 * 1000);
	cr_assert_eq(dir_entries("scratch"), 0, "scratch files left");
	virDomainFree(d);
}

static struct listing *
ex(struct snapshot *s, const char *disk)
{
	return &E[disk_index(s, disk)];
}

/* Incremental extents stay close to what the guest wrote. */
static void
assert_small(struct snapshot *s, const char *disk, uint64_t written)
{
	uint64_t got = ex(s, disk)->bytes;

	cr_assert_leq(got, written + written / 5 + GRAN, "%s: %llu extent bytes for "
		      "%llu written", disk, (unsigned long long)got,
		      (unsigned long long)written);
}

static void
commit_free(struct snapshot *s, uint64_t point)
{
	cr_assert_eq(snapshot_commit(s, point), 0);
	snapshot_free(s);
}

/* An incremental cycle of the chain test: two guest writes on vdb. */
struct two_writes {
	unsigned seek[2], count[2];
	int byte[2];
};

/* (1) full, then incrementals that cover exactly the guest's writes */
static void
chain_full(char *log, uint64_t *point)
{
	struct snapshot *s = begin1("a", 0, log);

	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_eq(snapshot_ndisks(s), 2);
	cr_assert_str_eq(snapshot_disk_name(s, 0), "a.vda");
	cr_assert_str_eq(snapshot_disk_name(s, 1), "a.vdb");
	cr_assert_eq(snapshot_disk_size(s, 1), 16 * MiB);
	cr_assert_eq(snapshot_resumable(s), 0);
	cr_assert_str_eq(snapshot_libvirt_consistency(s), "crash-consistent");
	cr_assert_not_null(strstr(log, "first run"));
	verify(s);
	cr_assert_gt(ex(s, "a.vda")->bytes, 1 * MiB, "the boot disk has data");
	commit_free(s, ++*point);
}

static void
chain_incrementals(char *log, uint64_t *point)
{
	static const struct two_writes cycles[] = {
		{ { 16, 128 }, { 2, 1 }, { 0x11, 0x22 } },
		{ { 16, 200 }, { 1, 4 }, { 0x33, 0x44 } },
		{ { 0, 255 }, { 1, 1 }, { 0x55, 0x66 } }, /* 255: the last block */
	};
	struct snapshot *s;

	for (size_t i = 0; i < sizeof(cycles) / sizeof(cycles[0]); i++) {
		const struct two_writes *c = &cycles[i];

		for (int w = 0; w < 2; w++)
			gwrite("a", "/dev/vdb", c->seek[w], c->count[w], c->byte[w]);
		s = begin_verified("a", *point, log, 1);
		for (int w = 0; w < 2; w++)
			assert_covered(ex(s, "a.vdb"), "a.vdb", c->seek[w], c->count[w]);
		assert_small(s, "a.vdb", (c->count[0] + c->count[1]) * GRAN);
		if (i == 0)
			cr_assert_eq(ex(s, "a.vda")->bytes, 0, "nothing wrote the boot disk");
		for (int w = 0; w < 2; w++)
			copy_has("a.vdb", c->seek[w], c->count[w], c->byte[w]);
		if (i == 1) /* the first write's second block is the older one */
			copy_has("a.vdb", 17, 1, 0x11);
		commit_free(s, ++*point);
	}
}

/* an aborted cycle keeps the old base: its changes come again */
static void
chain_aborted(char *log, uint64_t *point)
{
	struct snapshot *s;

	gwrite("a", "/dev/vdb", 50, 2, 0x77);
	s = begin1("a", *point, log);
	cr_assert_not_null(s);
	snapshot_free(s);
	s = begin_verified("a", *point, log, 1);
	assert_covered(ex(s, "a.vdb"), "a.vdb", 50, 2);
	copy_has("a.vdb", 50, 2, 0x77);
	commit_free(s, ++*point);
}

/* (3) the base checkpoint deleted by hand: full, with the reason */
static void
chain_base_deleted(virDomainPtr d, char *log, uint64_t *point)
{
	struct snapshot *s;
	char cpname[128];

	cr_assert_eq(ncheckpoints(d, cpname, sizeof(cpname)), 1);
	{
		virDomainCheckpointPtr cp = virDomainCheckpointLookupByName(d, cpname, 0);
		cr_assert_not_null(cp);
		cr_assert_eq(virDomainCheckpointDelete(cp, 0), 0);
		virDomainCheckpointFree(cp);
	}
	s = begin1("a", *point, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_not_null(strstr(log, "missing"), "no reason logged");
	cr_assert_not_null(strstr(log, cpname));
	verify(s);
	copy_has("a.vdb", 50, 2, 0x77);
	commit_free(s, ++*point);
}

/* (4) a resized disk: full at the new size, then incremental again */
static void
chain_resized(virDomainPtr d, char *log, uint64_t *point)
{
	struct snapshot *s;

	cr_assert_eq(virDomainBlockResize(d, "vdb", 20 * MiB,
					  VIR_DOMAIN_BLOCK_RESIZE_BYTES), 0,
		     "blockresize: %s", virGetLastErrorMessage());
	s = begin1("a", *point, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_not_null(strstr(log, "resized"), "no reason logged");
	cr_assert_eq(snapshot_disk_size(s, disk_index(s, "a.vdb")), 20 * MiB);
	verify(s);
	copy_has("a.vdb", 255, 1, 0x66);
	commit_free(s, ++*point);
	gwrite("a", "/dev/vdb", 100, 1, 0x88);
	s = begin_verified("a", *point, log, 1);
	assert_covered(ex(s, "a.vdb"), "a.vdb", 100, 1);
	assert_small(s, "a.vdb", GRAN);
	commit_free(s, ++*point);
}

/* (5) 20 cycles, 5 of them aborted: nothing accumulates */
static void
chain_idle_cycles(char *log, uint64_t *point)
{
	struct snapshot *s;

	for (int i = 0; i < 20; i++) {
		s = begin1("a", *point, log);
		cr_assert_not_null(s, "cycle %d", i);
		cr_assert_eq(snapshot_is_incremental(s), 1, "cycle %d", i);
		for (size_t k = 0; k < snapshot_ndisks(s); k++) {
			collect(s, k, &E[0]);
			cr_assert_eq(E[0].bytes, 0, "idle guest, cycle %d", i);
		}
		if (i % 4 == 3)
			snapshot_free(s);
		else
			commit_free(s, ++*point);
	}
	assert_clean("a");
}

/* (3) the guest destroyed mid-cycle: a clean failure; the next begin
 * needs a running domain, then cleans up and succeeds */
static void
chain_destroyed(virDomainPtr d, char *log, uint64_t *point)
{
	struct snapshot *s;

	gwrite("a", "/dev/vdb", 120, 1, 0x99);
	s = begin1("a", *point, log);
	cr_assert_not_null(s);
	cr_assert_eq(virDomainDestroy(d), 0);
	{
		static char buf[GRAN];
		struct snap_extent x;
		int r = snapshot_next_extent(s, 1, MAX_LEN, &x);
		if (r >= 0)
			r = snapshot_read(s, 1, 0, buf, GRAN);
		cr_assert_eq(r, -1, "reads after the guest died must fail");
	}
	snapshot_free(s);
	cr_assert_null(begin1("a", *point, log));
	cr_assert_not_null(strstr(log, "domain a is not running"), "log: %s", log);
	/* paused at start: the guest need not boot for its disks to be read */
	cr_assert_eq(virDomainCreateWithFlags(d, VIR_DOMAIN_START_PAUSED), 0);
	s = begin1("a", *point, log);
	cr_assert_not_null(s);
	verify(s);
	copy_has("a.vdb", 120, 1, 0x99);
	copy_has("a.vdb", 100, 1, 0x88);
	commit_free(s, ++*point);
	assert_clean("a");
}

/* One guest: full, three incrementals with guest writes in between, an
 * aborted cycle, a deleted checkpoint, a resize, 20 cycles with 5 aborted,
 * a guest destroyed mid-cycle. */
Test(libvirt_source, chain)
{
	static char log[LOG_MAX];
	virDomainPtr d;
	uint64_t point = 0;

	vm_boot("a", 16);
	vm_wait("a");

	chain_full(log, &point);
	chain_incrementals(log, &point);
	chain_aborted(log, &point);
	d = dom_get("a");
	chain_base_deleted(d, log, &point);
	chain_resized(d, log, &point);
	chain_idle_cycles(log, &point);
	chain_destroyed(d, log, &point);
	virDomainFree(d);
}

static int
dom_state(const char *name)
{
	virDomainPtr d = dom_get(name);
	int st = 0, reason = 0;

	cr_assert_eq(virDomainGetState(d, &st, &reason, 0), 0);
	virDomainFree(d);
	return st;
}

/* (2) Two guests, three disks, one instant: writes before begin are in the
 * point, writes after it are not; then one incremental for the group. */
Test(libvirt_source, group)
{
	static char log[LOG_MAX];
	const char *doms[] = { "b1", "b2" };
	const char *target;
	size_t idx;
	struct snapshot *s;

	vm_boot("b1", 16);
	vm_boot("b2", 0);
	vm_wait("b1");
	vm_wait("b2");
	/* b2 has no data disk: it writes its boot disk's unused tail (the
	 * guest runs from its initramfs) */
	gwrite("b1", "/dev/vdb", 16, 2, 0x21);
	gwrite("b2", "/dev/vda", 320, 2, 0x22);
	s = begin_log(doms, 2, 0, log);
	cr_assert_not_null(s);
	gwrite("b1", "/dev/vdb", 16, 2, 0x31);
	gwrite("b2", "/dev/vda", 320, 2, 0x32);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_eq(snapshot_ndisks(s), 3);
	cr_assert_str_eq(snapshot_disk_name(s, 0), "b1.vda");
	cr_assert_str_eq(snapshot_disk_name(s, 1), "b1.vdb");
	cr_assert_str_eq(snapshot_disk_name(s, 2), "b2.vda");
	cr_assert_eq(snapshot_libvirt_nvms(s), 2);
	cr_assert_str_eq(snapshot_libvirt_vm_name(s, 1), "b2");
	cr_assert_eq(snapshot_libvirt_vm_disk(s, 0, 1, &target, &idx), 0);
	cr_assert_str_eq(target, "vdb");
	cr_assert_eq(idx, 1);
	cr_assert_eq(snapshot_libvirt_vm_disk(s, 1, 0, &target, &idx), 0);
	cr_assert_str_eq(target, "vda");
	cr_assert_eq(idx, 2);
	cr_assert_eq(snapshot_libvirt_vm_disk(s, 1, 1, &target, &idx), -1);
	cr_assert_null(snapshot_libvirt_vm_name(s, 2));
	cr_assert_not_null(strstr(snapshot_libvirt_vm_xml(s, 0), "<name>b1</name>"));
	cr_assert_not_null(strstr(snapshot_libvirt_vm_xml(s, 1), "<name>b2</name>"));
	cr_assert_str_eq(snapshot_libvirt_consistency(s), "crash-consistent");
	/* suspended for the instant the jobs started, running again now */
	cr_assert_eq(dom_state("b1"), VIR_DOMAIN_RUNNING);
	cr_assert_eq(dom_state("b2"), VIR_DOMAIN_RUNNING);
	verify(s);
	copy_has("b1.vdb", 16, 2, 0x21);
	copy_has("b2.vda", 320, 2, 0x22);
	commit_free(s, 1);

	s = begin_log(doms, 2, 1, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 1);
	verify(s);
	assert_covered(ex(s, "b1.vdb"), "b1.vdb", 16, 2);
	assert_covered(ex(s, "b2.vda"), "b2.vda", 320, 2);
	assert_small(s, "b1.vdb", 2 * GRAN);
	assert_small(s, "b2.vda", 2 * GRAN);
	cr_assert_eq(ex(s, "b1.vda")->bytes, 0);
	copy_has("b1.vdb", 16, 2, 0x31);
	copy_has("b2.vda", 320, 2, 0x32);
	commit_free(s, 2);
	assert_clean("b1");
	assert_clean("b2");
}

/* A domain defined from C: vda qcow2, optional vdb raw and vdc read-only raw,
 * an empty cdrom. Started paused (its disks are live all the same and no CPU
 * goes into booting it) unless `start` is 0. */
static void
dom_define(const char *name, const char *vda, const char *vdb_raw,
	   const char *vdc_ro, int start)
{
	char xml[4096], vdb[512] = "", vdc[512] = "";
	virDomainPtr d;

	if (vdb_raw)
		snprintf(vdb, sizeof(vdb), "<disk type='file' device='disk'>"
			 "<driver name='qemu' type='raw'/><source file='%s'/>"
			 "<target dev='vdb' bus='virtio'/></disk>", vdb_raw);
	if (vdc_ro)
		snprintf(vdc, sizeof(vdc), "<disk type='file' device='disk'>"
			 "<driver name='qemu' type='raw'/><source file='%s'/>"
			 "<target dev='vdc' bus='virtio'/><readonly/></disk>", vdc_ro);
	snprintf(xml, sizeof(xml),
		 "<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory>"
		 "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
		 "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
		 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
		 "<source file='%s'/><target dev='vda' bus='virtio'/></disk>%s%s"
		 "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/>"
		 "<readonly/></disk><memballoon model='none'/></devices></domain>",
		 name, vda, vdb, vdc);
	d = virDomainDefineXML(conn, xml);
	cr_assert_not_null(d, "define %s: %s", name, virGetLastErrorMessage());
	if (start)
		cr_assert_eq(virDomainCreateWithFlags(d, VIR_DOMAIN_START_PAUSED), 0,
			     "start %s: %s", name, virGetLastErrorMessage());
	virDomainFree(d);
}

/* Refused arguments, unknown and shut-off domains; a raw disk (no
 * checkpoints possible) is a full copy every cycle, with the reason. */
Test(libvirt_source, errors_and_raw)
{
	static char log[LOG_MAX];
	const char *badname[] = { "../x" };
	const char *twice[] = { "r1", "r1" };
	char vda[128], vdb[128], vdc[128];
	struct snapshot *s;
	int fd;

	cr_assert_null(snapshot_libvirt_begin(uri, badname, 1, state, 0));
	cr_assert_null(snapshot_libvirt_begin(uri, twice, 2, state, 0));
	cr_assert_null(snapshot_libvirt_begin(uri, twice, 0, state, 0));
	cr_assert_null(snapshot_libvirt_begin(uri, twice, 1, NULL, 0));
	cr_assert_eq(snapshot_libvirt_nvms(NULL), 0);
	cr_assert_null(snapshot_libvirt_consistency(NULL));

	cr_assert_null(begin1("nosuch", 0, log));
	cr_assert_not_null(strstr(log, "nosuch"));

	snprintf(vda, sizeof(vda), "%s/r-vda.qcow2", W);
	snprintf(vdb, sizeof(vdb), "%s/r-vdb.raw", W);
	snprintf(vdc, sizeof(vdc), "%s/r-vdc.raw", W);
	cr_assert_eq(bash(NULL, 0, "qemu-img create -q -f qcow2 %s 8M && "
			  "qemu-img create -q -f raw %s 8M && "
			  "qemu-img create -q -f raw %s 1M && "
			  "qemu-io -f qcow2 -c 'write -P 0x5c 1M 192k' %s >/dev/null",
			  vda, vdb, vdc, vda), 0);
	fd = open(vdb, O_WRONLY);
	cr_assert(fd >= 0);
	{
		static char pat[4 * GRAN];
		memset(pat, 0xab, sizeof(pat));
		cr_assert_eq(pwrite(fd, pat, sizeof(pat), 32 * GRAN), (ssize_t)sizeof(pat));
	}
	close(fd);

	dom_define("off1", vda, vdb, vdc, 0);
	cr_assert_null(begin1("off1", 0, log));
	cr_assert_not_null(strstr(log, "domain off1 is not running"), "log: %s", log);

	dom_define("r1", vda, vdb, vdc, 1);
	s = begin1("r1", 0, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_ndisks(s), 2, "read-only disks and cdroms are excluded");
	cr_assert_str_eq(snapshot_disk_name(s, 1), "r1.vdb");
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_not_null(strstr(log, "r1.vdb: full copy: raw disk"), "log: %s", log);
	verify(s);
	copy_has("r1.vdb", 32, 4, 0xab);
	copy_has("r1.vda", 16, 3, 0x5c);
	cr_assert_eq(ex(s, "r1.vda")->bytes, 3 * GRAN, "a full copy skips holes");
	commit_free(s, 1);

	s = begin1("r1", 1, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0, "raw disks are always full");
	cr_assert_not_null(strstr(log, "r1.vdb: full copy: raw disk"));
	cr_assert_null(strstr(log, "r1.vda: full copy"), "vda's chain is intact");
	verify(s);
	copy_has("r1.vdb", 32, 4, 0xab);
	commit_free(s, 2);
	assert_clean("r1");
}

/* QEMU killed: its new bitmap never reached the image, libvirt's checkpoint
 * is inconsistent. The next begin is full, says why, and the chain goes on. */
Test(libvirt_source, inconsistent_checkpoint)
{
	static char log[LOG_MAX];
	char vda[128];
	struct snapshot *s;
	virDomainPtr d;

	snprintf(vda, sizeof(vda), "%s/k-vda.qcow2", W);
	cr_assert_eq(bash(NULL, 0, "qemu-img create -q -f qcow2 %s 8M && "
			  "qemu-io -f qcow2 -c 'write -P 0x5d 2M 64k' %s >/dev/null",
			  vda, vda), 0);
	dom_define("k1", vda, NULL, NULL, 1);
	s = begin1("k1", 0, log);
	cr_assert_not_null(s);
	verify(s);
	commit_free(s, 1);
	cr_assert_eq(bash(NULL, 0, "kill -9 \"$(vm_qemu_pid k1)\""), 0);
	for (int i = 0; i < 100 && dom_state("k1") != VIR_DOMAIN_SHUTOFF; i++)
		usleep(100 * 1000);
	cr_assert_eq(dom_state("k1"), VIR_DOMAIN_SHUTOFF);
	d = dom_get("k1");
	cr_assert_eq(virDomainCreateWithFlags(d, VIR_DOMAIN_START_PAUSED), 0);
	virDomainFree(d);
	s = begin1("k1", 1, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	cr_assert_not_null(strstr(log, "inconsistent"), "log: %s", log);
	verify(s);
	copy_has("k1.vda", 32, 1, 0x5d);
	commit_free(s, 2);
	assert_clean("k1");
	s = begin_verified("k1", 2, log, 1);
	cr_assert_eq(ex(s, "k1.vda")->bytes, 0);
	commit_free(s, 3);
}

/* A stale checkpoint of ours (the name a killed cycle could leave). */
static void
stale_checkpoint(const char *dom, const char *name)
{
	char xml[512];
	virDomainPtr d = dom_get(dom);
	virDomainCheckpointPtr cp;

	snprintf(xml, sizeof(xml), "<domaincheckpoint><name>%s</name><disks>"
		 "<disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>", name);
	cp = virDomainCheckpointCreateXML(d, xml, 0);
	cr_assert_not_null(cp, "checkpoint %s: %s", name, virGetLastErrorMessage());
	virDomainCheckpointFree(cp);
	virDomainFree(d);
}

static int
dom_ncheckpoints(const char *dom)
{
	virDomainPtr d = dom_get(dom);
	int n = ncheckpoints(d, NULL, 0);

	virDomainFree(d);
	return n;
}

/* A daemon's cycles (snapshot_libvirt_begin_kept): one connection, the
 * leftovers check skipped only after a clean commit of the same domains,
 * the replaced checkpoint deleted once the next point's reads are done,
 * and a redefined domain seen as without a keep. */
Test(libvirt_source, kept)
{
	static char log[LOG_MAX];
	const char *nosuch[] = { "nosuch" };
	char vda[128], xml[4096];
	struct snapshot *s;
	virDomainPtr d;
	char *def;

	snprintf(vda, sizeof(vda), "%s/q-vda.qcow2", W);
	cr_assert_eq(bash(NULL, 0, "qemu-img create -q -f qcow2 %s 8M && "
			  "qemu-io -f qcow2 -c 'write -P 0x5e 1M 64k' %s >/dev/null",
			  vda, vda), 0);
	dom_define("q1", vda, NULL, NULL, 1);
	keep = snapshot_libvirt_keep_new();
	cr_assert_not_null(keep);

	/* a failed begin drops the connection; the next one opens another */
	cr_assert_null(begin1("nosuch", 0, log));
	cr_assert_null(snapshot_libvirt_begin_kept(uri, nosuch, 1, state, 0, NULL, keep));
	s = begin1("q1", 0, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0);
	verify(s);
	copy_has("q1.vda", 16, 1, 0x5e);
	commit_free(s, 1);
	cr_assert_eq(dom_ncheckpoints("q1"), 1);

	/* The commit of 2 keeps checkpoint 1 for later; 3's reads done
	 * delete it while 3 is in flight. */
	s = begin_verified("q1", 1, log, 1);
	commit_free(s, 2);
	cr_assert_eq(dom_ncheckpoints("q1"), 2, "the replaced checkpoint waits");
	s = begin_verified("q1", 2, log, 1);
	cr_assert_eq(dom_ncheckpoints("q1"), 3);
	snapshot_reads_done(s, 3);
	cr_assert_eq(dom_ncheckpoints("q1"), 2, "deleted once the reads were done");
	commit_free(s, 3);

	/* Clean: the next begin does not look for leftovers (a stale
	 * checkpoint made now stays); that snapshot is aborted, so the one
	 * after it looks again and deletes it. */
	stale_checkpoint("q1", "nestor-stale-1");
	s = begin_verified("q1", 3, log, 1);
	cr_assert_null(strstr(log, "nestor-stale-1"), "log: %s", log);
	snapshot_free(s);
	cr_assert_eq(dom_ncheckpoints("q1"), 3, "base, replaced one, stale one");
	s = begin_verified("q1", 3, log, 1);
	cr_assert_not_null(strstr(log, "deleting stale checkpoint nestor-stale-1"), "log: %s", log);
	commit_free(s, 4);

	/* Redefined under the same name (new UUID, same disk): a full copy,
	 * never an incremental through the kept state. */
	d = dom_get("q1");
	def = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	cr_assert_not_null(def);
	cr_assert_eq(virDomainDestroy(d), 0);
	cr_assert_eq(virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA), 0,
		     "undefine: %s", virGetLastErrorMessage());
	virDomainFree(d);
	{
		/* the same definition without its UUID: libvirt makes a new one */
		char *u = strstr(def, "<uuid>"), *e = u ? strstr(u, "</uuid>") : NULL;

		cr_assert(u && e);
		snprintf(xml, sizeof(xml), "%.*s%s", (int)(u - def), def, e + strlen("</uuid>"));
	}
	free(def);
	d = virDomainDefineXML(conn, xml);
	cr_assert_not_null(d, "define: %s", virGetLastErrorMessage());
	cr_assert_eq(virDomainCreateWithFlags(d, VIR_DOMAIN_START_PAUSED), 0);
	virDomainFree(d);
	s = begin1("q1", 4, log);
	cr_assert_not_null(s);
	cr_assert_eq(snapshot_is_incremental(s), 0, "a redefined domain is copied in full");
	cr_assert_not_null(strstr(log, "redefined"), "log: %s", log);
	verify(s);
	copy_has("q1.vda", 16, 1, 0x5e);
	commit_free(s, 5);
	snapshot_libvirt_keep_free(keep);
	keep = NULL;
	assert_clean("q1");
}
