/* Unit tests for the session's heavy steps on a worker pool (issue 12,
 * section 3): a hash query goes to the pool, the session takes no message
 * until its answer went out from the dispatching thread, a full queue is
 * refused with a "busy" ERROR, and a session freed while its job runs is
 * never called back. Extents (issue 17) are verified on the pool, at most
 * extents_in_flight per session, and written in arrival order. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "common/workpool.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "replicator/config.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"
#include "poolwait.h"
#include "sessenv.h"
#include "tmpdir.h"

#define MIB (1024 * 1024)

static char root[64];
static struct receiver_config *cfg;
static struct store *st;
static struct session_env *env;
static struct workpool *pool;

/* What the session said through its io. */
static struct {
	int answers;
	uint64_t hashes[16];
	uint32_t count;
	int errors;
	uint32_t err_code;
	char err_text[256];
	int resumes;
	int committed;
	pthread_t resumed_on;
} seen;

static int
t_send(void *arg, const struct proto_msg *m)
{
	(void)arg;
	if (m->type == PROTO_COMMITTED)
		seen.committed++;
	if (m->type == PROTO_HASH_ANSWER) {
		seen.answers++;
		seen.count = m->u.hanswer.count;
		for (uint32_t i = 0; i < m->u.hanswer.count && i < 16; i++) {
			uint64_t v = 0;

			for (int b = 0; b < 8; b++)
				v = v << 8 | m->u.hanswer.hashes[i * 8 + (unsigned)b];
			seen.hashes[i] = v;
		}
	}
	return 0;
}

static void
t_send_error(void *arg, uint32_t code, const char *text)
{
	(void)arg;
	seen.errors++;
	seen.err_code = code;
	snprintf(seen.err_text, sizeof(seen.err_text), "%s", text);
}

static void
t_close(void *arg)
{
	(void)arg;
}

static const char *
t_peer(void *arg)
{
	(void)arg;
	return "agent1";
}

static void
t_resume(void *arg)
{
	(void)arg;
	seen.resumes++;
	seen.resumed_on = pthread_self();
}

static const struct session_io io = { t_send, t_send_error, t_close, t_peer, t_resume, NULL, NULL };

static void
setup(void)
{
	char text[512];

	memset(&seen, 0, sizeof(seen));
	tmpdir_make(root, sizeof(root), "nestor,sesspool");
	snprintf(text, sizeof(text),
		 "[receiver]\nlisten = 127.0.0.1:7400\nca = /x/ca.pem\ncert = /x/c.pem\n"
		 "key = /x/c.key\nstore = %s\n[client agent1]\ngroups = grp\n"
		 "[group grp]\nretention = 4s:all\n", root);
	sessenv_open(root, text, &cfg, &st, &env);
}

static void
teardown(void)
{
	workpool_free(pool);
	pool = NULL;
	sessenv_close(cfg, st, env);
	tmpdir_remove(root);
}

TestSuite(sesspool, .init = setup, .fini = teardown, .timeout = 60);

static struct session *
ready_session(void)
{
	struct session *s = session_new(env, &io, NULL);
	struct proto_msg m = { .type = PROTO_HELLO };

	cr_assert_not_null(s);
	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	cr_assert_eq(session_on_msg(s, &m), 0);
	return s;
}

static void
query(struct proto_msg *m, uint32_t count)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_HASH_QUERY;
	snprintf(m->u.hquery.group, sizeof(m->u.hquery.group), "grp");
	snprintf(m->u.hquery.disk, sizeof(m->u.hquery.disk), "vda");
	m->u.hquery.block_size = 65536;
	m->u.hquery.count = count;
}

/* Point 1 of grp: one disk vda of 1 MiB, a pattern per 64 KiB block. */
static void
commit_point(uint8_t *img)
{
	struct store_begin b = { 0 };
	struct store_point *pt;
	int err = -1;

	snprintf(b.group, sizeof(b.group), "grp");
	b.point_id = 1;
	b.time_ns = 1700000000000000000ull;
	b.ndisks = 1;
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "vda");
	b.disks[0].size = MIB;
	for (size_t i = 0; i < MIB; i++)
		img[i] = (uint8_t)(i * 7 + i / 65536);
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin: %d", err);
	cr_assert_eq(store_point_write(pt, 0, 0, img, MIB, &err), 0);
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "m", 1, &err), 0);
	store_point_free(pt);
}

Test(sesspool, query_runs_on_the_pool_and_answers_from_the_dispatcher)
{
	static uint8_t img[MIB];
	struct proto_msg m;
	struct session *s;

	commit_point(img);
	pool = workpool_new(1, 4);
	cr_assert_not_null(pool);
	session_env_set_pool(env, pool);
	s = ready_session();
	query(&m, 16);
	cr_assert_eq(session_on_msg(s, &m), 1, "the query must go to the pool");
	poolwait_dispatch(pool, 1);
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	cr_assert_eq(seen.answers, 1);
	cr_assert_eq(seen.resumes, 1, "the session must ask for input again");
	cr_assert(pthread_equal(seen.resumed_on, pthread_self()));
	cr_assert_eq(seen.count, 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(seen.hashes[i], hash64(img + (size_t)i * 65536, 65536), "block %d", i);
	/* And the same answer inline, without a pool. */
	session_env_set_pool(env, NULL);
	query(&m, 16);
	cr_assert_eq(session_on_msg(s, &m), 0);
	cr_assert_eq(seen.answers, 2);
	cr_assert_eq(seen.hashes[15], hash64(img + 15 * 65536, 65536));
	session_on_close(s, "test");
	session_free(s);
}

Test(sesspool, store_refusal_is_an_error_and_no_resume)
{
	struct proto_msg m;
	struct session *s;

	pool = workpool_new(2, 4);
	session_env_set_pool(env, pool);
	s = ready_session();
	query(&m, 4);
	cr_assert_eq(session_on_msg(s, &m), 1);
	poolwait_dispatch(pool, 1);
	cr_assert_eq(seen.errors, 1);
	cr_assert_eq(seen.err_code, PROTO_ERR_NOTFOUND, "%s", seen.err_text);
	cr_assert_eq(seen.resumes, 0);
	session_free(s);
}

/* A job that holds the only worker until the test lets it go. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool hold_open, hold_started;

static void
hold_fn(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hold_mu);
	hold_started = true;
	pthread_cond_broadcast(&hold_cv);
	while (!hold_open)
		pthread_cond_wait(&hold_cv, &hold_mu);
	pthread_mutex_unlock(&hold_mu);
}

static void
hold_done(void *arg, int cancelled)
{
	(void)arg;
	(void)cancelled;
}

static void
hold_worker(void)
{
	hold_open = hold_started = false;
	cr_assert_eq(workpool_submit(pool, hold_fn, hold_done, NULL), 0);
	pthread_mutex_lock(&hold_mu);
	while (!hold_started)
		pthread_cond_wait(&hold_cv, &hold_mu);
	pthread_mutex_unlock(&hold_mu);
}

static void
release_worker(void)
{
	pthread_mutex_lock(&hold_mu);
	hold_open = true;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
}

Test(sesspool, full_queue_is_a_busy_error_not_a_wait)
{
	struct proto_msg m;
	struct session *a, *b;

	pool = workpool_new(1, 1);
	session_env_set_pool(env, pool);
	a = ready_session();
	b = ready_session();
	hold_worker();
	query(&m, 4);
	cr_assert_eq(session_on_msg(a, &m), 1, "one job may wait");
	cr_assert_eq(session_on_msg(b, &m), -1, "the second finds the queue full");
	cr_assert_eq(seen.errors, 1);
	cr_assert_eq(seen.err_code, PROTO_ERR_CONFLICT);
	cr_assert(strstr(seen.err_text, "busy"), "%s", seen.err_text);
	release_worker();
	poolwait_dispatch(pool, 2);
	cr_assert_eq(seen.errors, 2, "a's query is answered (no point: NOTFOUND)");
	session_free(a);
	session_free(b);
}

Test(sesspool, session_freed_while_its_job_runs_is_not_called_back)
{
	struct proto_msg m;
	struct session *s;

	pool = workpool_new(1, 2);
	session_env_set_pool(env, pool);
	s = ready_session();
	hold_worker();
	query(&m, 4);
	cr_assert_eq(session_on_msg(s, &m), 1);
	session_free(s); /* the connection dropped meanwhile */
	release_worker();
	poolwait_dispatch(pool, 2);
	cr_assert_eq(seen.errors + seen.answers + seen.resumes, 0);
}

static void
begin_msg(struct proto_msg *m, uint64_t id)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	memset(m, 0, sizeof(*m));
	m->type = PROTO_POINT_BEGIN;
	snprintf(m->u.begin.group, sizeof(m->u.begin.group), "grp");
	m->u.begin.point_id = id;
	m->u.begin.time_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	m->u.begin.ndisks = 1;
	snprintf(m->u.begin.disks[0].name, sizeof(m->u.begin.disks[0].name), "vda");
	m->u.begin.disks[0].size = MIB;
}

/* A fresh session in *s (the previous one, refused, is freed). */
static struct session *
ready_session_keep(struct session **s)
{
	session_free(*s);
	*s = ready_session();
	return *s;
}

/* A begin's store work and retention after a commit run on the pool: the
 * session waits for its begin, and meanwhile the group counts as being
 * written; COMMITTED goes out before retention (issue 17: the
 * acknowledgement never waits for a merge), and a BEGIN of the group while
 * retention runs goes to the pool, where the store makes it wait for it. */
Test(sesspool, begin_and_retention_run_on_the_pool)
{
	static uint8_t data[65536];
	struct proto_msg m;
	struct session *a, *b;

	pool = workpool_new(1, 4);
	session_env_set_pool(env, pool);
	a = ready_session();
	b = ready_session();
	hold_worker();
	begin_msg(&m, 1);
	cr_assert_eq(session_on_msg(a, &m), 1, "the store's begin must go to the pool");
	cr_assert_eq(session_on_msg(b, &m), -1, "the group is busy while a begins");
	cr_assert_eq(seen.err_code, PROTO_ERR_CONFLICT, "%s", seen.err_text);
	release_worker();
	poolwait_dispatch(pool, 2);
	cr_assert_eq(seen.resumes, 1, "%s", seen.err_text);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_EXTENT;
	m.u.extent.kind = PROTO_KIND_DATA;
	m.u.extent.length = sizeof(data);
	m.u.extent.data = data;
	m.u.extent.data_len = sizeof(data);
	m.u.extent.checksum = hash64(data, sizeof(data));
	cr_assert_eq(session_on_msg(a, &m), 0, "%s", seen.err_text);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DISK_DONE;
	cr_assert_eq(session_on_msg(a, &m), 0, "%s", seen.err_text);
	hold_worker();
	memset(&m, 0, sizeof(m));
	m.type = PROTO_POINT_COMMIT;
	m.u.commit.point_id = 1;
	cr_assert_eq(session_on_msg(a, &m), 0, "the session does not wait for retention");
	cr_assert_eq(seen.committed, 1, "COMMITTED does not wait for retention");
	cr_assert_eq(workpool_busy(pool), 2, "retention is on the pool, behind the held job");
	begin_msg(&m, 2);
	seen.err_code = 0;
	cr_assert_eq(session_on_msg(ready_session_keep(&b), &m), 1,
		     "a BEGIN while retention runs goes to the pool: %s", seen.err_text);
	cr_assert_eq(seen.err_code, 0, "%s", seen.err_text);
	release_worker();
	poolwait_dispatch(pool, 3);
	cr_assert_eq(seen.committed, 1);
	cr_assert_eq(seen.err_code, 0, "%s", seen.err_text);
	cr_assert_eq(seen.resumes, 2, "b's begin is done");
	session_free(a);
	session_free(b);
}

/* Extents on the pool (issue 17). */

#define BLK 65536

/* Block i of the test disk: compressible, different per block. */
static void
fill_block(uint8_t *b, unsigned i)
{
	for (size_t k = 0; k < BLK; k++)
		b[k] = (uint8_t)(k / 97 + i * 31);
}

/* An EXTENT of block i (zstd when zbuf is given; checksum off by bad). */
static void
extent_msg(struct proto_msg *m, unsigned i, const uint8_t *b, uint8_t *zbuf, uint64_t bad)
{
	size_t zlen = 0;

	memset(m, 0, sizeof(*m));
	m->type = PROTO_EXTENT;
	m->u.extent.kind = PROTO_KIND_DATA;
	m->u.extent.offset = (uint64_t)i * BLK;
	m->u.extent.length = BLK;
	m->u.extent.checksum = hash64(b, BLK) + bad;
	m->u.extent.data = b;
	m->u.extent.data_len = BLK;
	if (zbuf) {
		struct zcomp *z = zcomp_new(1);

		cr_assert_eq(zcomp_compress(z, b, BLK, zbuf, BLK, &zlen), 0);
		zcomp_free(z);
		m->u.extent.comp = PROTO_COMP_ZSTD;
		m->u.extent.data = zbuf;
		m->u.extent.data_len = zlen;
	}
}

/* A session of point 1 of grp (vda, 1 MiB) begun on the pool. */
static struct session *
begun_session(unsigned workers, size_t queue)
{
	struct proto_msg m;
	struct session *s;

	pool = workpool_new(workers, queue);
	cr_assert_not_null(pool);
	session_env_set_pool(env, pool);
	s = ready_session();
	begin_msg(&m, 1);
	cr_assert_eq(session_on_msg(s, &m), 1);
	poolwait_dispatch(pool, 1);
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	seen.resumes = 0;
	return s;
}

static uint64_t
durable_of_vda(void)
{
	static struct store_progress p;

	cr_assert_eq(store_progress(st, "grp", &p), 0);
	cr_assert_eq(p.pending_point, 1);
	return p.disks[0].durable_offset;
}

Test(sesspool, extents_wait_for_a_slot_and_are_written_in_order)
{
	static uint8_t blk[8][BLK], z[8][BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16);

	hold_worker();
	for (unsigned i = 0; i < 4; i++) {
		fill_block(blk[i], i);
		extent_msg(&m, i, blk[i], z[i], 0);
		cr_assert_eq(session_on_msg(s, &m), i < 3 ? 0 : 1,
			     "extent %u: extents_in_flight = 4 (default)", i);
	}
	cr_assert_eq(seen.resumes, 0);
	release_worker();
	poolwait_dispatch(pool, 1 + 4);
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	cr_assert_eq(seen.resumes, 1, "read again once a slot is free");
	for (unsigned i = 4; i < 8; i++) {
		/* Plain ones with nothing in flight are written at once, on
		 * the loop; compressed ones go to the pool. */
		fill_block(blk[i], i);
		extent_msg(&m, i, blk[i], i % 2 ? z[i] : NULL, 0);
		cr_assert_eq(session_on_msg(s, &m), 0, "extent %u", i);
		if (i % 2)
			poolwait_dispatch(pool, 1);
	}
	cr_assert_eq(workpool_busy(pool), 0);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DISK_DONE;
	cr_assert_eq(session_on_msg(s, &m), 0, "%s", seen.err_text);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_POINT_COMMIT;
	m.u.commit.point_id = 1;
	cr_assert_eq(session_on_msg(s, &m), 0, "retention on the pool, not waited for");
	cr_assert_eq(seen.committed, 1, "%s", seen.err_text);
	poolwait_dispatch(pool, 1);
	/* What the point holds, block by block, through a hash query. */
	session_env_set_pool(env, NULL);
	query(&m, 16);
	m.u.hquery.point_id = 1;
	cr_assert_eq(session_on_msg(s, &m), 0, "%s", seen.err_text);
	cr_assert_eq(seen.count, 16);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(seen.hashes[i], hash64(blk[i], BLK), "block %u", i);
	session_free(s);
}

Test(sesspool, a_bad_extent_in_flight_stops_it_and_every_later_one)
{
	static uint8_t blk[3][BLK], z[BLK], zb[2][BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16);

	hold_worker();
	for (unsigned i = 0; i < 3; i++) {
		fill_block(blk[i], i);
		extent_msg(&m, i, blk[i], i == 2 ? z : zb[i], i == 1);
		cr_assert_eq(session_on_msg(s, &m), 0, "extent %u", i);
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DISK_DONE;
	cr_assert_eq(session_on_msg(s, &m), 2, "DISK_DONE waits for the extents");
	release_worker();
	poolwait_dispatch(pool, 1 + 3);
	cr_assert_eq(seen.errors, 1);
	cr_assert_eq(seen.err_code, PROTO_ERR_CHECKSUM);
	cr_assert_str_eq(seen.err_text, "checksum mismatch at offset 65536");
	cr_assert_eq(seen.resumes, 0, "a failed session is not read again");
	session_free(s); /* checkpoints what was written */
	cr_assert_eq(durable_of_vda(), BLK, "extent 0 written, 1 and 2 not");
}

Test(sesspool, an_undecodable_extent_in_flight_says_so)
{
	static uint8_t blk[BLK], z[BLK];
	struct proto_msg m;
	struct session *s = begun_session(2, 16);

	fill_block(blk, 3);
	extent_msg(&m, 3, blk, z, 0);
	z[0] ^= 0xff; /* no zstd frame magic */
	cr_assert_eq(session_on_msg(s, &m), 0);
	poolwait_dispatch(pool, 1);
	cr_assert_eq(seen.errors, 1);
	cr_assert_eq(seen.err_code, PROTO_ERR_CHECKSUM);
	cr_assert_str_eq(seen.err_text, "extent at 196608 does not decompress");
	session_free(s);
	cr_assert_eq(durable_of_vda(), 0, "nothing written");
}

Test(sesspool, a_full_queue_verifies_the_extent_inline_in_order)
{
	static uint8_t blk[2][BLK], z[BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 1);

	hold_worker();
	fill_block(blk[0], 0);
	extent_msg(&m, 0, blk[0], z, 0);
	cr_assert_eq(session_on_msg(s, &m), 0, "queued");
	fill_block(blk[1], 1);
	extent_msg(&m, 1, blk[1], z, 0);
	cr_assert_eq(session_on_msg(s, &m), 0, "queue full: verified here, not refused");
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	release_worker();
	poolwait_dispatch(pool, 2);
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	session_free(s); /* checkpoints what was written */
	cr_assert_eq(durable_of_vda(), 2 * BLK, "both written");
}

Test(sesspool, a_session_freed_with_extents_in_flight_is_not_called_back)
{
	static uint8_t blk[BLK], z[BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16);

	hold_worker();
	fill_block(blk, 0);
	extent_msg(&m, 0, blk, z, 0);
	cr_assert_eq(session_on_msg(s, &m), 0);
	extent_msg(&m, 1, blk, NULL, 0);
	cr_assert_eq(session_on_msg(s, &m), 0);
	session_free(s);
	release_worker();
	poolwait_dispatch(pool, 1 + 2);
	cr_assert_eq(seen.errors + seen.resumes, 0);
}

Test(sesspool, a_pool_stopped_with_extents_queued_frees_them)
{
	static uint8_t blk[BLK], z[BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16);

	hold_worker();
	fill_block(blk, 0);
	for (unsigned i = 0; i < 3; i++) {
		extent_msg(&m, i, blk, z, 0);
		cr_assert_eq(session_on_msg(s, &m), 0);
	}
	session_free(s); /* the receiver frees its sessions, then the pool */
	release_worker();
	workpool_free(pool); /* the extents not started are cancelled */
	pool = NULL;
	session_env_set_pool(env, NULL);
	cr_assert_eq(seen.errors + seen.resumes, 0);
}

Test(sesspool, extents_past_the_receivers_jobs_wait_for_their_session)
{
	static uint8_t blk[5][BLK], z[5][BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16); /* 1 worker: 4 jobs */

	cfg->extents_in_flight = 8; /* the session's bound is not the one hit */
	hold_worker();
	for (unsigned i = 0; i < 5; i++) {
		fill_block(blk[i], i);
		extent_msg(&m, i, blk[i], z[i], 0);
		cr_assert_eq(session_on_msg(s, &m), i < 4 ? 0 : 2,
			     "extent %u: the receiver has 4 jobs", i);
	}
	release_worker();
	poolwait_dispatch(pool, 1 + 4);
	cr_assert_eq(seen.resumes, 1, "read again once its extents are written");
	cr_assert_eq(session_on_msg(s, &m), 0, "extent 4 given again: %s", seen.err_text);
	poolwait_dispatch(pool, 1);
	cr_assert_eq(seen.errors, 0, "%s", seen.err_text);
	session_free(s);
	cr_assert_eq(durable_of_vda(), 5 * BLK, "all five written, extent 4 once");
}

Test(sesspool, an_extent_does_not_queue_behind_a_busy_pool)
{
	static uint8_t blk[BLK], z[BLK];
	struct proto_msg m;
	struct session *s = begun_session(1, 16);

	hold_worker();
	cr_assert_eq(workpool_submit(pool, hold_fn, hold_done, NULL), 0, "one more waits");
	fill_block(blk, 0);
	extent_msg(&m, 0, blk, z, 0);
	cr_assert_eq(session_on_msg(s, &m), 0, "%s", seen.err_text);
	cr_assert_eq(workpool_busy(pool), 2, "the extent was not queued");
	session_free(s); /* checkpoints what was written */
	cr_assert_eq(durable_of_vda(), BLK, "written on the loop while the worker is held");
	release_worker();
	poolwait_dispatch(pool, 2);
}
