/* Unit tests of the receiver's targeted repair (repair.h, store-repair.h)
 * through the session, against a real local store (qemu-img, qemu-nbd,
 * qemu-io): bytes flipped at rest are found by scrub, listed as the bad
 * records, rewritten by matching extents and the point scrubs clean again;
 * extents that are not the records, carry another hash, or target a clean
 * point are refused with nothing written; a Ceph store and a point a drill
 * pins are refused (issue 13, item 3). */
#define _GNU_SOURCE /* nftw in tmpdir.h */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "replicator/config.h"
#include "replicator/receiver/groupstate.h"
#include "replicator/receiver/scrub.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store-repair.h"
#include "replicator/receiver/store.h"
#include "tmpdir.h"
#include "fakepeer.h"
#include "sessenv.h"
#include "poolwait.h"

#define KIB 1024u
#define DISK (1024u * KIB)
#define T0 1767225600000000000ull /* 2026-01-01 */

static char root[64];
static struct receiver_config *cfg;
static struct store *st;
static struct session_env *env;
static uint8_t img[DISK];
static struct fakepeer peer;

static void
setup(void)
{
	sessenv_up(root, sizeof(root), "nestor-repair", "[client agent1]\ngroups = g1\n", &cfg,
		   &st, &env);
}

static void
teardown(void)
{
	sessenv_down(root, cfg, st, env);
}

TestSuite(repair, .init = setup, .fini = teardown, .timeout = 120);

static struct session *
connect_io(const struct session_io *sio)
{
	return fakepeer_connect(env, sio, &peer, "agent1");
}

/* Without a pool the session runs its heavy steps inline, never resumed. */
static struct session *
connect(void)
{
	return connect_io(&fakepeer_io);
}

static void
fill(uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		img[off + i] = (uint8_t)(seed * 131 + i * 7 + i / 4093 + 1);
}

static struct proto_msg
begin_msg(uint64_t id, uint64_t base, uint32_t flags)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };

	m.u.begin.flags = flags;
	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "g1");
	m.u.begin.point_id = id;
	m.u.begin.base_id = base;
	m.u.begin.time_ns = T0 + id;
	m.u.begin.ndisks = 1;
	snprintf(m.u.begin.disks[0].name, sizeof(m.u.begin.disks[0].name), "d0");
	m.u.begin.disks[0].size = DISK;
	return m;
}

static int
send_data(struct session *s, uint64_t off, size_t len, uint64_t hash)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.kind = PROTO_KIND_DATA;
	m.u.extent.offset = off;
	m.u.extent.length = len;
	m.u.extent.checksum = hash;
	m.u.extent.data = img + off;
	m.u.extent.data_len = len;
	return session_on_msg(s, &m);
}

static int
send_zero(struct session *s, uint64_t off, uint64_t len)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.kind = PROTO_KIND_ZERO;
	m.u.extent.offset = off;
	m.u.extent.length = len;
	return session_on_msg(s, &m);
}

static int
send_commit(struct session *s, uint64_t id)
{
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };

	m.u.commit.point_id = id;
	return session_on_msg(s, &m);
}

/* Point 1 of g1: DATA [0,64K), DATA [64K,128K), ZERO [128K,256K), DATA
 * [256K,320K); point 2 on it: DATA [512K,576K). */
static void
two_points(void)
{
	struct session *s = connect();
	struct proto_msg m = begin_msg(1, 0, 0);
	struct proto_msg d = { .type = PROTO_DISK_DONE };

	fill(0, DISK, 1);
	memset(img + 128 * KIB, 0, 128 * KIB);
	cr_assert_eq(session_on_msg(s, &m), 0);
	cr_assert_eq(send_data(s, 0, 64 * KIB, hash64(img, 64 * KIB)), 0);
	cr_assert_eq(send_data(s, 64 * KIB, 64 * KIB, hash64(img + 64 * KIB, 64 * KIB)), 0);
	cr_assert_eq(send_zero(s, 128 * KIB, 128 * KIB), 0);
	cr_assert_eq(send_data(s, 256 * KIB, 64 * KIB, hash64(img + 256 * KIB, 64 * KIB)), 0);
	cr_assert_eq(session_on_msg(s, &d), 0);
	cr_assert_eq(send_commit(s, 1), 0);
	cr_assert_eq(peer.committed, 1, "%s", peer.err_text);
	m = begin_msg(2, 1, 0);
	cr_assert_eq(session_on_msg(s, &m), 0);
	cr_assert_eq(send_data(s, 512 * KIB, 64 * KIB, hash64(img + 512 * KIB, 64 * KIB)), 0);
	cr_assert_eq(session_on_msg(s, &d), 0);
	cr_assert_eq(send_commit(s, 2), 0);
	cr_assert_eq(peer.committed, 2, "%s", peer.err_text);
	fakepeer_end(s);
}

static void
corrupt(uint64_t point, uint64_t off)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "qemu-io -f qcow2 -c 'write -P 0x5a %" PRIu64 " 512' "
		 "%s/g1/disks/d0/%" PRIu64 ".qcow2 >/dev/null", off, root, point);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* md5 of point's file, to prove nothing was written. */
static void
md5(uint64_t point, char *out, size_t cap)
{
	char cmd[256];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "md5sum %s/g1/disks/d0/%" PRIu64 ".qcow2", root, point);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)cap, f));
	pclose(f);
}

static int
scrub(void)
{
	struct scrub_opts o = { 0 };

	return scrub_group(st, "g1", &o, NULL, NULL);
}

static enum scrub_verdict
verdict_of(uint64_t point, size_t *nbad)
{
	char gdir[128];
	struct scrubstate ss = { 0 };
	const struct scrub_entry *e;
	enum scrub_verdict v;

	snprintf(gdir, sizeof(gdir), "%s/g1", root);
	cr_assert_eq(scrubstate_load(gdir, &ss), 0);
	e = scrubstate_find(&ss, point);
	cr_assert_not_null(e);
	v = e->verdict;
	*nbad = e->nbad;
	scrubstate_free(&ss);
	return v;
}

static void
query(struct session *s, uint64_t point, uint64_t before)
{
	struct proto_msg m = { .type = PROTO_REPAIR_QUERY };

	snprintf(m.u.rquery.group, sizeof(m.u.rquery.group), "g1");
	m.u.rquery.point = point;
	m.u.rquery.before = before;
	cr_assert_eq(session_on_msg(s, &m), 0, "%s", peer.err_text);
	cr_assert_eq(peer.last, PROTO_REPAIR_LIST);
}

static struct proto_repair_entry
entry(uint32_t i)
{
	struct proto_repair_entry e;

	cr_assert_lt(i, peer.list.count);
	proto_repair_entry_get(&peer.list, i, &e);
	return e;
}

Test(repair, lists_the_bad_records_and_repairs_them)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	struct proto_repair_entry e;
	struct session *s;
	size_t nbad;

	two_points();
	corrupt(1, 70000);  /* inside DATA [64K,128K) */
	corrupt(1, 140000); /* inside ZERO [128K,256K) */
	cr_assert_eq(scrub(), 1);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_BAD);

	s = connect();
	query(s, 0, 0);
	cr_assert_eq(peer.list.point_id, 1);
	cr_assert_eq(peer.list.ndisks, 1);
	cr_assert_str_eq(peer.list.disks[0].name, "d0");
	cr_assert_eq(peer.list.disks[0].size, DISK);
	cr_assert_eq(peer.list.count, 2, "the failed records, no more");
	cr_assert_eq(peer.list.flags, 0);
	e = entry(0);
	cr_assert_eq(e.kind, PROTO_KIND_DATA);
	cr_assert_eq(e.offset, 64 * KIB);
	cr_assert_eq(e.length, 64 * KIB);
	cr_assert_eq(e.hash, hash64(img + 64 * KIB, 64 * KIB));
	e = entry(1);
	cr_assert_eq(e.kind, PROTO_KIND_ZERO);
	cr_assert_eq(e.offset, 128 * KIB);
	cr_assert_eq(e.length, 128 * KIB);
	/* Below point 1 there is nothing bad. */
	query(s, 0, 1);
	cr_assert_eq(peer.list.point_id, 0);

	cr_assert_eq(session_on_msg(s, &b), 0, "%s", peer.err_text);
	cr_assert_eq(send_data(s, 64 * KIB, 64 * KIB, hash64(img + 64 * KIB, 64 * KIB)), 0);
	cr_assert_eq(send_zero(s, 128 * KIB, 128 * KIB), 0);
	cr_assert_eq(send_commit(s, 1), 0, "%s", peer.err_text);
	cr_assert_eq(peer.committed, 1);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_OK, "verdict after repair");
	cr_assert_eq(nbad, 0);
	query(s, 0, 0);
	cr_assert_eq(peer.list.point_id, 0, "nothing left to repair");
	fakepeer_end(s);
	cr_assert_eq(scrub(), 0, "a full scrub agrees");
}

/* Points 1 and 2, two records of point 1 bad ([0,64K) and [256K,320K)),
 * a repair of point 1 begun and the first record sent. */
static struct session *
repair_first_of_two(void)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	struct session *s;

	two_points();
	corrupt(1, 1000);
	corrupt(1, 300000);
	cr_assert_eq(scrub(), 1);
	s = connect();
	cr_assert_eq(session_on_msg(s, &b), 0, "%s", peer.err_text);
	cr_assert_eq(send_data(s, 0, 64 * KIB, hash64(img, 64 * KIB)), 0);
	return s;
}

Test(repair, a_partial_repair_leaves_the_rest_bad)
{
	struct session *s = repair_first_of_two();
	size_t nbad;

	cr_assert_eq(send_commit(s, 1), 0, "%s", peer.err_text);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_BAD);
	cr_assert_eq(nbad, 1);
	query(s, 1, 0);
	cr_assert_eq(peer.list.count, 1);
	cr_assert_eq(entry(0).offset, 256 * KIB);
	fakepeer_end(s);
}

/* Each refused with nothing written: the point's file is unchanged. */
static void
refused(struct proto_msg *b, int (*attack)(struct session *s), uint32_t code)
{
	char before[128], after[128];
	struct session *s;
	size_t nbad;

	md5(1, before, sizeof(before));
	s = connect();
	if (session_on_msg(s, b) == 0)
		cr_assert_eq(attack(s), -1);
	cr_assert(peer.closed);
	cr_assert_eq(peer.err_code, code, "code %u: %s", peer.err_code, peer.err_text);
	fakepeer_end(s);
	md5(1, after, sizeof(after));
	cr_assert_str_eq(before, after, "point 1's file changed");
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_BAD);
}

static int
wrong_hash(struct session *s)
{
	/* The data and its own checksum agree; the record's hash is other. */
	fill(64 * KIB, 64 * KIB, 9);
	return send_data(s, 64 * KIB, 64 * KIB, hash64(img + 64 * KIB, 64 * KIB));
}

static int
not_an_entry(struct session *s)
{
	return send_data(s, 0, 64 * KIB, hash64(img, 64 * KIB)); /* a good record */
}

static int
shifted(struct session *s)
{
	return send_data(s, 64 * KIB, 32 * KIB, hash64(img + 64 * KIB, 32 * KIB));
}

static int
nothing(struct session *s)
{
	(void)s;
	return -1;
}

Test(repair, refuses_what_is_not_a_bad_record)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);

	two_points();
	corrupt(1, 70000);
	cr_assert_eq(scrub(), 1);
	refused(&b, wrong_hash, PROTO_ERR_CHECKSUM);
	fill(0, DISK, 1);
	memset(img + 128 * KIB, 0, 128 * KIB);
	refused(&b, not_an_entry, PROTO_ERR_PROTOCOL);
	refused(&b, shifted, PROTO_ERR_PROTOCOL);
	/* A clean point, and a point that is not committed. */
	b = begin_msg(2, 1, PROTO_FLAG_BEGIN_REPAIR);
	refused(&b, nothing, PROTO_ERR_CONFLICT);
	b = begin_msg(3, 2, PROTO_FLAG_BEGIN_REPAIR);
	refused(&b, nothing, PROTO_ERR_NOTFOUND);
	/* Disks that are not the point's. */
	b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	b.u.begin.disks[0].size = DISK * 2;
	refused(&b, nothing, PROTO_ERR_PROTOCOL);
}

Test(repair, a_clean_point_lists_nothing)
{
	struct session *s;
	struct proto_msg m = { .type = PROTO_REPAIR_QUERY };

	two_points();
	cr_assert_eq(scrub(), 0);
	s = connect();
	query(s, 2, 0);
	cr_assert_eq(peer.list.point_id, 0);
	query(s, 0, 0);
	cr_assert_eq(peer.list.point_id, 0);
	snprintf(m.u.rquery.group, sizeof(m.u.rquery.group), "g1");
	m.u.rquery.point = 7;
	cr_assert_eq(session_on_msg(s, &m), -1);
	cr_assert_eq(peer.err_code, PROTO_ERR_NOTFOUND);
	fakepeer_end(s);
}

/* A Ceph store's points are RBD snapshots: refused before anything is
 * touched (no cluster needed: the backend is asked first). */
Test(repair, a_ceph_store_refuses)
{
	struct store_ceph_opts co = { .pool = "rbd" };
	struct store *cst;
	struct store_repair *r = NULL;
	char why[256];
	int err = 0;

	two_points();
	cst = store_open(root, &co);
	cr_assert_not_null(cst);
	cr_assert_eq(store_repair_open(cst, "g1", 1, &r, &err, why, sizeof(why)), -1);
	cr_assert_null(r);
	cr_assert_eq(err, STORE_ERR_CONFLICT);
	cr_assert(strstr(why, "ceph backend cannot rewrite a committed point"), "%s", why);
	store_free(cst);
}

/* A drill booting point 2 reads through point 1's file: no repair of 1
 * until the drill lets go. */
Test(repair, a_pinned_point_refuses)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	struct session *s;
	char dir[128];

	two_points();
	corrupt(1, 70000);
	cr_assert_eq(scrub(), 1);
	snprintf(dir, sizeof(dir), "%s/g1/drills", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/g1/drills/drill-1", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(groupstate_pin(root, "g1", "drill-1", 2), 0);
	refused(&b, nothing, PROTO_ERR_CONFLICT);
	cr_assert(strstr(peer.err_text, "in use by a drill or failover"), "%s", peer.err_text);
	groupstate_unpin(root, "g1", "drill-1", 2);
	s = connect();
	cr_assert_eq(session_on_msg(s, &b), 0, "%s", peer.err_text);
	fakepeer_end(s);
}

/* A bad range no checksum record lies in (an inherited one, say): the point
 * is listed, with nothing to re-fetch. */
Test(repair, a_bad_range_without_records_lists_nothing)
{
	struct scrubstate ss = { 0 };
	struct scrub_entry *e;
	struct session *s;
	char gdir[128];

	two_points();
	snprintf(gdir, sizeof(gdir), "%s/g1", root);
	cr_assert_eq(scrubstate_load(gdir, &ss), 0);
	cr_assert_not_null(e = scrubstate_get(&ss, 1));
	cr_assert_eq(scrubstate_add_bad(e, "d0", 900 * KIB, 4 * KIB), 0);
	cr_assert_eq(scrubstate_save(gdir, &ss), 0);
	scrubstate_free(&ss);
	s = connect();
	query(s, 0, 0);
	cr_assert_eq(peer.list.point_id, 1);
	cr_assert_eq(peer.list.count, 0);
	fakepeer_end(s);
}

/* More bad records than one list holds: the list is cut (MORE), the
 * repair point takes them all, and the point ends clean. */
Test(repair, a_long_list_is_cut_and_the_repair_takes_every_record)
{
	enum { REC = 128, NREC = PROTO_MAX_REPAIR + 1 };
	struct proto_msg m = begin_msg(1, 0, 0);
	struct proto_msg d = { .type = PROTO_DISK_DONE };
	struct session *s = connect();
	char cmd[512];
	size_t nbad;

	fill(0, DISK, 3);
	cr_assert_eq(session_on_msg(s, &m), 0);
	for (uint64_t i = 0; i < NREC; i++)
		cr_assert_eq(send_data(s, i * REC, REC, hash64(img + i * REC, REC)), 0);
	cr_assert_eq(session_on_msg(s, &d), 0);
	cr_assert_eq(send_commit(s, 1), 0, "%s", peer.err_text);
	fakepeer_end(s);
	snprintf(cmd, sizeof(cmd), "qemu-io -f qcow2 -c 'write -P 0x5a 0 %u' "
		 "%s/g1/disks/d0/1.qcow2 >/dev/null", 1025u * 512u, root);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(scrub(), 1);

	s = connect();
	query(s, 1, 0);
	cr_assert_eq(peer.list.count, PROTO_MAX_REPAIR);
	cr_assert_eq(peer.list.flags, PROTO_FLAG_REPAIR_MORE);
	cr_assert_eq(entry(PROTO_MAX_REPAIR - 1).offset, (uint64_t)(PROTO_MAX_REPAIR - 1) * REC);
	m = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	cr_assert_eq(session_on_msg(s, &m), 0, "%s", peer.err_text);
	for (uint64_t i = 0; i < NREC; i++)
		cr_assert_eq(send_data(s, i * REC, REC, hash64(img + i * REC, REC)), 0,
			     "record %" PRIu64 ": %s", i, peer.err_text);
	cr_assert_eq(send_commit(s, 1), 0, "%s", peer.err_text);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_OK);
	query(s, 1, 0);
	cr_assert_eq(peer.list.point_id, 0);
	fakepeer_end(s);
}

/* An agent gone mid-repair: what it wrote stays (it is the content the
 * checksums say), the verdict waits for the next scrub or repair, and the
 * group is free again. */
Test(repair, an_agent_gone_mid_repair_leaves_the_group_free)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	struct session *s = repair_first_of_two();
	size_t nbad;

	fakepeer_end(s);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_BAD);
	cr_assert_eq(nbad, 2, "no verdict without a commit");
	s = connect();
	cr_assert_eq(session_on_msg(s, &b), 0, "the group lock was released: %s", peer.err_text);
	cr_assert_eq(send_data(s, 256 * KIB, 64 * KIB, hash64(img + 256 * KIB, 64 * KIB)), 0);
	cr_assert_eq(send_commit(s, 1), 0, "%s", peer.err_text);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_BAD, "the first record was not re-read");
	fakepeer_end(s);
	cr_assert_eq(scrub(), 0, "but a scrub finds the written record good");
}

/* With a pool, the begin and the commit run on a worker (they take the
 * group lock, read checksum files, flush, fsync and read back) and the
 * session is resumed after each; the extents are written in between. */
Test(repair, begin_and_commit_run_on_the_pool)
{
	struct proto_msg b = begin_msg(1, 0, PROTO_FLAG_BEGIN_REPAIR);
	struct workpool *pool;
	struct session *s;
	size_t nbad;

	two_points();
	corrupt(1, 70000);
	cr_assert_eq(scrub(), 1);
	pool = workpool_new(1, 4);
	cr_assert_not_null(pool);
	session_env_set_pool(env, pool);
	s = connect_io(&fakepeer_pool_io);
	cr_assert_eq(session_on_msg(s, &b), 1, "the begin goes to the pool");
	poolwait_dispatch(pool, 1);
	cr_assert(!peer.closed, "%s", peer.err_text);
	cr_assert_eq(peer.resumes, 1);
	cr_assert_eq(send_data(s, 64 * KIB, 64 * KIB, hash64(img + 64 * KIB, 64 * KIB)), 0);
	cr_assert_eq(send_commit(s, 1), 1, "the commit goes to the pool");
	cr_assert_eq(peer.committed, 0, "no COMMITTED before the job is done");
	poolwait_dispatch(pool, 1);
	cr_assert_eq(peer.committed, 1, "%s", peer.err_text);
	cr_assert_eq(peer.resumes, 2);
	cr_assert_eq(verdict_of(1, &nbad), SCRUB_OK);
	fakepeer_end(s);
	session_env_set_pool(env, NULL);
	workpool_free(pool);
}
