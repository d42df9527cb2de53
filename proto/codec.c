/* Pure wire codec: frames <-> struct proto_msg. Table-driven per type; the
 * same validator judges decoded and to-be-encoded messages so we never emit
 * a frame our own decoder would reject. */
#include "proto/codec.h"
#include "proto/codec-io.h"

#include <string.h>

#include <zstd.h>

/* Fixed (non-string, non-bulk) payload bytes per type: the header check uses
 * them as the lower bound; the upper bound adds every string at its max. */
#define STR_MAX(n)       (2u + (n))
#define HELLO_FIXED      (2u + 2u + 4u + 2u)
#define PQUERY_FIXED     2u
#define PROGRESS_FIXED   (2u + 8u + 8u + 8u + 2u)
#define PDISK_MAX        (STR_MAX(PROTO_NAME_MAX) + 8u + 1u)
#define BEGIN_FIXED      (2u + 8u + 8u + 8u + 2u)
#define BDISK_MAX        (STR_MAX(PROTO_NAME_MAX) + 8u)
#define EXTENT_FIXED     (2u + 1u + 1u + 8u + 8u + 8u)
#define EXTENT_BULK_MAX  ZSTD_COMPRESSBOUND(PROTO_MAX_EXTENT)
#define COMMIT_FIXED     (8u + 4u)
#define HQUERY_FIXED     (2u + 8u + 2u + 8u + 4u + 4u)
#define HANSWER_FIXED    (8u + 8u + 4u + 4u)
#define ERROR_FIXED      (4u + 2u)

#define BLOCK_MIN        4096u
#define BLOCK_MAX        (16u << 20)

_Static_assert(EXTENT_FIXED + EXTENT_BULK_MAX <= PROTO_MAX_PAYLOAD,
	       "a maximal compressed extent must fit a frame");
_Static_assert(COMMIT_FIXED + PROTO_MAX_META <= PROTO_MAX_PAYLOAD,
	       "maximal commit metadata must fit a frame");
_Static_assert(PROGRESS_FIXED + PROTO_NAME_MAX + PROTO_MAX_DISKS * PDISK_MAX
	       + PROTO_HDR_SIZE <= PROTO_HEAD_MAX, "PROTO_HEAD_MAX too small");


static int
check_block(uint64_t offset, uint32_t block_size, uint32_t count)
{
	uint64_t end;

	if (block_size < BLOCK_MIN || block_size > BLOCK_MAX ||
	    (block_size & (block_size - 1)) != 0)
		return PROTO_E_RANGE;
	if (count > PROTO_MAX_HASHES)
		return PROTO_E_RANGE;
	if (offset % block_size != 0)
		return PROTO_E_RANGE;
	/* count * block_size <= 2^14 * 2^24, no overflow in 64 bits. */
	if (__builtin_add_overflow(offset, (uint64_t)count * block_size, &end))
		return PROTO_E_RANGE;
	return 0;
}

static int
valid_hello(const struct proto_msg *m)
{
	const struct proto_hello *h = &m->u.hello;

	if (h->caps & ~PROTO_CAPS_KNOWN)
		return PROTO_E_KIND;
	if (h->version_min > h->version_max)
		return PROTO_E_RANGE;
	return check_str(h->peer, PROTO_PEER_MAX, 0);
}

static int
valid_pquery(const struct proto_msg *m)
{
	return check_str(m->u.pquery.group, PROTO_NAME_MAX, 1);
}

static int
valid_progress(const struct proto_msg *m)
{
	const struct proto_progress *p = &m->u.progress;
	int e;

	if ((e = check_str(p->group, PROTO_NAME_MAX, 1)) != 0)
		return e;
	if (p->flags & ~PROTO_FLAGS_PROGRESS)
		return PROTO_E_FLAGS;
	/* At most one: planned, failed over and abandoned exclude each other. */
	if (p->flags & (p->flags - 1))
		return PROTO_E_FLAGS;
	if (p->ndisks > PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	if (p->pending_point == 0 && p->ndisks != 0)
		return PROTO_E_RANGE;
	for (uint16_t i = 0; i < p->ndisks; i++) {
		if ((e = check_str(p->disks[i].name, PROTO_NAME_MAX, 1)) != 0)
			return e;
		if (p->disks[i].done > 1)
			return PROTO_E_RANGE;
	}
	return 0;
}

static int
valid_begin(const struct proto_msg *m)
{
	const struct proto_point_begin *b = &m->u.begin;
	int e;

	if ((e = check_str(b->group, PROTO_NAME_MAX, 1)) != 0)
		return e;
	if (b->point_id == 0 || b->base_id >= b->point_id)
		return PROTO_E_RANGE;
	if (b->flags & ~(PROTO_FLAG_BEGIN_REPAIR | PROTO_FLAG_BEGIN_FINAL))
		return PROTO_E_FLAGS;
	/* A repair rewrites an old point; a final point is a new one. */
	if ((b->flags & PROTO_FLAG_BEGIN_REPAIR) && (b->flags & PROTO_FLAG_BEGIN_FINAL))
		return PROTO_E_FLAGS;
	if (b->ndisks < 1)
		return PROTO_E_RANGE;
	return codec_check_disks(b->disks, b->ndisks);
}

int
codec_check_disks(const struct proto_disk *d, uint16_t n)
{
	int e;

	if (n > PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	for (uint16_t i = 0; i < n; i++) {
		if ((e = check_str(d[i].name, PROTO_NAME_MAX, 1)) != 0)
			return e;
		if (d[i].size < 1 || d[i].size > PROTO_MAX_DISK_SIZE)
			return PROTO_E_RANGE;
		/* At most 64 disks: the quadratic scan is cheaper than sorting. */
		for (uint16_t j = 0; j < i; j++)
			if (strcmp(d[i].name, d[j].name) == 0)
				return PROTO_E_STRING;
	}
	return 0;
}

static int
valid_extent(const struct proto_msg *m)
{
	const struct proto_extent *x = &m->u.extent;
	uint64_t end;

	if (x->flags & ~PROTO_FLAG_EXTENT_RESYNC)
		return PROTO_E_FLAGS;
	if (x->disk >= PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	if (x->kind != PROTO_KIND_DATA && x->kind != PROTO_KIND_ZERO &&
	    x->kind != PROTO_KIND_DISCARD)
		return PROTO_E_KIND;
	if (x->comp != PROTO_COMP_NONE && x->comp != PROTO_COMP_ZSTD)
		return PROTO_E_KIND;
	if (x->length == 0)
		return PROTO_E_RANGE;
	if (__builtin_add_overflow(x->offset, x->length, &end) ||
	    end > PROTO_MAX_DISK_SIZE)
		return PROTO_E_RANGE;

	if (x->kind == PROTO_KIND_DATA) {
		if (x->length > PROTO_MAX_EXTENT)
			return PROTO_E_RANGE;
		if (x->comp == PROTO_COMP_NONE && x->data_len != x->length)
			return PROTO_E_RANGE;
		if (x->comp == PROTO_COMP_ZSTD &&
		    (x->data_len == 0 || x->data_len > EXTENT_BULK_MAX))
			return PROTO_E_RANGE;
		if (x->data == NULL)
			return PROTO_E_RANGE;
		return 0;
	}
	if (x->length > PROTO_MAX_ZERO)
		return PROTO_E_RANGE;
	if (x->comp != PROTO_COMP_NONE)
		return PROTO_E_KIND;
	if (x->checksum != 0)
		return PROTO_E_RANGE;
	if (x->data_len != 0)
		return PROTO_E_TRAILING;
	return 0;
}

static int
valid_done(const struct proto_msg *m)
{
	return m->u.done.disk < PROTO_MAX_DISKS ? 0 : PROTO_E_RANGE;
}

static int
valid_commit(const struct proto_msg *m)
{
	const struct proto_point_commit *c = &m->u.commit;

	if (c->point_id == 0)
		return PROTO_E_RANGE;
	if (c->meta_len > PROTO_MAX_META)
		return PROTO_E_TOOBIG;
	if (c->meta_len != 0 && c->meta == NULL)
		return PROTO_E_RANGE;
	return 0;
}

static int
valid_committed(const struct proto_msg *m)
{
	(void)m;
	return 0;
}

static int
valid_hquery(const struct proto_msg *m)
{
	const struct proto_hash_query *q = &m->u.hquery;
	int e;

	if ((e = check_str(q->group, PROTO_NAME_MAX, 1)) != 0 ||
	    (e = check_str(q->disk, PROTO_NAME_MAX, 1)) != 0)
		return e;
	if (q->count == 0)
		return PROTO_E_RANGE;
	return check_block(q->offset, q->block_size, q->count);
}

static int
valid_hanswer(const struct proto_msg *m)
{
	const struct proto_hash_answer *a = &m->u.hanswer;
	int e;

	if ((e = check_block(a->offset, a->block_size, a->count)) != 0)
		return e;
	if (a->count != 0 && a->hashes == NULL)
		return PROTO_E_RANGE;
	/* "Ask again" must have made progress, or the asking never ends. */
	if ((a->flags & PROTO_FLAG_HASH_MORE) && a->count == 0)
		return PROTO_E_RANGE;
	return 0;
}

static int
valid_error(const struct proto_msg *m)
{
	if (m->u.error.code == 0)
		return PROTO_E_RANGE;
	return check_str(m->u.error.text, PROTO_TEXT_MAX, 0);
}

/* ---- per-type field readers (structure only; rules live in valid_*) ---- */

static int
dec_hello(struct rd *r, struct proto_msg *m)
{
	struct proto_hello *h = &m->u.hello;
	int e;

	if ((e = get_u16(r, &h->version_min)) != 0 ||
	    (e = get_u16(r, &h->version_max)) != 0 ||
	    (e = get_u32(r, &h->caps)) != 0 ||
	    (e = get_str(r, h->peer, PROTO_PEER_MAX)) != 0)
		return e;
	return 0;
}

static int
dec_pquery(struct rd *r, struct proto_msg *m)
{
	return get_str(r, m->u.pquery.group, PROTO_NAME_MAX);
}

static int
dec_progress(struct rd *r, struct proto_msg *m)
{
	struct proto_progress *p = &m->u.progress;
	int e;

	if ((e = get_str(r, p->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &p->last_point)) != 0 ||
	    (e = get_u64(r, &p->pending_point)) != 0 ||
	    (e = get_u64(r, &p->pending_base)) != 0 ||
	    (e = get_u16(r, &p->ndisks)) != 0)
		return e;
	/* Bound the loop by the array before touching it. */
	if (p->ndisks > PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	for (uint16_t i = 0; i < p->ndisks; i++) {
		struct proto_disk_progress *d = &p->disks[i];

		if ((e = get_str(r, d->name, PROTO_NAME_MAX)) != 0 ||
		    (e = get_u64(r, &d->durable_offset)) != 0 ||
		    (e = get_u8(r, &d->done)) != 0)
			return e;
	}
	return 0;
}

static int
dec_begin(struct rd *r, struct proto_msg *m)
{
	struct proto_point_begin *b = &m->u.begin;
	int e;

	if ((e = get_str(r, b->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &b->point_id)) != 0 ||
	    (e = get_u64(r, &b->base_id)) != 0 ||
	    (e = get_u64(r, &b->time_ns)) != 0 ||
	    (e = get_u16(r, &b->ndisks)) != 0)
		return e;
	if (b->ndisks > PROTO_MAX_DISKS)
		return PROTO_E_RANGE;
	for (uint16_t i = 0; i < b->ndisks; i++) {
		if ((e = get_str(r, b->disks[i].name, PROTO_NAME_MAX)) != 0 ||
		    (e = get_u64(r, &b->disks[i].size)) != 0)
			return e;
	}
	return 0;
}

static int
dec_extent(struct rd *r, struct proto_msg *m)
{
	struct proto_extent *x = &m->u.extent;
	int e;

	if ((e = get_u16(r, &x->disk)) != 0 ||
	    (e = get_u8(r, &x->kind)) != 0 ||
	    (e = get_u8(r, &x->comp)) != 0 ||
	    (e = get_u64(r, &x->offset)) != 0 ||
	    (e = get_u64(r, &x->length)) != 0 ||
	    (e = get_u64(r, &x->checksum)) != 0)
		return e;
	x->data_len = r->left;
	return get_bytes(r, r->left, &x->data);
}

static int
dec_done(struct rd *r, struct proto_msg *m)
{
	return get_u16(r, &m->u.done.disk);
}

static int
dec_commit(struct rd *r, struct proto_msg *m)
{
	struct proto_point_commit *c = &m->u.commit;
	uint32_t len;
	int e;

	if ((e = get_u64(r, &c->point_id)) != 0 ||
	    (e = get_u32(r, &len)) != 0)
		return e;
	if (len > PROTO_MAX_META)
		return PROTO_E_TOOBIG;
	c->meta_len = len;
	return get_bytes(r, len, &c->meta);
}

static int
dec_committed(struct rd *r, struct proto_msg *m)
{
	return get_u64(r, &m->u.committed.point_id);
}

static int
dec_hquery(struct rd *r, struct proto_msg *m)
{
	struct proto_hash_query *q = &m->u.hquery;
	int e;

	if ((e = get_str(r, q->group, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &q->point_id)) != 0 ||
	    (e = get_str(r, q->disk, PROTO_NAME_MAX)) != 0 ||
	    (e = get_u64(r, &q->offset)) != 0 ||
	    (e = get_u32(r, &q->block_size)) != 0 ||
	    (e = get_u32(r, &q->count)) != 0)
		return e;
	return 0;
}

static int
dec_hanswer(struct rd *r, struct proto_msg *m)
{
	struct proto_hash_answer *a = &m->u.hanswer;
	int e;

	if ((e = get_u64(r, &a->point_id)) != 0 ||
	    (e = get_u64(r, &a->offset)) != 0 ||
	    (e = get_u32(r, &a->block_size)) != 0 ||
	    (e = get_u32(r, &a->count)) != 0)
		return e;
	/* Cap before multiplying; also keeps a huge count from looking like
	 * mere truncation. */
	if (a->count > PROTO_MAX_HASHES)
		return PROTO_E_RANGE;
	return get_bytes(r, (size_t)a->count * 8u, &a->hashes);
}

static int
dec_error(struct rd *r, struct proto_msg *m)
{
	struct proto_error *er = &m->u.error;
	int e;

	if ((e = get_u32(r, &er->code)) != 0 ||
	    (e = get_str(r, er->text, PROTO_TEXT_MAX)) != 0)
		return e;
	return 0;
}

/* ---- per-type writers: head fields only; proto_msg_bulk() names the tail ---- */

static int
enc_hello(struct wr *w, const struct proto_msg *m)
{
	const struct proto_hello *h = &m->u.hello;
	int e;

	if ((e = put_u16(w, h->version_min)) != 0 ||
	    (e = put_u16(w, h->version_max)) != 0 ||
	    (e = put_u32(w, h->caps)) != 0 ||
	    (e = put_str(w, h->peer)) != 0)
		return e;
	return 0;
}

static int
enc_pquery(struct wr *w, const struct proto_msg *m)
{
	return put_str(w, m->u.pquery.group);
}

static int
enc_progress(struct wr *w, const struct proto_msg *m)
{
	const struct proto_progress *p = &m->u.progress;
	int e;

	if ((e = put_str(w, p->group)) != 0 ||
	    (e = put_u64(w, p->last_point)) != 0 ||
	    (e = put_u64(w, p->pending_point)) != 0 ||
	    (e = put_u64(w, p->pending_base)) != 0 ||
	    (e = put_u16(w, p->ndisks)) != 0)
		return e;
	for (uint16_t i = 0; i < p->ndisks; i++) {
		if ((e = put_str(w, p->disks[i].name)) != 0 ||
		    (e = put_u64(w, p->disks[i].durable_offset)) != 0 ||
		    (e = put_u8(w, p->disks[i].done)) != 0)
			return e;
	}
	return 0;
}

static int
enc_begin(struct wr *w, const struct proto_msg *m)
{
	const struct proto_point_begin *b = &m->u.begin;
	int e;

	if ((e = put_str(w, b->group)) != 0 ||
	    (e = put_u64(w, b->point_id)) != 0 ||
	    (e = put_u64(w, b->base_id)) != 0 ||
	    (e = put_u64(w, b->time_ns)) != 0 ||
	    (e = put_u16(w, b->ndisks)) != 0)
		return e;
	for (uint16_t i = 0; i < b->ndisks; i++) {
		if ((e = put_str(w, b->disks[i].name)) != 0 ||
		    (e = put_u64(w, b->disks[i].size)) != 0)
			return e;
	}
	return 0;
}

static int
enc_extent(struct wr *w, const struct proto_msg *m)
{
	const struct proto_extent *x = &m->u.extent;
	int e;

	if ((e = put_u16(w, x->disk)) != 0 ||
	    (e = put_u8(w, x->kind)) != 0 ||
	    (e = put_u8(w, x->comp)) != 0 ||
	    (e = put_u64(w, x->offset)) != 0 ||
	    (e = put_u64(w, x->length)) != 0 ||
	    (e = put_u64(w, x->checksum)) != 0)
		return e;
	return 0;
}

static int
enc_done(struct wr *w, const struct proto_msg *m)
{
	return put_u16(w, m->u.done.disk);
}

static int
enc_commit(struct wr *w, const struct proto_msg *m)
{
	int e;

	if ((e = put_u64(w, m->u.commit.point_id)) != 0 ||
	    (e = put_u32(w, (uint32_t)m->u.commit.meta_len)) != 0)
		return e;
	return 0;
}

static int
enc_committed(struct wr *w, const struct proto_msg *m)
{
	return put_u64(w, m->u.committed.point_id);
}

static int
enc_hquery(struct wr *w, const struct proto_msg *m)
{
	const struct proto_hash_query *q = &m->u.hquery;
	int e;

	if ((e = put_str(w, q->group)) != 0 ||
	    (e = put_u64(w, q->point_id)) != 0 ||
	    (e = put_str(w, q->disk)) != 0 ||
	    (e = put_u64(w, q->offset)) != 0 ||
	    (e = put_u32(w, q->block_size)) != 0 ||
	    (e = put_u32(w, q->count)) != 0)
		return e;
	return 0;
}

static int
enc_hanswer(struct wr *w, const struct proto_msg *m)
{
	const struct proto_hash_answer *a = &m->u.hanswer;
	int e;

	if ((e = put_u64(w, a->point_id)) != 0 ||
	    (e = put_u64(w, a->offset)) != 0 ||
	    (e = put_u32(w, a->block_size)) != 0 ||
	    (e = put_u32(w, a->count)) != 0)
		return e;
	return 0;
}

static int
enc_error(struct wr *w, const struct proto_msg *m)
{
	int e;

	if ((e = put_u32(w, m->u.error.code)) != 0 ||
	    (e = put_str(w, m->u.error.text)) != 0)
		return e;
	return 0;
}

/* ---- the type table ------------------------------------------------------ */

struct type_ops {
	uint16_t type;
	uint32_t flags;     /* header flag bits allowed */
	uint32_t min, max;  /* payload bytes */
	int (*dec)(struct rd *, struct proto_msg *);
	int (*enc)(struct wr *, const struct proto_msg *);
	int (*valid)(const struct proto_msg *);
};

static const struct type_ops types[] = {
	{ PROTO_HELLO, 0, HELLO_FIXED, HELLO_FIXED + PROTO_PEER_MAX,
	  dec_hello, enc_hello, valid_hello },
	{ PROTO_PROGRESS_QUERY, 0, PQUERY_FIXED, PQUERY_FIXED + PROTO_NAME_MAX,
	  dec_pquery, enc_pquery, valid_pquery },
	{ PROTO_PROGRESS, PROTO_FLAGS_PROGRESS, PROGRESS_FIXED,
	  PROGRESS_FIXED + PROTO_NAME_MAX + PROTO_MAX_DISKS * PDISK_MAX,
	  dec_progress, enc_progress, valid_progress },
	{ PROTO_POINT_BEGIN, PROTO_FLAG_BEGIN_REPAIR | PROTO_FLAG_BEGIN_FINAL, BEGIN_FIXED,
	  BEGIN_FIXED + PROTO_NAME_MAX + PROTO_MAX_DISKS * BDISK_MAX,
	  dec_begin, enc_begin, valid_begin },
	{ PROTO_EXTENT, PROTO_FLAG_EXTENT_RESYNC, EXTENT_FIXED,
	  EXTENT_FIXED + EXTENT_BULK_MAX, dec_extent, enc_extent, valid_extent },
	{ PROTO_DISK_DONE, 0, 2, 2, dec_done, enc_done, valid_done },
	{ PROTO_POINT_COMMIT, 0, COMMIT_FIXED, COMMIT_FIXED + PROTO_MAX_META,
	  dec_commit, enc_commit, valid_commit },
	{ PROTO_COMMITTED, 0, 8, 8, dec_committed, enc_committed, valid_committed },
	{ PROTO_HASH_QUERY, 0, HQUERY_FIXED, HQUERY_FIXED + 2 * PROTO_NAME_MAX,
	  dec_hquery, enc_hquery, valid_hquery },
	{ PROTO_HASH_ANSWER, PROTO_FLAG_HASH_MORE, HANSWER_FIXED,
	  HANSWER_FIXED + PROTO_MAX_HASHES * 8u, dec_hanswer, enc_hanswer,
	  valid_hanswer },
	{ PROTO_REPAIR_QUERY, 0, RQUERY_FIXED, RQUERY_FIXED + PROTO_NAME_MAX,
	  codec_dec_rquery, codec_enc_rquery, codec_valid_rquery },
	{ PROTO_REPAIR_LIST, PROTO_FLAG_REPAIR_MORE, RLIST_FIXED, RLIST_MAX,
	  codec_dec_rlist, codec_enc_rlist, codec_valid_rlist },
	{ PROTO_ERROR, 0, ERROR_FIXED, ERROR_FIXED + PROTO_TEXT_MAX,
	  dec_error, enc_error, valid_error },
	{ PROTO_REVERSE_BEGIN, PROTO_FLAG_REVERSE_RANGES | PROTO_FLAG_REVERSE_FULL, RBEGIN_FIXED,
	  RBEGIN_FIXED + PROTO_NAME_MAX, codec_dec_rbegin, codec_enc_rbegin, codec_valid_rbegin },
	{ PROTO_REVERSE_RANGES, PROTO_FLAG_RANGES_MORE | PROTO_FLAG_RANGES_END, RRANGES_FIXED,
	  RRANGES_MAX, codec_dec_rranges, codec_enc_rranges, codec_valid_rranges },
	{ PROTO_REVERSE_FINISH, PROTO_FLAG_FINISH_RELEASE, RFINISH_FIXED,
	  RFINISH_FIXED + PROTO_NAME_MAX, codec_dec_rfinish, codec_enc_rfinish,
	  codec_valid_rfinish },
	{ PROTO_REVERSE_DONE, PROTO_FLAG_DONE_RELEASED, RDONE_FIXED, RDONE_FIXED + PROTO_NAME_MAX,
	  codec_dec_rdone, codec_enc_rdone, codec_valid_rdone },
};

static const struct type_ops *
type_find(uint16_t type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

/* Everything about a header except magic, which the struct does not carry. */
static int
hdr_check(const struct proto_hdr *h, const struct type_ops **ops)
{
	const struct type_ops *t;

	if (h->version != PROTO_VERSION)
		return PROTO_E_VERSION;
	if ((t = type_find(h->type)) == NULL)
		return PROTO_E_TYPE;
	if (h->flags & ~t->flags)
		return PROTO_E_FLAGS;
	if (h->length > PROTO_MAX_PAYLOAD || h->length > t->max)
		return PROTO_E_TOOBIG;
	/* Known before buffering the payload: it cannot hold the fixed fields. */
	if (h->length < t->min)
		return PROTO_E_TRUNC;
	*ops = t;
	return 0;
}

int
proto_hdr_decode(const uint8_t *buf, size_t len, struct proto_hdr *hdr)
{
	const struct type_ops *t;
	struct rd r = { buf, len };
	struct proto_hdr h;
	uint32_t magic;
	int e;

	if (buf == NULL || len < PROTO_HDR_SIZE)
		return PROTO_E_SHORT;
	if ((e = get_u32(&r, &magic)) != 0 ||
	    (e = get_u16(&r, &h.version)) != 0 ||
	    (e = get_u16(&r, &h.type)) != 0 ||
	    (e = get_u32(&r, &h.flags)) != 0 ||
	    (e = get_u32(&r, &h.length)) != 0)
		return e;
	if (magic != PROTO_MAGIC)
		return PROTO_E_MAGIC;
	if ((e = hdr_check(&h, &t)) != 0)
		return e;
	*hdr = h;
	return 0;
}

int
proto_decode(const struct proto_hdr *hdr, const uint8_t *payload,
	     struct proto_msg *msg)
{
	const struct type_ops *t = NULL;
	struct rd r;
	int e;

	/* The caller should have run proto_hdr_decode; re-checking is cheap and
	 * keeps a hand-built header from walking past the caps. */
	if ((e = hdr_check(hdr, &t)) != 0)
		return e;
	if (payload == NULL && hdr->length != 0)
		return PROTO_E_TRUNC;
	memset(msg, 0, sizeof(*msg));
	msg->type = hdr->type;
	if (hdr->type == PROTO_EXTENT)
		msg->u.extent.flags = hdr->flags;
	else if (hdr->type == PROTO_HASH_ANSWER)
		msg->u.hanswer.flags = hdr->flags;
	else if (hdr->type == PROTO_POINT_BEGIN)
		msg->u.begin.flags = hdr->flags;
	else if (hdr->type == PROTO_REPAIR_LIST)
		msg->u.rlist.flags = hdr->flags;
	else if (hdr->type == PROTO_PROGRESS)
		msg->u.progress.flags = hdr->flags;
	else if (hdr->type == PROTO_REVERSE_BEGIN)
		msg->u.rbegin.flags = hdr->flags;
	else if (hdr->type == PROTO_REVERSE_RANGES)
		msg->u.rranges.flags = hdr->flags;
	else if (hdr->type == PROTO_REVERSE_FINISH)
		msg->u.rfinish.flags = hdr->flags;
	else if (hdr->type == PROTO_REVERSE_DONE)
		msg->u.rdone.flags = hdr->flags;
	r.p = payload;
	r.left = hdr->length;
	if ((e = t->dec(&r, msg)) != 0)
		return e;
	if (r.left != 0)
		return PROTO_E_TRAILING;
	return t->valid(msg);
}

static uint32_t
msg_flags(const struct proto_msg *msg)
{
	switch (msg->type) {
	case PROTO_EXTENT: return msg->u.extent.flags;
	case PROTO_HASH_ANSWER: return msg->u.hanswer.flags;
	case PROTO_POINT_BEGIN: return msg->u.begin.flags;
	case PROTO_REPAIR_LIST: return msg->u.rlist.flags;
	case PROTO_PROGRESS: return msg->u.progress.flags;
	case PROTO_REVERSE_BEGIN: return msg->u.rbegin.flags;
	case PROTO_REVERSE_RANGES: return msg->u.rranges.flags;
	case PROTO_REVERSE_FINISH: return msg->u.rfinish.flags;
	case PROTO_REVERSE_DONE: return msg->u.rdone.flags;
	default: return 0;
	}
}

void
proto_msg_bulk(const struct proto_msg *msg, const uint8_t **bulk, size_t *len)
{
	*bulk = NULL;
	*len = 0;
	switch (msg->type) {
	case PROTO_EXTENT:
		*bulk = msg->u.extent.data;
		*len = msg->u.extent.data_len;
		break;
	case PROTO_POINT_COMMIT:
		*bulk = msg->u.commit.meta;
		*len = msg->u.commit.meta_len;
		break;
	case PROTO_HASH_ANSWER:
		*bulk = msg->u.hanswer.hashes;
		*len = (size_t)msg->u.hanswer.count * 8u;
		break;
	case PROTO_REPAIR_LIST:
		*bulk = msg->u.rlist.entries;
		*len = (size_t)msg->u.rlist.count * PROTO_REPAIR_ENTRY_SIZE;
		break;
	case PROTO_REVERSE_RANGES:
		*bulk = msg->u.rranges.ranges;
		*len = (size_t)msg->u.rranges.count * PROTO_RANGE_SIZE;
		break;
	default:
		break;
	}
}

int
proto_encode_head(const struct proto_msg *msg, uint8_t *buf, size_t cap,
		  size_t *out_len, size_t *bulk_len)
{
	const struct type_ops *t;
	const uint8_t *bulk;
	struct proto_hdr h;
	struct wr w;
	size_t blen, payload;
	int e;

	if ((t = type_find(msg->type)) == NULL)
		return PROTO_E_TYPE;
	/* Flags first: valid_extent would report them too, but only the
	 * table knows which types allow any. */
	if (msg_flags(msg) & ~t->flags)
		return PROTO_E_FLAGS;
	if ((e = t->valid(msg)) != 0)
		return e;
	if (buf == NULL || cap < PROTO_HDR_SIZE)
		return PROTO_E_NOSPACE;

	w.p = buf + PROTO_HDR_SIZE;
	w.left = cap - PROTO_HDR_SIZE;
	if ((e = t->enc(&w, msg)) != 0)
		return e;
	proto_msg_bulk(msg, &bulk, &blen);
	payload = (size_t)(w.p - (buf + PROTO_HDR_SIZE));
	if (__builtin_add_overflow(payload, blen, &payload) ||
	    payload > PROTO_MAX_PAYLOAD || payload > t->max)
		return PROTO_E_TOOBIG;

	h.version = PROTO_VERSION;
	h.type = msg->type;
	h.flags = msg_flags(msg);
	h.length = (uint32_t)payload;
	w.p = buf;
	w.left = PROTO_HDR_SIZE;
	if ((e = put_u32(&w, PROTO_MAGIC)) != 0 ||
	    (e = put_u16(&w, h.version)) != 0 ||
	    (e = put_u16(&w, h.type)) != 0 ||
	    (e = put_u32(&w, h.flags)) != 0 ||
	    (e = put_u32(&w, h.length)) != 0)
		return e;

	*out_len = PROTO_HDR_SIZE + payload - blen;
	*bulk_len = blen;
	return 0;
}

int
proto_encode(const struct proto_msg *msg, uint8_t *buf, size_t cap,
	     size_t *out_len)
{
	const uint8_t *bulk;
	size_t head, blen, total;
	int e;

	if ((e = proto_encode_head(msg, buf, cap, &head, &blen)) != 0)
		return e;
	if (__builtin_add_overflow(head, blen, &total) || total > cap)
		return PROTO_E_NOSPACE;
	proto_msg_bulk(msg, &bulk, &blen);
	if (blen != 0)
		memcpy(buf + head, bulk, blen);
	*out_len = total;
	return 0;
}

int
proto_extent_check(const struct proto_extent *ext, uint64_t disk_size)
{
	uint64_t end;

	if (__builtin_add_overflow(ext->offset, ext->length, &end) ||
	    end > disk_size)
		return PROTO_E_RANGE;
	return 0;
}

const char *
proto_strerror(int status)
{
	switch (status) {
	case PROTO_OK:         return "success";
	case PROTO_E_SHORT:    return "buffer shorter than a frame header";
	case PROTO_E_MAGIC:    return "bad frame magic";
	case PROTO_E_VERSION:  return "unsupported protocol version";
	case PROTO_E_TYPE:     return "unknown message type";
	case PROTO_E_FLAGS:    return "unknown flag bits";
	case PROTO_E_TOOBIG:   return "length above limit";
	case PROTO_E_TRUNC:    return "payload ends inside a field";
	case PROTO_E_TRAILING: return "trailing bytes after the last field";
	case PROTO_E_RANGE:    return "value out of range";
	case PROTO_E_STRING:   return "bad string (empty, NUL inside or too long)";
	case PROTO_E_KIND:     return "unknown kind, compression or capability";
	case PROTO_E_NOSPACE:  return "output buffer too small";
	default:               return "unknown codec error";
	}
}

const char *
proto_error_code_name(uint32_t code)
{
	static const char *const names[] = {
		[PROTO_ERR_PROTOCOL] = "protocol error",
		[PROTO_ERR_AUTH] = "not authorised",
		[PROTO_ERR_CHECKSUM] = "checksum mismatch",
		[PROTO_ERR_STORE] = "receiver storage error",
		[PROTO_ERR_CONFLICT] = "conflict",
		[PROTO_ERR_NOTFOUND] = "not found",
		[PROTO_ERR_INTERNAL] = "internal error",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown error";
}
