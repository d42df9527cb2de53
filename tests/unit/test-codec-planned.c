/* Unit tests for the planned failover's wire flags (issue 14, item 5):
 * PLANNED on a frame with a payload of another type, POINT_BEGIN's FINAL
 * flag: round trips, FINAL with REPAIR refused. PROGRESS's flags
 * themselves: test-codec-progress.c. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_planned, .init = init_bulk);

Test(codec_planned, planned_flag_only_on_progress)
{
	struct fb f;

	/* The same bit on a query is unknown: a query never carries it. */
	fb_init(&f, 128);
	fb_str(&f, "web");
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, PROTO_FLAG_PROGRESS_PLANNED),
		     PROTO_E_FLAGS);
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, 0), 0);
	f.len = PROTO_HDR_SIZE;
	fb_u64(&f, 7);
	cr_assert_eq(decode_fb(&f, PROTO_COMMITTED, PROTO_FLAG_PROGRESS_PLANNED), PROTO_E_FLAGS);
	fb_free(&f);
}

Test(codec_planned, begin_final_roundtrip)
{
	struct proto_msg in = mk_begin(2), out;

	in.u.begin.flags = PROTO_FLAG_BEGIN_FINAL;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.begin.flags, PROTO_FLAG_BEGIN_FINAL);
	cr_assert_eq(out.u.begin.ndisks, 2);
	/* A repair rewrites an old point; a final point is new: never both. */
	in.u.begin.flags = PROTO_FLAG_BEGIN_FINAL | PROTO_FLAG_BEGIN_REPAIR;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
	in.u.begin.flags = 2;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
}

Test(codec_planned, begin_final_decode)
{
	struct proto_msg in = mk_begin(1), out;
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_hdr h;
	size_t n = 0;

	cr_assert_eq(proto_encode(&in, buf, sizeof(buf), &n), 0);
	put_be32(buf + 8, PROTO_FLAG_BEGIN_FINAL);
	cr_assert_eq(decode_frame(buf, n, &out), 0);
	cr_assert_eq(out.u.begin.flags, PROTO_FLAG_BEGIN_FINAL);
	/* Both bits pass the header (each is known) but not the validator. */
	put_be32(buf + 8, PROTO_FLAG_BEGIN_FINAL | PROTO_FLAG_BEGIN_REPAIR);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), 0);
	cr_assert_eq(decode_frame(buf, n, &out), PROTO_E_FLAGS);
	put_be32(buf + 8, 2);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
}
