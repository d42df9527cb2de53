/* Unit tests for the wire codec: round trips of every message type, header
 * rules, HELLO and PROGRESS rejections, and encoder specifics. The rules of
 * point, hash and ERROR frames are in test-codec-point.c. */
#include "tests/unit/codec-fb.h"

TestSuite(codec, .init = init_bulk);

/* ---- round trips ---------------------------------------------------------- */

Test(codec, hello_roundtrip)
{
	struct proto_msg in = mk_hello(), out;

	roundtrip(&in, &out);
	cr_assert_eq(out.u.hello.version_min, 1);
	cr_assert_eq(out.u.hello.version_max, 3);
	cr_assert_eq(out.u.hello.caps, PROTO_CAP_ZSTD);
	cr_assert_str_eq(out.u.hello.peer, "agent-01.example");

	in.u.hello.peer[0] = '\0';
	in.u.hello.caps = 0;
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.hello.peer, "");

	strcpy(in.u.hello.peer, rep('p', PROTO_PEER_MAX));
	roundtrip(&in, &out);
	cr_assert_eq(strlen(out.u.hello.peer), PROTO_PEER_MAX);
}

Test(codec, pquery_roundtrip)
{
	struct proto_msg in, out;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_PROGRESS_QUERY;
	strcpy(in.u.pquery.group, rep('g', PROTO_NAME_MAX));
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.pquery.group, in.u.pquery.group);
}

Test(codec, progress_roundtrip)
{
	struct proto_msg in = mk_progress(PROTO_MAX_DISKS), out;

	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.progress.group, "web");
	cr_assert_eq(out.u.progress.last_point, 41);
	cr_assert_eq(out.u.progress.pending_point, 42);
	cr_assert_eq(out.u.progress.pending_base, 41);
	cr_assert_eq(out.u.progress.ndisks, PROTO_MAX_DISKS);
	for (int i = 0; i < PROTO_MAX_DISKS; i++) {
		cr_assert_str_eq(out.u.progress.disks[i].name, in.u.progress.disks[i].name);
		cr_assert_eq(out.u.progress.disks[i].durable_offset,
			     in.u.progress.disks[i].durable_offset);
		cr_assert_eq(out.u.progress.disks[i].done, in.u.progress.disks[i].done);
	}

	in = mk_progress(0);
	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.ndisks, 0);
	cr_assert_eq(out.u.progress.pending_point, 0);
}

Test(codec, begin_roundtrip)
{
	struct proto_msg in = mk_begin(PROTO_MAX_DISKS), out;

	in.u.begin.disks[5].size = PROTO_MAX_DISK_SIZE;
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.begin.group, "db");
	cr_assert_eq(out.u.begin.point_id, 7);
	cr_assert_eq(out.u.begin.base_id, 6);
	cr_assert_eq(out.u.begin.time_ns, 1700000000123456789ull);
	cr_assert_eq(out.u.begin.ndisks, PROTO_MAX_DISKS);
	for (int i = 0; i < PROTO_MAX_DISKS; i++) {
		cr_assert_str_eq(out.u.begin.disks[i].name, in.u.begin.disks[i].name);
		cr_assert_eq(out.u.begin.disks[i].size, in.u.begin.disks[i].size);
	}

	in = mk_begin(1);
	in.u.begin.base_id = 0; /* full seed */
	roundtrip(&in, &out);
	cr_assert_eq(out.u.begin.base_id, 0);
}

Test(codec, extent_data_roundtrip)
{
	struct proto_msg in = mk_extent(PROTO_KIND_DATA, PROTO_COMP_NONE,
					PROTO_MAX_EXTENT, PROTO_MAX_EXTENT), out;

	roundtrip(&in, &out);
	cr_assert_eq(out.u.extent.flags, 0);
	cr_assert_eq(out.u.extent.disk, 3);
	cr_assert_eq(out.u.extent.kind, PROTO_KIND_DATA);
	cr_assert_eq(out.u.extent.comp, PROTO_COMP_NONE);
	cr_assert_eq(out.u.extent.offset, 1ull << 40);
	cr_assert_eq(out.u.extent.length, PROTO_MAX_EXTENT);
	cr_assert_eq(out.u.extent.checksum, 0x0123456789abcdefull);
	cr_assert_eq(out.u.extent.data_len, PROTO_MAX_EXTENT);
	cr_assert_arr_eq(out.u.extent.data, bulk, PROTO_MAX_EXTENT);
}

Test(codec, extent_zstd_resync_roundtrip)
{
	struct proto_msg in = mk_extent(PROTO_KIND_DATA, PROTO_COMP_ZSTD, 65536, 100),
			 out;

	in.u.extent.flags = PROTO_FLAG_EXTENT_RESYNC;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.extent.flags, PROTO_FLAG_EXTENT_RESYNC);
	cr_assert_eq(out.u.extent.comp, PROTO_COMP_ZSTD);
	cr_assert_eq(out.u.extent.length, 65536);
	cr_assert_eq(out.u.extent.data_len, 100);
	cr_assert_arr_eq(out.u.extent.data, bulk, 100);

	/* The largest compressed payload the bound allows. */
	in.u.extent.length = PROTO_MAX_EXTENT;
	in.u.extent.data_len = ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT);
	in.u.extent.data = malloc(in.u.extent.data_len);
	cr_assert_not_null(in.u.extent.data);
	memset((uint8_t *)in.u.extent.data, 0x5a, in.u.extent.data_len);
	roundtrip(&in, &out);
	cr_assert_eq(out.u.extent.data_len, ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT));
	cr_assert_arr_eq(out.u.extent.data, in.u.extent.data, out.u.extent.data_len);
	free((uint8_t *)in.u.extent.data);
}

Test(codec, extent_zero_discard_roundtrip)
{
	struct proto_msg in = mk_extent(PROTO_KIND_ZERO, PROTO_COMP_NONE,
					PROTO_MAX_ZERO, 0), out;

	roundtrip(&in, &out);
	cr_assert_eq(out.u.extent.kind, PROTO_KIND_ZERO);
	cr_assert_eq(out.u.extent.length, PROTO_MAX_ZERO);
	cr_assert_eq(out.u.extent.checksum, 0);
	cr_assert_null(out.u.extent.data);
	cr_assert_eq(out.u.extent.data_len, 0);

	in = mk_extent(PROTO_KIND_DISCARD, PROTO_COMP_NONE, 4096, 0);
	in.u.extent.offset = PROTO_MAX_DISK_SIZE - 4096; /* ends exactly at the cap */
	roundtrip(&in, &out);
	cr_assert_eq(out.u.extent.kind, PROTO_KIND_DISCARD);
	cr_assert_eq(out.u.extent.offset, PROTO_MAX_DISK_SIZE - 4096);
}

Test(codec, small_types_roundtrip)
{
	struct proto_msg in, out;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_DISK_DONE;
	in.u.done.disk = PROTO_MAX_DISKS - 1;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.done.disk, PROTO_MAX_DISKS - 1);

	memset(&in, 0, sizeof(in));
	in.type = PROTO_COMMITTED;
	in.u.committed.point_id = 0xfedcba9876543210ull;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.committed.point_id, 0xfedcba9876543210ull);
}

Test(codec, commit_roundtrip)
{
	struct proto_msg in, out;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_POINT_COMMIT;
	in.u.commit.point_id = 12;
	in.u.commit.meta = bulk;
	in.u.commit.meta_len = PROTO_MAX_META;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.commit.point_id, 12);
	cr_assert_eq(out.u.commit.meta_len, PROTO_MAX_META);
	cr_assert_arr_eq(out.u.commit.meta, bulk, PROTO_MAX_META);

	in.u.commit.meta = NULL;
	in.u.commit.meta_len = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.commit.meta_len, 0);
	cr_assert_null(out.u.commit.meta);
}

Test(codec, hash_roundtrip)
{
	struct proto_msg in = mk_hquery(), out;

	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.hquery.group, "db");
	cr_assert_str_eq(out.u.hquery.disk, "vm0-vda");
	cr_assert_eq(out.u.hquery.point_id, 0);
	cr_assert_eq(out.u.hquery.offset, 64ull << 20);
	cr_assert_eq(out.u.hquery.block_size, 1u << 20);
	cr_assert_eq(out.u.hquery.count, 128);

	in = mk_hanswer(PROTO_MAX_HASHES);
	roundtrip(&in, &out);
	cr_assert_eq(out.u.hanswer.point_id, 9);
	cr_assert_eq(out.u.hanswer.offset, 1ull << 32);
	cr_assert_eq(out.u.hanswer.block_size, 65536);
	cr_assert_eq(out.u.hanswer.count, PROTO_MAX_HASHES);
	cr_assert_arr_eq(out.u.hanswer.hashes, bulk, PROTO_MAX_HASHES * 8);

	in = mk_hanswer(0); /* past the disk's end */
	roundtrip(&in, &out);
	cr_assert_eq(out.u.hanswer.count, 0);
	cr_assert_null(out.u.hanswer.hashes);
}

Test(codec, error_roundtrip)
{
	struct proto_msg in, out;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_ERROR;
	in.u.error.code = PROTO_ERR_CHECKSUM;
	strcpy(in.u.error.text, rep('t', PROTO_TEXT_MAX));
	roundtrip(&in, &out);
	cr_assert_eq(out.u.error.code, PROTO_ERR_CHECKSUM);
	cr_assert_str_eq(out.u.error.text, in.u.error.text);

	in.u.error.code = 999; /* unknown codes still travel */
	in.u.error.text[0] = '\0';
	roundtrip(&in, &out);
	cr_assert_eq(out.u.error.code, 999);
	cr_assert_str_eq(out.u.error.text, "");
}

/* Exact bytes of one frame, so the layout itself is pinned down. */
Test(codec, wire_layout)
{
	struct proto_msg m;
	uint8_t buf[64];
	size_t n = 0;
	static const uint8_t want[] = {
		'N', 'S', 'T', 'R', 0, 2, 0, 64, 0, 0, 0, 0, 0, 0, 0, 8, /* version 2: issue 14 */
		0, 0, 0, 2, 0, 2, 'n', 'o',
	};

	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.u.error.code = PROTO_ERR_AUTH;
	strcpy(m.u.error.text, "no");
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));
}

/* ---- header rules ----------------------------------------------------------- */

Test(codec, hdr_rejects)
{
	struct proto_hdr h;
	struct fb f;

	fb_init(&f, 64);
	fb_u16(&f, 5);
	fb_finish(&f, PROTO_DISK_DONE, 0);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), 0);
	cr_assert_eq(h.version, PROTO_VERSION);
	cr_assert_eq(h.type, PROTO_DISK_DONE);
	cr_assert_eq(h.flags, 0);
	cr_assert_eq(h.length, 2);

	cr_assert_eq(proto_hdr_decode(f.buf, PROTO_HDR_SIZE - 1, &h), PROTO_E_SHORT);
	cr_assert_eq(proto_hdr_decode(f.buf, 0, &h), PROTO_E_SHORT);

	fb_hdr(&f, 0x4E535453u, PROTO_VERSION, PROTO_DISK_DONE, 0, 2);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_MAGIC);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION + 1, PROTO_DISK_DONE, 0, 2);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_VERSION);
	fb_hdr(&f, PROTO_MAGIC, 0, PROTO_DISK_DONE, 0, 2);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_VERSION);
	/* Issue 14 bumped the protocol to 2 (the reverse band): a version 1
	 * frame is another protocol now. */
	cr_assert_eq(PROTO_VERSION, 2);
	fb_hdr(&f, PROTO_MAGIC, 1, PROTO_DISK_DONE, 0, 2);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_VERSION);

	/* 99 is REVERSE_DONE since failback finish (issue 14): 100 is the band's first free. */
	static const uint16_t bad_types[] = { 0, 2, 15, 23, 47, 52, 63, 65, 95, 100, 111, 0xffff };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, bad_types[i], 0, 2);
		cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TYPE,
			     "type %u", bad_types[i]);
	}

	/* Flags: none allowed outside EXTENT; only RESYNC on EXTENT. */
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_DISK_DONE, 1, 2);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_FLAGS);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_HELLO, 0x80000000u, 10);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_FLAGS);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT, 2, 28);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_FLAGS);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT,
	       PROTO_FLAG_EXTENT_RESYNC, 28);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), 0);
	cr_assert_eq(h.flags, PROTO_FLAG_EXTENT_RESYNC);

	/* Lengths: global cap, per-type caps, per-type minimum. */
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT, 0, PROTO_MAX_PAYLOAD + 1);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT, 0, 0xffffffffu);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_HELLO, 0, 10 + PROTO_PEER_MAX + 1);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_HELLO, 0, 10 + PROTO_PEER_MAX);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), 0);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_DISK_DONE, 0, 3);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_COMMITTED, 0, 9);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_HASH_ANSWER, 0,
	       24 + PROTO_MAX_HASHES * 8 + 1);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT, 0,
	       28 + ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT) + 1);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TOOBIG);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_COMMITTED, 0, 7);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TRUNC);
	fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_EXTENT, 0, 27);
	cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TRUNC);
	fb_free(&f);
}

Test(codec, decode_rechecks_header)
{
	struct proto_hdr h = { PROTO_VERSION, 3, 0, 0 };
	struct proto_msg m;
	uint8_t pay[8] = { 0 };

	cr_assert_eq(proto_decode(&h, pay, &m), PROTO_E_TYPE);
	h.type = PROTO_COMMITTED;
	h.length = 8;
	h.flags = 1;
	cr_assert_eq(proto_decode(&h, pay, &m), PROTO_E_FLAGS);
	h.flags = 0;
	h.version = PROTO_VERSION + 1;
	cr_assert_eq(proto_decode(&h, pay, &m), PROTO_E_VERSION);
	h.version = PROTO_VERSION - 1;
	cr_assert_eq(proto_decode(&h, pay, &m), PROTO_E_VERSION);
	h.version = PROTO_VERSION;
	h.length = PROTO_MAX_PAYLOAD + 1;
	cr_assert_eq(proto_decode(&h, pay, &m), PROTO_E_TOOBIG);
	h.length = 8;
	cr_assert_eq(proto_decode(&h, pay, &m), 0);
}

/* ---- HELLO ---------------------------------------------------------------- */

static void
hello_frame(struct fb *f, uint16_t vmin, uint16_t vmax, uint32_t caps)
{
	fb_init(f, 4096);
	fb_u16(f, vmin);
	fb_u16(f, vmax);
	fb_u32(f, caps);
}

Test(codec, hello_rejects)
{
	struct proto_msg m;
	struct fb f;

	hello_frame(&f, 1, 1, 2);
	fb_str(&f, "a");
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_KIND);
	fb_free(&f);
	m = mk_hello();
	m.u.hello.caps = 1u << 31;
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);

	hello_frame(&f, 2, 1, 0);
	fb_str(&f, "a");
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_hello();
	m.u.hello.version_min = 4;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	hello_frame(&f, 1, 1, 0);
	fb_strn(&f, "a\0b", 3);
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_STRING);
	fb_free(&f);

	/* Declared length one over the field max; drop the last byte so the
	 * frame stays within HELLO's cap and the string rule is what fires. */
	hello_frame(&f, 1, 1, 0);
	fb_str(&f, rep('x', PROTO_PEER_MAX + 1));
	f.len--;
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_STRING);
	fb_free(&f);
	m = mk_hello();
	memset(m.u.hello.peer, 'x', sizeof(m.u.hello.peer)); /* unterminated */
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	hello_frame(&f, 1, 1, 0);
	fb_u16(&f, 10);
	fb_raw(&f, "abc", 3);
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_TRUNC);
	fb_free(&f);

	hello_frame(&f, 1, 1, 0);
	fb_u8(&f, 0); /* half a string length */
	fb_finish(&f, PROTO_HELLO, 0);
	/* 9 bytes < HELLO's fixed 10: caught at the header. */
	cr_assert_eq(decode_frame(f.buf, f.len, &m), PROTO_E_TRUNC);
	fb_free(&f);

	hello_frame(&f, 1, 1, 0);
	fb_str(&f, "abc");
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_HELLO, 0), PROTO_E_TRAILING);
	fb_free(&f);
}

/* ---- PROGRESS_QUERY / PROGRESS ------------------------------------------------- */

Test(codec, pquery_rejects)
{
	struct proto_msg m;
	struct fb f;

	fb_init(&f, 256);
	fb_str(&f, "");
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, 0), PROTO_E_STRING);
	fb_free(&f);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_PROGRESS_QUERY;
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	fb_init(&f, 256);
	fb_strn(&f, "ab\0", 3);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, 0), PROTO_E_STRING);
	fb_free(&f);

	/* 65-byte name: length field says too long before the frame cap. */
	fb_init(&f, 256);
	fb_u16(&f, PROTO_NAME_MAX + 1);
	fb_raw(&f, rep('g', PROTO_NAME_MAX), PROTO_NAME_MAX);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, 0), PROTO_E_STRING);
	fb_free(&f);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_PROGRESS_QUERY;
	memset(m.u.pquery.group, 'g', sizeof(m.u.pquery.group));
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
}

static void
progress_head(struct fb *f, uint64_t pending, uint16_t ndisks)
{
	fb_init(f, 8192);
	fb_str(f, "web");
	fb_u64(f, 1);
	fb_u64(f, pending);
	fb_u64(f, 1);
	fb_u16(f, ndisks);
}

Test(codec, progress_rejects)
{
	struct proto_msg m;
	struct fb f;

	progress_head(&f, 2, PROTO_MAX_DISKS + 1);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_progress(1);
	m.u.progress.ndisks = PROTO_MAX_DISKS + 1;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	progress_head(&f, 0, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 0);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_progress(1);
	m.u.progress.pending_point = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	progress_head(&f, 2, 1);
	fb_str(&f, "");
	fb_u64(&f, 0);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_STRING);
	fb_free(&f);
	m = mk_progress(2);
	m.u.progress.disks[1].name[0] = '\0';
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);

	progress_head(&f, 2, 1);
	fb_str(&f, "vda");
	fb_u64(&f, 0);
	fb_u8(&f, 2);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_RANGE);
	fb_free(&f);
	m = mk_progress(2);
	m.u.progress.disks[0].done = 7;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	progress_head(&f, 2, 2);
	fb_str(&f, "vda");
	fb_u64(&f, 0);
	fb_u8(&f, 1);
	fb_str(&f, "vdb");
	fb_u64(&f, 0); /* missing done byte */
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_TRUNC);
	fb_free(&f);

	progress_head(&f, 0, 0);
	fb_u8(&f, 9);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_TRAILING);
	fb_free(&f);

	progress_head(&f, 0, 0);
	f.buf[PROTO_HDR_SIZE + 2] = '\0'; /* "web" -> "w\0b" */
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS, 0), PROTO_E_STRING);
	fb_free(&f);
}

/* ---- encoder specifics ------------------------------------------------------ */

Test(codec, encode_unknown_type)
{
	struct proto_msg m;
	uint8_t buf[64];
	size_t n = 0, b = 0;

	memset(&m, 0, sizeof(m));
	m.type = 2;
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), PROTO_E_TYPE);
	cr_assert_eq(proto_encode_head(&m, buf, sizeof(buf), &n, &b), PROTO_E_TYPE);
}

/* Head + appended bulk must equal proto_encode's frame byte for byte. */
static void
head_plus_bulk(const struct proto_msg *m, const uint8_t *bulk_src, size_t want_bulk)
{
	static uint8_t whole[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	static uint8_t split[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	uint8_t head[PROTO_HEAD_MAX];
	size_t nw = 0, nh = 0, nb = 0;
	struct proto_msg out;

	cr_assert_eq(proto_encode(m, whole, sizeof(whole), &nw), 0);
	cr_assert_eq(proto_encode_head(m, head, sizeof(head), &nh, &nb), 0);
	cr_assert_eq(nb, want_bulk);
	cr_assert_eq(nh + nb, nw);
	memcpy(split, head, nh);
	if (nb)
		memcpy(split + nh, bulk_src, nb);
	cr_assert_arr_eq(split, whole, nw);
	cr_assert_eq(decode_frame(split, nh + nb, &out), 0);
}

Test(codec, encode_head_matches)
{
	struct proto_msg m;

	m = mk_extent(PROTO_KIND_DATA, PROTO_COMP_NONE, PROTO_MAX_EXTENT,
		      PROTO_MAX_EXTENT);
	head_plus_bulk(&m, bulk, PROTO_MAX_EXTENT);
	m = mk_extent(PROTO_KIND_ZERO, PROTO_COMP_NONE, 8192, 0);
	head_plus_bulk(&m, NULL, 0);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_POINT_COMMIT;
	m.u.commit.point_id = 3;
	m.u.commit.meta = bulk;
	m.u.commit.meta_len = 777;
	head_plus_bulk(&m, bulk, 777);

	m = mk_hanswer(100);
	head_plus_bulk(&m, bulk, 800);

	/* Bulk-free types: the head is the whole frame, even the largest. */
	m = mk_progress(PROTO_MAX_DISKS);
	for (int i = 0; i < PROTO_MAX_DISKS; i++)
		snprintf(m.u.progress.disks[i].name, sizeof(m.u.progress.disks[i].name),
			 "%s%02d", rep('n', PROTO_NAME_MAX - 2), i);
	strcpy(m.u.progress.group, rep('g', PROTO_NAME_MAX));
	head_plus_bulk(&m, NULL, 0);
	m = mk_hello();
	head_plus_bulk(&m, NULL, 0);
}

Test(codec, encode_nospace)
{
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_msg m = mk_extent(PROTO_KIND_DATA, PROTO_COMP_NONE, 4096, 4096);
	size_t n = 0, b = 0, total;

	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &total), 0);
	cr_assert_eq(total, PROTO_HDR_SIZE + 28 + 4096);
	cr_assert_eq(proto_encode(&m, buf, total, &n), 0);
	cr_assert_eq(n, total);
	cr_assert_eq(proto_encode(&m, buf, total - 1, &n), PROTO_E_NOSPACE);
	cr_assert_eq(proto_encode(&m, buf, PROTO_HDR_SIZE + 27, &n), PROTO_E_NOSPACE);
	cr_assert_eq(proto_encode(&m, buf, PROTO_HDR_SIZE - 1, &n), PROTO_E_NOSPACE);
	cr_assert_eq(proto_encode(&m, buf, 0, &n), PROTO_E_NOSPACE);
	cr_assert_eq(proto_encode_head(&m, buf, PROTO_HDR_SIZE + 28, &n, &b), 0);
	cr_assert_eq(n, PROTO_HDR_SIZE + 28);
	cr_assert_eq(b, 4096);
	cr_assert_eq(proto_encode_head(&m, buf, PROTO_HDR_SIZE + 27, &n, &b),
		     PROTO_E_NOSPACE);

	/* Inside a string, too. */
	m = mk_hello();
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &total), 0);
	for (size_t cap = 0; cap < total; cap++)
		cr_assert_eq(proto_encode(&m, buf, cap, &n), PROTO_E_NOSPACE,
			     "cap %zu", cap);

	/* An invalid message reports its error even with no room at all. */
	m.u.hello.caps = 0x10;
	cr_assert_eq(proto_encode(&m, buf, 0, &n), PROTO_E_KIND);
}

Test(codec, strerror_texts)
{
	const char *seen[16] = { 0 };

	for (int c = PROTO_OK; c >= PROTO_E_NOSPACE; c--) {
		const char *s = proto_strerror(c);

		cr_assert_not_null(s);
		cr_assert_gt(strlen(s), 3);
		cr_assert_str_neq(s, proto_strerror(-100), "code %d has no text", c);
		for (int j = 0; j < -c; j++)
			cr_assert_str_neq(s, seen[j]);
		seen[-c] = s;
	}
	cr_assert_str_eq(proto_strerror(-100), proto_strerror(5));
}
