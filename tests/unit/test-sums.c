/* Unit tests of the per-extent checksum files (replicator/receiver/sums.c):
 * the format, appending and the resume truncation, torn tails, the bound,
 * the merge a removal makes, pruning. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replicator/receiver/sums.h"
#include "tmpdir.h"

TMPDIR_SUITE(sums, dir, "nestor-sums");

static char *
path_in(const char *name)
{
	char *p = NULL;

	cr_assert_geq(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static struct sums_rec
data_rec(uint64_t off, uint64_t len, uint64_t hash)
{
	struct sums_rec r = { .offset = off, .length = len, .hash = hash };

	return r;
}

static struct sums_rec
zero_rec(uint64_t off, uint64_t len)
{
	struct sums_rec r = { .offset = off, .length = len, .zero = true };

	return r;
}

Test(sums, record_encoding_is_fixed_little_endian)
{
	struct sums_rec r = data_rec(0x0102030405060708ull, 65536, 0x1122334455667788ull), back;
	unsigned char b[SUMS_RECORD_SIZE];

	sums_encode(&r, b);
	cr_assert_eq(b[0], 0x08);
	cr_assert_eq(b[7], 0x01);
	cr_assert_eq(b[8], 0x00);
	cr_assert_eq(b[9], 0x00);
	cr_assert_eq(b[10], 0x01); /* 65536 */
	cr_assert_eq(b[15], 0x00); /* no ZERO flag */
	cr_assert_eq(b[16], 0x88);
	cr_assert_eq(sums_decode(b, &back), 0);
	cr_assert_eq(back.offset, r.offset);
	cr_assert_eq(back.length, r.length);
	cr_assert_eq(back.hash, r.hash);
	cr_assert(!back.zero);

	r = zero_rec(4096, 1u << 30);
	sums_encode(&r, b);
	cr_assert_eq(b[15], 0x80, "bit 63 marks a ZERO range");
	cr_assert_eq(sums_decode(b, &back), 0);
	cr_assert(back.zero);
	cr_assert_eq(back.length, 1u << 30);
	cr_assert_eq(back.hash, 0);
}

Test(sums, malformed_records_are_refused)
{
	struct sums_rec r = data_rec(0, 4096, 7), back;
	unsigned char b[SUMS_RECORD_SIZE];

	sums_encode(&r, b);
	b[14] = 0x01; /* a reserved bit */
	cr_assert_eq(sums_decode(b, &back), -1);
	r = data_rec(0, 4096, 7);
	r.length = 0;
	sums_encode(&r, b);
	cr_assert_eq(sums_decode(b, &back), -1, "length 0");
	r = data_rec(UINT64_MAX - 10, 4096, 7);
	sums_encode(&r, b);
	cr_assert_eq(sums_decode(b, &back), -1, "range past 2^64");
	r = data_rec(0, SUMS_MAX_DATA + 1, 7);
	sums_encode(&r, b);
	cr_assert_eq(sums_decode(b, &back), -1, "DATA too long to re-hash");
	r = zero_rec(0, 4096);
	sums_encode(&r, b);
	b[16] = 1; /* a ZERO record with a hash */
	cr_assert_eq(sums_decode(b, &back), -1);
}

static void
append(const char *path, uint64_t keep_end, const struct sums_rec *recs, size_t n, bool sync)
{
	struct sums_writer *w = sums_writer_open(path, keep_end, 1000, "test", NULL);

	cr_assert_not_null(w);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(sums_writer_add(w, &recs[i]), 0);
	if (sync)
		cr_assert_eq(sums_writer_sync(w), 0);
	sums_writer_free(w);
}

Test(sums, writer_appends_and_load_reads_back)
{
	char *p = path_in("vda.sums");
	struct sums_rec in[3] = { data_rec(0, 65536, 11), zero_rec(65536, 1 << 20),
				  data_rec(2 << 20, 4096, 13) };
	struct sums_rec *out;
	struct stat sb;
	size_t n;

	cr_assert_eq(sums_load(p, 1000, &out, &n), 1, "absent");
	append(p, 0, in, 3, true);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, SUMS_HEADER_SIZE + 3 * SUMS_RECORD_SIZE);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(out[i].offset, in[i].offset);
		cr_assert_eq(out[i].length, in[i].length);
		cr_assert_eq(out[i].zero, in[i].zero);
		cr_assert_eq(out[i].hash, in[i].hash);
	}
	free(out);
	/* Not synced: the buffer is dropped with the writer (never durable). */
	append(p, UINT64_MAX, in, 1, false);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 3);
	free(out);
	free(p);
}

Test(sums, resume_keeps_records_ending_at_or_before_durable)
{
	char *p = path_in("vda.sums");
	struct sums_rec in[4] = { data_rec(0, 4096, 1), data_rec(4096, 4096, 2),
				  zero_rec(8192, 8192), data_rec(16384, 4096, 4) };
	struct sums_rec more = data_rec(12288, 4096, 9), *out;
	size_t n;

	append(p, 0, in, 4, true);
	/* durable_offset 12288: records 0 and 1 end at or before it; the
	 * ZERO one ends at 16384, so it and the rest go. */
	append(p, 12288, &more, 1, true);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0].hash, 1);
	cr_assert_eq(out[1].hash, 2);
	cr_assert_eq(out[2].offset, 12288);
	cr_assert_eq(out[2].hash, 9);
	free(out);
	/* A disk resumed as done keeps all; keep_end 0 starts afresh. */
	append(p, UINT64_MAX, NULL, 0, true);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 3);
	free(out);
	append(p, 0, NULL, 0, true);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 0);
	free(out);
	free(p);
}

Test(sums, torn_tail_is_dropped)
{
	char *p = path_in("vda.sums");
	struct sums_rec in[2] = { data_rec(0, 4096, 1), data_rec(4096, 4096, 2) };
	struct sums_rec *out;
	struct stat sb;
	size_t n;
	int fd;

	append(p, 0, in, 2, true);
	/* A crash mid-append: 10 bytes of a third record. */
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "0123456789", 10), 10);
	close(fd);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0);
	cr_assert_eq(n, 2, "the partial record is ignored");
	free(out);
	/* The resume truncates it away (keep all of the whole ones). */
	append(p, UINT64_MAX, NULL, 0, true);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, SUMS_HEADER_SIZE + 2 * SUMS_RECORD_SIZE);
	free(p);
}

Test(sums, foreign_file_is_refused)
{
	char *p = path_in("vda.sums");
	struct sums_rec *out;
	size_t n;
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	fputs("this is not a checksum file at all", f);
	fclose(f);
	cr_assert_eq(sums_load(p, 1000, &out, &n), -1);
	cr_assert_null(sums_writer_open(p, UINT64_MAX, 1000, "test", NULL));
	free(p);
}

Test(sums, record_count_is_bounded)
{
	char *p = path_in("vda.sums");
	struct sums_writer *w = sums_writer_open(p, 0, 3, "test", NULL);
	struct sums_rec r;
	struct sums_rec *out;
	size_t n;

	cr_assert_not_null(w);
	for (uint64_t i = 0; i < 3; i++) {
		r = data_rec(i * 4096, 4096, i + 1);
		cr_assert_eq(sums_writer_add(w, &r), 0);
	}
	r = data_rec(3 * 4096, 4096, 4);
	cr_assert_eq(sums_writer_add(w, &r), -1, "too many extents");
	cr_assert_eq(errno, E2BIG);
	cr_assert_eq(sums_writer_count(w), 3);
	cr_assert_eq(sums_writer_sync(w), 0);
	sums_writer_free(w);
	/* A file over the bound is refused when loaded. */
	cr_assert_eq(sums_load(p, 2, &out, &n), -1);
	cr_assert_eq(sums_load(p, 3, &out, &n), 0);
	free(out);
	cr_assert_eq(sums_max_records(1ull << 30), (1ull << 30) / 512 + 65536);
	free(p);
}

static int
collect(void *arg, uint64_t off, uint64_t len)
{
	uint64_t *v = arg;

	v[1 + 2 * v[0]] = off;
	v[2 + 2 * v[0]] = len;
	v[0]++;
	return 0;
}

Test(sums, uncovered_pieces)
{
	struct sums_rec recs[3] = { data_rec(100, 50, 1), data_rec(150, 50, 2),
				    data_rec(400, 100, 3) };
	struct sums_span *cover;
	uint64_t v[16] = { 0 };
	size_t nc;

	cr_assert_eq(sums_cover(recs, 3, false, &cover, &nc), 0);
	cr_assert_eq(nc, 2, "touching records joined");
	cr_assert_eq(sums_uncovered(cover, nc, 0, 1000, collect, v), 0);
	cr_assert_eq(v[0], 3);
	cr_assert_eq(v[1], 0);
	cr_assert_eq(v[2], 100);
	cr_assert_eq(v[3], 200);
	cr_assert_eq(v[4], 200);
	cr_assert_eq(v[5], 500);
	cr_assert_eq(v[6], 500);
	memset(v, 0, sizeof(v));
	cr_assert_eq(sums_uncovered(cover, nc, 120, 50, collect, v), 0);
	cr_assert_eq(v[0], 0, "fully covered");
	free(cover);
}

Test(sums, merge_keeps_child_and_uncovered_parent_records)
{
	/* parent: DATA [0,4K) [4K,8K) [8K,12K), ZERO [16K,32K), DATA [32K,36K)
	 * child:  DATA [4K,6K) (overlaps the second in part), DATA [20K,24K)
	 * (inside the ZERO one), DATA [40K,44K) */
	struct sums_rec parent[5] = { data_rec(0, 4096, 1), data_rec(4096, 4096, 2),
				      data_rec(8192, 4096, 3), zero_rec(16384, 16384),
				      data_rec(32768, 4096, 5) };
	struct sums_rec child[3] = { data_rec(40960, 4096, 33), data_rec(4096, 2048, 31),
				     data_rec(20480, 4096, 32) };
	struct sums_rec *out;
	size_t n;

	cr_assert_eq(sums_merge(child, 3, parent, 5, 1 << 20, &out, &n), 0);
	/* 0:[0,4K)p1 1:[4K,6K)c31 2:U[6K,8K) 3:[8K,12K)p3 4:Z[16K,20K)
	 * 5:[20K,24K)c32 6:Z[24K,32K) 7:[32K,36K)p5 8:[40K,44K)c33; p2 is
	 * gone (partly overwritten: its hash covers bytes the child changed),
	 * its piece the child left is UNKNOWN */
	cr_assert_eq(n, 9);
	cr_assert_eq(out[0].hash, 1);
	cr_assert_eq(out[1].hash, 31);
	cr_assert(out[2].unknown);
	cr_assert_eq(out[2].offset, 6144);
	cr_assert_eq(out[2].length, 2048);
	cr_assert_eq(out[2].hash, 0);
	cr_assert_eq(out[3].hash, 3);
	cr_assert(out[4].zero);
	cr_assert_eq(out[4].offset, 16384);
	cr_assert_eq(out[4].length, 4096);
	cr_assert_eq(out[5].hash, 32);
	cr_assert(out[6].zero);
	cr_assert_eq(out[6].offset, 24576);
	cr_assert_eq(out[6].length, 8192);
	cr_assert_eq(out[7].hash, 5);
	cr_assert_eq(out[8].hash, 33);
	for (size_t i = 0; i < n; i++) {
		cr_assert_neq(out[i].hash, 2);
		cr_assert(!out[i].unknown || i == 2);
	}
	free(out);
}

/* The settle's and two removals' case (test-power-loss found it): the
 * newest point overwrote part of its parent's DATA record, which cannot
 * be kept; the grandparent's record of the bytes the parent replaced and
 * the newest left must not come back in the next merge. */
Test(sums, merge_keeps_older_records_out_of_a_dropped_records_bytes)
{
	struct sums_rec newest[1] = { data_rec(983040, 65536, 8) };
	struct sums_rec parent[1] = { data_rec(917504, 327680, 5) };
	struct sums_rec grand[2] = { data_rec(1179648, 65536, 3), data_rec(2097152, 65536, 4) };
	struct sums_rec *acc, *out;
	size_t nacc, n;
	bool saw4 = false;

	cr_assert_eq(sums_merge(newest, 1, parent, 1, 8 << 20, &acc, &nacc), 0);
	cr_assert_eq(sums_merge(acc, nacc, grand, 2, 8 << 20, &out, &n), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_neq(out[i].hash, 3, "the grandparent's stale record came back");
		cr_assert_neq(out[i].hash, 5);
		saw4 |= out[i].hash == 4;
	}
	cr_assert(saw4, "a record of bytes nobody replaced is kept");
	/* The UNKNOWN pieces survive a save and a load. */
	{
		unsigned char b[SUMS_RECORD_SIZE];
		struct sums_rec back;
		size_t k = 0;

		while (k < n && !out[k].unknown)
			k++;
		cr_assert_lt(k, n);
		sums_encode(&out[k], b);
		cr_assert_eq(b[15], 0x40, "bit 62 marks an UNKNOWN range");
		cr_assert_eq(sums_decode(b, &back), 0);
		cr_assert(back.unknown);
		cr_assert(!back.zero);
		cr_assert_eq(back.length, out[k].length);
		b[15] = 0xc0; /* ZERO and UNKNOWN at once */
		cr_assert_eq(sums_decode(b, &back), -1);
	}
	free(acc);
	free(out);
}

Test(sums, merge_joins_touching_unknown_pieces)
{
	struct sums_rec parent[2] = { data_rec(0, 4096, 1), data_rec(4096, 4096, 2) };
	struct sums_rec child[2] = { data_rec(0, 1024, 31), data_rec(7168, 1024, 32) };
	struct sums_rec *out;
	size_t n;

	cr_assert_eq(sums_merge(child, 2, parent, 2, 1 << 20, &out, &n), 0);
	cr_assert_eq(n, 3, "[1K,4K) and [4K,7K) are one UNKNOWN record");
	cr_assert(out[1].unknown);
	cr_assert_eq(out[1].offset, 1024);
	cr_assert_eq(out[1].length, 6144);
	free(out);
}

Test(sums, merge_clips_to_the_childs_disk)
{
	struct sums_rec parent[3] = { data_rec(0, 4096, 1), zero_rec(4096, 8192),
				      data_rec(8192, 8192, 3) };
	struct sums_rec *out;
	size_t n;

	/* The child's disk is 8 KiB: the ZERO is clipped, a DATA past the end
	 * dropped. */
	cr_assert_eq(sums_merge(NULL, 0, parent, 3, 8192, &out, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(out[1].offset, 4096);
	cr_assert_eq(out[1].length, 4096);
	cr_assert(out[1].zero);
	free(out);
}

static bool
keep_six(void *arg, uint64_t id)
{
	(void)arg;
	return id == 6;
}

Test(sums, save_replaces_and_prune_removes_strays)
{
	char *gdir = path_in("grp"), *d5, *d6, *p5, *p6, *tmp;
	struct sums_rec r = data_rec(0, 4096, 1), *out;
	size_t n;
	FILE *f;

	cr_assert_eq(mkdir(gdir, 0750), 0);
	cr_assert_geq(asprintf(&tmp, "%s/sums", gdir), 0);
	cr_assert_eq(mkdir(tmp, 0750), 0);
	d5 = sums_dir(gdir, 5);
	d6 = sums_dir(gdir, 6);
	cr_assert_eq(mkdir(d5, 0750), 0);
	cr_assert_eq(mkdir(d6, 0750), 0);
	p5 = sums_path(gdir, 5, "vda");
	p6 = sums_path(gdir, 6, "vda");
	cr_assert_eq(sums_save(p5, &r, 1), 0);
	cr_assert_eq(sums_save(p6, &r, 1), 0);
	free(tmp);
	cr_assert_geq(asprintf(&tmp, "%s.tmp", p6), 0);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(sums_load(p5, 10, &out, &n), 0);
	cr_assert_eq(n, 1);
	free(out);
	/* keep only 6: 5 goes, 6's temp file too */
	cr_assert_eq(sums_prune(gdir, keep_six, NULL), 0);
	cr_assert_neq(access(d5, F_OK), 0);
	cr_assert_eq(access(p6, F_OK), 0);
	cr_assert_neq(access(tmp, F_OK), 0);
	cr_assert_eq(sums_remove_point(gdir, 6), 0);
	cr_assert_neq(access(d6, F_OK), 0);
	cr_assert_eq(sums_remove_point(gdir, 6), 0, "absent is fine");
	free(tmp);
	free(p5);
	free(p6);
	free(d5);
	free(d6);
	free(gdir);
}

Test(sums, resume_stops_at_garbage_a_power_cut_left)
{
	char *p = path_in("vda.sums");
	struct sums_rec in[2] = { data_rec(0, 4096, 1), data_rec(4096, 4096, 2) };
	static const unsigned char zeros[3 * SUMS_RECORD_SIZE];
	struct sums_rec *out;
	size_t n;
	int fd;

	append(p, 0, in, 2, true);
	/* The appended records never reached the disk: zeros in their place. */
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	append(p, 8192, NULL, 0, true);
	cr_assert_eq(sums_load(p, 1000, &out, &n), 0, "the garbage is gone");
	cr_assert_eq(n, 2);
	free(out);
	free(p);
}
