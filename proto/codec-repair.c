/* The codec of a targeted repair (issue 13, item 3): REPAIR_QUERY and
 * REPAIR_LIST, beside codec.c's type table that dispatches to them. Pure:
 * bytes <-> structs, the entries borrowed from the frame. */
#include "proto/codec.h"
#include "proto/codec-io.h"

_Static_assert(RLIST_MAX <= PROTO_MAX_PAYLOAD, "a maximal repair list must fit a frame");
_Static_assert(PROTO_HDR_SIZE + RLIST_FIXED + PROTO_MAX_DISKS * RLIST_DISK_MAX <= PROTO_HEAD_MAX,
	       "PROTO_HEAD_MAX too small for a repair list");

int
codec_dec_rquery(struct rd *r, struct proto_msg *m)
{
	struct proto_repair_query *q = &m->u.rquery;
	int e;

	if ((e = get_str(r, q->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &q->point)) != 0 ||
	    (e = get_u64(r, &q->before)) != 0)
		return e;
	return 0;
}

int
codec_enc_rquery(struct wr *w, const struct proto_msg *m)
{
	const struct proto_repair_query *q = &m->u.rquery;
	int e;

	if ((e = put_str(w, q->group)) != 0 ||
	    (e = put_u64(w, q->point)) != 0 ||
	    (e = put_u64(w, q->before)) != 0)
		return e;
	return 0;
}

int
codec_valid_rquery(const struct proto_msg *m)
{
	const struct proto_repair_query *q = &m->u.rquery;
	int e;

	if ((e = check_str(q->group, PROTO_NAME_MAX, 1)) != 0)
		return e;
	/* A named point has no "below": one meaning per frame. */
	if (q->point != 0 && q->before != 0)
		return PROTO_E_RANGE;
	return 0;
}

int
codec_dec_rlist(struct rd *r, struct proto_msg *m)
{
	struct proto_repair_list *l = &m->u.rlist;
	int e;

	if ((e = get_u64(r, &l->point_id)) != 0 ||
	    (e = get_u64(r, &l->base_id)) != 0 ||
	    (e = get_u16(r, &l->ndisks)) != 0)
		return e;
	if (l->ndisks > PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	for (uint16_t i = 0; i < l->ndisks; i++) {
		if ((e = get_str(r, l->disks[i].name, PROTO_NAME_MAX)) != 0 ||
		    (e = get_u64(r, &l->disks[i].size)) != 0)
			return e;
	}
	if ((e = get_u32(r, &l->count)) != 0)
		return e;
	/* Cap before multiplying. */
	if (l->count > PROTO_MAX_REPAIR)
		return PROTO_E_RANGE;
	return get_bytes(r, (size_t)l->count * PROTO_REPAIR_ENTRY_SIZE, &l->entries);
}

int
codec_enc_rlist(struct wr *w, const struct proto_msg *m)
{
	const struct proto_repair_list *l = &m->u.rlist;
	int e;

	if ((e = put_u64(w, l->point_id)) != 0 ||
	    (e = put_u64(w, l->base_id)) != 0 ||
	    (e = put_u16(w, l->ndisks)) != 0)
		return e;
	for (uint16_t i = 0; i < l->ndisks; i++) {
		if ((e = put_str(w, l->disks[i].name)) != 0 ||
		    (e = put_u64(w, l->disks[i].size)) != 0)
			return e;
	}
	return put_u32(w, l->count);
}

void
proto_repair_entry_get(const struct proto_repair_list *l, uint32_t i,
		       struct proto_repair_entry *e)
{
	struct rd r = { l->entries + (size_t)i * PROTO_REPAIR_ENTRY_SIZE,
			PROTO_REPAIR_ENTRY_SIZE };

	/* The record is whole: none of these can run short. */
	(void)get_u16(&r, &e->disk);
	(void)get_u8(&r, &e->kind);
	(void)get_u64(&r, &e->offset);
	(void)get_u64(&r, &e->length);
	(void)get_u64(&r, &e->hash);
}

void
proto_repair_entry_put(uint8_t out[PROTO_REPAIR_ENTRY_SIZE], const struct proto_repair_entry *e)
{
	struct wr w = { out, PROTO_REPAIR_ENTRY_SIZE };

	(void)put_u16(&w, e->disk);
	(void)put_u8(&w, e->kind);
	(void)put_u64(&w, e->offset);
	(void)put_u64(&w, e->length);
	(void)put_u64(&w, e->hash);
}

static int
check_entry(const struct proto_repair_entry *x, uint16_t ndisks)
{
	uint64_t end;

	if (x->disk >= ndisks)
		return PROTO_E_RANGE;
	if (x->kind != PROTO_KIND_DATA && x->kind != PROTO_KIND_ZERO)
		return PROTO_E_KIND;
	if (x->length == 0 ||
	    x->length > (x->kind == PROTO_KIND_DATA ? PROTO_MAX_EXTENT : PROTO_MAX_ZERO))
		return PROTO_E_RANGE;
	if (__builtin_add_overflow(x->offset, x->length, &end) || end > PROTO_MAX_DISK_SIZE)
		return PROTO_E_RANGE;
	if (x->kind == PROTO_KIND_ZERO && x->hash != 0)
		return PROTO_E_RANGE;
	return 0;
}

int
codec_valid_rlist(const struct proto_msg *m)
{
	const struct proto_repair_list *l = &m->u.rlist;
	struct proto_repair_entry x;
	int e;

	if (l->point_id == 0)
		/* "No bad point": nothing else may come with it. */
		return l->ndisks || l->count || l->base_id || (l->flags & PROTO_FLAG_REPAIR_MORE)
			       ? PROTO_E_RANGE : 0;
	if (l->base_id >= l->point_id)
		return PROTO_E_RANGE;
	if (l->ndisks < 1)
		return PROTO_E_RANGE;
	if ((e = codec_check_disks(l->disks, l->ndisks)) != 0)
		return e;
	if (l->count > PROTO_MAX_REPAIR)
		return PROTO_E_RANGE;
	if (l->count != 0 && l->entries == NULL)
		return PROTO_E_RANGE;
	/* "Ask again" must have listed something, or the asking never ends. */
	if ((l->flags & PROTO_FLAG_REPAIR_MORE) && l->count == 0)
		return PROTO_E_RANGE;
	for (uint32_t i = 0; i < l->count; i++) {
		proto_repair_entry_get(l, i, &x);
		if ((e = check_entry(&x, l->ndisks)) != 0)
			return e;
	}
	return 0;
}
