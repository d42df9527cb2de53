/* Unit tests for replicator/receiver/rpohist: the dashboard's RPO history
 * stays under its size bound whatever the number of cycles, keeps the
 * newest records, survives a torn record, and thins for the 7 d chart. */
#define _GNU_SOURCE /* nftw */
#include "replicator/receiver/rpohist.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/tmpdir.h"

static char dir[64];

static char *
hist_path(void)
{
	char *p;

	tmpdir_make(dir, sizeof(dir), "rpohist");
	p = rpohist_path(dir, "web");
	cr_assert_not_null(p);
	return p;
}

static struct rpohist_rec
rec(uint64_t i)
{
	return (struct rpohist_rec){ 1000 + i * 10, i, 20 + i % 7, 5 };
}

Test(rpohist, append_read_in_order)
{
	char *p = hist_path();
	struct rpohist_rec *v;
	size_t n;

	cr_assert_eq(rpohist_read(p, 1 << 20, 0, &v, &n), 0, "a missing file is no records");
	cr_assert_eq(n, 0);
	free(v);
	for (uint64_t i = 1; i <= 10; i++) {
		struct rpohist_rec r = rec(i);

		cr_assert_eq(rpohist_append(p, &r, 1 << 20), 0);
	}
	cr_assert_eq(rpohist_read(p, 1 << 20, 0, &v, &n), 0);
	cr_assert_eq(n, 10);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(v[i].point, i + 1);
	free(v);
	/* since: records at or after it only */
	cr_assert_eq(rpohist_read(p, 1 << 20, 1000 + 8 * 10, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(v[0].point, 8);
	free(v);
	free(p);
	tmpdir_remove(dir);
}

Test(rpohist, bounded_after_many_cycles)
{
	char *p = hist_path();
	const uint64_t max = 4096;
	struct rpohist_rec *v;
	struct stat sb;
	size_t n;

	for (uint64_t i = 1; i <= 2000; i++) {
		struct rpohist_rec r = rec(i);

		cr_assert_eq(rpohist_append(p, &r, max), 0);
		cr_assert_eq(stat(p, &sb), 0);
		cr_assert_leq((uint64_t)sb.st_size, max, "cycle %llu: %lld bytes",
			      (unsigned long long)i, (long long)sb.st_size);
	}
	cr_assert_eq(rpohist_read(p, max, 0, &v, &n), 0);
	cr_assert_geq(n, max / 2 / RPOHIST_REC_SIZE, "at least the newest half is kept");
	cr_assert_eq(v[n - 1].point, 2000, "the newest record is last");
	for (size_t i = 1; i < n; i++)
		cr_assert_eq(v[i].point, v[i - 1].point + 1, "no gap, no reordering");
	free(v);
	free(p);
	tmpdir_remove(dir);
}

Test(rpohist, torn_record_ignored_then_cut)
{
	char *p = hist_path();
	struct rpohist_rec r1 = rec(1), r2 = rec(2), *v;
	struct stat sb;
	size_t n;
	int fd;

	cr_assert_eq(rpohist_append(p, &r1, 1 << 20), 0);
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "torn", 4), 4); /* a crash in the middle of a record */
	close(fd);
	cr_assert_eq(rpohist_read(p, 1 << 20, 0, &v, &n), 0);
	cr_assert_eq(n, 1);
	free(v);
	cr_assert_eq(rpohist_append(p, &r2, 1 << 20), 0);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, 2 * RPOHIST_REC_SIZE);
	cr_assert_eq(rpohist_read(p, 1 << 20, 0, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[1].point, 2);
	free(v);
	free(p);
	tmpdir_remove(dir);
}

Test(rpohist, downsample_keeps_peaks)
{
	struct rpohist_rec in[1000], out[10];
	size_t k;

	for (size_t i = 0; i < 1000; i++)
		in[i] = (struct rpohist_rec){ i * 100, i + 1, i == 537 ? 99999 : 10, 1 };
	/* fits: unchanged */
	k = rpohist_downsample(in, 5, 0, 100000, 10, out);
	cr_assert_eq(k, 5);
	cr_assert_eq(out[4].point, 5);
	/* 1000 records over 10 slices of 10000 ns: one per slice, the peak kept */
	k = rpohist_downsample(in, 1000, 0, 100000, 10, out);
	cr_assert_eq(k, 10);
	cr_assert_eq(out[5].peak_ns, 99999);
	cr_assert_eq(out[5].point, 538);
	for (size_t i = 1; i < k; i++)
		cr_assert_gt(out[i].at_ns, out[i - 1].at_ns);
	/* a window covering half: records outside are left out */
	k = rpohist_downsample(in, 1000, 50000, 100000, 10, out);
	cr_assert_eq(k, 10);
	cr_assert_geq(out[0].at_ns, 50000);
}
