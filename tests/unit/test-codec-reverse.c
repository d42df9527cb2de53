/* Unit tests for the reverse messages of the wire codec (failback, issue
 * 14): REVERSE_BEGIN, REVERSE_RANGES, REVERSE_FINISH, REVERSE_DONE round trips, and every
 * unknown flag, oversize count, disorder and overflow refused. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_reverse, .init = init_bulk);

static uint8_t rbuf[(PROTO_MAX_RANGES + 1) * PROTO_RANGE_SIZE];

/* count ranges of 4 KiB, 1 MiB apart. */
static struct proto_msg
mk_ranges(const char *disk, uint32_t count, uint32_t flags)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REVERSE_RANGES;
	m.u.rranges.flags = flags;
	snprintf(m.u.rranges.disk, sizeof(m.u.rranges.disk), "%s", disk);
	for (uint32_t i = 0; i < count; i++)
		proto_range_put(rbuf + (size_t)i * PROTO_RANGE_SIZE, (uint64_t)i << 20, 4096);
	m.u.rranges.count = count;
	m.u.rranges.ranges = count ? rbuf : NULL;
	return m;
}

/* A raw REVERSE_RANGES payload with the given ranges. */
static void
fb_ranges(struct fb *f, const char *disk, uint32_t count, const uint64_t *r)
{
	f->len = PROTO_HDR_SIZE;
	fb_str(f, disk);
	fb_u32(f, count);
	for (uint32_t i = 0; i < count; i++) {
		fb_u64(f, r[2 * i]);
		fb_u64(f, r[2 * i + 1]);
	}
}

Test(codec_reverse, begin_roundtrip)
{
	struct proto_msg in, out;
	size_t n;
	uint8_t buf[256];

	memset(&in, 0, sizeof(in));
	in.type = PROTO_REVERSE_BEGIN;
	in.u.rbegin.flags = PROTO_FLAG_REVERSE_RANGES;
	strcpy(in.u.rbegin.group, rep('g', PROTO_NAME_MAX));
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rbegin.flags, PROTO_FLAG_REVERSE_RANGES);
	cr_assert_str_eq(out.u.rbegin.group, in.u.rbegin.group);
	in.u.rbegin.flags = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rbegin.flags, 0);
	in.u.rbegin.flags = PROTO_FLAG_REVERSE_FULL; /* new on-prem disks */
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rbegin.flags, PROTO_FLAG_REVERSE_FULL);

	/* The reverse band needs protocol 2: the header says so. */
	cr_assert_eq(proto_encode(&in, buf, sizeof(buf), &n), 0);
	cr_assert_eq(buf[4] << 8 | buf[5], 2);
	cr_assert_eq(buf[6] << 8 | buf[7], 96);
}

Test(codec_reverse, begin_rejects)
{
	struct proto_msg m;
	struct fb f;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REVERSE_BEGIN;
	cr_assert_eq(encode_only(&m), PROTO_E_STRING); /* empty group */
	strcpy(m.u.rbegin.group, "g");
	m.u.rbegin.flags = 4;
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);
	/* X follows, and X is the whole disks: one excludes the other */
	m.u.rbegin.flags = PROTO_FLAG_REVERSE_RANGES | PROTO_FLAG_REVERSE_FULL;
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);

	fb_init(&f, 256);
	fb_str(&f, "g");
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, PROTO_FLAG_REVERSE_RANGES), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, PROTO_FLAG_REVERSE_FULL), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN,
			       PROTO_FLAG_REVERSE_RANGES | PROTO_FLAG_REVERSE_FULL), PROTO_E_FLAGS);
	for (unsigned bit = 2; bit < 32; bit++)
		cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 1u << bit), PROTO_E_FLAGS,
			     "flag bit %u", bit);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), PROTO_E_TRAILING);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "");
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), PROTO_E_STRING);
	f.len = PROTO_HDR_SIZE;
	fb_strn(&f, "a\0b", 3);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), PROTO_E_STRING);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, rep('g', PROTO_NAME_MAX + 1));
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), PROTO_E_TOOBIG);
	f.len = PROTO_HDR_SIZE;
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_BEGIN, 0), PROTO_E_TRUNC);
	/* A version 1 header cannot carry it, nor anything else now. */
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "g");
	fb_hdr(&f, PROTO_MAGIC, 1, PROTO_REVERSE_BEGIN, 0, 3);
	cr_assert_eq(decode_frame(f.buf, f.len, &m), PROTO_E_VERSION);
	fb_free(&f);
}

Test(codec_reverse, ranges_roundtrip)
{
	struct proto_msg in = mk_ranges("vda", PROTO_MAX_RANGES, PROTO_FLAG_RANGES_MORE), out;
	uint64_t a, b, c, d;

	roundtrip(&in, &out);
	cr_assert_eq(out.u.rranges.flags, PROTO_FLAG_RANGES_MORE);
	cr_assert_str_eq(out.u.rranges.disk, "vda");
	cr_assert_eq(out.u.rranges.count, PROTO_MAX_RANGES);
	for (uint32_t i = 0; i < PROTO_MAX_RANGES; i += 101) {
		proto_range_get(&in.u.rranges, i, &a, &b);
		proto_range_get(&out.u.rranges, i, &c, &d);
		cr_assert_eq(a, c);
		cr_assert_eq(b, d);
		cr_assert_eq(c, (uint64_t)i << 20);
		cr_assert_eq(d, 4096);
	}
	/* The last frame of a disk, the last of X, and the bare end. */
	in = mk_ranges("vdb", 3, 0);
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rranges.count, 3);
	in = mk_ranges("vdb", 0, PROTO_FLAG_RANGES_END);
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rranges.flags, PROTO_FLAG_RANGES_END);
	cr_assert_null(out.u.rranges.ranges);
	in = mk_ranges("", 0, PROTO_FLAG_RANGES_END);
	roundtrip(&in, &out);
	cr_assert_str_empty(out.u.rranges.disk);
}

Test(codec_reverse, ranges_rejects_encode)
{
	struct proto_msg m = mk_ranges("vda", PROTO_MAX_RANGES + 1, 0);

	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m = mk_ranges("vda", 2, PROTO_FLAG_RANGES_MORE | PROTO_FLAG_RANGES_END);
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);
	m = mk_ranges("vda", 2, 4);
	cr_assert_eq(encode_only(&m), PROTO_E_FLAGS);
	m = mk_ranges("vda", 0, PROTO_FLAG_RANGES_MORE); /* more of nothing */
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
	m = mk_ranges("", 0, 0); /* no disk, not the end */
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
	m = mk_ranges("", 1, PROTO_FLAG_RANGES_END); /* no disk with ranges */
	cr_assert_eq(encode_only(&m), PROTO_E_STRING);
	m = mk_ranges("vda", 2, 0);
	m.u.rranges.ranges = NULL;
	cr_assert_eq(encode_only(&m), PROTO_E_RANGE);
}

Test(codec_reverse, ranges_rejects_decode)
{
	static const uint64_t ok[] = { 0, 512, 512, 512, 1 << 20, 4096 };
	static const uint64_t zero_len[] = { 0, 512, 4096, 0 };
	static const uint64_t overlap[] = { 0, 4096, 2048, 4096 };
	static const uint64_t backwards[] = { 8192, 4096, 0, 4096 };
	static const uint64_t wrap[] = { UINT64_MAX - 10, 20 };
	static const uint64_t past[] = { PROTO_MAX_DISK_SIZE - 4096, 8192 };
	static const uint64_t atmax[] = { PROTO_MAX_DISK_SIZE - 4096, 4096 };
	struct fb f;

	fb_init(&f, PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD + 64);
	fb_ranges(&f, "vda", 3, ok);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, PROTO_FLAG_RANGES_MORE), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, PROTO_FLAG_RANGES_END), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES,
			       PROTO_FLAG_RANGES_MORE | PROTO_FLAG_RANGES_END), PROTO_E_FLAGS);
	for (unsigned bit = 2; bit < 32; bit++)
		cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 1u << bit), PROTO_E_FLAGS,
			     "flag bit %u", bit);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_TRAILING);
	fb_ranges(&f, "vda", 3, ok);
	f.len -= 1;
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_TRUNC);
	/* A count that lies: more ranges than the frame holds. */
	fb_ranges(&f, "vda", 3, ok);
	f.buf[PROTO_HDR_SIZE + 2 + 3 + 3] = 4;
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_TRUNC);

	fb_ranges(&f, "vda", 2, zero_len);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	fb_ranges(&f, "vda", 2, overlap);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	fb_ranges(&f, "vda", 2, backwards);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	fb_ranges(&f, "vda", 1, wrap);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	fb_ranges(&f, "vda", 1, past);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	fb_ranges(&f, "vda", 1, atmax);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), 0);
	fb_ranges(&f, "", 0, NULL);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, PROTO_FLAG_RANGES_END), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_STRING);
	fb_ranges(&f, "vda", 0, NULL);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, PROTO_FLAG_RANGES_MORE), PROTO_E_RANGE);
	f.len = PROTO_HDR_SIZE;
	fb_strn(&f, "a\0b", 3);
	fb_u32(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_STRING);

	/* One range more than a frame may carry: refused on the count, before
	 * the bytes; and a header longer than the type's cap is refused first. */
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "vda");
	fb_u32(&f, PROTO_MAX_RANGES + 1);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "vda");
	fb_u32(&f, 0xffffffffu);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_RANGES, 0), PROTO_E_RANGE);
	{
		struct proto_hdr h;

		fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_REVERSE_RANGES, 0,
		       2 + PROTO_NAME_MAX + 4 + (PROTO_MAX_RANGES + 1) * PROTO_RANGE_SIZE);
		cr_assert_eq(proto_hdr_decode(f.buf, PROTO_HDR_SIZE, &h), PROTO_E_TOOBIG);
		fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_REVERSE_RANGES, 0, 5);
		cr_assert_eq(proto_hdr_decode(f.buf, PROTO_HDR_SIZE, &h), PROTO_E_TRUNC);
	}
	fb_free(&f);
}

/* REVERSE_FINISH gained its timeout and point (issue 14, failback finish):
 * the group-only payload it had while codec-only is now short. */
Test(codec_reverse, finish_roundtrip_and_rejects)
{
	struct proto_msg in, out;
	struct fb f;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_REVERSE_FINISH;
	strcpy(in.u.rfinish.group, "web");
	in.u.rfinish.shutdown_s = 300;
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.rfinish.group, "web");
	cr_assert_eq(out.u.rfinish.shutdown_s, 300);
	cr_assert_eq(out.u.rfinish.point, 0);
	cr_assert_eq(out.u.rfinish.flags, 0);
	in.u.rfinish.flags = PROTO_FLAG_FINISH_RELEASE;
	in.u.rfinish.shutdown_s = 0;
	in.u.rfinish.point = 7;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rfinish.flags, PROTO_FLAG_FINISH_RELEASE);
	cr_assert_eq(out.u.rfinish.point, 7);
	/* A release names its point and no timeout; a finish the reverse. */
	in.u.rfinish.point = 0;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.point = PROTO_MAX_POINT_ID + 1;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.point = 7;
	in.u.rfinish.shutdown_s = 1;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.flags = 0;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.point = 0;
	in.u.rfinish.shutdown_s = 0;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.shutdown_s = PROTO_MAX_SHUTDOWN_S + 1;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rfinish.shutdown_s = PROTO_MAX_SHUTDOWN_S;
	cr_assert_eq(encode_only(&in), 0);
	in.u.rfinish.group[0] = '\0';
	cr_assert_eq(encode_only(&in), PROTO_E_STRING);
	in.u.rfinish.flags = 2;
	strcpy(in.u.rfinish.group, "web");
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);

	fb_init(&f, 256);
	fb_str(&f, "web");
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, 0), PROTO_E_TRUNC);
	fb_u32(&f, 60);
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, 0), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, PROTO_FLAG_FINISH_RELEASE),
		     PROTO_E_RANGE);
	for (int bit = 1; bit < 32; bit++)
		cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, 1u << bit), PROTO_E_FLAGS,
			     "bit %d", bit);
	fb_u8(&f, 1);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, 0), PROTO_E_TRAILING);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "web");
	fb_u32(&f, 0);
	fb_u64(&f, 3);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, PROTO_FLAG_FINISH_RELEASE), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_FINISH, 0), PROTO_E_RANGE);
	fb_free(&f);
}

Test(codec_reverse, done_roundtrip_and_rejects)
{
	struct proto_msg in, out;
	struct fb f;

	memset(&in, 0, sizeof(in));
	in.type = PROTO_REVERSE_DONE;
	strcpy(in.u.rdone.group, rep('g', PROTO_NAME_MAX));
	in.u.rdone.point = 3;
	in.u.rdone.base = 2;
	in.u.rdone.bytes = 1048576;
	roundtrip(&in, &out);
	cr_assert_str_eq(out.u.rdone.group, in.u.rdone.group);
	cr_assert_eq(out.u.rdone.point, 3);
	cr_assert_eq(out.u.rdone.base, 2);
	cr_assert_eq(out.u.rdone.bytes, 1048576);
	cr_assert_eq(out.u.rdone.flags, 0);
	in.u.rdone.flags = PROTO_FLAG_DONE_RELEASED;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.rdone.flags, PROTO_FLAG_DONE_RELEASED);
	in.u.rdone.base = 3; /* F lies over an older point */
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rdone.base = 2;
	in.u.rdone.point = 0;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rdone.point = PROTO_MAX_POINT_ID + 1;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);
	in.u.rdone.point = 3;
	in.u.rdone.bytes = UINT64_MAX;
	cr_assert_eq(encode_only(&in), PROTO_E_RANGE);

	fb_init(&f, 256);
	fb_str(&f, "web");
	fb_u64(&f, 3);
	fb_u64(&f, 2);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, 0), PROTO_E_TRUNC);
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, 0), 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, PROTO_FLAG_DONE_RELEASED), 0);
	for (int bit = 1; bit < 32; bit++)
		cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, 1u << bit), PROTO_E_FLAGS,
			     "bit %d", bit);
	fb_u8(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, 0), PROTO_E_TRAILING);
	f.len = PROTO_HDR_SIZE;
	fb_str(&f, "");
	fb_u64(&f, 3);
	fb_u64(&f, 2);
	fb_u64(&f, 0);
	cr_assert_eq(decode_fb(&f, PROTO_REVERSE_DONE, 0), PROTO_E_STRING);
	fb_free(&f);
}

Test(codec_reverse, bulk_is_the_ranges)
{
	struct proto_msg m = mk_ranges("vda", 7, 0);
	const uint8_t *b;
	size_t n;

	proto_msg_bulk(&m, &b, &n);
	cr_assert_eq(b, rbuf);
	cr_assert_eq(n, 7 * PROTO_RANGE_SIZE);
}
