/* The codec of reverse replication (failback, issue 14): REVERSE_BEGIN,
 * REVERSE_RANGES, REVERSE_FINISH and REVERSE_DONE, beside codec.c's type table that
 * dispatches to them. Pure: bytes <-> structs, the ranges borrowed from
 * the frame. */
#include "proto/codec.h"
#include "proto/codec-io.h"

_Static_assert(RRANGES_MAX <= PROTO_MAX_PAYLOAD, "a maximal range list must fit a frame");

int
codec_dec_rbegin(struct rd *r, struct proto_msg *m)
{
	return get_str(r, m->u.rbegin.group, PROTO_NAME_MAX);
}

int
codec_enc_rbegin(struct wr *w, const struct proto_msg *m)
{
	return put_str(w, m->u.rbegin.group);
}

int
codec_valid_rbegin(const struct proto_msg *m)
{
	uint32_t f = m->u.rbegin.flags;

	if (f & ~(PROTO_FLAG_REVERSE_RANGES | PROTO_FLAG_REVERSE_FULL))
		return PROTO_E_FLAGS;
	/* "X follows" and "X is the whole disks" cannot both hold. */
	if ((f & PROTO_FLAG_REVERSE_RANGES) && (f & PROTO_FLAG_REVERSE_FULL))
		return PROTO_E_FLAGS;
	return check_str(m->u.rbegin.group, PROTO_NAME_MAX, 1);
}

int
codec_dec_rranges(struct rd *r, struct proto_msg *m)
{
	struct proto_reverse_ranges *x = &m->u.rranges;
	int e;

	if ((e = get_str(r, x->disk, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u32(r, &x->count)) != 0)
		return e;
	/* Cap before multiplying. */
	if (x->count > PROTO_MAX_RANGES)
		return PROTO_E_RANGE;
	return get_bytes(r, (size_t)x->count * PROTO_RANGE_SIZE, &x->ranges);
}

int
codec_enc_rranges(struct wr *w, const struct proto_msg *m)
{
	int e;

	if ((e = put_str(w, m->u.rranges.disk)) != 0)
		return e;
	return put_u32(w, m->u.rranges.count);
}

void
proto_range_get(const struct proto_reverse_ranges *x, uint32_t i, uint64_t *offset,
		uint64_t *length)
{
	struct rd r = { x->ranges + (size_t)i * PROTO_RANGE_SIZE, PROTO_RANGE_SIZE };

	/* The record is whole: neither can run short. */
	(void)get_u64(&r, offset);
	(void)get_u64(&r, length);
}

void
proto_range_put(uint8_t out[PROTO_RANGE_SIZE], uint64_t offset, uint64_t length)
{
	struct wr w = { out, PROTO_RANGE_SIZE };

	(void)put_u64(&w, offset);
	(void)put_u64(&w, length);
}

int
codec_valid_rranges(const struct proto_msg *m)
{
	const struct proto_reverse_ranges *x = &m->u.rranges;
	uint64_t off, len, end, prev_end = 0;
	int e;

	if (x->flags & ~(PROTO_FLAG_RANGES_MORE | PROTO_FLAG_RANGES_END))
		return PROTO_E_FLAGS;
	/* "More of this disk" and "the last frame" cannot both hold. */
	if ((x->flags & PROTO_FLAG_RANGES_MORE) && (x->flags & PROTO_FLAG_RANGES_END))
		return PROTO_E_FLAGS;
	/* No disk: only the bare end of X. */
	if (x->disk[0] == '\0')
		return (x->flags & PROTO_FLAG_RANGES_END) && x->count == 0 ? 0 : PROTO_E_STRING;
	if ((e = check_str(x->disk, PROTO_NAME_MAX, 1)) != 0)
		return e;
	if (x->count > PROTO_MAX_RANGES)
		return PROTO_E_RANGE;
	if (x->count != 0 && x->ranges == NULL)
		return PROTO_E_RANGE;
	/* "More" must have carried something, or the list never ends. */
	if ((x->flags & PROTO_FLAG_RANGES_MORE) && x->count == 0)
		return PROTO_E_RANGE;
	for (uint32_t i = 0; i < x->count; i++) {
		proto_range_get(x, i, &off, &len);
		if (len == 0 || off < prev_end)
			return PROTO_E_RANGE;
		if (__builtin_add_overflow(off, len, &end) || end > PROTO_MAX_DISK_SIZE)
			return PROTO_E_RANGE;
		prev_end = end;
	}
	return 0;
}

int
codec_dec_rfinish(struct rd *r, struct proto_msg *m)
{
	struct proto_reverse_finish *f = &m->u.rfinish;
	int e;

	if ((e = get_str(r, f->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u32(r, &f->shutdown_s)) != 0)
		return e;
	return get_u64(r, &f->point);
}

int
codec_enc_rfinish(struct wr *w, const struct proto_msg *m)
{
	const struct proto_reverse_finish *f = &m->u.rfinish;
	int e;

	if ((e = put_str(w, f->group)) != 0 || (e = put_u32(w, f->shutdown_s)) != 0)
		return e;
	return put_u64(w, f->point);
}

/* A finish names a timeout and no point; its release a point and no
 * timeout: nothing else can mean either. */
int
codec_valid_rfinish(const struct proto_msg *m)
{
	const struct proto_reverse_finish *f = &m->u.rfinish;

	if (f->flags & ~PROTO_FLAG_FINISH_RELEASE)
		return PROTO_E_FLAGS;
	if (f->flags & PROTO_FLAG_FINISH_RELEASE) {
		if (f->shutdown_s != 0 || f->point == 0 || f->point > PROTO_MAX_POINT_ID)
			return PROTO_E_RANGE;
	} else if (f->shutdown_s == 0 || f->shutdown_s > PROTO_MAX_SHUTDOWN_S || f->point != 0) {
		return PROTO_E_RANGE;
	}
	return check_str(f->group, PROTO_NAME_MAX, 1);
}

int
codec_dec_rdone(struct rd *r, struct proto_msg *m)
{
	struct proto_reverse_done *d = &m->u.rdone;
	int e;

	if ((e = get_str(r, d->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &d->point)) != 0 || (e = get_u64(r, &d->base)) != 0)
		return e;
	return get_u64(r, &d->bytes);
}

int
codec_enc_rdone(struct wr *w, const struct proto_msg *m)
{
	const struct proto_reverse_done *d = &m->u.rdone;
	int e;

	if ((e = put_str(w, d->group)) != 0 || (e = put_u64(w, d->point)) != 0 ||
	    (e = put_u64(w, d->base)) != 0)
		return e;
	return put_u64(w, d->bytes);
}

int
codec_valid_rdone(const struct proto_msg *m)
{
	const struct proto_reverse_done *d = &m->u.rdone;

	if (d->flags & ~PROTO_FLAG_DONE_RELEASED)
		return PROTO_E_FLAGS;
	if (d->point == 0 || d->point > PROTO_MAX_POINT_ID || d->base >= d->point ||
	    d->bytes > PROTO_MAX_DISK_SIZE * PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	return check_str(d->group, PROTO_NAME_MAX, 1);
}
