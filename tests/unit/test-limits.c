/* Unit tests of the receiver's limits (replicator/receiver/limits.c) and
 * of their configuration keys: a POINT_BEGIN against max_disks,
 * max_disk_size and the quota, the quota while data arrives, the memory
 * figures of a session. Issue 12, section 3. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/config.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/store.h"
#include "capture.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

static void
begin_of(struct store_begin *b, size_t ndisks, uint64_t size)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->group, sizeof(b->group), "g1");
	b->point_id = 2;
	b->base_id = 1;
	b->ndisks = ndisks;
	for (size_t i = 0; i < ndisks; i++) {
		snprintf(b->disks[i].name, sizeof(b->disks[i].name), "d%zu", i);
		b->disks[i].size = size;
	}
}

Test(limits, begin_within_limits)
{
	struct group_limits lim = { 10 * GIB, 4, 100 * GIB };
	struct store_begin b;
	char why[256] = "";

	begin_of(&b, 4, 10 * GIB);
	cr_assert_eq(limits_check_begin(&lim, &b, 100 * GIB - 1, why, sizeof(why)), 0);
	cr_assert_str_empty(why);
	lim.quota = 0; /* none */
	cr_assert_eq(limits_check_begin(&lim, &b, UINT64_MAX, why, sizeof(why)), 0);
}

Test(limits, begin_over_limits)
{
	struct group_limits lim = { 10 * GIB, 4, 100 * GIB };
	struct store_begin b;
	char why[256];

	begin_of(&b, 5, GIB);
	cr_assert_eq(limits_check_begin(&lim, &b, 0, why, sizeof(why)), -1);
	cr_assert(strstr(why, "5 disks") && strstr(why, "max_disks"), "%s", why);
	begin_of(&b, 2, 10 * GIB + 1);
	cr_assert_eq(limits_check_begin(&lim, &b, 0, why, sizeof(why)), -1);
	cr_assert(strstr(why, "disk d0") && strstr(why, "max_disk_size"), "%s", why);
	/* the last disk too, not only the first */
	begin_of(&b, 3, GIB);
	b.disks[2].size = 11 * GIB;
	cr_assert_eq(limits_check_begin(&lim, &b, 0, why, sizeof(why)), -1);
	cr_assert(strstr(why, "disk d2"), "%s", why);
	begin_of(&b, 1, GIB);
	cr_assert_eq(limits_check_begin(&lim, &b, 100 * GIB, why, sizeof(why)), -1);
	cr_assert(strstr(why, "quota"), "%s", why);
}

Test(limits, quota_while_data_arrives)
{
	struct group_limits lim = { GIB, 4, 10 * MIB };
	struct limits_point lp = { lim, 9 * MIB };

	cr_assert(limits_quota_allows(&lim, 9 * MIB, MIB));
	cr_assert_not(limits_quota_allows(&lim, 9 * MIB, MIB + 1));
	cr_assert_not(limits_quota_allows(&lim, UINT64_MAX, 1)); /* no wrap-around */
	cr_assert_not(limits_quota_allows(&lim, 1, UINT64_MAX));
	cr_assert(limits_point_grow(&lp, "g1", MIB / 2));
	cr_assert_eq(lp.used, 9 * MIB + MIB / 2);
	cap_start();
	cr_assert_not(limits_point_grow(&lp, "g1", MIB));
	{
		char *log = cap_stop();

		cr_assert(strstr(log, "group g1: quota of 10485760 bytes reached"), "%s", log);
		free(log);
	}
	cr_assert_eq(lp.used, 9 * MIB + MIB / 2, "a refused write is not counted");
	lp.lim.quota = 0;
	cr_assert(limits_point_grow(&lp, "g1", UINT64_MAX / 2));
}

Test(limits, session_memory_figures)
{
	uint64_t busy = limits_session_busy(4 * MIB);

	/* input (and its pulled-up copy), output bound and the frame over it,
	 * the store's queue */
	cr_assert_geq(busy, 2 * CONN_INPUT_MAX + 4 * MIB + PROTO_MAX_PAYLOAD + STORE_QUEUE_BYTES);
	cr_assert_eq(limits_session_busy(8 * MIB) - busy, 4 * MIB, "output_max counts once");
	cr_assert_lt(busy, 20 * MIB, "the figure the docs state: about 15 MiB");
	cr_assert_lt(limits_session_idle(), MIB);
	cr_assert_geq(limits_shared(1), STORE_HASH_CHUNK + PROTO_MAX_EXTENT);
	cr_assert_eq(limits_shared(3) - limits_shared(2), limits_shared(2) - limits_shared(1),
		     "each worker holds one hash query's buffers");
	cr_assert_geq(limits_shared(2) - limits_shared(1), STORE_HASH_CHUNK);
	/* Four extent jobs per worker (issue 17), shared by all sessions: a
	 * payload copy and a plaintext each. */
	cr_assert_geq(limits_shared(2) - limits_shared(1),
		      STORE_HASH_CHUNK + 4 * ((uint64_t)PROTO_MAX_PAYLOAD + PROTO_MAX_EXTENT));
}

#define RX_HEAD \
	"[receiver]\n" \
	"listen = 0.0.0.0:7400\n" \
	"ca = /etc/nestor/ca.pem\n" \
	"cert = /etc/nestor/receiver.pem\n" \
	"key = /etc/nestor/receiver.key\n" \
	"store = /srv/nestor\n"

Test(limits, config_defaults)
{
	struct receiver_config *c = NULL;
	struct group_limits gl;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "[group g1]\n", &c), 0);
	receiver_config_limits(c, "g1", &gl);
	cr_assert_eq(gl.max_disk_size, PROTO_MAX_DISK_SIZE);
	cr_assert_eq(gl.max_disks, PROTO_MAX_DISKS);
	cr_assert_eq(gl.quota, 0);
	cr_assert_eq(c->max_hash_bytes, 64 * MIB);
	cr_assert_eq(c->session_output_max, 4 * MIB);
	cr_assert_eq(c->max_nbd_total, 64);
	cr_assert_eq(c->max_nbd_per_session, 4);
	cr_assert_eq(c->workers, 0, "0 = the online CPUs");
	cr_assert_eq(c->work_queue_max, 256);
	cr_assert_eq(c->extents_in_flight, 4);
	receiver_config_free(c);
}

Test(limits, config_group_over_receiver)
{
	static const char text[] = RX_HEAD
		"max_disk_size = 2T\n"
		"max_disks = 8\n"
		"quota = 10T\n"
		"max_hash_bytes_per_query = 16M\n"
		"session_output_max = 1M\n"
		"max_nbd_total = 8\n"
		"max_nbd_per_session = 1\n"
		"workers = 3\n"
		"work_queue_max = 16\n"
		"extents_in_flight = 64\n"
		"[group small]\n"
		"max_disk_size = 100G\n"
		"quota = none\n"
		"[group few]\n"
		"max_disks = 1\n";
	struct receiver_config *c = NULL;
	struct group_limits gl;

	cr_assert_eq(receiver_config_load_string("r", text, &c), 0);
	cr_assert_eq(c->max_hash_bytes, 16 * MIB);
	cr_assert_eq(c->session_output_max, MIB);
	cr_assert_eq(c->max_nbd_total, 8);
	cr_assert_eq(c->max_nbd_per_session, 1);
	cr_assert_eq(c->workers, 3);
	cr_assert_eq(c->work_queue_max, 16);
	cr_assert_eq(c->extents_in_flight, 64);
	receiver_config_limits(c, "small", &gl);
	cr_assert_eq(gl.max_disk_size, 100 * GIB);
	cr_assert_eq(gl.max_disks, 8);
	cr_assert_eq(gl.quota, 0, "quota = none lifts the default");
	receiver_config_limits(c, "few", &gl);
	cr_assert_eq(gl.max_disk_size, 2048 * GIB);
	cr_assert_eq(gl.max_disks, 1);
	cr_assert_eq(gl.quota, 10240 * GIB);
	receiver_config_limits(c, "unlisted", &gl);
	cr_assert_eq(gl.max_disks, 8);
	receiver_config_free(c);
}

Test(limits, config_refuses_bad_values)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ RX_HEAD "max_disks = 0\n", "'max_disks' in [receiver]: expected a number of disks from 1 to 64" },
		{ RX_HEAD "max_disks = 65\n", "expected a number of disks from 1 to 64" },
		{ RX_HEAD "max_disk_size = 2P\n", "expected a size from 1M to 1P" },
		{ RX_HEAD "max_disk_size = 512K\n", "expected a size from 1M to 1P" },
		{ RX_HEAD "quota = lots\n", "expected none or a size" },
		{ RX_HEAD "max_hash_bytes_per_query = 8M\n", "expected a size from 16M to 16G" },
		{ RX_HEAD "session_output_max = 128M\n", "expected a size from 256K to 64M" },
		{ RX_HEAD "max_nbd_total = 0\n", "expected a number of processes from 1 to 4096" },
		{ RX_HEAD "max_nbd_total = 4097\n", "expected a number of processes from 1 to 4096" },
		{ RX_HEAD "max_nbd_per_session = 65\n", "'max_nbd_per_session' in [receiver]: expected a number" },
		{ RX_HEAD "workers = 0\n", "'workers' in [receiver]: expected a number of threads from 1 to 64" },
		{ RX_HEAD "workers = 65\n", "expected a number of threads from 1 to 64" },
		{ RX_HEAD "work_queue_max = 0\n", "expected a number of jobs from 1 to 65536" },
		{ RX_HEAD "work_queue_max = 65537\n", "expected a number of jobs from 1 to 65536" },
		{ RX_HEAD "extents_in_flight = 0\n", "'extents_in_flight' in [receiver]: expected a number of extents from 1 to 64" },
		{ RX_HEAD "extents_in_flight = 65\n", "expected a number of extents from 1 to 64" },
		{ RX_HEAD "[group g]\nextents_in_flight = 2\n", "unknown key 'extents_in_flight' in [group g]" },
		{ RX_HEAD "[group g]\nworkers = 2\n", "unknown key 'workers' in [group g]" },
		{ RX_HEAD "[group g]\nquota = -1\n", "'quota' in [group g]" },
		{ RX_HEAD "[group g]\nmax_nbd_total = 4\n", "unknown key 'max_nbd_total' in [group g]" },
		{ RX_HEAD "[group g]\nmax_hash_bytes_per_query = 16M\n", "max_hash_bytes_per_query" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct receiver_config *c = NULL;
		char *log;

		cap_start();
		cr_assert_eq(receiver_config_load_string("receiver.conf", bad[i].text, &c), -1,
			     "#%zu", i);
		log = cap_stop();
		cr_assert(strstr(log, bad[i].msg), "#%zu: %s", i, log);
		free(log);
		cr_assert_null(c);
	}
}
