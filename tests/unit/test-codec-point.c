/* Unit tests for the wire codec, one assertion per rejection rule of the
 * frames of a recovery point (POINT_BEGIN, EXTENT, DISK_DONE, POINT_COMMIT,
 * COMMITTED), of HASH_QUERY / HASH_ANSWER and of ERROR, on hand-built
 * frames and on the encoder. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_point, .init = init_bulk);

/* ---- POINT_BEGIN ------------------------------------------------------------ */

static void
begin_frame(struct fb *f, uint64_t point, uint64_t base, uint16_t ndisks)
{
	fb_init(f, 8192);
	fb_str(f, "db");
	fb_u64(f, point);
	fb_u64(f, base);
	fb_u64(f, 123);
	fb_u16(f, ndisks);
}

Test(codec_point, begin_rejects)
{
	struct proto_msg m;
	struct fb f;

	begin_frame(&f, 0, 0, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(1);
	m.u.begin.point_id = 0;
	m.u.begin.base_id = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 5, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(1);
	m.u.begin.base_id = 8;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 4, 0);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(1);
	m.u.begin.ndisks = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 4, PROTO_MAX_DISKS + 1);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(1);
	m.u.begin.ndisks = PROTO_MAX_DISKS + 1;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 4, 1);
	fb_str(&f, "");
	fb_u64(&f, 1 << 20);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_STRING);
	fb_free(&f);
	m = mk_begin(3);
	m.u.begin.disks[2].name[0] = '\0';
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	begin_frame(&f, 5, 4, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(3);
	m.u.begin.disks[1].size = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 4, 1);
	fb_str(&f, "vda");
	fb_u64(&f, PROTO_MAX_DISK_SIZE + 1);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_begin(3);
	m.u.begin.disks[1].size = UINT64_MAX;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	begin_frame(&f, 5, 4, 3);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	fb_str(&f, "vdb");
	fb_u64(&f, 1 << 20);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_STRING);
	fb_free(&f);
	m = mk_begin(3);
	strcpy(m.u.begin.disks[2].name, m.u.begin.disks[0].name);
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	begin_frame(&f, 5, 4, 2);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_TRUNC);
	fb_free(&f);

	begin_frame(&f, 5, 4, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 1 << 20);
	fb_u16(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_BEGIN, 0), PROTO_E_TRAILING);
	fb_free(&f);
}

/* ---- EXTENT ------------------------------------------------------------------ */

static void
extent_frame(struct fb *f, uint16_t disk, uint8_t kind, uint8_t comp,
	     uint64_t off, uint64_t len, uint64_t sum, size_t data_len)
{
	fb_init(f, PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD + 64);
	fb_u16(f, disk);
	fb_u8(f, kind);
	fb_u8(f, comp);
	fb_u64(f, off);
	fb_u64(f, len);
	fb_u64(f, sum);
	if (data_len <= sizeof(bulk)) {
		fb_raw(f, bulk, data_len);
	} else {
		cr_assert_leq(f->len + data_len, f->cap);
		f->len += data_len; /* zeros: the buffer was calloc'ed */
	}
}

static int
extent_dec(uint16_t disk, uint8_t kind, uint8_t comp, uint64_t off,
	   uint64_t len, uint64_t sum, size_t data_len)
{
	struct fb f;
	int e;

	extent_frame(&f, disk, kind, comp, off, len, sum, data_len);
	e = decode_fb(&f, PROTO_EXTENT, 0);
	fb_free(&f);
	return e;
}

/* Rules of every kind: flags, disk, kind, compression, length, offset. */
static void
extent_rejects_common(void)
{
	const uint8_t D = PROTO_KIND_DATA, Z = PROTO_KIND_ZERO;
	const uint8_t N = PROTO_COMP_NONE;
	struct proto_msg m;

	/* Baselines accepted. */
	cr_assert_eq(extent_dec(0, D, N, 0, 512, 1, 512), 0);
	cr_assert_eq(extent_dec(63, Z, N, 0, 512, 0, 0), 0);

	/* Flags outside RESYNC, via the encoder (the header case is above). */
	m = mk_extent(D, N, 512, 512);
	m.u.extent.flags = 2;
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);

	cr_assert_eq(extent_dec(PROTO_MAX_DISKS, D, N, 0, 512, 1, 512), PROTO_E_RANGE);
	m = mk_extent(D, N, 512, 512);
	m.u.extent.disk = PROTO_MAX_DISKS;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, 0, N, 0, 512, 1, 512), PROTO_E_KIND);
	cr_assert_eq(extent_dec(0, 4, N, 0, 512, 1, 512), PROTO_E_KIND);
	m = mk_extent(D, N, 512, 512);
	m.u.extent.kind = 9;
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);

	cr_assert_eq(extent_dec(0, D, 2, 0, 512, 1, 512), PROTO_E_KIND);
	m = mk_extent(D, N, 512, 512);
	m.u.extent.comp = 2;
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);

	cr_assert_eq(extent_dec(0, D, N, 0, 0, 1, 0), PROTO_E_RANGE);
	cr_assert_eq(extent_dec(0, Z, N, 0, 0, 0, 0), PROTO_E_RANGE);
	m = mk_extent(Z, N, 0, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, Z, N, UINT64_MAX - 10, 512, 0, 0), PROTO_E_RANGE);
	m = mk_extent(Z, N, 512, 0);
	m.u.extent.offset = UINT64_MAX - 10;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, Z, N, PROTO_MAX_DISK_SIZE - 511, 512, 0, 0),
		     PROTO_E_RANGE);
	m = mk_extent(Z, N, 512, 0);
	m.u.extent.offset = PROTO_MAX_DISK_SIZE;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
}

/* Rules of DATA extents. */
static void
extent_rejects_data(void)
{
	const uint8_t D = PROTO_KIND_DATA;
	const uint8_t N = PROTO_COMP_NONE, C = PROTO_COMP_ZSTD;
	struct proto_msg m;

	/* DATA rules. */
	cr_assert_eq(extent_dec(0, D, C, 0, PROTO_MAX_EXTENT + 1, 1, 100), PROTO_E_RANGE);
	m = mk_extent(D, C, PROTO_MAX_EXTENT + 1, 100);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, D, N, 0, 512, 1, 511), PROTO_E_RANGE);
	cr_assert_eq(extent_dec(0, D, N, 0, 512, 1, 513), PROTO_E_RANGE);
	m = mk_extent(D, N, 512, 100);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, D, C, 0, 512, 1, 0), PROTO_E_RANGE);
	m = mk_extent(D, C, 512, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	/* Over the compress bound: the frame cap catches it on the wire, the
	 * validator on the encode side. */
	cr_assert_eq(extent_dec(0, D, C, 0, PROTO_MAX_EXTENT, 1,
				ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT) + 1), PROTO_E_TOOBIG);
	m = mk_extent(D, C, PROTO_MAX_EXTENT, ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT) + 1);
	m.u.extent.data = malloc(m.u.extent.data_len);
	cr_assert_not_null(m.u.extent.data);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	free((uint8_t *)m.u.extent.data);

	m = mk_extent(D, N, 512, 512);
	m.u.extent.data = NULL;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
}

/* Rules of ZERO and DISCARD extents. */
static void
extent_rejects_zero(void)
{
	const uint8_t Z = PROTO_KIND_ZERO, X = PROTO_KIND_DISCARD;
	const uint8_t N = PROTO_COMP_NONE, C = PROTO_COMP_ZSTD;
	struct proto_msg m;

	/* ZERO / DISCARD rules. */
	cr_assert_eq(extent_dec(0, Z, N, 0, PROTO_MAX_ZERO + 1, 0, 0), PROTO_E_RANGE);
	cr_assert_eq(extent_dec(0, X, N, 0, PROTO_MAX_ZERO + 1, 0, 0), PROTO_E_RANGE);
	m = mk_extent(X, N, PROTO_MAX_ZERO + 1, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, Z, C, 0, 512, 0, 0), PROTO_E_KIND);
	cr_assert_eq(extent_dec(0, X, C, 0, 512, 0, 0), PROTO_E_KIND);
	m = mk_extent(Z, C, 512, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);

	cr_assert_eq(extent_dec(0, Z, N, 0, 512, 5, 0), PROTO_E_RANGE);
	m = mk_extent(X, N, 512, 0);
	m.u.extent.checksum = 5;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(extent_dec(0, Z, N, 0, 512, 0, 1), PROTO_E_TRAILING);
	cr_assert_eq(extent_dec(0, X, N, 0, 512, 0, 512), PROTO_E_TRAILING);
	m = mk_extent(Z, N, 512, 16);
	cr_assert_eq(encode_only(&m), PROTO_E_TRAILING);
}

Test(codec_point, extent_rejects)
{
	extent_rejects_common();
	extent_rejects_data();
	extent_rejects_zero();
}

Test(codec_point, extent_check)
{
	struct proto_msg m = mk_extent(PROTO_KIND_ZERO, PROTO_COMP_NONE, 4096, 0);

	m.u.extent.offset = 0;
	cr_assert_eq(proto_extent_check(&m.u.extent, 4096), 0);
	cr_assert_eq(proto_extent_check(&m.u.extent, 4095), PROTO_E_RANGE);
	m.u.extent.offset = 1;
	cr_assert_eq(proto_extent_check(&m.u.extent, 4096), PROTO_E_RANGE);
	cr_assert_eq(proto_extent_check(&m.u.extent, 4097), 0);
	m.u.extent.offset = UINT64_MAX - 100;
	cr_assert_eq(proto_extent_check(&m.u.extent, UINT64_MAX), PROTO_E_RANGE);
}

/* ---- DISK_DONE / POINT_COMMIT / COMMITTED ------------------------------------ */

Test(codec_point, done_commit_rejects)
{
	struct proto_msg m;
	struct fb f;

	fb_init(&f, 64);
	fb_u16(&f, PROTO_MAX_DISKS);
	cr_assert_eq(decode_fb(&f, PROTO_DISK_DONE, 0), PROTO_E_RANGE);
	fb_free(&f);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DISK_DONE;
	m.u.done.disk = 0xffff;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	fb_init(&f, 64);
	fb_u64(&f, 0);
	fb_u32(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_COMMIT, 0), PROTO_E_RANGE);
	fb_free(&f);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_POINT_COMMIT;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	fb_init(&f, 64);
	fb_u64(&f, 1);
	fb_u32(&f, PROTO_MAX_META + 1);
	fb_raw(&f, bulk, 8);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_COMMIT, 0), PROTO_E_TOOBIG);
	fb_free(&f);
	m.u.commit.point_id = 1;
	m.u.commit.meta = bulk;
	m.u.commit.meta_len = PROTO_MAX_META + 1;
	cr_assert_eq(encode_only(&m), PROTO_E_TOOBIG);

	m.u.commit.meta = NULL;
	m.u.commit.meta_len = 10;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	fb_init(&f, 64);
	fb_u64(&f, 1);
	fb_u32(&f, 10);
	fb_raw(&f, bulk, 9);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_COMMIT, 0), PROTO_E_TRUNC);
	fb_free(&f);

	fb_init(&f, 64);
	fb_u64(&f, 1);
	fb_u32(&f, 10);
	fb_raw(&f, bulk, 11);
	cr_assert_eq(decode_fb(&f, PROTO_POINT_COMMIT, 0), PROTO_E_TRAILING);
	fb_free(&f);
}

/* ---- HASH_QUERY / HASH_ANSWER ------------------------------------------------- */

static int
hquery_dec(const char *group, const char *disk, uint64_t off, uint32_t bs,
	   uint32_t count)
{
	struct fb f;
	int e;

	fb_init(&f, 512);
	fb_str(&f, group);
	fb_u64(&f, 3);
	fb_str(&f, disk);
	fb_u64(&f, off);
	fb_u32(&f, bs);
	fb_u32(&f, count);
	e = decode_fb(&f, PROTO_HASH_QUERY, 0);
	fb_free(&f);
	return e;
}

static int
hquery_enc(uint64_t off, uint32_t bs, uint32_t count)
{
	struct proto_msg m = mk_hquery();

	m.u.hquery.offset = off;
	m.u.hquery.block_size = bs;
	m.u.hquery.count = count;
	return encode_only(&m);
}

Test(codec_point, hquery_rejects)
{
	struct proto_msg m;

	cr_assert_eq(hquery_dec("g", "d", 0, 4096, 1), 0);
	cr_assert_eq(hquery_dec("g", "d", 0, 16u << 20, PROTO_MAX_HASHES), 0);

	const uint32_t bad_bs[] = { 0, 2048, 4095, 12288, 32u << 20, 0x80000000u };
	for (size_t i = 0; i < sizeof(bad_bs) / sizeof(bad_bs[0]); i++) {
		cr_assert_eq(hquery_dec("g", "d", 0, bad_bs[i], 1), PROTO_E_RANGE,
			     "block size %u", bad_bs[i]);
		cr_assert_eq(hquery_enc(0, bad_bs[i], 1), PROTO_E_RANGE);
	}
	cr_assert_eq(hquery_dec("g", "d", 0, 4096, 0), PROTO_E_RANGE);
	cr_assert_eq(hquery_enc(0, 4096, 0), PROTO_E_RANGE);
	cr_assert_eq(hquery_dec("g", "d", 0, 4096, PROTO_MAX_HASHES + 1), PROTO_E_RANGE);
	cr_assert_eq(hquery_enc(0, 4096, PROTO_MAX_HASHES + 1), PROTO_E_RANGE);
	cr_assert_eq(hquery_dec("g", "d", 4096 + 512, 4096, 1), PROTO_E_RANGE);
	cr_assert_eq(hquery_enc(8192, 1u << 20, 1), PROTO_E_RANGE);
	cr_assert_eq(hquery_dec("g", "d", UINT64_MAX - 4095, 4096, 2), PROTO_E_RANGE);
	cr_assert_eq(hquery_enc(UINT64_MAX - 4095, 4096, 2), PROTO_E_RANGE);
	/* An end of exactly 2^64 is not representable either. */
	cr_assert_eq(hquery_dec("g", "d", UINT64_MAX - 4095, 4096, 1), PROTO_E_RANGE);
	cr_assert_eq(hquery_dec("g", "d", UINT64_MAX - 8191, 4096, 1), 0);

	cr_assert_eq(hquery_dec("", "d", 0, 4096, 1), PROTO_E_STRING);
	cr_assert_eq(hquery_dec("g", "", 0, 4096, 1), PROTO_E_STRING);
	m = mk_hquery();
	m.u.hquery.disk[0] = '\0';
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
	m = mk_hquery();
	m.u.hquery.group[0] = '\0';
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
}

static int
hanswer_dec(uint64_t off, uint32_t bs, uint32_t count, size_t nbytes)
{
	struct fb f;
	int e;

	fb_init(&f, PROTO_HDR_SIZE + 24 + PROTO_MAX_HASHES * 8 + 64);
	fb_u64(&f, 1);
	fb_u64(&f, off);
	fb_u32(&f, bs);
	fb_u32(&f, count);
	fb_raw(&f, bulk, nbytes);
	e = decode_fb(&f, PROTO_HASH_ANSWER, 0);
	fb_free(&f);
	return e;
}

Test(codec_point, hanswer_rejects)
{
	struct proto_msg m;

	cr_assert_eq(hanswer_dec(0, 4096, 0, 0), 0);
	cr_assert_eq(hanswer_dec(0, 4096, 3, 24), 0);
	cr_assert_eq(hanswer_dec(0, 1000, 1, 8), PROTO_E_RANGE);
	cr_assert_eq(hanswer_dec(0, 32u << 20, 1, 8), PROTO_E_RANGE);
	m = mk_hanswer(1);
	m.u.hanswer.block_size = 3u << 12;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	cr_assert_eq(hanswer_dec(0, 4096, PROTO_MAX_HASHES + 1, 0), PROTO_E_RANGE);
	cr_assert_eq(hanswer_dec(0, 4096, 0xffffffffu, 8), PROTO_E_RANGE);
	m = mk_hanswer(1);
	m.u.hanswer.count = PROTO_MAX_HASHES + 1;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	/* Same alignment/overflow rule as the query it answers. */
	cr_assert_eq(hanswer_dec(100, 4096, 1, 8), PROTO_E_RANGE);

	cr_assert_eq(hanswer_dec(0, 4096, 3, 23), PROTO_E_TRUNC);
	cr_assert_eq(hanswer_dec(0, 4096, 3, 25), PROTO_E_TRAILING);
	cr_assert_eq(hanswer_dec(0, 4096, 0, 8), PROTO_E_TRAILING);

	m = mk_hanswer(2);
	m.u.hanswer.hashes = NULL;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
}

/* A partial answer (the receiver's bound on bytes hashed per query) is
 * flagged; the flag travels, needs at least one hash, and no other bit is
 * known (issue 12, section 3). */
Test(codec_point, hanswer_more_flag)
{
	struct proto_msg m = mk_hanswer(2), out;
	struct fb f;

	m.u.hanswer.flags = PROTO_FLAG_HASH_MORE;
	roundtrip(&m, &out);
	cr_assert_eq(out.u.hanswer.flags, PROTO_FLAG_HASH_MORE);
	cr_assert_eq(out.u.hanswer.count, 2);
	m = mk_hanswer(0);
	m.u.hanswer.flags = PROTO_FLAG_HASH_MORE;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE, "more without progress");
	m = mk_hanswer(1);
	m.u.hanswer.flags = 2;
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);
	for (uint32_t flags = 2; flags; flags <<= 1) {
		fb_init(&f, 64);
		fb_u64(&f, 1);
		fb_u64(&f, 0);
		fb_u32(&f, 4096);
		fb_u32(&f, 1);
		fb_raw(&f, bulk, 8);
		cr_assert_eq(decode_fb(&f, PROTO_HASH_ANSWER, flags | PROTO_FLAG_HASH_MORE),
			     PROTO_E_FLAGS, "flags %#x", flags);
		fb_free(&f);
	}
	fb_init(&f, 64);
	fb_u64(&f, 1);
	fb_u64(&f, 0);
	fb_u32(&f, 4096);
	fb_u32(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_HASH_ANSWER, PROTO_FLAG_HASH_MORE), PROTO_E_RANGE);
	fb_free(&f);
	/* A query carries no flag. */
	fb_init(&f, 64);
	fb_str(&f, "g");
	fb_u64(&f, 3);
	fb_str(&f, "d");
	fb_u64(&f, 0);
	fb_u32(&f, 4096);
	fb_u32(&f, 1);
	cr_assert_eq(decode_fb(&f, PROTO_HASH_QUERY, PROTO_FLAG_HASH_MORE), PROTO_E_FLAGS);
	fb_free(&f);
}

/* ---- ERROR -------------------------------------------------------------------- */

Test(codec_point, error_rejects)
{
	struct proto_msg m;
	struct fb f;

	fb_init(&f, 2048);
	fb_u32(&f, 0);
	fb_str(&f, "x");
	cr_assert_eq(decode_fb(&f, PROTO_ERROR, 0), PROTO_E_RANGE);
	fb_free(&f);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	fb_init(&f, 2048);
	fb_u32(&f, 1);
	fb_u16(&f, PROTO_TEXT_MAX + 1);
	fb_raw(&f, rep('t', PROTO_TEXT_MAX), PROTO_TEXT_MAX);
	cr_assert_eq(decode_fb(&f, PROTO_ERROR, 0), PROTO_E_STRING);
	fb_free(&f);
	m.u.error.code = 1;
	memset(m.u.error.text, 't', sizeof(m.u.error.text));
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	fb_init(&f, 2048);
	fb_u32(&f, 1);
	fb_strn(&f, "bad\0text", 8);
	cr_assert_eq(decode_fb(&f, PROTO_ERROR, 0), PROTO_E_STRING);
	fb_free(&f);

	fb_init(&f, 2048);
	fb_u32(&f, 1);
	fb_str(&f, "x");
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_ERROR, 0), PROTO_E_TRAILING);
	fb_free(&f);
}
