/* Unit tests for PROGRESS's ABANDONED flag (issue 14: a planned
 * failover's final point that will not be booted): round trip, its bit
 * on the wire, exclusive with PLANNED and FAILED_OVER, unknown bits
 * still refused, and no other type takes it. */
#include "tests/unit/codec-fb.h"

TestSuite(codec_abandoned, .init = init_bulk);

Test(codec_abandoned, roundtrip_and_exclusive)
{
	static const uint32_t bad[] = {
		PROTO_FLAG_PROGRESS_ABANDONED | PROTO_FLAG_PROGRESS_PLANNED,
		PROTO_FLAG_PROGRESS_ABANDONED | PROTO_FLAG_PROGRESS_FAILED_OVER,
		PROTO_FLAGS_PROGRESS, PROTO_FLAG_PROGRESS_ABANDONED | 2,
		PROTO_FLAG_PROGRESS_ABANDONED | 8, 32, 0x80000010u,
	};
	struct proto_msg in = mk_progress(2), out;

	in.u.progress.flags = PROTO_FLAG_PROGRESS_ABANDONED;
	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.flags, PROTO_FLAG_PROGRESS_ABANDONED);
	cr_assert_eq(out.u.progress.last_point, 41);
	cr_assert_eq(out.u.progress.ndisks, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.u.progress.flags = bad[i];
		cr_assert_eq(encode_only(&in), PROTO_E_FLAGS, "flags 0x%x", bad[i]);
	}
}

/* Header flags as received: what the header check and then the whole
 * decode say of each. */
static const struct {
	uint32_t flags;
	int hdr, decode;
} wire[] = {
	{ PROTO_FLAG_PROGRESS_ABANDONED, 0, 0 },
	/* Known bits together pass the header but not the validator. */
	{ PROTO_FLAG_PROGRESS_ABANDONED | PROTO_FLAG_PROGRESS_PLANNED, 0, PROTO_E_FLAGS },
	{ PROTO_FLAG_PROGRESS_ABANDONED | PROTO_FLAG_PROGRESS_FAILED_OVER, 0, PROTO_E_FLAGS },
	/* Unknown bits beside it are refused at the header. */
	{ PROTO_FLAG_PROGRESS_ABANDONED | 8, PROTO_E_FLAGS, PROTO_E_FLAGS },
	{ 32, PROTO_E_FLAGS, PROTO_E_FLAGS },
};

Test(codec_abandoned, on_wire)
{
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_msg m = mk_progress(0), out;
	struct proto_hdr h;
	size_t n = 0;

	m.u.progress.flags = PROTO_FLAG_PROGRESS_ABANDONED;
	cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
	/* The header's flags word carries it, big-endian at bytes 8..11. */
	cr_assert_eq(buf[11], 0x10);
	for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
		put_be32(buf + 8, wire[i].flags);
		cr_assert_eq(proto_hdr_decode(buf, n, &h), wire[i].hdr, "flags 0x%x", wire[i].flags);
		cr_assert_eq(decode_frame(buf, n, &out), wire[i].decode, "flags 0x%x",
			     wire[i].flags);
		if (wire[i].decode == 0)
			cr_assert_eq(out.u.progress.flags, wire[i].flags);
	}
}

Test(codec_abandoned, only_on_progress)
{
	static const uint16_t others[] = {
		PROTO_HELLO, PROTO_PROGRESS_QUERY, PROTO_POINT_BEGIN, PROTO_EXTENT,
		PROTO_DISK_DONE, PROTO_POINT_COMMIT, PROTO_COMMITTED, PROTO_HASH_QUERY,
		PROTO_HASH_ANSWER, PROTO_REPAIR_QUERY, PROTO_REPAIR_LIST, PROTO_ERROR,
		PROTO_REVERSE_BEGIN, PROTO_REVERSE_RANGES, PROTO_REVERSE_FINISH,
		PROTO_REVERSE_DONE,
	};
	struct proto_hdr h;
	struct fb f;

	fb_init(&f, PROTO_HDR_SIZE);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, others[i], PROTO_FLAG_PROGRESS_ABANDONED, 0);
		cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_FLAGS, "type %u",
			     others[i]);
	}
	fb_free(&f);
}
