/* Writes the seed corpus of the session fuzzer (tests/fuzz/corpus-session,
 * format in session-input.h) with the real encoders, checksums and zstd:
 * whole cycles, an incremental, two disks, two sessions on one group, a
 * resume after a broken session, the refusals and a targeted repair's
 * frames. `make fuzz-seeds`. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "tests/fuzz/session-input.h"

#define T0 1767225600000000000ull /* 2026-01-01, ns: in the receiver's past */
#define MIN 60000000000ull

struct seed {
	uint8_t buf[256 << 10];
	size_t len;
};

static struct zcomp *zc;
static uint8_t frame[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];

static void
die(const char *what)
{
	fprintf(stderr, "gen-session-seeds: %s\n", what);
	exit(1);
}

static void
add(struct seed *sd, unsigned ctl, const struct proto_msg *m)
{
	size_t n;

	if (proto_encode(m, frame, sizeof(frame), &n) != 0)
		die("a seed message does not encode");
	if (memmem(frame, n, SESSION_SEP, SESSION_SEP_LEN))
		die("a frame holds the record separator");
	if (sd->len + SESSION_SEP_LEN + 1 + n > sizeof(sd->buf))
		die("seed too big");
	if (sd->len) {
		memcpy(sd->buf + sd->len, SESSION_SEP, SESSION_SEP_LEN);
		sd->len += SESSION_SEP_LEN;
	}
	sd->buf[sd->len++] = (uint8_t)ctl;
	memcpy(sd->buf + sd->len, frame, n);
	sd->len += n;
}

static void
hello(struct seed *sd, unsigned lane)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "seed-agent");
	add(sd, lane, &m);
}

static void
pquery(struct seed *sd, unsigned lane, const char *group)
{
	struct proto_msg m = { .type = PROTO_PROGRESS_QUERY };

	snprintf(m.u.pquery.group, sizeof(m.u.pquery.group), "%s", group);
	add(sd, lane, &m);
}

/* A point whose disk sizes are given (0-terminated, names d0, d1, ...). */
static void
begin_sized(struct seed *sd, unsigned lane, const char *group, uint64_t point, uint64_t base,
	    const uint64_t *sizes)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };
	struct proto_point_begin *b = &m.u.begin;

	snprintf(b->group, sizeof(b->group), "%s", group);
	b->point_id = point;
	b->base_id = base;
	b->time_ns = T0 + point * MIN;
	for (; sizes[b->ndisks]; b->ndisks++) {
		snprintf(b->disks[b->ndisks].name, sizeof(b->disks[b->ndisks].name), "d%u",
			 b->ndisks);
		b->disks[b->ndisks].size = sizes[b->ndisks];
	}
	add(sd, lane, &m);
}

/* ndisks (<= 4) disks of 1 MiB << i. */
static void
begin(struct seed *sd, unsigned lane, const char *group, uint64_t point, uint64_t base,
      uint16_t ndisks)
{
	uint64_t sizes[5] = { 0 };

	for (uint16_t i = 0; i < ndisks && i < 4; i++)
		sizes[i] = (1ull << 20) << i;
	begin_sized(sd, lane, group, point, base, sizes);
}

static void
fill(uint8_t *p, size_t n, unsigned seed, int compressible)
{
	uint32_t x = 0x9e3779b9u * (seed + 1);

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = compressible ? (uint8_t)("nestor-"[i % 7] + (i / 512) % 3) : (uint8_t)(x >> 24);
	}
}

/* A DATA extent: raw, or zstd when zstd is set; checksum wrong when bad. */
static void
data(struct seed *sd, unsigned ctl, uint16_t disk, uint64_t off, size_t len, int zstd,
     int bad)
{
	static uint8_t plain[PROTO_MAX_EXTENT], packed[PROTO_MAX_EXTENT];
	struct proto_msg m = { .type = PROTO_EXTENT };
	struct proto_extent *e = &m.u.extent;
	size_t n = len;

	fill(plain, len, (unsigned)off, zstd);
	if (zstd && zcomp_compress(zc, plain, len, packed, sizeof(packed), &n) != 0)
		die("zstd did not compress a seed extent");
	e->disk = disk;
	e->kind = PROTO_KIND_DATA;
	e->comp = zstd ? PROTO_COMP_ZSTD : PROTO_COMP_NONE;
	e->offset = off;
	e->length = len;
	e->checksum = hash64(plain, len) ^ (bad ? 1 : 0);
	e->data = zstd ? packed : plain;
	e->data_len = n;
	add(sd, ctl, &m);
}

static void
zero(struct seed *sd, unsigned lane, uint16_t disk, uint64_t off, uint64_t len, uint8_t kind)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.disk = disk;
	m.u.extent.kind = kind;
	m.u.extent.offset = off;
	m.u.extent.length = len;
	add(sd, lane, &m);
}

static void
done(struct seed *sd, unsigned lane, uint16_t disk)
{
	struct proto_msg m = { .type = PROTO_DISK_DONE };

	m.u.done.disk = disk;
	add(sd, lane, &m);
}

static void
commit(struct seed *sd, unsigned lane, uint64_t point)
{
	static const char meta[] = "<domain type='kvm'><name>vm</name></domain>";
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };

	m.u.commit.point_id = point;
	m.u.commit.meta = (const uint8_t *)meta;
	m.u.commit.meta_len = sizeof(meta) - 1;
	add(sd, lane, &m);
}

static void
hquery(struct seed *sd, unsigned lane, const char *group, uint64_t point, const char *disk,
       uint32_t block, uint32_t count)
{
	struct proto_msg m = { .type = PROTO_HASH_QUERY };
	struct proto_hash_query *q = &m.u.hquery;

	snprintf(q->group, sizeof(q->group), "%s", group);
	snprintf(q->disk, sizeof(q->disk), "%s", disk);
	q->point_id = point;
	q->block_size = block;
	q->count = count;
	add(sd, lane, &m);
}

static void
agent_error(struct seed *sd, unsigned lane)
{
	struct proto_msg m = { .type = PROTO_ERROR };

	m.u.error.code = PROTO_ERR_STORE;
	snprintf(m.u.error.text, sizeof(m.u.error.text), "source snapshot failed");
	add(sd, lane, &m);
}

/* A point with one 4 KiB extent on disk 0, from begin to commit. */
static void
one_point(struct seed *sd, unsigned lane, const char *group, uint64_t point, uint64_t base,
	  uint64_t off, int zstd)
{
	begin(sd, lane, group, point, base, 1);
	data(sd, lane, 0, off, 4096, zstd, 0);
	done(sd, lane, 0);
	commit(sd, lane, point);
}

/* A whole full point 1 of g1 on lane 0. */
static void
full_cycle(struct seed *sd)
{
	hello(sd, 0);
	pquery(sd, 0, "g1");
	begin(sd, 0, "g1", 1, 0, 1);
	data(sd, 0, 0, 0, 4096, 0, 0);
	data(sd, 0, 0, 8192, 16384, 1, 0);
	zero(sd, 0, 0, 65536, 65536, PROTO_KIND_ZERO);
	zero(sd, 0, 0, 131072, 4096, PROTO_KIND_DISCARD);
	done(sd, 0, 0);
	commit(sd, 0, 1);
}

static void
seed_cycle(struct seed *sd)
{
	full_cycle(sd);
	hquery(sd, 0, "g1", 0, "d0", 4096, 16);
	pquery(sd, 0, "g1");
}

static void
seed_incremental(struct seed *sd)
{
	full_cycle(sd);
	begin(sd, 0, "g1", 2, 1, 1);
	hquery(sd, 0, "g1", 1, "d0", 65536, 16); /* a resync during the point */
	data(sd, 0, 0, 4096, 4096, 0, 0);
	done(sd, 0, 0);
	commit(sd, 0, 2);
	hquery(sd, 0, "g1", 2, "d0", 4096, 64);
	hquery(sd, 0, "g1", 2, "nodisk", 4096, 4);
}

static void
seed_two_disks(struct seed *sd)
{
	hello(sd, 0);
	begin(sd, 0, "g2", 1, 0, 2);
	data(sd, 0, 0, 0, 4096, 0, 0);
	data(sd, 0, 1, 1 << 20, 8192, 1, 0);
	done(sd, 0, 0);
	zero(sd, 0, 1, 0, 1 << 20, PROTO_KIND_ZERO);
	done(sd, 0, 1);
	commit(sd, 0, 1);
	hquery(sd, 0, "g2", 1, "d1", 1 << 20, 2);
}

/* Both peers on g2: the second BEGIN meets a busy group. */
static void
seed_two_lanes(struct seed *sd)
{
	hello(sd, 0);
	begin(sd, 0, "g2", 1, 0, 1);
	hello(sd, 1);
	begin(sd, 1, "g2", 1, 0, 1);
	hello(sd, 1);
	pquery(sd, 1, "g2");
	data(sd, 0, 0, 0, 4096, 0, 0);
	done(sd, 0, 0);
	commit(sd, 0, 1);
	one_point(sd, 1, "g2", 2, 1, 4096, 1);
}

/* A session breaks mid-point (the agent's ERROR); the next one resumes. */
static void
seed_resume(struct seed *sd)
{
	hello(sd, 0);
	begin(sd, 0, "g1", 1, 0, 1);
	data(sd, 0, 0, 0, 4096, 0, 0);
	agent_error(sd, 0);
	hello(sd, 0);
	pquery(sd, 0, "g1");
	one_point(sd, 0, "g1", 1, 0, 4096, 0);
}

/* Each refusal ends its session; the next record starts a new one. */
static void
seed_refusals(struct seed *sd)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	hello(sd, 0);
	begin(sd, 0, "g3", 1, 0, 1);      /* failed over */
	hello(sd, 1);
	pquery(sd, 1, "g1");              /* not authorised */
	hello(sd, 0);
	hello(sd, 0);                     /* HELLO twice */
	hello(sd, 0);
	data(sd, 0, 0, 0, 4096, 0, 0);    /* no point begun */
	hello(sd, 0);
	begin(sd, 0, "g1", 1, 0, 1);
	data(sd, 0, 0, 0, 4096, 0, 1);    /* checksum mismatch */
	hello(sd, 0);
	begin(sd, 0, "g1", 1, 0, 1);
	commit(sd, 0, 9);                 /* commit of another point */
	hello(sd, 0);
	hquery(sd, 0, "g1", 7, "d0", 4096, 1); /* no such point */
	m.u.hello.version_min = PROTO_VERSION + 1;
	m.u.hello.version_max = PROTO_VERSION + 2;
	add(sd, 0, &m);                   /* versions not supported */
}

/* A checksum the harness sets right (SESSION_CTL_FIXSUM). */
static void
seed_fixsum(struct seed *sd)
{
	hello(sd, 0);
	begin(sd, 0, "g1", 1, 0, 1);
	data(sd, SESSION_CTL_FIXSUM, 0, 12288, 4096, 0, 1);
	data(sd, SESSION_CTL_FIXSUM, 0, 65536, 8192, 1, 1);
	done(sd, 0, 0);
	commit(sd, 0, 1);
}

/* 1 MiB of data in one zstd extent: a checkpoint (checkpoint_interval 1M)
 * in an input of a few hundred bytes. */
static void
seed_checkpoint(struct seed *sd)
{
	hello(sd, 0);
	begin(sd, 0, "g1", 1, 0, 2);
	data(sd, 0, 1, 0, 1 << 20, 1, 0);
	data(sd, 0, 1, 1 << 20, 4096, 0, 0);
	agent_error(sd, 0);
	hello(sd, 0);
	pquery(sd, 0, "g1");
}

/* An incremental whose disk grew and which gained a disk its base lacks. */
static void
seed_growth(struct seed *sd)
{
	static const uint64_t p1[] = { 1 << 20, 0 };
	static const uint64_t p2[] = { 2 << 20, 65536, 0 };

	hello(sd, 0);
	begin_sized(sd, 0, "g1", 1, 0, p1);
	data(sd, 0, 0, 0, 4096, 0, 0);
	done(sd, 0, 0);
	commit(sd, 0, 1);
	begin_sized(sd, 0, "g1", 2, 1, p2);
	data(sd, 0, 0, (1 << 20) + 4096, 4096, 0, 0);
	data(sd, 0, 1, 0, 4096, 1, 0);
	done(sd, 0, 1);
	done(sd, 0, 0);
	commit(sd, 0, 2);
	hquery(sd, 0, "g1", 2, "d0", 1 << 20, 4);
	hquery(sd, 0, "g1", 2, "d1", 4096, 32);
}

static void
rquery(struct seed *sd, unsigned lane, const char *group, uint64_t point, uint64_t before)
{
	struct proto_msg m = { .type = PROTO_REPAIR_QUERY };

	snprintf(m.u.rquery.group, sizeof(m.u.rquery.group), "%s", group);
	m.u.rquery.point = point;
	m.u.rquery.before = before;
	add(sd, lane, &m);
}

/* A targeted repair's frames (issue 13, item 3): queries of every kind,
 * then REPAIR begins the receiver refuses (no bad verdict, not committed)
 * each followed by what a repair would send. */
static void
seed_repair(struct seed *sd)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };

	full_cycle(sd);
	rquery(sd, 0, "g1", 0, 0);
	rquery(sd, 0, "g1", 1, 0);
	rquery(sd, 0, "g1", 0, 1);
	rquery(sd, 0, "g1", 7, 0);
	hello(sd, 0);
	m.u.begin.flags = PROTO_FLAG_BEGIN_REPAIR;
	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "g1");
	m.u.begin.point_id = 1;
	m.u.begin.ndisks = 1;
	snprintf(m.u.begin.disks[0].name, sizeof(m.u.begin.disks[0].name), "d0");
	m.u.begin.disks[0].size = 1 << 20;
	add(sd, 0, &m);
	data(sd, SESSION_CTL_FIXSUM, 0, 0, 4096, 0, 0);
	commit(sd, 0, 1);
	hello(sd, 0);
	m.u.begin.point_id = 9;
	add(sd, 0, &m);
}

/* Failback (issue 14): REVERSE_BEGIN of g3 (failed over), of g1 (not),
 * each followed by what an agent sends next (its X, the end, a finish);
 * the fuzzer's io has no connection to hand over: all refused. */
static void
seed_reverse(struct seed *sd)
{
	static uint8_t r[2 * PROTO_RANGE_SIZE];
	struct proto_msg b = { .type = PROTO_REVERSE_BEGIN };
	struct proto_msg x = { .type = PROTO_REVERSE_RANGES };
	struct proto_msg f = { .type = PROTO_REVERSE_FINISH };
	static const char *const groups[] = { "g3", "g1" };

	proto_range_put(r, 0, 65536);
	proto_range_put(r + PROTO_RANGE_SIZE, 1 << 20, 4096);
	for (size_t i = 0; i < 2; i++) {
		hello(sd, 0);
		b.u.rbegin.flags = PROTO_FLAG_REVERSE_RANGES;
		snprintf(b.u.rbegin.group, sizeof(b.u.rbegin.group), "%s", groups[i]);
		add(sd, 0, &b);
		snprintf(x.u.rranges.disk, sizeof(x.u.rranges.disk), "d0");
		x.u.rranges.count = 2;
		x.u.rranges.ranges = r;
		x.u.rranges.flags = PROTO_FLAG_RANGES_MORE;
		add(sd, 0, &x);
		x.u.rranges.disk[0] = '\0';
		x.u.rranges.count = 0;
		x.u.rranges.ranges = NULL;
		x.u.rranges.flags = PROTO_FLAG_RANGES_END;
		add(sd, 0, &x);
	}
	hello(sd, 0);
	snprintf(f.u.rfinish.group, sizeof(f.u.rfinish.group), "g3");
	f.u.rfinish.shutdown_s = 60;
	add(sd, 0, &f);
}

static const struct {
	const char *name;
	void (*make)(struct seed *sd);
} seeds[] = {
	{ "reverse", seed_reverse },
	{ "repair", seed_repair },
	{ "cycle", seed_cycle },
	{ "incremental", seed_incremental },
	{ "two-disks", seed_two_disks },
	{ "two-lanes", seed_two_lanes },
	{ "resume", seed_resume },
	{ "refusals", seed_refusals },
	{ "fixsum", seed_fixsum },
	{ "checkpoint", seed_checkpoint },
	{ "growth", seed_growth },
};

int
main(int argc, char **argv)
{
	static struct seed sd;
	char path[4096];
	FILE *f;

	if (argc != 2)
		die("usage: gen-session-seeds DIR");
	zc = zcomp_new(3);
	if (!zc)
		die("zstd");
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		sd.len = 0;
		seeds[i].make(&sd);
		snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(sd.buf, 1, sd.len, f) != sd.len || fclose(f) != 0)
			die(path);
	}
	zcomp_free(zc);
	return 0;
}
