/* Unit tests for PROGRESS's header flags (issue 14: PLANNED, FAILED_OVER,
 * ABANDONED), one table of them: each flag's bit on the wire, its round
 * trip, exclusive with the others, unknown bits beside it refused at the
 * header, and which message types may carry the same bit (their own flag
 * of that bit); every other type's header refuses it. */
#include "tests/unit/codec-fb.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(codec_progress, .init = init_bulk);

/* Bits no PROGRESS flag uses: refused alone and beside a known one. */
static const uint32_t unknown[] = { 1u << 1, 1u << 3, 1u << 5, 1u << 31 };

/* Every type but PROGRESS. */
static const uint16_t types[] = {
	PROTO_HELLO, PROTO_PROGRESS_QUERY, PROTO_POINT_BEGIN, PROTO_EXTENT,
	PROTO_DISK_DONE, PROTO_POINT_COMMIT, PROTO_COMMITTED, PROTO_HASH_QUERY,
	PROTO_HASH_ANSWER, PROTO_REPAIR_QUERY, PROTO_REPAIR_LIST, PROTO_ERROR,
	PROTO_REVERSE_BEGIN, PROTO_REVERSE_RANGES, PROTO_REVERSE_FINISH,
	PROTO_REVERSE_DONE,
};

#define ALSO_MAX 8

static const struct {
	uint32_t flag;
	uint8_t byte11;         /* the flags word is big-endian at bytes 8..11 */
	uint16_t also[ALSO_MAX]; /* other types with a flag of this bit (0 ends) */
} rows[] = {
	/* Bit 0 is the first flag of most types that have one. */
	{ PROTO_FLAG_PROGRESS_PLANNED, 0x01,
	  { PROTO_POINT_BEGIN /* REPAIR */, PROTO_EXTENT /* RESYNC */,
	    PROTO_HASH_ANSWER /* MORE */, PROTO_REPAIR_LIST /* MORE */,
	    PROTO_REVERSE_BEGIN /* RANGES */, PROTO_REVERSE_RANGES /* MORE */,
	    PROTO_REVERSE_FINISH /* RELEASE */, PROTO_REVERSE_DONE /* RELEASED */ } },
	/* Bit 2 is also POINT_BEGIN's FINAL. */
	{ PROTO_FLAG_PROGRESS_FAILED_OVER, 0x04, { PROTO_POINT_BEGIN } },
	{ PROTO_FLAG_PROGRESS_ABANDONED, 0x10, { 0 } },
};

static bool
also_carries(size_t r, uint16_t type)
{
	for (size_t k = 0; k < ALSO_MAX && rows[r].also[k]; k++)
		if (rows[r].also[k] == type)
			return true;
	return false;
}

Test(codec_progress, table_is_whole)
{
	uint32_t all = 0;

	for (size_t r = 0; r < NELEM(rows); r++)
		all |= rows[r].flag;
	cr_assert_eq(all, PROTO_FLAGS_PROGRESS, "a PROGRESS flag has no row");
	for (size_t u = 0; u < NELEM(unknown); u++)
		cr_assert_eq(unknown[u] & PROTO_FLAGS_PROGRESS, 0, "0x%x", unknown[u]);
}

/* The encoder: each flag alone round-trips; with another flag, or with an
 * unknown bit, it is refused. */
Test(codec_progress, roundtrip_and_exclusive)
{
	struct proto_msg in = mk_progress(2), out;

	roundtrip(&in, &out);
	cr_assert_eq(out.u.progress.flags, 0);
	cr_assert_eq(out.u.progress.ndisks, 2);
	for (size_t r = 0; r < NELEM(rows); r++) {
		uint32_t f = rows[r].flag;

		in.u.progress.flags = f;
		roundtrip(&in, &out);
		cr_assert_eq(out.u.progress.flags, f);
		cr_assert_eq(out.u.progress.last_point, 41);
		cr_assert_eq(out.u.progress.ndisks, 2);
		for (size_t o = 0; o < NELEM(rows); o++) {
			in.u.progress.flags = f | rows[o].flag;
			if (o != r)
				cr_assert_eq(encode_only(&in), PROTO_E_FLAGS, "flags 0x%x",
					     in.u.progress.flags);
		}
		for (size_t u = 0; u < NELEM(unknown); u++) {
			in.u.progress.flags = f | unknown[u];
			cr_assert_eq(encode_only(&in), PROTO_E_FLAGS, "flags 0x%x",
				     in.u.progress.flags);
		}
	}
	in.u.progress.flags = PROTO_FLAGS_PROGRESS;
	cr_assert_eq(encode_only(&in), PROTO_E_FLAGS);
	for (size_t u = 0; u < NELEM(unknown); u++) {
		in.u.progress.flags = unknown[u];
		cr_assert_eq(encode_only(&in), PROTO_E_FLAGS, "flags 0x%x", unknown[u]);
	}
}

/* Header flags as received: what the header check and then the whole
 * decode say. Known bits together pass the header but not the validator;
 * an unknown bit is refused at the header. */
static void
wire_check(uint8_t *buf, size_t n, uint32_t flags, int hdr, int decode)
{
	struct proto_msg out;
	struct proto_hdr h;

	put_be32(buf + 8, flags);
	cr_assert_eq(proto_hdr_decode(buf, n, &h), hdr, "flags 0x%x", flags);
	if (hdr == 0)
		cr_assert_eq(h.flags, flags);
	cr_assert_eq(decode_frame(buf, n, &out), decode, "flags 0x%x", flags);
	if (decode == 0)
		cr_assert_eq(out.u.progress.flags, flags);
}

Test(codec_progress, on_wire)
{
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	struct proto_msg m = mk_progress(0);
	size_t n = 0;

	for (size_t r = 0; r < NELEM(rows); r++) {
		uint32_t f = rows[r].flag;

		m.u.progress.flags = f;
		cr_assert_eq(proto_encode(&m, buf, sizeof(buf), &n), 0);
		cr_assert_eq(buf[11], rows[r].byte11, "flag 0x%x", f);
		wire_check(buf, n, f, 0, 0);
		for (size_t o = 0; o < NELEM(rows); o++)
			if (o != r)
				wire_check(buf, n, f | rows[o].flag, 0, PROTO_E_FLAGS);
		for (size_t u = 0; u < NELEM(unknown); u++)
			wire_check(buf, n, f | unknown[u], PROTO_E_FLAGS, PROTO_E_FLAGS);
	}
	for (size_t u = 0; u < NELEM(unknown); u++)
		wire_check(buf, n, unknown[u], PROTO_E_FLAGS, PROTO_E_FLAGS);
}

/* Flags are judged before the length: a bare header says whether its type
 * knows the bit. */
Test(codec_progress, which_types_carry_it)
{
	struct proto_hdr h;
	struct fb f;

	fb_init(&f, PROTO_HDR_SIZE);
	for (size_t r = 0; r < NELEM(rows); r++) {
		for (size_t t = 0; t < NELEM(types); t++) {
			int e;

			fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, types[t], rows[r].flag, 0);
			e = proto_hdr_decode(f.buf, f.len, &h);
			if (also_carries(r, types[t]))
				cr_assert_neq(e, PROTO_E_FLAGS, "type %u, flag 0x%x", types[t],
					      rows[r].flag);
			else
				cr_assert_eq(e, PROTO_E_FLAGS, "type %u, flag 0x%x", types[t],
					     rows[r].flag);
		}
		fb_hdr(&f, PROTO_MAGIC, PROTO_VERSION, PROTO_PROGRESS, rows[r].flag, 0);
		cr_assert_eq(proto_hdr_decode(f.buf, f.len, &h), PROTO_E_TRUNC,
			     "flag 0x%x known, too short", rows[r].flag);
	}
	fb_free(&f);
}
