/* Shared by the codec suites (test-codec.c, test-codec-point.c): a raw frame
 * builder for frames the encoder refuses, decode/encode/round-trip checks,
 * and valid messages used as templates (their bulk data points into the
 * static bulk[], filled by init_bulk). Buffers from fb_init are the
 * caller's, freed by fb_free. Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_CODEC_FB_H
#define NESTOR_TESTS_UNIT_CODEC_FB_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "proto/codec.h"

/* ---- raw frame builder: lets tests emit what the encoder refuses -------- */

struct fb {
	uint8_t *buf;
	size_t len, cap;
};

static inline void
fb_init(struct fb *f, size_t cap)
{
	f->buf = calloc(1, cap);
	cr_assert_not_null(f->buf);
	f->cap = cap;
	f->len = PROTO_HDR_SIZE;
}

static inline void
fb_raw(struct fb *f, const void *p, size_t n)
{
	cr_assert_leq(f->len + n, f->cap);
	if (n)
		memcpy(f->buf + f->len, p, n);
	f->len += n;
}

static inline void
fb_u8(struct fb *f, uint8_t v)
{
	fb_raw(f, &v, 1);
}

static inline void
fb_u16(struct fb *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	fb_raw(f, b, 2);
}

static inline void
fb_u32(struct fb *f, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
			 (uint8_t)v };

	fb_raw(f, b, 4);
}

static inline void
fb_u64(struct fb *f, uint64_t v)
{
	fb_u32(f, (uint32_t)(v >> 32));
	fb_u32(f, (uint32_t)v);
}

static inline void
fb_strn(struct fb *f, const char *s, size_t n)
{
	fb_u16(f, (uint16_t)n);
	fb_raw(f, s, n);
}

static inline void
fb_str(struct fb *f, const char *s)
{
	fb_strn(f, s, strlen(s));
}

/* A string of n copies of c (n <= 2000). */
/* Not inline: gcc would then see the 2 KiB buffer behind every rep() in a
 * %s and warn of truncation it cannot rule out. */
__attribute__((unused)) static const char *
rep(char c, size_t n)
{
	static char s[2048];

	cr_assert_lt(n, sizeof(s));
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Fill the header with an arbitrary payload length (for lying headers). */
static inline void
fb_hdr(struct fb *f, uint32_t magic, uint16_t version, uint16_t type,
       uint32_t flags, uint32_t length)
{
	put_be32(f->buf, magic);
	f->buf[4] = (uint8_t)(version >> 8);
	f->buf[5] = (uint8_t)version;
	f->buf[6] = (uint8_t)(type >> 8);
	f->buf[7] = (uint8_t)type;
	put_be32(f->buf + 8, flags);
	put_be32(f->buf + 12, length);
}

static inline void
fb_finish(struct fb *f, uint16_t type, uint32_t flags)
{
	fb_hdr(f, PROTO_MAGIC, PROTO_VERSION, type, flags,
	       (uint32_t)(f->len - PROTO_HDR_SIZE));
}

static inline void
fb_free(struct fb *f)
{
	free(f->buf);
	f->buf = NULL;
}

/* Header decode then payload decode: the first error, as a reader sees it. */
static inline int
decode_frame(const uint8_t *buf, size_t len, struct proto_msg *m)
{
	struct proto_hdr h;
	int e;

	if ((e = proto_hdr_decode(buf, len, &h)) != 0)
		return e;
	cr_assert_eq(len, PROTO_HDR_SIZE + (size_t)h.length,
		     "test frame length disagrees with its header");
	return proto_decode(&h, buf + PROTO_HDR_SIZE, m);
}

static inline int
decode_fb(struct fb *f, uint16_t type, uint32_t flags)
{
	static struct proto_msg m;

	fb_finish(f, type, flags);
	return decode_frame(f->buf, f->len, &m);
}

static inline int
encode_only(const struct proto_msg *m)
{
	static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	size_t n = 0;

	return proto_encode(m, buf, sizeof(buf), &n);
}

/* Encode, decode, then encode the decoded message again: bytes must match. */
static inline void
roundtrip(const struct proto_msg *in, struct proto_msg *out)
{
	static uint8_t a[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	static uint8_t b[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	size_t na = 0, nb = 0;
	int e;

	e = proto_encode(in, a, sizeof(a), &na);
	cr_assert_eq(e, 0, "encode: %s", proto_strerror(e));
	e = decode_frame(a, na, out);
	cr_assert_eq(e, 0, "decode: %s", proto_strerror(e));
	cr_assert_eq(out->type, in->type);
	e = proto_encode(out, b, sizeof(b), &nb);
	cr_assert_eq(e, 0, "re-encode: %s", proto_strerror(e));
	cr_assert_eq(na, nb);
	cr_assert_arr_eq(a, b, na);
}

/* ---- valid messages used as templates ------------------------------------ */

static uint8_t bulk[PROTO_MAX_EXTENT];

static inline void
init_bulk(void)
{
	for (size_t i = 0; i < sizeof(bulk); i++)
		bulk[i] = (uint8_t)(i * 31u + (i >> 9));
}

static inline struct proto_msg
mk_hello(void)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.u.hello.version_min = 1;
	m.u.hello.version_max = 3;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	strcpy(m.u.hello.peer, "agent-01.example");
	return m;
}

static inline struct proto_msg
mk_progress(uint16_t ndisks)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_PROGRESS;
	strcpy(m.u.progress.group, "web");
	m.u.progress.last_point = 41;
	m.u.progress.pending_point = ndisks ? 42 : 0;
	m.u.progress.pending_base = ndisks ? 41 : 0;
	m.u.progress.ndisks = ndisks;
	for (uint16_t i = 0; i < ndisks; i++) {
		snprintf(m.u.progress.disks[i].name, sizeof(m.u.progress.disks[i].name),
			 "disk-%u", i);
		m.u.progress.disks[i].durable_offset = (uint64_t)i << 33;
		m.u.progress.disks[i].done = i & 1;
	}
	return m;
}

static inline struct proto_msg
mk_begin(uint16_t ndisks)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_POINT_BEGIN;
	strcpy(m.u.begin.group, "db");
	m.u.begin.point_id = 7;
	m.u.begin.base_id = 6;
	m.u.begin.time_ns = 1700000000123456789ull;
	m.u.begin.ndisks = ndisks;
	for (uint16_t i = 0; i < ndisks; i++) {
		snprintf(m.u.begin.disks[i].name, sizeof(m.u.begin.disks[i].name),
			 "vm%u-vda", i);
		m.u.begin.disks[i].size = (uint64_t)(i + 1) << 30;
	}
	return m;
}

static inline struct proto_msg
mk_extent(uint8_t kind, uint8_t comp, uint64_t length, size_t data_len)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_EXTENT;
	m.u.extent.disk = 3;
	m.u.extent.kind = kind;
	m.u.extent.comp = comp;
	m.u.extent.offset = 1ull << 40;
	m.u.extent.length = length;
	m.u.extent.checksum = kind == PROTO_KIND_DATA ? 0x0123456789abcdefull : 0;
	m.u.extent.data = data_len ? bulk : NULL;
	m.u.extent.data_len = data_len;
	return m;
}

static inline struct proto_msg
mk_hquery(void)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HASH_QUERY;
	strcpy(m.u.hquery.group, "db");
	m.u.hquery.point_id = 0;
	strcpy(m.u.hquery.disk, "vm0-vda");
	m.u.hquery.offset = 64ull << 20;
	m.u.hquery.block_size = 1u << 20;
	m.u.hquery.count = 128;
	return m;
}

static inline struct proto_msg
mk_hanswer(uint32_t count)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HASH_ANSWER;
	m.u.hanswer.point_id = 9;
	m.u.hanswer.offset = 1ull << 32;
	m.u.hanswer.block_size = 65536;
	m.u.hanswer.count = count;
	m.u.hanswer.hashes = count ? bulk : NULL;
	return m;
}

#endif
