/* Unit tests for the planned failover's wire flags (issue 14, item 5):
 * PROGRESS's PLANNED flag and POINT_BEGIN's FINAL flag: round trips, the
 * bits no other type takes, FINAL with REPAIR refused. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_planned, .init = init_bulk);

Test(codec_planned, progress_flag_roundtrip)
{
	struct proto_msg in = mk_progress(2), out;

	in.u.progress.flags = PROTO_FLAG_PROGRESS_PLANNED;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.flags, PROTO_FLAG_PROGRESS_PLANNED);
	cr_assert_eq(out.u.progress.last_point, 41);
	cr_assert_eq(out.u.progress.ndisks, 2);
	in.u.progress.flags = 0;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.flags, 0);
	/* Only bit 0 is defined for PROGRESS. */
	in.u.progress.flags = 2;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
}

Test(codec_planned, progress_flag_on_wire)
{
	struct proto_msg m = mk_progress(0);
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_hdr h;
	size_t n = 0;

	m.u.progress.flags = PROTO_FLAG_PROGRESS_PLANNED;
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
	/* The header's flags word carries it, big-endian at bytes 8..11. */
	cr_assert_eq(buf[11], 1);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), 0);
	cr_assert_eq(h.flags, PROTO_FLAG_PROGRESS_PLANNED);
	put_be32(buf + 8, 0x80000000u);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
	put_be32(buf + 8, 3);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
}

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
