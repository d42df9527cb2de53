/* The codec's byte cursors and string checks, shared by the files of the
 * codec (codec.c, codec-repair.c, codec-reverse.c). Private to proto/: static inline, no
 * state. All integers big-endian. */
#ifndef NESTOR_PROTO_CODEC_IO_H
#define NESTOR_PROTO_CODEC_IO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/codec.h"

/* ---- reading cursor ---------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
};

static inline int
get_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return PROTO_E_TRUNC;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static inline int
get_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return PROTO_E_TRUNC;
	*v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

static inline int
get_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return PROTO_E_TRUNC;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	     (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static inline int
get_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	int e;

	if (r->left < 8)
		return PROTO_E_TRUNC;
	if ((e = get_u32(r, &hi)) != 0 || (e = get_u32(r, &lo)) != 0)
		return e;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* The length cap is checked before truncation so an oversize string is
 * reported as such even when the frame is also short. */
static inline int
get_str(struct rd *r, char *dst, size_t max)
{
	uint16_t len;
	int e;

	if ((e = get_u16(r, &len)) != 0)
		return e;
	if (len > max)
		return PROTO_E_STRING;
	if (r->left < len)
		return PROTO_E_TRUNC;
	if (memchr(r->p, '\0', len) != NULL)
		return PROTO_E_STRING;
	memcpy(dst, r->p, len);
	dst[len] = '\0';
	r->p += len;
	r->left -= len;
	return 0;
}

/* Borrow n bytes (NULL when n == 0 so "no bulk" has one representation). */
static inline int
get_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->left < n)
		return PROTO_E_TRUNC;
	*out = n ? r->p : NULL;
	r->p += n;
	r->left -= n;
	return 0;
}

/* ---- writing cursor ---------------------------------------------------- */

struct wr {
	uint8_t *p;
	size_t left;
};

static inline int
put_u8(struct wr *w, uint8_t v)
{
	if (w->left < 1)
		return PROTO_E_NOSPACE;
	*w->p++ = v;
	w->left--;
	return 0;
}

static inline int
put_u16(struct wr *w, uint16_t v)
{
	if (w->left < 2)
		return PROTO_E_NOSPACE;
	w->p[0] = (uint8_t)(v >> 8);
	w->p[1] = (uint8_t)v;
	w->p += 2;
	w->left -= 2;
	return 0;
}

static inline int
put_u32(struct wr *w, uint32_t v)
{
	if (w->left < 4)
		return PROTO_E_NOSPACE;
	w->p[0] = (uint8_t)(v >> 24);
	w->p[1] = (uint8_t)(v >> 16);
	w->p[2] = (uint8_t)(v >> 8);
	w->p[3] = (uint8_t)v;
	w->p += 4;
	w->left -= 4;
	return 0;
}

static inline int
put_u64(struct wr *w, uint64_t v)
{
	int e;

	if (w->left < 8)
		return PROTO_E_NOSPACE;
	if ((e = put_u32(w, (uint32_t)(v >> 32))) != 0 ||
	    (e = put_u32(w, (uint32_t)v)) != 0)
		return e;
	return 0;
}

/* Strings were validated (terminated, within max) before encoding starts. */
static inline int
put_str(struct wr *w, const char *s)
{
	size_t len = strlen(s);
	int e;

	if ((e = put_u16(w, (uint16_t)len)) != 0)
		return e;
	if (w->left < len)
		return PROTO_E_NOSPACE;
	memcpy(w->p, s, len);
	w->p += len;
	w->left -= len;
	return 0;
}

/* ---- shared validation --------------------------------------------------- */

/* s lives in a char[max + 1]; an unterminated array (possible only on the
 * encode side) counts as too long. */
static inline int
check_str(const char *s, size_t max, size_t min)
{
	size_t n = strnlen(s, max + 1);

	if (n > max || n < min)
		return PROTO_E_STRING;
	return 0;
}

/* The repair messages' readers, writers and rules (codec-repair.c), for
 * codec.c's type table. */
struct proto_msg;
#define RQUERY_FIXED   (2u + 8u + 8u)
#define RLIST_FIXED    (8u + 8u + 2u + 4u)
#define RLIST_DISK_MAX (2u + PROTO_NAME_MAX + 8u)
#define RLIST_MAX      (RLIST_FIXED + PROTO_MAX_DISKS * RLIST_DISK_MAX + \
			PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE)
int codec_dec_rquery(struct rd *r, struct proto_msg *m);
int codec_enc_rquery(struct wr *w, const struct proto_msg *m);
int codec_valid_rquery(const struct proto_msg *m);
int codec_dec_rlist(struct rd *r, struct proto_msg *m);
int codec_enc_rlist(struct wr *w, const struct proto_msg *m);
int codec_valid_rlist(const struct proto_msg *m);
/* The reverse messages' readers, writers and rules (codec-reverse.c). */
#define RBEGIN_FIXED   2u
#define RRANGES_FIXED  (2u + 4u)
#define RRANGES_MAX    (RRANGES_FIXED + PROTO_NAME_MAX + PROTO_MAX_RANGES * PROTO_RANGE_SIZE)
#define RFINISH_FIXED  (2u + 4u + 8u)
#define RDONE_FIXED    (2u + 3u * 8u)
int codec_dec_rbegin(struct rd *r, struct proto_msg *m);
int codec_enc_rbegin(struct wr *w, const struct proto_msg *m);
int codec_valid_rbegin(const struct proto_msg *m);
int codec_dec_rranges(struct rd *r, struct proto_msg *m);
int codec_enc_rranges(struct wr *w, const struct proto_msg *m);
int codec_valid_rranges(const struct proto_msg *m);
int codec_dec_rfinish(struct rd *r, struct proto_msg *m);
int codec_enc_rfinish(struct wr *w, const struct proto_msg *m);
int codec_valid_rfinish(const struct proto_msg *m);
int codec_dec_rdone(struct rd *r, struct proto_msg *m);
int codec_enc_rdone(struct wr *w, const struct proto_msg *m);
int codec_valid_rdone(const struct proto_msg *m);
/* The disk list rule of POINT_BEGIN and REPAIR_LIST: names 1..max, sizes
 * 1..PROTO_MAX_DISK_SIZE, no name twice. */
int codec_check_disks(const struct proto_disk *d, uint16_t n);

#endif
