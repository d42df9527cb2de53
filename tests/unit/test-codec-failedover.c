/* Unit tests for PROGRESS's FAILED_OVER flag (issue 14): round trip, its
 * bit on the wire, exclusive with PLANNED, unknown bits still refused, and
 * no other type takes it. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_failedover, .init = init_bulk);

Test(codec_failedover, roundtrip)
{
	struct proto_msg in = mk_progress(2), out;

	in.u.progress.flags = PROTO_FLAG_PROGRESS_FAILED_OVER;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.flags, PROTO_FLAG_PROGRESS_FAILED_OVER);
	cr_assert_eq(out.u.progress.last_point, 41);
	cr_assert_eq(out.u.progress.ndisks, 2);
	/* A failed-over group has no planned failover to make: never both. */
	in.u.progress.flags = PROTO_FLAG_PROGRESS_FAILED_OVER | PROTO_FLAG_PROGRESS_PLANNED;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
	/* Bits 1 and 3 up are unknown. */
	in.u.progress.flags = PROTO_FLAG_PROGRESS_FAILED_OVER | 2;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
	in.u.progress.flags = 8;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
}

Test(codec_failedover, on_wire)
{
	struct proto_msg m = mk_progress(0), out;
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_hdr h;
	size_t n = 0;

	m.u.progress.flags = PROTO_FLAG_PROGRESS_FAILED_OVER;
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
	/* The header's flags word carries it, big-endian at bytes 8..11. */
	cr_assert_eq(buf[11], 4);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), 0);
	cr_assert_eq(h.flags, PROTO_FLAG_PROGRESS_FAILED_OVER);
	cr_assert_eq(decode_frame(buf, n, &out), 0);
	cr_assert_eq(out.u.progress.flags, PROTO_FLAG_PROGRESS_FAILED_OVER);
	/* Both known bits pass the header but not the validator. */
	put_be32(buf + 8, PROTO_FLAG_PROGRESS_FAILED_OVER | PROTO_FLAG_PROGRESS_PLANNED);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), 0);
	cr_assert_eq(decode_frame(buf, n, &out), PROTO_E_FLAGS);
	/* Unknown bits beside it are refused at the header. */
	put_be32(buf + 8, PROTO_FLAG_PROGRESS_FAILED_OVER | 2);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
	put_be32(buf + 8, 8);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
	put_be32(buf + 8, 0x80000004u);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), PROTO_E_FLAGS);
}

Test(codec_failedover, only_on_progress)
{
	struct fb f;

	fb_init(&f, 128);
	fb_str(&f, "web");
	cr_assert_eq(decode_fb(&f, PROTO_PROGRESS_QUERY, PROTO_FLAG_PROGRESS_FAILED_OVER),
		     PROTO_E_FLAGS);
	f.len = PROTO_HDR_SIZE;
	fb_u64(&f, 7);
	cr_assert_eq(decode_fb(&f, PROTO_COMMITTED, PROTO_FLAG_PROGRESS_FAILED_OVER),
		     PROTO_E_FLAGS);
	fb_free(&f);
}
