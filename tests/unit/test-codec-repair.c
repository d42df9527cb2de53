/* Unit tests for the repair messages of the wire codec (issue 13, item 3):
 * REPAIR_QUERY, REPAIR_LIST and its entries, POINT_BEGIN's REPAIR flag:
 * round trips, bounds and unknown flags. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_repair, .init = init_bulk);

static uint8_t ents[PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE];

/* A list of point 9 (base 8) over ndisks disks with count entries, entry i
 * on disk i % ndisks, DATA when i is even, ZERO when odd. */
static struct proto_msg
mk_list(uint16_t ndisks, uint32_t count)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REPAIR_LIST;
	m.u.rlist.point_id = 9;
	m.u.rlist.base_id = 8;
	m.u.rlist.ndisks = ndisks;
	for (uint16_t i = 0; i < ndisks; i++) {
		snprintf(m.u.rlist.disks[i].name, sizeof(m.u.rlist.disks[i].name), "d%u", i);
		m.u.rlist.disks[i].size = 1ull << 40;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct proto_repair_entry e = {
			.disk = (uint16_t)(i % ndisks),
			.kind = i % 2 ? PROTO_KIND_ZERO : PROTO_KIND_DATA,
			.offset = (uint64_t)i << 20,
			.length = i % 2 ? PROTO_MAX_ZERO : PROTO_MAX_EXTENT,
			.hash = i % 2 ? 0 : 0x1234567890abcdefull ^ i,
		};
		proto_repair_entry_put(ents + (size_t)i * PROTO_REPAIR_ENTRY_SIZE, &e);
	}
	m.u.rlist.count = count;
	m.u.rlist.entries = count ? ents : NULL;
	return m;
}

/* Overwrite entry i of the list's bytes. */
static void
set_entry(uint32_t i, uint16_t disk, uint8_t kind, uint64_t off, uint64_t len, uint64_t hash)
{
	struct proto_repair_entry e = { disk, kind, off, len, hash };

	proto_repair_entry_put(ents + (size_t)i * PROTO_REPAIR_ENTRY_SIZE, &e);
}

Test(codec_repair, query_roundtrip)
{
	struct proto_msg in, out;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_REPAIR_QUERY;
	strcpy(in.u.rquery.group, rep('g', PROTO_NAME_MAX));
	in.u.rquery.point = 0;
	in.u.rquery.before = 77;
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.rquery.group, in.u.rquery.group);
	cr_assert_eq(out.u.rquery.point, 0);
	cr_assert_eq(out.u.rquery.before, 77);

	in.u.rquery.point = 5;
	in.u.rquery.before = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rquery.point, 5);
}

Test(codec_repair, query_rejects)
{
	struct proto_msg m;
	struct fb f;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REPAIR_QUERY;
	cr_assert_eq(encode_only(&m), PROTO_E_STRING); /* empty group */
	strcpy(m.u.rquery.group, "g");
	m.u.rquery.point = 3;
	m.u.rquery.before = 4; /* a named point has no "below" */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);

	fb_init(&f, 256);
	fb_str(&f, "g");
	fb_u64(&f, 3);
	fb_u64(&f, 4);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 0), PROTO_E_RANGE);
	/* Unknown flags, short and trailing payloads. */
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 1), PROTO_E_FLAGS);
	f.len -= 1;
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 0), PROTO_E_TRUNC);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "g");
	fb_u64(&f, 0);
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 0), 0);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 0), PROTO_E_TRAILING);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, rep('g', PROTO_NAME_MAX + 1));
	fb_u64(&f, 0);
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_QUERY, 0), PROTO_E_TOOBIG);
	fb_free(&f);
}

Test(codec_repair, list_roundtrip)
{
	struct proto_msg in = mk_list(PROTO_MAX_DISKS, PROTO_MAX_REPAIR), out;
	struct proto_repair_entry a, b;

	in.u.rlist.flags = PROTO_FLAG_REPAIR_MORE;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rlist.flags, PROTO_FLAG_REPAIR_MORE);
	cr_assert_eq(out.u.rlist.point_id, 9);
	cr_assert_eq(out.u.rlist.base_id, 8);
	cr_assert_eq(out.u.rlist.ndisks, PROTO_MAX_DISKS);
	cr_assert_str_eq(out.u.rlist.disks[63].name, "d63");
	cr_assert_eq(out.u.rlist.disks[63].size, 1ull << 40);
	cr_assert_eq(out.u.rlist.count, PROTO_MAX_REPAIR);
	for (uint32_t i = 0; i < PROTO_MAX_REPAIR; i += 97) {
		proto_repair_entry_get(&in.u.rlist, i, &a);
		proto_repair_entry_get(&out.u.rlist, i, &b);
		cr_assert_eq(a.disk, b.disk);
		cr_assert_eq(a.kind, b.kind);
		cr_assert_eq(a.offset, b.offset);
		cr_assert_eq(a.length, b.length);
		cr_assert_eq(a.hash, b.hash);
		cr_assert_eq(b.offset, (uint64_t)i << 20);
	}

	/* "No bad point": an empty answer. */
	in = mk_list(0, 0);
	in.u.rlist.point_id = 0;
	in.u.rlist.base_id = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rlist.point_id, 0);
	cr_assert_eq(out.u.rlist.count, 0);
	cr_assert_null(out.u.rlist.entries);
}

Test(codec_repair, list_entry_bounds)
{
	struct proto_msg m;

	m = mk_list(2, 4);
	cr_assert_eq(encode_only(&m), 0);
	set_entry(1, 2, PROTO_KIND_DATA, 0, 4096, 1); /* disk past the list */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_DISCARD, 0, 4096, 0); /* kind a repair never has */
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);
	set_entry(1, 1, 9, 0, 4096, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_KIND);
	set_entry(1, 1, PROTO_KIND_DATA, 0, PROTO_MAX_EXTENT + 1, 1); /* one EXTENT's worth */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_ZERO, 0, PROTO_MAX_ZERO + 1, 0);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_DATA, 0, 0, 1);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_DATA, UINT64_MAX - 10, 4096, 1); /* wraps */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_DATA, PROTO_MAX_DISK_SIZE - 4095, 4096, 1);
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_ZERO, 0, 4096, 5); /* ZERO with a hash */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	set_entry(1, 1, PROTO_KIND_DATA, PROTO_MAX_DISK_SIZE - 4096, 4096, 5);
	cr_assert_eq(encode_only(&m), 0);
}

Test(codec_repair, list_rules)
{
	struct proto_msg m;

	m = mk_list(1, 0);
	cr_assert_eq(encode_only(&m), 0);
	m.u.rlist.flags = PROTO_FLAG_REPAIR_MORE; /* more of nothing */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m.u.rlist.flags = 2;
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);

	m = mk_list(1, 1);
	m.u.rlist.point_id = 0; /* no point but entries */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m = mk_list(0, 0);
	m.u.rlist.base_id = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE); /* a point without disks */
	m.u.rlist.point_id = 0;
	cr_assert_eq(encode_only(&m), 0);

	m = mk_list(2, 1);
	m.u.rlist.base_id = 9; /* base not below the point */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m = mk_list(2, 1);
	strcpy(m.u.rlist.disks[1].name, "d0"); /* a disk twice */
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
	m = mk_list(2, 1);
	m.u.rlist.disks[1].size = 0;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m = mk_list(2, 1);
	m.u.rlist.count = PROTO_MAX_REPAIR + 1;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
}

Test(codec_repair, list_decode_bounds)
{
	struct fb f;

	fb_init(&f, PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD);
	fb_u64(&f, 9);
	fb_u64(&f, 8);
	fb_u16(&f, PROTO_MAX_DISKS + 1); /* before the loop touches the array */
	fb_u32(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 0), PROTO_E_RANGE);

	f.len = PROTO_HDR_SIZE;
	fb_u64(&f, 9);
	fb_u64(&f, 8);
	fb_u16(&f, 1);
	fb_str(&f, "d0");
	fb_u64(&f, 1 << 20);
	fb_u32(&f, 0xffffffffu); /* a count that would overflow count * 27 */
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 0), PROTO_E_RANGE);

	f.len -= 4;
	fb_u32(&f, 2); /* two entries announced, one and a half sent */
	set_entry(0, 0, PROTO_KIND_DATA, 0, 4096, 1);
	fb_raw(&f, ents, PROTO_REPAIR_ENTRY_SIZE + 10);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 0), PROTO_E_TRUNC);
	f.len -= 10;
	f.len -= 4 + PROTO_REPAIR_ENTRY_SIZE;
	fb_u32(&f, 1);
	fb_raw(&f, ents, PROTO_REPAIR_ENTRY_SIZE);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 0), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, PROTO_FLAG_REPAIR_MORE), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 2), PROTO_E_FLAGS);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REPAIR_LIST, 0), PROTO_E_TRAILING);
	fb_free(&f);
}

Test(codec_repair, begin_flag)
{
	struct proto_msg in = mk_begin(2), out;
	struct fb f;
	size_t i;

	in.u.begin.flags = PROTO_FLAG_BEGIN_REPAIR;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.begin.flags, PROTO_FLAG_BEGIN_REPAIR);
	in.u.begin.flags = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.begin.flags, 0);
	in.u.begin.flags = 2;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);

	/* Only POINT_BEGIN defines it: the same bit elsewhere is unknown. */
	fb_init(&f, 64);
	fb_u64(&f, 7);
	cr_assert_eq(decode_fb(&f, PROTO_COMMITTED, PROTO_FLAG_BEGIN_REPAIR), PROTO_E_FLAGS);
	f.len = PROTO_HDR_SIZE;
	fb_u16(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_DISK_DONE, PROTO_FLAG_BEGIN_REPAIR), PROTO_E_FLAGS);
	fb_free(&f);
	static const uint32_t bad[] = { 2, 0x80000000u, 3 };
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proto_msg m = mk_begin(1);
		static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
		size_t n = 0;
		struct proto_hdr h;

		cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
		put_be32(buf + 8, bad[i]);
		cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS, "flags %x", bad[i]);
	}
}

Test(codec_repair, bulk_names_entries)
{
	struct proto_msg m = mk_list(1, 3);
	const uint8_t *b;
	size_t n;

	proto_msg_bulk(&m, &b, &n);
	cr_assert_eq(b, ents);
	cr_assert_eq(n, 3 * PROTO_REPAIR_ENTRY_SIZE);
	m = mk_hello();
	proto_msg_bulk(&m, &b, &n);
	cr_assert_null(b);
	cr_assert_eq(n, 0);
}
